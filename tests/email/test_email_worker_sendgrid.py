"""The email worker with EMAIL_PROVIDER=sendgrid, over real HTTP to the SendGrid stand-in:
the queue row, the photos in storage and what SendGrid receives agree."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from psycopg.types.json import Jsonb

from shared.core import db
from shared.core.config import Settings, get_settings
from shared.deps import get_storage
from shared.jobs.queue import deadline_in
from shared.jobs.workers import run_worker
from tests.fixtures import factories, images
from tests.fixtures.db import rows
from tests.fixtures.sendgrid_standin import API_KEY, SendGridStandIn


@pytest.fixture
def sendgrid_settings(
    settings: Settings, database: db.Database, sendgrid_standin: SendGridStandIn, monkeypatch: pytest.MonkeyPatch
) -> Settings:
    monkeypatch.setenv("EMAIL_PROVIDER", "sendgrid")
    monkeypatch.setenv("SENDGRID_API_KEY", API_KEY)
    monkeypatch.setenv("SENDGRID_API_BASE", sendgrid_standin.base_url)
    get_settings.cache_clear()
    return get_settings()


def restored_order(conn: db.Connection, photos: list[bytes]) -> dict[str, Any]:
    """A paid order whose photos were restored: rows, and the restored files in storage."""
    order = factories.order(conn, image_count=len(photos), status="processing")
    storage = get_storage()
    for n, data in enumerate(photos):
        upload = factories.file_upload(conn, order["upload_session_id"], filename=f"photo{n}.jpg")
        original = factories.insert(
            conn,
            "images",
            order_id=order["id"],
            type="original",
            file_upload_id=upload["id"],
            storage_path=f"uploads/originals/{order['id']}/{uuid.uuid4().hex}.jpg",
            filename=f"photo{n}.jpg",
            content_type="image/jpeg",
            size_bytes=1234,
            stored_at=datetime.now(UTC),
        )
        path = storage.save_restored(order["id"], f"{uuid.uuid4().hex}.jpg", data, "image/jpeg")
        factories.insert(
            conn,
            "images",
            order_id=order["id"],
            type="restored",
            source_image_id=original["id"],
            storage_path=path,
            filename=f"photo{n} (restored).jpg",
            content_type="image/jpeg",
            size_bytes=len(data),
            stored_at=datetime.now(UTC),
        )
    return order


def queue_completion_email(conn: db.Connection, order: dict[str, Any], restored: int) -> str:
    [row] = rows(
        conn,
        "insert into email_queue (order_id, to_email, template, payload, dedupe_key) "
        "values (%s, 'ada@example.com', 'restoration_complete', %s, %s) returning id",
        order["id"],
        Jsonb({"order_number": order["order_number"], "restored": restored, "failed": 0}),
        f"restoration_complete:{order['id']}",
    )
    return str(row["id"])


def test_the_worker_sends_the_completion_email_through_sendgrid(
    sendgrid_settings: Settings, conn: db.Connection, sendgrid_standin: SendGridStandIn
) -> None:
    photos = [images.jpeg((200, 150), seed=1), images.jpeg((150, 200), seed=2)]
    order = restored_order(conn, photos)
    email_id = queue_completion_email(conn, order, restored=2)

    report = run_worker("email", get_settings(), deadline_in(30))

    assert report["email"]["succeeded"] == 1 and report["email"]["errors"] == []
    [mail] = sendgrid_standin.accepted
    assert mail.body["personalizations"] == [{"to": [{"email": "ada@example.com"}]}]
    assert mail.body["subject"] == f"Your restored photos are ready ({order['order_number']})"
    assert mail.attachments() == [
        ("photo0 (restored).jpg", "image/jpeg", "attachment", photos[0]),
        ("photo1 (restored).jpg", "image/jpeg", "attachment", photos[1]),
    ]
    assert f"{sendgrid_settings.public_base_url}/api/download/rc_dl_" in mail.content()["text/plain"]
    assert mail.body["custom_args"] == {"restoreclick_email_id": email_id}
    [sent] = rows(conn, "select status, provider, provider_message_id, sent_at from email_queue")
    assert sent["status"] == "sent" and sent["sent_at"] is not None
    assert (sent["provider"], sent["provider_message_id"]) == ("sendgrid", mail.message_id)


@pytest.mark.parametrize(
    ("status", "queue_status", "error"),
    [
        (500, "pending", "EmailUnavailable: SendGrid failed (500)"),
        (429, "pending", "EmailUnavailable: SendGrid failed (429)"),
        (400, "dead", "TerminalJobError: SendGrid refused the message (400)"),
    ],
)
def test_what_sendgrid_answers_decides_retry_or_dead(
    sendgrid_settings: Settings,
    conn: db.Connection,
    sendgrid_standin: SendGridStandIn,
    status: int,
    queue_status: str,
    error: str,
) -> None:
    queue_completion_email(conn, restored_order(conn, [images.jpeg(seed=3)]), restored=1)
    sendgrid_standin.fail_next(status)

    run_worker("email", get_settings(), deadline_in(30))

    [email] = rows(conn, "select status, attempt_number, last_error, send_started_at from email_queue")
    assert (email["status"], email["attempt_number"], email["last_error"]) == (queue_status, 1, error)
    # The failure was clean (SendGrid answered), so nothing marks it as possibly sent.
    assert email["send_started_at"] is None
    if queue_status == "pending":
        conn.execute("update email_queue set run_after = now()")
        run_worker("email", get_settings(), deadline_in(30))
        [sent] = rows(conn, "select status, provider_message_id from email_queue")
        assert sent == {"status": "sent", "provider_message_id": sendgrid_standin.accepted[0].message_id}
    assert len(sendgrid_standin.accepted) == (1 if queue_status == "pending" else 0)


def test_an_email_sendgrid_took_but_never_answered_is_not_sent_twice(
    sendgrid_settings: Settings,
    conn: db.Connection,
    sendgrid_standin: SendGridStandIn,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A read timeout after the request went out: SendGrid may have sent it, so no blind retry."""
    import shared.email.sendgrid_provider as sendgrid_provider

    monkeypatch.setattr(sendgrid_provider, "TIMEOUT_SECONDS", 0.5)
    get_settings.cache_clear()
    queue_completion_email(conn, restored_order(conn, [images.jpeg(seed=4)]), restored=1)
    sendgrid_standin.answer_delay_seconds = 2.0

    run_worker("email", get_settings(), deadline_in(30))
    [email] = rows(conn, "select status, last_error, send_started_at, provider_message_id from email_queue")
    assert email["status"] == "pending" and "EmailOutcomeUnknown" in email["last_error"]
    assert email["send_started_at"] is not None and email["provider_message_id"] is None
    assert len(sendgrid_standin.accepted) == 1  # SendGrid did take it

    conn.execute("update email_queue set run_after = now()")
    run_worker("email", get_settings(), deadline_in(30))
    [email] = rows(conn, "select status, last_error from email_queue")
    assert email["status"] == "dead" and "outcome is unknown" in email["last_error"]
    assert len(sendgrid_standin.accepted) == 1  # and only once
    # The link it carried may have reached the customer: it stays usable.
    assert rows(conn, "select revoked_at from download_links") == [{"revoked_at": None}]
