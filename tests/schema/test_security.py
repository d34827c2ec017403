"""Browsers never reach the tables: anon and authenticated can read and write nothing."""

from __future__ import annotations

import psycopg
import pytest
from psycopg import sql

from shared.core import db
from tests.fixtures.factories import order


def public_tables(conn: db.Connection) -> list[str]:
    rows = conn.execute("select tablename from pg_tables where schemaname = 'public' order by 1").fetchall()
    return [r["tablename"] for r in rows]


def test_every_public_table_has_row_level_security(conn: db.Connection) -> None:
    rows = conn.execute(
        "select relname from pg_class c join pg_namespace n on n.oid = c.relnamespace "
        "where n.nspname = 'public' and c.relkind = 'r' and not c.relrowsecurity"
    ).fetchall()
    assert rows == []


@pytest.mark.parametrize("role", ["anon", "authenticated"])
def test_browser_roles_have_no_privilege_on_any_table_or_function(conn: db.Connection, role: str) -> None:
    tables = public_tables(conn)
    assert tables
    for table in tables:
        for privilege in ("select", "insert", "update", "delete"):
            allowed = conn.execute(
                "select has_table_privilege(%s, %s, %s) as allowed", [role, f"public.{table}", privilege]
            ).fetchone()
            assert allowed == {"allowed": False}, (role, table, privilege)
    functions = conn.execute(
        "select p.oid::regprocedure::text as f from pg_proc p join pg_namespace n on n.oid = p.pronamespace "
        "where n.nspname = 'public'"
    ).fetchall()
    for row in functions:
        allowed = conn.execute(
            "select has_function_privilege(%s, %s, 'execute') as allowed", [role, row["f"]]
        ).fetchone()
        assert allowed == {"allowed": False}, (role, row["f"])


@pytest.mark.parametrize("role", ["anon", "authenticated"])
def test_an_anon_connection_reads_no_row_of_any_table(conn: db.Connection, database_url: str, role: str) -> None:
    order(conn)  # there is something to see
    with psycopg.connect(database_url, autocommit=True) as browser:
        browser.execute(sql.SQL("set role {}").format(sql.Identifier(role)))
        for table in public_tables(conn):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                browser.execute(sql.SQL("select * from public.{}").format(sql.Identifier(table)))
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            browser.execute("insert into public.customers (email) values ('x@example.com')")


def test_the_service_role_can_work_with_every_table(conn: db.Connection, database_url: str) -> None:
    order(conn)
    with psycopg.connect(database_url, autocommit=True) as server:
        server.execute("set role service_role")
        for table in public_tables(conn):
            server.execute(sql.SQL("select count(*) from public.{}").format(sql.Identifier(table)))
        assert server.execute("select count(*) from public.orders").fetchone() == (1,)
