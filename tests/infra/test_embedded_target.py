"""Commands against the embedded default as separate processes, as an operator runs them:
several at once share one server, the last one out stops it, and what cannot run says
so in one line with exit 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest

from infra.embedded_postgres import free_port
from shared.core.config import Settings
from tests.fixtures.db import server_running_at

ROOT = Path(__file__).resolve().parents[2]
SHOP_SETTINGS = {(field.alias or name).upper() for name, field in Settings.model_fields.items()}

pytestmark = pytest.mark.slow


def restoreclick(*args: str, data_dir: Path, db_port: int, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k.upper() not in SHOP_SETTINGS and not k.startswith("PYTEST")}
    clean.update(LOCAL_DATA_DIR=str(data_dir), LOCAL_DB_PORT=str(db_port), **env)
    return subprocess.run(
        [sys.executable, "-m", "infra.commands.main", *args],
        cwd=ROOT, env=clean, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def test_commands_started_together_share_the_server_and_the_last_stops_it(data_dir: Path) -> None:
    port = free_port()
    commands = [
        ["jobs", "list", "--json"],
        ["monitor", "--json"],
        ["cleanup", "--dry-run", "--json"],
        ["reconcile", "--json"],
    ]
    with ThreadPoolExecutor(len(commands)) as pool:
        results = list(pool.map(lambda args: restoreclick(*args, data_dir=data_dir, db_port=port), commands))
    for args, ran in zip(commands, results, strict=True):
        assert ran.returncode == 0, (args, ran.stderr)
        json.loads(ran.stdout)  # JSON alone on stdout: progress and status went to stderr
    assert not server_running_at(port), "the server the commands started is still running"
    # A server started by hand (not by a command) is left running by the commands.
    from infra.local_database import dev_server

    server = dev_server(data_dir, port)
    server.start()
    try:
        assert restoreclick("jobs", "list", data_dir=data_dir, db_port=port).returncode == 0
        assert server_running_at(port)
    finally:
        server.stop()


def test_what_cannot_run_says_so_in_one_line_and_exits_2(data_dir: Path) -> None:
    port = free_port()
    closed = f"postgresql://postgres@127.0.0.1:{free_port()}/nothing"
    cases = {
        ("monitor", "--target", "prod"): ({}, "PRODUCTION_DATABASE_URL is not set"),
        ("jobs", "list"): ({"DATABASE_URL": closed}, "cannot reach the dev database at postgres@127.0.0.1:"),
        ("worker", "run", "email", "--once"): ({"DATABASE_URL": closed}, "cannot reach the dev database"),
        ("reconcile",): ({"DATABASE_URL": "not a url"}, "DATABASE_URL is not a valid PostgreSQL URL"),
        ("cleanup", "--dry-run"): ({"UPLOAD_MAX_BYTES": "lots"}, "invalid setting UPLOAD_MAX_BYTES"),
        ("jobs", "list", "--target", "staging"): ({}, "unknown target staging"),
    }
    for args, (env, says) in cases.items():
        ran = restoreclick(*args, data_dir=data_dir, db_port=port, **env)
        assert ran.returncode == 2, (args, ran.stdout, ran.stderr)
        lines = ran.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("restoreclick: ") and says in lines[0], (args, ran.stderr)
        assert "Traceback" not in ran.stdout + ran.stderr
    debug = restoreclick("--debug", "jobs", "list", data_dir=data_dir, db_port=port, DATABASE_URL=closed)
    assert debug.returncode != 0 and "Traceback" in debug.stderr


# Every command that opens --target, on a database nobody migrated: each goes through
# infra/commands/targets.py's operating_on, so each names the push to run (none answers
# "database error", none touches the database).
UNMIGRATED = [
    ("jobs", "list"),
    ("monitor",),
    ("errors", "list"),
    ("errors", "show", "1"),
    ("errors", "resolve", "1"),
    ("orders", "list"),
    ("orders", "show", "20261201-000001"),
    ("orders", "refund", "20261201-000001", "--yes"),
    ("orders", "resend", "20261201-000001"),
    ("customers", "erase", "grace@example.com", "--yes"),
    ("db", "health"),
    ("db", "backup", "--out", "never-written.dump"),
]


def test_a_database_without_the_schema_names_the_push_to_run(data_dir: Path, empty_database_url: str) -> None:
    port = free_port()
    for args in UNMIGRATED:
        ran = restoreclick(*args, data_dir=data_dir, db_port=port, DATABASE_URL=empty_database_url)
        assert ran.returncode == 2, (args, ran.stdout, ran.stderr)
        lines = ran.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("restoreclick: the dev database at "), (args, ran.stderr)
        assert lines[0].endswith("has no schema yet: run ./restoreclick db push --target dev"), (args, ran.stderr)
    prod = restoreclick("orders", "list", "--target", "prod", data_dir=data_dir, db_port=port,
                        PRODUCTION_DATABASE_URL=empty_database_url)  # fmt: skip
    assert prod.returncode == 2 and prod.stderr.strip().endswith("run ./restoreclick db push --target prod")
    assert not (ROOT / "never-written.dump").exists()
    with psycopg.connect(empty_database_url) as conn:
        assert conn.execute("select count(*) from pg_tables where schemaname = 'public'").fetchone() == (0,)


def test_verify_on_a_database_nothing_was_applied_to_says_so_and_exits_1(
    data_dir: Path, empty_database_url: str
) -> None:
    # Verify compares the applied history with the files: with nothing applied nothing was
    # verified (after a failed restore, say), so it must not read as a pass nor as "matches".
    ran = restoreclick("db", "verify", data_dir=data_dir, db_port=free_port(), DATABASE_URL=empty_database_url)
    assert ran.returncode == 1, ran.stderr
    said = " ".join(ran.stdout.split())
    assert "no migration applied yet, nothing to compare" in said and "run ./restoreclick db push --target dev" in said
    assert "matches" not in said
