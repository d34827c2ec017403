"""What an operator sees when a command cannot run: one line on stderr and exit 2.

A missing or invalid setting, a database that cannot be reached or has no schema yet,
an embedded database that cannot start: none of these is a bug, so none gets a
traceback, unless `restoreclick --debug` asks for one.
"""

from __future__ import annotations

from typing import Any

import psycopg
import typer
from pydantic import ValidationError
from typer.core import TyperGroup

from infra.embedded_postgres import EmbeddedPostgresError
from shared.core.errors import RestoreClickError

EXIT_CANNOT_RUN = 2


class CannotRun(Exception):
    """The command cannot do its work against this target; the message says why."""


def one_line(exc: BaseException) -> str:
    """The first line of what went wrong, in an operator's words."""
    if isinstance(exc, RestoreClickError):
        return exc.message
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]).upper() or "settings"
        return f"invalid setting {where}: {first['msg']}"
    if isinstance(exc, psycopg.errors.UndefinedTable):
        return f"the database has no such table ({str(exc).splitlines()[0]}): run ./restoreclick db push"
    if isinstance(exc, psycopg.Error):
        return f"the database refused: {str(exc).strip().splitlines()[0]}"
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


OPERATOR_ERRORS = (CannotRun, RestoreClickError, ValidationError, psycopg.Error, EmbeddedPostgresError)


class OperatorGroup(TyperGroup):
    """The top-level group: turns the errors above into one line and exit 2."""

    def invoke(self, ctx: Any) -> Any:  # typer's own (vendored) click Context
        try:
            return super().invoke(ctx)
        except OPERATOR_ERRORS as exc:
            if ctx.meta.get("restoreclick.debug"):
                raise
            typer.echo(f"restoreclick: {one_line(exc)}", err=True)
            ctx.exit(EXIT_CANNOT_RUN)
