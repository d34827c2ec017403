"""Uploading photos: checked by their bytes, all or nothing, counted in the database."""

from __future__ import annotations

import hashlib
import threading
import uuid

import pytest
from fastapi.testclient import TestClient

from shared.core import db
from shared.core.config import Settings, get_settings
from tests.fixtures import images
from tests.fixtures.db import rows, stored_files
from tests.fixtures.shopping import press_pay, start_checkout


def upload(shop: TestClient, *files: tuple[str, bytes, str], session_id: str | None = None):  # type: ignore[no-untyped-def]
    data = {"upload_session_id": session_id} if session_id else None
    return shop.post("/api/uploads", files=[("files", f) for f in files], data=data)


def test_a_multi_photo_upload_answers_each_photo_and_records_it(
    shop: TestClient, conn: db.Connection, settings: Settings
) -> None:
    photo_a, photo_b, photo_c = images.jpeg((80, 60)), images.png((30, 40)), images.webp((50, 50))
    response = upload(
        shop,
        ("grandma.jpg", photo_a, "image/jpeg"),
        ("dad 1962.png", photo_b, "image/png"),
        ("wedding.webp", photo_c, "image/webp"),
    )
    assert response.status_code == 201, response.text
    body = response.json()
    uuid.UUID(body["upload_session_id"])
    assert body["expires_at"] and body["photo_count"] == 3
    assert [(p["filename"], p["content_type"], p["size"], p["width"], p["height"]) for p in body["photos"]] == [
        ("grandma.jpg", "image/jpeg", len(photo_a), 80, 60),
        ("dad 1962.png", "image/png", len(photo_b), 30, 40),
        ("wedding.webp", "image/webp", len(photo_c), 50, 50),
    ]
    recorded = rows(conn, "select id, sha256, storage_path, status from file_uploads order by created_at, id")
    assert [r["sha256"] for r in recorded] == [hashlib.sha256(p).hexdigest() for p in (photo_a, photo_b, photo_c)]
    assert {str(r["id"]) for r in recorded} == {p["id"] for p in body["photos"]}
    assert all(r["status"] == "uploaded" for r in recorded)
    # Stored under generated names in the session's temporary area, never the customer's name.
    assert stored_files(settings) == sorted(r["storage_path"] for r in recorded)
    for r in recorded:
        assert r["storage_path"].startswith(f"uploads/temp/{body['upload_session_id']}/")
        assert "grandma" not in r["storage_path"] and "1962" not in r["storage_path"]


def test_list_add_and_remove_photos_in_a_session(shop: TestClient, settings: Settings) -> None:
    first = upload(shop, ("a.jpg", images.jpeg(seed=1), "image/jpeg")).json()
    session_id = first["upload_session_id"]
    second = upload(shop, ("b.jpg", images.jpeg(seed=2), "image/jpeg"), session_id=session_id)
    assert second.status_code == 201 and second.json()["photo_count"] == 2

    listed = shop.get(f"/api/uploads/{session_id}").json()
    assert [p["filename"] for p in listed["photos"]] == ["a.jpg", "b.jpg"]

    photo_id = listed["photos"][0]["id"]
    assert shop.delete(f"/api/uploads/{session_id}/files/{photo_id}").status_code == 204
    after = shop.get(f"/api/uploads/{session_id}").json()
    assert [p["filename"] for p in after["photos"]] == ["b.jpg"] and after["photo_count"] == 1
    assert len(stored_files(settings)) == 1
    again = shop.delete(f"/api/uploads/{session_id}/files/{photo_id}")
    assert again.status_code == 404 and again.json()["error"]["code"] == "photo_not_found"


def test_unknown_and_malformed_sessions_are_not_found(shop: TestClient) -> None:
    for session_id in (str(uuid.uuid4()), "not-a-uuid"):
        response = shop.get(f"/api/uploads/{session_id}")
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "upload_session_not_found"
    response = upload(shop, ("a.jpg", images.jpeg(), "image/jpeg"), session_id=str(uuid.uuid4()))
    assert response.status_code == 404


TRUNCATED_JPEG = images.jpeg((200, 200))[:-400]
BAD_FILES = [
    ("empty.jpg", b"", "image/jpeg", 422, "empty_file"),
    ("notes.jpg", b"these are not the pixels you are looking for" * 10, "image/jpeg", 415, "unsupported_photo_type"),
    ("anim.gif", images.photo_bytes("GIF"), "image/gif", 415, "unsupported_photo_type"),
    ("scan.pdf", b"%PDF-1.7\n" + b"0" * 200, "application/pdf", 415, "unsupported_photo_type"),
    ("cut.jpg", TRUNCATED_JPEG, "image/jpeg", 422, "corrupt_photo"),
    ("bomb.png", images.png_claiming(20000, 20000), "image/png", 413, "too_many_pixels"),
    ("../../etc/passwd.jpg", images.jpeg(), "image/jpeg", 400, "bad_filename"),
    ("..\\windows\\x.jpg", images.jpeg(), "image/jpeg", 400, "bad_filename"),
]


