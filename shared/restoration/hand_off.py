"""Handing a restoration job to a remote provider (Replicate): the lease passes to the prediction.

The worker starts the prediction with the photo's signed URL and moves on; the job stays
running, held by `<provider>:<prediction id>`, until the provider's callback or the poll
fallback (restoration/predictions.py) settles it.
"""

from __future__ import annotations

import logging
from typing import Any

from shared.core import db
from shared.core.config import Settings
from shared.jobs.queue import HANDED_OFF, Job
from shared.restoration import RemoteRestorationProvider
from shared.storage import StorageService

log = logging.getLogger("restoreclick.restoration")


def callback_url(settings: Settings) -> str:
    return f"{settings.public_base_url.rstrip('/')}/api/webhooks/replicate"


def hand_to_provider(
    database: db.Database,
    storage: StorageService,
    provider: RemoteRestorationProvider,
    settings: Settings,
    job: Job,
    image: dict[str, Any],
) -> str:
    # The provider fetches the original itself; the URL lives as long as the job may wait.
    lease = settings.replicate_prediction_lease_seconds
    photo_url = storage.signed_download_url(image["storage_path"], expires_in=lease)
    prediction = provider.start(photo_url, callback_url(settings))
    with database.transaction() as conn:
        db.one(
            conn, "restoration_hand_off",
            id=str(job["id"]), worker=job["locked_by"], provider=provider.name, prediction_id=prediction.id,
            holder=prediction_holder(provider, prediction.id), lease_seconds=lease,
        )  # fmt: skip
    log.info(
        "restoration handed to %s", provider.name, extra={"job_id": str(job["id"]), "prediction_id": prediction.id}
    )
    return HANDED_OFF


def prediction_holder(provider: RemoteRestorationProvider, prediction_id: str) -> str:
    return f"{provider.name}:{prediction_id}"
