"""Checkout function: price an upload session on the server and open a payment page."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from fastapi import APIRouter, Depends
from mangum import Mangum
from pydantic import BaseModel, Field

from shared.checkouts import start_checkout
from shared.config import Settings, get_settings
from shared.deps import get_database, get_payments
from shared.http import create_app

router = APIRouter(tags=["checkout"])

# The same rule as the database's check on checkouts.email: a clear 422 before it gets there.
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"


class CheckoutIn(BaseModel):
    upload_session_id: UUID
    email: str = Field(max_length=254, pattern=EMAIL_PATTERN)
    name: str | None = Field(default=None, min_length=1, max_length=200)


class CheckoutOut(BaseModel):
    checkout_session_id: str
    checkout_url: str
    amount_total: int
    currency: str
    photo_count: int
    expires_at: datetime


@router.post("/api/checkout", status_code=201, response_model=CheckoutOut)
def create_checkout(body: CheckoutIn, settings: Settings = Depends(get_settings)) -> CheckoutOut:
    """Open a payment page for exactly the photos in the session, priced here."""
    checkout = start_checkout(get_database(), get_payments(), settings, body.upload_session_id, body.email, body.name)
    assert checkout.stripe_checkout_session_id and checkout.checkout_url
    return CheckoutOut(
        checkout_session_id=checkout.stripe_checkout_session_id,
        checkout_url=checkout.checkout_url,
        amount_total=checkout.amount_total,
        currency=checkout.currency,
        photo_count=checkout.photo_count,
        expires_at=checkout.expires_at,
    )


def create_checkout_app():  # type: ignore[no-untyped-def]
    return create_app("checkout", [router])


app = create_checkout_app()
handler = Mangum(app, lifespan="off")