@pytest.mark.parametrize(("name", "data", "content_type", "status", "code"), BAD_FILES)
def test_bad_files_are_refused_and_nothing_is_stored(
    shop: TestClient,
    conn: db.Connection,
    settings: Settings,
    name: str,
    data: bytes,
    content_type: str,
    status: int,
    code: str,
) -> None:
    existing = upload(shop, ("keep.jpg", images.jpeg(), "image/jpeg")).json()
    before_files = stored_files(settings)
    before_rows = rows(conn, "select * from file_uploads")
    response = upload(
        shop,
        ("good.png", images.png(), "image/png"),
        (name, data, content_type),
        session_id=existing["upload_session_id"],
    )
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    # All or nothing: the good photo in the same request is not kept either, and the
    # session's earlier photo is untouched.
    assert stored_files(settings) == before_files
    assert rows(conn, "select * from file_uploads") == before_rows
    assert rows(conn, "select photo_count from upload_sessions") == [{"photo_count": 1}]


def test_a_new_session_is_not_created_by_a_refused_upload(
    shop: TestClient, conn: db.Connection, settings: Settings
) -> None:
    response = upload(shop, ("x.jpg", b"nope", "image/jpeg"))
    assert response.status_code == 415
    assert rows(conn, "select * from upload_sessions") == []
    assert stored_files(settings) == []


