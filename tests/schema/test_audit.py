"""Every change of an order's status writes an audit row with old and new values."""

from __future__ import annotations

import psycopg
import pytest

from shared.core import db
from shared.orders.numbers import set_order_status
from tests.fixtures.factories import order


def audit_rows(conn: db.Connection, order_id: object) -> list[dict]:
    return conn.execute(
        "select action, old_values, new_values, actor from public.audit_logs "
        "where entity_type = 'order' and entity_id = %s order by id",
        [order_id],
    ).fetchall()


def test_creation_and_every_status_change_are_audited_with_the_actor(database: db.Database) -> None:
    with database.transaction(actor="stripe_webhook") as conn:
        o = order(conn)
    with database.transaction(actor="restoration_worker") as conn:
        set_order_status(conn, o["id"], "processing")
        set_order_status(conn, o["id"], "completed")
    with database.transaction() as conn:
        conn.execute("update public.orders set status = 'completed', metadata = '{}' where id = %s", [o["id"]])
        rows = audit_rows(conn, o["id"])
    assert rows == [
        {
            "action": "order.created",
            "old_values": None,
            "new_values": {"status": "paid", "payment_status": "paid", "order_number": o["order_number"]},
            "actor": "stripe_webhook",
        },
        {
            "action": "order.status_changed",
            "old_values": {"status": "paid", "payment_status": "paid"},
            "new_values": {"status": "processing", "payment_status": "paid"},
            "actor": "restoration_worker",
        },
        {
            "action": "order.status_changed",
            "old_values": {"status": "processing", "payment_status": "paid"},
            "new_values": {"status": "completed", "payment_status": "paid"},
            "actor": "restoration_worker",
        },
    ]  # the last update changed no status, so it wrote nothing


def test_the_audit_trail_is_append_only(conn: db.Connection) -> None:
    order(conn)
    with pytest.raises(psycopg.errors.RestrictViolation):
        conn.execute("delete from public.audit_logs")
    with pytest.raises(psycopg.errors.RestrictViolation):
        conn.execute("update public.audit_logs set actor = 'someone else'")
