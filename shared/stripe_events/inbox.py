"""The inbox: Stripe webhook events we accepted, keyed by Stripe's event id, recorded once.

An event is handled when `processed_at` is set. Only dispatch calls `mark_handled`, inside
the transaction that applies the event (or, for an event that changed nothing, right
after): a crash before that commit leaves the event to be redelivered, and a redelivery
of a handled event is answered as a duplicate without touching anything.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from shared.core import db


class RecordedEvent(BaseModel):
    id: str
    type: str
    processed_at: datetime | None
    attempts: int


def record_stripe_event(conn: db.Connection, event: dict[str, Any]) -> RecordedEvent:
    """Insert the event, or count one more delivery of it; tell whether it is done."""
    return db.one(
        conn, "record_stripe_event", RecordedEvent,
        id=event["id"], type=event["type"], livemode=bool(event.get("livemode", False)),
        api_version=event.get("api_version"), payload=db.jsonb(event),
    )  # fmt: skip


def mark_handled(conn: db.Connection, event_id: str, error: str | None = None) -> None:
    """The event's effects commit with `conn`'s transaction; `error` is kept for an operator
    (a refund the provider refused, a session that is not ours)."""
    db.execute(conn, "mark_stripe_event_handled", id=event_id, error=error)


def record_stripe_event_error(conn: db.Connection, event_id: str, error: str) -> None:
    """A delivery failed: the event stays unhandled, Stripe redelivers it, and this says why."""
    db.execute(conn, "record_stripe_event_error", id=event_id, error=error)


def payment_reversal_for_intent(conn: db.Connection, payment_intent: str) -> str | None:
    """'refunded' or 'disputed' when such an event for this payment was already received."""
    row = db.maybe_one(conn, "payment_reversal_for_intent", payment_intent=payment_intent)
    if row is None:
        return None
    return "disputed" if row["type"] == "charge.dispute.created" else "refunded"
