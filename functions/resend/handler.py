"""Resend function: `POST /api/email/resend` — a fresh download link by email.

Always 202 with the same body, after the same work (one insert and a worker trigger),
so neither the answer nor its timing tells anybody whether an order exists.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from mangum import Mangum
from pydantic import BaseModel, Field

from shared.core.config import get_settings
from shared.core.db import get_database
from shared.core.http import TypedText, create_app
from shared.downloads.resend import request_resend
from shared.jobs.triggers import request_worker_run

router = APIRouter(tags=["email"])
ANSWER = {"message": "If that email address and order number match an order, a new download link is on its way."}


class ResendIn(BaseModel):
    email: TypedText = Field(min_length=3, max_length=254)
    order_number: TypedText = Field(min_length=1, max_length=32)


@router.post("/api/email/resend", status_code=202)
def resend_links(body: ResendIn, request: Request) -> JSONResponse:
    # Under API Gateway, Mangum puts requestContext.http.sourceIp here: the address the
    # gateway saw, not a header a client could write.
    address = request.client.host if request.client else None
    request_resend(get_database(), get_settings(), body.email, body.order_number, address)
    # Asked for every request, matching or not: the email worker does the lookup.
    request_worker_run(get_settings(), "email")
    return JSONResponse(ANSWER, status_code=202)


app = create_app("resend", [router])
handler = Mangum(app, lifespan="off")
