"""Asking for a worker run now instead of at the next scheduled minute.

Supabase's transaction pooler has no LISTEN/NOTIFY, so nothing waits on notifications:
after an order commits, the webhook asks for a restoration run explicitly. In AWS that is
an asynchronous Lambda invoke of the worker; under `restoreclick dev`, the local
scheduler's immediate run. With neither configured it does nothing: the schedule runs it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from shared.core.config import Settings

log = logging.getLogger("restoreclick.triggers")

# The dev server's scheduler registers itself here.
_local_runner: Callable[[str], None] | None = None


def set_local_runner(runner: Callable[[str], None] | None) -> None:
    global _local_runner
    _local_runner = runner


def request_worker_run(settings: Settings, worker: str) -> None:
    """Start a run of `worker` soon; never fails the caller (the schedule is the fallback)."""
    try:
        if _local_runner is not None:
            _local_runner(worker)
        elif settings.workers_function:
            import json

            import boto3

            boto3.client("lambda").invoke(
                FunctionName=settings.workers_function,
                InvocationType="Event",
                Payload=json.dumps({"worker": worker}).encode(),
            )
    except Exception:
        log.warning("could not request an immediate %s run", worker, exc_info=True)
