"""Backup and restore of the shop's database: `restoreclick db backup|restore`.

A backup is a pg_dump custom-format archive of the shop's schemas — `public` (every table,
function, trigger, policy and grant the migrations made) and `supabase_migrations` (the
history both migration tools read) — and, beside it, a manifest (`FILE.manifest.json`):
the archive's size and SHA-256, every table's row count, the migration history, Supabase's
bucket rows, and every storage object the rows name with the size and SHA-256 the row
records. Storage objects themselves are not in the archive: they live in the bucket, and
the manifest says which of them the database needs.

A restore goes into an empty database (the embedded one, or whatever DATABASE_URL or
PRODUCTION_DATABASE_URL names) and refuses one that already holds tables, naming them;
`--force` replaces the shop's schemas. Every restore needs the manifest beside the archive
and checks the archive's SHA-256 against it first. Then one transaction on the server
sets the shop's schemas aside (renamed), restores the archive (pg_restore writes it as a
script, psql runs it), checks every table's row count against the manifest, and drops the
set-aside schemas: a failure, rows that differ, or the command killed outright roll it
back whole, so the database is as it was, forced or not. Ownership goes to the restoring
role (as when the migrations ran) and the grants are the archive's, which are the
migrations' (infra/supabase_roles.sql's roles, migration 014's grants): the roles are
created first on a plain server that lacks them.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from infra import queries
from infra.pg_tools import find_tool, libpq_args, server_major, tool_major
from shared.core import db

SHOP_SCHEMAS = ("public", "supabase_migrations")
MANIFEST_FORMAT = 1


class RestoreRefused(RuntimeError):
    """The target holds tables (without --force), or the archive is not the manifest's."""


class ManifestUnreadable(RestoreRefused):
    """The manifest beside the archive is missing, not JSON, or not shaped as backup writes it."""


class RowsMismatched(RestoreRefused):
    """The restored rows are not the manifest's; the database was put back as it was."""

    def __init__(self, mismatched: dict[str, tuple[int, int]]) -> None:
        self.mismatched = mismatched  # table: (in the manifest, restored); -1 where absent
        super().__init__(
            f"{len(mismatched)} table(s) restored with other row counts than the manifest's; "
            "the restore was undone and the database is as it was"
        )


class PgToolFailed(RuntimeError):
    """pg_dump, pg_restore or psql exited non-zero; the message carries the end of what it
    printed, `stderr` all of it."""

    def __init__(self, message: str, stderr: str = "") -> None:
        super().__init__(message)
        self.stderr = stderr


def manifest_path(archive: Path) -> Path:
    return archive.with_name(archive.name + ".manifest.json")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def table_counts(url: str) -> dict[str, int]:
    with db.connect(url) as conn:
        return {r["table"]: int(r["rows"]) for r in queries.rows(conn, "backup_table_counts")}


def migration_history(url: str) -> list[dict[str, Any]]:
    with db.connect(url) as conn:
        if not queries.one(conn, "backup_has_migration_history")["present"]:
            return []
        return queries.rows(conn, "backup_migration_history")


def _run(tool: Path, args: list[str], url: str | None = None) -> None:
    """Run a PostgreSQL tool (against `url`, when given); PgToolFailed with what it printed."""
    command, env = [str(tool), *args], None
    if url is not None:
        conninfo, env = libpq_args(url)
        command += ["--dbname", conninfo]
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise PgToolFailed(f"{tool.name} failed ({done.returncode}): {done.stderr.strip()[-2000:]}", done.stderr)


# What restore_check_rows raises, with the counts it found.
_ROWS_DIFFER = re.compile(r"restoreclick: restored rows differ from the manifest: (\{.*?\})\s*$", re.M)


def _restore_script(script: Path) -> str:
    """The psql script of a restore: set aside, the archive's own script, the row check,
    drop the set-aside schemas, in one transaction that psql stops at the first error."""

    def statement(name: str) -> str:
        # As psycopg would send it unparameterised; the loader leaves the last ; off.
        return queries.QUERIES[name].replace("%%", "%") + ";"

    return "\n".join(
        [
            "begin;",
            statement("restore_set_aside_schemas"),
            f"\\i {_psql_quoted(script)}",
            statement("restore_check_rows"),
            statement("restore_drop_set_aside"),
            "commit;",
            "",
        ]
    )


def _psql_quoted(path: Path) -> str:
    return "'" + str(path).replace("\\", "\\\\").replace("'", "\\'") + "'"


@dataclass
class BackupResult:
    archive: Path
    manifest: Path
    tables: dict[str, int]
    objects: int
    tool: Path


Step = Callable[[str], None]


