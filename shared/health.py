"""`GET /api/health`: is the database reachable, and is its schema up to date?"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from shared.core import db
from shared.core.config import get_settings
from shared.core.errors import RestoreClickError

router = APIRouter(tags=["health"])


def database_state() -> dict[str, Any]:
    """Server version, applied migrations and, where the files are at hand, pending ones."""
    with db.get_database().transaction() as conn:
        state = dict(db.one(conn, "database_health"))
    folder = get_settings().migrations_dir
    if folder.is_dir():
        from shared.migrations import migration_files

        versions = {f.version for f in migration_files(folder)}
        latest = state["latest_migration"] or ""
        state["pending_migrations"] = len([v for v in versions if v > latest])
    return state


def storage_state() -> dict[str, Any]:
    """Whether the bucket is there and answers: a wrong bucket name or key reads as
    "no objects" on some endpoints (Supabase lists a missing bucket as empty), so ask."""
    from shared.deps import get_storage

    try:
        get_storage().check_bucket()
    except RestoreClickError as exc:
        return {"reachable": False, "error": exc.code}
    return {"reachable": True}


@router.get("/api/health")
def health() -> JSONResponse:
    """200 with the database's state when it and storage answer; 503 when one does not."""
    storage = storage_state()
    try:
        state = database_state()
    except RestoreClickError as exc:
        return JSONResponse(
            {"status": "unavailable", "database": {"reachable": False, "error": exc.code}, "storage": storage},
            status_code=503,
        )
    ok = storage["reachable"]
    return JSONResponse(
        {"status": "ok" if ok else "unavailable", "database": {"reachable": True, **state}, "storage": storage},
        status_code=200 if ok else 503,
    )
