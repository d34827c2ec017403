"""Resending download links: the same answer, at the same cost, whatever the outcome.

Whether an order exists is never revealed. The request path records the request (one
insert, the same whether or not the email and order number match) and asks for an email
worker run; the worker matches requests against finished orders and queues a resend email
for each match, at most RESENDS_PER_HOUR an hour per order. So neither the answer nor the
time it takes says anything about the order: the lookup happens where nobody waits on it.
Requests are throttled per email address and per client address (RESEND_THROTTLE_*), which
never looks at orders either.
"""

from __future__ import annotations

import hashlib
import uuid

from shared.core import db
from shared.core.config import Settings
from shared.core.throttle import count_request
from shared.email.outgoing import queue_email

RESENDS_PER_HOUR = 3
MATCH_BATCH = 500
MAX_PAGES = 20  # a flood of requests waits for the next run rather than holding this one


def request_resend(
    database: db.Database, settings: Settings, email: str, order_number: str, client_address: str | None
) -> bool:
    """Record the request for the email worker, unless its email address or the client's
    address asked too often this hour; True if recorded. The caller answers 202 either way:
    a throttled request is dropped silently, and the count never depends on the order."""
    email = email.strip()
    window = settings.resend_throttle_window_seconds
    digest = hashlib.sha256(email.lower().encode()).hexdigest()  # the key holds no address in clear
    with database.transaction(actor="customer") as conn:
        by_email = count_request(conn, f"resend:email:{digest}", window).hits
        by_address = count_request(conn, f"resend:address:{client_address}", window).hits if client_address else 0
        per_email, per_address = settings.resend_throttle_per_email, settings.resend_throttle_per_address
        if (per_email and by_email > per_email) or (per_address and by_address > per_address):
            return False
        db.execute(conn, "record_resend_request", email=email, order_number=order_number.strip())
    return True


def match_resend_requests(database: db.Database) -> int:
    """Queue a resend email for every waiting request that names a finished order; returns
    how many were queued. Requests that match nothing are simply gone."""
    queued = 0
    for _ in range(MAX_PAGES):
        with database.transaction(actor="email_worker") as conn:
            db.execute(conn, "lock_resend_matching")
            rows = db.all_rows(conn, "match_resend_requests", batch_size=MATCH_BATCH, per_hour=RESENDS_PER_HOUR)
            for row in rows:
                # Each request is its own message (a random dedupe key), so a customer who
                # asks again within the limit gets the links again. zip_parts: the link gets
                # its uses for each of the order's ZIPs, as the first one did.
                queue_email(
                    conn, order_id=row["order_id"], to_email=row["email"], template="download_links_resent",
                    payload={"order_number": row["order_number"], "zip_parts": row["zip_parts"]},
                    dedupe_key=f"download_links_resent:{row['order_id']}:{uuid.uuid4()}",
                )  # fmt: skip
            remaining = db.maybe_one(conn, "resend_requests_waiting")
        queued += len(rows)
        if remaining is None:
            break
    return queued
