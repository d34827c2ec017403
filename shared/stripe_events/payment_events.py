"""What each Stripe event does to the shop, apart from fulfilment itself.

Every handler runs in one transaction that also marks the event processed (the two that
end a checkout are marked by their caller, webhook_events, which reads the session from
the provider first), so a crash leaves the event to be redelivered and a redelivery
changes nothing twice.
"""

from __future__ import annotations

import logging
from typing import Any

from shared.checkout.checkouts import Checkout, lock_checkout
from shared.core import db
from shared.email.outgoing import queue_email
from shared.orders.numbers import Order
from shared.payments import CheckoutSessionInfo
from shared.stripe_events.inbox import mark_stripe_event_processed

log = logging.getLogger("restoreclick.payment_events")


def checkout_payment_failed(conn: db.Connection, event: dict[str, Any], info: CheckoutSessionInfo) -> None:
    """A delayed payment failed: the checkout fails, the photos are the customer's to
    check out again, and they are told. Only when the provider's session agrees (complete,
    unpaid): an event is a hint, and a page still open must not be treated as ended."""
    checkout = _locked_checkout(conn, info.id) if (info.status, info.payment_status) == ("complete", "unpaid") else None
    failed = db.maybe_one(conn, "fail_checkout", Checkout, checkout_id=str(checkout.id)) if checkout else None
    if failed is not None:
        db.execute(conn, "set_upload_session_status", upload_session_id=str(failed.upload_session_id), status="open")
        queue_email(
            conn, to_email=failed.email, template="payment_failed",
            payload={"upload_session_id": str(failed.upload_session_id),
                     "amount_total": failed.amount_total, "currency": failed.currency},
            dedupe_key=f"payment_failed:{failed.id}",
        )  # fmt: skip


def checkout_expired(conn: db.Connection, event: dict[str, Any], info: CheckoutSessionInfo) -> None:
    """The payment page expired unpaid: release the upload session for a new checkout.
    Only when the provider's session reads `expired` (the event alone never reopens a cart
    that can still be paid); an expiry arriving after the payment changes nothing (only an
    open checkout expires)."""
    checkout = _locked_checkout(conn, info.id) if info.status == "expired" else None
    if checkout is not None:
        db.maybe_one(conn, "expire_checkout", checkout_id=str(checkout.id))


def payment_reversed(conn: db.Connection, event: dict[str, Any]) -> None:
    """A full refund or a dispute: the order stops (jobs and emails cancelled, download
    links revoked). A refund arriving before the order exists is kept in stripe_events,
    where fulfilment finds it and creates the order already refunded."""
    obj = event["data"]["object"]
    status = "disputed" if event["type"] == "charge.dispute.created" else "refunded"
    if status == "refunded" and int(obj.get("amount_refunded", 0)) < int(obj.get("amount", 0)):
        log.info("partial refund on %s: recorded, order unchanged", obj.get("payment_intent"))
    elif obj.get("payment_intent"):
        db.execute(conn, "lock_payment", payment_intent=obj["payment_intent"])
        order = db.maybe_one(conn, "order_by_payment_intent", Order, payment_intent=obj["payment_intent"])
        if order is not None:
            stop_order(conn, order, status)
    mark_stripe_event_processed(conn, event["id"])


def stop_order(conn: db.Connection, order: Order, status: str) -> None:
    reversed_order = db.maybe_one(conn, "reverse_order_payment", Order, order_id=str(order.id), status=status)
    if reversed_order is None:
        return  # already refunded or disputed
    db.execute(conn, "cancel_pending_restoration_jobs", order_id=str(order.id))
    db.execute(conn, "cancel_pending_emails", order_id=str(order.id))
    db.execute(conn, "revoke_download_links", order_id=str(order.id), reason=status)


def _locked_checkout(conn: db.Connection, stripe_checkout_session_id: str) -> Checkout | None:
    row = db.maybe_one(
        conn, "checkout_by_stripe_session", Checkout, stripe_checkout_session_id=stripe_checkout_session_id
    )
    return lock_checkout(conn, row) if row else None
