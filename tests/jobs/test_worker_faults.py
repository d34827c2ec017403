"""Nothing is lost when a worker dies, and nothing is done twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from psycopg.types.json import Jsonb

from shared.core import db
from shared.core.config import Settings, get_settings
from shared.core.sql import QUERIES
from shared.email.outbox import OutboxEmail
from shared.jobs.queue import deadline_in
from shared.jobs.workers import run_worker
from tests.fixtures.db import rows
from tests.fixtures.shopping import paid_order

ROOT = Path(__file__).resolve().parents[2]


def test_a_worker_killed_mid_job_is_finished_by_the_next_run(
    shop: TestClient, conn: db.Connection, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paid_order(shop, photos=1)
    marker = tmp_path / "holding"
    env = dict(os.environ, MARKER=str(marker), RESTORATION_LEASE_SECONDS="2")
    worker = subprocess.Popen([sys.executable, str(ROOT / "tests" / "fixtures" / "kill_me.py")], cwd=ROOT, env=env)
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert worker.poll() is None, "the worker exited before taking the job"
            assert time.monotonic() < deadline, "the worker never took the job"
            time.sleep(0.05)
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
    finally:
        if worker.poll() is None:
            worker.kill()
    [held] = rows(conn, "select status, attempt_number, locked_by from restoration_jobs")
    assert held["status"] == "running" and held["attempt_number"] == 1

    monkeypatch.setenv("RESTORATION_LEASE_SECONDS", "2")
    get_settings.cache_clear()
    time.sleep(2.2)  # one lease: then the sweep at the start of the next run frees it
    report = run_worker("restoration", get_settings(), deadline_in(60))
    assert report["restoration"]["swept"] == 1 and report["restoration"]["succeeded"] == 1
    [job] = rows(conn, "select status, attempt_number, error_history from restoration_jobs")
    assert job["status"] == "succeeded" and job["attempt_number"] == 2
    assert job["error_history"][0]["error"] == "lease expired"
    assert rows(conn, "select count(*) as n from images where type = 'restored'") == [{"n": 1}]
    assert rows(conn, "select status from orders") == [{"status": "completed"}]


def _queue_emails(conn: db.Connection, n: int) -> None:
    for i in range(n):
        conn.execute(
            "insert into email_queue (to_email, template, payload, dedupe_key) values (%s, 'payment_failed', %s, %s)",
            [f"c{i}@example.com", Jsonb({}), f"test:{i}"],
        )


def test_two_workers_in_parallel_never_process_the_same_job(
    conn: db.Connection, settings: Settings, database: db.Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    _queue_emails(conn, 60)
    sent: Counter[str] = Counter()
    real_send = OutboxEmail.send

    def counting_send(self: OutboxEmail, message):  # type: ignore[no-untyped-def]
        sent[message.email_id] += 1
        time.sleep(0.005)
        return real_send(self, message)

    monkeypatch.setattr(OutboxEmail, "send", counting_send)
    reports: list[dict] = []  # type: ignore[type-arg]
    workers = [
        threading.Thread(target=lambda: reports.append(run_worker("email", get_settings(), deadline_in(60))))
        for _ in range(2)
    ]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=120)
    assert len(sent) == 60 and set(sent.values()) == {1}
    assert sum(r["email"]["succeeded"] for r in reports) == 60
    assert all(r["email"]["claimed"] > 0 for r in reports), "both workers should have taken some"
    assert rows(conn, "select status, count(*) as n from email_queue group by status") == [{"status": "sent", "n": 60}]


def test_an_email_is_not_sent_twice_after_a_crash_between_send_and_record(
    conn: db.Connection, settings: Settings, database: db.Database
) -> None:
    _queue_emails(conn, 1)
    # A worker claimed it, recorded the attempt, the provider accepted it, then the worker
    # died before recording the message id; its lease has run out.
    conn.execute(
        "update email_queue set status = 'sending', attempt_number = 1, locked_by = 'dead-worker', "
        "locked_until = now() - interval '1 second', send_started_at = now() - interval '1 minute', "
        "provider = 'outbox'"
    )
    report = run_worker("email", get_settings(), deadline_in(30))
    assert report["email"]["swept"] == 1 and report["email"]["dead"] == 1
    [email] = rows(conn, "select status, last_error from email_queue")
    assert email["status"] == "dead" and "outcome is unknown" in email["last_error"]
    assert list(settings.outbox_dir.glob("*.eml")) == []


def test_a_clean_provider_failure_is_retried_and_sent_once(
    conn: db.Connection, settings: Settings, database: db.Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    _queue_emails(conn, 1)
    real_send = OutboxEmail.send
    calls = {"n": 0}

    def failing_once(self: OutboxEmail, message):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 1:
            raise ConnectionError("smtp relay down")
        return real_send(self, message)

    monkeypatch.setattr(OutboxEmail, "send", failing_once)
    run_worker("email", get_settings(), deadline_in(30))
    [email] = rows(conn, "select status, send_started_at from email_queue")
    assert email == {"status": "pending", "send_started_at": None}
    conn.execute("update email_queue set run_after = now()")
    run_worker("email", get_settings(), deadline_in(30))
    assert rows(conn, "select status from email_queue") == [{"status": "sent"}]
    assert len(list(settings.outbox_dir.glob("*.eml"))) == 1


def test_a_run_stops_claiming_when_time_runs_low(
    conn: db.Connection, settings: Settings, database: db.Database
) -> None:
    _queue_emails(conn, 5)
    report = run_worker("email", get_settings(), lambda: 5.0)  # below the safety margin
    assert report["email"]["claimed"] == 0 and report["email"]["stopped_for_time"] is True
    assert rows(conn, "select count(*) as n from email_queue where status = 'pending'") == [{"n": 5}]


def test_the_claim_is_served_by_the_partial_index_however_many_rows_are_finished(conn: db.Connection) -> None:
    conn.execute(
        "insert into email_queue (to_email, template, dedupe_key, status, sent_at) "
        "select 'a@example.com', 'payment_failed', 'old:' || g, 'sent', now() from generate_series(1, 50000) g"
    )
    _queue_emails(conn, 5)
    conn.execute("analyze email_queue")
    # The named claim the run loop really executes, explained inside a transaction rolled back.
    with conn.transaction(force_rollback=True):
        plan = "\n".join(
            r["QUERY PLAN"]
            for r in conn.execute(
                "explain " + QUERIES["email_claim"], {"batch_size": 10, "lease_seconds": 300, "worker": "w"}
            ).fetchall()
        )
    assert "email_queue_claimable_idx" in plan and "Seq Scan" not in plan, plan
