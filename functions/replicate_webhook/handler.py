"""Replicate webhook function: `POST /api/webhooks/replicate`.

Replicate posts a finished prediction here, signed. Verify it on the raw bytes, settle the
restoration job the prediction holds (store the restored photo, mark the job done or
failed) and ask for a restoration run so the order is finished at once. A redelivery
finds the job settled and changes nothing; a failure answers 500 and the poll fallback
settles the job if no delivery succeeds.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from mangum import Mangum

from shared.core.config import Settings, get_settings
from shared.core.errors import NotFound
from shared.core.http import create_app, raw_body
from shared.deps import get_database, get_restoration, get_storage
from shared.restoration import RemoteRestorationProvider

router = APIRouter(tags=["webhooks"])


@router.post("/api/webhooks/replicate")
def replicate_webhook(
    request: Request, payload: bytes = Depends(raw_body), settings: Settings = Depends(get_settings)
) -> dict[str, Any]:
    from shared.jobs.triggers import request_worker_run
    from shared.restoration.predictions import settle_prediction

    provider = get_restoration()
    if not isinstance(provider, RemoteRestorationProvider):
        raise NotFound("photos are not restored by Replicate here", code="not_configured")
    prediction = provider.verify_callback(dict(request.headers), payload)
    outcome = settle_prediction(get_database(), get_storage(), provider, settings, prediction)
    if outcome == "restored":
        request_worker_run(settings, "restoration")  # finishes the order once its last photo is in
    return {"received": True, "outcome": outcome}


def create_replicate_webhook_app() -> FastAPI:
    return create_app("replicate webhook", [router], max_body_bytes=256 * 1024)


app = create_replicate_webhook_app()
handler = Mangum(app, lifespan="off")
