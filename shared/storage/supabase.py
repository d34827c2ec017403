"""Storage in a Supabase Storage bucket through `storage3` (not the `supabase` package,
which would pull in auth, realtime and PostgREST clients we never use).

Imported only when STORAGE_BACKEND=supabase. Every storage3 and httpx failure is
translated in `_translated`, once: a missing object becomes `StorageObjectMissing`,
anything else `StorageUnavailable`.

Supabase Storage answers errors with a body like
`{"statusCode": "404", "error": "not_found", "message": "Object not found"}`; the HTTP
status itself is often 400, so the body's `statusCode` is what tells a missing object from
a broken request. A missing *bucket* is also a 404 but with another `error`: that is a
configuration problem, reported as unavailable rather than as a missing photo.

Some endpoints cannot tell the two apart: the server lists a missing bucket as `200 []`,
removes from it silently, and signs or moves in it as if only the object were missing
(`src/http/routes/object/listObjects.ts`, `deleteObjects.ts`). So an empty listing, a
removal and every "missing" conclusion ask about the bucket first (`GET /bucket/{id}`),
and `stat` uses the object-info endpoint, which names a missing bucket itself
(`getObjectInfo.ts`: `NoSuchBucket` before `findObject`).
"""

from __future__ import annotations

import base64
import builtins
import io
import json
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, BinaryIO, cast
from urllib.parse import parse_qs, urlsplit

import httpx
from storage3 import SyncStorageClient
from storage3.exceptions import StorageApiError
from storage3.utils import StorageException

from shared.storage.base import (
    SignedUpload,
    StorageObjectMissing,
    StorageObjectTooLarge,
    StorageUnavailable,
    StoredObject,
    check_path,
    spooled_writer,
)

if TYPE_CHECKING:
    from storage3.types import ListBucketFilesOptions, URLOptions

# The Storage API's remove endpoint takes at most this many paths a request.
DELETE_BATCH = 1000


def _is_missing_object(error: StorageApiError) -> bool:
    return str(error.status) == "404" and error.code in ("not_found", "NoSuchKey")


def _is_duplicate(error: StorageApiError) -> bool:
    return str(error.status) == "409" or error.code == "Duplicate"


def _is_too_large(error: StorageApiError) -> bool:
    # `EntityTooLarge` in src/internal/errors/codes.ts: 413, error "Payload too large".
    return str(error.status) == "413" or error.code == "Payload too large"


def _token_expiry(signed_url: str) -> datetime | None:
    """When a signed upload URL stops working: the `exp` claim of its JWT. The server
    chooses the lifetime (UPLOAD_SIGNED_URL_EXPIRATION_TIME: 60 s unless configured,
    two hours on hosted Supabase), so it is read, never assumed."""
    token = parse_qs(urlsplit(signed_url).query).get("token", [""])[0]
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
        return datetime.fromtimestamp(int(claims["exp"]), UTC)
    except (ValueError, KeyError, TypeError):
        return None


@contextmanager
def _translated(path: str) -> Iterator[None]:
    """Turn storage3's and httpx's errors into the storage errors the shop handles."""
    try:
        yield
    except StorageApiError as error:
        if _is_missing_object(error):
            raise StorageObjectMissing(f"no object at {path}") from error
        if _is_too_large(error):
            raise StorageObjectTooLarge(f"Supabase Storage refused {path} as over its size limit") from error
        raise StorageUnavailable(
            f"Supabase Storage refused the request for {path}: {error.status} {error.code} {error.message}"
        ) from error
    except (StorageException, httpx.HTTPError) as error:
        # Connection refused, timeouts, a response storage3 could not make sense of.
        raise StorageUnavailable(f"Supabase Storage could not be reached for {path}: {error}") from error


class _ForwardOnly(io.RawIOBase):
    """A caller's stream seen as a plain reader.

    storage3 only streams `BufferedReader`s (anything else it takes for a file name), and
    httpx rewinds seekable files before sending; hiding `seek` makes httpx send the bytes
    from where the caller left the stream, in chunks, like the other backends do.
    """

    def __init__(self, source: BinaryIO) -> None:
        self._source = source

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        chunk = self._source.read(len(buffer))
        buffer[: len(chunk)] = chunk
        return len(chunk)


def _parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


