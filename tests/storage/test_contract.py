"""The `ObjectStore` contract, proved the same way on every backend (see conftest.py)."""

from __future__ import annotations

import base64
import io
import json
import os
import time
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from shared.storage.base import ObjectStore, StorageObjectMissing
from tests.storage.conftest import PAGE_SIZE, Backend, download_filename, send_signed_upload


def test_an_object_put_can_be_read_stated_and_listed(object_store: ObjectStore) -> None:
    object_store.put("uploads/a/photo.jpg", b"jpeg bytes", "image/jpeg")
    object_store.put("uploads/a/scan.png", io.BytesIO(b"png bytes, streamed"), "image/png")

    assert object_store.read("uploads/a/photo.jpg") == b"jpeg bytes"
    assert object_store.read("uploads/a/scan.png") == b"png bytes, streamed"
    stat = object_store.stat("uploads/a/photo.jpg")
    assert stat is not None
    assert (stat.path, stat.size) == ("uploads/a/photo.jpg", len(b"jpeg bytes"))
    assert stat.updated_at is not None and stat.updated_at.tzinfo is not None
    assert stat.content_type in (None, "image/jpeg")
    listed = object_store.list("uploads/a/")
    assert [(o.path, o.size) for o in listed] == [
        ("uploads/a/photo.jpg", len(b"jpeg bytes")),
        ("uploads/a/scan.png", len(b"png bytes, streamed")),
    ]


def test_putting_a_path_again_replaces_the_object(object_store: ObjectStore) -> None:
    object_store.put("restored/1.jpg", b"first", "image/jpeg")
    object_store.put("restored/1.jpg", b"second, longer", "image/jpeg")
    assert object_store.read("restored/1.jpg") == b"second, longer"
    assert [o.size for o in object_store.list("restored/")] == [len(b"second, longer")]


def test_a_stream_is_stored_from_where_the_caller_left_it(object_store: ObjectStore) -> None:
    stream = io.BytesIO(b"HEADER:the photo")
    stream.read(len(b"HEADER:"))
    object_store.put("x/photo.jpg", stream, "image/jpeg")
    assert object_store.read("x/photo.jpg") == b"the photo"


def test_an_object_written_through_a_writer_appears_whole_or_not_at_all(object_store: ObjectStore) -> None:
    with object_store.writer("downloads/o/order.zip", "application/zip") as out:
        out.write(b"zip ")
        out.seek(0)  # a ZIP writer goes back to fill in each entry's header
        out.write(b"ZIP bytes")
        assert object_store.stat("downloads/o/order.zip") is None  # not before the block ends
    assert object_store.read("downloads/o/order.zip") == b"ZIP bytes"

    with pytest.raises(RuntimeError), object_store.writer("downloads/o/broken.zip", "application/zip") as out:
        out.write(b"half an archive")
        raise RuntimeError("a photo could not be read")
    assert [o.path for o in object_store.list("downloads/o/")] == ["downloads/o/order.zip"]


def test_a_missing_object_has_no_stat_and_cannot_be_read(object_store: ObjectStore) -> None:
    assert object_store.stat("uploads/none.jpg") is None
    with pytest.raises(StorageObjectMissing):
        object_store.read("uploads/none.jpg")
    with pytest.raises(StorageObjectMissing):
        object_store.open("uploads/none.jpg")


def test_listing_walks_every_page_and_every_subfolder(object_store: ObjectStore) -> None:
    expected = {f"uploads/temp/s1/{n}.jpg": n for n in range(PAGE_SIZE * 3 + 1)}
    expected |= {f"uploads/temp/s2/deeper/{n}.jpg": n for n in range(PAGE_SIZE + 1)}
    for path, n in expected.items():
        object_store.put(path, b"x" * (n + 1), "image/jpeg")

    listed = object_store.list("uploads/temp/")

    assert sorted(o.path for o in listed) == sorted(expected)
    assert {o.path: o.size for o in listed} == {p: n + 1 for p, n in expected.items()}
    assert len(object_store.list("uploads/temp/s1/")) == PAGE_SIZE * 3 + 1


def test_a_listing_prefix_is_a_folder_and_sees_nothing_beside_it(object_store: ObjectStore) -> None:
    for path in ("orders/a/1.jpg", "orders/ab/2.jpg", "orders/a-b/3.jpg", "orders/a.jpg"):
        object_store.put(path, b"x", "image/jpeg")

    assert [o.path for o in object_store.list("orders/a/")] == ["orders/a/1.jpg"]
    assert [o.path for o in object_store.list("orders/a")] == ["orders/a/1.jpg"]
    assert object_store.list("orders/none/") == []
    assert object_store.list("elsewhere/") == []


