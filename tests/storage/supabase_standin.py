"""A local stand-in for the Supabase Storage API, for the endpoints storage3 calls on our
behalf, so the Supabase backend is tested over real HTTP without an account.

What it imitates, because the backend depends on it:
- every request but a signed one needs `apikey` and `Authorization: Bearer <key>`;
- errors are `{"statusCode": "404", "error": "not_found", "message": ...}` with HTTP 400,
  the service's long-standing habit (the real status is in the body);
- a folder lists one level at a time, sub-folders as entries with `id` null, paged by
  `limit`/`offset`, filtered by a name-prefix `search`;
- uploads refuse an existing path unless `x-upsert: true`; moves refuse an existing
  destination; a signed upload URL made without `x-upsert` refuses one too (the token
  carries `upsert`, `signUploadObjectUrl` in src/storage/object.ts);
- signed URLs carry a token bound to one path and one purpose that expires; a signed
  download honours `download=` with a Content-Disposition attachment;
- a signed upload takes the raw body (what a browser sends) or a multipart form (what
  storage3's own `upload_to_signed_url` sends).

And the behaviours the real server has that a shop can trip over (supabase/storage):
- a missing bucket lists as `200 []` and removes from as `200 []` (listObjects.ts and
  deleteObjects.ts search and delete by bucket id without looking the bucket up); the
  object-info endpoint and `GET /bucket/{id}` answer `404 Bucket not found`
  (getObjectInfo.ts, `ERRORS.NoSuchBucket` in src/internal/errors/codes.ts);
- an object over the upload limit is refused with HTTP 413 `Payload too large`
  (`ERRORS.EntityTooLarge`); the limit is the project's (`FILE_SIZE_LIMIT`, 50 MB by
  default) or the bucket's `file_size_limit` when lower (`getFileSizeLimit` in
  src/storage/limits.ts);
- keys outside `VALID_OBJECT_KEY` (src/storage/limits.ts) are refused `400 InvalidKey`;
- a name-prefix `search` matches case-insensitively (the listing's `ILIKE`);
- moving an object onto itself answers "Successfully moved" and changes nothing
  (`moveObject`: same source and destination key return early);
- signed upload URLs live as long as the server's UPLOAD_SIGNED_URL_EXPIRATION_TIME,
  60 s unless configured (src/config.ts), whatever the client asks; tokens are JWTs
  whose `exp` claim says so.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

# UPLOAD_SIGNED_URL_EXPIRATION_TIME's default in src/config.ts (hosted Supabase: 2 h).
UPLOAD_TOKEN_SECONDS = 60
# FILE_SIZE_LIMIT's default on Supabase projects: 50 MB.
PROJECT_FILE_SIZE_LIMIT = 50 * 1024 * 1024
# VALID_OBJECT_KEY in src/storage/limits.ts.
VALID_OBJECT_KEY = re.compile(r"^[A-Za-z0-9_/!.*'() &$=@;:+,?-]*$")


@dataclass
class StoredBlob:
    data: bytes
    content_type: str
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    updated_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    id: str = field(default_factory=lambda: str(uuid.uuid4()))


class StorageError(Exception):
    def __init__(self, status: str, error: str, message: str, http_status: int = 400) -> None:
        super().__init__(message)
        self.body = {"statusCode": status, "error": error, "message": message}
        self.http_status = http_status


def _object_missing() -> StorageError:
    return StorageError("404", "not_found", "Object not found")


def _timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class SupabaseStandIn:
    """The stand-in's state (buckets of objects in memory) and its FastAPI app."""

    def __init__(
        self,
        service_role_key: str,
        upload_token_seconds: int = UPLOAD_TOKEN_SECONDS,
        file_size_limit: int = PROJECT_FILE_SIZE_LIMIT,
    ) -> None:
        self.service_role_key = service_role_key
        self.upload_token_seconds = upload_token_seconds
        self.file_size_limit = file_size_limit
        self.buckets: dict[str, dict[str, StoredBlob]] = {}
        self.bucket_limits: dict[str, int | None] = {}
        self._secret = secrets.token_bytes(32)
        self._lock = threading.Lock()
        self.app = self._build_app()

    # -- for tests ----------------------------------------------------------------------

    def create_bucket(self, name: str, file_size_limit: int | None = None) -> None:
        with self._lock:
            self.buckets.setdefault(name, {})
            self.bucket_limits[name] = file_size_limit

    def size_limit(self, bucket: str) -> int:
        own = self.bucket_limits.get(bucket)
        return min(self.file_size_limit, own) if own else self.file_size_limit

    def set_updated_at(self, bucket: str, path: str, moment: datetime) -> None:
        with self._lock:
            self.buckets[bucket][path].updated_at = moment

    # -- tokens -------------------------------------------------------------------------

    def _token(self, purpose: str, bucket: str, path: str, expires_in: int, **claims: Any) -> str:
        payload = {
            "purpose": purpose,
            "url": f"{bucket}/{path}",
            "exp": int(time.time()) + expires_in,
            **claims,
        }
        # Shaped like the server's JWTs (header.claims.signature), so `exp` reads the same.
        header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        body = f"{header}.{_b64(json.dumps(payload).encode())}"
        signature = _b64(hmac.new(self._secret, body.encode(), hashlib.sha256).digest())
        return f"{body}.{signature}"

    def _claims(self, token: str, purpose: str, bucket: str, path: str) -> dict[str, Any]:
        body, _, signature = token.rpartition(".")
        expected = _b64(hmac.new(self._secret, body.encode(), hashlib.sha256).digest())
        if not body.count(".") == 1 or not hmac.compare_digest(expected, signature):
            raise StorageError("400", "InvalidJWT", "invalid signature")
        encoded = body.split(".")[1]
        claims: dict[str, Any] = json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
        if claims["exp"] <= time.time():
            raise StorageError("400", "InvalidJWT", '"exp" claim timestamp check failed')
        if claims["purpose"] != purpose or claims["url"] != f"{bucket}/{path}":
            raise StorageError("400", "InvalidSignature", "The url do not match the signature")
        return claims

    # -- the objects --------------------------------------------------------------------

    def _bucket(self, name: str) -> dict[str, StoredBlob]:
        if name not in self.buckets:
            raise StorageError("404", "Bucket not found", "Bucket not found")
        return self.buckets[name]

    def _get(self, bucket: str, path: str) -> StoredBlob:
        blob = self._bucket(bucket).get(path)
        if blob is None:
            raise _object_missing()
        return blob

    def _put(self, bucket: str, path: str, data: bytes, content_type: str, upsert: bool) -> dict[str, str]:
        _valid_key(path)
        if len(data) > self.size_limit(bucket):
            raise StorageError("413", "Payload too large", "The object exceeded the maximum allowed size", 413)
        with self._lock:
            objects = self._bucket(bucket)
            if path in objects and not upsert:
                raise StorageError("409", "Duplicate", "The resource already exists")
            objects[path] = StoredBlob(data, content_type)
            return {"Key": f"{bucket}/{path}", "Id": objects[path].id}

    def _list(self, bucket: str, body: dict[str, Any]) -> list[dict[str, Any]]:
        folder = str(body.get("prefix") or "").strip("/")
        search = str(body.get("search") or "").lower()
        limit, offset = int(body.get("limit", 100)), int(body.get("offset", 0))
        sort = body.get("sortBy") or {}
        start = f"{folder}/" if folder else ""
        entries: dict[str, dict[str, Any]] = {}
        with self._lock:
            for path, blob in self.buckets.get(bucket, {}).items():
                if not path.startswith(start):
                    continue
                name, slash, _ = path[len(start) :].partition("/")
                if search and not name.lower().startswith(search):
                    continue
                if slash:
                    entries.setdefault(name, _folder_entry(name))
                else:
                    entries[name] = _file_entry(name, blob)
        ordered = sorted(entries.values(), key=lambda e: e["name"], reverse=sort.get("order") == "desc")
        return ordered[offset : offset + limit]

    # -- the HTTP API -------------------------------------------------------------------

    def _authorised(self, request: Request) -> bool:
        key = self.service_role_key
        return request.headers.get("apikey") == key and request.headers.get("authorization") == f"Bearer {key}"

    def _build_app(self) -> FastAPI:
        app = FastAPI(openapi_url=None)
        stand_in = self

        @app.middleware("http")
        async def require_key(request: Request, call_next: Any) -> Response:
            signed = request.url.path.startswith(
                ("/storage/v1/object/sign/", "/storage/v1/object/upload/sign/")
            ) and request.method in ("GET", "PUT")
            if not signed and not stand_in._authorised(request):
                return JSONResponse(
                    {"statusCode": "401", "error": "Unauthorized", "message": "Invalid API key"},
                    401,
                )
            return await call_next(request)

        @app.exception_handler(StorageError)
        async def storage_error(request: Request, error: StorageError) -> JSONResponse:
            return JSONResponse(error.body, error.http_status)

        @app.post("/storage/v1/object/list/{bucket}")
        async def list_objects(bucket: str, request: Request) -> JSONResponse:
            return JSONResponse(stand_in._list(bucket, await request.json()))

        @app.post("/storage/v1/object/move")
        async def move(request: Request) -> JSONResponse:
            body = await request.json()
            bucket, source, destination = (
                body["bucketId"],
                body["sourceKey"],
                body["destinationKey"],
            )
            _valid_key(destination)
            with stand_in._lock:
                # findObject by bucket id and name: a missing bucket is a missing object.
                objects = stand_in.buckets.get(bucket, {})
                if source not in objects:
                    raise _object_missing()
                if source == destination:
                    return JSONResponse({"message": "Successfully moved"})
                if destination in objects:
                    raise StorageError("409", "Duplicate", "The resource already exists")
                objects[destination] = objects.pop(source)
                objects[destination].updated_at = datetime.now(UTC)
            return JSONResponse({"message": "Successfully moved"})

        @app.get("/storage/v1/object/info/{bucket}/{path:path}")
        async def info(bucket: str, path: str) -> JSONResponse:
            blob = stand_in._get(bucket, path)
            return JSONResponse(
                {
                    "id": blob.id, "name": path, "version": blob.id, "bucket_id": bucket,
                    "size": len(blob.data), "content_type": blob.content_type,
                    "cache_control": "max-age=3600", "etag": _etag(blob), "metadata": {},
                    "last_modified": _timestamp(blob.updated_at), "created_at": _timestamp(blob.created_at),
                }
            )  # fmt: skip

        @app.get("/storage/v1/bucket/{bucket}")
        async def get_bucket(bucket: str) -> JSONResponse:
            stand_in._bucket(bucket)
            now = _timestamp(datetime.now(UTC))
            return JSONResponse(
                {
                    "id": bucket, "name": bucket, "owner": "", "public": False,
                    "file_size_limit": stand_in.bucket_limits.get(bucket), "allowed_mime_types": None,
                    "created_at": now, "updated_at": now,
                }
            )  # fmt: skip

        @app.post("/storage/v1/object/sign/{bucket}/{path:path}")
        async def sign_download(bucket: str, path: str, request: Request) -> JSONResponse:
            body = await request.json()
            if path not in stand_in.buckets.get(bucket, {}):  # findObject: missing either way
                raise _object_missing()
            token = stand_in._token("download", bucket, path, int(body["expiresIn"]))
            return JSONResponse({"signedURL": f"/object/sign/{bucket}/{quote(path)}?token={token}"})

        @app.get("/storage/v1/object/sign/{bucket}/{path:path}")
        async def signed_download(bucket: str, path: str, request: Request) -> Response:
            stand_in._claims(request.query_params.get("token", ""), "download", bucket, path)
            blob = stand_in._get(bucket, path)
            headers = {"cache-control": "no-cache"}
            if "download" in request.query_params:
                name = request.query_params["download"] or path.rsplit("/", 1)[-1]
                headers["content-disposition"] = f"attachment; filename*=UTF-8''{quote(name, safe='')}"
            return Response(blob.data, media_type=blob.content_type, headers=headers)

        @app.post("/storage/v1/object/upload/sign/{bucket}/{path:path}")
        async def sign_upload(bucket: str, path: str, request: Request) -> JSONResponse:
            stand_in._bucket(bucket)
            upsert = request.headers.get("x-upsert") == "true"
            token = stand_in._token("upload", bucket, path, stand_in.upload_token_seconds, upsert=upsert)
            return JSONResponse({"url": f"/object/upload/sign/{bucket}/{quote(path)}?token={token}"})

        @app.put("/storage/v1/object/upload/sign/{bucket}/{path:path}")
        async def signed_upload(bucket: str, path: str, request: Request) -> JSONResponse:
            claims = stand_in._claims(request.query_params.get("token", ""), "upload", bucket, path)
            data, content_type = await _body_of(request)
            return JSONResponse(stand_in._put(bucket, path, data, content_type, bool(claims.get("upsert"))))

        @app.post("/storage/v1/object/{bucket}/{path:path}")
        async def upload(bucket: str, path: str, request: Request) -> JSONResponse:
            data, content_type = await _body_of(request)
            upsert = request.headers.get("x-upsert") == "true"
            return JSONResponse(stand_in._put(bucket, path, data, content_type, upsert))

        @app.get("/storage/v1/object/{bucket}/{path:path}")
        async def download(bucket: str, path: str) -> Response:
            blob = stand_in._get(bucket, path)
            return Response(blob.data, media_type=blob.content_type)

        @app.delete("/storage/v1/object/{bucket}")
        async def remove(bucket: str, request: Request) -> JSONResponse:
            body = await request.json()
            removed = []
            with stand_in._lock:
                objects = stand_in.buckets.get(bucket, {})
                for path in body["prefixes"]:
                    blob = objects.pop(path, None)
                    if blob is not None:
                        removed.append({"bucket_id": bucket, **_file_entry(path, blob)})
            return JSONResponse(removed)

        return app


