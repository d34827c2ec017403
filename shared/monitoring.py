"""Queue and storage health, and the alert conditions a cron alarm watches.

`restoreclick monitor` prints it and exits non-zero when an alert fires;
`GET /api/metrics` (worker bearer secret) answers it as JSON.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from shared import db
from shared.config import Settings

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

    def as_dict(self) -> dict[str, Any]:
        return {
            "queues": self.queues,
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
    health = Health(queues, used, settings.storage_quota_bytes)
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
