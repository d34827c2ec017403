"""The interface the checkout function and the webhook use, whatever takes the payment."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from pydantic import BaseModel, Field

from shared.core.errors import BadRequest, Conflict, ServiceUnavailable

# The Stripe API version every request is made with and every event is shaped by. Pinned
# here, not left to whatever the installed SDK defaults to: an SDK upgrade must not change
# the shape of what we read. The webhook endpoint in Stripe's dashboard is set to the same.
STRIPE_API_VERSION = "2026-10-28.endive"

# How long a client waits for the customer to try again after an outage (Retry-After).
RETRY_AFTER_SECONDS = 30


class PaymentsUnavailable(ServiceUnavailable):
    """The provider could not be reached or failed on its side; retrying may help.

    `answered` says whether the provider gave a definite answer (a 5xx it will replay under
    the same idempotency key) or none at all (a timeout, a lost connection), after which the
    request may or may not have taken effect and a retry must reuse the key.
    """

    code = "payments_unavailable"

    def __init__(self, message: str, *, answered: bool = True, **details: Any) -> None:
        super().__init__(message, **details)
        self.answered = answered
        self.headers = {"retry-after": str(RETRY_AFTER_SECONDS)}


class PaymentsRejected(BadRequest):
    """The provider refused the request; retrying the same request will not help.

    The message is for the customer; `provider_message` keeps the provider's own words
    (written for developers: it names parameters) for the logs and for us."""

    code = "payments_rejected"

    def __init__(self, message: str, *, provider_message: str | None = None, **details: Any) -> None:
        super().__init__(message, **details)
        self.provider_message = provider_message or message


class CheckoutAlreadyPaid(Conflict):
    """The customer completed the checkout session before it could be expired: it stands,
    and the payment webhook makes the order (or, for a bank debit, waits for it to clear).
    `session` is the provider's view of it, when known."""

    code = "already_paid"

    def __init__(self, message: str, *, session: CheckoutSessionInfo | None = None) -> None:
        super().__init__(message)
        self.session = session


class CheckoutRequest(BaseModel):
    upload_session_id: str
    checkout_id: str
    customer_email: str
    photo_count: int = Field(gt=0)
    unit_amount: int = Field(ge=0)
    currency: str
    product_name: str
    success_url: str
    cancel_url: str
    expires_at: datetime
    idempotency_key: str
    metadata: dict[str, str] = Field(default_factory=dict)


class CreatedCheckout(BaseModel):
    id: str
    url: str
    expires_at: datetime


class CheckoutSessionInfo(BaseModel):
    """A checkout session as the provider knows it: what the webhook trusts."""

    id: str
    status: Literal["open", "complete", "expired"] | None
    payment_status: Literal["paid", "unpaid", "no_payment_required"]
    amount_total: int | None
    currency: str | None
    customer_email: str | None
    payment_intent: str | None
    client_reference_id: str | None
    metadata: dict[str, str] = Field(default_factory=dict)
    created: datetime


class RefundRequest(BaseModel):
    payment_intent: str
    amount: int = Field(gt=0)
    idempotency_key: str
    metadata: dict[str, str] = Field(default_factory=dict)


class Refund(BaseModel):
    id: str
    amount: int
    status: str


class PaymentsProvider(Protocol):
    def create_checkout_session(self, request: CheckoutRequest) -> CreatedCheckout: ...

    def retrieve_checkout_session(self, session_id: str) -> CheckoutSessionInfo: ...

    def expire_checkout_session(self, session_id: str) -> CheckoutSessionInfo:
        """End an open session now, so it can no longer be paid; an already expired one is
        returned as it is. Raises CheckoutAlreadyPaid when the customer completed it first."""
        ...

    def list_completed_checkout_sessions(self, created_after: datetime) -> Iterator[CheckoutSessionInfo]:
        """Completed sessions created after the time, every page of them (reconciliation)."""
        ...

    def refund_payment(self, request: RefundRequest) -> Refund:
        """Refund the payment in full, once per idempotency key. A payment already refunded
        in full is answered with that refund (PaymentsRejected for anything else refused)."""
        ...


def checkout_session_info(session: Mapping[str, Any]) -> CheckoutSessionInfo:
    """Our view of a checkout session object in Stripe's shape (from Stripe or the stand-in)."""
    payment_intent = session.get("payment_intent")
    if isinstance(payment_intent, dict):
        payment_intent = payment_intent.get("id")
    email = session.get("customer_email") or (session.get("customer_details") or {}).get("email")
    return CheckoutSessionInfo(
        id=session["id"],
        status=session.get("status"),
        payment_status=session["payment_status"],
        amount_total=session.get("amount_total"),
        currency=session.get("currency"),
        customer_email=email,
        payment_intent=payment_intent,
        client_reference_id=session.get("client_reference_id"),
        metadata=dict(session.get("metadata") or {}),
        created=datetime.fromtimestamp(session["created"], UTC),
    )
