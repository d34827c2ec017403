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
"""

from __future__ import annotations

import builtins
import io
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime
from typing import Any, BinaryIO, cast

import httpx
from storage3 import SyncStorageClient
from storage3.exceptions import StorageApiError
from storage3.types import CreateSignedUploadUrlOptions
from storage3.utils import StorageException

from shared.storage.base import (
    SignedUpload,
    StorageObjectMissing,
    StorageUnavailable,
    StoredObject,
    check_path,
    spooled_writer,
)

# The Storage API's remove endpoint takes at most this many paths a request.
DELETE_BATCH = 1000


def _is_missing_object(error: StorageApiError) -> bool:
    return str(error.status) == "404" and error.code in ("not_found", "NoSuchKey")


def _is_duplicate(error: StorageApiError) -> bool:
    return str(error.status) == "409" or error.code == "Duplicate"


@contextmanager
def _translated(path: str) -> Iterator[None]:
    """Turn storage3's and httpx's errors into the storage errors the shop handles."""
    try:
        yield
    except StorageApiError as error:
        if _is_missing_object(error):
            raise StorageObjectMissing(f"no object at {path}") from error
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
        folder, _, name = path.rpartition("/")
        # A search is a name-prefix match inside one folder; keep the exact name only.
        for entry in self._entries(folder, search=name):
            if entry["name"] == name and entry.get("id") is not None:
                return self._stored(f"{folder}/{name}" if folder else name, entry)
        return None

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
        return sorted(found, key=lambda o: o.path)

    def _entries(self, folder: str, search: str = "") -> Iterator[dict[str, Any]]:
        """Every entry of one folder, a page at a time."""
        offset = 0
        while True:
            options: dict[str, Any] = {"limit": self.page_size, "offset": offset}
            if search:
                options["search"] = search
            with _translated(folder or "/"):
                page = self.objects.list(f"{folder}/" if folder else "", options)  # type: ignore[arg-type]
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
        for start in range(0, len(paths), DELETE_BATCH):
            batch = paths[start : start + DELETE_BATCH]
            with _translated(batch[0]):
                # Paths that are already gone are skipped by the API, not refused.
                self.objects.remove(batch)

    def move(self, source: str, destination: str) -> None:
        check_path(source)
        check_path(destination)
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
                # The API will not move onto an existing object; the other backends
                # replace it, so this one does too.
                self.objects.remove([destination])
                self.objects.move(source, destination)

    def signed_download_url(self, path: str, expires_in: int, download_name: str | None = None) -> str:
        check_path(path)
        options = {"download": download_name} if download_name else {}
        with _translated(path):
            signed = self.objects.create_signed_url(path, expires_in, options)  # type: ignore[arg-type]
        url = signed["signedURL"]
        if not url:
            raise StorageUnavailable(f"Supabase Storage gave no signed URL for {path}")
        return url

    def signed_upload_url(self, path: str, expires_in: int, content_type: str) -> SignedUpload:
        """A URL the browser PUTs the raw bytes to, with the content type as a header.

        Supabase fixes the lifetime of signed upload URLs (two hours) whatever
        `expires_in` says; the upload is checked on completion either way. upsert lets a
        browser retry a PUT whose answer it never saw.
        """
        check_path(path)
        with _translated(path):
            signed = self.objects.create_signed_upload_url(path, CreateSignedUploadUrlOptions(upsert="true"))
        # This is the endpoint storage3's own upload_to_signed_url sends to.
        return SignedUpload(signed["signed_url"], "PUT", {"content-type": content_type})
