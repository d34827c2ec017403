"""Every queue the shop runs, defined in one place: its table, states, retry backoff, lease.

A definition is all a queue adds to the mechanism (shared/jobs/queue.py over the
functions of migration 027); its jobs' handlers live with what they do (restoration/,
email/, orders/) and are paired with their queue by shared/jobs/workers.py. Nothing here
imports a handler, so a handler may import its queue's definition.

How many attempts a job gets is its row's `max_attempts`, defaulted by its table's
migration (restoration 3, email and order work 5), so an operator's retry or a special
job may carry its own.
"""

from __future__ import annotations

from dataclasses import replace

from shared.core.config import Settings
from shared.jobs.queue import Queue

# One restoration per original photo. The lease comes from the settings
# (RESTORATION_LEASE_SECONDS): a local restoration runs inside it.
RESTORATION = Queue(
    "restoration", "public.restoration_jobs", base_delay_seconds=30, max_delay_seconds=1800, lease_seconds=300
)
# Outgoing email. Its states say what happened to a message: 'sending' while a worker
# holds it, 'sent' once done. The first retry's delay comes from EMAIL_RETRY_DELAY_MS.
EMAIL = Queue(
    "email", "public.email_queue", claimed="sending", done="sent",
    base_delay_seconds=60, max_delay_seconds=6 * 3600, lease_seconds=120,
)  # fmt: skip
# Order-level work: finishing an order, moving the originals the webhook could not move.
ORDER_WORK = Queue("order_work", "public.order_jobs", base_delay_seconds=10, max_delay_seconds=600, lease_seconds=600)


def restoration_queue(settings: Settings) -> Queue:
    return replace(RESTORATION, lease_seconds=settings.restoration_lease_seconds)


def email_queue(settings: Settings) -> Queue:
    return replace(EMAIL, base_delay_seconds=settings.email_retry_delay_ms / 1000)


def every_queue(settings: Settings) -> dict[str, Queue]:
    """The shop's queues by name, as `restoreclick jobs` names them."""
    return {q.name: q for q in (restoration_queue(settings), email_queue(settings), ORDER_WORK)}
