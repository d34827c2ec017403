"""Resending download links: answers the same whatever the outcome, limited per order.

Whether an order exists is never revealed: the caller always gets the same 202. When the
email and order number match a finished order, a resend email is queued (its link is
made when it is sent), at most RESENDS_PER_HOUR times an hour per order, counted in the
database under the order's row lock so concurrent requests cannot pass the limit.
"""

from __future__ import annotations

import uuid

from shared import db

RESENDS_PER_HOUR = 3
RESENDABLE = ("completed", "partially_completed")


def request_resend(database: db.Database, email: str, order_number: str) -> bool:
    """Queue a resend if the pair matches and the rate allows; True if queued (not shown)."""
    with database.transaction(actor="customer") as conn:
        order = db.maybe_one(conn, "lock_order_for_resend", order_number=order_number.strip(), email=email.strip())
        if order is None or order["status"] not in RESENDABLE:
            return False
        if db.one(conn, "recent_resends", order_id=str(order["id"]))["n"] >= RESENDS_PER_HOUR:
            return False
        db.one(
            conn, "queue_email",
            order_id=str(order["id"]), to_email=email.strip(), template="download_links_resent",
            payload=db.jsonb({"order_number": order["order_number"]}),
            dedupe_key=f"download_links_resent:{order['id']}:{uuid.uuid4()}", max_attempts=8,
        )  # fmt: skip
    return True
