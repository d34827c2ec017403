"""`checkout.session.completed` and `checkout.session.async_payment_succeeded`: a checkout
was paid (or a delayed payment cleared), so it becomes exactly one order, or a refund."""

from __future__ import annotations

import logging

from shared.core.errors import NotFound
from shared.jobs.triggers import request_worker_run
from shared.orders.fulfilment import fulfil_checkout_session
from shared.stripe_events.handling import Delivery, Handled

log = logging.getLogger("restoreclick.webhook")


def checkout_paid(delivery: Delivery) -> Handled:
    event_id = delivery.event["id"]
    try:
        result = fulfil_checkout_session(
            delivery.database, delivery.payments, delivery.settings, delivery.object.get("id", ""),
            record_outcome=delivery.mark_handled,
        )  # fmt: skip
    except NotFound as exc:
        # Not ours to fulfil (another product on the same Stripe account): retrying cannot
        # help, so the event is handled with why kept. (A payment of ours that cannot
        # become an order is refunded inside fulfilment instead.)
        log.error("event %s not fulfilled: %s", event_id, exc.message, extra={"event_id": event_id})
        return Handled({"received": True, "fulfilled": False, "reason": exc.code}, error=exc.message)
    if result.order is None:
        answer = {"received": True, "fulfilled": False, "reason": result.reason}
        return Handled(answer, marked=result.outcome_recorded, error=result.refused)
    # After commit, start restoring right away. Moving the photos out of the temporary area
    # is the restoration job's first step: the answer here costs the same for one photo or
    # fifty, however slow storage is.
    if result.order.status == "paid":
        request_worker_run(delivery.settings, "restoration")
        request_worker_run(delivery.settings, "email")  # the confirmation
    answer = {"received": True, "order_number": result.order.order_number, "created": result.created}
    return Handled(answer, marked=result.outcome_recorded)
