"""The download link in an email: made as the email is written, revoked if it was never sent."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from shared.core import db
from shared.core.config import get_settings
from shared.downloads.links import token_hash
from shared.email.outbox import OutboxEmail
from shared.jobs.queue import deadline_in
from shared.jobs.workers import run_worker
from tests.fixtures.db import rows
from tests.fixtures.shopping import paid_order


def test_a_completion_email_that_failed_once_leaves_only_the_sent_link_usable(
    shop: TestClient, conn: db.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    paid_order(shop, photos=1)
    run_worker("restoration", get_settings(), deadline_in(60))
    real_send = OutboxEmail.send
    calls = {"n": 0}

    def provider_down_for_the_first_completion_email(self: OutboxEmail, message):  # type: ignore[no-untyped-def]
        if "ready" in message.subject:
            calls["n"] += 1
            if calls["n"] == 1:
                raise ConnectionError("relay down")
        return real_send(self, message)

    monkeypatch.setattr(OutboxEmail, "send", provider_down_for_the_first_completion_email)
    run_worker("email", get_settings(), deadline_in(30))
    conn.execute("update email_queue set run_after = now()")
    run_worker("email", get_settings(), deadline_in(30))
    assert rows(conn, "select template, status from email_queue order by created_at") == [
        {"template": "order_confirmation", "status": "sent"},
        {"template": "restoration_complete", "status": "sent"},
    ]

    links = rows(conn, "select token_hash, revoked_reason from download_links order by created_at")
    assert [link["revoked_reason"] for link in links] == ["email not sent", None]
    [sent] = [m for m in shop.get("/dev/outbox?format=json").json()["messages"] if "ready" in m["subject"]]
    [url] = sent["download_links"]
    assert token_hash(urlsplit(url).path.rsplit("/", 1)[-1]) == links[1]["token_hash"]
    assert shop.get(urlsplit(url).path).status_code == 200
