"""`charge.refunded` and `charge.dispute.created`: a payment went back at the provider
(refunded from Stripe's dashboard, or disputed by the customer's bank)."""

from __future__ import annotations

import logging

from shared.payments.refunds import Reversal, reverse_payment
from shared.stripe_events.handling import Delivery, Handled

log = logging.getLogger("restoreclick.webhook")


def payment_reversed(delivery: Delivery) -> Handled:
    """A full refund or a dispute stops the order (payments/refunds.reverse_payment); a
    partial refund is recorded and changes nothing. One transaction applies and marks it."""
    obj = delivery.object
    reversal: Reversal = "disputed" if delivery.event["type"] == "charge.dispute.created" else "refunded"
    with delivery.database.transaction(actor="stripe_webhook") as conn:
        if reversal == "refunded" and int(obj.get("amount_refunded", 0)) < int(obj.get("amount", 0)):
            log.info("partial refund on %s: recorded, order unchanged", obj.get("payment_intent"))
        elif obj.get("payment_intent"):
            reverse_payment(conn, obj["payment_intent"], reversal)
        delivery.mark_handled(conn)
    return Handled({"received": True}, marked=True)
