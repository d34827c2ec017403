"""What the operator does to one order (`restoreclick orders`): list, show, refund, resend.

A refund goes through the refund path the webhook uses (payments/refunds.py: the checkout
is marked refunding, the provider asked once under an idempotency key, the customer
emailed), then the order stops as a `charge.refunded` event stops it (jobs and emails
cancelled, links revoked). A resend records a resend request and matches it with the
email worker's own code (downloads/resend.py): the same per-order limit, a fresh link made
as the email is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.checkout.checkouts import Checkout, lock_checkout
from shared.core import db
from shared.core.errors import Conflict, NotFound
from shared.downloads.resend import match_resend_requests
from shared.orders.numbers import Order
from shared.payments import PaymentsProvider
from shared.payments.refunds import OPERATOR_REFUND, refund_checkout, reverse_payment


def list_orders(
    conn: db.Connection, *, status: str | None = None, since_days: int | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    return db.all_rows(conn, "operator_list_orders", status=status, since_days=since_days, limit=limit)


def show_order(conn: db.Connection, order_number: str) -> dict[str, Any]:
    """The order with its checkout, photos, jobs, emails, links and audit trail."""
    order = db.maybe_one(conn, "operator_order", order_number=order_number)
    if order is None:
        raise NotFound(f"no order {order_number}", code="order_not_found")
    checkout = db.maybe_one(
        conn, "operator_order_checkout", stripe_checkout_session_id=order["stripe_checkout_session_id"]
    )
    order_id = str(order["id"])
    checkout_id = str(checkout["id"]) if checkout else None
    return {
        "order": order,
        "payment": checkout,
        "photos": db.all_rows(conn, "operator_order_images", order_id=order_id),
        "jobs": db.all_rows(conn, "operator_order_jobs", order_id=order_id),
        "emails": db.all_rows(conn, "operator_order_emails", order_id=order_id, checkout_id=checkout_id),
        "links": db.all_rows(conn, "operator_order_links", order_id=order_id),
        "audit": db.all_rows(conn, "operator_order_audit", order_id=order_id, checkout_id=checkout_id),
    }


@dataclass
class RefundOutcome:
    order_number: str
    status: str  # refunded, already_refunded, refund_pending
    checkout_status: str
    refund_id: str | None


def refund_order(database: db.Database, payments: PaymentsProvider, order_number: str, *, actor: str) -> RefundOutcome:
    """Refund a paid order in full, once, and stop its work."""
    with database.transaction(actor=actor) as conn:
        order = db.maybe_one(conn, "order_by_number", Order, order_number=order_number)
        if order is None:
            raise NotFound(f"no order {order_number}", code="order_not_found")
        if order.payment_status == "disputed":
            raise Conflict(f"order {order_number} is disputed: the bank decides its money", code="order_disputed")
        checkout = db.maybe_one(
            conn, "checkout_by_stripe_session", Checkout, stripe_checkout_session_id=order.stripe_checkout_session_id
        )
    if checkout is None or order.stripe_checkout_session_id is None:
        raise Conflict(f"order {order_number} has no checkout to refund", code="no_checkout")
    # Refunded in full already: by us, or at the provider (a dashboard refund arrives as a
    # charge.refunded, which stops the order). Asking again would refund twice.
    if order.payment_status == "refunded":
        return RefundOutcome(order_number, "already_refunded", checkout.status, checkout.stripe_refund_id)
    # The provider's word on what was paid, as the webhook takes it.
    info = payments.retrieve_checkout_session(order.stripe_checkout_session_id)
    with database.transaction(actor=actor) as conn:
        current = lock_checkout(conn, checkout)
        begun = db.maybe_one(
            conn, "begin_operator_refund", Checkout,
            checkout_id=str(current.id), reason=OPERATOR_REFUND, payment_intent=info.payment_intent,
        )  # fmt: skip
        current = begun or current
    if current.status not in ("refunding", "refunded"):
        raise Conflict(f"order {order_number}'s checkout is {current.status}; it cannot be refunded", code="not_paid")
    refund_checkout(database, payments, current, info, OPERATOR_REFUND)
    # Read back rather than trust what it returned: when another operator's refund of the
    # same order finished first, it hands back the row as this call last locked it.
    with database.transaction(actor=actor) as conn:
        ended = db.one(
            conn, "checkout_by_stripe_session", Checkout, stripe_checkout_session_id=checkout.stripe_checkout_session_id
        )
    if ended.status != "refunded":
        return RefundOutcome(order_number, "refund_pending", ended.status, None)
    if order.stripe_payment_intent_id:
        # Stopped as a `charge.refunded` from Stripe stops it (the same path, so once).
        with database.transaction(actor=actor) as conn:
            reverse_payment(conn, order.stripe_payment_intent_id, "refunded")
    return RefundOutcome(order_number, "refunded", ended.status, ended.stripe_refund_id)


def resend_order_link(database: db.Database, order_number: str) -> int:
    """Queue a fresh download link to the order's customer; returns how many emails were
    queued (0: it had its resends for this hour)."""
    with database.transaction(actor="operator") as conn:
        order = db.maybe_one(conn, "operator_order", order_number=order_number)
        if order is None:
            raise NotFound(f"no order {order_number}", code="order_not_found")
        if order["status"] not in ("completed", "partially_completed"):
            raise Conflict(f"order {order_number} is {order['status']}; it has no photos to send", code="not_finished")
        if order["photos_deleted_at"] is not None:
            raise Conflict(f"order {order_number}'s photos were deleted; there is nothing to link to", code="gone")
        db.execute(conn, "record_resend_request", email=order["email"], order_number=order_number)
    return match_resend_requests(database)
