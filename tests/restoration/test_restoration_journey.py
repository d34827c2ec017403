"""Paid orders become restored photos, a ZIP and an email, with no one watching."""

from __future__ import annotations

import io
import zipfile
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from shared.core import db
from shared.core.config import Settings, get_settings
from shared.deps import get_storage
from shared.jobs.queue import deadline_in
from shared.jobs.workers import run_worker
from tests.fixtures.db import rows, stored_files
from tests.fixtures.shopping import paid_order


def test_an_order_is_restored_zipped_and_emailed(shop: TestClient, conn: db.Connection, settings: Settings) -> None:
    paid_order(shop, photos=2)
    report = run_worker("restoration", get_settings(), deadline_in(120))
    assert report["restoration"]["succeeded"] == 2 and report["order_work"]["succeeded"] == 1
    [order] = rows(conn, "select * from orders")
    assert order["status"] == "completed" and order["completed_at"] is not None
    restored = rows(conn, "select * from images where type = 'restored' order by filename")
    assert len(restored) == 2 and all(r["source_image_id"] for r in restored)
    storage = get_storage()
    for image in restored:
        decoded = Image.open(io.BytesIO(storage.store.read(image["storage_path"])))
        assert decoded.format == "JPEG" and decoded.size == (image["width"], image["height"])
    [zip_object] = storage.store.list(f"downloads/{order['id']}/")
    with zipfile.ZipFile(io.BytesIO(storage.store.read(zip_object.path))) as archive:
        assert sorted(archive.namelist()) == ["photo0 (restored).jpg", "photo1 (restored).jpg"]
        assert archive.testzip() is None

    emails = run_worker("email", get_settings(), deadline_in(60))
    assert emails["email"]["succeeded"] == 2  # confirmation, then completion
    sent = rows(conn, "select template, status, provider_message_id from email_queue order by created_at")
    assert [(e["template"], e["status"]) for e in sent] == [
        ("order_confirmation", "sent"),
        ("restoration_complete", "sent"),
    ]
    assert all(e["provider_message_id"] for e in sent)
    outbox = shop.get("/dev/outbox?format=json").json()["messages"]
    complete = next(m for m in outbox if "ready" in m["subject"])
    assert complete["to"] == "ada@example.com"
    assert sorted(complete["attachments"]) == ["photo0 (restored).jpg", "photo1 (restored).jpg"]
    [link] = complete["download_links"]
    assert urlsplit(link).path.startswith("/api/download/rc_dl_")
    # Only the hash of the token is in the database.
    token = urlsplit(link).path.rsplit("/", 1)[-1]
    assert rows(
        conn, "select count(*) as n from download_links where token_hash = encode(sha256(%s::bytea), 'hex')", token
    ) == [{"n": 1}]
    assert token not in str(rows(conn, "select * from download_links")) + str(
        rows(conn, "select payload from email_queue")
    )


def test_a_retried_job_never_makes_a_second_restored_image(shop: TestClient, conn: db.Connection) -> None:
    paid_order(shop, photos=1)
    run_worker("restoration", get_settings(), deadline_in(60))
    conn.execute("update restoration_jobs set status = 'pending', attempt_number = 0, finished_at = null")
    run_worker("restoration", get_settings(), deadline_in(60))
    assert rows(conn, "select count(*) as n from images where type = 'restored'") == [{"n": 1}]
    assert rows(conn, "select count(*) as n from order_jobs") == [{"n": 1}]


