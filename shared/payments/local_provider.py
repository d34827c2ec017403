"""The stand-in for Stripe Checkout that `restoreclick dev` and the tests use with no key.

It keeps sessions as JSON files, serves a payment page (local_routes), and its Pay button
produces a `checkout.session.completed` event in Stripe's own shape, signed with the
webhook secret, so the real webhook code path runs end to end.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from shared.core.errors import Conflict, NotFound
from shared.payments.base import (
    STRIPE_API_VERSION,
    CheckoutAlreadyPaid,
    CheckoutRequest,
    CheckoutSessionInfo,
    CreatedCheckout,
    PaymentsRejected,
    Refund,
    RefundRequest,
    checkout_session_info,
)

# Stripe's smallest charge per currency (docs.stripe.com/currencies, "Minimum and maximum
# charge amounts"), so a price the real provider would refuse is refused here too.
MINIMUM_CHARGE = {"usd": 50, "eur": 50, "gbp": 30, "cad": 50, "aud": 50, "chf": 50}


class LocalPayments:
    def __init__(self, store_dir: Path, public_base_url: str) -> None:
        self.store_dir = store_dir
        self.store_dir.mkdir(parents=True, exist_ok=True)
        self.public_base_url = public_base_url.rstrip("/")
        self._lock = threading.Lock()

    # -- storage of sessions ----------------------------------------------------------

    def _file(self, session_id: str) -> Path:
        # Exactly the ids this stand-in makes (cs_local_ and 24 hex digits): anything else
        # is unknown, and never becomes a file name.
        if not re.fullmatch(r"cs_local_[0-9a-f]{24}", session_id):
            raise NotFound("no such checkout session", code="checkout_session_not_found")
        return self.store_dir / f"{session_id}.json"

    def session(self, session_id: str) -> dict[str, Any]:
        try:
            session: dict[str, Any] = json.loads(self._file(session_id).read_text())
        except FileNotFoundError:
            raise NotFound("no such checkout session", code="checkout_session_not_found") from None
        return session

    def _save(self, session: dict[str, Any]) -> None:
        self._write_json(self._file(session["id"]), session)

    # -- the provider interface -------------------------------------------------------

    def create_checkout_session(self, request: CheckoutRequest) -> CreatedCheckout:
        total = request.unit_amount * request.photo_count
        if 0 < total < MINIMUM_CHARGE.get(request.currency, 50):
            raise PaymentsRejected(
                "The total is below the smallest amount our payment provider can charge.",
                stripe_code="amount_too_small",
            )
        with self._lock:
            for existing in self.store_dir.glob("cs_local_*.json"):
                found = json.loads(existing.read_text())
                if found.get("idempotency_key") == request.idempotency_key:
                    return self._created(found)
            session_id = "cs_local_" + secrets.token_hex(12)
            session = {
                "id": session_id,
                "object": "checkout.session",
                "mode": "payment",
                "status": "open",
                "payment_status": "unpaid",
                "amount_total": request.unit_amount * request.photo_count,
                "amount_subtotal": request.unit_amount * request.photo_count,
                "currency": request.currency,
                "customer_email": request.customer_email,
                "customer_details": {"email": request.customer_email},
                "client_reference_id": request.checkout_id,
                "metadata": request.metadata,
                "payment_intent": None,
                "success_url": request.success_url,
                "cancel_url": request.cancel_url,
                "url": f"{self.public_base_url}/dev/checkout/{session_id}",
                "created": int(time.time()),
                "expires_at": int(request.expires_at.timestamp()),
                "livemode": False,
                "line_items": {
                    "quantity": request.photo_count,
                    "unit_amount": request.unit_amount,
                    "name": request.product_name,
                },
                "idempotency_key": request.idempotency_key,
            }
            self._save(session)
        return self._created(session)

    @staticmethod
    def _created(session: dict[str, Any]) -> CreatedCheckout:
        return CreatedCheckout(
            id=session["id"], url=session["url"], expires_at=datetime.fromtimestamp(session["expires_at"], UTC)
        )

    def retrieve_checkout_session(self, session_id: str) -> CheckoutSessionInfo:
        return checkout_session_info(self.session(session_id))

    def expire_checkout_session(self, session_id: str) -> CheckoutSessionInfo:
        # Under the same lock as `pay`: a session is either paid or expired, never both.
        with self._lock:
            session = self._expire_if_open(session_id)
        if session["status"] == "complete":
            raise CheckoutAlreadyPaid("this checkout was already paid", session=checkout_session_info(session))
        return checkout_session_info(session)

    def list_completed_checkout_sessions(self, created_after: datetime) -> Iterator[CheckoutSessionInfo]:
        # Whole seconds, as Stripe compares `created[gte]`: `created` has no fraction, so a
        # session made in the same second as `created_after` is still included.
        since = int(created_after.timestamp())
        for path in sorted(self.store_dir.glob("cs_local_*.json")):
            session = json.loads(path.read_text())
            if session["status"] == "complete" and session["created"] >= since:
                yield checkout_session_info(session)

    def refund_payment(self, request: RefundRequest) -> Refund:
        # As Stripe: one refund per idempotency key, and a payment refunded in full takes no
        # second refund (the earlier one is the answer, as our provider contract says).
        with self._lock:
            refunds = self._refunds()
            for refund in refunds.values():
                if refund["payment_intent"] == request.payment_intent:
                    return Refund(id=refund["id"], amount=refund["amount"], status=refund["status"])
            if not any(
                s.get("payment_intent") == request.payment_intent and s["payment_status"] == "paid"
                for s in self._all_sessions()
            ):
                raise PaymentsRejected("no such payment to refund", stripe_code="resource_missing")
            refund = {
                "id": "re_local_" + secrets.token_hex(12),
                "payment_intent": request.payment_intent,
                "amount": request.amount,
                "status": "succeeded",
                "idempotency_key": request.idempotency_key,
                "metadata": request.metadata,
                "created": int(time.time()),
            }
            refunds[refund["id"]] = refund
            self._write_json(self.store_dir / "refunds.json", refunds)
        return Refund(id=refund["id"], amount=refund["amount"], status=refund["status"])

    def refunds(self) -> list[dict[str, Any]]:
        """Every refund made (for the dev pages and tests)."""
        with self._lock:
            return list(self._refunds().values())

    def _refunds(self) -> dict[str, dict[str, Any]]:
        path = self.store_dir / "refunds.json"
        return json.loads(path.read_text()) if path.exists() else {}

    def _all_sessions(self) -> Iterator[dict[str, Any]]:
        for path in self.store_dir.glob("cs_local_*.json"):
            yield json.loads(path.read_text())

    def _write_json(self, path: Path, value: Any) -> None:
        fd, temp = tempfile.mkstemp(dir=self.store_dir, prefix=".partial-")
        with os.fdopen(fd, "w") as out:
            json.dump(value, out)
        os.replace(temp, path)

    # -- what the payment page does -------------------------------------------------------

    def pay(self, session_id: str, method: str = "card") -> dict[str, Any]:
        """Take the payment; return the `checkout.session.completed` event to deliver.

        `card` pays at once. `bank_debit` completes the session unpaid, as Stripe does for a
        delayed payment method (SEPA, ACH): the money arrives, or not, later (`settle`).
        A zero total needs no payment (`no_payment_required`, as Stripe answers).
        """
        with self._lock:
            session = self.session(session_id)
            if session["status"] == "expired" or session["expires_at"] < time.time():
                raise Conflict("this checkout has expired", code="checkout_expired")
            if session["status"] != "complete":
                if session["amount_total"] == 0:
                    session.update(status="complete", payment_status="no_payment_required")
                else:
                    session.update(
                        status="complete",
                        payment_status="unpaid" if method == "bank_debit" else "paid",
                        payment_intent="pi_local_" + secrets.token_hex(12),
                    )
                self._save(session)
        return self.event_for(session, "checkout.session.completed")

    def settle(self, session_id: str, succeeded: bool) -> dict[str, Any]:
        """A bank debit cleared or bounced; return the async payment event to deliver."""
        with self._lock:
            session = self.session(session_id)
            if session["status"] != "complete" or session["payment_status"] != "unpaid":
                raise Conflict("this checkout has no payment waiting to clear", code="nothing_to_settle")
            if succeeded:
                session["payment_status"] = "paid"
                self._save(session)
        kind = "succeeded" if succeeded else "failed"
        return self.event_for(session, f"checkout.session.async_payment_{kind}")

    def expire(self, session_id: str) -> dict[str, Any]:
        """Let the page's time run out; return the `checkout.session.expired` event to deliver."""
        with self._lock:
            session = self._expire_if_open(session_id)
        return self.event_for(session, "checkout.session.expired")

    def _expire_if_open(self, session_id: str) -> dict[str, Any]:
        """An open session expires; a paid or expired one stays as it is. Call under the lock."""
        session = self.session(session_id)
        if session["status"] == "open":
            session["status"] = "expired"
            self._save(session)
        return session

    @staticmethod
    def event_for(session: dict[str, Any], event_type: str) -> dict[str, Any]:
        public = {k: v for k, v in session.items() if k not in ("idempotency_key", "line_items")}
        return {
            "id": "evt_local_" + secrets.token_hex(12),
            "object": "event",
            "api_version": STRIPE_API_VERSION,
            "created": int(time.time()),
            "type": event_type,
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "data": {"object": public},
        }
