"""Logs are JSON lines with the ids they are about, and never carry secrets or emails."""

from __future__ import annotations

import json
import logging

from shared.structured_logs import JsonFormatter, redact


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
