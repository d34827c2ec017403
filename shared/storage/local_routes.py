"""The dev server's side of local signed URLs: `/local-storage/{path}` for GET and PUT.

This plays the part Supabase Storage or S3 play in production: it checks the signature
and expiry, then streams the bytes; nothing is read whole into memory.
"""

from __future__ import annotations

import hmac
import mimetypes
import os
import tempfile
import time
from collections.abc import Iterator
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from shared.core.http import error_body
from shared.storage.local import CHUNK, LocalObjectStore, sign


def _refusal(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse(error_body(code, message), status_code=status)


def _check(store: LocalObjectStore, method: str, path: str, request: Request) -> JSONResponse | None:
    query = request.query_params
    try:
        expires = int(query.get("expires", ""))
    except ValueError:
        return _refusal(403, "bad_signature", "this link is not valid")
    expected = sign(store.signing_secret, method, path, expires, query.get("download", ""), query.get("max", ""))
    if not hmac.compare_digest(expected, query.get("sig", "")):
        return _refusal(403, "bad_signature", "this link is not valid")
    if expires < time.time():
        return _refusal(403, "link_expired", "this link has expired; ask for a new one")
    return None


def _already_there() -> JSONResponse:
    # As Supabase answers a signed upload without upsert onto an existing object.
    return _refusal(409, "already_exists", "something was already uploaded to this link")


def local_storage_router(store: LocalObjectStore, max_upload_bytes: int) -> APIRouter:
    router = APIRouter(tags=["local storage"], include_in_schema=False)

    @router.get("/local-storage/{path:path}")
    def download(path: str, request: Request) -> Response:
        refused = _check(store, "GET", path, request)
        if refused:
            return refused
        try:
            stream = store.open(path)
        except (ValueError, Exception):
            return _refusal(404, "not_found", "no such object")
        # The size of the file opened, which is what is sent: the path may have been
        # replaced or removed since (a writer's rename, cleanup), and a stat of it would lie.
        size = os.fstat(stream.fileno()).st_size

        def chunks() -> Iterator[bytes]:
            with stream:
                while chunk := stream.read(CHUNK):
                    yield chunk

        headers = {"cache-control": "private, no-store", "content-length": str(size)}
        download_name = request.query_params.get("download")
        if download_name:
            headers["content-disposition"] = f"attachment; filename*=UTF-8''{quote(download_name)}"
        # The type the object was stored with, as Supabase and S3 serve it: the local store
        # keeps no metadata, and every object name ends with the extension of its type.
        media_type = mimetypes.guess_type(path)[0] or "application/octet-stream"
        return StreamingResponse(chunks(), media_type=media_type, headers=headers)

    @router.put("/local-storage/{path:path}")
    async def upload(path: str, request: Request) -> Response:
        refused = _check(store, "PUT", path, request)
        if refused:
            return refused
        limit = min(max_upload_bytes, int(request.query_params.get("max") or max_upload_bytes))
        too_large = _refusal(413, "payload_too_large", f"this upload is limited to {limit} bytes")
        try:
            declared = int(request.headers.get("content-length", "0"))
        except ValueError:
            declared = 0
        if declared > limit:
            return too_large
        if store.stat(path) is not None:
            return _already_there()
        # Spool to disk as the body streams in; refuse as soon as it passes the limit.
        with tempfile.SpooledTemporaryFile(max_size=CHUNK) as spool:
            size = 0
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    return too_large
                spool.write(chunk)
            spool.seek(0)
            try:
                store.create(path, spool)
            except FileExistsError:
                return _already_there()
        return Response(status_code=200)

    return router
