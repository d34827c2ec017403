"""What the customer sees before downloading: previews on the download page, in the status
answer and in the completion email. Looking never spends a download."""

from __future__ import annotations

import base64
import hashlib
import re
from email import policy
from email.parser import BytesParser
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from shared.core import db
from shared.core.config import get_settings
from shared.jobs.queue import deadline_in
from shared.jobs.workers import run_worker
from tests.fixtures.db import rows
from tests.fixtures.shopping import paid_order


class Page(HTMLParser):
    """The tags of a page, with their attributes, and its inline scripts."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.scripts: list[str] = []
        self._in_script = False
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.scripts.append(data)

    def all(self, tag: str, **attrs: str) -> list[dict[str, str]]:
        return [a for t, a in self.tags if t == tag and all(a.get(k) == v for k, v in attrs.items())]


def _uses(conn: db.Connection) -> list[int]:
    return [r["download_count"] for r in rows(conn, "select download_count from download_links order by created_at")]


def _fetch(shop: TestClient, url: str):  # type: ignore[no-untyped-def]
    parts = urlsplit(url)
    return shop.get(f"{parts.path}?{parts.query}")


def _policy(response) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {
        d.strip().split(" ", 1)[0]: d.strip().partition(" ")[2]
        for d in response.headers["content-security-policy"].split(";")
    }


def test_the_page_shows_each_photo_restored_beside_its_original_and_looking_spends_nothing(
    shop: TestClient,
    conn: db.Connection,
    finished_order: dict,  # type: ignore[type-arg]
) -> None:
    token = finished_order["token"]
    before = _uses(conn)
    page = shop.get(f"/api/download/{token}")
    assert page.status_code == 200
    html = Page(page.text)
    previews = html.all("img")
    assert len(previews) == 4  # two photos, each restored and original
    assert {img["class"] for img in previews} == {"after", "before"}
    for img in previews:
        fetched = _fetch(shop, img["src"])
        assert fetched.status_code == 200 and fetched.headers["content-type"] == "image/jpeg"
        assert fetched.content[:2] == b"\xff\xd8" and "content-disposition" not in fetched.headers
        assert int(img["width"]) <= 1024 and int(img["height"]) <= 1024
    # Each photo its own download, and the ZIP.
    assert len(html.all("button", **{"class": "download-one"})) == 2
    assert len(html.all("button", id="download-zip")) == 1
    for _ in range(3):  # opened again, by a mail scanner or the customer: still free
        assert shop.get(f"/api/download/{token}").status_code == 200
    assert _uses(conn) == before == [0]


def test_the_page_keeps_its_protections_and_allows_images_only_from_where_previews_are_signed(
    shop: TestClient,
    finished_order: dict,  # type: ignore[type-arg]
) -> None:
    page = shop.get(f"/api/download/{finished_order['token']}")
    assert page.headers["referrer-policy"] == "no-referrer"
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["x-robots-tag"] == "noindex, nofollow"
    assert "<meta name='robots' content='noindex'>" in page.text
    directives = _policy(page)
    origins = {"{0.scheme}://{0.netloc}".format(urlsplit(img["src"])) for img in Page(page.text).all("img")}
    assert directives["img-src"].split() == sorted(origins) == [get_settings().public_base_url.rstrip("/")]
    assert directives["default-src"] == "'none'" and directives["frame-ancestors"] == "'none'"
    # The one script runs because its hash is named; nothing else would.
    [script] = Page(page.text).scripts
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    assert directives["script-src"] == f"'sha256-{digest}'"


def test_the_page_works_without_javascript(shop: TestClient, finished_order: dict) -> None:  # type: ignore[type-arg]
    """Every action is plain HTML: downloads are form posts, and the before/after toggle is
    a checkbox whose label flips the images with CSS; the slider is only shown by the script."""
    page = Page(shop.get(f"/api/download/{finished_order['token']}").text)
    forms = page.all("form")
    assert forms and all(f["method"] == "post" and f["action"].startswith("/api/download/") for f in forms)
    toggles = page.all("input", type="checkbox")
    assert len(toggles) == 2
    for toggle in toggles:
        assert page.all("label", **{"for": toggle["id"]})
    assert len(page.all("input", type="range")) == 2
    # No handler attributes, no script from elsewhere: nothing the toggle depends on is scripted.
    assert not [a for _, attrs in page.tags for a in attrs if a.startswith("on")]
    assert page.all("script") and all("src" not in a for a in page.all("script"))


def test_a_partial_order_shows_the_photo_that_could_not_be_restored_with_its_original(
    shop: TestClient, conn: db.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shared.jobs.queue import TerminalJobError
    from shared.restoration.local import LocalRestoration

    real = LocalRestoration.restore
    calls = {"n": 0}

    def second_fails(self: LocalRestoration, photo: bytes) -> bytes:
        calls["n"] += 1
        if calls["n"] == 2:
            raise TerminalJobError("the photo cannot be restored")
        return real(self, photo)

    monkeypatch.setattr(LocalRestoration, "restore", second_fails)
    paid_order(shop, photos=2)
    run_worker("restoration", get_settings(), deadline_in(120))
    run_worker("email", get_settings(), deadline_in(60))
    assert rows(conn, "select status from orders") == [{"status": "partially_completed"}]
    mail = next(m for m in shop.get("/dev/outbox?format=json").json()["messages"] if m["download_links"])
    page = shop.get(urlsplit(mail["download_links"][0]).path)
    html = Page(page.text)
    states = [li["data-state"] for li in html.all("li")]
    assert sorted(states) == ["not_restored", "restored"]
    assert "We could not restore this photo; this is the original you sent." in page.text
    assert len(html.all("img", **{"class": "original"})) == 1  # the failed photo, as sent
    assert len(html.all("button", **{"class": "download-one"})) == 1
    for img in html.all("img"):
        assert _fetch(shop, img["src"]).status_code == 200
    assert _uses(conn) == [0]


def test_status_answers_each_photo_with_its_previews_to_the_holder_of_the_reference(
    shop: TestClient,
    conn: db.Connection,
    finished_order: dict,  # type: ignore[type-arg]
) -> None:
    body = shop.get(f"/api/restoration/status/{finished_order['checkout']['checkout_session_id']}").json()
    assert [p["status"] for p in body["photos"]] == ["restored", "restored"]
    for photo in body["photos"]:
        for side in ("before", "after"):
            preview = photo["preview"][side]
            fetched = _fetch(shop, preview["url"])
            assert fetched.status_code == 200 and fetched.headers["content-type"] == "image/jpeg"
            assert max(preview["width"], preview["height"]) <= 1024
    assert _uses(conn) == [0]
    # A refunded order was not paid for: its previews are no longer shown.
    from tests.fixtures.stripe_webhook import charge_event, send

    [order] = rows(conn, "select stripe_payment_intent_id, total_amount from orders")
    send(shop, charge_event("charge.refunded", order["stripe_payment_intent_id"], order["total_amount"]))
    refunded = shop.get(f"/api/restoration/status/{finished_order['order']['id']}").json()
    assert refunded["status"] == "refunded"
    assert all(p["preview"] == {"before": None, "after": None} for p in refunded["photos"])


def test_the_completion_email_shows_the_first_restored_photo_inline(
    shop: TestClient,
    conn: db.Connection,
    finished_order: dict,  # type: ignore[type-arg]
) -> None:
    [sent] = rows(conn, "select id from email_queue where template = 'restoration_complete'")
    outbox = Path(get_settings().outbox_dir) / f"{sent['id']}.eml"
    message = BytesParser(policy=policy.default).parsebytes(outbox.read_bytes())
    html_part = message.get_body(("html",))
    [cid] = re.findall(r'src="cid:([^"]+)"', html_part.get_content())
    inline = [p for p in message.walk() if p["Content-ID"] == f"<{cid}>"]
    assert len(inline) == 1 and inline[0].get_content_type() == "image/jpeg"
    assert inline[0].get_content_disposition() == "inline"
    [first] = rows(
        conn,
        "select r.preview_path, r.preview_size_bytes from images r join images s on s.id = r.source_image_id "
        "where r.type = 'restored' order by s.upload_position limit 1",
    )
    assert len(inline[0].get_content()) == first["preview_size_bytes"]


def test_the_page_stands_without_previews_when_storage_cannot_sign_them(
    shop: TestClient,
    finished_order: dict,  # type: ignore[type-arg]
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A preview is a courtesy: a signing failure (Supabase answers each signature over
    HTTP) leaves the photos listed with their download buttons, and the policy allows no image."""
    from shared.storage import StorageService, StorageUnavailable

    def unavailable(self: StorageService, path: str, expires_in: int, download_name: str | None = None) -> str:
        raise StorageUnavailable("storage is down")

    monkeypatch.setattr(StorageService, "signed_download_url", unavailable)
    page = shop.get(f"/api/download/{finished_order['token']}")
    assert page.status_code == 200
    html = Page(page.text)
    assert html.all("img") == [] and len(html.all("button", **{"class": "download-one"})) == 2
    assert _policy(page)["img-src"] == "'none'"
    status = shop.get(f"/api/restoration/status/{finished_order['order']['id']}")
    assert status.status_code == 200
    assert all(p["preview"] == {"before": None, "after": None} for p in status.json()["photos"])
