"""Helpers for tests that drive the shop over HTTP (the `shop` fixture is in tests/conftest.py)."""

from __future__ import annotations

from typing import Any

from shared.core import db
from shared.core.config import Settings


def rows(conn: db.Connection, query: str, *params: Any) -> list[dict[str, Any]]:
    return conn.execute(query, params).fetchall()  # type: ignore[arg-type]


def stored_files(settings: Settings) -> list[str]:
    """Every object in local storage, as bucket paths."""
    root = settings.storage_dir / settings.storage_bucket
    if not root.exists():
        return []
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
