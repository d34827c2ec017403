"""Orders whose ZIP would not fit storage's object size limit still finish and reach the
customer: the photos go out as several ZIPs under the limit, or one by one when the
server refuses even those. Run over the Supabase stand-in, which refuses objects over a
bucket's file_size_limit with 413 as the real server does."""

from __future__ import annotations

import io
import os
import zipfile
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient

from shared.core import db
from shared.core.config import Settings, get_settings
from shared.jobs.queue import deadline_in
from shared.jobs.workers import run_worker
from shared.storage.service import ArchiveEntry, plan_archive_parts
from tests.fixtures import images
from tests.fixtures.db import rows
from tests.fixtures.shopping import press_pay, start_checkout, upload_photos
from tests.storage.conftest import SERVICE_ROLE_KEY, new_bucket

MB = 1024 * 1024
LIMIT = MB  # the stand-in bucket's file_size_limit in these tests


@pytest.fixture
def bucket_limit() -> int:
    return LIMIT


@pytest.fixture
def settings(
    request: pytest.FixtureRequest, settings: Settings, monkeypatch: pytest.MonkeyPatch, bucket_limit: int
) -> Iterator[Settings]:
    """The shop on Supabase storage whose bucket takes objects up to `bucket_limit`."""
    stand_in, url = request.getfixturevalue("supabase_standin")
    bucket = new_bucket()
    stand_in.create_bucket(bucket, file_size_limit=bucket_limit)
    for name, value in {
        "STORAGE_BACKEND": "supabase", "STORAGE_BUCKET": bucket, "SUPABASE_URL": url,
        "SUPABASE_SERVICE_ROLE_KEY": SERVICE_ROLE_KEY, "STORAGE_MAX_OBJECT_BYTES": str(LIMIT),
    }.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    from shared.deps import get_storage

    store = get_storage().store
    yield get_settings()
    store.close()  # type: ignore[attr-defined]
    stand_in.buckets.pop(bucket, None)


def _restored_photos_of(size: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Restoration answers a valid JPEG of `size` bytes (a small photo, padded after its end)."""
    from shared.restoration.local import LocalRestoration

    def restore(self: LocalRestoration, photo: bytes) -> bytes:
        small = images.jpeg((64, 48))
        return small + os.urandom(size - len(small))

    monkeypatch.setattr(LocalRestoration, "restore", restore)


def _finished_order(shop: TestClient, conn: db.Connection, photos: int) -> dict:  # type: ignore[type-arg]
    session = upload_photos(shop, photos)
    checkout = start_checkout(shop, session["upload_session_id"])
    assert press_pay(shop, checkout["checkout_url"]).status_code == 303
    run_worker("restoration", get_settings(), deadline_in(300))
    [order] = rows(conn, "select id, status, zip_parts from orders")
    return order


def _download_page_zips(shop: TestClient) -> tuple[str, list[str]]:
    run_worker("email", get_settings(), deadline_in(60))
    outbox = shop.get("/dev/outbox?format=json").json()["messages"]
    ready = next(m for m in outbox if "ready" in m["subject"])
    [link] = ready["download_links"]
    return urlsplit(link).path, shop.get(urlsplit(link).path).text.split("id='download-zip")[1:]


def _zip_names(shop: TestClient, path: str, part: int) -> list[str]:
    spent = shop.post(path, data={"part": str(part)}, follow_redirects=False)
    assert spent.status_code == 303, spent.text
    archive = httpx.get(spent.headers["location"])
    assert archive.status_code == 200
    assert len(archive.content) <= LIMIT
    with zipfile.ZipFile(io.BytesIO(archive.content)) as bundle:
        assert bundle.testzip() is None
        return bundle.namelist()


def test_a_one_photo_order_gets_one_zip(
    shop: TestClient, conn: db.Connection, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    _restored_photos_of(LIMIT // 2, monkeypatch)
    order = _finished_order(shop, conn, 1)
    assert (order["status"], order["zip_parts"]) == ("completed", 1)
    path, buttons = _download_page_zips(shop)
    assert len(buttons) == 1
    assert _zip_names(shop, path, 1) == ["photo0 (restored).jpg"]


def test_a_fifty_photo_order_too_large_for_one_zip_is_split_under_the_limit(
    shop: TestClient, conn: db.Connection, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each restored photo is just under half the limit: two fit a ZIP, and 50 need 25.
    _restored_photos_of(int(LIMIT * 0.49), monkeypatch)
    order = _finished_order(shop, conn, 50)
    assert (order["status"], order["zip_parts"]) == ("completed", 25)

    path, buttons = _download_page_zips(shop)
    assert len(buttons) == 25
    names = [name for part in range(1, 26) for name in _zip_names(shop, path, part)]
    assert sorted(names) == sorted(f"photo{n} (restored).jpg" for n in range(50))
    [link] = rows(conn, "select max_downloads, download_count from download_links")
    assert link["download_count"] == 25 and link["max_downloads"] >= 25 * 10
    gone = shop.post(path, data={"part": "26"}, follow_redirects=False)
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "zip_not_found"


@pytest.mark.parametrize("bucket_limit", [LIMIT // 4])
def test_when_the_server_refuses_even_the_parts_the_order_still_finishes_photo_by_photo(
    shop: TestClient, conn: db.Connection, settings: Settings, monkeypatch: pytest.MonkeyPatch, bucket_limit: int
) -> None:
    # The bucket's real limit is lower than STORAGE_MAX_OBJECT_BYTES says: every ZIP gets 413.
    _restored_photos_of(LIMIT // 5, monkeypatch)
    order = _finished_order(shop, conn, 3)
    assert (order["status"], order["zip_parts"]) == ("completed", 0)
    path, buttons = _download_page_zips(shop)
    assert buttons == []
    page = shop.get(path).text
    assert page.count("name='image_id'") == 3
    from shared.deps import get_storage

    assert get_storage().store.list(f"downloads/{order['id']}/") == []


def test_fifty_photos_of_25_mb_are_planned_as_zips_that_each_fit_the_default_limit() -> None:
    limit = Settings().storage_max_object_bytes  # the bucket's 25 MB (migration 015)
    entries = [ArchiveEntry(f"photo{n} (restored).jpg", f"uploads/restored/o/{n}.jpg", 25_000_000) for n in range(50)]
    parts = plan_archive_parts(entries, limit)
    assert [e for part in parts for e in part] == entries
    assert len(parts) == 50

    small = [ArchiveEntry(f"p{n}.jpg", f"r/{n}.jpg", 2_000_000) for n in range(50)]
    planned = plan_archive_parts(small, limit)
    assert len(planned) == 4 and [e for part in planned for e in part] == small
    for part in planned:
        assert 200 + sum(e.cost for e in part) <= limit
    assert plan_archive_parts(entries[:1], limit) == [entries[:1]]
