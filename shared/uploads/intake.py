"""Photos sent in the request itself (multipart), for files small enough for a Lambda.

Check before work: names, the session's room and the photos' pixel counts (from their
headers) are checked before any photo is decoded. All or nothing: every photo is checked
by its bytes before anything is stored, objects are
stored before rows are written, and if the rows cannot be written the objects are removed.
A crash between the two leaves only unreferenced temporary objects, which cleanup removes.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import BinaryIO
from uuid import UUID

from shared.core import db
from shared.core.config import Settings
from shared.core.errors import PayloadTooLarge, RestoreClickError, ValidationFailed
from shared.storage import StorageService
from shared.uploads.filenames import refuse_path_tricks
from shared.uploads.photo_checks import PhotoFacts, inspect_photo, photo_header
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


@contextmanager
def _naming(photo: IncomingPhoto) -> Iterator[None]:
    try:
        yield
    except RestoreClickError as exc:
        # Say which photo it was: a customer may send twenty at once.
        exc.message = f"{photo.filename}: {exc.message}"
        exc.args = (exc.message,)
        raise


def _checked(photo: IncomingPhoto, settings: Settings) -> PhotoFacts:
    with _naming(photo):
        return inspect_photo(
            photo.data,
            declared_filename=photo.filename,
            declared_content_type=photo.content_type,
            max_bytes=min(settings.upload_request_max_bytes, settings.upload_max_bytes),
            max_pixels=settings.upload_max_pixels,
        )


def _refuse_before_decoding(
    database: db.Database, settings: Settings, session_id: UUID | None, photos: list[IncomingPhoto]
) -> None:
    """Everything that can refuse the request without decoding a pixel, cheapest first:
    names, room in the session, then each header's pixel count against the photo limit
    and their sum against the request's budget. A full session or a request of
    decompression bombs then costs no decode at all."""
    for photo in photos:
        refuse_path_tricks(photo.filename)
    held = 0
    if session_id is not None:
        # Fail fast; the reservation after the checks decides for real.
        with database.transaction() as conn:
            session = upload_session(conn, session_id)
        ensure_session_accepts_photos(session)
        held = session.photo_count
    if held + len(photos) > settings.upload_max_files:
        raise ValidationFailed(
            f"an upload session holds at most {settings.upload_max_files} photos; it has {held}",
            code="too_many_photos",
        )
    pixels = 0
    max_bytes = min(settings.upload_request_max_bytes, settings.upload_max_bytes)
    for photo in photos:
        with _naming(photo):
            photo.data.seek(0, os.SEEK_END)
            if photo.data.tell() > max_bytes:
                raise PayloadTooLarge(f"the photo is larger than the {max_bytes} byte limit", code="photo_too_large")
            photo.data.seek(0)
            _, width, height = photo_header(photo.data, settings.upload_max_pixels)
        pixels += width * height
    if pixels > settings.upload_request_max_pixels:
        raise PayloadTooLarge(
            f"these photos have {pixels} pixels together; one request may carry "
            f"{settings.upload_request_max_pixels}; send them in smaller batches",
            code="request_pixel_budget",
        )


def accept_photos(
    database: db.Database,
    storage: StorageService,
    settings: Settings,
    session_id: UUID | None,
    photos: list[IncomingPhoto],
) -> tuple[UploadSession, list[UploadedPhoto]]:
    """Check, store and record `photos` in the session (a new one when `session_id` is None)."""
    if not photos:
        raise ValidationFailed("send at least one photo in the 'files' field", code="no_photos")
    _refuse_before_decoding(database, settings, session_id, photos)
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
