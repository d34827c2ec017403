"""Queueing an email: the one way any part of the shop asks for a message to be sent.

The email worker sends what is queued here. A message is queued inside the caller's
transaction, so it goes out only if what it tells the customer was committed; its
dedupe key makes queueing it again (a redelivered event, a retried job) a no-op.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from shared.core import db

# Enough retries to ride out a provider outage of hours with the worker's backoff.
EMAIL_MAX_ATTEMPTS = 8
# What `customers erase` puts where a person's address was (privacy/erasure.sql): a domain
# reserved never to exist (RFC 2606), so nothing may be queued to it.
ERASED_ADDRESS_DOMAIN = "@erased.invalid"


def queue_email(
    conn: db.Connection,
    *,
    to_email: str,
    template: str,
    payload: dict[str, Any],
    dedupe_key: str,
    order_id: UUID | str | None = None,
    max_attempts: int = EMAIL_MAX_ATTEMPTS,
) -> bool:
    """Queue `template` for `to_email`; False when a message with this dedupe key was
    already queued (it is not queued twice), or the address is an erased person's (an
    operator's refund of their order, say: there is nobody left to tell)."""
    if to_email.endswith(ERASED_ADDRESS_DOMAIN):
        return False
    row = db.maybe_one(
        conn, "queue_email",
        order_id=str(order_id) if order_id is not None else None, to_email=to_email, template=template,
        payload=db.jsonb(payload), dedupe_key=dedupe_key, max_attempts=max_attempts,
    )  # fmt: skip
    return row is not None
