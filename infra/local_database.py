"""The embedded development database: a PostgreSQL cluster in .restoreclick/postgres with
the Supabase roles and a `restoreclick` database, used whenever DATABASE_URL is unset."""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from psycopg import sql

from infra.embedded_postgres import EmbeddedPostgres

DEV_DATABASE = "restoreclick"
ROLES_SQL = Path(__file__).with_name("supabase_roles.sql")


def bootstrap_server(admin_url: str) -> None:
    """Give a plain PostgreSQL server the roles Supabase has (safe to repeat)."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(ROLES_SQL.read_bytes())


def ensure_database(admin_url: str, name: str, template: str | None = None) -> None:
    """Create database `name` (from `template` when given) unless it exists."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("select 1 from pg_database where datname = %s", [name]).fetchone()
        if exists:
            return
        statement = sql.SQL("create database {}").format(sql.Identifier(name))
        if template:
            statement += sql.SQL(" template {}").format(sql.Identifier(template))
        conn.execute(statement)


def dev_server(data_dir: Path, port: int) -> EmbeddedPostgres:
    return EmbeddedPostgres(data_dir / "postgres", port)


@contextmanager
def _locked(path: Path, mode: int) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, mode)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def local_database(data_dir: Path, port: int) -> Iterator[str]:
    """Start (or join) the embedded dev server; yield the URL of its `restoreclick` database.

    Several processes may use it at once (`restoreclick dev` and commands in other
    terminals, or two commands started together), so starting and stopping are decided
    under file locks: each user holds a shared lock on `users.lock` while it uses the
    server, and the one that leaves last stops it, if one of them started it. A server
    that was running before any of them (started by hand) is left running.
    """
    server = dev_server(data_dir, port)
    start_lock, users_lock = data_dir / "postgres.start.lock", data_dir / "postgres.users.lock"
    ours = data_dir / "postgres.started-here"
    with _locked(start_lock, fcntl.LOCK_EX):
        if not server.is_running():
            server.start()
            ours.touch()  # started by one of us: the last of us stops it
        bootstrap_server(server.url())
        ensure_database(server.url(), DEV_DATABASE)
        users = users_lock.open("a")
        fcntl.flock(users, fcntl.LOCK_SH)
    try:
        yield server.url(DEV_DATABASE)
    finally:
        with _locked(start_lock, fcntl.LOCK_EX):
            fcntl.flock(users, fcntl.LOCK_UN)
            users.close()
            if _last_user(users_lock) and ours.exists():
                server.stop()
                ours.unlink()


def _last_user(users_lock: Path) -> bool:
    """No other process holds the server (asked while holding the start lock)."""
    with users_lock.open("a") as check:
        try:
            fcntl.flock(check, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        fcntl.flock(check, fcntl.LOCK_UN)
        return True
