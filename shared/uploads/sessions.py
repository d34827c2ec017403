"""Upload sessions and the photos in them: rows, and the rules for changing them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel

from shared.core import db
from shared.core.errors import Conflict, Gone, NotFound, ValidationFailed
from shared.storage import unique_names

SessionStatus = Literal["open", "checkout", "paid", "expired"]
PhotoStatus = Literal["pending", "uploaded", "claimed", "deleted", "expired"]


class UploadSession(BaseModel):
    id: UUID
    status: SessionStatus
    expires_at: datetime
    photo_count: int
    created_at: datetime


class UploadedPhoto(BaseModel):
    """A `file_uploads` row: one photo in an upload session."""

    id: UUID
    upload_session_id: UUID
    storage_path: str
    filename: str
    content_type: str
    size_bytes: int
    sha256: str | None
    width: int | None
    height: int | None
    status: PhotoStatus
    order_id: UUID | None
    expires_at: datetime
    created_at: datetime


def create_upload_session(conn: db.Connection, session_id: UUID, ttl_hours: int) -> UploadSession:
    return db.one(conn, "create_upload_session", UploadSession, id=str(session_id), ttl_hours=ttl_hours)


def upload_session(conn: db.Connection, session_id: UUID | str) -> UploadSession:
    """The session, or NotFound: an unknown id and a malformed one look the same."""
    found = db.maybe_one(conn, "upload_session_by_id", UploadSession, upload_session_id=str(session_id))
    if found is None:
        raise NotFound("no upload session with that id", code="upload_session_not_found")
    return found


def ensure_session_accepts_photos(session: UploadSession) -> None:
    """Raise the error that says why photos cannot be added or removed now, if any."""
    if session.status == "paid":
        raise Conflict("this upload session was already paid for", code="already_paid")
    if session.status == "checkout":
        raise Conflict(
            "a checkout is open for this upload session; pay or let it expire first",
            code="checkout_in_progress",
        )
    if session.status == "expired" or session.expires_at <= datetime.now(UTC):
        raise Gone("this upload session has expired; start a new one", code="upload_session_expired")


def reserve_photo_slots(conn: db.Connection, session_id: UUID, count: int, max_files: int) -> UploadSession:
    """Make room for `count` more photos in one atomic update, or say why there is none."""
    reserved = db.maybe_one(
        conn, "reserve_photo_slots", UploadSession,
        upload_session_id=str(session_id), count=count, max_files=max_files,
    )  # fmt: skip
    if reserved is not None:
        return reserved
    session = upload_session(conn, session_id)
    ensure_session_accepts_photos(session)
    raise ValidationFailed(
        f"an upload session holds at most {max_files} photos; it has {session.photo_count}",
        code="too_many_photos",
    )


def make_room_for_photos(
    conn: db.Connection, session_id: UUID, count: int, *, new: bool, ttl_hours: int, max_files: int
) -> UploadSession:
    """Create the session if it is `new`, then reserve `count` photo slots in it."""
    if new:
        create_upload_session(conn, session_id, ttl_hours)
    return reserve_photo_slots(conn, session_id, count, max_files)


def insert_photo(conn: db.Connection, **values: object) -> UploadedPhoto:
    return db.one(conn, "insert_file_upload", UploadedPhoto, **values)


def photos_in_session(conn: db.Connection, session_id: UUID | str) -> list[UploadedPhoto]:
    return db.all_rows(conn, "photos_in_session", UploadedPhoto, upload_session_id=str(session_id))


def listed_photos(conn: db.Connection, session_id: UUID | str) -> list[UploadedPhoto]:
    """The session's photos in upload order, each under the name it keeps once paid for.

    Two uploads may share a filename; after payment the status answer, the download page
    and the ZIP tell them apart by unique_names over the order's photos in upload order.
    A checkout takes every photo listed here (it refuses while one is pending), so the
    same call over the same list gives the customer the same names before paying.
    """
    photos = photos_in_session(conn, session_id)
    names = unique_names([p.filename for p in photos])
    return [p.model_copy(update={"filename": name}) for p, name in zip(photos, names, strict=True)]


def as_listed(conn: db.Connection, photos: list[UploadedPhoto]) -> list[UploadedPhoto]:
    """These photos of one session under the names its listing gives them: an upload's
    answer names a photo as the cart then lists it. A photo no longer listed (refused
    after its direct upload) keeps its own name."""
    if not photos:
        return []
    listed = {p.id: p.filename for p in listed_photos(conn, photos[0].upload_session_id)}
    return [p.model_copy(update={"filename": listed.get(p.id, p.filename)}) for p in photos]


def photos_ready_for_checkout(conn: db.Connection, session_id: UUID | str) -> list[UploadedPhoto]:
    return db.all_rows(conn, "photos_ready_for_checkout", UploadedPhoto, upload_session_id=str(session_id))


def remove_photo(conn: db.Connection, session_id: UUID | str, file_id: UUID | str) -> UploadedPhoto:
    """Take a photo out of an open session (before checkout). The row is kept as deleted.

    The session row is locked first, so a removal and a checkout of the same session
    cannot interleave: either the photo is priced, or it is gone.
    """
    session = db.maybe_one(conn, "lock_upload_session", UploadSession, upload_session_id=str(session_id))
    if session is None:
        raise NotFound("no upload session with that id", code="upload_session_not_found")
    photo = db.maybe_one(
        conn, "photo_in_session", UploadedPhoto, upload_session_id=str(session_id), file_id=str(file_id)
    )
    if photo is None:
        raise NotFound("no photo with that id in this upload session", code="photo_not_found")
    holder = db.maybe_one(conn, "checkout_holding_photo", upload_session_id=str(session_id), file_id=str(file_id))
    if holder is not None:
        # Paid for, or paid by a bank debit still clearing (whatever the session's own
        # status says): removing it would leave an order without a photo that was paid for.
        raise Conflict("this photo is part of a payment and cannot be removed", code="photo_paid_for")
    ensure_session_accepts_photos(session)
    removed = db.one(conn, "remove_photo", UploadedPhoto, file_id=str(file_id))
    db.execute(conn, "release_photo_slot", upload_session_id=str(session_id))
    return removed
