"""Direct uploads through the upload function's HTTP API with S3 and Supabase storage.

The browser's part is played over real HTTP: the signed URL points at moto or at the
Supabase stand-in, not at the shop, so it is sent with httpx rather than the TestClient.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import httpx
import pytest
from fastapi.testclient import TestClient

from shared.core import db
from shared.core.config import Settings, get_settings
from shared.storage.base import ObjectStore
from tests.fixtures import images
from tests.fixtures.db import rows
from tests.storage.conftest import SERVICE_ROLE_KEY, new_bucket, send_announced


@pytest.fixture(params=["s3", "supabase"])
def settings(request: pytest.FixtureRequest, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """The shop's test settings, with storage in a fresh bucket of the backend under test."""
    bucket = new_bucket()
    monkeypatch.setenv("STORAGE_BACKEND", request.param)
    monkeypatch.setenv("STORAGE_BUCKET", bucket)
    if request.param == "s3":
        monkeypatch.setenv("S3_ENDPOINT_URL", request.getfixturevalue("moto_endpoint"))
    else:
        stand_in, url = request.getfixturevalue("supabase_standin")
        stand_in.create_bucket(bucket)
        monkeypatch.setenv("SUPABASE_URL", url)
        monkeypatch.setenv("SUPABASE_SERVICE_ROLE_KEY", SERVICE_ROLE_KEY)
    get_settings.cache_clear()

    from shared.deps import get_storage

    store = get_storage().store
    if request.param == "s3":
        store.client.create_bucket(Bucket=bucket)  # type: ignore[attr-defined]
    yield get_settings()
    store.close()  # type: ignore[attr-defined]


@pytest.fixture
def store(settings: Settings) -> ObjectStore:
    """The store the shop itself uses (same settings, same bucket)."""
    from shared.deps import get_storage

    return get_storage().store


def announce_and_put(shop: TestClient, photo: bytes, declared_size: int) -> tuple[dict, httpx.Response]:  # type: ignore[type-arg]
    response = shop.post(
        "/api/uploads/direct",
        json={"files": [{"filename": "big scan.jpg", "size": declared_size, "content_type": "image/jpeg"}]},
    )
    assert response.status_code == 201, response.text
    announced = response.json()["files"][0]
    return announced, send_announced(announced, photo)


def test_a_direct_upload_goes_to_the_backend_and_completes(
    shop: TestClient, conn: db.Connection, store: ObjectStore, settings: Settings
) -> None:
    photo = images.jpeg((300, 200))
    announced, put = announce_and_put(shop, photo, len(photo))
    assert not announced["upload_url"].startswith(settings.public_base_url)
    assert put.status_code in (200, 204), put.text

    done = shop.post(f"/api/uploads/direct/{announced['id']}/complete")

    assert done.status_code == 200, done.text
    assert done.json()["status"] == "uploaded"
    assert (done.json()["width"], done.json()["height"]) == (300, 200)
    stored = store.list("uploads/temp/")
    assert len(stored) == 1 and stored[0].size == len(photo)
    assert "big scan" not in stored[0].path
    assert store.read(stored[0].path) == photo
    assert rows(conn, "select status from file_uploads") == [{"status": "uploaded"}]


@pytest.mark.parametrize(
    ("data", "declared_size", "code"),
    [
        (b"plain text, not a photo at all" * 20, None, "unsupported_photo_type"),
        (images.jpeg(), 10, "size_mismatch"),
    ],
)
def test_a_bad_direct_upload_is_refused_and_deleted_from_the_backend(
    shop: TestClient,
    conn: db.Connection,
    store: ObjectStore,
    data: bytes,
    declared_size: int | None,
    code: str,
) -> None:
    announced, put = announce_and_put(shop, data, declared_size or len(data))
    assert put.status_code in (200, 204), put.text
    assert len(store.list("uploads/incoming/")) == 1

    response = shop.post(f"/api/uploads/direct/{announced['id']}/complete")

    assert response.json()["error"]["code"] == code
    assert response.status_code in (413, 415, 422)
    assert store.list("uploads/temp/") == [] and store.list("uploads/incoming/") == []
    assert rows(conn, "select status from file_uploads") == [{"status": "deleted"}]


def test_bytes_sent_to_the_url_after_completion_never_replace_the_checked_photo(
    shop: TestClient, conn: db.Connection, store: ObjectStore
) -> None:
    # The attack: a tiny JPEG passes the check, then a 144 MP PNG is sent to the same URL.
    photo = images.jpeg((64, 48))
    announced, put = announce_and_put(shop, photo, len(photo))
    assert put.status_code in (200, 204)
    assert shop.post(f"/api/uploads/direct/{announced['id']}/complete").status_code == 200
    [kept] = rows(conn, "select storage_path, sha256 from file_uploads")

    swapped = send_announced(announced, images.png_claiming(12000, 12000))

    assert store.read(kept["storage_path"]) == photo
    assert hashlib.sha256(store.read(kept["storage_path"])).hexdigest() == kept["sha256"]
    again = shop.post(f"/api/uploads/direct/{announced['id']}/complete")
    assert again.status_code == 200 and (again.json()["width"], again.json()["height"]) == (64, 48)
    assert store.read(kept["storage_path"]) == photo
    if swapped.status_code < 300:
        # It landed where only the URL writes; cleanup removes it (tests/jobs/test_cleanup.py).
        assert [o.path for o in store.list("uploads/incoming/")] == [
            kept["storage_path"].replace("uploads/temp/", "uploads/incoming/")
        ]


def test_a_second_upload_before_completion_cannot_replace_the_first_where_the_backend_refuses(
    shop: TestClient, conn: db.Connection, store: ObjectStore, settings: Settings
) -> None:
    photo = images.jpeg((64, 48))
    announced, put = announce_and_put(shop, photo, len(photo))
    assert put.status_code in (200, 204)

    second = send_announced(announced, images.png_claiming(12000, 12000))

    if settings.effective_storage_backend == "supabase":
        assert second.json()["statusCode"] == "409"  # signed without upsert
        assert store.read(store.list("uploads/incoming/")[0].path) == photo
    # Either way, what completion keeps is what it checks: S3 took the bomb, and
    # completion refuses it and deletes it.
    done = shop.post(f"/api/uploads/direct/{announced['id']}/complete")
    if done.status_code == 200:
        [kept] = rows(conn, "select storage_path, sha256 from file_uploads")
        assert hashlib.sha256(store.read(kept["storage_path"])).hexdigest() == kept["sha256"]
    else:
        assert settings.effective_storage_backend == "s3"
        assert done.json()["error"]["code"] in ("size_mismatch", "too_many_pixels")
        assert store.list("uploads/") == []
