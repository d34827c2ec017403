"""Rows for schema tests, inserted with plain SQL so each test controls every column."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.core import db
from shared.orders.customers import get_or_create_customer
from shared.orders.numbers import next_order_number


def insert(conn: db.Connection, table: str, **values: Any) -> dict[str, Any]:
    from psycopg import sql

    statement = sql.SQL("insert into public.{} ({}) values ({}) returning *").format(
        sql.Identifier(table),
        sql.SQL(", ").join(sql.Identifier(k) for k in values),
        sql.SQL(", ").join(sql.Placeholder(k) for k in values),
    )
    row = conn.execute(statement, values).fetchone()
    assert row is not None
    return row


def upload_session(conn: db.Connection) -> dict[str, Any]:
    return insert(conn, "upload_sessions", expires_at=datetime.now(UTC) + timedelta(days=2))


def file_upload(conn: db.Connection, session_id: uuid.UUID, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "upload_session_id": session_id,
        "storage_path": f"uploads/temp/{session_id}/{uuid.uuid4().hex}.jpg",
        "filename": "grandma.jpg",
        "content_type": "image/jpeg",
        "size_bytes": 1234,
        "sha256": "a" * 64,
        "width": 640,
        "height": 480,
        "expires_at": datetime.now(UTC) + timedelta(days=2),
    }
    values.update(overrides)
    return insert(conn, "file_uploads", **values)


def order(conn: db.Connection, **overrides: Any) -> dict[str, Any]:
    customer = get_or_create_customer(conn, f"{uuid.uuid4().hex[:8]}@example.com")
    values: dict[str, Any] = {
        "order_number": next_order_number(conn),
        "customer_id": customer.id,
        "upload_session_id": upload_session(conn)["id"],
        "image_count": 1,
        "total_amount": 999,
        "currency": "usd",
        "stripe_checkout_session_id": f"cs_test_{uuid.uuid4().hex}",
        "paid_at": datetime.now(UTC),
    }
    values.update(overrides)
    return insert(conn, "orders", **values)
