"""Dispatch of a verified Stripe event: record it, apply it once, report what happened."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from shared.core import db
from shared.core.config import Settings
from shared.core.errors import NotFound
from shared.jobs.triggers import request_worker_run
from shared.orders.fulfilment import fulfil_checkout_session
from shared.payments import CheckoutSessionInfo, PaymentsProvider, PaymentsRejected
from shared.stripe_events.inbox import (
    mark_stripe_event_processed,
    record_stripe_event,
    record_stripe_event_error,
)
from shared.stripe_events.payment_events import checkout_expired, checkout_payment_failed, payment_reversed

log = logging.getLogger("restoreclick.webhook")

FULFILLING = {"checkout.session.completed", "checkout.session.async_payment_succeeded"}
# Outcomes whose transaction already marked the event processed (with the error it keeps,
# for a refund the provider refused): marking again would clear that record.
MARKED_BY_FULFILMENT = {"refunded", "refund_pending", "payment_pending"}
# Applied with the session as the provider holds it now, read before the transaction.
ENDING_A_CHECKOUT: dict[str, Callable[[db.Connection, dict[str, Any], CheckoutSessionInfo], None]] = {
    "checkout.session.async_payment_failed": checkout_payment_failed,
    "checkout.session.expired": checkout_expired,
}
IN_ONE_TRANSACTION: dict[str, Callable[[db.Connection, dict[str, Any]], None]] = {
    "charge.refunded": payment_reversed,
    "charge.dispute.created": payment_reversed,
}


def process_stripe_event(
    database: db.Database,
    payments: PaymentsProvider,
    settings: Settings,
    event: dict[str, Any],
) -> dict[str, Any]:
    """Apply one verified event exactly once; the answer says what it did."""
    with database.transaction(actor="stripe_webhook") as conn:
        recorded = record_stripe_event(conn, event)
    if recorded.processed_at is not None:
        return {"received": True, "duplicate": True}
    try:
        return _apply(database, payments, settings, event)
    except Exception as exc:
        with database.transaction() as conn:
            record_stripe_event_error(conn, event["id"], f"{type(exc).__name__}: {exc}")
        raise


def _apply(
    database: db.Database,
    payments: PaymentsProvider,
    settings: Settings,
    event: dict[str, Any],
) -> dict[str, Any]:
    kind = event["type"]
    if kind in FULFILLING:
        session_id = event["data"]["object"].get("id", "")
        try:
            result = fulfil_checkout_session(database, payments, settings, session_id, event["id"])
        except NotFound as exc:
            # Not ours to fulfil (another product on the same Stripe account): retrying
            # cannot help, so record why and accept the event. (A payment of ours that
            # cannot become an order is refunded inside fulfilment instead.)
            log.error("event %s not fulfilled: %s", event["id"], exc.message, extra={"event_id": event["id"]})
            with database.transaction() as conn:
                mark_stripe_event_processed(conn, event["id"])  # clears last_error: record why after it
                record_stripe_event_error(conn, event["id"], exc.message)
            return {"received": True, "fulfilled": False, "reason": exc.code}
        if result.order is None:
            if result.reason not in MARKED_BY_FULFILMENT:
                with database.transaction() as conn:
                    mark_stripe_event_processed(conn, event["id"])
            return {"received": True, "fulfilled": False, "reason": result.reason}
        # After commit, start restoring right away. Moving the photos out of the temporary
        # area is the restoration job's first step: the answer here costs the same for one
        # photo or fifty, however slow storage is.
        if result.order.status == "paid":
            request_worker_run(settings, "restoration")
            request_worker_run(settings, "email")  # the confirmation
        return {"received": True, "order_number": result.order.order_number, "created": result.created}
    if kind in ENDING_A_CHECKOUT:
        try:
            info = payments.retrieve_checkout_session(event["data"]["object"].get("id", ""))
        except (NotFound, PaymentsRejected):
            info = None  # not a session the provider knows: nothing of ours to end
        with database.transaction(actor="stripe_webhook") as conn:
            if info is not None:
                ENDING_A_CHECKOUT[kind](conn, event, info)
            mark_stripe_event_processed(conn, event["id"])
        return {"received": True}
    handler = IN_ONE_TRANSACTION.get(kind)
    with database.transaction(actor="stripe_webhook") as conn:
        if handler is not None:
            handler(conn, event)
        else:
            mark_stripe_event_processed(conn, event["id"])
    return {"received": True}
