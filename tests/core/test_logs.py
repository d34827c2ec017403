"""Logs are JSON lines with the ids they are about, and never carry secrets or emails."""

from __future__ import annotations

import io
import json
import logging

import pytest

from shared.core.logs import JsonFormatter, redact
from tests.fixtures.events import load_event


def test_secrets_tokens_and_emails_are_redacted() -> None:
    text = (
        "customer ada.lovelace@example.com used rc_dl_abcdefghijklmnopqrstuvwxyz0123456789 with "
        "sk_test_51Habcdefghijkl, whsec_abcdefghijkl, r8_abcdefghijkl, SG.abcdefghij.klmnop, "
        "Authorization: Bearer s3cr3t-v4lue, https://x/local-storage/a?expires=1&sig=deadbeef, "
        "postgresql://postgres:hunter2@db.example.com:5432/postgres"
    )
    cleaned = redact(text)
    for secret in (
        "ada.lovelace@example.com",
        "abcdefghijklmnopqrstuvwxyz0123456789",
        "51Habcdefghijkl",
        "whsec_abcdefghijkl",
        "r8_abcdefghijkl",
        "SG.abcdefghij",
        "s3cr3t-v4lue",
        "deadbeef",
        "hunter2",
    ):
        assert secret not in cleaned, secret
    assert "[email]" in cleaned and "rc_dl_[redacted]" in cleaned


def test_records_are_json_with_their_ids() -> None:
    record = logging.LogRecord(
        "restoreclick.webhook",
        logging.ERROR,
        __file__,
        1,
        "event %s not fulfilled for %s",
        ("evt_1", "eve@example.com"),
        None,
    )
    record.order_id = "o-1"
    record.event_id = "evt_1"
    entry = json.loads(JsonFormatter().format(record))
    assert entry["level"] == "ERROR" and entry["order_id"] == "o-1" and entry["event_id"] == "evt_1"
    assert entry["message"] == "event evt_1 not fulfilled for [email]"


def _formatted(message: str, **extra: object) -> dict[str, object]:
    record = logging.makeLogRecord({"name": "restoreclick.test", "levelname": "INFO", "msg": message, **extra})
    return json.loads(JsonFormatter().format(record))  # type: ignore[no-any-return]


def test_every_extra_field_is_kept_and_secrets_in_them_are_redacted() -> None:
    entry = _formatted(
        "prediction settled",
        prediction_id="p-42",
        attempts=3,
        report={"sent": 2, "to": "eve@example.com"},
        webhook_secret="whsec_plainsecretvalue",
        api_key="anything at all",
        note="link rc_dl_abcdefghijklmnop for bob@example.com",
    )
    assert entry["prediction_id"] == "p-42" and entry["attempts"] == 3
    assert entry["report"] == {"sent": 2, "to": "[email]"}
    assert entry["webhook_secret"] == "[redacted]" and entry["api_key"] == "[redacted]"
    assert entry["note"] == "link rc_dl_[redacted] for [email]"


def test_every_line_of_a_request_carries_its_gateway_and_lambda_request_ids(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from fastapi import APIRouter
    from mangum import Mangum

    from shared.core.config import get_settings
    from shared.core.http import create_app

    monkeypatch.setenv("APP_ENV", "test")
    get_settings.cache_clear()
    router = APIRouter()
    shop_log = logging.getLogger("restoreclick.test.requests")

    @router.get("/api/restoration/status/{ref}")
    def status(ref: str) -> dict[str, str]:
        shop_log.warning("looked up %s", ref, extra={"prediction_id": "p-7"})
        return {"ref": ref}

    lines = io.StringIO()
    capture = logging.StreamHandler(lines)
    capture.setFormatter(JsonFormatter())
    shop_log.addHandler(capture)
    try:
        handler = Mangum(create_app("log-probe", [router]), lifespan="off")
        event = load_event("apigw_v2_get")
        answer = handler(event, LambdaContext())
        handler(
            {**event, "requestContext": {**event["requestContext"], "requestId": "second-request"}}, LambdaContext()
        )
    finally:
        shop_log.removeHandler(capture)
        get_settings.cache_clear()
    first, second = (json.loads(line) for line in lines.getvalue().splitlines())
    assert answer["statusCode"] == 200 and answer["headers"]["x-request-id"] == "CWzqYj2yjoEEPJg="
    assert (first["request_id"], first["lambda_request_id"]) == ("CWzqYj2yjoEEPJg=", LambdaContext.aws_request_id)
    assert first["prediction_id"] == "p-7" and first["message"] == "looked up REF"
    assert second["request_id"] == "second-request"  # nothing left over from the first
    assert "request_id" not in _formatted("outside any request")


class LambdaContext:
    function_name = "restoreclick-test-status"
    aws_request_id = "0f6c9a52-3d3b-4c1e-9e57-1b2c3d4e5f60"

    def get_remaining_time_in_millis(self) -> int:
        return 29_000


def test_emails_are_found_in_text_around_them_and_long_runs_without_one_are_left_whole() -> None:
    from shared.core.logs import redact

    long_run = "cs_local_" + "a" * 30_000  # what an attacker put in an id that got logged
    cleaned = redact(f"checkout {long_run} for ada.lovelace+shop@mail.example.co.uk, and bob@x.io.")

    assert long_run in cleaned
    assert "ada.lovelace" not in cleaned and "bob@" not in cleaned
    assert cleaned.endswith("for [email], and [email].")
