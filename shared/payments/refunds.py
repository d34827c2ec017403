"""Money going back: our refund of a paid checkout that cannot become an order, and an
order stopped because its payment was refunded or disputed at the provider.

Refunding a paid checkout that cannot become an order: once, through the provider.

The checkout is marked `refunding` with its reason in one transaction, the provider is
asked outside any transaction, and a second transaction marks it `refunded`, writes the
audit row and queues the customer's email. Each step is safe to repeat:
- the provider's idempotency key is the checkout's id and how many refund requests the
  provider answered with a failure; Stripe replays the first answer under a key for 24 h
  (a 500 too), so only a definite failure moves to the next key, while a retry after no
  answer reuses the key and gets the refund that request may have made;
- a payment refunded in full takes no second refund (the provider answers with the first),
  so even a new key can never refund twice;
- `finish_refund` updates only a `refunding` checkout, so the audit row and the email come
  once however many deliveries race here.

The caller's own record of the outcome (the webhook's mark that its event was handled)
is passed in as `record_outcome` and written in the transaction that ends the refund, so
the two commit together or not at all.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from shared.checkout.checkouts import Checkout, lock_checkout
from shared.core import db
from shared.core.audit import record_audit
from shared.core.error_log import record_error_in
from shared.email.outgoing import queue_email
from shared.orders.numbers import Order
from shared.payments.base import (
    CheckoutSessionInfo,
    PaymentsProvider,
    PaymentsRejected,
    PaymentsUnavailable,
    RefundRequest,
)

log = logging.getLogger("restoreclick.refunds")

# What the refund email tells the customer, by refund_reason.
REFUND_REASONS = {
    "payment_mismatch": "the amount charged did not match the price of your photos",
    "checkout_ended": "the payment arrived after that checkout had already ended",
    "already_paid": "these photos had already been paid for in another payment",
    "photos_missing": "some of the photos you paid for were no longer with us",
    "operator_refund": "we refunded this order for you",
}

# How a payment went back at the provider; the order's status and payment status say it too.
Reversal = Literal["refunded", "disputed"]
# The caller's work that must commit with an outcome or not at all.
RecordOutcome = Callable[["db.Connection"], None]  # (db.Connection exists for annotations only)


@dataclass(frozen=True)
class RefundOutcome:
    checkout: Checkout  # as it ends up: `refunded`, or still `refunding` when refused
    refused: str | None = None  # the provider's refusal: the refund waits for an operator


# The reason an operator's refund (`restoreclick orders refund`) is recorded with.
OPERATOR_REFUND = "operator_refund"
REFUND_EMAIL_MAX_ATTEMPTS = 8


def refund_checkout(
    database: db.Database,
    payments: PaymentsProvider,
    checkout: Checkout,
    info: CheckoutSessionInfo,
    reason: str,
    record_outcome: RecordOutcome | None = None,
) -> RefundOutcome:
    """Refund the checkout's payment in full, once.

    Raises PaymentsUnavailable when the provider could not be asked (the caller's retry,
    Stripe's redelivery or cleanup's settling finishes it). A refusal by the provider is
    returned and left to an operator: retrying the same refund cannot help. `record_outcome`
    runs inside the transaction that finishes the refund (or finds it finished), never
    when it was refused.
    """
    with database.transaction(actor="refunds") as conn:
        current = lock_checkout(conn, checkout)
        if current.status == "refunded":
            if record_outcome:
                record_outcome(conn)
            return RefundOutcome(current)
        if current.status != "refunding":
            current = db.one(
                conn, "begin_refund", Checkout,
                checkout_id=str(current.id), reason=reason, payment_intent=info.payment_intent,
            )  # fmt: skip
            record_audit(
                conn, "checkout", current.id, "checkout.refund_started",
                new={"reason": reason, "amount": info.amount_total}, actor="refunds",
            )  # fmt: skip
    log.warning("refunding checkout %s (%s)", current.id, current.refund_reason, extra={"checkout_id": str(current.id)})
    refund_id: str | None = None
    amount = info.amount_total if info.amount_total is not None else current.amount_total
    payment_intent = current.stripe_payment_intent_id or info.payment_intent
    if amount > 0 and payment_intent:
        try:
            refund = payments.refund_payment(
                RefundRequest(
                    payment_intent=payment_intent,
                    amount=amount,
                    idempotency_key=f"refund-{current.id}-{current.refund_attempts}",
                    metadata={"checkout_id": str(current.id), "reason": current.refund_reason or reason},
                )
            )
        except PaymentsUnavailable as exc:
            if exc.answered:
                with database.transaction(actor="refunds") as conn:
                    db.execute(conn, "count_refund_failure", checkout_id=str(current.id))
            raise
        except PaymentsRejected as exc:
            log.error(
                "the provider refused to refund checkout %s: %s; it stays `refunding` for an operator",
                current.id,
                exc.message,
                extra={"checkout_id": str(current.id)},
            )
            with database.transaction(actor="refunds") as conn:
                record_error_in(
                    conn, category="payment", severity="critical", source="refund refused",
                    message=f"the provider refused the refund: {exc.message}",
                    subject_type="checkout", subject_id=str(current.id),
                )  # fmt: skip
            return RefundOutcome(current, refused=f"refund refused: {exc.message}")
        refund_id = refund.id
    with database.transaction(actor="refunds") as conn:
        lock_checkout(conn, current)
        finished = db.maybe_one(conn, "finish_refund", Checkout, checkout_id=str(current.id), refund_id=refund_id)
        if finished is not None:
            record_audit(
                conn, "checkout", current.id, "checkout.refunded",
                old={"status": "refunding"},
                new={"status": "refunded", "refund_id": refund_id, "amount": amount,
                     "reason": finished.refund_reason},
                actor="refunds",
            )  # fmt: skip
            queue_email(
                conn, to_email=current.email, template="payment_refunded",
                payload={"amount_total": amount, "currency": current.currency,
                         "photo_count": current.photo_count, "reason": finished.refund_reason,
                         "why": REFUND_REASONS.get(finished.refund_reason or "")},
                dedupe_key=f"payment_refunded:{current.id}",
            )  # fmt: skip
            if finished.refund_reason != OPERATOR_REFUND:  # an operator's refund is theirs, not an error
                record_error_in(
                    conn, category="payment", severity="warning", source="refund automatic",
                    message=f"refunded {amount} {current.currency} automatically: {finished.refund_reason}",
                    subject_type="checkout", subject_id=str(current.id),
                )  # fmt: skip
            current = finished
        if record_outcome:
            record_outcome(conn)
    return RefundOutcome(current)


def reverse_payment(conn: db.Connection, payment_intent: str, reversal: Reversal) -> Order | None:
    """A payment refunded in full or disputed at the provider: its order stops (restoration
    jobs and emails cancelled, download links revoked), once. None when no order has this
    payment yet: the reversal stays in the stripe_events inbox, where fulfilment finds it
    and creates the order already reversed (`payment_reversal_for_intent`)."""
    # Serialised with the payment's fulfilment: either it sees this order, or it sees the event.
    db.execute(conn, "lock_payment", payment_intent=payment_intent)
    order = db.maybe_one(conn, "order_by_payment_intent", Order, payment_intent=payment_intent)
    if order is None:
        return None
    # Only moves forward: an order already refunded or disputed is left as it is.
    stopped: Order | None = db.maybe_one(conn, "reverse_order_payment", Order, order_id=str(order.id), status=reversal)
    if stopped is not None:
        db.execute(conn, "cancel_pending_restoration_jobs", order_id=str(order.id))
        db.execute(conn, "cancel_pending_emails", order_id=str(order.id))
        db.execute(conn, "revoke_download_links", order_id=str(order.id), reason=reversal)
    return stopped or order
