"""Restoration jobs that a remote provider (Replicate) works on, from hand-off to result.

The worker hands a job over with the photo's signed URL and moves on; the job stays
`running`, its lease held by the prediction. The provider's signed callback settles it;
the poll fallback settles those whose callback never came; if neither does, the lease
expires and the sweep gives the job another attempt.
"""

from __future__ import annotations

import io
import logging
from collections import Counter
from typing import Literal

from shared.core import db
from shared.core.config import Settings
from shared.core.error_log import record_job_failure
from shared.core.errors import RestoreClickError
from shared.jobs.queue import Job, TerminalJobError, complete_jobs, fail_job
from shared.jobs.queues import restoration_queue
from shared.restoration.base import FINISHED_PREDICTION, JPEG_QUALITY, Prediction, RemoteRestorationProvider
from shared.restoration.hand_off import prediction_holder
from shared.restoration.worker import (
    STOPPED_ORDERS,
    link_restored_photo,
    photo_of_job,
    preview_restored_photo,
    restored_max_pixels,
    store_restored_photo,
)
from shared.storage import StorageService
from shared.uploads.photo_checks import photo_header

log = logging.getLogger("restoreclick.restoration")
Settlement = Literal["restored", "failed", "in_progress", "not_awaited"]


def settle_prediction(
    database: db.Database,
    storage: StorageService,
    provider: RemoteRestorationProvider,
    settings: Settings,
    prediction: Prediction,
) -> Settlement:
    """Apply a prediction's outcome to the job it holds. Safe to repeat: a settled job is not awaited."""
    holder = prediction_holder(provider, prediction.id)
    with database.transaction() as conn:
        job = db.maybe_one(
            conn,
            "restoration_job_awaiting_prediction",
            provider=provider.name,
            prediction_id=prediction.id,
            holder=holder,
        )
    if job is None:
        return "not_awaited"
    if prediction.status not in FINISHED_PREDICTION:
        return "in_progress"
    if prediction.status == "succeeded" and prediction.output_url:
        try:
            _store_output(database, storage, provider, settings, job, prediction.output_url)
        except TerminalJobError as exc:
            _fail(database, settings, job, holder, str(exc), terminal=True)
            return "failed"
        with database.transaction() as conn:
            complete_jobs(conn, restoration_queue(settings), [str(job["id"])], holder)
        return "restored"
    reason = prediction.error or f"the prediction {prediction.status}"
    _fail(database, settings, job, holder, f"{provider.name}: {reason}", terminal=False)
    return "failed"


def poll_awaited_predictions(
    database: db.Database,
    storage: StorageService,
    provider: RemoteRestorationProvider,
    settings: Settings,
    limit: int = 50,
) -> dict[str, int]:
    """Ask the provider about predictions whose callback is overdue, and settle the finished ones."""
    with database.transaction() as conn:
        jobs = db.all_rows(
            conn, "restoration_jobs_awaiting_callback",
            provider=provider.name, after_seconds=settings.replicate_poll_after_seconds, limit=limit,
        )  # fmt: skip
    settled: Counter[str] = Counter()
    for job in jobs:
        try:
            settled[
                settle_prediction(database, storage, provider, settings, provider.fetch(job["provider_prediction_id"]))
            ] += 1
        except Exception as exc:
            # The lease still runs: the next poll, or the sweep after it, takes the job up again.
            log.warning("could not settle prediction %s: %s", job["provider_prediction_id"], exc,
                        extra={"job_id": str(job["id"])})  # fmt: skip
            settled["errors"] += 1
    return dict(settled)


def _store_output(
    database: db.Database,
    storage: StorageService,
    provider: RemoteRestorationProvider,
    settings: Settings,
    job: Job,
    output_url: str,
) -> None:
    image, existing = photo_of_job(database, job)
    if image["order_status"] in STOPPED_ORDERS:
        return  # refunded or disputed while the provider worked: nothing to deliver
    max_pixels = restored_max_pixels(settings)
    restored: bytes | None = None
    if existing is None:
        restored = _as_jpeg(provider.download(output_url), max_pixels)
        existing = store_restored_photo(database, storage, image, restored, max_pixels)
        if existing is None:
            return  # refunded or disputed while it was stored
    preview_restored_photo(database, storage, existing, restored, max_pixels)
    link_restored_photo(database, job, existing, provider.name)


def _as_jpeg(photo: bytes, max_pixels: int) -> bytes:
    """Models answer PNG or WebP as often as JPEG; the shop delivers JPEG. The header is
    read, and the pixel count bounded, before anything is decoded."""
    from PIL import Image, UnidentifiedImageError

    try:
        photo_header(photo, max_pixels)
    except RestoreClickError as exc:
        raise TerminalJobError(f"the provider's output is refused: {exc.message}") from None
    try:
        with Image.open(io.BytesIO(photo)) as decoded:
            if decoded.format == "JPEG":
                return photo
            out = io.BytesIO()
            decoded.convert("RGB").save(out, "JPEG", quality=JPEG_QUALITY)
            return out.getvalue()
    except (UnidentifiedImageError, OSError):
        raise TerminalJobError("the provider's output is not an image") from None


def _fail(database: db.Database, settings: Settings, job: Job, holder: str, error: str, *, terminal: bool) -> None:
    status = fail_job(database, restoration_queue(settings), job, holder, error, terminal=terminal)
    record_job_failure(database, "restoration", job["id"], error, status)
