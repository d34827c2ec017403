"""`checkout.session.async_payment_failed`: a delayed payment (a bank debit) failed."""

from __future__ import annotations

from shared.checkout.checkouts import Checkout, locked_checkout_of_session
from shared.core import db
from shared.email.outgoing import queue_email
from shared.stripe_events.handling import Delivery, Handled


def checkout_payment_failed(delivery: Delivery) -> Handled:
    """The checkout fails, the photos are the customer's to check out again, and they are
    told. Only when the provider's session agrees (complete, unpaid): an event is a hint,
    and a page still open must not be treated as ended."""
    info = delivery.checkout_session_now()
    with delivery.database.transaction(actor="stripe_webhook") as conn:
        if info is not None and (info.status, info.payment_status) == ("complete", "unpaid"):
            checkout = locked_checkout_of_session(conn, info.id)
            failed = db.maybe_one(conn, "fail_checkout", Checkout, checkout_id=str(checkout.id)) if checkout else None
            if failed is not None:
                db.execute(
                    conn, "set_upload_session_status", upload_session_id=str(failed.upload_session_id), status="open"
                )
                queue_email(
                    conn, to_email=failed.email, template="payment_failed",
                    payload={"upload_session_id": str(failed.upload_session_id),
                             "amount_total": failed.amount_total, "currency": failed.currency},
                    dedupe_key=f"payment_failed:{failed.id}",
                )  # fmt: skip
        delivery.mark_handled(conn)
    return Handled({"received": True}, marked=True)
