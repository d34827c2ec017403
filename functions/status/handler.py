"""Status function: `GET /api/restoration/status/{ref}`, what the success page polls."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from mangum import Mangum

from shared.core.http import create_app
from shared.deps import get_database, get_storage
from shared.orders.status import order_status

router = APIRouter(tags=["status"])


@router.get("/api/restoration/status/{ref}")
def restoration_status(ref: str) -> dict[str, Any]:
    """Progress of an order, by order id or Stripe checkout session id, with each photo's
    previews once they exist."""
    return order_status(get_database(), get_storage(), ref[:200])


app = create_app("status", [router])
handler = Mangum(app, lifespan="off")
