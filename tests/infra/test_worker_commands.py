"""Operators: `restoreclick worker run`, `restoreclick jobs list|retry|cancel`."""

from __future__ import annotations

from psycopg.types.json import Jsonb
from typer.testing import CliRunner

from infra.commands.main import app
from shared.core import db
from shared.core.config import Settings
from tests.fixtures.db import rows


def test_jobs_list_retry_and_cancel(conn: db.Connection, settings: Settings, database: db.Database) -> None:
    for key, status in (("a", "dead"), ("b", "pending")):
        conn.execute(
            "insert into email_queue (to_email, template, payload, dedupe_key, status, last_error, attempt_number) "
            "values ('a@example.com', 'payment_failed', %s, %s, %s, %s, %s)",
            [Jsonb({}), key, status, "boom" if status == "dead" else None, 5 if status == "dead" else 0],
        )
    dead_id = rows(conn, "select id from email_queue where dedupe_key = 'a'")[0]["id"]
    pending_id = rows(conn, "select id from email_queue where dedupe_key = 'b'")[0]["id"]
    runner = CliRunner()
    listed = runner.invoke(app, ["jobs", "list", "--status", "dead"])
    assert listed.exit_code == 0 and str(dead_id)[:8] in listed.output and "boom" in listed.output
    assert runner.invoke(app, ["jobs", "retry", "email", str(dead_id)]).exit_code == 0
    assert rows(conn, "select status, attempt_number from email_queue where id = %s", dead_id) == [
        {"status": "pending", "attempt_number": 0}
    ]
    assert runner.invoke(app, ["jobs", "cancel", "email", str(pending_id)]).exit_code == 0
    assert rows(conn, "select status from email_queue where id = %s", pending_id) == [{"status": "cancelled"}]
    refused = runner.invoke(app, ["jobs", "cancel", "email", str(pending_id)])
    assert refused.exit_code == 1
    assert runner.invoke(app, ["jobs", "retry", "nonsense", str(pending_id)]).exit_code != 0


def test_jobs_retry_of_a_malformed_id_says_it_is_not_a_job_id(database: db.Database) -> None:
    for action in ("retry", "cancel"):
        outcome = CliRunner().invoke(app, ["jobs", action, "email", "junk"])
        assert outcome.exit_code == 1
        assert "junk is not a job id" in outcome.output
        assert "database" not in outcome.output


def test_worker_run_once_reports_what_it_did(conn: db.Connection, settings: Settings, database: db.Database) -> None:
    conn.execute(
        "insert into email_queue (to_email, template, payload, dedupe_key) values "
        "('a@example.com', 'payment_failed', %s, 'x')",
        [Jsonb({})],
    )
    outcome = CliRunner().invoke(app, ["worker", "run", "email", "--once"])
    assert outcome.exit_code == 0, outcome.output
    assert '"succeeded": 1' in outcome.output
    assert rows(conn, "select status from email_queue") == [{"status": "sent"}]
