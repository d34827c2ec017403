"""The stand-in for Stripe Checkout that `restoreclick dev` and the tests use with no key.

It keeps sessions as JSON files, serves a payment page (local_routes), and its Pay button
produces a `checkout.session.completed` event in Stripe's own shape, signed with the
webhook secret, so the real webhook code path runs end to end.
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from shared.errors import Conflict, NotFound
from shared.payments.base import (
    CheckoutAlreadyPaid,
    CheckoutRequest,
    CheckoutSessionInfo,
    CreatedCheckout,
    checkout_session_info,
)

API_VERSION = "2025-10-29.clover"


class LocalPayments:
    def __init__(self, store_dir: Path, public_base_url: str) -> None:
        self.store_dir = store_dir
        self.store_dir.mkdir(parents=True, exist_ok=True)
        self.public_base_url = public_base_url.rstrip("/")
        self._lock = threading.Lock()

    # -- storage of sessions ----------------------------------------------------------

    def _file(self, session_id: str) -> Path:
        if not session_id.startswith("cs_local_") or not session_id[9:].isalnum():
            raise NotFound("no such checkout session", code="checkout_session_not_found")
        return self.store_dir / f"{session_id}.json"

    def session(self, session_id: str) -> dict[str, Any]:
        try:
            return json.loads(self._file(session_id).read_text())
        except FileNotFoundError:
            raise NotFound("no such checkout session", code="checkout_session_not_found") from None

    def _save(self, session: dict[str, Any]) -> None:
        fd, temp = tempfile.mkstemp(dir=self.store_dir, prefix=".partial-")
        with os.fdopen(fd, "w") as out:
            json.dump(session, out)
        os.replace(temp, self._file(session["id"]))

    # -- the provider interface -------------------------------------------------------

    def create_checkout_session(self, request: CheckoutRequest) -> CreatedCheckout:
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
            raise CheckoutAlreadyPaid("this checkout was already paid")
        return checkout_session_info(session)

    def list_completed_checkout_sessions(self, created_after: datetime) -> Iterator[CheckoutSessionInfo]:
        # Whole seconds, as Stripe compares `created[gte]`: `created` has no fraction, so a
        # session made in the same second as `created_after` is still included.
        since = int(created_after.timestamp())
        for path in sorted(self.store_dir.glob("cs_local_*.json")):
            session = json.loads(path.read_text())
            if session["status"] == "complete" and session["created"] >= since:
                yield checkout_session_info(session)

    # -- what the payment page does -------------------------------------------------------

    def pay(self, session_id: str) -> dict[str, Any]:
        """Take the payment; return the `checkout.session.completed` event to deliver."""
        with self._lock:
            session = self.session(session_id)
            if session["status"] == "expired" or session["expires_at"] < time.time():
                raise Conflict("this checkout has expired", code="checkout_expired")
            if session["status"] != "complete":
                session.update(
                    status="complete", payment_status="paid", payment_intent="pi_local_" + secrets.token_hex(12)
                )
                self._save(session)
        return self.event_for(session, "checkout.session.completed")

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
            "api_version": API_VERSION,
            "created": int(time.time()),
            "type": event_type,
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "data": {"object": public},
        }
