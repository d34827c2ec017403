"""Every HTTP handler under Lambda: real-shaped API Gateway v2 and function URL events
through Mangum, with the database connection opened lazily and reused."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from shared.core import db
from shared.core.config import LOCAL_WEBHOOK_SECRET, Settings
from shared.payments import sign_webhook_payload
from tests.fixtures.events import http_event as event
from tests.fixtures.shopping import start_checkout, upload_photos

ROOT = Path(__file__).resolve().parents[2]


class Context:
    function_name = "restoreclick-ci-handler"
    aws_request_id = "5b8f2a4c-0d1e-4f2a-9b3c-6d7e8f9a0b1c"

    def get_remaining_time_in_millis(self) -> int:
        return 29_000


def handler(name: str):  # type: ignore[no-untyped-def]
    return importlib.reload(importlib.import_module(f"functions.{name}.handler")).handler


def test_status_through_api_gateway_and_the_connection_is_reused(shop: TestClient, settings: Settings) -> None:
    checkout = start_checkout(shop, upload_photos(shop, 1)["upload_session_id"])
    status = handler("status")
    db.set_database(None)  # a cold container: no connection yet
    first = status(event("apigw", "GET", f"/api/restoration/status/{checkout['checkout_session_id']}"), Context())
    conn = db.get_database().connection()
    second = status(event("apigw", "GET", "/api/restoration/status/unknown"), Context())
    assert first["statusCode"] == 200 and json.loads(first["body"])["status"] == "confirming_payment"
    assert second["statusCode"] == 404 and json.loads(second["body"])["error"]["code"] == "order_not_found"
    assert db.get_database().connection() is conn  # one connection per warm container
    assert first["headers"]["x-content-type-options"] == "nosniff"


def test_resend_through_a_function_url(settings: Settings, database: db.Database) -> None:
    body = json.dumps({"email": "ada@example.com", "order_number": "20260101-000001"}).encode()
    response = handler("resend")(event("url", "POST", "/api/email/resend", body), Context())
    assert response["statusCode"] == 202


def test_upload_with_a_base64_multipart_body(settings: Settings, database: db.Database) -> None:
    from tests.fixtures import images

    boundary = "----restoreclick"
    photo = images.jpeg()
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="a.jpg"\r\n'
            "Content-Type: image/jpeg\r\n\r\n"
        ).encode()
        + photo
        + f"\r\n--{boundary}--\r\n".encode()
    )
    response = handler("upload")(
        event(
            "apigw",
            "POST",
            "/api/uploads",
            body,
            {"content-type": f"multipart/form-data; boundary={boundary}"},
            base64_body=True,
        ),
        Context(),
    )
    assert response["statusCode"] == 201, response["body"]
    assert json.loads(response["body"])["photos"][0]["size"] == len(photo)


def test_checkout_and_the_signed_stripe_webhook_through_function_urls(shop: TestClient, settings: Settings) -> None:
    session = upload_photos(shop, 1)
    created = handler("checkout")(
        event(
            "url",
            "POST",
            "/api/checkout",
            json.dumps({"upload_session_id": session["upload_session_id"], "email": "ada@example.com"}).encode(),
        ),
        Context(),
    )
    assert created["statusCode"] == 201, created["body"]
    from shared.deps import get_payments

    stripe_event = get_payments().pay(json.loads(created["body"])["checkout_session_id"])  # type: ignore[attr-defined]
    payload = json.dumps(stripe_event).encode()
    delivered = handler("stripe_webhook")(
        event(
            "url",
            "POST",
            "/api/webhooks/stripe",
            payload,
            {"stripe-signature": sign_webhook_payload(payload, LOCAL_WEBHOOK_SECRET)},
        ),
        Context(),
    )
    assert delivered["statusCode"] == 200 and json.loads(delivered["body"])["created"] is True
    forged = handler("stripe_webhook")(
        event("url", "POST", "/api/webhooks/stripe", payload, {"stripe-signature": f"t={int(time.time())},v1=00"}),
        Context(),
    )
    assert forged["statusCode"] == 400


@pytest.mark.parametrize("name", ["download", "workers"])
def test_other_handlers_answer_through_api_gateway(settings: Settings, database: db.Database, name: str) -> None:
    path = "/api/download/rc_dl_unknown" if name == "download" else "/api/metrics"
    response = handler(name)(event("apigw", "GET", path), Context())
    assert response["statusCode"] == (404 if name == "download" else 401)


HANDLERS = sorted(path.parent.name for path in (ROOT / "functions").glob("*/handler.py"))
# What a cold start must not pay for at init: each SDK is imported by the route that calls it.
SDKS = ["psycopg", "stripe", "storage3", "PIL", "boto3", "botocore", "replicate", "sendgrid", "httpx", "cv2", "numpy"]


@pytest.mark.parametrize("name", HANDLERS)
def test_importing_a_handler_loads_no_sdk(name: str) -> None:
    probe = (
        "import importlib, json, sys; "
        f"importlib.import_module('functions.{name}.handler'); "
        f"print(json.dumps([m for m in {SDKS!r} if m in sys.modules]))"
    )
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []


def _multipart_of_size(total: int, photo: bytes) -> tuple[bytes, str]:
    """A multipart body of exactly `total` bytes: the photo, then a padding file the upload ignores."""
    boundary = "----restoreclick-boundary"
    head = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="p.jpg"\r\n'
            "Content-Type: image/jpeg\r\n\r\n"
        ).encode()
        + photo
        + (
            f'\r\n--{boundary}\r\nContent-Disposition: form-data; name="padding"; filename="pad.bin"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
    )
    tail = f"\r\n--{boundary}--\r\n".encode()
    return head + b"p" * (total - len(head) - len(tail)) + tail, f"multipart/form-data; boundary={boundary}"


def test_the_largest_upload_request_fits_lambdas_payload_as_api_gateway_sends_it(settings: Settings) -> None:
    from shared.core.config import LAMBDA_PAYLOAD_MAX_BYTES, LAMBDA_REQUEST_BODY_MAX_BYTES

    limit = settings.upload_request_body_max_bytes
    assert limit == LAMBDA_REQUEST_BODY_MAX_BYTES == 4_694_016
    body, content_type = _multipart_of_size(limit, b"x" * settings.upload_request_max_bytes)
    # Headers as large as the HTTP API lets through (10,240 bytes with the request line).
    headers = {"content-type": content_type, "x-padding": "h" * (10_240 - 400)}
    at_limit = event("apigw", "POST", "/api/uploads", body, headers, base64_body=True)
    assert len(json.dumps(at_limit).encode()) <= LAMBDA_PAYLOAD_MAX_BYTES
    # One base64 quantum more would not fit once the envelope takes its allowance; the old
    # "6 MB a request" does not come close.
    six_mb = event("apigw", "POST", "/api/uploads", b"x" * 6 * 1024 * 1024, headers, base64_body=True)
    assert len(json.dumps(six_mb).encode()) > LAMBDA_PAYLOAD_MAX_BYTES
    assert 4 * -(-(limit + 3) // 3) + 32 * 1024 > LAMBDA_PAYLOAD_MAX_BYTES


def test_the_upload_handler_takes_a_body_at_the_limit_and_refuses_one_byte_more_as_json(
    settings: Settings, database: db.Database
) -> None:
    from tests.fixtures import images

    upload = handler("upload")
    limit = settings.upload_request_body_max_bytes
    body, content_type = _multipart_of_size(limit, images.jpeg())
    fits = upload(event("apigw", "POST", "/api/uploads", body, {"content-type": content_type}, True), Context())
    assert fits["statusCode"] == 201, fits["body"]

    body, content_type = _multipart_of_size(limit + 1, images.jpeg())
    over = upload(event("apigw", "POST", "/api/uploads", body, {"content-type": content_type}, True), Context())
    assert over["statusCode"] == 413
    assert over["headers"]["content-type"] == "application/json"
    assert json.loads(over["body"])["error"]["code"] == "request_too_large"
