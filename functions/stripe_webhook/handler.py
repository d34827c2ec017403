"""Stripe webhook function: `POST /api/webhooks/stripe`.

Verify the signature on the raw bytes, record the event (a redelivery of a processed one
is answered at once), apply it in one transaction, answer fast. Any failure answers 500
so Stripe retries; the retry completes what the failure left, without duplicates. Its
schedule also settles checkouts whose event never came (shared/checkout_settling).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from mangum import Mangum

from shared.core.config import Settings, get_settings
from shared.core.http import create_app, raw_body
from shared.deps import get_database, get_payments
from shared.stripe_events.dispatch import process_stripe_event
from shared.stripe_events.shape import check_stripe_event

log = logging.getLogger("restoreclick.stripe_webhook")
router = APIRouter(tags=["webhooks"])


def verified_event(payload: bytes, signature: str | None, settings: Settings) -> dict[str, Any]:
    """The event, if the signature is good, fresh, and the JSON has an event's shape."""
    from shared.payments import verify_webhook, webhook_secrets

    event = verify_webhook(payload, signature, webhook_secrets(settings), settings.stripe_webhook_tolerance_seconds)
    return check_stripe_event(event)


@router.post("/api/webhooks/stripe")
def stripe_webhook(
    request: Request, payload: bytes = Depends(raw_body), settings: Settings = Depends(get_settings)
) -> dict[str, Any]:
    event = verified_event(payload, request.headers.get("stripe-signature"), settings)
    return process_stripe_event(get_database(), get_payments(), settings, event)


def create_stripe_webhook_app() -> FastAPI:
    return create_app("stripe webhook", [router], max_body_bytes=512 * 1024)


app = create_stripe_webhook_app()
_http = Mangum(app, lifespan="off")


def handler(event: dict[str, Any], context: Any) -> Any:
    """HTTP events go to the app. The schedule's `{"worker": "checkouts"}` settles the
    checkouts whose Stripe event never came: this function carries the Stripe SDK."""
    if isinstance(event, dict) and "worker" in event and "requestContext" not in event:
        from shared.checkout.settling import WORKER_NAME, run_checkout_settling

        if event["worker"] != WORKER_NAME:
            raise ValueError(f"the stripe webhook function runs only the {WORKER_NAME!r} worker")

        from shared.core.logs import request_ids

        def time_left() -> float:
            return context.get_remaining_time_in_millis() / 1000 if context else 60.0

        from shared.core.error_log import configuration_errors_recorded

        with (
            request_ids(lambda_request_id=getattr(context, "aws_request_id", None)),
            configuration_errors_recorded(f"worker {WORKER_NAME}"),
        ):
            return run_checkout_settling(get_settings(), time_left)
    return _http(event, context)
