"""How an order ends when some or all photos fail, and what the customer's email then holds."""

from __future__ import annotations

import hashlib
import io
import zipfile
from email import policy
from email.parser import BytesParser
from typing import Any
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from shared.core import db
from shared.core.config import Settings, get_settings
from shared.deps import get_storage
from shared.jobs.queue import TerminalJobError, deadline_in
from shared.jobs.workers import run_worker
from tests.fixtures import images
from tests.fixtures.db import rows
from tests.fixtures.shopping import paid_order


def _refuse_to_restore(monkeypatch: pytest.MonkeyPatch, photo_numbers: set[int]) -> list[int]:
    """Make the local provider fail terminally for the uploaded photos `photo<n>.jpg` named;
    returns the list of those it refused, as it refuses them."""
    from shared.restoration.local import LocalRestoration

    real = LocalRestoration.restore
    # upload_photos sends images.jpeg(seed=n) as photo<n>.jpg, and storage keeps the bytes.
    refused_by_hash = {hashlib.sha256(images.jpeg(seed=n)).hexdigest(): n for n in photo_numbers}
    refused: list[int] = []

    def restore_all_but(self: LocalRestoration, photo: bytes) -> bytes:
        number = refused_by_hash.get(hashlib.sha256(photo).hexdigest())
        if number is not None:
            refused.append(number)
            raise TerminalJobError("the photo cannot be decoded")
        return real(self, photo)

    monkeypatch.setattr(LocalRestoration, "restore", restore_all_but)
    return refused


def _outbox(shop: TestClient) -> list[dict[str, Any]]:
    return shop.get("/dev/outbox?format=json").json()["messages"]  # type: ignore[no-any-return]


def _order(conn: db.Connection) -> dict[str, Any]:
    [order] = rows(conn, "select id, order_number, status, completed_at from orders")
    return order


def _zip_behind(shop: TestClient, link: str) -> list[str]:
    """Spend one use of an emailed link on the ZIP; the names inside it."""
    spent = shop.post(urlsplit(link).path, follow_redirects=False)
    assert spent.status_code == 303, spent.text
    signed = urlsplit(spent.headers["location"])
    fetched = shop.get(f"{signed.path}?{signed.query}")
    assert fetched.status_code == 200
    with zipfile.ZipFile(io.BytesIO(fetched.content)) as archive:
        return sorted(archive.namelist())


