"""The whole shop as one ASGI app (what `restoreclick dev` serves), driven over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from shared import db
from shared.config import Settings, get_settings


@pytest.fixture
def shop(settings: Settings, database: db.Database) -> Iterator[TestClient]:
    """A client of the dev app; the local checkout delivers its events through it too."""
    from infra.dev_server import build_dev_app

    holder: dict[str, TestClient] = {}

    def deliver(payload: bytes, signature: str) -> int:
        response = holder["client"].post(
            "/api/webhooks/stripe", content=payload,
            headers={"stripe-signature": signature, "content-type": "application/json"},
        )
        return response.status_code

    client = TestClient(build_dev_app(get_settings(), deliver), base_url=settings.public_base_url)
    holder["client"] = client
    with client:
        yield client


def rows(conn: db.Connection, query: str, *params: Any) -> list[dict[str, Any]]:
    return conn.execute(query, params).fetchall()  # type: ignore[arg-type]


def stored_files(settings: Settings) -> list[str]:
    """Every object in local storage, as bucket paths."""
    root = settings.storage_dir / settings.storage_bucket
    if not root.exists():
        return []
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