def backup(url: str, out: Path, *, step: Step = lambda _: None) -> BackupResult:
    """Write the archive to `out` and its manifest beside it."""
    step("Finding pg_dump for the server's version")
    major = server_major(url)
    pg_dump = find_tool("pg_dump", major)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    step(f"Dumping {', '.join(SHOP_SCHEMAS)} with {pg_dump}")
    schemas = [arg for schema in SHOP_SCHEMAS for arg in ("--schema", schema)]
    # Custom format (compressed, restorable table by table, in one transaction), with the
    # grants (the roles exist wherever the shop runs) and without owners: the restoring
    # role owns what it creates, as the migrations' role did.
    _run(pg_dump, ["--format=custom", "--no-owner", "--file", str(partial), *schemas], url)
    step("Writing the manifest of storage objects")
    with db.connect(url) as conn:
        objects = queries.rows(conn, "backup_storage_objects")
        buckets = (
            queries.rows(conn, "backup_buckets") if queries.one(conn, "backup_has_storage_schema")["present"] else []
        )
    tables = table_counts(url)
    partial.replace(out)  # only a finished dump takes the name
    manifest = {
        "format": MANIFEST_FORMAT,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "server_major_version": major,
        "pg_dump": f"{pg_dump} (PostgreSQL {tool_major(pg_dump)})",
        "archive": {"name": out.name, "bytes": out.stat().st_size, "sha256": sha256_of(out)},
        "schemas": list(SHOP_SCHEMAS),
        "tables": tables,
        "migrations": [{"version": m["version"], "name": m["name"]} for m in migration_history(url)],
        "buckets": buckets,
        "objects": objects,
    }
    path = manifest_path(out)
    path.write_text(json.dumps(manifest, indent=2, default=str) + "\n", encoding="utf-8")
    return BackupResult(out, path, tables, len(objects), pg_dump)


def tables_present(url: str) -> list[str]:
    with db.connect(url) as conn:
        return [r["table"] for r in queries.rows(conn, "restore_tables_present")]


@dataclass
class RestoreResult:
    tables: dict[str, int]
    tool: Path


def restore(
    url: str,
    archive: Path,
    *,
    force: bool = False,
    ensure_roles: Callable[[], None] | None = None,
    step: Step = lambda _: None,
) -> RestoreResult:
    """Restore `archive` into the database at `url`; see the module's docstring."""
    if not archive.is_file():
        raise RestoreRefused(f"no archive at {archive}")
    manifest = _read_manifest(archive)
    step("Checking the archive against its manifest")
    if sha256_of(archive) != manifest["archive"]["sha256"]:
        raise RestoreRefused(f"{archive.name} is not the archive its manifest describes (SHA-256 differs)")
    with _sole_restore(url):
        return _restore_into(url, archive, manifest, force, ensure_roles, step)


@contextmanager
def _sole_restore(url: str) -> Iterator[None]:
    """Hold the database's restore lock for the block, or refuse: two restores at once
    would each see the other's half-done work (the schemas set aside by --force) as
    something left behind. A session lock: it goes with the connection, crash included."""
    with db.connect(url) as conn:
        if not queries.one(conn, "restore_try_lock")["locked"]:
            raise RestoreRefused("another db restore into this database is running; wait for it to finish")
        try:
            yield
        finally:
            queries.rows(conn, "restore_unlock")


