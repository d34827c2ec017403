"""Storage in a folder on disk: the embedded default for `restoreclick dev` and tests.

Signed URLs point at the dev server's `/local-storage/` routes and carry an HMAC over the
method, path, expiry and download name, so a link works for exactly one purpose until it
expires (an upload link cannot be used to download).
"""

from __future__ import annotations

import builtins
import hashlib
import hmac
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, BinaryIO, cast
from urllib.parse import quote, urlencode

from shared.storage.base import SignedUpload, StorageObjectMissing, StorageUnavailable, StoredObject, check_path

CHUNK = 1024 * 1024


def sign(secret: str, method: str, path: str, expires: int, download: str = "", max_bytes: str = "") -> str:
    message = "\n".join([method.upper(), path, str(expires), download, max_bytes]).encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


class LocalObjectStore:
    def __init__(self, root: Path, bucket: str, signing_secret: str, public_base_url: str) -> None:
        self.root = (root / bucket).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self.signing_secret = signing_secret
        self.public_base_url = public_base_url.rstrip("/")

    def file(self, path: str) -> Path:
        target = (self.root / check_path(path)).resolve()
        if not target.is_relative_to(self.root):
            raise ValueError(f"invalid object path {path!r}")
        return target

    def put(self, path: str, data: bytes | BinaryIO, content_type: str) -> None:
        with self.writer(path, content_type) as out:
            if isinstance(data, bytes):
                out.write(data)
            else:
                shutil.copyfileobj(data, out, CHUNK)

    @contextmanager
    def writer(self, path: str, content_type: str) -> Iterator[BinaryIO]:
        target = self.file(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        # Write beside the target, then rename: readers never see half an object.
        fd, temp = tempfile.mkstemp(dir=target.parent, prefix=".partial-")
        try:
            with os.fdopen(fd, "w+b") as out:
                yield cast(BinaryIO, out)
            os.replace(temp, target)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise

    def create(self, path: str, data: IO[bytes]) -> None:
        """Store `data` at `path` only if nothing is there yet (FileExistsError otherwise).

        A hard link of the finished file is atomic and refuses an existing name, so of two
        concurrent uploads to one signed URL exactly one is kept.
        """
        target = self.file(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=target.parent, prefix=".partial-")
        try:
            with os.fdopen(fd, "w+b") as out:
                shutil.copyfileobj(data, out, CHUNK)
            os.link(temp, target)
        finally:
            Path(temp).unlink(missing_ok=True)

    def open(self, path: str) -> BinaryIO:
        try:
            return self.file(path).open("rb")
        except FileNotFoundError:
            raise StorageObjectMissing(f"no object at {path}") from None

    def read(self, path: str) -> bytes:
        with self.open(path) as stream:
            return stream.read()

    def stat(self, path: str) -> StoredObject | None:
        try:
            info = self.file(path).stat()
        except FileNotFoundError:
            return None
        return StoredObject(path, info.st_size, datetime.fromtimestamp(info.st_mtime, UTC))

    def list(self, prefix: str) -> list[StoredObject]:
        base = self.root / prefix if prefix else self.root
        if not base.resolve().is_relative_to(self.root):
            raise ValueError(f"invalid prefix {prefix!r}")
        root = str(self.root)
        found = []
        # Walked as plain names, never a Path per entry: the temporary area keeps a folder
        # for every upload session ever made, and cleanup lists it on every run.
        for folder, _, names in os.walk(base):
            relative = folder[len(root) + 1 :].replace(os.sep, "/")
            at = f"{relative}/" if relative else ""
            for name in names:
                if name.startswith(".partial-"):
                    continue
                try:
                    info = os.stat(os.path.join(folder, name))
                except FileNotFoundError:
                    continue  # deleted while being listed
                found.append(StoredObject(at + name, info.st_size, datetime.fromtimestamp(info.st_mtime, UTC)))
        found.sort(key=lambda stored: stored.path.split("/"))  # part by part, as paths compare
        return found

    def delete(self, paths: builtins.list[str]) -> None:
        # Check every path before deleting any: a bad path must not leave half a batch done.
        for file in [self.file(path) for path in paths]:
            file.unlink(missing_ok=True)

    def move(self, source: str, destination: str) -> None:
        src, dst = self.file(source), self.file(destination)
        if src == dst:
            if not src.exists():
                raise StorageObjectMissing(f"no object at {source}")
            return
        if not src.exists():
            if dst.exists():
                return  # moved already
            raise StorageObjectMissing(f"no object at {source} or {destination}")
        dst.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(src, dst)
        except FileNotFoundError:
            # A concurrent move of the same object won the race: fine if it arrived.
            if not dst.exists():
                raise StorageObjectMissing(f"no object at {source} or {destination}") from None

    def check_bucket(self) -> None:
        if not self.root.is_dir():
            raise StorageUnavailable(f"the local storage folder {self.root} is missing")

    def _signed(self, method: str, path: str, expires: int, download: str = "", max_bytes: str = "") -> str:
        check_path(path)
        query: dict[str, str | int] = {
            "expires": expires,
            "sig": sign(self.signing_secret, method, path, expires, download, max_bytes),
        }
        if download:
            query["download"] = download
        if max_bytes:
            query["max"] = max_bytes
        return f"{self.public_base_url}/local-storage/{quote(path)}?{urlencode(query)}"

    def signed_download_url(self, path: str, expires_in: int, download_name: str | None = None) -> str:
        return self._signed("GET", path, int(time.time()) + expires_in, download_name or "")

    def signed_upload_url(self, path: str, expires_in: int, content_type: str, max_bytes: int) -> SignedUpload:
        # The size cap is signed into the URL, as an S3 POST policy signs its
        # content-length-range; the route also refuses to replace an existing object.
        expires = int(time.time()) + expires_in
        url = self._signed("PUT", path, expires, max_bytes=str(max_bytes))
        return SignedUpload(url, "PUT", {"content-type": content_type}, expires_at=datetime.fromtimestamp(expires, UTC))
