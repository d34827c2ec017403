"""Stripe webhook signatures: making them (the local checkout's Pay button, tests) and
checking them with the official library (the webhook).

The library checks that a signature is not too old; it accepts any timestamp in the
future. A future timestamp means a wrong clock or a forged replay window, so we refuse
it with the same tolerance.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

from shared.core.errors import BadRequest


def sign_webhook_payload(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """The Stripe-Signature header Stripe would send for this payload."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    signed = f"{timestamp}.".encode() + payload
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def _timestamp(header: str) -> int | None:
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def verify_webhook(
    payload: bytes,
    header: str | None,
    secrets: list[str],
    tolerance_seconds: int,
    now: int | None = None,
) -> dict[str, Any]:
    """The parsed event, if the signature is valid under one of `secrets` and fresh."""
    import stripe

    if not header:
        raise BadRequest("the Stripe-Signature header is missing", code="missing_signature")
    timestamp = _timestamp(header)
    now = int(time.time()) if now is None else now
    if timestamp is None:
        raise BadRequest("the Stripe-Signature header is malformed", code="bad_signature")
    if abs(now - timestamp) > tolerance_seconds:
        raise BadRequest("the signature's timestamp is outside the tolerance", code="timestamp_out_of_tolerance")
    text = payload.decode("utf-8", errors="replace")
    for secret in secrets:
        try:
            # tolerance=None: the timestamp was checked above, in both directions.
            stripe.WebhookSignature.verify_header(text, header, secret, tolerance=None)
            break
        except stripe.SignatureVerificationError:
            continue
    else:
        raise BadRequest("the signature does not match", code="bad_signature")
    try:
        event = json.loads(payload)
    except (ValueError, RecursionError):  # nesting deeper than the parser's stack is not an event
        raise BadRequest("the payload is not valid JSON", code="malformed_payload") from None
    if not isinstance(event, dict):
        raise BadRequest("the payload is not a JSON object", code="malformed_payload")
    return event
