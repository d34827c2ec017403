"""`restoreclick db backup` and `db restore`: the real pg_dump and pg_restore, real PostgreSQL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from infra import queries
from infra.backup import manifest_path, sha256_of
from infra.pg_tools import find_tool, server_major, tool_major
from shared.core import db
from tests.fixtures import factories
from tests.fixtures.operating import invoke, walk_the_shop

ROOT = Path(__file__).resolve().parents[2]


def _counts(url: str) -> dict[str, int]:
    with db.connect(url) as conn:
        return {r["table"]: int(r["rows"]) for r in queries.rows(conn, "backup_table_counts")}


def _history(url: str) -> list[dict[str, Any]]:
    with db.connect(url) as conn:
        return conn.execute(
            "select version, name, statements from supabase_migrations.schema_migrations order by version"
        ).fetchall()


def _grants(url: str) -> list[dict[str, Any]]:
    with db.connect(url) as conn:
        return queries.rows(conn, "table_grants")


def _schema_privileges(url: str) -> dict[str, bool]:
    with db.connect(url) as conn:
        return {
            f"{role} {privilege}": conn.execute(
                "select has_schema_privilege(%s, 'public', %s) as ok", (role, privilege)
            ).fetchone()["ok"]
            for role in ("anon", "authenticated", "service_role")
            for privilege in ("usage", "create")
        }


def _shop_schemas(url: str) -> list[dict[str, Any]]:
    """The schemas a restore sets aside or makes, with their owner and privileges, and the tables in them."""
    with db.connect(url) as conn:
        return conn.execute(
            "select n.nspname, n.nspowner::regrole::text as owner, n.nspacl::text as acl, "
            "array(select c.relname::text from pg_class c where c.relnamespace = n.oid and c.relkind = 'r' "
            "order by 1) as tables "
            "from pg_namespace n where n.nspname in ('public', 'supabase_migrations') "
            "or n.nspname like 'restoreclick%%' order by 1"
        ).fetchall()


def _cut_short(archive: Path, into: Path) -> None:
    """Half of `archive` at `into`, with a manifest that describes it: the SHA-256 check
    passes and pg_restore is what fails."""
    into.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    manifest = json.loads(manifest_path(archive).read_text())
    manifest["archive"] = {"name": into.name, "bytes": into.stat().st_size, "sha256": sha256_of(into)}
    manifest_path(into).write_text(json.dumps(manifest))


def _refused_in_one_line(result: Any, says: str) -> None:
    """A refusal from the command (exit 1, its one line), not a traceback."""
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    assert f"restoreclick: {says}" in result.output, result.output
    assert "Traceback" not in result.output


def _restore_refused(url: str, args: list[str], says: str) -> Any:
    """`db restore ARGS` into `url` is refused in one line and leaves its schemas as they were."""
    before = _shop_schemas(url)
    refused = invoke(["db", "restore", *args], env={"DATABASE_URL": url})
    _refused_in_one_line(refused, says)
    assert _shop_schemas(url) == before
    return refused


@pytest.fixture
def archive(database_url: str, tmp_path: Path) -> Path:
    """A backup of a fresh, migrated database, with its manifest."""
    made = tmp_path / "shop.dump"
    assert invoke(["db", "backup", "--out", str(made)], env={"DATABASE_URL": database_url}).exit_code == 0
    return made


def test_the_tools_match_the_servers_major_version(database_url: str) -> None:
    major = server_major(database_url)
    for name in ("pg_dump", "pg_restore"):
        assert tool_major(find_tool(name, major, install=False)) == major


def test_a_walked_shop_round_trips_into_a_fresh_database(
    shop: TestClient, database: db.Database, database_url: str, empty_database_url: str, tmp_path: Path
) -> None:
    walk_the_shop(shop, database)
    archive = tmp_path / "backups" / "shop.dump"
    made = invoke(["db", "backup", "--target", "dev", "--out", str(archive)])
    assert made.exit_code == 0, made.output
    assert archive.read_bytes()[:5] == b"PGDMP"  # pg_dump's custom format
    manifest = json.loads(manifest_path(archive).read_text())
    source_counts = _counts(database_url)
    assert manifest["tables"] == source_counts and source_counts["public.orders"] == 2
    # Every photo row's object is in the manifest, with the size and hash the row records.
    with db.connect(database_url) as conn:
        images = conn.execute("select storage_path, size_bytes, sha256 from images order by storage_path").fetchall()
    listed = {o["path"]: o for o in manifest["objects"] if o["table"] == "images"}
    assert sorted(listed) == [i["storage_path"] for i in images]
    assert all(listed[i["storage_path"]]["size_bytes"] == i["size_bytes"] for i in images)
    assert all(listed[i["storage_path"]]["sha256"] == i["sha256"] for i in images)

    restored = invoke(["db", "restore", str(archive), "--target", "dev"], env={"DATABASE_URL": empty_database_url})
    assert restored.exit_code == 0, restored.output
    assert _counts(empty_database_url) == source_counts
    assert _history(empty_database_url) == _history(database_url) != []
    assert _grants(empty_database_url) == _grants(database_url)
    assert _schema_privileges(empty_database_url) == _schema_privileges(database_url)
    with db.connect(empty_database_url) as conn:
        # The roles see what the migrations let them see: the service role all, a browser's none.
        assert conn.execute("select has_table_privilege('service_role', 'public.orders', 'select') as ok").fetchone()
        assert conn.execute("select has_table_privilege('anon', 'public.orders', 'select') as ok").fetchone() == {
            "ok": False
        }
        # The database's own rules came along: the audit trail is still append-only.
        with pytest.raises(psycopg.errors.RestrictViolation):
            conn.execute("delete from audit_logs")
    verified = invoke(["db", "verify", "--target", "dev"], env={"DATABASE_URL": empty_database_url})
    assert verified.exit_code == 0 and "unchanged; none pending" in verified.output


def test_a_restore_refuses_a_database_that_holds_tables_naming_them_unless_forced(
    database_url: str, empty_database_url: str, tmp_path: Path
) -> None:
    with db.connect(database_url) as conn:
        conn.execute("insert into upload_sessions (expires_at) values (now() + interval '1 day')")
    archive = tmp_path / "shop.dump"
    assert invoke(["db", "backup", "--out", str(archive)], env={"DATABASE_URL": database_url}).exit_code == 0
    with db.connect(empty_database_url) as conn:
        conn.execute("create table public.someone_elses (id int)")
        conn.execute("insert into public.someone_elses values (1)")
    refused = invoke(["db", "restore", str(archive)], env={"DATABASE_URL": empty_database_url})
    assert refused.exit_code == 1 and "public.someone_elses" in refused.output, refused.output
    with db.connect(empty_database_url) as conn:
        assert conn.execute("select count(*) as n from public.someone_elses").fetchone() == {"n": 1}
        assert conn.execute("select to_regclass('public.orders') as t").fetchone() == {"t": None}

    # Forced with an archive that cannot be restored, the database stays as it was.
    broken = tmp_path / "broken.dump"
    _cut_short(archive, broken)
    failed = invoke(["db", "restore", str(broken), "--force"], env={"DATABASE_URL": empty_database_url})
    assert failed.exit_code == 1 and "pg_restore failed" in failed.output, failed.output
    with db.connect(empty_database_url) as conn:
        assert conn.execute("select count(*) as n from public.someone_elses").fetchone() == {"n": 1}
        assert conn.execute(
            "select count(*) as n from pg_namespace where nspname like 'restoreclick_%%'"
        ).fetchone() == {"n": 0}

    forced = invoke(["db", "restore", str(archive), "--force"], env={"DATABASE_URL": empty_database_url})
    assert forced.exit_code == 0, forced.output
    assert _counts(empty_database_url) == _counts(database_url)
    with db.connect(empty_database_url) as conn:
        assert conn.execute("select to_regclass('public.someone_elses') as t").fetchone() == {"t": None}


def test_a_second_restore_into_the_same_database_while_one_runs_is_refused_in_one_line(
    database_url: str, empty_database_url: str, archive: Path
) -> None:
    # A restore under way holds the database's restore lock (from its own session, as a
    # second shell's restore would); this one must not take the first's set-aside schemas
    # for leftovers, nor touch anything.
    with db.connect(empty_database_url) as running:
        assert queries.one(running, "restore_try_lock")["locked"] is True
        second = invoke(["db", "restore", str(archive), "--force"], env={"DATABASE_URL": empty_database_url})
        assert second.exit_code == 1, second.output
        assert "another db restore into this database is running" in second.output
        assert running.execute("select to_regclass('public.orders') as t").fetchone() == {"t": None}
    # The lock goes with the first restore's session: the next restore runs.
    after = invoke(["db", "restore", str(archive)], env={"DATABASE_URL": empty_database_url})
    assert after.exit_code == 0, after.output
    assert _counts(empty_database_url) == _counts(database_url)


def test_a_restore_refuses_an_archive_that_is_not_the_one_its_manifest_describes(
    database_url: str, empty_database_url: str, archive: Path
) -> None:
    damaged = bytearray(archive.read_bytes())
    damaged[len(damaged) // 2] ^= 0xFF
    archive.write_bytes(bytes(damaged))
    refused = invoke(["db", "restore", str(archive)], env={"DATABASE_URL": empty_database_url})
    assert refused.exit_code == 1 and "SHA-256" in refused.output
    assert (
        invoke(
            ["db", "restore", str(archive.with_name("missing.dump"))], env={"DATABASE_URL": empty_database_url}
        ).exit_code
        == 1
    )
    with db.connect(empty_database_url) as conn:
        assert conn.execute("select count(*) as n from pg_tables where schemaname = 'public'").fetchone() == {"n": 0}


def test_a_failed_restore_leaves_the_database_as_it_was(
    database_url: str, empty_database_url: str, archive: Path
) -> None:
    broken = archive.with_name("broken.dump")
    _cut_short(archive, broken)
    before = _shop_schemas(empty_database_url)
    failed = invoke(["db", "restore", str(broken)], env={"DATABASE_URL": empty_database_url})
    assert failed.exit_code == 1 and "pg_restore failed" in failed.output
    assert _shop_schemas(empty_database_url) == before
    with db.connect(empty_database_url) as conn:
        assert conn.execute("select count(*) as n from pg_tables where schemaname = 'public'").fetchone() == {"n": 0}


def test_rows_that_are_not_the_manifests_undo_the_restore_forced_or_not(
    database_url: str, empty_database_url: str, archive: Path
) -> None:
    manifest = json.loads(manifest_path(archive).read_text())
    manifest["tables"]["public.orders"] = 999
    manifest["tables"]["public.no_such_table"] = 0
    del manifest["tables"]["public.upload_sessions"]
    manifest_path(archive).write_text(json.dumps(manifest))

    # Into an empty database: it is empty again, its own public schema (owner, grants) kept.
    before = _shop_schemas(empty_database_url)
    assert [s["nspname"] for s in before] == ["public"] and before[0]["tables"] == []
    plain = _restore_refused(
        empty_database_url, [str(archive)], "3 table(s) restored with other row counts than the manifest's"
    )
    assert "public.orders: 0 rows restored, the manifest says 999" in plain.output
    assert "public.no_such_table: not restored, the manifest says 0" in plain.output
    assert "public.upload_sessions: 0 rows restored, the manifest does not list it" in plain.output
    assert "the database is as it was" in plain.output and "every table's rows match" not in plain.output

    # Forced over a database that holds tables: what it held is back, under its names.
    with db.connect(empty_database_url) as conn:
        conn.execute("create table public.someone_elses (id int)")
        conn.execute("insert into public.someone_elses values (1)")
    _restore_refused(
        empty_database_url, [str(archive), "--force"], "3 table(s) restored with other row counts than the manifest's"
    )
    with db.connect(empty_database_url) as conn:
        assert conn.execute("select count(*) as n from public.someone_elses").fetchone() == {"n": 1}

    # The same database over the real manifest: the check passes and the old schemas go.
    assert invoke(["db", "backup", "--out", str(archive)], env={"DATABASE_URL": database_url}).exit_code == 0
    again = invoke(["db", "restore", str(archive), "--force"], env={"DATABASE_URL": empty_database_url})
    assert again.exit_code == 0 and "every table's rows match the manifest" in again.output, again.output
    assert [s["nspname"] for s in _shop_schemas(empty_database_url)] == ["public", "supabase_migrations"]
    assert _counts(empty_database_url) == _counts(database_url)
    # The public schema that replaced the old one is usable by the same roles as the source's.
    assert _schema_privileges(empty_database_url) == _schema_privileges(database_url)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("{not json", "not JSON"),
        ("[]", "a JSON list, not an object"),
        ('{"format": 1}', 'no "archive" object'),
        ('{"format": 2}', "manifest format 2, not 1"),
        ('{"format": true}', "manifest format True, not 1"),
        (None, 'no "archive" object'),  # backup's own manifest, less "archive"
        ("\xff\xfe", "not UTF-8 JSON"),
    ],
)
def test_a_manifest_that_cannot_be_read_is_one_line_and_changes_nothing(
    database_url: str, empty_database_url: str, archive: Path, text: str | None, says: str
) -> None:
    if text is None:
        manifest = json.loads(manifest_path(archive).read_text())
        del manifest["archive"]
        manifest_path(archive).write_text(json.dumps(manifest))
    else:
        manifest_path(archive).write_bytes(text.encode("latin-1"))
    refused = _restore_refused(empty_database_url, [str(archive)], f"the manifest beside {archive} cannot be read: ")
    assert says in refused.output, refused.output


def test_an_archive_without_its_manifest_is_refused(database_url: str, empty_database_url: str, archive: Path) -> None:
    manifest_path(archive).unlink()
    refused = _restore_refused(empty_database_url, [str(archive)], f"no manifest beside {archive}")
    assert "restore checks the archive against it" in refused.output
    assert "every table's rows match" not in refused.output


def test_verify_exits_0_with_some_migrations_pending_and_1_with_none_applied(
    database_url: str, empty_database_url: str, archive: Path
) -> None:
    nothing = invoke(["db", "verify"], env={"DATABASE_URL": empty_database_url})
    assert nothing.exit_code == 1, nothing.output
    said = " ".join(nothing.output.split())
    assert "no migration applied yet, nothing to compare" in said and "run ./restoreclick db push --target dev" in said
    assert invoke(["db", "restore", str(archive)], env={"DATABASE_URL": empty_database_url}).exit_code == 0
    with db.connect(empty_database_url) as conn:
        # The newest file's history row goes: it is pending again, not a mismatch.
        conn.execute(
            "delete from supabase_migrations.schema_migrations "
            "where version = (select max(version) from supabase_migrations.schema_migrations)"
        )
    some = invoke(["db", "verify"], env={"DATABASE_URL": empty_database_url})
    assert some.exit_code == 0, some.output
    assert "1 pending (not a mismatch)" in " ".join(some.output.split())


def test_an_unset_prod_target_is_one_line_and_exit_2(tmp_path: Path, settings: object) -> None:
    out = invoke(["db", "backup", "--target", "prod", "--out", str(tmp_path / "x.dump")])
    assert out.exit_code == 2 and "PRODUCTION_DATABASE_URL" in out.output
    assert not (tmp_path / "x.dump").exists()


def test_schemas_an_earlier_restore_set_aside_are_refused_and_kept(
    database_url: str, empty_database_url: str, archive: Path
) -> None:
    with db.connect(empty_database_url) as conn:
        # What a restore killed between setting aside and putting back leaves: maybe the only copy.
        conn.execute("create schema restoreclick_replaced_public")
        conn.execute("create table restoreclick_replaced_public.orders (id int)")
    _restore_refused(
        empty_database_url, [str(archive), "--force"], "an earlier restore left restoreclick_replaced_public"
    )


def test_a_restore_killed_outright_leaves_the_database_as_it_was_and_serving(database_url: str, archive: Path) -> None:
    """SIGKILL of the command and its tools (a crash, the OOM killer, a dropped SSH session)
    in the middle of a --force restore: no Python is left to undo anything, so the restore
    must be one transaction the server rolls back when its session ends."""
    with db.connect(database_url) as conn:
        factories.order(conn)  # written after the backup: a restore would replace it
    before, schemas = _counts(database_url), _shop_schemas(database_url)
    # A reader of the live orders holds the restore at its last step, dropping the old
    # schemas, where everything else of it has been done.
    reader = psycopg.connect(database_url)
    reader.execute("select 1 from public.orders limit 1")
    command = subprocess.Popen(
        [sys.executable, "-m", "infra.commands.main", "db", "restore", str(archive), "--force"],
        cwd=ROOT, env={**os.environ, "DATABASE_URL": database_url},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        restoring = None
        deadline = time.monotonic() + 120
        while restoring is None:
            assert command.poll() is None, command.stdout.read() if command.stdout else ""
            assert time.monotonic() < deadline, "the restore never reached its last step"
            with db.connect(database_url) as conn:
                restoring = conn.execute(
                    "select pid from pg_stat_activity where wait_event_type = 'Lock' "
                    "and query ilike 'drop schema if exists restoreclick_replaced%%'"
                ).fetchone()
            time.sleep(0.2)
        os.killpg(command.pid, signal.SIGKILL)
        command.wait(timeout=30)
    finally:
        reader.rollback()
        reader.close()
        if command.poll() is None:
            os.killpg(command.pid, signal.SIGKILL)
            command.wait(timeout=30)
        if command.stdout:
            command.stdout.close()
    # Its session learns its client is gone once the lock is granted, and rolls back.
    deadline = time.monotonic() + 60
    with db.connect(database_url) as conn:
        while conn.execute("select 1 from pg_stat_activity where pid = %s", [restoring["pid"]]).fetchone():
            assert time.monotonic() < deadline, "the killed restore's session lives on"
            time.sleep(0.2)
    assert _counts(database_url) == before
    assert _shop_schemas(database_url) == schemas