def test_delete_removes_and_is_idempotent(object_store: ObjectStore) -> None:
    object_store.put("t/1.jpg", b"1", "image/jpeg")
    object_store.put("t/2.jpg", b"2", "image/jpeg")
    object_store.put("t/keep.jpg", b"3", "image/jpeg")

    object_store.delete(["t/1.jpg", "t/2.jpg", "t/never-existed.jpg"])
    object_store.delete(["t/1.jpg", "t/2.jpg"])  # already gone: still fine
    object_store.delete([])

    assert [o.path for o in object_store.list("t/")] == ["t/keep.jpg"]


def test_move_is_idempotent_and_refuses_when_both_ends_are_missing(
    object_store: ObjectStore,
) -> None:
    object_store.put("uploads/temp/s/p.jpg", b"the photo", "image/jpeg")

    object_store.move("uploads/temp/s/p.jpg", "uploads/originals/o/p.jpg")
    object_store.move("uploads/temp/s/p.jpg", "uploads/originals/o/p.jpg")  # run again: done already

    assert object_store.stat("uploads/temp/s/p.jpg") is None
    assert object_store.read("uploads/originals/o/p.jpg") == b"the photo"
    with pytest.raises(StorageObjectMissing):
        object_store.move("uploads/temp/s/gone.jpg", "uploads/originals/o/gone.jpg")


def test_move_onto_an_existing_object_replaces_it(object_store: ObjectStore) -> None:
    object_store.put("a/new.jpg", b"new", "image/jpeg")
    object_store.put("b/old.jpg", b"old", "image/jpeg")
    object_store.move("a/new.jpg", "b/old.jpg")
    assert object_store.read("b/old.jpg") == b"new"
    assert object_store.stat("a/new.jpg") is None


def test_open_streams_the_object_in_pieces(object_store: ObjectStore) -> None:
    data = os.urandom(700_000)
    object_store.put("big/photo.jpg", io.BytesIO(data), "image/jpeg")

    pieces = []
    with object_store.open("big/photo.jpg") as stream:
        while piece := stream.read(64 * 1024):
            assert len(piece) <= 64 * 1024
            pieces.append(piece)
    assert len(pieces) > 1
    assert b"".join(pieces) == data


def test_a_signed_download_url_serves_the_bytes_as_an_attachment(object_store: ObjectStore) -> None:
    object_store.put("downloads/o/order.zip", b"zip bytes", "application/zip")
    name = "Restored photos \u2013 M\u00fcller 1952 (1).zip"

    url = object_store.signed_download_url("downloads/o/order.zip", 60, name)
    response = httpx.get(url)

    assert url.startswith("http://127.0.0.1:")
    assert response.status_code == 200, response.text
    assert response.content == b"zip bytes"
    disposition = response.headers["content-disposition"]
    assert disposition.startswith("attachment")
    assert download_filename(disposition) == name

    plain = httpx.get(object_store.signed_download_url("downloads/o/order.zip", 60))
    assert plain.status_code == 200 and plain.content == b"zip bytes"
    assert "attachment" not in plain.headers.get("content-disposition", "")


def test_a_signed_download_url_stops_working_when_it_expires(backend: Backend) -> None:
    backend.store.put("downloads/o/order.zip", b"zip bytes", "application/zip")
    url = backend.store.signed_download_url("downloads/o/order.zip", 2, "order.zip")

    assert httpx.get(url).status_code == 200
    if not backend.refuses_expired_urls:
        # moto ignores expiry; S3 enforces what the signed URL says.
        query = parse_qs(urlsplit(url).query)
        assert query["X-Amz-Expires"] == ["2"] and query["X-Amz-Signature"]
        return
    time.sleep(2.1)
    assert httpx.get(url).status_code >= 400


def test_a_signed_upload_url_takes_the_bytes_a_browser_sends(object_store: ObjectStore) -> None:
    upload = object_store.signed_upload_url("uploads/temp/s/abc.jpg", 60, "image/jpeg", 1000)
    assert upload.url.startswith("http://127.0.0.1:")
    assert (upload.fields or upload.headers)["content-type" if upload.headers else "Content-Type"] == "image/jpeg"

    response = send_signed_upload(upload, b"browser bytes")

    assert response.status_code in (200, 204), response.text
    assert object_store.read("uploads/temp/s/abc.jpg") == b"browser bytes"
    stat = object_store.stat("uploads/temp/s/abc.jpg")
    assert stat is not None and stat.size == len(b"browser bytes")


