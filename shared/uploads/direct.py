"""Photos too large for a Lambda request go straight to storage through signed URLs.

1. `announce_direct_uploads`: the customer says what they will send (name, size, type);
   each photo gets a pending row, a slot in the session and a signed upload URL.
2. The browser PUTs the bytes to storage; they never pass through a function.
3. `complete_direct_upload`: the stored object is checked like any upload (size as
   declared, a real photo by its bytes); it becomes `uploaded`, or is deleted with the
   reason given back.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from dataclasses import dataclass
from uuid import UUID

from pydantic import BaseModel, Field

from shared import db
from shared.config import Settings
from shared.errors import Conflict, NotFound, PayloadTooLarge, RestoreClickError, UnsupportedMediaType, ValidationFailed
from shared.photos import ACCEPTED_CONTENT_TYPES, EXTENSION_BY_CONTENT_TYPE, inspect_photo, sanitise_filename
from shared.storage import SignedUpload, StorageService
from shared.uploads.filenames import refuse_path_tricks
from shared.uploads.sessions import (
    UploadedPhoto,
    UploadSession,
    ensure_session_accepts_photos,
    insert_photo,
    make_room_for_photos,
    upload_session,
)

SIGNED_UPLOAD_SECONDS = 15 * 60


class DeclaredPhoto(BaseModel):
    filename: str = Field(min_length=1, max_length=1000)
    size: int = Field(gt=0)
    content_type: str = Field(min_length=1, max_length=100)


@dataclass
class AnnouncedPhoto:
    photo: UploadedPhoto
    upload: SignedUpload


def _check_declared(declared: DeclaredPhoto, settings: Settings) -> str:
    """Refuse what can be refused before any bytes are sent; return the content type."""
    refuse_path_tricks(declared.filename)
    content_type = declared.content_type.split(";")[0].strip().lower()
    if content_type not in ACCEPTED_CONTENT_TYPES:
        raise UnsupportedMediaType(
            f"{declared.filename}: {content_type} is not accepted; send " + ", ".join(sorted(ACCEPTED_CONTENT_TYPES)),
            code="unsupported_photo_type",
        )
    if declared.size > settings.upload_max_bytes:
        raise PayloadTooLarge(
            f"{declared.filename}: {declared.size} bytes is over the {settings.upload_max_bytes} byte limit",
            code="photo_too_large",
        )
    return content_type


def announce_direct_uploads(
    database: db.Database,
    storage: StorageService,
    settings: Settings,
    session_id: UUID | None,
    declared: list[DeclaredPhoto],
) -> tuple[UploadSession, list[AnnouncedPhoto]]:
    """Reserve a slot and a pending row per photo; hand back a signed upload URL for each."""
    if not declared:
        raise ValidationFailed("announce at least one photo", code="no_photos")
    content_types = [_check_declared(d, settings) for d in declared]
    with database.transaction(actor="upload") as conn:
        new_session = session_id is None
        session_id = session_id or uuid.uuid4()
        session = make_room_for_photos(
            conn, session_id, len(declared), new=new_session,
            ttl_hours=settings.upload_session_ttl_hours, max_files=settings.upload_max_files,
        )  # fmt: skip
        rows = []
        for item, content_type in zip(declared, content_types, strict=True):
            name = storage.new_object_name(EXTENSION_BY_CONTENT_TYPE[content_type])
            rows.append(
                insert_photo(
                    conn,
                    id=str(uuid.uuid4()),
                    upload_session_id=str(session_id),
                    storage_path=storage.temp_path(session_id, name),
                    filename=sanitise_filename(item.filename),
                    content_type=content_type,
                    size_bytes=item.size,
                    sha256=None,
                    width=None,
                    height=None,
                    status="pending",
                )
            )
    announced = [
        AnnouncedPhoto(row, storage.signed_upload_url(row.storage_path, SIGNED_UPLOAD_SECONDS, row.content_type))
        for row in rows
    ]
    return session, announced


def complete_direct_upload(
    database: db.Database, storage: StorageService, settings: Settings, file_id: UUID
) -> UploadedPhoto:
    """Check the object a signed upload stored; mark it uploaded, or delete it and say why.

    Safe to repeat: completing an already completed photo answers it again.
    """
    with database.transaction() as conn:
        row = db.maybe_one(conn, "pending_direct_upload", file_id=str(file_id))
    if row is None:
        raise NotFound("no announced upload with that id", code="photo_not_found")
    photo = UploadedPhoto.model_validate(row)
    if photo.status in ("uploaded", "claimed"):
        return photo
    if photo.status != "pending":
        raise Conflict("this upload was refused or removed; announce it again", code="upload_closed")
    with database.transaction() as conn:
        ensure_session_accepts_photos(upload_session(conn, photo.upload_session_id))

    stored = storage.store.stat(photo.storage_path)
    if stored is None:
        raise Conflict(
            "nothing has been uploaded to the signed URL yet; upload, then complete",
            code="not_uploaded",
        )
    try:
        if stored.size != photo.size_bytes:
            raise ValidationFailed(
                f"{photo.filename}: {stored.size} bytes arrived but {photo.size_bytes} were announced",
                code="size_mismatch",
            )
        facts = _inspect_stored(storage, photo, settings)
    except RestoreClickError:
        _refuse(database, storage, photo)
        raise
    with database.transaction(actor="upload") as conn:
        completed = db.maybe_one(
            conn, "complete_direct_upload", UploadedPhoto,
            file_id=str(file_id), content_type=facts.content_type, sha256=facts.sha256,
            width=facts.width, height=facts.height,
        )  # fmt: skip
    if completed is None:  # completed or removed by a concurrent request meanwhile
        with database.transaction() as conn:
            return UploadedPhoto.model_validate(db.one(conn, "pending_direct_upload", file_id=str(file_id)))
    return completed


def _inspect_stored(storage: StorageService, photo: UploadedPhoto, settings: Settings):  # type: ignore[no-untyped-def]
    # Spool to a temporary file: constant memory, and the decoder may seek.
    with tempfile.SpooledTemporaryFile(max_size=1024 * 1024) as spool:
        with storage.store.open(photo.storage_path) as source:
            shutil.copyfileobj(source, spool, 1024 * 1024)
        spool.seek(0)
        return inspect_photo(
            spool,  # type: ignore[arg-type]  # a binary file, as inspect_photo reads it
            declared_filename=photo.filename,
            declared_content_type=photo.content_type,
            max_bytes=settings.upload_max_bytes,
            max_pixels=settings.upload_max_pixels,
        )


def _refuse(database: db.Database, storage: StorageService, photo: UploadedPhoto) -> None:
    """A refused upload leaves nothing: its object deleted, its slot freed, its row closed."""
    with database.transaction(actor="upload") as conn:
        if db.maybe_one(conn, "remove_photo", file_id=str(photo.id)) is not None:
            db.execute(conn, "release_photo_slot", upload_session_id=str(photo.upload_session_id))
    storage.delete_objects([photo.storage_path])
