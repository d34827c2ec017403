"""`restoreclick db push | status | verify` against real databases."""

from __future__ import annotations

import threading
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from infra.commands.main import app
from shared.core import db
from shared.migrations import (
    MigrationFailed,
    MigrationRefused,
    migration_files,
    plan_migrations,
    push_migrations,
)

ROOT = Path(__file__).resolve().parents[2]
MIGRATIONS = ROOT / "supabase" / "migrations"

REQUIRED_FIRST_TEN = [
    "001_create_customers_table.sql",
    "002_create_orders_table.sql",
    "003_create_images_table.sql",
    "004_create_restoration_jobs_table.sql",
    "005_create_email_queue_table.sql",
    "006_create_audit_logs_table.sql",
    "007_create_file_uploads_table.sql",
    "008_create_download_links_table.sql",
    "009_create_indexes.sql",
    "010_create_triggers.sql",
]


def history(url: str) -> list[tuple[str, str, list[str]]]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "select version, name, statements from supabase_migrations.schema_migrations order by 1"
        ).fetchall()


def test_the_first_ten_files_are_the_agreed_ones() -> None:
    names = [f.filename for f in migration_files(MIGRATIONS)]
    assert names[:10] == REQUIRED_FIRST_TEN
    assert all(name[:3].isdigit() and int(name[:3]) > 10 for name in names[10:])


def test_push_applies_everything_from_scratch_and_records_cli_style_history(
    empty_database_url: str,
) -> None:
    result = push_migrations(empty_database_url, MIGRATIONS)
    files = migration_files(MIGRATIONS)
    assert [f.version for f in result.applied] == [f.version for f in files]
    assert history(empty_database_url) == [(f.version, f.name, f.statements) for f in files]
    with db.connect(empty_database_url) as conn:
        plan = plan_migrations(conn, MIGRATIONS)
        assert plan.pending == [] and plan.problems == []
        tables = {r["tablename"] for r in conn.execute("select tablename from pg_tables where schemaname = 'public'")}
    assert {
        "customers",
        "orders",
        "images",
        "restoration_jobs",
        "email_queue",
        "audit_logs",
        "file_uploads",
        "download_links",
        "stripe_events",
        "order_number_counters",
        "upload_sessions",
        "checkouts",
    } <= tables
    # A second push finds nothing to do.
    assert push_migrations(empty_database_url, MIGRATIONS).applied == []


def test_dry_run_changes_nothing(empty_database_url: str) -> None:
    result = push_migrations(empty_database_url, MIGRATIONS, dry_run=True)
    assert len(result.applied) == len(migration_files(MIGRATIONS))
    with psycopg.connect(empty_database_url) as conn:
        assert conn.execute("select to_regclass('public.orders')").fetchone() == (None,)
        assert conn.execute("select to_regnamespace('supabase_migrations')").fetchone() == (None,)


def test_verify_names_an_edited_migration(empty_database_url: str, tmp_path: Path) -> None:
    folder = tmp_path / "migrations"
    folder.mkdir()
    for f in migration_files(MIGRATIONS):
        (folder / f.filename).write_bytes(f.path.read_bytes())
    push_migrations(empty_database_url, folder)
    edited = folder / "002_create_orders_table.sql"
    edited.write_text(edited.read_text() + "\ncomment on column public.orders.status is 'edited';\n")

    with db.connect(empty_database_url) as conn:
        plan = plan_migrations(conn, folder)
    assert [e.filename for e in plan.having("drifted")] == ["002_create_orders_table.sql"]

    runner = CliRunner()
    env = {"DATABASE_URL": empty_database_url, "MIGRATIONS_DIR": str(folder)}
    from shared.core.config import get_settings

    get_settings.cache_clear()
    try:
        outcome = runner.invoke(app, ["db", "verify", "--target", "dev"], env=env)
        assert outcome.exit_code == 1
        assert "002_create_orders_table.sql" in outcome.output
        # A push on top of a drifted history is refused, naming the file.
        refused = runner.invoke(app, ["db", "push", "--target", "dev"], env=env)
        assert refused.exit_code == 1 and "002_create_orders_table.sql" in refused.output
    finally:
        get_settings.cache_clear()


