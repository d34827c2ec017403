"""Storage in an S3 bucket (AWS, or anything that speaks its API) through boto3.

Imported only when STORAGE_BACKEND=s3: boto3 takes a noticeable part of a cold start.
Every botocore failure is translated in `_translated`, once: a missing key becomes
`StorageObjectMissing`, anything else `StorageUnavailable`.
"""

from __future__ import annotations

import builtins
import io
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, BinaryIO
from urllib.parse import quote

import boto3
from boto3.exceptions import Boto3Error
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from shared.storage.base import (
    SignedUpload,
    StorageObjectMissing,
    StorageUnavailable,
    StoredObject,
    check_path,
    spooled_writer,
)

# DeleteObjects takes at most this many keys a request.
DELETE_BATCH = 1000
# SigV4 presigned URLs are refused by S3 beyond a week.
MAX_PRESIGN_SECONDS = 7 * 24 * 3600
_MISSING_CODES = {"NoSuchKey", "404", "NotFound"}


@contextmanager
def _translated(path: str) -> Iterator[None]:
    """Turn botocore's errors into the storage errors the shop handles."""
    try:
        yield
    except ClientError as error:
        code = str(error.response.get("Error", {}).get("Code", ""))
        if code in _MISSING_CODES:
            raise StorageObjectMissing(f"no object at {path}") from error
        raise StorageUnavailable(f"S3 refused the request for {path}: {code or error}") from error
    except (BotoCoreError, Boto3Error) as error:
        # Connection refused, timeouts, a broken stream, an upload that failed midway.
        raise StorageUnavailable(f"S3 could not be reached for {path}: {error}") from error


def content_disposition(download_name: str) -> str:
    """An attachment header that survives any filename (RFC 6266 / RFC 5987 encoding)."""
    return f"attachment; filename*=UTF-8''{quote(download_name, safe='')}"


class _ObjectStream(io.RawIOBase):
    """The response body of a GET, with read errors translated like every other call."""

    def __init__(self, body: Any, path: str) -> None:
        self._body = body
        self._path = path

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        with _translated(self._path):
            chunk = self._body.read(len(buffer))
        buffer[: len(chunk)] = chunk
        return len(chunk)

    def close(self) -> None:
        if not self.closed:
            self._body.close()
        super().close()


