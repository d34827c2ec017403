"""Photos sent in the request itself (multipart), for files small enough for a Lambda.

All or nothing: every photo is checked by its bytes before anything is stored, objects are
stored before rows are written, and if the rows cannot be written the objects are removed.
A crash between the two leaves only unreferenced temporary objects, which cleanup removes.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import BinaryIO
from uuid import UUID

from shared import db
from shared.config import Settings
from shared.errors import RestoreClickError
from shared.photos import PhotoFacts, inspect_photo
from shared.storage import StorageService
from shared.uploads.filenames import refuse_path_tricks
from shared.uploads.sessions import (
    UploadedPhoto,
    UploadSession,
    ensure_session_accepts_photos,
    insert_photo,
    make_room_for_photos,
    upload_session,
)


@dataclass
class IncomingPhoto:
    filename: str
    content_type: str | None
    data: BinaryIO


def _checked(photo: IncomingPhoto, settings: Settings) -> PhotoFacts:
    refuse_path_tricks(photo.filename)
    try:
        return inspect_photo(
            photo.data,
            declared_filename=photo.filename,
            declared_content_type=photo.content_type,
            max_bytes=min(settings.upload_request_max_bytes, settings.upload_max_bytes),
            max_pixels=settings.upload_max_pixels,
        )
    except RestoreClickError as exc:
        # Say which photo it was: a customer may send twenty at once.
        exc.message = f"{photo.filename}: {exc.message}"
        exc.args = (exc.message,)
        raise


def accept_photos(
    database: db.Database,
    storage: StorageService,
    settings: Settings,
    session_id: UUID | None,
    photos: list[IncomingPhoto],
) -> tuple[UploadSession, list[UploadedPhoto]]:
    """Check, store and record `photos` in the session (a new one when `session_id` is None)."""
    if not photos:
        from shared.errors import ValidationFailed

        raise ValidationFailed("send at least one photo in the 'files' field", code="no_photos")
    if session_id is not None:
        # Fail fast, before any bytes go to storage; the reservation below decides for real.
        with database.transaction() as conn:
            ensure_session_accepts_photos(upload_session(conn, session_id))
    facts = [_checked(photo, settings) for photo in photos]
    new_session = session_id is None
    session_id = session_id or uuid.uuid4()
    stored: list[str] = []
    try:
        for photo, fact in zip(photos, facts, strict=True):
            photo.data.seek(0)
            name = storage.new_object_name(fact.extension)
            stored.append(storage.save_temp_upload(session_id, name, photo.data, fact.content_type))
        with database.transaction(actor="upload") as conn:
            session = make_room_for_photos(
                conn, session_id, len(photos), new=new_session,
                ttl_hours=settings.upload_session_ttl_hours, max_files=settings.upload_max_files,
            )  # fmt: skip
            rows = [
                insert_photo(
                    conn,
                    id=str(uuid.uuid4()),
                    upload_session_id=str(session_id),
                    storage_path=path,
                    filename=fact.filename,
                    content_type=fact.content_type,
                    size_bytes=fact.size_bytes,
                    sha256=fact.sha256,
                    width=fact.width,
                    height=fact.height,
                    status="uploaded",
                )
                for path, fact in zip(stored, facts, strict=True)
            ]
    except BaseException:
        if stored:
            storage.delete_objects(stored)
        raise
    return session, rows
