"""Orders: one per paid checkout, numbered YYYYMMDD-NNNNNN per UTC day."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel

from shared.core import db

OrderStatus = Literal["paid", "processing", "completed", "partially_completed", "failed", "refunded", "disputed"]
PaymentStatus = Literal["paid", "refunded", "disputed"]


class Order(BaseModel):
    id: UUID
    order_number: str
    customer_id: UUID
    status: OrderStatus
    payment_status: PaymentStatus
    stripe_checkout_session_id: str | None
    stripe_payment_intent_id: str | None
    upload_session_id: UUID
    image_count: int
    total_amount: int
    currency: str
    paid_at: datetime | None
    completed_at: datetime | None
    metadata: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None


def next_order_number(conn: db.Connection, at: datetime | None = None) -> str:
    """Allocate the next order number of `at`'s UTC day (default: now).

    Must run inside the transaction that creates the order: the counter row stays locked
    until it ends, and rolls back with it.
    """
    number: str = db.one(conn, "next_order_number", at=at or datetime.now(UTC))["order_number"]
    return number


def order_by_id(conn: db.Connection, order_id: UUID | str) -> Order | None:
    return db.maybe_one(conn, "order_by_id", Order, order_id=str(order_id))


def order_by_checkout_session(conn: db.Connection, checkout_session_id: str) -> Order | None:
    return db.maybe_one(conn, "order_by_checkout_session", Order, checkout_session_id=checkout_session_id)


def set_order_status(conn: db.Connection, order_id: UUID | str, status: OrderStatus) -> Order:
    """Change an order's status; the database audits the change (trigger in 010)."""
    return db.one(conn, "set_order_status", Order, order_id=str(order_id), status=status)
