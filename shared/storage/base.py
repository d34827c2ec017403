"""The small interface every storage backend implements, and its errors."""

from __future__ import annotations

import builtins
import re
import tempfile
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import BinaryIO, Protocol, cast

from shared.core.errors import NotFound, ServiceUnavailable


class StorageObjectMissing(NotFound):
    code = "object_missing"


class StorageUnavailable(ServiceUnavailable):
    code = "storage_unavailable"


class StorageObjectTooLarge(StorageUnavailable):
    """The server refused an object over its size limit (Supabase: 413, by default 50 MB
    a project and lower per bucket). Retrying the same bytes cannot succeed."""

    code = "storage_object_too_large"


@dataclass(frozen=True)
class StoredObject:
    path: str
    size: int
    updated_at: datetime | None = None
    content_type: str | None = None


@dataclass(frozen=True)
class SignedUpload:
    """Where and how a browser sends bytes straight to storage.

    `PUT`: the raw bytes as the body, with `headers`. `POST` (an S3 POST policy): a
    multipart form of `fields`, then the bytes as its last part, named `file`.
    `expires_at` is when the server stops taking the URL, when the backend says so (a
    Supabase server sets the lifetime itself); None when it does not.
    """

    url: str
    method: str = "PUT"
    headers: dict[str, str] = field(default_factory=dict)
    fields: dict[str, str] = field(default_factory=dict)
    expires_at: datetime | None = None


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
        """Move an object; succeeds again if it was already moved. Moving an object onto
        itself leaves it as it is."""
        ...

    def check_bucket(self) -> None:
        """Raise StorageUnavailable unless the bucket exists and answers."""
        ...

    def signed_download_url(self, path: str, expires_in: int, download_name: str | None = None) -> str: ...

    def signed_upload_url(self, path: str, expires_in: int, content_type: str, max_bytes: int) -> SignedUpload:
        """A URL that creates the object at `path` with at most `max_bytes`, and never
        replaces one already there (where the backend can refuse either)."""
        ...


@contextmanager
def spooled_writer(store: ObjectStore, path: str, content_type: str) -> Iterator[BinaryIO]:
    """`writer` for a backend that can only upload a finished object: the bytes go to a
    temporary file, which is put once the block is done."""
    check_path(path)
    with tempfile.TemporaryFile() as spool:
        yield cast(BinaryIO, spool)
        spool.seek(0)
        store.put(path, cast(BinaryIO, spool), content_type)


# Supabase Storage takes only S3-safe key characters (`VALID_OBJECT_KEY` in its
# src/storage/limits.ts) and compares names case-insensitively when it lists and searches:
# our keys are generated, so they keep to lower-case letters, digits and `_.-/`, which no
# backend treats specially and no case-folding can confuse.
_KEY = re.compile(r"[a-z0-9_./-]+")


def check_path(path: str) -> str:
    """Refuse object paths that could escape their folder or that a backend would read
    differently; backends call this first."""
    if (
        not path
        or not _KEY.fullmatch(path)
        or path.startswith("/")
        or any(part in ("", ".", "..") for part in path.split("/"))
    ):
        raise ValueError(f"invalid object path {path!r}")
    return path
