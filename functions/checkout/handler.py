"""Checkout function: price an upload session on the server and open a payment page, or
cancel that page when the customer goes back to change their photos."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, FastAPI, Path
from mangum import Mangum
from pydantic import AfterValidator, BaseModel, Field
from pydantic_core import PydanticCustomError

from shared.checkout.checkouts import cancel_checkout, start_checkout
from shared.core.config import Settings, get_settings
from shared.core.http import TypedText, create_app
from shared.deps import get_database, get_payments

router = APIRouter(tags=["checkout"])

# The same rule as the database's check on checkouts.email: a clear 422 before it gets there.
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _an_email_address(value: str) -> str:
    # Said in the customer's words: pydantic's own pattern error would show them the regex.
    if not EMAIL_PATTERN.fullmatch(value):
        raise PydanticCustomError("email_address", "is not an email address (name@example.com)")
    return value


class CheckoutIn(BaseModel):
    upload_session_id: UUID
    # The schema still says the pattern (clients and the fuzz test read it); the check is
    # _an_email_address's, for its sentence.
    email: Annotated[TypedText, AfterValidator(_an_email_address)] = Field(
        max_length=254, json_schema_extra={"pattern": EMAIL_PATTERN.pattern}
    )
    name: TypedText | None = Field(default=None, min_length=1, max_length=200)


class CheckoutOut(BaseModel):
    checkout_session_id: str
    checkout_url: str
    amount_total: int
    currency: str
    photo_count: int
    expires_at: datetime


class CancelledCheckoutOut(BaseModel):
    # No upload_session_id: the checkout id travels in payment and success page URLs, and
    # must not hand whoever holds it the cart (the customer's page already knows its own).
    checkout_session_id: str
    status: str  # the upload session's: `open`, ready for changes and a new checkout


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


@router.post("/api/checkout/{checkout_session_id}/cancel", response_model=CancelledCheckoutOut)
def cancel_checkout_page(checkout_session_id: str = Path(min_length=1, max_length=255)) -> CancelledCheckoutOut:
    """The customer left the payment page: it can no longer be paid, the photos can change."""
    session = cancel_checkout(get_database(), get_payments(), checkout_session_id)
    return CancelledCheckoutOut(checkout_session_id=checkout_session_id, status=session.status)


def create_checkout_app() -> FastAPI:
    return create_app("checkout", [router])


app = create_checkout_app()
handler = Mangum(app, lifespan="off")
