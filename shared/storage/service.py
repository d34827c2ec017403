"""The shop's storage operations over any backend, and the bucket's layout:

    uploads/temp/{upload_session_id}/{object}     before payment
    uploads/originals/{order_id}/{object}         paid photos
    uploads/restored/{order_id}/{object}          restored photos
    downloads/{order_id}/{name}.zip               the order's ZIP

Object names are generated (uuid + extension); the customer's filename is only data.
"""

from __future__ import annotations

import shutil
import uuid
import zipfile
from collections.abc import Iterable
from datetime import datetime
from typing import BinaryIO
from uuid import UUID

from shared.storage.base import ObjectStore, SignedUpload, StoredObject

TEMP = "uploads/temp"
CHUNK = 1024 * 1024
ALLOWED_EXTENSIONS = {".jpg", ".jpeg", ".png", ".webp", ".heic", ".zip"}


class StorageService:
    def __init__(self, store: ObjectStore) -> None:
        self.store = store

    @staticmethod
    def new_object_name(extension: str) -> str:
        extension = extension.lower() if extension.lower() in ALLOWED_EXTENSIONS else ""
        return uuid.uuid4().hex + extension

    @staticmethod
    def temp_path(upload_session_id: UUID | str, object_name: str) -> str:
        return f"{TEMP}/{upload_session_id}/{object_name}"

    @staticmethod
    def originals_path_for(temp_path: str, order_id: UUID | str) -> str:
        return f"uploads/originals/{order_id}/{temp_path.rsplit('/', 1)[-1]}"

    @staticmethod
    def restored_path(order_id: UUID | str, object_name: str) -> str:
        return f"uploads/restored/{order_id}/{object_name}"

    @staticmethod
    def zip_path(order_id: UUID | str, name: str) -> str:
        return f"downloads/{order_id}/{name}.zip"

    def save_temp_upload(
        self, upload_session_id: UUID | str, object_name: str, data: bytes | BinaryIO, content_type: str
    ) -> str:
        path = self.temp_path(upload_session_id, object_name)
        self.store.put(path, data, content_type)
        return path

    def list_temp(self, upload_session_id: UUID | str) -> list[StoredObject]:
        return self.store.list(f"{TEMP}/{upload_session_id}/")

    def delete_objects(self, paths: list[str]) -> None:
        if paths:
            self.store.delete(paths)

    def move(self, source: str, destination: str) -> None:
        self.store.move(source, destination)

    def move_to_originals(self, temp_path: str, order_id: UUID | str) -> str:
        destination = self.originals_path_for(temp_path, order_id)
        self.store.move(temp_path, destination)
        return destination

    def save_restored(self, order_id: UUID | str, object_name: str, data: bytes | BinaryIO, content_type: str) -> str:
        path = self.restored_path(order_id, object_name)
        self.store.put(path, data, content_type)
        return path

    def write_order_zip(self, order_id: UUID | str, name: str, entries: Iterable[tuple[str, str]]) -> StoredObject:
        """Write a ZIP of (name in archive, object path) entries in constant memory.

        Photos are already compressed, so entries are stored, not deflated. The archive is
        written through the store's writer: straight into place on local storage, through
        a temporary file the size of the photos on backends that upload finished objects.
        """
        path = self.zip_path(order_id, name)
        with self.store.writer(path, "application/zip") as out:
            with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
                for archive_name, object_path in entries:
                    with (
                        self.store.open(object_path) as source,
                        archive.open(archive_name, "w", force_zip64=True) as target,
                    ):
                        shutil.copyfileobj(source, target, CHUNK)
            size = out.tell()
        return StoredObject(path, size)

    def signed_download_url(self, path: str, expires_in: int, download_name: str | None = None) -> str:
        return self.store.signed_download_url(path, expires_in, download_name)

    def signed_upload_url(self, path: str, expires_in: int, content_type: str) -> SignedUpload:
        return self.store.signed_upload_url(path, expires_in, content_type)

    def remove_temp_older_than(self, cutoff: datetime, limit: int) -> list[str]:
        """Remove at most `limit` temporary objects last written before `cutoff`.

        The caller (cleanup) has already made sure no order claims them.
        """
        old = [o.path for o in self.store.list(f"{TEMP}/") if o.updated_at and o.updated_at < cutoff]
        old = old[:limit]
        self.delete_objects(old)
        return old
