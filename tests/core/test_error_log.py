"""The error log: what is recorded, once per kind with a count, redacted, and how it is read."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from fastapi.testclient import TestClient

from shared.core import db
from shared.core.config import Settings, get_settings
from shared.core.error_log import record_error
from shared.core.errors import ServiceUnavailable
from shared.deps import get_payments, get_storage
from shared.jobs.cleanup import run_cleanup
from shared.jobs.queue import deadline_in
from shared.jobs.workers import run_worker
from shared.payments.local_provider import LocalPayments
from tests.fixtures.db import rows
from tests.fixtures.operating import invoke
from tests.fixtures.shopping import press_pay, start_checkout, upload_photos

SECRET = "sk_live_" + "a1B2c3D4e5F6g7H8"


def entries(conn: db.Connection) -> list[dict[str, Any]]:
    return rows(conn, "select * from error_log order by id")


def test_every_5xx_a_function_answers_is_recorded_once_per_route_with_a_count_and_redacted(
    shop: TestClient, conn: db.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    import functions.status.handler as status_handler

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(f"boom for ada@example.com with {SECRET}")

    monkeypatch.setattr(status_handler, "order_status", broken)
    answers = [shop.get(f"/api/restoration/status/{ref}") for ref in ("cs_local_aaaaaaaaaaaa", "cs_local_bbbbbbbbbbbb")]
    assert [a.status_code for a in answers] == [500, 500]
    assert answers[0].json()["error"]["code"] == "internal_error"
    [entry] = entries(conn)
    assert entry["category"] == "restoration" and entry["severity"] == "error" and entry["count"] == 2
    assert entry["source"] == "http /api/restoration/status/{ref}"
    # The latest request it concerns, by the id the answer carried.
    assert (entry["subject_type"], entry["subject_id"]) == ("request", answers[1].headers["x-request-id"])
    assert "RuntimeError: boom for [email] with sk_live_[redacted]" in entry["message"]
    assert "ada@example.com" not in json.dumps(entry, default=str) and SECRET not in json.dumps(entry, default=str)
    assert entry["last_seen_at"] >= entry["first_seen_at"] and not entry["resolved"]

    # A domain error answered 5xx takes its category from its code.
    def storage_down(*args: Any, **kwargs: Any) -> Any:
        raise ServiceUnavailable("storage timed out", code="storage_unavailable")

    monkeypatch.setattr(status_handler, "order_status", storage_down)
    assert shop.get("/api/restoration/status/x").status_code == 503
    assert [(e["category"], e["message"]) for e in entries(conn)][1] == (
        "storage",
        "storage_unavailable: storage timed out",
    )
    # A 4xx is the customer's, not an error of ours: nothing more is recorded.
    assert shop.get("/api/download/rc_dl_nothing_here_at_all").status_code in (404, 410)
    assert len(entries(conn)) == 2


def test_the_same_error_from_many_places_at_once_is_one_entry_with_every_occurrence_counted(
    database: db.Database, conn: db.Connection
) -> None:
    start = threading.Barrier(8)

    def hit(n: int) -> None:
        # Each thread its own Database, as each Lambda container has its own.
        own = db.Database(database.url)
        start.wait()
        try:
            for _ in range(5):
                record_error(
                    own, category="email", severity="warning", source="queue email retry",
                    message=f"SMTPServerDisconnected after {n * 7} ms", subject_type="job", subject_id="job-1",
                )  # fmt: skip
        finally:
            own.close_all()

    threads = [threading.Thread(target=hit, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    [entry] = entries(conn)
    assert entry["count"] == 40
    # A different subject is a different entry.
    record_error(database, category="email", severity="warning", source="queue email retry",
                 message="SMTPServerDisconnected after 1 ms", subject_type="job", subject_id="job-2")  # fmt: skip
    assert [e["count"] for e in entries(conn)] == [40, 1]


def test_a_job_that_retries_and_then_goes_dead_is_recorded_against_the_job(
    shop: TestClient, conn: db.Connection, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shared.restoration.local import LocalRestoration

    def broken(self: LocalRestoration, photo: bytes) -> bytes:
        raise ConnectionError(f"provider down (key {SECRET})")

    monkeypatch.setattr(LocalRestoration, "restore", broken)
    session = upload_photos(shop, 1)
    checkout = start_checkout(shop, session["upload_session_id"])
    assert press_pay(shop, checkout["checkout_url"]).status_code == 303
    for _ in range(get_settings().max_restoration_attempts):
        run_worker("restoration", get_settings(), deadline_in(60))
        conn.execute("update restoration_jobs set run_after = now() where status = 'pending'")
    [job] = rows(conn, "select id, status from restoration_jobs")
    assert job["status"] == "dead"
    found = [(e["category"], e["severity"], e["source"], e["count"], e["subject_id"]) for e in entries(conn)]
    retries = get_settings().max_restoration_attempts - 1
    assert found == [
        ("restoration", "warning", "queue restoration retry", retries, str(job["id"])),
        ("restoration", "error", "queue restoration dead", 1, str(job["id"])),
    ]
    assert all(SECRET not in e["message"] and "ConnectionError: provider down" in e["message"] for e in entries(conn))


def test_an_automatic_refund_is_recorded_against_its_checkout(shop: TestClient, conn: db.Connection) -> None:
    session = upload_photos(shop, 2)
    checkout = start_checkout(shop, session["upload_session_id"])
    provider = get_payments()
    assert isinstance(provider, LocalPayments)
    held = provider.session(checkout["checkout_session_id"])
    provider._save({**held, "amount_total": 1})  # the provider holds another amount than we priced
    press_pay(shop, checkout["checkout_url"])
    [row] = rows(conn, "select id, status, refund_reason from checkouts")
    assert row["status"] == "refunded" and row["refund_reason"] == "payment_mismatch"
    [entry] = entries(conn)
    assert (entry["category"], entry["severity"], entry["source"]) == ("payment", "warning", "refund automatic")
    assert (entry["subject_type"], entry["subject_id"]) == ("checkout", str(row["id"]))
    assert "payment_mismatch" in entry["message"]


def test_a_configuration_error_at_start_up_is_recorded_and_the_start_still_fails(
    database_url: str, conn: db.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shared.core.http import create_app

    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.setenv("WORKER_SECRET_KEY", SECRET)
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", "")  # a deploy that forgot it
    get_settings.cache_clear()
    try:
        with pytest.raises(ValueError, match="STRIPE_WEBHOOK_SECRET"):
            create_app("status", [])
    finally:
        get_settings.cache_clear()
    [entry] = entries(conn)
    assert (entry["category"], entry["severity"], entry["source"]) == ("configuration", "critical", "startup")
    assert "status cannot start" in entry["message"] and "STRIPE_WEBHOOK_SECRET" in entry["message"]
    assert SECRET not in entry["message"]


def test_a_scheduled_run_missing_a_providers_key_is_recorded_as_a_configuration_error(
    settings: Settings, conn: db.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    import functions.workers.handler as workers
    from shared.core.errors import ConfigurationError

    def missing_key(*args: Any, **kwargs: Any) -> Any:
        raise ConfigurationError("REPLICATE_API_TOKEN is not set; required when APP_ENV=production")

    monkeypatch.setattr(workers, "run_worker", missing_key)
    with pytest.raises(ConfigurationError):
        workers.handler({"worker": "restoration"}, None)
    [entry] = entries(conn)
    assert (entry["category"], entry["source"]) == ("configuration", "worker restoration")
    assert "REPLICATE_API_TOKEN" in entry["message"]


def test_errors_list_show_and_resolve_and_a_resolved_error_that_recurs_opens_again(
    database: db.Database, conn: db.Connection, settings: Settings
) -> None:
    for category, message in (("payment", "refund refused"), ("email", "smtp down"), ("email", "smtp down")):
        record_error(database, category=category, severity="error", source="test", message=message)  # type: ignore[arg-type]
    listed = invoke(["errors", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    shown = json.loads(listed.stdout)
    assert [(e["category"], e["count"]) for e in shown] == [("email", 2), ("payment", 1)]
    email_id = shown[0]["id"]
    only_payment = json.loads(invoke(["errors", "list", "--category", "payment", "--json"]).stdout)
    assert [e["message"] for e in only_payment] == ["refund refused"]
    assert invoke(["errors", "list", "--category", "nonsense"]).exit_code == 2

    show = invoke(["errors", "show", str(email_id)])
    assert show.exit_code == 0 and "smtp down" in show.output
    assert invoke(["errors", "show", "999999"]).exit_code == 1

    resolved = invoke(["errors", "resolve", str(email_id)])
    assert resolved.exit_code == 0, resolved.output
    assert invoke(["errors", "resolve", str(email_id)]).exit_code == 1  # already resolved
    [row] = rows(conn, "select resolved, resolved_by from error_log where id = %s", email_id)
    assert row["resolved"] and row["resolved_by"].startswith("operator")
    unresolved = json.loads(invoke(["errors", "list", "--unresolved", "--json"]).stdout)
    assert [e["category"] for e in unresolved] == ["payment"]

    record_error(database, category="email", severity="error", source="test", message="smtp down")
    [again] = rows(conn, "select resolved, count from error_log where id = %s", email_id)
    assert again == {"resolved": False, "count": 3}


def test_counts_by_category_are_in_the_metrics_and_the_monitor(
    shop: TestClient, database: db.Database, settings: Settings
) -> None:
    record_error(database, category="storage", severity="error", source="test", message="bucket gone")
    record_error(database, category="storage", severity="error", source="test", message="bucket gone again")
    secret = settings.worker_secret_key.get_secret_value()
    metrics = shop.get("/api/metrics", headers={"authorization": f"Bearer {secret}"})
    assert metrics.status_code == 200
    assert metrics.json()["errors"] == {
        "payment": 0, "storage": 2, "restoration": 0, "email": 0, "database": 0, "configuration": 0, "validation": 0,
    }  # fmt: skip
    monitor = invoke(["monitor"])
    assert "storage 2" in monitor.output
    assert json.loads(invoke(["monitor", "--json"]).stdout)["errors"]["storage"] == 2


def test_cleanup_keeps_resolved_entries_90_days_and_unresolved_ones_until_resolved(
    database: db.Database, conn: db.Connection, settings: Settings
) -> None:
    for message in ("old resolved", "recent resolved", "old unresolved"):
        record_error(database, category="database", severity="error", source="test", message=message)
    conn.execute(
        "update error_log set resolved = true, resolved_at = now() - interval '91 days', "
        "first_seen_at = now() - interval '200 days', last_seen_at = now() - interval '100 days' "
        "where message = 'old resolved'"
    )
    conn.execute(
        "update error_log set resolved = true, resolved_at = now() - interval '89 days' "
        "where message = 'recent resolved'"
    )
    conn.execute(
        "update error_log set first_seen_at = now() - interval '400 days', last_seen_at = now() - interval '400 days' "
        "where message = 'old unresolved'"
    )
    dry = run_cleanup(database, get_storage(), settings, time_left=deadline_in(60), dry_run=True)
    assert dry.counts["resolved_errors"] == 1
    assert len(entries(conn)) == 3
    report = run_cleanup(database, get_storage(), settings, time_left=deadline_in(60))
    assert report.counts["resolved_errors"] == 1
    assert sorted(e["message"] for e in entries(conn)) == ["old unresolved", "recent resolved"]