def _restore_into(
    url: str,
    archive: Path,
    manifest: dict[str, Any],
    force: bool,
    ensure_roles: Callable[[], None] | None,
    step: Step,
) -> RestoreResult:
    found = tables_present(url)
    if found and not force:
        shown = ", ".join(found[:10]) + (f" and {len(found) - 10} more" if len(found) > 10 else "")
        raise RestoreRefused(
            f"the database already holds {len(found)} table(s): {shown}; restore into an empty database, "
            "or pass --force to replace the shop's schemas"
        )
    with db.connect(url) as conn:
        roles = queries.one(conn, "restore_roles_present")["present"]
    if not roles:
        if ensure_roles is None:
            raise RestoreRefused("the server lacks the anon, authenticated and service_role roles the grants name")
        step("Creating the Supabase roles (infra/supabase_roles.sql)")
        ensure_roles()
    major = server_major(url)
    pg_restore, psql = find_tool("pg_restore", major), find_tool("psql", major)
    step(f"Restoring with {pg_restore}")
    with db.connect(url) as conn:
        if queries.one(conn, "restore_leftovers_present")["present"]:
            raise RestoreRefused(
                "an earlier restore left restoreclick_replaced_public or restoreclick_replaced_history "
                "behind; look at it, then drop it"
            )
    # One transaction on the server, from setting the shop's schemas aside (forced or not;
    # without --force they hold no table) to dropping them once every table's row count is
    # the manifest's. A failure anywhere, a mismatch, or the command killed outright (the
    # server rolls back a transaction whose session ends) leaves the database as it was,
    # with every write it took meanwhile; nobody else sees the restored tables before the
    # commit. pg_restore writes the archive as a script (owners the restoring role's,
    # grants the archive's) and psql runs it inside that transaction.
    with tempfile.TemporaryDirectory() as work:
        listing, script, wrapper = (Path(work) / n for n in ("restore.list", "restore.sql", "wrapper.sql"))
        listing.write_text(_restore_list(pg_restore, archive, url), encoding="utf-8")
        _run(pg_restore, ["--no-owner", "--use-list", str(listing), "--file", str(script), str(archive)])
        wrapper.write_text(_restore_script(script), encoding="utf-8")
        step("Restoring and counting the rows, in one transaction")
        try:
            _run(
                psql,
                ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-v", f"expected={json.dumps(manifest['tables'])}",
                 "-f", str(wrapper)],
                url,
            )  # fmt: skip
        except PgToolFailed as exc:
            differ = _ROWS_DIFFER.search(exc.stderr)
            if differ is None:
                raise
            tables: dict[str, int] = json.loads(differ.group(1))
            expected: dict[str, int] = manifest["tables"]
            # -1: not in the manifest, or not restored; a table either side lacks is a mismatch too.
            raise RowsMismatched(
                {
                    t: (expected.get(t, -1), tables.get(t, -1))
                    for t in sorted(expected.keys() | tables.keys())
                    if tables.get(t) != expected.get(t)
                }
            ) from None
    tables = table_counts(url)
    if manifest["buckets"]:
        with db.connect(url) as conn:
            if queries.one(conn, "backup_has_storage_schema")["present"]:
                for bucket in manifest["buckets"]:
                    queries.rows_changed(conn, "restore_bucket", **bucket)
    return RestoreResult(tables, pg_restore)


# pg_restore's table of contents names the public schema itself on a line such as
# `5; 2615 2200 SCHEMA - public pg_database_owner`.
_CREATE_PUBLIC = re.compile(r"^\d+; \d+ \d+ SCHEMA - public ")


def _restore_list(pg_restore: Path, archive: Path, url: str) -> str:
    """The archive's table of contents, less `CREATE SCHEMA public` where the database
    has that schema: the one restore_set_aside_schemas made in place of the database's own
    (its owner and privileges), and creating it again would fail the whole restore. Its
    grants and comment are kept."""
    done = subprocess.run([str(pg_restore), "--list", str(archive)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise PgToolFailed(f"pg_restore failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    with db.connect(url) as conn:
        has_public = queries.one(conn, "restore_has_public_schema")["present"]
    lines = done.stdout.splitlines()
    if has_public:
        lines = [line for line in lines if not _CREATE_PUBLIC.match(line)]
    return "\n".join(lines) + "\n"


_BUCKET_KEYS = frozenset({"id", "name", "public", "file_size_limit", "allowed_mime_types"})


def _read_manifest(archive: Path) -> dict[str, Any]:
    """The manifest beside `archive`, checked for every field restore reads: a restore
    checks the archive against it, so without one (or with one that is not backup's) it
    refuses before touching the database."""
    path = manifest_path(archive)
    if not path.exists():
        raise ManifestUnreadable(f"no manifest beside {archive} ({path.name}); restore checks the archive against it")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ManifestUnreadable(f"the manifest beside {archive} cannot be read: {_reason(exc)}") from None
    problem = _manifest_problem(manifest)
    if problem:
        raise ManifestUnreadable(f"the manifest beside {archive} cannot be read: {problem}")
    assert isinstance(manifest, dict)
    return manifest


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError):
        return exc.strerror or str(exc)
    if isinstance(exc, json.JSONDecodeError):
        return f"not JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"
    return f"not UTF-8 JSON ({exc})"


def _manifest_problem(manifest: object) -> str | None:
    """What keeps `manifest` from being one `backup` wrote, or None."""
    if not isinstance(manifest, dict):
        return f"it holds a JSON {type(manifest).__name__}, not an object"
    if manifest.get("format") != MANIFEST_FORMAT or isinstance(manifest.get("format"), bool):
        return f"it is manifest format {manifest.get('format')!r}, not {MANIFEST_FORMAT}"
    described = manifest.get("archive")
    if not isinstance(described, dict) or not isinstance(described.get("sha256"), str):
        return 'it has no "archive" object with the archive\'s "sha256"'
    tables = manifest.get("tables")
    if not isinstance(tables, dict) or not all(
        isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in tables.values()
    ):
        return 'it has no "tables" object of row counts'
    buckets = manifest.get("buckets")
    if not isinstance(buckets, list) or not all(isinstance(b, dict) and set(b) == _BUCKET_KEYS for b in buckets):
        return 'its "buckets" is not a list of bucket rows'
    return None
