"""Token downloads: the page is free, each download is one use, the limit holds."""

from __future__ import annotations

import io
import threading
import zipfile
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient

from shared.core import db
from tests.fixtures.db import rows

PRIVATE_HEADERS = {"referrer-policy": "no-referrer", "cache-control": "no-store", "x-robots-tag": "noindex, nofollow"}


def follow(shop: TestClient, response: httpx.Response) -> httpx.Response:
    url = urlsplit(response.headers["location"])
    return shop.get(f"{url.path}?{url.query}")


def test_viewing_the_page_uses_nothing(shop: TestClient, conn: db.Connection, finished_order: dict) -> None:  # type: ignore[type-arg]
    for _ in range(15):  # more than the use limit: a mail scanner may open it many times
        page = shop.get(f"/api/download/{finished_order['token']}")
        assert page.status_code == 200
    assert "Download all (ZIP)" in page.text and "photo0 (restored).jpg" in page.text
    for name, value in PRIVATE_HEADERS.items():
        assert page.headers[name] == value
    assert rows(conn, "select download_count from download_links") == [{"download_count": 0}]


def test_a_download_redirects_to_a_signed_url_that_works_and_expires(
    shop: TestClient,
    conn: db.Connection,
    finished_order: dict,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[type-arg]
) -> None:
    response = shop.post(f"/api/download/{finished_order['token']}", follow_redirects=False)
    assert response.status_code == 303
    for name, value in PRIVATE_HEADERS.items():
        assert response.headers[name] == value
    location = response.headers["location"]
    assert "/local-storage/downloads/" in location and "sig=" in location
    fetched = follow(shop, response)
    assert fetched.status_code == 200
    assert "restoreclick-" in fetched.headers["content-disposition"]
    with zipfile.ZipFile(io.BytesIO(fetched.content)) as archive:
        assert len(archive.namelist()) == 2
    assert rows(conn, "select download_count from download_links") == [{"download_count": 1}]
    # About five minutes later the signed URL no longer works.
    import shared.storage.local_routes as routes

    real_time = routes.time.time
    monkeypatch.setattr(routes.time, "time", lambda: real_time() + 301)
    assert follow(shop, response).status_code == 403


def test_a_single_photo_download(shop: TestClient, conn: db.Connection, finished_order: dict) -> None:  # type: ignore[type-arg]
    [photo] = rows(conn, "select id from images where type = 'restored' order by created_at limit 1")
    response = shop.post(
        f"/api/download/{finished_order['token']}", data={"image_id": str(photo["id"])}, follow_redirects=False
    )
    assert response.status_code == 303
    fetched = follow(shop, response)
    assert fetched.status_code == 200 and fetched.content[:2] == b"\xff\xd8"
    assert "restored" in fetched.headers["content-disposition"]
    other = shop.post(
        f"/api/download/{finished_order['token']}", data={"image_id": "00000000-0000-0000-0000-000000000000"}
    )
    assert other.status_code == 404
    assert rows(conn, "select download_count from download_links") == [{"download_count": 1}]  # refused: not counted


def test_the_use_limit_holds_under_20_concurrent_downloads(
    shop: TestClient,
    conn: db.Connection,
    finished_order: dict,  # type: ignore[type-arg]
) -> None:
    statuses: list[int] = []
    barrier = threading.Barrier(20)

    def download() -> None:
        barrier.wait()
        statuses.append(shop.post(f"/api/download/{finished_order['token']}", follow_redirects=False).status_code)

    threads = [threading.Thread(target=download) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(statuses) == [303] * 10 + [410] * 10
    assert rows(conn, "select download_count from download_links") == [{"download_count": 10}]
    used_up = shop.post(f"/api/download/{finished_order['token']}")
    assert used_up.json()["error"]["code"] == "link_used_up" and "new link" in used_up.json()["error"]["message"]
    assert rows(conn, "select count(*) as n from audit_logs where action = 'download_link.used'") == [{"n": 10}]


def test_expired_revoked_and_unknown_links(shop: TestClient, conn: db.Connection, finished_order: dict) -> None:  # type: ignore[type-arg]
    token = finished_order["token"]
    unknown = shop.post("/api/download/rc_dl_" + "A" * 43)
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "link_not_found"
    assert shop.get("/api/download/rc_dl_nothing").status_code == 404
    conn.execute(
        "update download_links set expires_at = now() - interval '1 minute', created_at = now() - interval '31 days'"
    )
    expired = shop.post(f"/api/download/{token}")
    assert expired.status_code == 410 and expired.json()["error"]["code"] == "link_expired"
    assert shop.get(f"/api/download/{token}").json()["error"]["code"] == "link_expired"
    in_a_browser = shop.get(f"/api/download/{token}", headers={"accept": "text/html,*/*"})
    assert in_a_browser.status_code == 410 and "expired" in in_a_browser.text
    assert in_a_browser.headers["content-type"].startswith("text/html")


def test_a_refund_revokes_the_link(shop: TestClient, conn: db.Connection, finished_order: dict) -> None:  # type: ignore[type-arg]
    from tests.fixtures.stripe_webhook import charge_event, send

    [order] = rows(conn, "select stripe_payment_intent_id, total_amount from orders")
    assert (
        send(
            shop, charge_event("charge.refunded", order["stripe_payment_intent_id"], order["total_amount"])
        ).status_code
        == 200
    )
    revoked = shop.post(f"/api/download/{finished_order['token']}")
    assert revoked.status_code == 410 and revoked.json()["error"]["code"] == "link_revoked"
    said = revoked.json()["error"]["message"]
    # What happened, and no offer of a new link: the shop would refuse one for a refunded order.
    assert said.startswith(f"Order {finished_order['order']['order_number']} was refunded") and "new link" not in said
    # Revoked first, whatever the form names: a junk id, a well-formed id of no photo, a real one.
    photo = rows(conn, "select id from images where type = 'restored'")[0]
    for image_id in ("not-a-photo", "00000000-0000-4000-8000-000000000000", str(photo["id"])):
        tried = shop.post(f"/api/download/{finished_order['token']}", data={"image_id": image_id})
        assert tried.status_code == 410 and tried.json()["error"] == revoked.json()["error"], image_id
    assert shop.get(f"/api/download/{finished_order['token']}").json()["error"]["message"] == said


def test_a_junk_photo_id_on_a_live_link_is_404_and_spends_nothing(
    shop: TestClient,
    conn: db.Connection,
    finished_order: dict,  # type: ignore[type-arg]
) -> None:
    tried = shop.post(f"/api/download/{finished_order['token']}", data={"image_id": "not-a-photo"})
    assert tried.status_code == 404 and tried.json()["error"]["code"] == "photo_not_found"
    assert rows(conn, "select download_count from download_links") == [{"download_count": 0}]