def test_a_photo_over_the_request_limit_is_refused(
    shop: TestClient, conn: db.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UPLOAD_REQUEST_MAX_BYTES", "2000")
    get_settings.cache_clear()
    response = upload(shop, ("big.png", images.png((100, 100)), "image/png"))
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "photo_too_large"
    assert rows(conn, "select * from file_uploads") == []


def test_an_oversized_multipart_body_is_refused_before_parsing(shop: TestClient, settings: Settings) -> None:
    too_big = b"\xff\xd8" + b"0" * (settings.upload_request_body_max_bytes + 10)
    response = upload(shop, ("huge.jpg", too_big, "image/jpeg"))
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_too_large"
    assert stored_files(settings) == []


def test_a_json_body_is_not_an_upload(shop: TestClient) -> None:
    response = shop.post("/api/uploads", json={"files": "x"})
    assert response.status_code in (415, 422)
    assert "error" in response.json()


def test_the_photo_limit_per_session_holds(shop: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UPLOAD_MAX_FILES", "2")
    get_settings.cache_clear()
    session_id = upload(shop, ("a.jpg", images.jpeg(seed=1), "image/jpeg")).json()["upload_session_id"]
    response = upload(
        shop,
        ("b.jpg", images.jpeg(seed=2), "image/jpeg"),
        ("c.jpg", images.jpeg(seed=3), "image/jpeg"),
        session_id=session_id,
    )
    assert response.status_code == 422 and response.json()["error"]["code"] == "too_many_photos"
    assert upload(shop, ("b.jpg", images.jpeg(seed=2), "image/jpeg"), session_id=session_id).status_code == 201


def test_concurrent_uploads_never_pass_the_photo_limit(
    shop: TestClient, conn: db.Connection, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UPLOAD_MAX_FILES", "5")
    get_settings.cache_clear()
    session_id = upload(shop, ("first.jpg", images.jpeg(), "image/jpeg")).json()["upload_session_id"]
    statuses: list[int] = []
    barrier = threading.Barrier(12)

    def send(n: int) -> None:
        barrier.wait()
        statuses.append(
            upload(shop, (f"p{n}.jpg", images.jpeg(seed=n), "image/jpeg"), session_id=session_id).status_code
        )

    threads = [threading.Thread(target=send, args=(n,)) for n in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(statuses) == [201] * 4 + [422] * 8
    assert rows(conn, "select count(*) as n from file_uploads where status = 'uploaded'") == [{"n": 5}]
    assert len(stored_files(settings)) == 5


def _no_decode(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count full decodes: the check-before-work tests require none."""
    from shared.uploads import photo_checks as photos

    decoded: list[int] = []
    real = photos._decode

    def counting(stream, max_pixels):  # type: ignore[no-untyped-def]
        decoded.append(1)
        return real(stream, max_pixels)

    monkeypatch.setattr(photos, "_decode", counting)
    return decoded


def test_a_full_session_refuses_more_photos_before_decoding_any(
    shop: TestClient, conn: db.Connection, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(settings, "upload_max_files", 2)
    first = shop.post("/api/uploads", files=[("files", (f"{n}.jpg", images.jpeg(), "image/jpeg")) for n in range(2)])
    assert first.status_code == 201, first.text
    decoded = _no_decode(monkeypatch)
    session_id = first.json()["upload_session_id"]

    more = shop.post(
        "/api/uploads",
        data={"upload_session_id": session_id},
        files=[("files", ("big.png", images.png_claiming(10000, 8000), "image/png"))],
    )

    assert more.status_code == 422 and more.json()["error"]["code"] == "too_many_photos"
    assert decoded == []
    too_many_at_once = shop.post(
        "/api/uploads", files=[("files", (f"{n}.jpg", images.jpeg(), "image/jpeg")) for n in range(3)]
    )
    assert too_many_at_once.json()["error"]["code"] == "too_many_photos" and decoded == []
    assert rows(conn, "select count(*) as n from file_uploads") == [{"n": 2}]


def test_a_request_over_its_pixel_budget_is_refused_before_any_decode(
    shop: TestClient, conn: db.Connection, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    decoded = _no_decode(monkeypatch)
    # 24 photos of 80 MP each (the headers say so), each under the per-photo limit.
    bombs = [("files", (f"{n}.png", images.png_claiming(10000, 8000), "image/png")) for n in range(24)]

    response = shop.post("/api/uploads", files=bombs)

    assert response.status_code == 413 and response.json()["error"]["code"] == "request_pixel_budget"
    assert decoded == []
    assert rows(conn, "select count(*) as n from upload_sessions") == [{"n": 0}]
    assert stored_files(settings) == []
    over_photo_limit = shop.post(
        "/api/uploads", files=[("files", ("x.png", images.png_claiming(10000, 8001), "image/png"))]
    )
    assert over_photo_limit.json()["error"]["code"] == "too_many_pixels" and decoded == []


def test_uploads_are_throttled_per_address_and_per_session_with_retry_after(
    shop: TestClient, conn: db.Connection, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(settings, "upload_throttle_per_session", 3)
    monkeypatch.setattr(settings, "upload_throttle_per_address", 5)
    photo = ("files", ("a.jpg", images.jpeg(), "image/jpeg"))
    first = shop.post("/api/uploads", files=[photo])
    session_id = first.json()["upload_session_id"]
    for _ in range(3):  # the first, which made the session, is counted by address only
        assert shop.post("/api/uploads", data={"upload_session_id": session_id}, files=[photo]).status_code == 201

    throttled = shop.post("/api/uploads", data={"upload_session_id": session_id}, files=[photo])

    assert throttled.status_code == 429
    assert throttled.json()["error"]["code"] == "upload_throttled"
    assert 1 <= int(throttled.headers["retry-after"]) <= settings.upload_throttle_window_seconds
    assert rows(conn, "select photo_count from upload_sessions") == [{"photo_count": 4}]
    # The address's own limit: five requests so far (the refused one counts); a sixth, in
    # a new session, is refused too.
    by_address = shop.post("/api/uploads", files=[photo])
    assert by_address.status_code == 429 and "address" in by_address.json()["error"]["message"]
    announce = shop.post(
        "/api/uploads/direct", json={"files": [{"filename": "a.jpg", "size": 100, "content_type": "image/jpeg"}]}
    )
    assert announce.status_code == 201  # announcing is counted apart from uploading


def test_concurrent_announcements_are_throttled_exactly(
    shop: TestClient, conn: db.Connection, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    monkeypatch.setattr(settings, "upload_throttle_per_address", 5)
    body = {"files": [{"filename": "a.jpg", "size": 100, "content_type": "image/jpeg"}]}
    with ThreadPoolExecutor(12) as pool:
        answers = list(pool.map(lambda _: shop.post("/api/uploads/direct", json=body), range(12)))
    assert sorted(a.status_code for a in answers) == [201] * 5 + [429] * 7
    assert all("retry-after" in a.headers for a in answers if a.status_code == 429)
    assert rows(conn, "select count(*) as n from upload_sessions") == [{"n": 5}]


def test_the_cart_lists_repeated_filenames_under_the_names_the_paid_order_shows(shop: TestClient) -> None:
    uploaded = ["photo.jpg", "Photo.jpg", "photo.jpg", "a.jpg"]
    unique = ["photo.jpg", "Photo (2).jpg", "photo (3).jpg", "a.jpg"]
    first = upload(shop, *[(name, images.jpeg(seed=n), "image/jpeg") for n, name in enumerate(uploaded[:2])])
    session_id = first.json()["upload_session_id"]
    assert [p["filename"] for p in first.json()["photos"]] == unique[:2]
    second = upload(
        shop,
        *[(name, images.jpeg(seed=n + 2), "image/jpeg") for n, name in enumerate(uploaded[2:])],
        session_id=session_id,
    )
    assert [p["filename"] for p in second.json()["photos"]] == unique[2:]

    listed = shop.get(f"/api/uploads/{session_id}").json()["photos"]
    assert [p["filename"] for p in listed] == unique

    checkout = start_checkout(shop, session_id)
    assert press_pay(shop, checkout["checkout_url"]).status_code == 303
    status = shop.get(f"/api/restoration/status/{checkout['checkout_session_id']}").json()
    assert [p["filename"] for p in status["photos"]] == unique
