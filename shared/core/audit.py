"""The audit trail: append-only rows saying who changed what.

Order status changes are audited by the database itself (trigger in migration 010), so no
code path can forget them; everything else that deserves a trace calls `record_audit`.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from shared.core import db


def record_audit(
    conn: db.Connection,
    entity_type: str,
    entity_id: UUID | str,
    action: str,
    *,
    old: dict[str, Any] | None = None,
    new: dict[str, Any] | None = None,
    actor: str = "system",
) -> None:
    db.execute(
        conn, "record_audit",
        entity_type=entity_type, entity_id=str(entity_id), action=action,
        old_values=db.jsonb(old) if old is not None else None,
        new_values=db.jsonb(new) if new is not None else None, actor=actor,
    )  # fmt: skip
