"""Turning a paid checkout into exactly one order.

Stripe delivers events at least once, in any order, sometimes many at once. So:
- the checkout session is fetched from the provider, never trusted from the payload, and
  checked against the `checkouts` record of what was priced;
- everything the order needs (customer, order, images, claimed uploads, restoration jobs,
  confirmation email, audit rows) is written in one transaction;
- the unique Stripe ids on `orders` decide who wins a race: a losing delivery inserts
  nothing, rolls back (giving back its order number) and answers with the winner's order;
- a paid session that cannot become an order (the amount differs from what we priced,
  the checkout had ended, another payment already took these photos, a photo paid for is
  gone) is refunded in full, once, through the payments provider: never an order that
  lacks a photo that was paid for, never money kept for nothing;
- moving photos out of the temporary area is the restoration job's first step, never the
  webhook's: the answer to Stripe costs the same for one photo or fifty;
- the caller's own record of the outcome (the webhook marks its event handled) is passed
  in as `record_outcome` and written in the transaction that commits the outcome.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from shared.checkout.checkouts import PAID_STATES, Checkout, lock_checkout
from shared.core import db
from shared.core.config import Settings
from shared.core.errors import NotFound, RestoreClickError
from shared.email.outgoing import queue_email
from shared.orders.customers import get_or_create_customer
from shared.orders.numbers import Order, next_order_number, order_by_checkout_session
from shared.payments import CheckoutSessionInfo, PaymentsProvider
from shared.payments.refunds import RecordOutcome, refund_checkout
from shared.storage.layout import originals_path_for
from shared.stripe_events.inbox import payment_reversal_for_intent

log = logging.getLogger("restoreclick.fulfilment")


class PaymentMismatch(RestoreClickError):
    """What the provider says was paid is not what we priced: never fulfil it."""

    status_code = 409
    code = "payment_mismatch"


class _OrderExists(Exception):
    """Another delivery created the order first; roll this transaction back."""


class _MustRefund(Exception):
    """The payment cannot become an order; roll back whatever was written for it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class Fulfilment:
    order: Order | None
    created: bool
    reason: str = ""
    # record_outcome ran in the transaction that committed this outcome. False when there
    # was none to give (no record_outcome) or the outcome is left open: a payment whose
    # session is not complete, a refund the provider refused (`refused` says why).
    outcome_recorded: bool = False
    refused: str | None = None


def check_against_checkout(info: CheckoutSessionInfo, checkout: Checkout) -> None:
    """The provider's session must match our record: amount, currency, photos, and whose it is."""
    problems = []
    if info.metadata.get("photo_count") not in (None, str(checkout.photo_count)):
        problems.append(f"photo count {info.metadata['photo_count']} != priced {checkout.photo_count}")
    if info.metadata.get("photos") not in (None, checkout.photos_digest):
        problems.append("metadata.photos names other photos than were priced")
    if info.amount_total != checkout.amount_total:
        problems.append(f"amount {info.amount_total} != priced {checkout.amount_total}")
    if (info.currency or "").lower() != checkout.currency:
        problems.append(f"currency {info.currency} != priced {checkout.currency}")
    if info.metadata.get("checkout_id") not in (None, str(checkout.id)):
        problems.append("metadata.checkout_id names another checkout")
    if info.client_reference_id not in (None, str(checkout.id)):
        problems.append("client_reference_id names another checkout")
    if problems:
        raise PaymentMismatch(f"checkout session {info.id}: " + "; ".join(problems))


def create_order_for(conn: db.Connection, settings: Settings, checkout: Checkout, info: CheckoutSessionInfo) -> Order:
    """Everything a new order needs, inside the caller's transaction."""
    reversal = payment_reversal_for_intent(conn, info.payment_intent) if info.payment_intent else None
    customer = get_or_create_customer(conn, checkout.email, checkout.name)
    order = db.maybe_one(
        conn, "create_order", Order,
        order_number=next_order_number(conn),
        customer_id=str(customer.id),
        status=reversal or "paid",
        payment_status=reversal or "paid",
        stripe_checkout_session_id=info.id,
        stripe_payment_intent_id=info.payment_intent,
        upload_session_id=str(checkout.upload_session_id),
        image_count=checkout.photo_count,
        total_amount=checkout.amount_total,
        currency=checkout.currency,
        metadata=db.jsonb({"checkout_id": str(checkout.id)}),
    )  # fmt: skip
    if order is None:
        raise _OrderExists
    claim_photos(conn, order, checkout)
    if reversal is None:
        queue_order_work(conn, settings, order, checkout)
    db.execute(conn, "complete_checkout", checkout_id=str(checkout.id), payment_intent=info.payment_intent)
    db.execute(conn, "set_upload_session_status", upload_session_id=str(checkout.upload_session_id), status="paid")
    return order


