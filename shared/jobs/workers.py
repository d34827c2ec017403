"""The shop's workers by name, as a schedule, an HTTP call or the CLI starts them.

- `restoration`: settle overdue remote predictions, restore (or hand over) pending photos,
  then finish the orders whose photos are all final;
- `email`: send queued email;
- `cleanup`: remove what was abandoned;
- `monitor`: publish queue and storage health to CloudWatch, where the alarms watch it.
Each run reports what it did, as a dict that the handler logs and returns.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from shared.core.config import Settings
from shared.core.errors import NotFound
from shared.deps import get_database, get_storage
from shared.jobs.queue import Queue, run_queue

log = logging.getLogger("restoreclick.workers")

ORDER_WORK = Queue("order_work", base_delay_seconds=10, max_delay_seconds=600, lease_seconds=600)
WORKER_NAMES = ("restoration", "email", "cleanup", "monitor")


def restoration_queue(settings: Settings) -> Queue:
    return Queue(
        "restoration", base_delay_seconds=30, max_delay_seconds=1800, lease_seconds=settings.restoration_lease_seconds
    )


def email_queue(settings: Settings) -> Queue:
    return Queue(
        "email", base_delay_seconds=settings.email_retry_delay_ms / 1000, max_delay_seconds=6 * 3600, lease_seconds=120
    )


def run_worker(name: str, settings: Settings, time_left: Callable[[], float], *, once: bool = False) -> dict[str, Any]:
    """Run one worker until its queue is empty or its time runs low (one batch if `once`)."""
    database = get_database()
    batches = 1 if once else None
    if name == "monitor":  # before storage: the health is read from the database alone
        from shared.jobs.monitoring import check_health, publish_metrics

        health = check_health(database, settings)
        report: dict[str, Any] = {"monitor": {"alerts": health.alerts, "metrics": publish_metrics(health, settings)}}
        log.info("worker run finished", extra={"worker": name, "report": report})
        return report
    if name not in WORKER_NAMES:
        raise NotFound(f"no worker named {name!r}; choose from {', '.join(WORKER_NAMES)}", code="unknown_worker")
    storage = get_storage()
    if name == "restoration":
        from shared.deps import get_restoration
        from shared.orders.finishing import finish_order, queue_finish_for_settled_orders
        from shared.restoration import RemoteRestorationProvider
        from shared.restoration.worker import restore_photo

        restoration = get_restoration()
        polled = None
        if isinstance(restoration, RemoteRestorationProvider):
            from shared.restoration.predictions import poll_awaited_predictions

            polled = poll_awaited_predictions(database, storage, restoration, settings)
        restored = run_queue(
            database,
            restoration_queue(settings),
            lambda job: restore_photo(database, storage, restoration, settings, job),
            time_left=time_left,
            max_batches=batches,
        )
        queued = queue_finish_for_settled_orders(database)
        finished = run_queue(
            database,
            ORDER_WORK,
            lambda job: finish_order(database, storage, settings, job),
            time_left=time_left,
            max_batches=batches,
            concurrency=1,
        )
        report = {"restoration": restored.as_dict(), "orders_ready": queued, "order_work": finished.as_dict()}
        if polled is not None:
            report["predictions_polled"] = polled
        if finished.succeeded:
            from shared.jobs.triggers import request_worker_run

            request_worker_run(settings, "email")  # the completion emails just queued
    elif name == "email":
        from shared.downloads.resend import match_resend_requests
        from shared.email import email_from_settings
        from shared.email.worker import send_email

        mailer = email_from_settings(settings)
        resends = match_resend_requests(database)
        report = {
            "resends_matched": resends,
            "email": run_queue(
                database,
                email_queue(settings),
                lambda job: send_email(database, storage, mailer, settings, job),
                time_left=time_left,
                max_batches=batches,
            ).as_dict(),
        }
    else:
        from shared.jobs.cleanup import run_cleanup

        result = run_cleanup(database, storage, settings, time_left=time_left)
        report = {"cleanup": {"counts": result.counts, "finished": result.finished}}
    log.info("worker run finished", extra={"worker": name, "report": report})
    return report
