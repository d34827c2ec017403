"""`restoreclick db` over several targets, and what it does when a table is busy."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from infra.commands.main import app
from shared.core.config import get_settings
from shared.migrations import MigrationFailed, push_migrations

ROOT = Path(__file__).resolve().parents[2]
MIGRATIONS = ROOT / "supabase" / "migrations"


@pytest.fixture
def invoke() -> Iterator[object]:
    def run(args: list[str], env: dict[str, str]):  # type: ignore[no-untyped-def]
        get_settings.cache_clear()
        return CliRunner().invoke(app, ["db", *args], env=env)

    yield run
    get_settings.cache_clear()


def copy_of_migrations(tmp_path: Path) -> Path:
    folder = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS, folder)
    return folder


def test_all_targets_are_pushed_and_verified_and_a_vanished_file_fails_verify(
    empty_database_url: str, database_url: str, tmp_path: Path, invoke
) -> None:  # type: ignore[no-untyped-def]
    folder = copy_of_migrations(tmp_path)
    env = {"DATABASE_URL": empty_database_url, "PRODUCTION_DATABASE_URL": database_url, "MIGRATIONS_DIR": str(folder)}
    pushed = invoke(["push", "--all"], env)
    assert pushed.exit_code == 0, pushed.output
    status = invoke(["status", "--all"], env)
    assert status.exit_code == 0 and "dev" in status.output and "prod" in status.output
    assert status.output.count("0 pending") == 2, status.output
    assert invoke(["verify", "--all"], env).exit_code == 0

    (folder / "012_create_order_number_counters_table.sql").unlink()
    failed = invoke(["verify", "--all"], env)
    assert failed.exit_code == 1 and "012" in failed.output


def test_a_push_waiting_on_a_busy_table_gives_up_at_its_lock_timeout_and_records_nothing(
    database_url: str, tmp_path: Path
) -> None:
    folder = copy_of_migrations(tmp_path)
    (folder / "900_touch_orders.sql").write_text("alter table public.orders add column note text;\n")
    with psycopg.connect(database_url) as busy:
        busy.execute("lock table public.orders in access share mode")  # a long report reading orders
        with pytest.raises(MigrationFailed, match="900"):
            push_migrations(database_url, folder, lock_timeout="200ms")
        busy.rollback()
    with psycopg.connect(database_url) as conn:
        assert (
            conn.execute("select 1 from supabase_migrations.schema_migrations where version = '900'").fetchall() == []
        )
        columns = conn.execute(
            "select 1 from information_schema.columns where table_name = 'orders' and column_name = 'note'"
        ).fetchall()
        assert columns == []
    push_migrations(database_url, folder)  # once the table is free, it applies