class SupabaseObjectStore:
    """Objects in one Supabase Storage bucket, with the service role's rights.

    `page_size` bounds a listing request (tests make it small). `http_client` lets a caller
    share or configure the connection pool; by default the store owns one.
    """

    def __init__(
        self,
        supabase_url: str,
        service_role_key: str,
        bucket: str,
        *,
        page_size: int = 1000,
        timeout: float = 30.0,
        http_client: httpx.Client | None = None,
    ) -> None:
        self.bucket = bucket
        self.page_size = page_size
        self._http = http_client or httpx.Client(timeout=timeout, follow_redirects=True)
        # storage3 wants the trailing slash (it warns and adds one otherwise); the headers
        # are sent with every request, so a caller-supplied client needs none of its own.
        self.client = SyncStorageClient(
            f"{supabase_url.rstrip('/')}/storage/v1/",
            {"apiKey": service_role_key, "Authorization": f"Bearer {service_role_key}"},
            http_client=self._http,
        )
        self.objects = self.client.from_(bucket)

    def close(self) -> None:
        """Release the pooled connections."""
        self._http.close()

    def put(self, path: str, data: bytes | BinaryIO, content_type: str) -> None:
        check_path(path)
        body = data if isinstance(data, bytes) else cast(io.BufferedReader, io.BufferedReader(_ForwardOnly(data)))
        with _translated(path):
            # upsert: writing a path again replaces the object, as in the other backends.
            self.objects.upload(path, body, {"content-type": content_type, "upsert": "true"})

    def writer(self, path: str, content_type: str) -> AbstractContextManager[BinaryIO]:
        return spooled_writer(self, path, content_type)

    def open(self, path: str) -> BinaryIO:
        # storage3 reads a download whole; photos are bounded by UPLOAD_MAX_BYTES, and
        # callers (ZIP writing, photo checks) open one object at a time.
        return io.BytesIO(self.read(path))

    def read(self, path: str) -> bytes:
        check_path(path)
        with _translated(path):
            return self.objects.download(path)

    def stat(self, path: str) -> StoredObject | None:
        check_path(path)
        try:
            with _translated(path):
                info = self.objects.info(path)
        except StorageObjectMissing:
            return None
        return StoredObject(
            path,
            int(info.get("size") or 0),
            _parse_time(info.get("last_modified") or info.get("created_at")),
            info.get("content_type"),
        )

    def check_bucket(self) -> None:
        with _translated(self.bucket):
            self.client.get_bucket(self.bucket)

    def list(self, prefix: str) -> builtins.list[StoredObject]:
        folder = prefix.rstrip("/")
        if folder:
            check_path(folder)
        found: builtins.list[StoredObject] = []
        pending = [folder]
        # Supabase lists one folder level at a time; subfolders come back as entries
        # without an id and are walked in turn.
        while pending:
            current = pending.pop()
            for entry in self._entries(current):
                full = f"{current}/{entry['name']}" if current else entry["name"]
                if entry.get("id") is None:
                    pending.append(full)
                else:
                    found.append(self._stored(full, entry))
        if not found:
            self.check_bucket()  # a missing bucket lists as empty too
        return sorted(found, key=lambda o: o.path)

    def _entries(self, folder: str, search: str = "") -> Iterator[dict[str, Any]]:
        """Every entry of one folder, a page at a time."""
        offset = 0
        while True:
            options: ListBucketFilesOptions = {"limit": self.page_size, "offset": offset}
            if search:
                options["search"] = search
            with _translated(folder or "/"):
                page = self.objects.list(f"{folder}/" if folder else "", options)
            yield from page
            if len(page) < self.page_size:
                return
            offset += len(page)

    @staticmethod
    def _stored(path: str, entry: dict[str, Any]) -> StoredObject:
        metadata = entry.get("metadata") or {}
        return StoredObject(
            path,
            int(metadata.get("size") or 0),
            _parse_time(entry.get("updated_at") or entry.get("created_at")),
            metadata.get("mimetype"),
        )

    def delete(self, paths: builtins.list[str]) -> None:
        for path in paths:
            check_path(path)
        if paths:
            self.check_bucket()  # removing from a missing bucket "succeeds" silently
        for start in range(0, len(paths), DELETE_BATCH):
            batch = paths[start : start + DELETE_BATCH]
            with _translated(batch[0]):
                # Paths that are already gone are skipped by the API, not refused.
                self.objects.remove(batch)

    def move(self, source: str, destination: str) -> None:
        check_path(source)
        check_path(destination)
        if source == destination:
            # The server answers "moved" and changes nothing (moveObject in
            # src/storage/object.ts); never take the remove-then-move path below for it.
            if self.stat(source) is None:
                raise StorageObjectMissing(f"no object at {source}")
            return
        try:
            self._move(source, destination)
        except StorageObjectMissing:
            if self.stat(destination) is not None:
                return  # moved already
            raise StorageObjectMissing(f"no object at {source} or {destination}") from None

    def _move(self, source: str, destination: str) -> None:
        with _translated(source):
            try:
                self.objects.move(source, destination)
            except StorageApiError as error:
                if not _is_duplicate(error):
                    raise
                # The API will not move onto an existing object (the rename hits the
                # unique name); the other backends replace it, so this one does too.
                # Source and destination differ here, so the source survives the remove.
                self.objects.remove([destination])
                self.objects.move(source, destination)

    def signed_download_url(self, path: str, expires_in: int, download_name: str | None = None) -> str:
        check_path(path)
        options: URLOptions = {"download": download_name} if download_name else {}
        try:
            with _translated(path):
                signed = self.objects.create_signed_url(path, expires_in, options)
        except StorageObjectMissing:
            self.check_bucket()  # signing in a missing bucket reports the object missing
            raise
        url = signed["signedURL"]
        if not url:
            raise StorageUnavailable(f"Supabase Storage gave no signed URL for {path}")
        return url

    def signed_upload_url(self, path: str, expires_in: int, content_type: str, max_bytes: int) -> SignedUpload:
        """A URL the browser PUTs the raw bytes to, with the content type as a header.

        Signed without upsert, so the server refuses (409 Duplicate) to replace anything
        already at the path. The server fixes the lifetime itself, whatever `expires_in`
        says; the URL's token says when it ends. The size is capped by the bucket's
        `file_size_limit` (migration 015), since a Supabase token carries no size.
        """
        del expires_in, max_bytes
        check_path(path)
        with _translated(path):
            signed = self.objects.create_signed_upload_url(path)
        url = signed["signed_url"]
        # This is the endpoint storage3's own upload_to_signed_url sends to.
        return SignedUpload(url, "PUT", {"content-type": content_type}, expires_at=_token_expiry(url))
