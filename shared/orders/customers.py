"""Customers: people who paid, one per email address (compared case-insensitively)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel

from shared.core import db


class Customer(BaseModel):
    id: UUID
    email: str
    name: str | None
    phone: str | None
    metadata: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None


def get_or_create_customer(conn: db.Connection, email: str, name: str | None = None) -> Customer:
    """The customer with this email, created if new. Safe under concurrent calls."""
    return db.one(conn, "get_or_create_customer", Customer, email=email.strip(), name=name)
