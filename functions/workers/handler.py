"""Workers function: restoration, email and cleanup runs.

Started three ways, all ending in `run_worker`:
- a schedule (EventBridge passes `{"worker": "<name>"}` as the event);
- an asynchronous invoke right after an order commits (same event shape);
- `POST /api/workers/{worker}` with `Authorization: Bearer $WORKER_SECRET_KEY`.
"""

from __future__ import annotations

import hmac
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Header
from mangum import Mangum

from shared.core.config import Settings, get_settings
from shared.core.errors import Unauthorized
from shared.core.http import create_app
from shared.jobs.queue import deadline_in
from shared.jobs.workers import run_worker

router = APIRouter(tags=["workers"])
HTTP_RUN_SECONDS = 25  # under the HTTP API's 30 s limit


def require_worker_secret(
    authorization: str | None = Header(default=None), settings: Settings = Depends(get_settings)
) -> None:
    """Bearer secret, compared in constant time."""
    expected = f"Bearer {settings.worker_secret_key.get_secret_value()}"
    if not authorization or not hmac.compare_digest(authorization.encode(), expected.encode()):
        raise Unauthorized("a valid worker bearer token is required", code="unauthorized")


@router.post("/api/workers/{worker}", dependencies=[Depends(require_worker_secret)])
def run_worker_now(worker: str, settings: Settings = Depends(get_settings)) -> dict[str, Any]:
    return run_worker(worker, settings, deadline_in(HTTP_RUN_SECONDS))


@router.get("/api/metrics", dependencies=[Depends(require_worker_secret)])
def metrics(settings: Settings = Depends(get_settings)) -> dict[str, Any]:
    """Queue depth, age, running, dead, processing times, error rates, storage, alerts."""
    from shared.deps import get_database
    from shared.jobs.monitoring import check_health

    return check_health(get_database(), settings).as_dict()


def create_workers_app() -> FastAPI:
    return create_app("workers", [router])


app = create_workers_app()
_http = Mangum(app, lifespan="off")


def handler(event: dict[str, Any], context: Any) -> Any:
    """HTTP events go to the app; scheduled and async-invoke events name a worker."""
    if isinstance(event, dict) and "worker" in event and "requestContext" not in event:

        def time_left() -> float:
            return context.get_remaining_time_in_millis() / 1000 if context else 60.0

        from shared.core.error_log import configuration_errors_recorded
        from shared.core.logs import request_ids

        with (
            request_ids(lambda_request_id=getattr(context, "aws_request_id", None)),
            configuration_errors_recorded(f"worker {event['worker']}"),
        ):
            return run_worker(str(event["worker"]), get_settings(), time_left)
    return _http(event, context)