def test_a_provider_failing_twice_then_succeeding(
    shop: TestClient, conn: db.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shared.restoration.local import LocalRestoration

    real = LocalRestoration.restore
    calls = {"n": 0}

    def flaky(self: LocalRestoration, photo: bytes) -> bytes:
        calls["n"] += 1
        if calls["n"] <= 2:
            raise ConnectionError("provider hiccup")
        return real(self, photo)

    monkeypatch.setattr(LocalRestoration, "restore", flaky)
    paid_order(shop, photos=1)
    for _ in range(3):
        run_worker("restoration", get_settings(), deadline_in(60))
        conn.execute("update restoration_jobs set run_after = now() where status = 'pending'")
    [job] = rows(conn, "select status, attempt_number, error_history from restoration_jobs")
    assert job["status"] == "succeeded" and job["attempt_number"] == 3
    assert [e["error"] for e in job["error_history"]] == ["ConnectionError: provider hiccup"] * 2
    assert rows(conn, "select status from orders") == [{"status": "completed"}]


def test_a_provider_failing_always_ends_dead_and_the_order_failed(
    shop: TestClient, conn: db.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shared.restoration.local import LocalRestoration

    def broken(self: LocalRestoration, photo: bytes) -> bytes:
        raise ConnectionError("provider down")

    monkeypatch.setattr(LocalRestoration, "restore", broken)
    paid_order(shop, photos=1)
    for _ in range(get_settings().max_restoration_attempts + 1):
        run_worker("restoration", get_settings(), deadline_in(60))
        conn.execute("update restoration_jobs set run_after = now() where status = 'pending'")
    [job] = rows(conn, "select status, attempt_number, error_history from restoration_jobs")
    assert job["status"] == "dead" and job["attempt_number"] == get_settings().max_restoration_attempts
    assert len(job["error_history"]) == get_settings().max_restoration_attempts
    assert rows(conn, "select status from orders") == [{"status": "failed"}]
    assert rows(conn, "select template from email_queue order by created_at") == [
        {"template": "order_confirmation"},
        {"template": "restoration_failed"},
    ]


def test_a_photo_restored_while_its_order_was_refunded_is_not_kept(
    shop: TestClient, conn: db.Connection, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shared.payments.refunds import reverse_payment
    from shared.restoration.local import LocalRestoration

    real = LocalRestoration.restore
    paid_order(shop, photos=2)
    [order] = rows(conn, "select id, stripe_payment_intent_id from orders")

    def refunded_meanwhile(self: LocalRestoration, photo: bytes) -> bytes:
        # The customer's refund lands while the first photo is with the provider.
        if rows(conn, "select status from orders") == [{"status": "processing"}]:
            with db.get_database().transaction(actor="test") as tx:
                reverse_payment(tx, order["stripe_payment_intent_id"], "refunded")
        return real(self, photo)

    monkeypatch.setattr(LocalRestoration, "restore", refunded_meanwhile)
    run_worker("restoration", get_settings(), deadline_in(60))

    assert rows(conn, "select status from orders") == [{"status": "refunded"}]
    # The job in hand finished restoring, but nothing of its result is kept or recorded,
    # and the other job, cancelled by the refund, never ran.
    assert rows(conn, "select count(*) as n from images where type = 'restored'") == [{"n": 0}]
    assert (
        rows(conn, "select status, restored_image_id from restoration_jobs")
        == [{"status": "cancelled", "restored_image_id": None}] * 2
    )
    restored_objects = [p for p in stored_files(settings) if "/restored/" in p]
    assert restored_objects == []


def _swap_originals(conn: db.Connection, photo: bytes) -> None:
    """Replace every stored original behind the shop's back (as a write to storage would)."""
    storage = get_storage()
    for image in rows(conn, "select i.storage_path, f.storage_path as temp_path from images i "
                            "join file_uploads f on f.id = i.file_upload_id where i.type = 'original'"):  # fmt: skip
        for path in (image["storage_path"], image["temp_path"]):
            if storage.store.stat(path) is not None:
                storage.store.put(path, photo, "image/png")


def test_an_original_that_is_not_the_checked_photo_is_never_restored(shop: TestClient, conn: db.Connection) -> None:
    from tests.fixtures import images

    paid_order(shop, photos=1)
    _swap_originals(conn, images.png_claiming(12000, 12000))

    run_worker("restoration", get_settings(), deadline_in(120))

    [job] = rows(conn, "select status, last_error from restoration_jobs")
    assert job["status"] == "dead" and "not the photo that was checked" in job["last_error"]
    assert rows(conn, "select * from images where type = 'restored'") == []


def test_the_local_provider_refuses_a_photo_over_the_pixel_limit_before_decoding() -> None:
    from shared.jobs.queue import TerminalJobError
    from shared.restoration.local import LocalRestoration
    from tests.fixtures import images

    with pytest.raises(TerminalJobError, match="pixels"):
        LocalRestoration(max_pixels=80_000_000).restore(images.png_claiming(12000, 12000))
    with pytest.raises(TerminalJobError, match="pixels"):
        LocalRestoration(max_pixels=100 * 100 - 1).restore(images.jpeg((100, 100)))
    assert LocalRestoration(max_pixels=100 * 100).restore(images.jpeg((100, 100)))[:2] == b"\xff\xd8"


def test_a_local_provider_is_told_apart_from_a_remote_one_by_its_type(
    shop: TestClient, conn: db.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A method named like the remote shape's (`start`) does not make a local provider
    # remote: the worker goes by the provider's type, and restores the photo in its run.
    from shared.restoration.local import LocalRestoration

    def start(self: LocalRestoration, photo_url: str, webhook_url: str) -> None:
        raise AssertionError("a local provider was handed the photo's URL")

    monkeypatch.setattr(LocalRestoration, "start", start, raising=False)
    paid_order(shop, photos=1)
    report = run_worker("restoration", get_settings(), deadline_in(120))
    assert report["restoration"]["succeeded"] == 1 and report["restoration"]["handed_off"] == 0
    assert "predictions_polled" not in report
    assert rows(conn, "select status, provider from restoration_jobs") == [{"status": "succeeded", "provider": "local"}]


@pytest.mark.parametrize("provider", ["local", "replicate"])
def test_each_provider_the_settings_choose_has_exactly_one_shape(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, provider: str
) -> None:
    from shared.restoration import RemoteRestorationProvider, RestorationProvider, restoration_from_settings

    monkeypatch.setenv("RESTORATION_PROVIDER", provider)
    monkeypatch.setenv("REPLICATE_API_TOKEN", "r8_test_token")
    get_settings.cache_clear()
    made = restoration_from_settings(get_settings())
    assert made.name == provider
    assert isinstance(made, RemoteRestorationProvider) == (provider == "replicate")
    assert isinstance(made, RestorationProvider) == (provider == "local")
