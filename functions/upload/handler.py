"""Upload function: customers add photos to an upload session, list them, remove one.

Small photos come in the request (multipart); large ones go straight to storage through a
signed URL and are checked when the browser says it is done.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, FastAPI, File, Form, Request, Response, UploadFile
from mangum import Mangum
from pydantic import BaseModel, Field

from shared.core.config import Settings, get_settings
from shared.core.errors import NotFound, UnsupportedMediaType
from shared.core.http import create_app
from shared.deps import get_database, get_storage
from shared.uploads import direct, intake, sessions
from shared.uploads.sessions import UploadedPhoto, UploadSession
from shared.uploads.throttle import throttle_uploads

router = APIRouter(tags=["uploads"])
PREVIEW_SECONDS = 10 * 60


class PhotoOut(BaseModel):
    id: UUID
    filename: str
    size: int
    content_type: str
    width: int | None
    height: int | None
    status: str

    @classmethod
    def of(cls, photo: UploadedPhoto) -> PhotoOut:
        return cls(
            id=photo.id, filename=photo.filename, size=photo.size_bytes,
            content_type=photo.content_type, width=photo.width, height=photo.height,
            status=photo.status,
        )  # fmt: skip


class UploadSessionOut(BaseModel):
    upload_session_id: UUID
    status: str
    expires_at: datetime
    photo_count: int
    photos: list[PhotoOut]


class DirectUploadRequest(BaseModel):
    upload_session_id: UUID | None = None
    files: list[direct.DeclaredPhoto] = Field(min_length=1, max_length=100)


class DirectUploadOut(PhotoOut):
    upload_url: str
    # PUT: the bytes as the body, with upload_headers. POST: a multipart form of
    # upload_fields, then the bytes as a part named "file".
    upload_method: str
    upload_headers: dict[str, str]
    upload_fields: dict[str, str]
    # When the storage server stops taking the URL (its own setting); null if unknown.
    # After it, ask POST /api/uploads/direct/{id}/url for a fresh one.
    upload_expires_at: datetime | None

    @classmethod
    def of_announced(cls, announced: direct.AnnouncedPhoto) -> DirectUploadOut:
        return cls(
            **PhotoOut.of(announced.photo).model_dump(),
            upload_url=announced.upload.url, upload_method=announced.upload.method,
            upload_headers=announced.upload.headers, upload_fields=announced.upload.fields,
            upload_expires_at=announced.upload.expires_at,
        )  # fmt: skip


class DirectUploadsOut(BaseModel):
    upload_session_id: UUID
    expires_at: datetime
    files: list[DirectUploadOut]


def _session_id(raw: str) -> UUID:
    """An upload session id from the path; a malformed one is simply not found."""
    try:
        return UUID(raw)
    except ValueError:
        raise NotFound("no upload session with that id", code="upload_session_not_found") from None


def _client_address(request: Request) -> str | None:
    # Under API Gateway, Mangum puts requestContext.http.sourceIp here: the address the
    # gateway saw, not a header a client could write.
    return request.client.host if request.client else None


def _file_id(raw: str) -> UUID:
    try:
        return UUID(raw)
    except ValueError:
        raise NotFound("no announced upload with that id", code="photo_not_found") from None


def _as_listed(photos: list[UploadedPhoto]) -> list[UploadedPhoto]:
    # Read after the upload's own transaction: the names the cart's listing now gives.
    with get_database().transaction() as conn:
        return sessions.as_listed(conn, photos)


def _session_out(session: UploadSession, photos: list[UploadedPhoto]) -> UploadSessionOut:
    return UploadSessionOut(
        upload_session_id=session.id, status=session.status, expires_at=session.expires_at,
        photo_count=session.photo_count, photos=[PhotoOut.of(p) for p in photos],
    )  # fmt: skip


@router.post("/api/uploads", status_code=201, response_model=UploadSessionOut)
def upload_photos(
    request: Request,
    files: Annotated[list[UploadFile], File(description="One or more photos")],
    upload_session_id: Annotated[str | None, Form()] = None,
    settings: Settings = Depends(get_settings),
) -> UploadSessionOut:
    """Add photos sent in this request to a session (a new one unless an id is given)."""
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("multipart/form-data"):
        raise UnsupportedMediaType("send photos as multipart/form-data", code="multipart_required")
    session_id = _session_id(upload_session_id) if upload_session_id else None
    throttle_uploads(get_database(), settings, "upload", _client_address(request), session_id)
    incoming = [intake.IncomingPhoto(f.filename or "", f.content_type, f.file) for f in files]
    session, added = intake.accept_photos(get_database(), get_storage(), settings, session_id, incoming)
    return _session_out(session, _as_listed(added))


@router.post("/api/uploads/direct", status_code=201, response_model=DirectUploadsOut)
def announce_direct_uploads(
    body: DirectUploadRequest, request: Request, settings: Settings = Depends(get_settings)
) -> DirectUploadsOut:
    """Announce photos too large for a request; answer a signed upload URL for each."""
    throttle_uploads(get_database(), settings, "announce", _client_address(request), body.upload_session_id)
    session, announced = direct.announce_direct_uploads(
        get_database(), get_storage(), settings, body.upload_session_id, body.files
    )
    named = _as_listed([a.photo for a in announced])
    return DirectUploadsOut(
        upload_session_id=session.id,
        expires_at=session.expires_at,
        files=[DirectUploadOut.of_announced(replace(a, photo=p)) for a, p in zip(announced, named, strict=True)],
    )


@router.post("/api/uploads/direct/{file_id}/url", response_model=DirectUploadOut)
def renew_upload_url(file_id: str, request: Request, settings: Settings = Depends(get_settings)) -> DirectUploadOut:
    """A fresh signed URL for an announced photo whose URL expired before it was sent."""
    throttle_uploads(get_database(), settings, "announce", _client_address(request), None)
    announced = direct.renew_upload_url(get_database(), get_storage(), settings, _file_id(file_id))
    return DirectUploadOut.of_announced(replace(announced, photo=_as_listed([announced.photo])[0]))


@router.post("/api/uploads/direct/{file_id}/complete", response_model=PhotoOut)
def complete_direct_upload(file_id: str, settings: Settings = Depends(get_settings)) -> PhotoOut:
    """Check the photo stored through a signed URL: uploaded, or deleted with the reason."""
    photo = direct.complete_direct_upload(get_database(), get_storage(), settings, _file_id(file_id))
    return PhotoOut.of(_as_listed([photo])[0])


@router.get("/api/uploads/{upload_session_id}", response_model=UploadSessionOut)
def list_photos(upload_session_id: str) -> UploadSessionOut:
    """The session and the photos in it."""
    session_id = _session_id(upload_session_id)
    with get_database().transaction() as conn:
        session = sessions.upload_session(conn, session_id)
        photos = sessions.listed_photos(conn, session_id)
    return _session_out(session, photos)


@router.delete("/api/uploads/{upload_session_id}/files/{file_id}", status_code=204)
def remove_photo(upload_session_id: str, file_id: str) -> Response:
    """Remove one photo before checkout."""
    session_id = _session_id(upload_session_id)
    try:
        photo_id = UUID(file_id)
    except ValueError:
        raise NotFound("no photo with that id in this upload session", code="photo_not_found") from None
    with get_database().transaction(actor="upload") as conn:
        removed = sessions.remove_photo(conn, session_id, photo_id)
    storage = get_storage()
    # A direct upload not completed yet has its bytes where the URL wrote them.
    storage.delete_objects([removed.storage_path, storage.incoming_path_for(removed.storage_path)])
    return Response(status_code=204)


def body_limits(settings: Settings) -> dict[str, int]:
    """Multipart uploads may be larger than other requests, up to a Lambda request."""
    return {"/api/uploads": settings.upload_request_body_max_bytes}


def create_upload_app() -> FastAPI:
    settings = get_settings()
    return create_app("upload", [router], body_limit_overrides=body_limits(settings))


app = create_upload_app()
handler = Mangum(app, lifespan="off")
