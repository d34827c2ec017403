"""Throttling of uploads and direct-upload announcements, per client address and per
upload session, counted in the database (every Lambda container sees the same counts).

A throttled request gets 429 with Retry-After: the seconds until its window ends. The
count happens before the request does any work (parsing aside), and counts refused
requests too: trying harder does not help.
"""

from __future__ import annotations

from uuid import UUID

from shared.core import db
from shared.core.config import Settings
from shared.core.errors import TooManyRequests
from shared.core.throttle import count_request


def throttle_uploads(
    database: db.Database, settings: Settings, action: str, address: str | None, session_id: UUID | None
) -> None:
    """Count this request against its address and its session; TooManyRequests over a limit."""
    window = settings.upload_throttle_window_seconds
    limits = []
    if address and settings.upload_throttle_per_address:
        limits.append((f"{action}:address:{address}"[:200], settings.upload_throttle_per_address, "address"))
    if session_id and settings.upload_throttle_per_session:
        limits.append((f"{action}:session:{session_id}", settings.upload_throttle_per_session, "upload session"))
    if not limits:
        return
    with database.transaction() as conn:
        counted = [(count_request(conn, key, window), limit, what) for key, limit, what in limits]
    for count, limit, what in counted:
        if count.hits > limit:
            raise TooManyRequests(
                f"too many uploads from this {what}: at most {limit} every {window} s; "
                f"try again in {count.retry_after} s",
                retry_after=count.retry_after,
                code="upload_throttled",
            )
