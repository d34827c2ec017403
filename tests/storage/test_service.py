"""`StorageService`, the shop's storage operations, on every backend."""

from __future__ import annotations

import io
import os
import uuid
import zipfile
from datetime import UTC, datetime, timedelta

import pytest

from shared.storage.service import StorageService
from tests.storage.conftest import Backend


@pytest.fixture
def service(backend: Backend) -> StorageService:
    return StorageService(backend.store)


def test_the_order_zip_holds_every_photo_under_its_archive_name(service: StorageService) -> None:
    order_id = uuid.uuid4()
    photos = {
        "01 grandma.jpg": os.urandom(300_000),
        "02 wedding \u2013 1952.png": os.urandom(1000),
        "03 empty.jpg": b"",
    }
    entries = [
        (name, service.save_restored(order_id, service.new_object_name(".jpg"), data, "image/jpeg"))
        for name, data in photos.items()
    ]

    written = service.write_order_zip(order_id, "restoreclick-order", entries)

    assert written.path == f"downloads/{order_id}/restoreclick-order.zip"
    stat = service.store.stat(written.path)
    assert stat is not None and stat.size == written.size
    with zipfile.ZipFile(io.BytesIO(service.store.read(written.path))) as archive:
        assert archive.testzip() is None
        assert archive.namelist() == list(photos)
        assert {name: archive.read(name) for name in archive.namelist()} == photos


def test_moving_to_originals_can_be_run_again(service: StorageService) -> None:
    session_id, order_id = uuid.uuid4(), uuid.uuid4()
    temp = service.save_temp_upload(session_id, service.new_object_name(".jpg"), b"photo", "image/jpeg")

    first = service.move_to_originals(temp, order_id)
    again = service.move_to_originals(temp, order_id)

    assert first == again == f"uploads/originals/{order_id}/{temp.rsplit('/', 1)[-1]}"
    assert service.store.read(first) == b"photo"
    assert service.list_temp(session_id) == []


def test_removing_old_temp_uploads_respects_the_cutoff_and_the_limit(backend: Backend) -> None:
    service = StorageService(backend.store)
    now = datetime.now(UTC)
    old, recent = [], []
    for session in (uuid.uuid4(), uuid.uuid4()):
        for _ in range(2):
            old.append(service.save_temp_upload(session, service.new_object_name(".jpg"), b"o", "image/jpeg"))
        recent.append(service.save_temp_upload(session, service.new_object_name(".jpg"), b"r", "image/jpeg"))
    paid = service.save_restored(uuid.uuid4(), "r.jpg", b"paid", "image/jpeg")
    for path in [*old, paid]:
        backend.set_updated_at(path, now - timedelta(days=10))
    cutoff = now - timedelta(days=7)

    first = service.remove_temp_older_than(cutoff, limit=3)
    rest = service.remove_temp_older_than(cutoff, limit=3)

    assert len(first) == 3 and set(first) < set(old)
    assert sorted(first + rest) == sorted(old)
    assert service.remove_temp_older_than(cutoff, limit=3) == []
    assert sorted(o.path for o in service.store.list("uploads/temp/")) == sorted(recent)
    assert service.store.read(paid) == b"paid"  # only temporary uploads are cleaned up


@pytest.mark.parametrize(
    "filename",
    ["My Photo.JPG", "../../etc/passwd.jpg", 'grand\'ma "1952".png', "x.exe", "noextension"],
)
def test_object_names_are_generated_never_the_customers_filename(service: StorageService, filename: str) -> None:
    stem, dot, extension = filename.rpartition(".")
    name = service.new_object_name(dot + extension if dot else "")
    path = service.save_temp_upload(uuid.uuid4(), name, b"x", "image/jpeg")

    assert name[:32] == uuid.UUID(name[:32]).hex
    assert name[32:] in ("", ".jpg", ".png")
    for part in (stem or filename, "passwd", "..", "My Photo", ".exe"):
        assert part not in path
    assert [o.path for o in service.store.list("uploads/temp/")] == [path]
