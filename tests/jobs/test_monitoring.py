"""Monitoring: each alert condition fires, `monitor` exits non-zero, metrics need the secret."""

from __future__ import annotations

from fastapi.testclient import TestClient
from psycopg.types.json import Jsonb
from typer.testing import CliRunner

from infra.commands.main import app
from shared.core import db
from shared.core.config import LOCAL_WORKER_SECRET, Settings, get_settings
from shared.jobs.monitoring import check_health
from tests.fixtures.events import load_event

AUTH = {"authorization": f"Bearer {LOCAL_WORKER_SECRET}"}


def add_emails(conn: db.Connection, n: int, **columns: object) -> None:
    for i in range(n):
        conn.execute(
            "insert into email_queue (to_email, template, payload, dedupe_key) "
            "values ('a@example.com', 'payment_failed', %s, %s)",
            [Jsonb({}), f"m:{i}:{columns}"],
        )
    if columns:
        sets = ", ".join(f"{k} = {v}" for k, v in columns.items())
        conn.execute(f"update email_queue set {sets}")  # test data only


def test_a_quiet_shop_raises_no_alert(settings: Settings, database: db.Database) -> None:
    health = check_health(database, settings)
    assert health.alerts == []
    assert [q["queue"] for q in health.queues] == ["email", "order_work", "restoration"]
    outcome = CliRunner().invoke(app, ["monitor"])
    assert outcome.exit_code == 0, outcome.output


def test_a_backlog_over_100_fires(conn: db.Connection, settings: Settings, database: db.Database) -> None:
    add_emails(conn, 101)
    health = check_health(database, settings)
    assert any("backlog of 101" in a for a in health.alerts)
    outcome = CliRunner().invoke(app, ["monitor"])
    assert outcome.exit_code == 1 and "backlog" in outcome.output


def test_a_job_processing_over_five_minutes_fires(
    conn: db.Connection, settings: Settings, database: db.Database
) -> None:
    add_emails(
        conn,
        1,
        status="'sending'",
        locked_by="'w'",
        locked_until="now() + interval '1 hour'",
        send_started_at="now() - interval '6 minutes'",
        attempt_number=1,
    )
    assert any("processing for over 5 minutes" in a for a in check_health(database, settings).alerts)


def test_an_error_rate_over_five_percent_fires(conn: db.Connection, settings: Settings, database: db.Database) -> None:
    add_emails(conn, 10, status="'sent'", sent_at="now()", send_started_at="now() - interval '1 second'")
    conn.execute(
        "update email_queue set error_history = jsonb_build_array(jsonb_build_object('at', now(), 'error', 'x')) "
        "where id = (select id from email_queue limit 1)"
    )
    health = check_health(database, settings)
    email = next(q for q in health.queues if q["queue"] == "email")
    assert email["error_rate"] == round(1 / 11, 4) and email["p50_seconds"] is not None
    assert any("error rate" in a for a in health.alerts)


def test_storage_over_80_percent_of_quota_fires(shop: TestClient, database: db.Database, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from tests.fixtures.shopping import upload_photos

    upload_photos(shop, 2)
    used = check_health(database, get_settings()).storage_bytes
    monkeypatch.setenv("STORAGE_QUOTA_BYTES", str(int(used / 0.85)))
    get_settings.cache_clear()
    assert any(a.startswith("storage:") for a in check_health(database, get_settings()).alerts)
    monkeypatch.setenv("STORAGE_QUOTA_BYTES", str(used * 10))
    get_settings.cache_clear()
    assert check_health(database, get_settings()).alerts == []


def test_metrics_and_worker_endpoints_need_the_bearer_secret(shop: TestClient) -> None:
    for headers in ({}, {"authorization": "Bearer wrong"}, {"authorization": LOCAL_WORKER_SECRET}):
        assert shop.get("/api/metrics", headers=headers).status_code == 401
        response = shop.post("/api/workers/email", headers=headers)
        assert response.status_code == 401 and response.json()["error"]["code"] == "unauthorized"
    metrics = shop.get("/api/metrics", headers=AUTH)
    assert metrics.status_code == 200 and "queues" in metrics.json()
    run = shop.post("/api/workers/email", headers=AUTH)
    assert run.status_code == 200 and run.json()["email"]["claimed"] == 0
    assert shop.post("/api/workers/nonsense", headers=AUTH).status_code == 404


def test_a_refund_not_made_after_an_hour_fires(
    shop: TestClient, conn: db.Connection, settings: Settings, database: db.Database
) -> None:
    from tests.fixtures.shopping import start_checkout, upload_photos

    start_checkout(shop, upload_photos(shop, 1)["upload_session_id"])
    conn.execute("alter table checkouts disable trigger checkouts_set_updated_at")  # keep the age we give it
    conn.execute(
        "update checkouts set status = 'refunding', refund_reason = 'payment_mismatch', "
        "updated_at = now() - interval '2 hours'"
    )

    health = check_health(database, settings)

    assert any("1 refund(s) still not made" in a for a in health.alerts), health.alerts


def test_the_scheduled_monitor_run_publishes_every_alert_condition_to_cloudwatch(
    conn: db.Connection,
    settings: Settings,
    database: db.Database,
    monkeypatch,
    capsys,  # type: ignore[no-untyped-def]
) -> None:
    """EventBridge's event, through the workers handler: one embedded-metric-format line on
    stdout (which Lambda sends to CloudWatch Logs, where it becomes metrics)."""
    import json

    from functions.workers.handler import handler

    add_emails(conn, 1, status="'sending'", locked_by="'w'", locked_until="now() + interval '1 hour'",
               send_started_at="now() - interval '6 minutes'", attempt_number=1)  # fmt: skip
    add_emails(conn, 101)  # after: add_emails' update applies to every row
    monkeypatch.setenv("STORAGE_QUOTA_BYTES", "1000")
    monkeypatch.setenv("METRICS_STAGE", "prod")
    get_settings.cache_clear()
    event = load_event("eventbridge_scheduled_restoration")
    event["worker"] = "monitor"
    capsys.readouterr()
    report = handler(event, None)
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    (document,) = [line for line in lines if "_aws" in line]
    (directive,) = document["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "RestoreClick" and directive["Dimensions"] == [["Stage"]]
    assert document["Stage"] == "prod"
    names = {metric["Name"] for metric in directive["Metrics"]}
    assert names == {"QueueBacklog", "JobsProcessingOver5Minutes", "ErrorRatePercent", "StorageUsedPercent"}
    assert document["QueueBacklog"] == 101 and document["JobsProcessingOver5Minutes"] == 1
    assert document["ErrorRatePercent"] == 0 and document["StorageUsedPercent"] == 0
    assert report["monitor"]["metrics"] == {name: document[name] for name in names}
    assert any("backlog" in alert for alert in report["monitor"]["alerts"])