async def _body_of(request: Request) -> tuple[bytes, str]:
    """The object's bytes and type, from a multipart form (storage3) or a raw body (a browser)."""
    declared = request.headers.get("content-type", "application/octet-stream")
    if declared.startswith("multipart/form-data"):
        async with request.form() as form:
            part = form["file"]
            if isinstance(part, str):
                raise StorageError("400", "InvalidRequest", "the form has no file")
            return await part.read(), part.content_type or "application/octet-stream"
    return await request.body(), declared


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _etag(blob: StoredBlob) -> str:
    return f'"{hashlib.md5(blob.data).hexdigest()}"'  # an ETag, not security


def _valid_key(key: str) -> None:
    if not key or not VALID_OBJECT_KEY.match(key):
        raise StorageError("400", "InvalidKey", f"Invalid key: {key}")


def _folder_entry(name: str) -> dict[str, Any]:
    return {
        "name": name, "id": None, "updated_at": None, "created_at": None,
        "last_accessed_at": None, "metadata": None,
    }  # fmt: skip


def _file_entry(name: str, blob: StoredBlob) -> dict[str, Any]:
    return {
        "name": name,
        "id": blob.id,
        "updated_at": _timestamp(blob.updated_at),
        "created_at": _timestamp(blob.created_at),
        "last_accessed_at": _timestamp(blob.updated_at),
        "metadata": {
            "eTag": _etag(blob),
            "size": len(blob.data),
            "mimetype": blob.content_type,
            "cacheControl": "max-age=3600",
            "lastModified": _timestamp(blob.updated_at),
            "contentLength": len(blob.data),
            "httpStatusCode": 200,
        },
    }
