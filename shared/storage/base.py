"""The small interface every storage backend implements, and its errors."""

from __future__ import annotations

import builtins
import tempfile
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import BinaryIO, Protocol, cast

from shared.errors import NotFound, ServiceUnavailable


class StorageObjectMissing(NotFound):
    code = "object_missing"


class StorageUnavailable(ServiceUnavailable):
    code = "storage_unavailable"


@dataclass(frozen=True)
class StoredObject:
    path: str
    size: int
    updated_at: datetime | None = None
    content_type: str | None = None


@dataclass(frozen=True)
class SignedUpload:
    """Where and how a browser sends bytes straight to storage."""

    url: str
    method: str = "PUT"
    headers: dict[str, str] = field(default_factory=dict)


class ObjectStore(Protocol):
    """Objects in one bucket, addressed by path. Moves and deletes are idempotent, so an
    interrupted operation can simply be run again."""

    def put(self, path: str, data: bytes | BinaryIO, content_type: str) -> None: ...

    def writer(self, path: str, content_type: str) -> AbstractContextManager[BinaryIO]:
        """A new seekable file to write an object into: the object is stored, whole, when
        the block ends, and not at all if the block raises."""
        ...

    def open(self, path: str) -> BinaryIO:
        """A readable stream of the object (close it when done)."""
        ...

    def read(self, path: str) -> bytes: ...

    def stat(self, path: str) -> StoredObject | None: ...

    def list(self, prefix: str) -> list[StoredObject]:
        """Every object under `prefix`, however many (pages are fetched as needed)."""
        ...

    def delete(self, paths: builtins.list[str]) -> None: ...

    def move(self, source: str, destination: str) -> None:
        """Move an object; succeeds again if it was already moved."""
        ...

    def signed_download_url(self, path: str, expires_in: int, download_name: str | None = None) -> str: ...

    def signed_upload_url(self, path: str, expires_in: int, content_type: str) -> SignedUpload: ...


@contextmanager
def spooled_writer(store: ObjectStore, path: str, content_type: str) -> Iterator[BinaryIO]:
    """`writer` for a backend that can only upload a finished object: the bytes go to a
    temporary file, which is put once the block is done."""
    check_path(path)
    with tempfile.TemporaryFile() as spool:
        yield cast(BinaryIO, spool)
        spool.seek(0)
        store.put(path, cast(BinaryIO, spool), content_type)


def check_path(path: str) -> str:
    """Refuse object paths that could escape their folder; backends call this first."""
    if (
        not path
        or path.startswith("/")
        or "\\" in path
        or "\x00" in path
        or any(part in ("", ".", "..") for part in path.split("/"))
    ):
        raise ValueError(f"invalid object path {path!r}")
    return path
