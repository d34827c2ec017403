"""Photos too large for a Lambda request go straight to storage through signed URLs.

1. `announce_direct_uploads`: the customer says what they will send (name, size, type);
   each photo gets a pending row, a slot in the session and a signed upload URL.
2. The browser PUTs the bytes to storage; they never pass through a function.
3. `complete_direct_upload`: the stored object is moved where no URL writes, then
   checked like any upload (size as declared, a real photo by its bytes); it becomes
   `uploaded`, or is deleted with the reason given back.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from dataclasses import dataclass
from uuid import UUID

from pydantic import BaseModel, Field

from shared.core import db
from shared.core.config import Settings
from shared.core.errors import (
    Conflict,
    NotFound,
    PayloadTooLarge,
    RestoreClickError,
    UnsupportedMediaType,
    ValidationFailed,
)
from shared.storage import SignedUpload, StorageService
from shared.uploads.filenames import refuse_path_tricks
from shared.uploads.photo_checks import (
    ACCEPTED_CONTENT_TYPES,
    EXTENSION_BY_CONTENT_TYPE,
    PhotoFacts,
    inspect_photo,
    sanitise_filename,
)
from shared.uploads.sessions import (
    UploadedPhoto,
    UploadSession,
    ensure_session_accepts_photos,
    insert_photo,
    make_room_for_photos,
    upload_session,
)


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
    announced = [AnnouncedPhoto(row, _signed(storage, settings, row)) for row in rows]
    return session, announced


def complete_direct_upload(
    database: db.Database, storage: StorageService, settings: Settings, file_id: UUID
) -> UploadedPhoto:
    """Take the object a signed upload stored out of the URL's reach, check it; mark it
    uploaded, or delete it and say why.

    The object is moved from the incoming key (the only one a URL can write) to the kept
    key first, and the kept object is what is checked, under the row's lock: the bytes
    checked are the bytes restored, whatever is sent to the URL before or after.
    Safe to repeat: completing an already completed photo answers it again.
    """
    refusal: RestoreClickError | None = None
    with database.transaction(actor="upload") as conn:
        row = db.maybe_one(conn, "lock_direct_upload", file_id=str(file_id))
        if row is None:
            return _not_lockable(conn, file_id)
        photo = UploadedPhoto.model_validate(row)
        if photo.status in ("uploaded", "claimed"):
            return photo
        if photo.status != "pending":
            raise _closed()
        ensure_session_accepts_photos(upload_session(conn, photo.upload_session_id))
        try:
            facts = _take_and_check(storage, photo, settings)
        except RestoreClickError as exc:
            if exc.code == "not_uploaded":
                raise
            refusal = exc
            if db.maybe_one(conn, "remove_photo", file_id=str(photo.id)) is not None:
                db.execute(conn, "release_photo_slot", upload_session_id=str(photo.upload_session_id))
        else:
            return db.one(
                conn, "complete_direct_upload", UploadedPhoto,
                file_id=str(file_id), content_type=facts.content_type, sha256=facts.sha256,
                width=facts.width, height=facts.height,
            )  # fmt: skip
    # A refused upload leaves nothing: its row closed and its slot freed (committed
    # above), then its objects deleted.
    storage.delete_objects([photo.storage_path, storage.incoming_path_for(photo.storage_path)])
    raise refusal


def _not_lockable(conn: db.Connection, file_id: UUID) -> UploadedPhoto:
    row = db.maybe_one(conn, "direct_upload_by_id", file_id=str(file_id))
    if row is None:
        raise NotFound("no announced upload with that id", code="photo_not_found")
    photo = UploadedPhoto.model_validate(row)
    if photo.status in ("uploaded", "claimed"):
        return photo
    if photo.status == "pending":
        raise Conflict("this upload is being checked right now; ask again in a moment", code="upload_being_checked")
    raise _closed()


def _closed() -> Conflict:
    return Conflict("this upload was refused or removed; announce it again", code="upload_closed")


def _take_and_check(storage: StorageService, photo: UploadedPhoto, settings: Settings) -> PhotoFacts:
    incoming = storage.incoming_path_for(photo.storage_path)
    if storage.store.stat(incoming) is not None:
        storage.move(incoming, photo.storage_path)
    stored = storage.store.stat(photo.storage_path)
    if stored is None:
        raise Conflict(
            "nothing has been uploaded to the signed URL yet; upload, then complete",
            code="not_uploaded",
        )
    if stored.size != photo.size_bytes:
        raise ValidationFailed(
            f"{photo.filename}: {stored.size} bytes arrived but {photo.size_bytes} were announced",
            code="size_mismatch",
        )
    return _inspect_stored(storage, photo, settings)


def renew_upload_url(
    database: db.Database, storage: StorageService, settings: Settings, file_id: UUID
) -> AnnouncedPhoto:
    """A fresh signed URL for a photo announced but not yet completed (its URL expired)."""
    with database.transaction() as conn:
        row = db.maybe_one(conn, "direct_upload_by_id", file_id=str(file_id))
        if row is None:
            raise NotFound("no announced upload with that id", code="photo_not_found")
        photo = UploadedPhoto.model_validate(row)
        if photo.status != "pending":
            raise Conflict("only an upload not completed yet can get a new URL", code="upload_not_pending")
        ensure_session_accepts_photos(upload_session(conn, photo.upload_session_id))
    return AnnouncedPhoto(photo, _signed(storage, settings, photo))


def _signed(storage: StorageService, settings: Settings, photo: UploadedPhoto) -> SignedUpload:
    # The cap is the announced size: S3 and local storage refuse a body over it.
    return storage.signed_upload_url(
        photo.storage_path, settings.direct_upload_url_seconds, photo.content_type, photo.size_bytes
    )


def _inspect_stored(storage: StorageService, photo: UploadedPhoto, settings: Settings) -> PhotoFacts:
    # Spool to a temporary file: constant memory, and the decoder may seek.
    with tempfile.SpooledTemporaryFile(max_size=1024 * 1024) as spool:
        with storage.store.open(photo.storage_path) as source:
            shutil.copyfileobj(source, spool, 1024 * 1024)
        spool.seek(0)
        return inspect_photo(
            spool,
            declared_filename=photo.filename,
            declared_content_type=photo.content_type,
            max_bytes=settings.upload_max_bytes,
            max_pixels=settings.upload_max_pixels,
        )
