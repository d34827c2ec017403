"""The shop's storage operations over any backend, in the bucket's layout (storage/layout).

Every part of the shop goes through `StorageService`, never around it to the backend.
No signed URL ever points into `uploads/temp/`: a direct upload lands in
`uploads/incoming/` and is moved to `uploads/temp/` before it is checked, so the bytes
that were checked are the bytes that are kept, whatever is later sent to the URL.
"""

from __future__ import annotations

import shutil
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO
from uuid import UUID

import shared.storage.layout as layout
from shared.storage.base import ObjectStore, SignedUpload, StorageObjectTooLarge, StoredObject

CHUNK = 1024 * 1024
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


def unique_names(names: list[str]) -> list[str]:
    """The customer's filenames, in the order given, made unique for one folder.

    A repeat gets the first free "stem (n).ext": photo.jpg, photo (2).jpg, photo (3).jpg,
    skipping names another photo already has (a customer may upload "photo (2).jpg"
    too). Compared without case, as Windows and macOS extract a ZIP. The same list in
    the same order always gives the same names, so the ZIP and the download page agree
    on every load.
    """
    taken = {name.casefold() for name in names}
    used: set[str] = set()
    unique: list[str] = []
    for name in names:
        candidate, n = name, 1
        dot = name.rfind(".")
        stem, ext = (name[:dot], name[dot:]) if dot > 0 else (name, "")
        while candidate.casefold() in used or (n > 1 and candidate.casefold() in taken):
            n += 1
            candidate = f"{stem} ({n}){ext}"
        used.add(candidate.casefold())
        unique.append(candidate)
    return unique


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

    # The layout, for callers holding the service (written once, in storage/layout).
    new_object_name = staticmethod(layout.new_object_name)
    temp_path = staticmethod(layout.temp_path)
    incoming_path_for = staticmethod(layout.incoming_path_for)
    originals_path_for = staticmethod(layout.originals_path_for)
    restored_path = staticmethod(layout.restored_path)
    zip_path = staticmethod(layout.zip_path)
    order_folders = staticmethod(layout.order_folders)
    preview_path_for = staticmethod(layout.preview_path_for)

    def save_temp_upload(
        self, upload_session_id: UUID | str, object_name: str, data: bytes | BinaryIO, content_type: str
    ) -> str:
        path = self.temp_path(upload_session_id, object_name)
        self.store.put(path, data, content_type)
        return path

    def list_temp(self, upload_session_id: UUID | str) -> list[StoredObject]:
        return self.store.list(f"{layout.TEMP}/{upload_session_id}/")

    def all_temp_objects(self) -> list[StoredObject]:
        """Every object in the temporary area, of every upload session."""
        return self.store.list(f"{layout.TEMP}/")

    def all_incoming_objects(self) -> list[StoredObject]:
        """Every object a signed upload URL wrote and no completion has taken yet."""
        return self.store.list(f"{layout.INCOMING}/")

    def read_photo(self, path: str) -> bytes:
        """A stored photo's bytes, whole (an original to restore, a restored one to attach)."""
        return self.store.read(path)

    def open_photo(self, path: str) -> BinaryIO:
        """A stored photo to read in chunks, in constant memory."""
        return self.store.open(path)

    def take_direct_upload(self, temp_path: str) -> StoredObject | None:
        """What a signed upload URL sent for the photo kept at `temp_path`, moved there
        first if it is still where the URL wrote it (so the bytes checked are the bytes
        kept, whatever is sent to the URL later); None when nothing has arrived."""
        incoming = self.incoming_path_for(temp_path)
        if self.store.stat(incoming) is not None:
            self.store.move(incoming, temp_path)
        return self.store.stat(temp_path)

    def check_bucket(self) -> None:
        """Raise unless the bucket is there and answers."""
        self.store.check_bucket()

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
        return [stored for folder in layout.order_folders(order_id) for stored in self.store.list(folder)]

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
        old = [o.path for o in self.all_temp_objects() if o.updated_at and o.updated_at < cutoff]
        old = old[:limit]
        self.delete_objects(old)
        return old