def test_a_signed_upload_url_never_replaces_an_object(backend: Backend) -> None:
    store = backend.store
    upload = store.signed_upload_url("uploads/incoming/s/abc.jpg", 60, "image/jpeg", 1000)
    assert send_signed_upload(upload, b"first").status_code in (200, 204)

    again = send_signed_upload(upload, b"second")

    if not backend.refuses_overwrite_by_url:
        # S3: a POST policy cannot refuse; the shop moves an upload away before reading it.
        assert upload.method == "POST"
        return
    assert again.status_code == 409 or again.json().get("statusCode") == "409", again.text
    assert store.read("uploads/incoming/s/abc.jpg") == b"first"


def test_a_signed_upload_url_refuses_more_bytes_than_it_allows(backend: Backend) -> None:
    store = backend.store
    cap = 1000 if backend.bucket_size_limit is None else backend.bucket_size_limit
    upload = store.signed_upload_url("uploads/incoming/s/big.jpg", 60, "image/jpeg", cap)

    if not backend.enforces_upload_policy:
        policy = json.loads(base64.b64decode(upload.fields["policy"]))
        assert ["content-length-range", 1, cap] in policy["conditions"]
        assert {"Content-Type": "image/jpeg"} in policy["conditions"]
        return
    refused = send_signed_upload(upload, b"x" * (cap + 1))
    assert refused.status_code == 413 or refused.json().get("statusCode") == "413", refused.text
    assert store.stat("uploads/incoming/s/big.jpg") is None
    assert send_signed_upload(upload, b"x" * cap).status_code in (200, 204)


def test_a_signed_upload_url_says_when_it_expires(backend: Backend) -> None:
    upload = backend.store.signed_upload_url("uploads/incoming/s/abc.jpg", 900, "image/jpeg", 1000)
    assert upload.expires_at is not None
    left = (upload.expires_at - datetime.now(UTC)).total_seconds()
    if backend.name == "supabase":
        # The server's lifetime (the stand-in's is the self-hosted default, 60 s), not ours.
        assert 0 < left <= 61
    else:
        assert 890 < left <= 901


def test_moving_an_object_onto_itself_keeps_it(object_store: ObjectStore) -> None:
    object_store.put("uploads/temp/s/p.jpg", b"the photo", "image/jpeg")

    object_store.move("uploads/temp/s/p.jpg", "uploads/temp/s/p.jpg")
    object_store.move("uploads/temp/s/p.jpg", "uploads/temp/s/p.jpg")

    assert object_store.read("uploads/temp/s/p.jpg") == b"the photo"
    with pytest.raises(StorageObjectMissing):
        object_store.move("uploads/temp/s/none.jpg", "uploads/temp/s/none.jpg")


def test_the_bucket_check_passes_on_a_bucket_that_is_there(object_store: ObjectStore) -> None:
    object_store.check_bucket()


@pytest.mark.parametrize(
    "path",
    # Escapes, and keys a backend would read differently: upper case (Supabase lists and
    # searches case-insensitively), spaces, non-ASCII, URL-special and control characters.
    ["../x", "/abs", "a//b", "a/../../b", "a/./b", "", "Photo.JPG", "a b.jpg", "m\u00fcller.jpg", "a?b.jpg", "a#b",
     "a\\b.jpg", "a\x00b", "a%2f.jpg"],
)  # fmt: skip
def test_paths_that_could_escape_are_refused_by_every_operation(object_store: ObjectStore, path: str) -> None:
    operations = [
        lambda: object_store.put(path, b"x", "image/jpeg"),
        lambda: object_store.open(path),
        lambda: object_store.read(path),
        lambda: object_store.stat(path),
        lambda: object_store.delete(["fine.jpg", path]),
        lambda: object_store.move(path, "fine.jpg"),
        lambda: object_store.move("fine.jpg", path),
        lambda: object_store.signed_download_url(path, 60),
        lambda: object_store.signed_upload_url(path, 60, "image/jpeg", 100),
    ]
    object_store.put("fine.jpg", b"x", "image/jpeg")
    for operation in operations:
        with pytest.raises(ValueError):
            operation()
    assert object_store.read("fine.jpg") == b"x"  # the batch delete refused before deleting


@pytest.mark.parametrize("prefix", ["../", "/etc/"])
def test_listing_outside_the_bucket_is_refused(object_store: ObjectStore, prefix: str) -> None:
    with pytest.raises(ValueError):
        object_store.list(prefix)
