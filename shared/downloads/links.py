"""Download links: a random token in the customer's email, only its SHA-256 in the database.

Tokens are 32 random bytes, URL-safe, with the readable prefix `rc_dl_` so a leaked one is
easy to find (in logs, in a support ticket) and to tell apart from other secrets.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime
from uuid import UUID

from pydantic import BaseModel

from shared.core import db

TOKEN_PREFIX = "rc_dl_"


class DownloadLink(BaseModel):
    id: UUID
    order_id: UUID
    image_id: UUID | None
    expires_at: datetime
    max_downloads: int
    download_count: int
    revoked_at: datetime | None
    revoked_reason: str | None


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def create_download_link(
    conn: db.Connection, order_id: UUID | str, *, ttl_days: int, max_uses: int, image_id: UUID | str | None = None
) -> tuple[str, DownloadLink]:
    """A new link for the order; returns the token (shown once, never stored) and the row."""
    token = new_token()
    link = db.one(
        conn, "create_download_link", DownloadLink,
        order_id=str(order_id), image_id=str(image_id) if image_id else None,
        token_hash=token_hash(token), ttl_days=ttl_days, max_downloads=max_uses,
    )  # fmt: skip
    return token, link
