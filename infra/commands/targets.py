"""Named databases the commands act on: dev (DATABASE_URL) and prod
(PRODUCTION_DATABASE_URL). With no DATABASE_URL, dev is the embedded database, started
for the command when it is not running (and stopped after), as `restoreclick dev` would."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Annotated, Any

import typer

from infra.commands.errors import CannotRun
from shared.core import db
from shared.core.config import Settings, get_settings
from shared.core.errors import ConfigurationError

TARGET_SETTINGS = {"dev": "database_url", "prod": "production_database_url"}

TargetOption = Annotated[
    str,
    typer.Option(
        "--target", "-t", help="dev (DATABASE_URL, else the embedded database) or prod (PRODUCTION_DATABASE_URL)."
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts instead of tables.")]


@dataclass(frozen=True)
class Target:
    name: str
    url: str
    embedded: bool = False

    @property
    def display_url(self) -> str:
        """The URL without its password, for printing."""
        from psycopg.conninfo import conninfo_to_dict

        parts = conninfo_to_dict(self.url)
        host = parts.get("host", "localhost")
        return f"{parts.get('user', '')}@{host}:{parts.get('port', 5432)}/{parts.get('dbname', '')}"


def chosen_names(names: list[str], every: bool, settings: Settings) -> list[str]:
    """The target names a command was asked for: `--all` means every configured one."""
    if every:
        return ["dev"] + (["prod"] if settings.production_database_url else [])
    unknown = [n for n in names if n not in TARGET_SETTINGS]
    if unknown:
        raise ConfigurationError(f"unknown target {', '.join(unknown)}; choose from {', '.join(TARGET_SETTINGS)}")
    return names or ["dev"]


@contextmanager
def open_targets(names: list[str], settings: Settings) -> Iterator[list[Target]]:
    """Resolve target names to URLs, starting the embedded database for dev if needed."""
    with ExitStack() as stack:
        targets = []
        for name in names:
            url = getattr(settings, TARGET_SETTINGS[name])
            embedded = not url and name == "dev"
            if embedded:
                from infra.local_database import local_database

                url = stack.enter_context(local_database(settings.local_data_dir, settings.local_db_port))
            if not url:
                raise ConfigurationError(
                    f"{TARGET_SETTINGS[name].upper()} is not set; it is required for --target {name}"
                )
            targets.append(Target(name, url, embedded))
        yield targets


@contextmanager
def settings_for_database(url: str) -> Iterator[Settings]:
    """This process's settings and database, pointed at `url` for the block.

    As DATABASE_URL would: every code path (workers, cleanup, reconcile) reads the one
    process-wide Settings, so the URL is put where they read it, and taken back after.
    """
    before = os.environ.get("DATABASE_URL")
    os.environ["DATABASE_URL"] = url
    get_settings.cache_clear()
    db.set_database(None)
    try:
        yield get_settings()
    finally:
        db.set_database(None)
        if before is None:
            os.environ.pop("DATABASE_URL", None)
        else:
            os.environ["DATABASE_URL"] = before
        get_settings.cache_clear()


@contextmanager
def operating_on(target: str, *, schema: bool = True) -> Iterator[Settings]:
    """The settings an operating command runs with against one target: the one way every
    command but `db status|push|verify` (which manage the schema itself) opens `--target`.

    On dev, the other settings keep their embedded defaults (local storage, the outbox,
    the local payments provider in `.restoreclick/`), so a command sees what
    `restoreclick dev` serves. The embedded database is migrated first, as `dev` does;
    any other database is the operator's to migrate (`restoreclick db push`), and one with
    no schema yet stops the command, naming the push to run.

    `schema=False` is for a command that brings its own schema (`db restore`): the
    embedded database is not migrated (that would fill the empty database it restores
    into) and a database without the schema is what it expects, not an error.
    """
    settings = get_settings()
    with open_targets(chosen_names([target], False, settings), settings) as [chosen]:
        if chosen.embedded and schema:
            from shared.migrations import push_migrations

            push_migrations(chosen.url, settings.migrations_dir)
        _check_reachable(chosen, settings, schema=schema)
        if chosen.url == settings.database_url:
            yield settings  # already the process's database: nothing to repoint
            return
        with settings_for_database(chosen.url) as pointed:
            yield pointed


def target_url(settings: Settings) -> str:
    """The database URL of settings `operating_on` yielded (always set there)."""
    if not settings.database_url:
        raise ConfigurationError("DATABASE_URL is not set; it is required here")
    return settings.database_url


def display_url(url: str) -> str:
    """A database URL without its password, for printing."""
    return Target("", url).display_url


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print one line on stderr; the Exit to raise."""
    print(f"restoreclick: {message}", file=sys.stderr)
    return typer.Exit(code)


def print_json(value: Any) -> None:
    """JSON on stdout, for scripts (dates as ISO strings, ids as strings)."""
    print(json.dumps(value, indent=2, default=str))


def operator_name() -> str:
    """Who ran the command, for the audit trail: the login of the shell running it."""
    import getpass

    try:
        return f"operator:{getpass.getuser()}"[:200]
    except (KeyError, OSError):
        return "operator"


def _check_reachable(target: Target, settings: Settings, *, schema: bool = True) -> None:
    """Fail before any work, naming the database, when it cannot be reached or has no schema."""
    import psycopg

    try:
        with psycopg.connect(target.url, connect_timeout=settings.db_connect_timeout_seconds) as conn:
            found = conn.execute("select to_regclass('public.orders') is not null").fetchone()
    except psycopg.ProgrammingError as exc:  # not a connection string psycopg can read
        setting = TARGET_SETTINGS[target.name].upper()
        raise CannotRun(f"{setting} is not a valid PostgreSQL URL: {str(exc).strip().splitlines()[0]}") from exc
    except psycopg.OperationalError as exc:
        reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise CannotRun(f"cannot reach the {target.name} database at {target.display_url}: {reason}") from exc
    if schema and not (found and found[0]):
        raise CannotRun(
            f"the {target.name} database at {target.display_url} has no schema yet: "
            f"run ./restoreclick db push --target {target.name}"
        )
