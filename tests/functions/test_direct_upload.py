"""Large photos go straight to storage through signed URLs and are checked on completion."""

from __future__ import annotations

import io
import random
import uuid
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from shared.core import db
from shared.core.config import Settings
from tests.fixtures import images
from tests.fixtures.db import rows, stored_files


def announce(shop: TestClient, *files: dict, session_id: str | None = None):  # type: ignore[no-untyped-def]
    body: dict = {"files": list(files)}
    if session_id:
        body["upload_session_id"] = session_id
    return shop.post("/api/uploads/direct", json=body)


def put_signed(shop: TestClient, announced: dict, data: bytes):  # type: ignore[no-untyped-def]
    url = urlsplit(announced["upload_url"])
    return shop.request(
        announced["upload_method"], f"{url.path}?{url.query}", content=data, headers=announced["upload_headers"]
    )


def announce_and_send(shop: TestClient, photo: bytes) -> dict:  # type: ignore[type-arg]
    """Announce one photo and send its bytes to the signed URL; the announced slot."""
    slot = announce(shop, {"filename": "x.jpg", "size": len(photo), "content_type": "image/jpeg"}).json()["files"][0]
    assert put_signed(shop, slot, photo).status_code == 200
    return slot  # type: ignore[no-any-return]


def test_direct_upload_round_trip(shop: TestClient, conn: db.Connection, settings: Settings) -> None:
    photo = images.jpeg((300, 200))
    response = announce(shop, {"filename": "big scan.jpg", "size": len(photo), "content_type": "image/jpeg"})
    assert response.status_code == 201, response.text
    announced = response.json()["files"][0]
    assert announced["status"] == "pending" and announced["upload_method"] == "PUT"
    assert rows(conn, "select status from file_uploads") == [{"status": "pending"}]

    early = shop.post(f"/api/uploads/direct/{announced['id']}/complete")
    assert early.status_code == 409 and early.json()["error"]["code"] == "not_uploaded"

    assert put_signed(shop, announced, photo).status_code == 200
    done = shop.post(f"/api/uploads/direct/{announced['id']}/complete")
    assert done.status_code == 200, done.text
    assert done.json() | {"id": None} == {
        "id": None,
        "filename": "big scan.jpg",
        "size": len(photo),
        "content_type": "image/jpeg",
        "width": 300,
        "height": 200,
        "status": "uploaded",
    }
    # Completing again is harmless.
    assert shop.post(f"/api/uploads/direct/{announced['id']}/complete").json()["status"] == "uploaded"
    listed = shop.get(f"/api/uploads/{response.json()['upload_session_id']}").json()
    assert [p["status"] for p in listed["photos"]] == ["uploaded"]
    assert len(stored_files(settings)) == 1


@pytest.mark.parametrize(
    ("declared_size", "data", "code"),
    [
        (None, b"plain text, not a photo at all" * 20, "unsupported_photo_type"),
        (len(images.jpeg()) + 10, images.jpeg(), "size_mismatch"),
        (None, images.jpeg((200, 200))[:-300], "corrupt_photo"),
    ],
)
def test_a_bad_direct_upload_is_deleted_with_the_reason(
    shop: TestClient, conn: db.Connection, settings: Settings, declared_size: int | None, data: bytes, code: str
) -> None:
    size = declared_size if declared_size is not None else len(data)
    announced = announce(shop, {"filename": "x.jpg", "size": size, "content_type": "image/jpeg"}).json()["files"][0]
    assert put_signed(shop, announced, data).status_code == 200
    response = shop.post(f"/api/uploads/direct/{announced['id']}/complete")
    assert response.json()["error"]["code"] == code
    assert response.status_code in (413, 415, 422)
    assert stored_files(settings) == []
    assert rows(conn, "select status from file_uploads") == [{"status": "deleted"}]
    assert rows(conn, "select photo_count from upload_sessions") == [{"photo_count": 0}]


def test_announcements_that_cannot_be_photos_are_refused_up_front(shop: TestClient, conn: db.Connection) -> None:
    too_big = announce(shop, {"filename": "x.jpg", "size": 10**9, "content_type": "image/jpeg"})
    assert too_big.status_code == 413 and too_big.json()["error"]["code"] == "photo_too_large"
    not_photo = announce(shop, {"filename": "x.pdf", "size": 100, "content_type": "application/pdf"})
    assert not_photo.status_code == 415
    tricky = announce(shop, {"filename": "../x.jpg", "size": 100, "content_type": "image/jpeg"})
    assert tricky.status_code == 400
    zero = announce(shop, {"filename": "x.jpg", "size": 0, "content_type": "image/jpeg"})
    assert zero.status_code == 422
    assert rows(conn, "select * from upload_sessions") == []


def test_a_signed_upload_url_cannot_be_reused_for_another_path_or_download(shop: TestClient) -> None:
    photo = images.jpeg()
    announced = announce(shop, {"filename": "x.jpg", "size": len(photo), "content_type": "image/jpeg"}).json()["files"][
        0
    ]
    url = urlsplit(announced["upload_url"])
    assert shop.get(f"{url.path}?{url.query}").status_code == 403
    other = url.path.rsplit("/", 1)[0] + "/other.jpg"
    assert shop.put(f"{other}?{url.query}", content=photo).status_code == 403


