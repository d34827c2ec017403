"""Counting requests per key in fixed windows, in the database: every Lambda container
sees the same counts, and concurrent requests are counted exactly (one INSERT ... ON
CONFLICT DO UPDATE). Uploads refuse what is over (429); resend drops it silently."""

from __future__ import annotations

from dataclasses import dataclass

from shared.core import db


@dataclass(frozen=True)
class Counted:
    hits: int  # this request included
    retry_after: int  # seconds until the window ends


def count_request(conn: db.Connection, key: str, window_seconds: int) -> Counted:
    """Count one more request for `key` (at most 200 characters) in the current window."""
    row = db.one(conn, "count_throttled_request", key=key[:200], window_seconds=window_seconds)
    return Counted(row["hits"], max(1, row["retry_after"]))
