"""One `--target` for the operating commands, resolved as `restoreclick db` resolves it
(infra/commands/targets.py: dev is DATABASE_URL or else the embedded database, started
and stopped around the command; prod is PRODUCTION_DATABASE_URL).

A target that is not configured, or a database that does not answer, is one line on
stderr and exit status 2, not a traceback.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer

from infra.commands.targets import Target, chosen_names, open_targets
from shared.core import db
from shared.core.config import get_settings
from shared.core.errors import ConfigurationError, ServiceUnavailable

TargetOption = Annotated[
    str,
    typer.Option(
        "--target", "-t", help="dev (DATABASE_URL, else the embedded database) or prod (PRODUCTION_DATABASE_URL)."
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print one line on stderr; the Exit to raise."""
    print(f"restoreclick: {message}", file=sys.stderr)
    return typer.Exit(code)


@contextmanager
def one_target(name: str) -> Iterator[Target]:
    """The named target, its database started if it is the embedded one."""
    import psycopg

    settings = get_settings()
    try:
        with open_targets(chosen_names([name], False, settings), settings) as [target]:
            try:
                with db.connect(target.url):
                    pass
            except psycopg.OperationalError as exc:
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise fail(f"the {name} database ({target.display_url}) does not answer: {first}") from None
            yield target
    except ConfigurationError as exc:
        raise fail(exc.message) from None
    except ServiceUnavailable as exc:  # busy, timed out or gone while the command ran
        raise fail(f"the {name} database: {exc.message}") from None


@contextmanager
def target_database(name: str) -> Iterator[db.Database]:
    """The shop's Database over the named target, installed as the process default so the
    shop code a command runs uses it too."""
    settings = get_settings()
    with one_target(name) as target:
        database = db.Database(
            target.url,
            connect_timeout=settings.db_connect_timeout_seconds,
            statement_timeout_ms=settings.db_statement_timeout_ms,
            lock_timeout_ms=settings.db_lock_timeout_ms,
            application_name="restoreclick-operator",
        )
        with db.using_database(database):
            yield database


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
