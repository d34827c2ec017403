"""Photos in the order the customer uploaded them, everywhere they are listed, and
unique names in the ZIP when two uploads share a filename."""

from __future__ import annotations

import io
import re
import zipfile
from urllib.parse import unquote, urlsplit

import httpx
from fastapi.testclient import TestClient

from shared.core import db
from shared.core.config import get_settings
from shared.jobs.queue import deadline_in
from shared.jobs.workers import run_worker
from shared.storage import unique_names
from tests.fixtures import images
from tests.fixtures.shopping import press_pay, start_checkout

# Not alphabetical, with a repeat and a repeat that differs only in case (one file on
# Windows or macOS). Restored photos are named "<stem> (restored).jpg".
UPLOADED = ["zebra.jpg", "photo.jpg", "apple.jpg", "photo.jpg", "Photo.JPG", "photo (2).jpg"]
# The originals as status and the download page's image descriptions name them: unique too,
# a repeat skipping a name another upload has (unique_names).
SHOWN = ["zebra.jpg", "photo.jpg", "apple.jpg", "photo (3).jpg", "Photo (4).JPG", "photo (2).jpg"]
RESTORED = [
    "zebra (restored).jpg",
    "photo (restored).jpg",
    "apple (restored).jpg",
    "photo (restored) (2).jpg",
    "Photo (restored) (3).jpg",
    "photo (2) (restored).jpg",
]


def follow(shop: TestClient, response: httpx.Response) -> httpx.Response:
    url = urlsplit(response.headers["location"])
    return shop.get(f"{url.path}?{url.query}")


def _upload_in_two_requests(shop: TestClient) -> str:
    """The first three photos in one request, the rest in a second one."""
    session_id = None
    for batch in (UPLOADED[:3], UPLOADED[3:]):
        files = [("files", (name, images.jpeg(seed=n), "image/jpeg")) for n, name in enumerate(batch)]
        data = {"upload_session_id": session_id} if session_id else {}
        response = shop.post("/api/uploads", files=files, data=data)
        assert response.status_code == 201, response.text
        session_id = response.json()["upload_session_id"]
        listed = [p["filename"] for p in shop.get(f"/api/uploads/{session_id}").json()["photos"]]
        # The cart names the photos as the order will once paid (the upload order, each
        # repeat under its unique name), and each upload's answer names its photos so too.
        assert listed == SHOWN[: len(listed)]
        assert [p["filename"] for p in response.json()["photos"]] == listed[-len(batch) :]
    assert session_id
    return session_id


def _scramble_insert_times(conn: db.Connection) -> None:
    """The last uploaded first: an order that leaned on insert time would come out reversed."""
    conn.execute(
        "update images i set created_at = now() - make_interval(secs => i.upload_position) where order_id is not null"
    )
    conn.execute("update file_uploads set created_at = now() - make_interval(secs => upload_position)")


def test_every_listing_keeps_the_upload_order(shop: TestClient, conn: db.Connection) -> None:
    session_id = _upload_in_two_requests(shop)
    checkout = start_checkout(shop, session_id)
    assert press_pay(shop, checkout["checkout_url"]).status_code == 303
    _scramble_insert_times(conn)

    run_worker("restoration", get_settings(), deadline_in(120))
    _scramble_insert_times(conn)  # restored photos too
    status = shop.get(f"/api/restoration/status/{checkout['checkout_session_id']}").json()
    assert [p["filename"] for p in status["photos"]] == SHOWN

    run_worker("email", get_settings(), deadline_in(60))
    messages = shop.get("/dev/outbox?format=json").json()["messages"]
    ready = next(m for m in messages if m["download_links"])
    assert ready["attachments"] == RESTORED
    token = urlsplit(ready["download_links"][0]).path.rsplit("/", 1)[-1]

    page = shop.get(f"/api/download/{token}").text
    listed = re.findall(r"<p class='name'>(.*?)</p>", page)  # each photo's name, as a download gives it
    assert [n.replace("&#x27;", "'") for n in listed] == RESTORED
    assert re.findall(r"alt='([^']*), as you sent it'", page) == SHOWN

    zipped = follow(shop, shop.post(f"/api/download/{token}", follow_redirects=False))
    assert zipped.status_code == 200
    with zipfile.ZipFile(io.BytesIO(zipped.content)) as archive:
        assert archive.namelist() == RESTORED
        for name, original in zip(RESTORED, UPLOADED, strict=True):
            assert archive.read(name)[:2] == b"\xff\xd8", original

    # One photo on its own comes under the name it has in the ZIP.
    [fourth] = conn.execute(
        "select r.id from images r join images s on s.id = r.source_image_id"
        " where r.type = 'restored' order by s.upload_position offset 3 limit 1"
    ).fetchall()
    single = shop.post(f"/api/download/{token}", data={"image_id": str(fourth["id"])}, follow_redirects=False)
    assert "photo (restored) (2).jpg" in unquote(follow(shop, single).headers["content-disposition"])


def test_unique_names_number_repeats_and_skip_names_taken() -> None:
    assert unique_names(["photo.jpg", "photo.jpg"]) == ["photo.jpg", "photo (2).jpg"]
    assert unique_names(["photo.jpg", "photo.jpg", "photo (2).jpg"]) == ["photo.jpg", "photo (3).jpg", "photo (2).jpg"]
    assert unique_names(["IMG.jpg", "img.JPG", "scan", "scan"]) == ["IMG.jpg", "img (2).JPG", "scan", "scan (2)"]
    assert unique_names([".hidden", ".hidden"]) == [".hidden", ".hidden (2)"]
    names = ["a.jpg"] * 30 + ["a (7).jpg"]
    once = unique_names(names)
    assert len({n.casefold() for n in once}) == len(names)
    assert unique_names(names) == once  # the same on every download