class S3ObjectStore:
    """Objects in one S3 bucket. `page_size` bounds a listing request (tests make it small)."""

    def __init__(
        self,
        bucket: str,
        *,
        endpoint_url: str | None = None,
        region: str = "us-east-1",
        client: Any = None,
        page_size: int = 1000,
    ) -> None:
        self.bucket = bucket
        self.page_size = page_size
        self.client = client or boto3.client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=region,
            config=Config(
                signature_version="s3v4",
                retries={"mode": "standard", "max_attempts": 3},
                connect_timeout=5,
                read_timeout=30,
            ),
        )

    def close(self) -> None:
        """Release the client's pooled connections."""
        self.client.close()

    def put(self, path: str, data: bytes | BinaryIO, content_type: str) -> None:
        check_path(path)
        stream = io.BytesIO(data) if isinstance(data, bytes) else data
        with _translated(path):
            # upload_fileobj reads in parts (multipart above 8 MB): constant memory.
            self.client.upload_fileobj(stream, self.bucket, path, ExtraArgs={"ContentType": content_type})

    def writer(self, path: str, content_type: str) -> AbstractContextManager[BinaryIO]:
        return spooled_writer(self, path, content_type)

    def open(self, path: str) -> BinaryIO:
        check_path(path)
        with _translated(path):
            response = self.client.get_object(Bucket=self.bucket, Key=path)
        return io.BufferedReader(_ObjectStream(response["Body"], path))

    def read(self, path: str) -> bytes:
        with self.open(path) as stream:
            return stream.read()

    def stat(self, path: str) -> StoredObject | None:
        check_path(path)
        try:
            with _translated(path):
                head = self.client.head_object(Bucket=self.bucket, Key=path)
        except StorageObjectMissing:
            # HEAD has no body: a missing bucket is a bare 404 too. Ask about the bucket.
            self.check_bucket()
            return None
        return StoredObject(path, head["ContentLength"], head.get("LastModified"), head.get("ContentType"))

    def list(self, prefix: str) -> builtins.list[StoredObject]:
        # A prefix is a folder, as in the other backends: "a" must not list "ab/...".
        if prefix:
            check_path(prefix.rstrip("/"))
            prefix = prefix.rstrip("/") + "/"
        paginator = self.client.get_paginator("list_objects_v2")
        found = []
        with _translated(prefix or "/"):
            pages = paginator.paginate(Bucket=self.bucket, Prefix=prefix, PaginationConfig={"PageSize": self.page_size})
            for page in pages:
                for item in page.get("Contents", []):
                    found.append(StoredObject(item["Key"], item["Size"], item.get("LastModified")))
        return found

    def delete(self, paths: builtins.list[str]) -> None:
        for path in paths:
            check_path(path)
        for start in range(0, len(paths), DELETE_BATCH):
            batch = paths[start : start + DELETE_BATCH]
            with _translated(batch[0]):
                # Deleting a missing key succeeds in S3, so a repeated delete is harmless.
                response = self.client.delete_objects(
                    Bucket=self.bucket,
                    Delete={"Objects": [{"Key": p} for p in batch], "Quiet": True},
                )
            errors = response.get("Errors", [])
            if errors:
                first = errors[0]
                raise StorageUnavailable(
                    f"S3 did not delete {len(errors)} object(s), e.g. {first.get('Key')}: {first.get('Code')}"
                )

    def move(self, source: str, destination: str) -> None:
        check_path(source)
        check_path(destination)
        if source == destination:
            # S3 refuses to copy an object onto itself unchanged; it is where it should be.
            if self.stat(source) is None:
                raise StorageObjectMissing(f"no object at {source}")
            return
        # S3 has no rename: copy, then delete. If we stop between the two, running the
        # move again copies again (same bytes) and deletes; if the delete had happened,
        # the source is gone and the destination is there, which counts as done.
        try:
            with _translated(source):
                self.client.copy_object(
                    Bucket=self.bucket,
                    Key=destination,
                    CopySource={"Bucket": self.bucket, "Key": source},
                )
        except StorageObjectMissing:
            if self.stat(destination) is not None:
                return  # moved already
            raise StorageObjectMissing(f"no object at {source} or {destination}") from None
        self.delete([source])

    def signed_download_url(self, path: str, expires_in: int, download_name: str | None = None) -> str:
        check_path(path)
        params = {"Bucket": self.bucket, "Key": path}
        if download_name:
            params["ResponseContentDisposition"] = content_disposition(download_name)
        # Presigning is done offline: a wrong bucket would only show at the browser.
        self.check_bucket()
        with _translated(path):
            return str(
                self.client.generate_presigned_url("get_object", Params=params, ExpiresIn=_presign_seconds(expires_in))
            )

    def check_bucket(self) -> None:
        try:
            with _translated(self.bucket):
                self.client.head_bucket(Bucket=self.bucket)
        except StorageObjectMissing:
            raise StorageUnavailable(f"S3 has no bucket {self.bucket}") from None

    def signed_upload_url(self, path: str, expires_in: int, content_type: str, max_bytes: int) -> SignedUpload:
        """A POST policy: S3 refuses a body outside its `content-length-range` (400
        EntityTooLarge) and any other key or content type. A presigned PUT could not cap
        the size. S3 cannot refuse to overwrite through a POST policy (conditional writes
        are PUT-only); the shop never reads what this URL writes before moving it away
        from the signed key, so an overwrite only ever replaces an unchecked upload."""
        check_path(path)
        seconds = _presign_seconds(expires_in)
        self.check_bucket()
        with _translated(path):
            post = self.client.generate_presigned_post(
                self.bucket,
                path,
                Fields={"Content-Type": content_type},
                Conditions=[{"Content-Type": content_type}, ["content-length-range", 1, max_bytes]],
                ExpiresIn=seconds,
            )
        expires_at = datetime.now(UTC) + timedelta(seconds=seconds)
        return SignedUpload(str(post["url"]), "POST", {}, dict(post["fields"]), expires_at)


def _presign_seconds(expires_in: int) -> int:
    if not 0 < expires_in <= MAX_PRESIGN_SECONDS:
        raise ValueError(f"S3 signed URLs last between 1 second and 7 days, not {expires_in} s")
    return expires_in
