"""Resend function: `POST /api/email/resend` — a fresh download link by email.

Always 202 with the same body, so it tells nobody whether an order exists.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from mangum import Mangum
from pydantic import BaseModel, Field

from shared.db import get_database
from shared.http import create_app
from shared.resend import request_resend

router = APIRouter(tags=["email"])
ANSWER = {"message": "If that email address and order number match an order, a new download link is on its way."}


class ResendIn(BaseModel):
    email: str = Field(min_length=3, max_length=254)
    order_number: str = Field(min_length=1, max_length=32)


@router.post("/api/email/resend", status_code=202)
def resend_links(body: ResendIn) -> JSONResponse:
    request_resend(get_database(), body.email, body.order_number)
    return JSONResponse(ANSWER, status_code=202)


app = create_app("resend", [router])
handler = Mangum(app, lifespan="off")
