"""Stripe Checkout through the official `stripe` package (imported here only)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import stripe

from shared.payments.base import (
    CheckoutAlreadyPaid,
    CheckoutRequest,
    CheckoutSessionInfo,
    CreatedCheckout,
    PaymentsRejected,
    PaymentsUnavailable,
    checkout_session_info,
)


def _translate(exc: stripe.StripeError) -> Exception:
    """One place where Stripe's errors become ours."""
    status = getattr(exc, "http_status", None)
    message = getattr(exc, "user_message", None) or str(exc) or type(exc).__name__
    if isinstance(exc, stripe.InvalidRequestError | stripe.CardError) or (
        status and 400 <= status < 500 and status != 429
    ):
        return PaymentsRejected(f"Stripe refused the request: {message}")
    return PaymentsUnavailable("Stripe could not be reached; try again shortly")


class StripePayments:
    def __init__(self, secret_key: str, api_base: str | None = None) -> None:
        self.client = stripe.StripeClient(
            secret_key,
            base_addresses={"api": api_base} if api_base else None,
            max_network_retries=2,
        )

    def create_checkout_session(self, request: CheckoutRequest) -> CreatedCheckout:
        params: dict[str, Any] = {
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
                params=params,  # type: ignore[arg-type]  # a plain dict of what SessionCreateParams describes
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
            raise CheckoutAlreadyPaid("this checkout was already paid") from refusal
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
