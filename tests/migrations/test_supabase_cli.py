"""The migrations apply with the real Supabase CLI, and the two tools agree on history."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from shared.core import db
from shared.migrations import migration_files, plan_migrations, push_migrations
from tests.migrations.conftest import run_supabase

pytestmark = pytest.mark.supabase_cli


def cli_history(url: str) -> list[tuple[str, str, list[str]]]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "select version, name, statements from supabase_migrations.schema_migrations order by 1"
        ).fetchall()


def test_supabase_cli_applies_everything_and_restoreclick_sees_nothing_pending(
    supabase_cli: Path, project_copy: Path, empty_database_url: str
) -> None:
    pushed = run_supabase(supabase_cli, project_copy, "db", "push", "--db-url", empty_database_url, "--yes")
    assert pushed.returncode == 0, pushed.stderr + pushed.stdout
    folder = project_copy / "supabase" / "migrations"
    with db.connect(empty_database_url) as conn:
        plan = plan_migrations(conn, folder)
    assert plan.pending == [] and plan.problems == []
    assert push_migrations(empty_database_url, folder).applied == []
    # The CLI's record is exactly what ours would have written.
    assert cli_history(empty_database_url) == [(f.version, f.name, f.statements) for f in migration_files(folder)]


def test_restoreclick_push_then_supabase_cli_finds_the_database_up_to_date(
    supabase_cli: Path, project_copy: Path, empty_database_url: str
) -> None:
    push_migrations(empty_database_url, project_copy / "supabase" / "migrations")
    dry = run_supabase(supabase_cli, project_copy, "db", "push", "--db-url", empty_database_url, "--dry-run")
    assert dry.returncode == 0, dry.stderr + dry.stdout
    assert "up to date" in (dry.stdout + dry.stderr)


def test_each_tool_takes_over_from_the_other_half_way(
    supabase_cli: Path, project_copy: Path, empty_database_url: str
) -> None:
    folder = project_copy / "supabase" / "migrations"
    later = [f for f in migration_files(folder) if f.version > "007"]
    held_back = project_copy / "held_back"
    held_back.mkdir()
    for f in later:
        f.path.rename(held_back / f.filename)
    first = run_supabase(supabase_cli, project_copy, "db", "push", "--db-url", empty_database_url, "--yes")
    assert first.returncode == 0, first.stderr
    for f in later:
        (held_back / f.filename).rename(folder / f.filename)
    applied = push_migrations(empty_database_url, folder).applied
    assert [f.version for f in applied] == [f.version for f in later]
    again = run_supabase(supabase_cli, project_copy, "db", "push", "--db-url", empty_database_url, "--dry-run")
    assert again.returncode == 0 and "up to date" in (again.stdout + again.stderr)


TRICKY_MIGRATION = """\
-- leading comment; with a semicolon
create table public.tricky ("odd;name" text default 'it''s; here', n int);
/* block /* nested; */ comment; */
create function public.tricky_body() returns int language plpgsql as $fn$
begin
    perform 1; -- inside the body
    return 2;
end;
$fn$;
create function public.tricky_atomic() returns int language sql
begin atomic
    select 1;
end;
do $$ begin perform (select 1); end $$;
insert into public.tricky (n) values ((1 + 2));
"""


def test_cli_and_restoreclick_split_a_tricky_file_identically(
    supabase_cli: Path, tmp_path: Path, empty_database_url: str
) -> None:
    folder = tmp_path / "supabase" / "migrations"
    folder.mkdir(parents=True)
    (folder / "001_tricky.sql").write_text(TRICKY_MIGRATION)
    pushed = run_supabase(supabase_cli, tmp_path, "db", "push", "--db-url", empty_database_url, "--yes")
    assert pushed.returncode == 0, pushed.stderr + pushed.stdout
    [(version, name, statements)] = cli_history(empty_database_url)
    assert (version, name) == ("001", "tricky")
    assert statements == migration_files(folder)[0].statements
    # The block comment travels with the statement after it, as every comment does.
    assert len(statements) == 5
