"""`checkout.session.expired`: the payment page expired unpaid."""

from __future__ import annotations

from shared.checkout.checkouts import locked_checkout_of_session
from shared.core import db
from shared.stripe_events.handling import Delivery, Handled


def checkout_expired(delivery: Delivery) -> Handled:
    """The upload session is released for a new checkout. Only when the provider's session
    reads `expired` (the event alone never reopens a cart that can still be paid); an expiry
    arriving after the payment changes nothing (only an open checkout expires)."""
    info = delivery.checkout_session_now()
    with delivery.database.transaction(actor="stripe_webhook") as conn:
        checkout = locked_checkout_of_session(conn, info.id) if info is not None and info.status == "expired" else None
        if checkout is not None:
            db.maybe_one(conn, "expire_checkout", checkout_id=str(checkout.id))
        delivery.mark_handled(conn)
    return Handled({"received": True}, marked=True)
