"""The shop's storage operations over any backend, and the bucket's layout:

    uploads/incoming/{upload_session_id}/{object} where a signed upload URL writes
    uploads/temp/{upload_session_id}/{object}     before payment (checked photos only)
    uploads/originals/{order_id}/{object}         paid photos
    uploads/restored/{order_id}/{object}          restored photos
    uploads/previews/{order_id}/{kind}-{stem}.jpg each order photo's web preview (kind: original
                                                  or restored; stem: the photo's object name)
    downloads/{order_id}/{name}.zip               the order's ZIP

Object names are generated (uuid + extension); the customer's filename is only data.

No signed URL ever points into `uploads/temp/`: a direct upload lands in
`uploads/incoming/` and is moved to `uploads/temp/` before it is checked, so the bytes
that were checked are the bytes that are kept, whatever is later sent to the URL.
"""

from __future__ import annotations

import shutil
import uuid
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO
from uuid import UUID

from shared.storage.base import ObjectStore, SignedUpload, StorageObjectTooLarge, StoredObject

TEMP = "uploads/temp"
PREVIEWS = "uploads/previews"
# The folders of an order's photos, and the word their previews are named with.
ORDER_PHOTO_KINDS = {"originals": "original", "restored": "restored"}
INCOMING = "uploads/incoming"
CHUNK = 1024 * 1024
ALLOWED_EXTENSIONS = {".jpg", ".jpeg", ".png", ".webp", ".heic", ".zip"}
# What a stored ZIP64 entry costs beyond its bytes: local header (30) and central
# directory record (46), each with the name and a ZIP64 extra field, and the data
# descriptor; rounded up. The end records are counted once per archive.
ENTRY_OVERHEAD = 160
ARCHIVE_OVERHEAD = 200


@dataclass(frozen=True)
class ArchiveEntry:
    archive_name: str
    path: str
    size: int

    @property
    def cost(self) -> int:
        return self.size + ENTRY_OVERHEAD + 2 * len(self.archive_name.encode())


def plan_archive_parts(entries: list[ArchiveEntry], max_object_bytes: int) -> list[list[ArchiveEntry]]:
    """Entries grouped in order into ZIPs of at most `max_object_bytes` each.

    A photo too large to fit a ZIP on its own still gets a part of its own: the server
    decides (and `write_order_archives` falls back when it refuses).
    """
    parts: list[list[ArchiveEntry]] = []
    used = 0
    for entry in entries:
        if parts and used + entry.cost <= max_object_bytes:
            parts[-1].append(entry)
            used += entry.cost
        else:
            parts.append([entry])
            used = ARCHIVE_OVERHEAD + entry.cost
    return parts


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
    def incoming_path_for(temp_path: str) -> str:
        """Where the signed upload URL of the photo kept at `temp_path` writes."""
        if not temp_path.startswith(f"{TEMP}/"):
            raise ValueError(f"{temp_path!r} is not a temporary upload path")
        return INCOMING + temp_path[len(TEMP) :]

    @staticmethod
    def originals_path_for(temp_path: str, order_id: UUID | str) -> str:
        return f"uploads/originals/{order_id}/{temp_path.rsplit('/', 1)[-1]}"

    @staticmethod
    def restored_path(order_id: UUID | str, object_name: str) -> str:
        return f"uploads/restored/{order_id}/{object_name}"

    @staticmethod
    def preview_path_for(photo_path: str) -> str:
        """Where the web preview of the order photo at `photo_path` is kept: in the order's
        previews folder beside its photos' folders, so whatever removes an order's objects
        removes its previews, and derived from the photo's path, so a retried job writes the
        same object again rather than a second one."""
        for kind in ORDER_PHOTO_KINDS:
            prefix = f"uploads/{kind}/"
            if photo_path.startswith(prefix):
                order_id, _, object_name = photo_path[len(prefix) :].partition("/")
                return f"{PREVIEWS}/{order_id}/{ORDER_PHOTO_KINDS[kind]}-{object_name.rsplit('.', 1)[0]}.jpg"
        raise ValueError(f"{photo_path!r} is not an order photo")

    @staticmethod
    def zip_path(order_id: UUID | str, name: str, part: int = 1, parts: int = 1) -> str:
        """The order's ZIP, or part `part` of `parts` when it is split."""
        if parts == 1:
            return f"downloads/{order_id}/{name}.zip"
        return f"downloads/{order_id}/{name}-part-{part}-of-{parts}.zip"

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

    def save_preview(self, photo_path: str, data: bytes) -> str:
        path = self.preview_path_for(photo_path)
        self.store.put(path, data, "image/jpeg")
        return path

    def order_objects(self, order_id: UUID | str) -> list[StoredObject]:
        """Everything stored for an order: originals, restored photos, their previews, ZIPs."""
        return [
            stored
            for folder in ("uploads/originals", "uploads/restored", PREVIEWS, "downloads")
            for stored in self.store.list(f"{folder}/{order_id}/")
        ]

    def delete_order_objects(self, order_id: UUID | str) -> list[str]:
        """Remove every object of an order (for retention and erasure): its previews go with
        its photos."""
        paths = [stored.path for stored in self.order_objects(order_id)]
        self.delete_objects(paths)
        return paths

    def write_order_zip(
        self, order_id: UUID | str, name: str, entries: Iterable[tuple[str, str]], part: int = 1, parts: int = 1
    ) -> StoredObject:
        """Write a ZIP of (name in archive, object path) entries in constant memory.

        Photos are already compressed, so entries are stored, not deflated. The archive is
        written through the store's writer: straight into place on local storage, through
        a temporary file the size of the photos on backends that upload finished objects.
        """
        path = self.zip_path(order_id, name, part, parts)
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

    def write_order_archives(
        self, order_id: UUID | str, name: str, entries: list[ArchiveEntry], max_object_bytes: int
    ) -> list[StoredObject]:
        """The order's photos as ZIPs that each fit the storage's object size limit: one
        ZIP when they fit together, else parts. [] when the server refuses even so (its
        limit is lower than configured): the photos stay downloadable one by one."""
        parts = plan_archive_parts(entries, max_object_bytes)
        written: list[StoredObject] = []
        try:
            for number, part in enumerate(parts, start=1):
                pairs = [(e.archive_name, e.path) for e in part]
                written.append(self.write_order_zip(order_id, name, pairs, number, len(parts)))
        except StorageObjectTooLarge:
            self.delete_objects([w.path for w in written])
            return []
        return written

    def signed_download_url(self, path: str, expires_in: int, download_name: str | None = None) -> str:
        return self.store.signed_download_url(path, expires_in, download_name)

    def signed_upload_url(self, temp_path: str, expires_in: int, content_type: str, max_bytes: int) -> SignedUpload:
        """A URL that writes the incoming object of the photo to be kept at `temp_path`."""
        return self.store.signed_upload_url(self.incoming_path_for(temp_path), expires_in, content_type, max_bytes)

    def remove_temp_older_than(self, cutoff: datetime, limit: int) -> list[str]:
        """Remove at most `limit` temporary objects last written before `cutoff`.

        The caller (cleanup) has already made sure no order claims them.
        """
        old = [o.path for o in self.store.list(f"{TEMP}/") if o.updated_at and o.updated_at < cutoff]
        old = old[:limit]
        self.delete_objects(old)
        return old