def test_a_photo_larger_than_a_function_request_goes_straight_to_local_storage(
    shop: TestClient, conn: db.Connection, settings: Settings
) -> None:
    noise = Image.frombytes("RGB", (2600, 2000), random.Random(3).randbytes(2600 * 2000 * 3))
    out = io.BytesIO()
    noise.save(out, "JPEG", quality=95)  # noise compresses badly: several MB of JPEG
    photo = out.getvalue()
    assert len(photo) > settings.upload_request_max_bytes
    announced = announce(shop, {"filename": "scan.jpg", "size": len(photo), "content_type": "image/jpeg"}).json()
    stored = put_signed(shop, announced["files"][0], photo)
    assert stored.status_code == 200, stored.text
    done = shop.post(f"/api/uploads/direct/{announced['files'][0]['id']}/complete")
    assert done.status_code == 200 and done.json()["size"] == len(photo)
    # Past UPLOAD_MAX_BYTES the storage route still refuses it.
    too_big = announce(shop, {"filename": "x.jpg", "size": settings.upload_max_bytes + 1, "content_type": "image/jpeg"})
    assert too_big.status_code in (413, 422)


def test_the_signed_url_takes_no_more_than_the_announced_size_and_replaces_nothing(
    shop: TestClient, settings: Settings
) -> None:
    photo = images.jpeg((64, 48))
    announced = announce(shop, {"filename": "x.jpg", "size": len(photo), "content_type": "image/jpeg"}).json()
    slot = announced["files"][0]

    too_much = put_signed(shop, slot, photo + b"\0")
    assert too_much.status_code == 413 and too_much.json()["error"]["code"] == "payload_too_large"
    assert stored_files(settings) == []
    assert put_signed(shop, slot, photo).status_code == 200
    again = put_signed(shop, slot, images.jpeg((64, 48), seed=2))
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_exists"
    done = shop.post(f"/api/uploads/direct/{slot['id']}/complete")
    assert done.status_code == 200


def test_a_photo_swapped_in_after_completion_is_never_what_is_kept(
    shop: TestClient, conn: db.Connection, settings: Settings
) -> None:
    photo = images.jpeg((64, 48))
    slot = announce_and_send(shop, photo)
    assert shop.post(f"/api/uploads/direct/{slot['id']}/complete").status_code == 200
    [kept] = rows(conn, "select storage_path, sha256 from file_uploads")

    # The URL still works until it expires, but it writes where nothing is read from.
    bomb = images.png_claiming(12000, 12000)
    put_signed(shop, {**slot, "size": len(bomb)}, bomb)
    assert shop.post(f"/api/uploads/direct/{slot['id']}/complete").json()["width"] == 64

    from shared.deps import get_storage

    assert get_storage().store.read(kept["storage_path"]) == photo


def test_concurrent_completions_check_and_keep_one_object(
    shop: TestClient, conn: db.Connection, settings: Settings
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    photo = images.jpeg((640, 480))
    slot = announce_and_send(shop, photo)

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: shop.post(f"/api/uploads/direct/{slot['id']}/complete"), range(8)))

    assert {a.status_code for a in answers} <= {200, 409}
    assert any(a.status_code == 200 for a in answers)
    assert {a.json()["error"]["code"] for a in answers if a.status_code == 409} <= {"upload_being_checked"}
    assert rows(conn, "select status from file_uploads") == [{"status": "uploaded"}]
    assert len(stored_files(settings)) == 1


def test_an_expired_upload_url_is_renewed_for_a_pending_photo(
    shop: TestClient, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(settings, "direct_upload_url_seconds", 1)
    photo = images.jpeg((64, 48))
    slot = announce(shop, {"filename": "x.jpg", "size": len(photo), "content_type": "image/jpeg"}).json()["files"][0]
    assert slot["upload_expires_at"] is not None
    import time

    time.sleep(2.1)
    expired = put_signed(shop, slot, photo)
    assert expired.status_code == 403 and expired.json()["error"]["code"] == "link_expired"

    monkeypatch.setattr(settings, "direct_upload_url_seconds", 900)
    fresh = shop.post(f"/api/uploads/direct/{slot['id']}/url")
    assert fresh.status_code == 200, fresh.text
    assert fresh.json()["id"] == slot["id"] and fresh.json()["upload_url"] != slot["upload_url"]
    assert put_signed(shop, fresh.json(), photo).status_code == 200
    assert shop.post(f"/api/uploads/direct/{slot['id']}/complete").status_code == 200
    # Completed: no more URLs for it.
    assert shop.post(f"/api/uploads/direct/{slot['id']}/url").json()["error"]["code"] == "upload_not_pending"
    assert shop.post(f"/api/uploads/direct/{uuid.uuid4()}/url").status_code == 404


def test_a_direct_upload_is_named_as_the_cart_lists_it(shop: TestClient) -> None:
    small = shop.post("/api/uploads", files=[("files", ("scan.jpg", images.jpeg(seed=1), "image/jpeg"))])
    session_id = small.json()["upload_session_id"]
    photo = images.jpeg((300, 200), seed=2)
    announced = announce(
        shop, {"filename": "SCAN.jpg", "size": len(photo), "content_type": "image/jpeg"}, session_id=session_id
    )
    [slot] = announced.json()["files"]
    assert slot["filename"] == "SCAN (2).jpg"
    renewed = shop.post(f"/api/uploads/direct/{slot['id']}/url")
    assert renewed.status_code == 200 and renewed.json()["filename"] == "SCAN (2).jpg"
    assert put_signed(shop, slot, photo).status_code == 200
    done = shop.post(f"/api/uploads/direct/{slot['id']}/complete")
    assert done.status_code == 200 and done.json()["filename"] == "SCAN (2).jpg"
    listed = shop.get(f"/api/uploads/{session_id}").json()["photos"]
    assert [p["filename"] for p in listed] == ["scan.jpg", "SCAN (2).jpg"]
