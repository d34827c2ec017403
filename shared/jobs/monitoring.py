"""Queue and storage health, and the alert conditions a cron alarm watches.

`restoreclick monitor` prints it and exits non-zero when an alert fires;
`GET /api/metrics` (worker bearer secret) answers it as JSON; the scheduled `monitor`
worker publishes it to CloudWatch, whose alarms (serverless.yml) notify a person.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from shared.core import db
from shared.core.config import Settings
from shared.core.error_log import unresolved_counts

BACKLOG_LIMIT = 100
STUCK_AFTER_MINUTES = 5
ERROR_RATE_LIMIT = 0.05
STORAGE_LIMIT = 0.80


@dataclass
class Health:
    queues: list[dict[str, Any]]
    storage_bytes: int
    storage_quota_bytes: int | None
    alerts: list[str] = field(default_factory=list)
    # Unresolved error-log entries by category (`restoreclick errors list --unresolved`).
    errors: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "queues": self.queues,
            "errors": self.errors,
            "storage": {"bytes": self.storage_bytes, "quota_bytes": self.storage_quota_bytes},
            "alerts": self.alerts,
        }


def error_rate(stats: dict[str, Any]) -> float:
    """Failed attempts over all finished attempts in the last hour."""
    failed, succeeded = stats["failed_attempts_last_hour"], stats["succeeded_last_hour"]
    return failed / (failed + succeeded) if failed + succeeded else 0.0


def check_health(database: db.Database, settings: Settings) -> Health:
    with database.transaction() as conn:
        queues = [dict(row) for row in db.all_rows(conn, "queue_stats")]
        used = int(db.one(conn, "storage_bytes_used")["bytes"])
        refunds_waiting = int(db.one(conn, "refunds_waiting")["n"])
        errors = unresolved_counts(conn)
    health = Health(queues, used, settings.storage_quota_bytes, errors=errors)
    if refunds_waiting:
        health.alerts.append(
            f"payments: {refunds_waiting} refund(s) still not made after an hour (checkouts in `refunding`)"
        )
    for q in queues:
        q["error_rate"] = round(error_rate(q), 4)
        if q["pending"] > BACKLOG_LIMIT:
            health.alerts.append(f"{q['queue']}: backlog of {q['pending']} jobs (over {BACKLOG_LIMIT})")
        if q["stuck"]:
            health.alerts.append(f"{q['queue']}: {q['stuck']} job(s) processing for over {STUCK_AFTER_MINUTES} minutes")
        if q["error_rate"] > ERROR_RATE_LIMIT:
            health.alerts.append(f"{q['queue']}: error rate {q['error_rate']:.0%} in the last hour (over 5%)")
    from shared.health import storage_state

    bucket = storage_state()
    if not bucket["reachable"]:
        health.alerts.append(f"storage: bucket {settings.storage_bucket!r} unavailable ({bucket['error']})")
    quota = settings.storage_quota_bytes
    if quota and used > STORAGE_LIMIT * quota:
        health.alerts.append(f"storage: {used} bytes used, over 80% of the {quota} byte quota")
    return health


def health_metrics(health: Health) -> dict[str, float]:
    """The alert conditions as numbers, each alarmed on over the same limit as above."""
    queues = health.queues
    metrics = {
        "QueueBacklog": float(max((q["pending"] for q in queues), default=0)),
        "JobsProcessingOver5Minutes": float(sum(q["stuck"] for q in queues)),
        "ErrorRatePercent": round(100 * max((error_rate(q) for q in queues), default=0.0), 2),
    }
    if health.storage_quota_bytes:
        metrics["StorageUsedPercent"] = round(100 * health.storage_bytes / health.storage_quota_bytes, 2)
    return metrics


UNITS = {"QueueBacklog": "Count", "JobsProcessingOver5Minutes": "Count"}


def publish_metrics(health: Health, settings: Settings) -> dict[str, float]:
    """Write the metrics as one CloudWatch embedded-metric-format line on stdout.

    Lambda sends stdout to CloudWatch Logs, which turns such a line into metrics with no
    API call (and so no boto3 import or IAM permission). A quota left unset publishes no
    storage metric, and its alarm, treating missing data as breaching, says so.
    """
    metrics = health_metrics(health)
    document = {
        "_aws": {
            "Timestamp": int(time.time() * 1000),
            "CloudWatchMetrics": [
                {
                    "Namespace": settings.metrics_namespace,
                    "Dimensions": [["Stage"]],
                    "Metrics": [{"Name": name, "Unit": UNITS.get(name, "Percent")} for name in metrics],
                }
            ],
        },
        "Stage": settings.metrics_stage,
        **metrics,
    }
    sys.stdout.write(json.dumps(document) + "\n")
    sys.stdout.flush()
    return metrics
