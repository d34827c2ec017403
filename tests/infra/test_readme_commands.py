"""The README's operating commands, run as written (`./restoreclick …`) in a fresh clone
of this repository, against the embedded default: no DATABASE_URL, nothing set up.

The clone is of the committed tree (HEAD), as CI's fresh checkout is. It reuses this
checkout's node_modules (the Supabase and Serverless CLIs, already installed by
`./restoreclick test`) and the shared uv cache, so its own `uv sync` takes seconds.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg.conninfo import conninfo_to_dict
from psycopg.types.json import Jsonb

from infra import queries
from infra.embedded_postgres import free_port
from infra.local_database import dev_server
from shared.core import db
from shared.core.config import Settings, get_settings
from shared.core.error_log import record_error
from tests.fixtures.db import server_running_at
from tests.fixtures.operating import CUSTOMER, MY_FILENAMES, walk_the_shop

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
# What the shop reads from the environment: none of it comes from the test run.
SHOP_SETTINGS = {(field.alias or name).upper() for name, field in Settings.model_fields.items()} | {"VIRTUAL_ENV"}

pytestmark = pytest.mark.slow


@dataclass
class Clone:
    path: Path
    db_port: int

    def env(self, **extra: str) -> dict[str, str]:
        """A shell's environment with none of the test suite's settings in it."""
        env = {k: v for k, v in os.environ.items() if k.upper() not in SHOP_SETTINGS and not k.startswith("PYTEST")}
        env.update(LOCAL_DB_PORT=str(self.db_port), COLUMNS="160", SLS_TELEMETRY_DISABLED="1")
        env.update(extra)
        return env

    def run(self, command: str, input: str | None = None, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", "-c", command], cwd=self.path, env=self.env(**extra), input=input,
            capture_output=True, text=True, timeout=600,
        )  # fmt: skip

    def database_url(self, name: str = "restoreclick") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.db_port}/{name}"


@pytest.fixture(scope="module")
def clone() -> Iterator[Clone]:
    # Under the project's .restoreclick/, as every embedded cluster: the unprivileged server
    # user can reach it (pytest's temp folders are private to root).
    path = ROOT / ".restoreclick" / "test-clones" / uuid.uuid4().hex[:8]
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "clone", "--quiet", "--no-hardlinks", str(ROOT), str(path)], check=True)
    if (ROOT / "node_modules").is_dir():
        (path / "node_modules").symlink_to(ROOT / "node_modules")
    made = Clone(path, free_port())
    try:
        yield made
    finally:
        # A cluster a failed test left running would hold its port and folder.
        dev_server(path / ".restoreclick", made.db_port).stop()
        shutil.rmtree(path, ignore_errors=True)


def operating_commands(section: str) -> list[str]:
    """Each command line of the bash blocks in one README section, its comment dropped."""
    text = README.read_text()
    start = text.index(f"## {section}\n")
    end = text.index("\n## ", start + 1)
    blocks = re.findall(r"```bash\n(.*?)```", text[start:end], re.S)
    lines = [line.split("  #", 1)[0].strip() for block in blocks for line in block.splitlines()]
    return [line for line in lines if line]


def embedded_server_running(clone: Clone) -> bool:
    return server_running_at(clone.db_port)


def test_every_operating_command_in_the_readme_runs_as_written_beside_a_running_dev(clone: Clone) -> None:
    commands = operating_commands("Operating it")
    assert commands and all(c.startswith("./restoreclick ") for c in commands), commands
    port = free_port()
    dev = subprocess.Popen(
        ["./restoreclick", "dev", "--port", str(port)],
        cwd=clone.path,
        env=clone.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 300
        while True:
            assert dev.poll() is None, dev.stdout.read() if dev.stdout else ""
            assert time.monotonic() < deadline, "dev server did not answer in time"
            try:
                if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.5)
        with psycopg.connect(clone.database_url(), autocommit=True) as conn:
            [dead_id] = conn.execute(
                "insert into email_queue (to_email, template, payload, dedupe_key, status, last_error, attempt_number)"
                " values ('ada@example.com', 'payment_failed', %s, 'readme', 'dead', 'boom', 5) returning id",
                [Jsonb({})],
            ).fetchone()  # type: ignore[misc]
        for command in commands:
            ran = clone.run(command.replace("<job id>", str(dead_id)))
            assert ran.returncode == 0, f"{command}\n{ran.stdout}\n{ran.stderr}"
            assert "Traceback" not in ran.stderr, command
            if "jobs list --status dead" in command:
                assert str(dead_id)[:8] in ran.stdout
            if command.endswith("--json"):
                assert json.loads(ran.stdout)["alerts"] == []
        with psycopg.connect(clone.database_url()) as conn:
            [status] = conn.execute("select status from email_queue where id = %s", [dead_id]).fetchone()  # type: ignore[misc]
        assert status != "dead"  # retried: pending, or already sent by dev's scheduler
        assert embedded_server_running(clone), "a command stopped the database dev is using"
    finally:
        os.killpg(dev.pid, signal.SIGINT)
        dev.communicate(timeout=120)


def test_the_migration_commands_in_the_readme_run_as_written(clone: Clone, empty_database_url: str) -> None:
    commands = operating_commands("Database migrations")
    assert commands and all(c.startswith("./restoreclick db ") for c in commands), commands
    prod = {"PRODUCTION_DATABASE_URL": empty_database_url}  # an empty database on the test server
    for command in commands:
        ran = clone.run(command, **prod)
        assert ran.returncode == 0, f"{command}\n{ran.stdout}\n{ran.stderr}"
        assert "Traceback" not in ran.stderr, command
    status = clone.run("./restoreclick db status --all --json", **prod)
    report = json.loads(status.stdout)
    assert [t["target"] for t in report["targets"]] == ["dev", "prod"]
    assert all(t["counts"]["pending"] == 0 and t["counts"]["applied"] > 20 for t in report["targets"])
    assert not embedded_server_running(clone), "the command left the database it started running"


def test_a_command_starts_the_embedded_database_migrates_it_and_stops_it_after(clone: Clone) -> None:
    assert not embedded_server_running(clone)
    listed = clone.run("./restoreclick jobs list --json")
    assert listed.returncode == 0, listed.stderr
    assert isinstance(json.loads(listed.stdout), list)
    assert not embedded_server_running(clone)
    cleanup = clone.run("./restoreclick cleanup --dry-run --json")
    assert cleanup.returncode == 0, cleanup.stderr
    assert json.loads(cleanup.stdout)["dry_run"] is True
    reconcile = clone.run("./restoreclick reconcile --json")
    assert reconcile.returncode == 0, reconcile.stderr
    assert json.loads(reconcile.stdout) == {"seen": 0, "fulfilled": [], "skipped": []}


LOOKING_AFTER = "Looking after the shop: backups, the error log, upkeep, privacy and orders"


@pytest.fixture
def looking_after(clone: Clone) -> Iterator[dict[str, str]]:
    """The environment of that section's commands: the clone's own embedded database in a
    data folder and on a port of this test's, so the shop it walks and the backup it restores
    meet no other test of the module (and theirs none of its payments or photos)."""
    folder = clone.path / ".restoreclick-looking-after"
    port = free_port()
    # Started here, as an operator's own server would be, so the test can read dev between
    # commands; each command joins it and leaves it running (test_embedded_target.py shows
    # a command stopping the server it started itself).
    server = dev_server(folder, port)
    server.start()
    try:
        yield {"LOCAL_DATA_DIR": str(folder), "LOCAL_DB_PORT": str(port)}
    finally:
        server.stop()


@pytest.fixture
def settings(settings: Settings, looking_after: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """This test's settings with the data folder the clone's commands use: the journey
    walked in this process leaves its photos, payments and outbox where they look."""
    monkeypatch.setenv("LOCAL_DATA_DIR", looking_after["LOCAL_DATA_DIR"])
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()


def _counts(url: str) -> dict[str, int]:
    with db.connect(url) as conn:
        return {r["table"]: int(r["rows"]) for r in queries.rows(conn, "backup_table_counts")}


def _rows(url: str, query: str, *params: Any) -> list[dict[str, Any]]:
    with db.connect(url) as conn:
        return conn.execute(query, params).fetchall()


def inline_commands(section: str, placeholder: str) -> list[str]:
    """The commands a README section writes inline, in `code`, that start with `placeholder`
    (a command shown in a sentence is a command shown too), their line breaks joined."""
    text = README.read_text()
    start = text.index(f"## {section}\n")
    prose = re.sub(r"```.*?```", "", text[start : text.index("\n## ", start + 1)], flags=re.S)
    spans = re.findall(r"`([^`]+)`", prose)
    return [command for command in (" ".join(span.split()) for span in spans) if command.startswith(placeholder)]


def test_the_looking_after_commands_in_the_readme_run_as_written_in_order(
    clone: Clone,
    looking_after: dict[str, str],
    shop: TestClient,
    database: db.Database,
    database_url: str,
    empty_database_url: str,
) -> None:
    """Production is a test database holding a walked shop; dev is the clone's embedded
    database, which the README's restore makes a copy of production before the rest run."""
    commands = operating_commands(LOOKING_AFTER)
    assert commands and all(c.startswith("./restoreclick ") for c in commands), commands
    walked = walk_the_shop(shop, database)
    theirs = walked["theirs"]["order"]
    error_id = record_error(
        database, category="payment", severity="error", source="readme",
        message="the provider refused a refund", subject_type="order", subject_id=str(theirs["id"]),
    )  # fmt: skip
    assert error_id is not None
    values = {"<error id>": str(error_id), "<customer email>": CUSTOMER, "<order number>": theirs["order_number"]}
    assert {v for v in values if any(v in c for c in commands)} == set(values), "a placeholder the README lost"
    env = {"PRODUCTION_DATABASE_URL": database_url, **looking_after}
    dev_url = f"postgresql://postgres@127.0.0.1:{looking_after['LOCAL_DB_PORT']}/restoreclick"
    archive = clone.path / "backups" / "shop.dump"

    ran_any = set()
    for command in commands:
        line = command
        for placeholder, value in values.items():
            line = line.replace(placeholder, value)
        asks = " erase " in line or " refund " in line  # the two that ask first: answered yes
        ran = clone.run(line, input="y\n" if asks else None, **env)
        said = " ".join((ran.stdout + ran.stderr).split())
        assert ran.returncode == 0, f"{line}\n{ran.stdout}\n{ran.stderr}"
        assert "Traceback" not in ran.stderr, line
        verb = " ".join(command.split()[1:3])
        ran_any.add(verb)
        if verb == "db backup":
            assert archive.read_bytes()[:5] == b"PGDMP"
            manifest = json.loads(archive.with_name("shop.dump.manifest.json").read_text())
            assert manifest["tables"] == _counts(database_url) and manifest["tables"]["public.orders"] == 2
        elif verb == "db restore":
            assert _counts(dev_url) == manifest["tables"], said
        elif verb == "db verify":
            assert "history matches the files" in said and "none pending" in said, said
        elif verb == "db health":
            assert "cache hit ratio" in said and "no threshold crossed" in said, said  # a small, quiet database
        elif verb == "errors list":
            assert f"│ {error_id} " in ran.stdout and "the provider refused a refund" in said, said
        elif verb == "errors show":
            assert "the provider refused a refund" in said and str(theirs["id"]) in said, said
        elif verb == "errors resolve":
            assert _rows(dev_url, "select resolved from error_log where id = %s", error_id) == [{"resolved": True}]
        elif verb == "customers erase":
            assert _rows(dev_url, "select id from customers where lower(email) = lower(%s)", CUSTOMER) == []
            assert _rows(dev_url, "select id from checkouts where lower(email) = lower(%s)", CUSTOMER) == []
            gone = _rows(dev_url, "select count(*) as n from images where filename = any(%s)", list(MY_FILENAMES))
            assert gone == [{"n": 0}]
        elif verb == "orders list":
            assert theirs["order_number"] in said and walked["mine"]["order"]["order_number"] in said, said
        elif verb == "orders show":
            assert theirs["order_number"] in said and "beach.jpg" in said and "audit trail" in said, said
        elif verb == "orders resend":
            resent = _rows(dev_url, "select count(*) as n from email_queue where order_id = %s"
                           " and template = 'download_links_resent'", theirs["id"])  # fmt: skip
            assert resent == [{"n": 1}], said
        elif verb == "orders refund":
            [order] = _rows(dev_url, "select payment_status from orders where id = %s", theirs["id"])
            assert order == {"payment_status": "refunded"}
            refunds = json.loads((Path(looking_after["LOCAL_DATA_DIR"]) / "payments" / "refunds.json").read_text())
            assert [r["payment_intent"] for r in refunds.values()] == [theirs["stripe_payment_intent_id"]]
    assert ran_any == {
        "db backup", "db restore", "db verify", "db health", "errors list", "errors show", "errors resolve",
        "customers erase", "orders list", "orders show", "orders resend", "orders refund",
    }  # fmt: skip
    assert server_running_at(int(looking_after["LOCAL_DB_PORT"])), "a command stopped a server it did not start"

    # Rebuilding a lost database, as the section's prose writes it: the backup restored into
    # a new, empty database (no --force), then verified.
    rebuild = inline_commands(LOOKING_AFTER, "DATABASE_URL=<empty database URL> ")
    verbs = [" ".join(c.split("./restoreclick ")[1].split()[:2]) for c in rebuild]
    assert verbs == ["db restore", "db verify"], rebuild
    # As an operator writes it: a postgresql:// URL (the suite's are libpq key=value strings).
    parts = conninfo_to_dict(empty_database_url)
    login = quote(str(parts["user"])) + (f":{quote(str(parts['password']))}" if parts.get("password") else "")
    empty_url = f"postgresql://{login}@{parts['host']}:{parts['port']}/{parts['dbname']}"
    for command in rebuild:
        line = command.replace("<empty database URL>", empty_url)  # bash sets it for the command
        ran = clone.run(line, **env)
        assert ran.returncode == 0, f"{command}\n{ran.stdout}\n{ran.stderr}"
        assert "Traceback" not in ran.stderr, command
    assert _counts(empty_database_url) == manifest["tables"]
    assert "history matches the files" in ran.stdout + ran.stderr
