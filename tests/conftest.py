"""Real PostgreSQL for every test.

The controlling pytest process starts one throw-away server (embedded, from pgserver) or
uses the server behind DATABASE_URL, gives it the Supabase roles, and builds a template
database from supabase/migrations/ with `restoreclick db push` once. Each test that needs
the database gets its own copy of the template (CREATE DATABASE ... TEMPLATE), so tests
never see each other's rows and nothing is re-migrated. xdist workers inherit the
server's address through the environment.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg import sql

from infra.local_database import bootstrap_server
from shared.core import db
from shared.core.config import Settings, get_settings
from shared.jobs.queue import deadline_in
from shared.jobs.workers import run_worker
from tests.fixtures.shopping import press_pay, start_checkout, upload_photos

# The suite's own connections (template, clones, admin) connect from several threads at
# once; libpq's GSSAPI path, tried by default, can crash the process doing that
# (psycopg/psycopg#1213). Nothing here authenticates with Kerberos. Set before any connect,
# and inherited by the xdist workers and the servers' clients.
os.environ.setdefault("PGGSSENCMODE", "disable")

ROOT = Path(__file__).resolve().parent.parent
MIGRATIONS = ROOT / "supabase" / "migrations"
TEST_SERVERS = ROOT / ".restoreclick" / "test-postgres"
ADMIN_ENV = "RESTORECLICK_TEST_ADMIN_URL"
TEMPLATE_ENV = "RESTORECLICK_TEST_TEMPLATE"
# Tests run on a cluster without durability (nothing to keep, and commits cost nothing);
# benchmarks set this so that a commit costs what it costs on a real server.
DURABLE_ENV = "RESTORECLICK_TEST_DB_DURABLE"


def _migrations_digest() -> str:
    digest = hashlib.sha256()
    for path in sorted(MIGRATIONS.glob("*.sql")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


def _remove_abandoned_servers() -> None:
    """Stop and delete clusters left by test runs that died without cleaning up."""
    from infra.embedded_postgres import EmbeddedPostgres

    if not TEST_SERVERS.exists():
        return
    for folder in TEST_SERVERS.iterdir():
        try:
            os.kill(int(folder.name), 0)
            continue  # that run is still going
        except (ValueError, ProcessLookupError):
            pass
        except PermissionError:
            continue
        EmbeddedPostgres(folder, 0).stop(mode="immediate")
        shutil.rmtree(folder, ignore_errors=True)


def _build_template(admin_url: str) -> str:
    from shared.migrations import push_migrations

    name = f"rc_template_{_migrations_digest()}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        # Two test runs sharing one DATABASE_URL server must not build it at once.
        conn.execute("select pg_advisory_lock(hashtext('restoreclick.test_template'))")
        try:
            exists = conn.execute("select 1 from pg_database where datname = %s", [name]).fetchone()
            if not exists:
                building = f"{name}_building"
                conn.execute(sql.SQL("drop database if exists {}").format(sql.Identifier(building)))
                conn.execute(sql.SQL("create database {}").format(sql.Identifier(building)))
                push_migrations(_with_database(admin_url, building), MIGRATIONS)
                conn.execute(
                    sql.SQL("alter database {} rename to {}").format(sql.Identifier(building), sql.Identifier(name))
                )
        finally:
            conn.execute("select pg_advisory_unlock(hashtext('restoreclick.test_template'))")
    return name


def _with_database(url: str, database: str) -> str:
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    params = conninfo_to_dict(url)
    params["dbname"] = database
    return make_conninfo(**params)


def pytest_configure(config: pytest.Config) -> None:
    if os.environ.get("PYTEST_XDIST_WORKER") or os.environ.get(ADMIN_ENV):
        return  # the controlling process has set everything up
    admin_url = os.environ.get("DATABASE_URL")
    if not admin_url:
        from infra.embedded_postgres import EmbeddedPostgres, free_port

        _remove_abandoned_servers()
        durable = os.environ.get(DURABLE_ENV) == "1"
        server = EmbeddedPostgres(TEST_SERVERS / str(os.getpid()), free_port(), fast=not durable)
        admin_url = server.start()
        config.stash[_SERVER] = server
    bootstrap_server(admin_url)
    os.environ[ADMIN_ENV] = admin_url
    os.environ[TEMPLATE_ENV] = _build_template(admin_url)


def pytest_unconfigure(config: pytest.Config) -> None:
    server = config.stash.get(_SERVER, None)
    if server is not None:
        server.destroy()
        os.environ.pop(ADMIN_ENV, None)


_SERVER = pytest.StashKey[object]()


# -- fixtures ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def admin_url() -> str:
    """Superuser URL of the test server (its `postgres` database)."""
    return os.environ[ADMIN_ENV]


def create_test_database(admin_url: str, template: str | None = None) -> str:
    """A new database cloned from the migrated template (or empty); returns its URL."""
    name = f"rc_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        statement = sql.SQL("create database {}").format(sql.Identifier(name))
        if template:
            # FILE_COPY copies the template's files directly: for a small database it is
            # several times faster than the default WAL_LOG strategy.
            statement += sql.SQL(" template {} strategy file_copy").format(sql.Identifier(template))
        conn.execute(statement)
    return _with_database(admin_url, name)


def drop_test_database(admin_url: str, url: str) -> None:
    from psycopg.conninfo import conninfo_to_dict

    name = conninfo_to_dict(url)["dbname"]
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))


class _ClonePool:
    """Migrated databases made ahead of need.

    CREATE DATABASE waits on a checkpoint (about 0.3 s here) whatever the template's size,
    so a few clones are kept in the making on background threads; a test takes a ready one
    and its database is dropped in the background afterwards.
    """

    AHEAD = 3

    def __init__(self, admin_url: str, template: str) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self.admin_url = admin_url
        self.template = template
        self.executor = ThreadPoolExecutor(max_workers=self.AHEAD, thread_name_prefix="clone")
        self.ready = [self._make() for _ in range(self.AHEAD)]

    def _make(self):  # type: ignore[no-untyped-def]
        return self.executor.submit(create_test_database, self.admin_url, self.template)

    def take(self) -> str:
        future = self.ready.pop(0)
        self.ready.append(self._make())
        return future.result()

    def give_back(self, url: str) -> None:
        self.executor.submit(drop_test_database, self.admin_url, url)

    def close(self) -> None:
        for future in self.ready:
            if not future.cancel():
                drop_test_database(self.admin_url, future.result())
        self.executor.shutdown(wait=True)


@pytest.fixture(scope="session")
def clone_pool(admin_url: str) -> Iterator[_ClonePool]:
    pool = _ClonePool(admin_url, os.environ[TEMPLATE_ENV])
    yield pool
    pool.close()


@pytest.fixture
def database_url(clone_pool: _ClonePool) -> Iterator[str]:
    """URL of a fresh, fully migrated database for this test alone."""
    url = clone_pool.take()
    yield url
    db.set_database(None)
    clone_pool.give_back(url)


@pytest.fixture
def empty_database_url(admin_url: str) -> Iterator[str]:
    """URL of a fresh database with no schema at all (for migration tests)."""
    url = create_test_database(admin_url)
    yield url
    drop_test_database(admin_url, url)


@pytest.fixture
def database(database_url: str) -> Iterator[db.Database]:
    """The shop's Database over this test's database, installed as the process default."""
    database = db.Database(database_url)
    db.set_database(database)
    yield database
    db.set_database(None)


@pytest.fixture
def conn(database: db.Database) -> Iterator[db.Connection]:
    """An autocommit connection to this test's database."""
    with db.connect(database.url) as connection:
        yield connection


