"""Status function: `GET /api/restoration/status/{ref}`, what the success page polls."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from mangum import Mangum

from shared.core.db import get_database
from shared.core.http import create_app
from shared.orders.status import order_status

router = APIRouter(tags=["status"])


@router.get("/api/restoration/status/{ref}")
def restoration_status(ref: str) -> dict[str, Any]:
    """Progress of an order, by order id or Stripe checkout session id."""
    return order_status(get_database(), ref[:200])


app = create_app("status", [router])
handler = Mangum(app, lifespan="off")