def test_verify_names_a_vanished_migration(empty_database_url: str, tmp_path: Path) -> None:
    folder = tmp_path / "migrations"
    folder.mkdir()
    for f in migration_files(MIGRATIONS):
        (folder / f.filename).write_bytes(f.path.read_bytes())
    push_migrations(empty_database_url, folder)
    (folder / "015_create_photos_bucket.sql").unlink()
    with db.connect(empty_database_url) as conn:
        plan = plan_migrations(conn, folder)
    assert [e.version for e in plan.having("missing_file")] == ["015"]
    assert any("015" in line for line in plan.problems)
    with pytest.raises(MigrationRefused):
        push_migrations(empty_database_url, folder)


def test_a_pending_file_older_than_the_newest_applied_needs_include_all(
    empty_database_url: str, tmp_path: Path
) -> None:
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "001_a.sql").write_text("create table public.a (id int);")
    (folder / "003_c.sql").write_text("create table public.c (id int);")
    push_migrations(empty_database_url, folder)
    (folder / "002_b.sql").write_text("create table public.b (id int);")
    with pytest.raises(MigrationRefused, match=r"002_b\.sql"):
        push_migrations(empty_database_url, folder)
    assert [f.version for f in push_migrations(empty_database_url, folder, include_all=True).applied] == ["002"]


def test_a_failing_file_leaves_neither_its_changes_nor_its_history(empty_database_url: str, tmp_path: Path) -> None:
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "001_ok.sql").write_text("create table public.ok (id int);")
    (folder / "002_bad.sql").write_text("create table public.half (id int);\nselect * from nowhere;")
    with pytest.raises(MigrationFailed, match=r"002_bad.sql, statement 2"):
        push_migrations(empty_database_url, folder)
    with psycopg.connect(empty_database_url) as conn:
        assert conn.execute("select to_regclass('public.ok') is not null").fetchone() == (True,)
        assert conn.execute("select to_regclass('public.half')").fetchone() == (None,)
    assert [v for v, _, _ in history(empty_database_url)] == ["001"]


def test_concurrent_pushes_apply_each_migration_once(empty_database_url: str, tmp_path: Path) -> None:
    folder = tmp_path / "migrations"
    folder.mkdir()
    for f in migration_files(MIGRATIONS):
        (folder / f.filename).write_bytes(f.path.read_bytes())
    # A slow last file keeps the first push inside the lock while the others arrive.
    (folder / "999_slow.sql").write_text(
        "create table public.push_log (id int);\nselect pg_sleep(0.5);\ninsert into public.push_log values (1);"
    )
    applied: list[list[str]] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def push() -> None:
        barrier.wait()
        try:
            applied.append([f.version for f in push_migrations(empty_database_url, folder).applied])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=push) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    all_versions = [v for versions in applied for v in versions]
    assert sorted(all_versions) == sorted(f.version for f in migration_files(folder))
    with psycopg.connect(empty_database_url) as conn:
        assert conn.execute("select count(*) from public.push_log").fetchone() == (1,)


def test_status_prints_a_table_per_target(database_url: str) -> None:
    from shared.core.config import get_settings

    get_settings.cache_clear()
    try:
        outcome = CliRunner().invoke(app, ["db", "status", "--target", "dev"], env={"DATABASE_URL": database_url})
    finally:
        get_settings.cache_clear()
    assert outcome.exit_code == 0, outcome.output
    assert "001" in outcome.output and "applied" in outcome.output
    assert "0 pending" in outcome.output


def test_prod_target_without_its_url_fails_naming_the_setting() -> None:
    from shared.core.config import get_settings

    get_settings.cache_clear()
    try:
        outcome = CliRunner().invoke(app, ["db", "status", "--target", "prod"], env={"PRODUCTION_DATABASE_URL": ""})
    finally:
        get_settings.cache_clear()
    assert outcome.exit_code != 0
    assert "PRODUCTION_DATABASE_URL" in str(outcome.exception) + outcome.output
