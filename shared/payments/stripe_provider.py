"""Stripe Checkout through the official `stripe` package (imported here only)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import stripe

from shared.payments.base import (
    STRIPE_API_VERSION,
    CheckoutAlreadyPaid,
    CheckoutRequest,
    CheckoutSessionInfo,
    CreatedCheckout,
    PaymentsRejected,
    PaymentsUnavailable,
    Refund,
    RefundRequest,
    checkout_session_info,
)

if TYPE_CHECKING:
    from stripe.params import RefundCreateParams
    from stripe.params.checkout import SessionCreateParams

# What a customer reads when Stripe refuses a request for a reason of theirs. Stripe's own
# `message` is written for developers (it names parameters), so only these codes, and a
# card error's `user_message`, reach the customer; any other refusal is a fault of ours.
CUSTOMER_REASONS = {
    "email_invalid": "The email address was not accepted by our payment provider; check it and try again.",
    "amount_too_small": "The total is below the smallest amount our payment provider can charge.",
    "amount_too_large": "The total is above the largest amount our payment provider can charge in one payment.",
}
log = logging.getLogger("restoreclick.payments")
REFUSED_FOR_US = "Our payment provider refused to open the payment page; please try again later."


def _translate(exc: stripe.StripeError) -> Exception:
    """One place where Stripe's errors become ours."""
    status = getattr(exc, "http_status", None)
    if isinstance(exc, stripe.APIConnectionError):
        # No answer at all: the request may have been carried out. Retry with the same key.
        return PaymentsUnavailable("Stripe could not be reached; try again shortly", answered=False)
    if isinstance(exc, stripe.InvalidRequestError | stripe.CardError) or (
        status and 400 <= status < 500 and status != 429
    ):
        code = getattr(exc, "code", None)
        reason = CUSTOMER_REASONS.get(code or "") or (
            getattr(exc, "user_message", None) if isinstance(exc, stripe.CardError) else None
        )
        if reason is None:
            log.error("Stripe refused a request: %s (%s)", exc.user_message, code or "no code")
        return PaymentsRejected(reason or REFUSED_FOR_US, provider_message=exc.user_message, stripe_code=code)
    return PaymentsUnavailable("Stripe could not be reached; try again shortly", answered=status is not None)


class StripePayments:
    def __init__(self, secret_key: str, api_base: str | None = None, timeout_seconds: float = 20.0) -> None:
        self.client = stripe.StripeClient(
            secret_key,
            stripe_version=STRIPE_API_VERSION,
            base_addresses={"api": api_base} if api_base else None,
            max_network_retries=2,
            # The SDK's default waits 80 s; a checkout request must answer the customer well
            # inside API Gateway's 30 s, retries included.
            http_client=stripe.new_default_http_client(timeout=timeout_seconds),
        )

    def create_checkout_session(self, request: CheckoutRequest) -> CreatedCheckout:
        params: SessionCreateParams = {
            "mode": "payment",
            "line_items": [
                {
                    "price_data": {
                        "currency": request.currency,
                        "unit_amount": request.unit_amount,
                        "product_data": {"name": request.product_name},
                    },
                    "quantity": request.photo_count,
                }
            ],
            "customer_email": request.customer_email,
            "client_reference_id": request.checkout_id,
            "metadata": request.metadata,
            "payment_intent_data": {"metadata": request.metadata},
            "success_url": request.success_url,
            "cancel_url": request.cancel_url,
            "expires_at": int(request.expires_at.timestamp()),
        }
        try:
            session = self.client.v1.checkout.sessions.create(
                params=params,
                options={"idempotency_key": request.idempotency_key},
            )
        except stripe.StripeError as exc:
            raise _translate(exc) from exc
        return CreatedCheckout(
            id=session["id"], url=session["url"], expires_at=datetime.fromtimestamp(session["expires_at"], UTC)
        )

    def retrieve_checkout_session(self, session_id: str) -> CheckoutSessionInfo:
        try:
            # A StripeObject is not a dict (it has no .get): hand over plain data.
            session = self.client.v1.checkout.sessions.retrieve(session_id)
            return checkout_session_info(session.to_dict())
        except stripe.StripeError as exc:
            raise _translate(exc) from exc

    def expire_checkout_session(self, session_id: str) -> CheckoutSessionInfo:
        try:
            session = self.client.v1.checkout.sessions.expire(session_id)
            return checkout_session_info(session.to_dict())
        except stripe.InvalidRequestError as exc:
            if exc.http_status != 400:
                raise _translate(exc) from exc
            refusal = exc
        except stripe.StripeError as exc:
            raise _translate(exc) from exc
        # Stripe expires only an open session and answers 400 for any other. Its message is
        # prose, not a contract: the session's own status says what the refusal means (an
        # earlier or concurrent cancel expired it, or the customer paid first).
        current = self.retrieve_checkout_session(session_id)
        if current.status == "expired":
            return current
        if current.status == "complete":
            raise CheckoutAlreadyPaid("this checkout was already paid", session=current) from refusal
        raise _translate(refusal) from refusal

    def list_completed_checkout_sessions(self, created_after: datetime) -> Iterator[CheckoutSessionInfo]:
        try:
            page = self.client.v1.checkout.sessions.list(
                params={"created": {"gte": int(created_after.timestamp())}, "status": "complete", "limit": 100}
            )
            for session in page.auto_paging_iter():
                yield checkout_session_info(session.to_dict())
        except stripe.StripeError as exc:
            raise _translate(exc) from exc

    def refund_payment(self, request: RefundRequest) -> Refund:
        params: RefundCreateParams = {
            "payment_intent": request.payment_intent,
            "amount": request.amount,
            "reason": "requested_by_customer",
            "metadata": request.metadata,
        }
        try:
            refund = self.client.v1.refunds.create(
                params=params,
                options={"idempotency_key": request.idempotency_key},
            )
            return Refund(id=refund["id"], amount=refund["amount"], status=refund["status"])
        except stripe.InvalidRequestError as exc:
            if exc.code != "charge_already_refunded":
                raise _translate(exc) from exc
        except stripe.StripeError as exc:
            raise _translate(exc) from exc
        # Refunded already (an earlier attempt whose answer was lost, under an older key):
        # that refund is the one, and no second is made.
        try:
            refunds = self.client.v1.refunds.list(params={"payment_intent": request.payment_intent, "limit": 10})
        except stripe.StripeError as exc:
            raise _translate(exc) from exc
        done = [r for r in refunds.data if r["status"] in ("succeeded", "pending")]
        if not done:
            raise PaymentsRejected(REFUSED_FOR_US, stripe_code="charge_already_refunded")
        return Refund(id=done[0]["id"], amount=sum(r["amount"] for r in done), status=done[0]["status"])
