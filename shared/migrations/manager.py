"""Compare migration files with a database's history, and apply what is pending.

The history is Supabase's own table, written the way the Supabase CLI writes it (version,
name, statements split by the same rules), so a database pushed by one tool shows nothing
pending to the other. Each file is applied with its history row in one transaction; a
session advisory lock makes concurrent pushes apply each file once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import psycopg

from shared.core import db
from shared.core.errors import Conflict, ServiceUnavailable
from shared.migrations.files import MigrationFile, migration_files

State = Literal["applied", "pending", "drifted", "missing_file"]


@dataclass(frozen=True)
class MigrationStatus:
    version: str
    name: str
    state: State
    filename: str | None


@dataclass
class MigrationPlan:
    """Where one database stands against the files."""

    entries: list[MigrationStatus] = field(default_factory=list)
    files: dict[str, MigrationFile] = field(default_factory=dict)

    def having(self, state: State) -> list[MigrationStatus]:
        return [e for e in self.entries if e.state == state]

    @property
    def pending(self) -> list[MigrationFile]:
        return [self.files[e.version] for e in self.having("pending")]

    @property
    def problems(self) -> list[str]:
        """Why this database's history no longer matches the files, one line each."""
        lines = [
            f"{e.filename}: applied as version {e.version} but the file has changed since"
            for e in self.having("drifted")
        ]
        lines += [
            f"version {e.version} ({e.name}) is applied but has no file in the migrations folder"
            for e in self.having("missing_file")
        ]
        return lines


class MigrationRefused(Conflict):
    code = "migration_refused"


def plan_migrations(conn: db.Connection, folder: Path) -> MigrationPlan:
    """Classify every file and every history row: applied, pending, drifted, missing_file."""
    files = {f.version: f for f in migration_files(folder)}
    history: dict[str, dict[str, Any]] = {}
    if db.one(conn, "migration_history_exists")["present"]:
        history = {row["version"]: row for row in db.all_rows(conn, "applied_migrations")}
    plan = MigrationPlan(files=files)
    for version in sorted(files.keys() | history.keys()):
        file = files.get(version)
        row = history.get(version)
        if file is None:
            assert row is not None
            plan.entries.append(MigrationStatus(version, row["name"] or "", "missing_file", None))
        elif row is None:
            plan.entries.append(MigrationStatus(version, file.name, "pending", file.filename))
        else:
            # A row without statements was recorded by `supabase migration repair`; it says
            # nothing about the file's content, so it cannot drift.
            same = row["statements"] is None or list(row["statements"]) == file.statements
            plan.entries.append(MigrationStatus(version, file.name, "applied" if same else "drifted", file.filename))
    return plan


@dataclass
class PushResult:
    applied: list[MigrationFile]
    dry_run: bool


def _acquire_lock(conn: db.Connection, wait_seconds: float) -> None:
    deadline = time.monotonic() + wait_seconds
    while not db.one(conn, "try_migration_lock")["locked"]:
        if time.monotonic() > deadline:
            raise ServiceUnavailable(
                f"another push has held the migration lock for over {wait_seconds:.0f}s",
                code="migration_lock_busy",
            )
        time.sleep(0.1)


def push_migrations(
    url: str,
    folder: Path,
    *,
    dry_run: bool = False,
    include_all: bool = False,
    lock_wait_seconds: float = 120.0,
    lock_timeout: str = "10s",
    on_apply: Callable[[MigrationFile], None] | None = None,
) -> PushResult:
    """Apply every pending file in version order; return what was (or would be) applied.

    Refuses, changing nothing, when the history holds a version without a file or a file
    changed after it was applied, and (unless `include_all`) when a pending file is older
    than the newest applied one, as the Supabase CLI does.
    """
    with db.connect(url, application_name="restoreclick-migrations") as conn:
        if not dry_run:
            _acquire_lock(conn, lock_wait_seconds)
        try:
            plan = plan_migrations(conn, folder)
            if plan.problems:
                raise MigrationRefused(
                    "refusing to push: " + "; ".join(plan.problems) + " (see `restoreclick db verify`)"
                )
            pending = plan.pending
            applied_versions = [e.version for e in plan.having("applied")]
            if pending and applied_versions and not include_all:
                older = [f.filename for f in pending if f.version < max(applied_versions)]
                if older:
                    raise MigrationRefused(
                        f"refusing to push {', '.join(older)}: older than the newest applied "
                        "migration; pass --include-all to apply it anyway"
                    )
            if dry_run:
                return PushResult(applied=pending, dry_run=True)
            db.execute(conn, "ensure_migration_history")
            for file in pending:
                _apply(conn, file, lock_timeout)
                if on_apply:
                    on_apply(file)
            return PushResult(applied=pending, dry_run=False)
        finally:
            if not dry_run and not conn.closed and not conn.broken:
                db.one(conn, "release_migration_lock")


def _apply(conn: db.Connection, file: MigrationFile, lock_timeout: str) -> None:
    """Run one file's statements and record it, all in one transaction."""
    with conn.transaction():
        db.one(conn, "set_migration_lock_timeout", lock_timeout=lock_timeout)
        for number, statement in enumerate(file.statements, start=1):
            try:
                # No parameters: the statement is sent as written, % signs and all.
                conn.execute(statement.encode())
            except psycopg.Error as exc:
                raise MigrationFailed(file, number, exc) from exc
        db.execute(conn, "record_migration", version=file.version, name=file.name, statements=file.statements)


class MigrationFailed(Exception):
    """A statement of a migration failed; nothing of that file was applied."""

    def __init__(self, file: MigrationFile, number: int, cause: psycopg.Error) -> None:
        detail = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
        super().__init__(f"{file.filename}, statement {number}: {detail}")
        self.file = file
        self.number = number
