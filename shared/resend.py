"""Resending download links: the same answer, at the same cost, whatever the outcome.

Whether an order exists is never revealed. The request path records the request (one
insert, the same whether or not the email and order number match) and asks for an email
worker run; the worker matches requests against finished orders and queues a resend email
for each match, at most RESENDS_PER_HOUR an hour per order. So neither the answer nor the
time it takes says anything about the order: the lookup happens where nobody waits on it.
"""

from __future__ import annotations

from shared import db

RESENDS_PER_HOUR = 3
RESEND_EMAIL_MAX_ATTEMPTS = 8
MATCH_BATCH = 500
MAX_PAGES = 20  # a flood of requests waits for the next run rather than holding this one


def request_resend(database: db.Database, email: str, order_number: str) -> None:
    """Record the request for the email worker; the caller answers 202 whatever it names."""
    with database.transaction(actor="customer") as conn:
        db.execute(conn, "record_resend_request", email=email.strip(), order_number=order_number.strip())


def match_resend_requests(database: db.Database) -> int:
    """Queue a resend email for every waiting request that names a finished order; returns
    how many were queued. Requests that match nothing are simply gone."""
    queued = 0
    for _ in range(MAX_PAGES):
        with database.transaction(actor="email_worker") as conn:
            db.execute(conn, "lock_resend_matching")
            rows = db.all_rows(
                conn, "match_resend_requests",
                batch_size=MATCH_BATCH, per_hour=RESENDS_PER_HOUR, max_attempts=RESEND_EMAIL_MAX_ATTEMPTS,
            )  # fmt: skip
            remaining = db.maybe_one(conn, "resend_requests_waiting")
        queued += len(rows)
        if remaining is None:
            break
    return queued
