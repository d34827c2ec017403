"""The embedded development database: a PostgreSQL cluster in .restoreclick/postgres with
the Supabase roles and a `restoreclick` database, used whenever DATABASE_URL is unset."""

from __future__ import annotations

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
def local_database(data_dir: Path, port: int) -> Iterator[str]:
    """Start (or join) the embedded dev server; yield the URL of its `restoreclick` database.

    A server this call started is stopped when the block ends; one that was already
    running (say, under `restoreclick dev`) is left running.
    """
    server = dev_server(data_dir, port)
    already_running = server.is_running()
    server.start()
    try:
        bootstrap_server(server.url())
        ensure_database(server.url(), DEV_DATABASE)
        yield server.url(DEV_DATABASE)
    finally:
        if not already_running:
            server.stop()