@pytest.fixture
def settings(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """Settings for this test: its own database, storage folder and outbox."""
    monkeypatch.setenv("APP_ENV", "test")
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("LOCAL_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("STORAGE_BACKEND", "local")
    monkeypatch.setenv("PAYMENTS_PROVIDER", "local")
    for name in ("STRIPE_SECRET_KEY", "SUPABASE_URL", "SUPABASE_SERVICE_ROLE_KEY", "PRODUCTION_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()


@pytest.fixture
def shop(settings: Settings, database: db.Database) -> Iterator[TestClient]:
    """A client of the dev app; the local checkout delivers its events through it too."""
    from infra.dev_server import build_dev_app

    holder: dict[str, TestClient] = {}

    def deliver(payload: bytes, signature: str) -> int:
        response = holder["client"].post(
            "/api/webhooks/stripe",
            content=payload,
            headers={"stripe-signature": signature, "content-type": "application/json"},
        )
        return response.status_code

    client = TestClient(build_dev_app(get_settings(), deliver), base_url=settings.public_base_url)
    holder["client"] = client
    with client:
        yield client


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """A data folder for a `restoreclick dev` started by a test."""
    # Under the project's .restoreclick/, like every embedded cluster: the unprivileged
    # server user can always reach it (pytest's own temp folders are private to root).
    folder = ROOT / ".restoreclick" / "test-dev" / uuid.uuid4().hex[:8]
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def finished_order(shop: TestClient, database: db.Database) -> dict[str, Any]:
    """A paid, restored and emailed order: its checkout, and the token from the email."""
    session = upload_photos(shop, 2)
    checkout = start_checkout(shop, session["upload_session_id"])
    assert press_pay(shop, checkout["checkout_url"]).status_code == 303
    run_worker("restoration", get_settings(), deadline_in(120))
    run_worker("email", get_settings(), deadline_in(60))
    mail = next(m for m in shop.get("/dev/outbox?format=json").json()["messages"] if m["download_links"])
    token = urlsplit(mail["download_links"][0]).path.rsplit("/", 1)[-1]
    with database.transaction() as conn:
        order = conn.execute("select id, order_number from orders").fetchone()
    return {"checkout": checkout, "token": token, "order": order}
