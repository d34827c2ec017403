"""Dispatch of a verified Stripe event: record it, hand it to its type's handler, mark it
handled. This is the only place an event is marked handled.

A handler applies its event in one transaction and calls the delivery's `mark_handled`
inside it, so the effects and the mark commit together; a handler that applied nothing
(or left the outcome open for an operator) says so, and it is marked here with what it
kept to say. Either way a crash before the commit leaves the event unhandled for Stripe
to redeliver, and a redelivery of a handled event changes nothing.
"""

from __future__ import annotations

from typing import Any

from shared.core import db
from shared.core.config import Settings
from shared.payments import PaymentsProvider
from shared.stripe_events.checkout_expired import checkout_expired
from shared.stripe_events.checkout_paid import checkout_paid
from shared.stripe_events.checkout_payment_failed import checkout_payment_failed
from shared.stripe_events.handling import Delivery, Handled, Handler
from shared.stripe_events.inbox import mark_handled, record_stripe_event, record_stripe_event_error
from shared.stripe_events.payment_reversed import payment_reversed

# One handler per event type we act on (the endpoint in Stripe's dashboard sends these).
HANDLERS: dict[str, Handler] = {
    "checkout.session.completed": checkout_paid,
    "checkout.session.async_payment_succeeded": checkout_paid,
    "checkout.session.async_payment_failed": checkout_payment_failed,
    "checkout.session.expired": checkout_expired,
    "charge.refunded": payment_reversed,
    "charge.dispute.created": payment_reversed,
}


def ignored(delivery: Delivery) -> Handled:
    """Any other type: accepted and marked, so Stripe stops sending it."""
    return Handled({"received": True})


def process_stripe_event(
    database: db.Database,
    payments: PaymentsProvider,
    settings: Settings,
    event: dict[str, Any],
) -> dict[str, Any]:
    """Apply one verified event exactly once; the answer says what it did."""
    event_id = event["id"]
    with database.transaction(actor="stripe_webhook") as conn:
        recorded = record_stripe_event(conn, event)
    if recorded.processed_at is not None:
        return {"received": True, "duplicate": True}

    def mark_applied(conn: db.Connection) -> None:
        mark_handled(conn, event_id)

    handler = HANDLERS.get(event["type"], ignored)
    try:
        handled = handler(Delivery(database, payments, settings, event, mark_applied))
        if not handled.marked:
            with database.transaction(actor="stripe_webhook") as conn:
                mark_handled(conn, event_id, handled.error)
    except Exception as exc:
        with database.transaction() as conn:
            record_stripe_event_error(conn, event_id, f"{type(exc).__name__}: {exc}")
        raise
    return handled.answer
