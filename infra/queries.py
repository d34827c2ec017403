"""The operator's own queries (backup, restore, `db health`), named in infra/sql/*.sql.

They run only from the `restoreclick` command, never in a function, so they live beside it
and are loaded by the same loader as the shop's (shared/core/sql.py) from this folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from shared.core import db
from shared.core.sql import load_queries

QUERIES: dict[str, str] = load_queries(Path(__file__).with_name("sql"))


def rows(conn: db.Connection, name: str, /, **params: Any) -> list[dict[str, Any]]:
    """Every row of the named operator query."""
    with db.translated_errors():
        return conn.execute(QUERIES[name], params).fetchall()


def rows_changed(conn: db.Connection, name: str, /, **params: Any) -> int:
    """Run a named operator statement; the number of rows it touched."""
    with db.translated_errors():
        return conn.execute(QUERIES[name], params).rowcount


def one(conn: db.Connection, name: str, /, **params: Any) -> dict[str, Any]:
    found = rows(conn, name, **params)
    if len(found) != 1:
        raise LookupError(f"{name}: expected one row, got {len(found)}")
    return found[0]
