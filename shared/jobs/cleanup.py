"""Cleanup (daily cron): removes what was abandoned, never what a paid order needs.

- temporary uploads older than CLEANUP_RETENTION_DAYS that no order claimed and no
  checkout may still be paid for: rows marked
  expired, objects deleted; stray temporary objects with no row (a crash between storing
  and recording) older than that too, except those a paid order still has to move;
- download links expired or revoked for longer than a grace period;
- processed Stripe events older than 90 days;
- finished jobs and sent emails past their retention;
- resolved error-log entries after 90 days;
- the photos (originals, restored, ZIPs) of orders finished PHOTO_RETENTION_DAYS ago: the
  order rows stay, for accounting (shared/privacy/retention.py).

Each step works in pages and stops when the run's time runs low; the next run resumes,
since each page removes what it handled. `dry_run` runs the same statements in a
transaction that is rolled back, and deletes no object.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from shared.core import db
from shared.core.config import Settings
from shared.privacy.retention import delete_expired_photos
from shared.storage import StorageService

STRIPE_EVENT_RETENTION_DAYS = 90
JOB_RETENTION_DAYS = 30
LINK_GRACE_DAYS = 7
ERROR_LOG_RETENTION_DAYS = 90
# Each order's photos are several storage calls: a smaller page keeps the time checks close.
PHOTO_PAGE = 50


class _DryRun(Exception):
    """Rolls back a dry run's transaction."""


@dataclass
class CleanupReport:
    dry_run: bool
    counts: dict[str, int] = field(default_factory=dict)
    finished: bool = True

    def add(self, what: str, n: int) -> None:
        self.counts[what] = self.counts.get(what, 0) + n


def _steps(settings: Settings) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (
            "expired_uploads",
            "expire_abandoned_uploads",
            {"retention_days": settings.cleanup_retention_days},
        ),
        ("dead_download_links", "delete_dead_download_links", {"grace_days": LINK_GRACE_DAYS}),
        ("old_stripe_events", "delete_old_stripe_events", {"days": STRIPE_EVENT_RETENTION_DAYS}),
        ("finished_restoration_jobs", "delete_finished_restoration_jobs", {"days": JOB_RETENTION_DAYS}),
        ("sent_emails", "delete_finished_emails", {"days": JOB_RETENTION_DAYS}),
        ("finished_order_jobs", "delete_finished_order_jobs", {"days": JOB_RETENTION_DAYS}),
        ("old_throttle_windows", "delete_old_throttle_windows", {}),
        ("resolved_errors", "delete_resolved_errors", {"days": ERROR_LOG_RETENTION_DAYS}),
    ]


def run_cleanup(
    database: db.Database,
    storage: StorageService,
    settings: Settings,
    *,
    time_left: Callable[[], float],
    dry_run: bool = False,
    batch_size: int = 500,
    safety_margin_seconds: float = 10.0,
    on_page: Callable[[str, int], None] | None = None,
) -> CleanupReport:
    """Run every step; `on_page(step, n)` is told of each page as it is done (progress)."""
    report = CleanupReport(dry_run)

    def add(what: str, n: int) -> None:
        report.add(what, n)
        if on_page:
            on_page(what, n)

    for what, query, params in _steps(settings):
        page = dict(params, batch_size=batch_size)
        if dry_run:
            # Every page in one transaction that is rolled back: each page sees the ones
            # before it as done, so the count is what a real run would remove, not one page.
            if not _dry_pages(database, query, page, time_left, safety_margin_seconds, partial(add, what)):
                report.finished = False
                return report
            continue
        while True:
            if time_left() <= safety_margin_seconds:
                report.finished = False
                return report
            with database.transaction(actor="cleanup") as conn:
                rows = db.all_rows(conn, query, **page)
            if what == "expired_uploads":
                storage.delete_objects([r["storage_path"] for r in rows])
            add(what, len(rows))
            if len(rows) < batch_size:
                break
    photo_page = min(batch_size, PHOTO_PAGE)
    while True:
        if time_left() <= safety_margin_seconds:
            report.finished = False
            return report
        orders = delete_expired_photos(database, storage, settings, batch_size=photo_page, dry_run=dry_run)
        add("expired_order_photos", orders)
        if dry_run or orders < photo_page:
            break
    if not dry_run:
        with database.transaction(actor="cleanup") as conn:
            db.execute(conn, "expire_abandoned_sessions", retention_days=settings.cleanup_retention_days)
    add("stray_temp_objects", _remove_stray_objects(database, storage, settings, dry_run, batch_size))
    add("stray_incoming_objects", _remove_stray_incoming(database, storage, dry_run, batch_size))
    return report


def _dry_pages(
    database: db.Database,
    query: str,
    params: dict[str, Any],
    time_left: Callable[[], float],
    margin: float,
    add: Callable[[int], None],
) -> bool:
    """Run one step's pages and roll them back; False when time ran out first."""
    finished = True
    try:
        with database.transaction(actor="cleanup") as conn:
            while True:
                if time_left() <= margin:
                    finished = False
                    break
                n = len(db.all_rows(conn, query, **params))
                add(n)
                if n < params["batch_size"]:
                    break
            raise _DryRun
    except _DryRun:
        pass
    return finished


def _remove_stray_objects(
    database: db.Database, storage: StorageService, settings: Settings, dry_run: bool, limit: int
) -> int:
    """Temporary objects older than retention that no live row points at."""
    cutoff = datetime.now(UTC) - timedelta(days=settings.cleanup_retention_days)
    with database.transaction() as conn:
        keep = {r["storage_path"] for r in db.all_rows(conn, "claimed_temp_paths")}
        live = {r["storage_path"] for r in db.all_rows(conn, "live_temp_paths")}
    old = [
        o.path for o in storage.all_temp_objects()
        if o.updated_at is not None and o.updated_at < cutoff and o.path not in keep and o.path not in live
    ][:limit]  # fmt: skip
    if not dry_run:
        storage.delete_objects(old)
    return len(old)


def _remove_stray_incoming(database: db.Database, storage: StorageService, dry_run: bool, limit: int) -> int:
    """Objects a signed upload URL wrote that no pending upload will ever check: sent after
    completion, after the photo was removed, or for an upload refused. Nothing reads
    them, whatever their age, so they go at once."""
    with database.transaction() as conn:
        pending = {storage.incoming_path_for(r["storage_path"]) for r in db.all_rows(conn, "pending_upload_paths")}
    stray = [o.path for o in storage.all_incoming_objects() if o.path not in pending][:limit]
    if not dry_run:
        storage.delete_objects(stray)
    return len(stray)