def claim_photos(conn: db.Connection, order: Order, checkout: Checkout) -> None:
    ids = [str(i) for i in checkout.file_upload_ids]
    claimed = db.all_rows(conn, "claim_photos_for_order", order_id=str(order.id), file_upload_ids=ids)
    if len(claimed) != len(ids):
        # Paid for, but gone (removed or expired while the cart was wrongly open): an order
        # must never lack a photo that was paid for, so this payment is refunded instead.
        log.error(
            "checkout %s: %d of %d priced photos could not be claimed; refunding",
            checkout.id,
            len(ids) - len(claimed),
            len(ids),
            extra={"checkout_id": str(checkout.id)},
        )
        raise _MustRefund("photos_missing")
    # Where each paid photo will be kept; the restoration job moves it there (not the webhook).
    db.execute(
        conn, "create_original_images", order_id=str(order.id),
        file_upload_ids=[str(c["id"]) for c in claimed],
        storage_paths=[originals_path_for(c["storage_path"], order.id) for c in claimed],
    )  # fmt: skip


def queue_order_work(conn: db.Connection, settings: Settings, order: Order, checkout: Checkout) -> None:
    """One restoration job per photo, and the confirmation email."""
    db.execute(
        conn, "queue_restoration_jobs",
        order_id=str(order.id), max_attempts=settings.max_restoration_attempts,
    )  # fmt: skip
    queue_email(
        conn, order_id=order.id, to_email=checkout.email, template="order_confirmation",
        payload={"order_number": order.order_number, "photo_count": order.image_count,
                 "amount_total": order.total_amount, "currency": order.currency},
        dedupe_key=f"order_confirmation:{order.id}",
    )  # fmt: skip


def fulfil_checkout_session(
    database: db.Database,
    payments: PaymentsProvider,
    settings: Settings,
    checkout_session_id: str,
    record_outcome: RecordOutcome | None = None,
) -> Fulfilment:
    """Create the order for a paid checkout session, once, however often this is called;
    or refund it, once, when it cannot become an order. `record_outcome` runs inside the
    transaction that commits the outcome (the order, the awaited payment, the refund)."""
    info = payments.retrieve_checkout_session(checkout_session_id)
    with database.transaction() as conn:
        found = db.maybe_one(conn, "checkout_by_stripe_session", Checkout, stripe_checkout_session_id=info.id)
    if found is None:
        raise NotFound(f"no checkout of ours has session {info.id}", code="unknown_checkout")
    if info.payment_status not in PAID_STATES:
        if info.status == "complete":
            # A delayed payment method (bank debit): the photos stay frozen until
            # checkout.session.async_payment_succeeded or _failed.
            with database.transaction(actor="stripe_webhook") as conn:
                lock_checkout(conn, found)
                db.maybe_one(conn, "await_payment", checkout_id=str(found.id), payment_intent=info.payment_intent)
                if record_outcome:
                    record_outcome(conn)
            return Fulfilment(None, False, "payment_pending", outcome_recorded=record_outcome is not None)
        return Fulfilment(None, False, f"payment_status is {info.payment_status}")
    refund_reason: str | None = None
    try:
        with database.transaction(actor="stripe_webhook") as conn:
            checkout = lock_checkout(conn, found)
            if info.payment_intent:
                db.execute(conn, "lock_payment", payment_intent=info.payment_intent)
            order = order_by_checkout_session(conn, info.id)
            created = False
            if order is None:
                refund_reason = _why_not_fulfillable(conn, info, checkout)
                if refund_reason is None:
                    order = create_order_for(conn, settings, checkout, info)
                    created = True
            if record_outcome and refund_reason is None:
                record_outcome(conn)
    except _OrderExists:
        with database.transaction(actor="stripe_webhook") as conn:
            order = order_by_checkout_session(conn, info.id)
            if record_outcome:
                record_outcome(conn)
        created = False
    except _MustRefund as must:
        refund_reason = must.reason
    if refund_reason is not None:
        ended = refund_checkout(database, payments, found, info, refund_reason, record_outcome)
        if ended.refused is not None:
            # `refund_pending`: the provider refused the refund; it waits for an operator.
            return Fulfilment(None, False, "refund_pending", refused=ended.refused)
        return Fulfilment(None, False, "refunded", outcome_recorded=record_outcome is not None)
    return Fulfilment(order, created, outcome_recorded=record_outcome is not None)


def _why_not_fulfillable(conn: db.Connection, info: CheckoutSessionInfo, checkout: Checkout) -> str | None:
    """Why this paid session must be refunded rather than fulfilled, if it must."""
    if checkout.status in ("refunding", "refunded"):
        return checkout.refund_reason or "checkout_ended"
    try:
        check_against_checkout(info, checkout)
    except PaymentMismatch as mismatch:
        log.error("%s; refunding", mismatch.message, extra={"checkout_id": str(checkout.id)})
        return "payment_mismatch"
    other = db.maybe_one(
        conn,
        "paid_checkout_of_session",
        upload_session_id=str(checkout.upload_session_id),
        checkout_id=str(checkout.id),
    )
    if other is not None:
        return "already_paid"
    if checkout.status in ("expired", "failed"):
        # Only the provider's word ends a checkout now, so this is an old row or a provider
        # that took money for a page it said was over: the cart may have changed since.
        return "checkout_ended"
    return None