def test_an_order_with_one_photo_restored_and_one_dead_ends_partially_completed_and_its_email_links_and_names_the_failure(  # noqa: E501
    shop: TestClient, conn: db.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    refused = _refuse_to_restore(monkeypatch, {1})
    paid_order(shop, photos=2)
    report = run_worker("restoration", get_settings(), deadline_in(120))
    assert refused == [1], "photo1 is the one that fails, once: a terminal error is not retried"
    assert (report["restoration"]["succeeded"], report["restoration"]["dead"]) == (1, 1)
    assert report["order_work"]["succeeded"] == 1

    order = _order(conn)
    assert order["status"] == "partially_completed" and order["completed_at"] is not None
    [dead] = rows(conn, "select attempt_number, error_history from restoration_jobs where status = 'dead'")
    assert dead["attempt_number"] == 1
    assert [e["error"] for e in dead["error_history"]] == ["TerminalJobError: the photo cannot be decoded"]
    queued = rows(conn, "select template, payload from email_queue order by created_at")
    assert [e["template"] for e in queued] == ["order_confirmation", "restoration_partial"]
    assert queued[1]["payload"]["restored"] == 1 and queued[1]["payload"]["failed"] == 1

    emails = run_worker("email", get_settings(), deadline_in(60))
    assert emails["email"]["succeeded"] == 2
    number = order["order_number"]
    [partial] = [m for m in _outbox(shop) if number in m["subject"] and "received" not in m["subject"]]
    assert partial["to"] == "ada@example.com"
    assert partial["subject"] == f"Most of your photos are ready ({number})"
    assert f"We restored 1 photo(s) from order {number}; 1 could not be restored" in partial["text"]
    assert "Not restored: photo1.jpg." in partial["text"]  # the customer's own name for it
    assert "refund" in partial["text"]
    [link] = partial["download_links"]
    assert f"Download the restored ones here: {link}" in partial["text"]
    # The link works, and offers the restored photo only; the one that could not be
    # restored is shown as the customer sent it, with a line saying so (issue 18).
    page = shop.get(urlsplit(link).path)
    assert page.status_code == 200
    assert "photo0 (restored).jpg" in page.text and "photo1 (restored)" not in page.text
    assert page.text.count("name='image_id'") == 1
    assert "photo1.jpg" in page.text and "We could not restore this photo" in page.text
    assert _zip_behind(shop, link) == ["photo0 (restored).jpg"]


def test_an_order_whose_photos_all_die_ends_failed_and_its_email_offers_a_refund_and_no_link(
    shop: TestClient, conn: db.Connection, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    refused = _refuse_to_restore(monkeypatch, {0, 1})
    paid_order(shop, photos=2)
    report = run_worker("restoration", get_settings(), deadline_in(120))
    assert sorted(refused) == [0, 1]
    assert (report["restoration"]["succeeded"], report["restoration"]["dead"]) == (0, 2)

    order = _order(conn)
    assert order["status"] == "failed" and order["completed_at"] is not None
    [failed_email] = rows(conn, "select payload from email_queue where template = 'restoration_failed'")
    assert failed_email["payload"]["zip_path"] is None and failed_email["payload"]["restored"] == 0
    assert get_storage().store.list(f"downloads/{order['id']}/") == []

    assert run_worker("email", get_settings(), deadline_in(60))["email"]["succeeded"] == 2
    number = order["order_number"]
    [failed] = [m for m in _outbox(shop) if "could not restore" in m["subject"]]
    assert failed["to"] == "ada@example.com"
    assert failed["subject"] == f"We could not restore your photos ({number})"
    assert f"We could not restore the photos of order {number}" in failed["text"]
    assert "refund you in full" in failed["text"]
    assert "Not restored: photo0.jpg, photo1.jpg." in failed["text"]
    assert failed["download_links"] == [] and failed["attachments"] == []
    assert rows(conn, "select count(*) as n from download_links") == [{"n": 0}]


@pytest.mark.parametrize(
    ("cap_beyond_total", "attached"),
    [(+1, True), (-1, False)],
    ids=["total-under-the-cap-attaches", "total-over-the-cap-links-only"],
)
def test_the_completion_email_attaches_restored_photos_only_while_their_total_is_under_the_cap(
    shop: TestClient,
    conn: db.Connection,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    cap_beyond_total: int,
    attached: bool,
) -> None:
    paid_order(shop, photos=2)
    run_worker("restoration", get_settings(), deadline_in(120))
    restored = rows(conn, "select filename, storage_path, size_bytes from images where type = 'restored'")
    total = sum(r["size_bytes"] for r in restored)
    assert len(restored) == 2 and total > 1

    monkeypatch.setenv("EMAIL_ATTACHMENT_CAP_BYTES", str(total + cap_beyond_total))
    get_settings.cache_clear()
    assert get_settings().email_attachment_cap_bytes == total + cap_beyond_total
    assert run_worker("email", get_settings(), deadline_in(60))["email"]["succeeded"] == 2

    [complete] = [m for m in _outbox(shop) if "ready" in m["subject"]]
    [link] = complete["download_links"]  # the link is there either way
    assert urlsplit(link).path.startswith("/api/download/rc_dl_")
    [email_id] = [r["id"] for r in rows(conn, "select id from email_queue where template = 'restoration_complete'")]
    mime = BytesParser(policy=policy.default).parsebytes((settings.outbox_dir / f"{email_id}.eml").read_bytes())
    sent = {part.get_filename(): part.get_content() for part in mime.iter_attachments()}
    if attached:
        storage = get_storage()
        assert sent == {r["filename"]: storage.store.read(r["storage_path"]) for r in restored}
    else:
        assert sent == {} and complete["attachments"] == []


def test_the_resent_download_link_email_carries_a_fresh_link_that_works(
    shop: TestClient, conn: db.Connection, settings: Settings
) -> None:
    paid_order(shop, photos=1)
    run_worker("restoration", get_settings(), deadline_in(120))
    run_worker("email", get_settings(), deadline_in(60))
    [first_link] = next(m for m in _outbox(shop) if "ready" in m["subject"])["download_links"]
    number = _order(conn)["order_number"]

    answer = shop.post("/api/email/resend", json={"email": "ada@example.com", "order_number": number})
    assert answer.status_code == 202
    assert run_worker("email", get_settings(), deadline_in(60))["email"]["succeeded"] == 1

    [resent] = [m for m in _outbox(shop) if m["subject"] == f"Your download link ({number})"]
    assert resent["to"] == "ada@example.com"
    [link] = resent["download_links"]
    assert link != first_link
    assert f"Here is a fresh download link for order {number}, as you asked." in resent["text"]
    assert f"Download your photos: {link}" in resent["text"]
    assert (
        f"The link works for {settings.download_link_ttl_days} days, until " in resent["text"]
        and f"and for {settings.download_max_uses} downloads" in resent["text"]
    )
    assert f'href="{link}"' in resent["html"]  # the same link behind the button
    page = shop.get(urlsplit(link).path)
    assert page.status_code == 200 and f"Order {number}" in page.text and "photo0 (restored).jpg" in page.text
    assert _zip_behind(shop, link) == ["photo0 (restored).jpg"]
    assert rows(conn, "select count(*) as n from download_links") == [{"n": 2}]
