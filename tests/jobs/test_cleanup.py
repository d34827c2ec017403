"""Cleanup removes what was abandoned, and never what a paid order needs."""

from __future__ import annotations

import os
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient
from psycopg.types.json import Jsonb
from typer.testing import CliRunner

from infra.commands.main import app as cli_app
from shared.checkout.settling import run_checkout_settling
from shared.core import db
from shared.core.config import Settings, get_settings
from shared.deps import get_database, get_payments, get_storage
from shared.jobs.cleanup import run_cleanup
from shared.jobs.queue import deadline_in
from shared.payments import PaymentsUnavailable
from shared.payments.local_provider import LocalPayments
from tests.fixtures.db import rows, stored_files
from tests.fixtures.shopping import press_pay, start_checkout, upload_photos

OLD = "now() - interval '30 days'"


def age_object(settings: Settings, path: str, days: int = 30) -> None:
    file = settings.storage_dir / settings.storage_bucket / path
    then = time.time() - days * 86400
    os.utime(file, (then, then))


def scene(shop: TestClient, conn: db.Connection, settings: Settings) -> dict[str, str]:
    """An abandoned old upload, a fresh one, a paid order whose photo is not moved yet, a
    stray object, old and live links, old and new Stripe events."""
    abandoned = upload_photos(shop, 1)["photos"][0]["id"]
    fresh = upload_photos(shop, 1)["photos"][0]["id"]
    paid_session = upload_photos(shop, 1)
    checkout = start_checkout(shop, paid_session["upload_session_id"])
    press_pay(shop, checkout["checkout_url"])
    [order] = rows(conn, "select id from orders")
    # As if the move after commit had failed: the claimed photo is still in temp.
    [claimed] = rows(
        conn,
        "select f.storage_path, i.storage_path as dest, i.id from file_uploads f "
        "join images i on i.file_upload_id = f.id",
    )
    get_storage().move(claimed["dest"], claimed["storage_path"])
    conn.execute("update images set stored_at = null where id = %s", [claimed["id"]])
    conn.execute(f"update file_uploads set created_at = {OLD}")  # all of them are old now
    conn.execute("update file_uploads set created_at = now() where id = %s", [fresh])
    for path in stored_files(settings):
        age_object(settings, path)
    get_storage().store.put("uploads/temp/stray-session/stray.jpg", b"left by a crash", "image/jpeg")
    age_object(settings, "uploads/temp/stray-session/stray.jpg")
    conn.execute(
        "insert into download_links (order_id, token_hash, expires_at, created_at) values "
        "(%s, %s, now() - interval '20 days', now() - interval '50 days'), "
        "(%s, %s, now() + interval '20 days', now())",
        [order["id"], "d" * 64, order["id"], "e" * 64],
    )
    for event_id, processed in (("evt_old", "now() - interval '100 days'"), ("evt_new", "now()")):
        conn.execute(
            f"insert into stripe_events (id, type, payload, processed_at) values (%s, 'x.y', %s, {processed})",
            [event_id, Jsonb({})],
        )
    return {"abandoned": abandoned, "fresh": fresh, "claimed_path": claimed["storage_path"]}


def test_cleanup_removes_only_what_it_should(shop: TestClient, conn: db.Connection, settings: Settings) -> None:
    ids = scene(shop, conn, settings)
    report = run_cleanup(get_database(), get_storage(), get_settings(), time_left=deadline_in(60))
    assert report.finished
    assert report.counts["expired_uploads"] == 1 and report.counts["stray_temp_objects"] == 1
    statuses = {str(r["id"]): r["status"] for r in rows(conn, "select id, status from file_uploads")}
    assert statuses[ids["abandoned"]] == "expired" and statuses[ids["fresh"]] == "uploaded"
    assert "claimed" in statuses.values()
    files = stored_files(settings)
    assert ids["claimed_path"] in files  # the paid order's photo, still waiting to move
    assert "uploads/temp/stray-session/stray.jpg" not in files
    assert len([f for f in files if f.startswith("uploads/temp/")]) == 2  # fresh + claimed
    assert rows(conn, "select token_hash from download_links") == [{"token_hash": "e" * 64}]
    assert rows(conn, "select id from stripe_events where id like 'evt_o%%' or id = 'evt_new'") == [{"id": "evt_new"}]
    # The paid order can still be restored after cleanup.
    from shared.jobs.workers import run_worker

    assert run_worker("restoration", get_settings(), deadline_in(60))["restoration"]["succeeded"] == 1


def test_dry_run_reports_and_changes_nothing(shop: TestClient, conn: db.Connection, settings: Settings) -> None:
    scene(shop, conn, settings)
    before = (
        stored_files(settings),
        rows(conn, "select id, status from file_uploads order by id"),
        rows(conn, "select count(*) as n from download_links"),
    )
    outcome = CliRunner().invoke(cli_app, ["cleanup", "--dry-run"])
    assert outcome.exit_code == 0, outcome.output
    assert "expired_uploads" in outcome.output and "would" in outcome.output
    after = (
        stored_files(settings),
        rows(conn, "select id, status from file_uploads order by id"),
        rows(conn, "select count(*) as n from download_links"),
    )
    assert after == before


def test_cleanup_resumes_where_a_short_run_stopped(
    conn: db.Connection, settings: Settings, database: db.Database
) -> None:
    from shared.storage import StorageService

    storage: StorageService = get_storage()
    conn.execute(
        "insert into upload_sessions (id, expires_at, created_at) values "
        "('00000000-0000-0000-0000-000000000001', now() - interval '20 days', now() - interval '40 days')"
    )
    for n in range(25):
        conn.execute(
            "insert into file_uploads (upload_session_id, storage_path, filename, content_type, size_bytes, sha256, "
            f"width, height, expires_at, created_at) values ('00000000-0000-0000-0000-000000000001', %s, 'x.jpg', "
            f"'image/jpeg', 10, %s, 1, 1, now(), {OLD})",
            [f"uploads/temp/00000000-0000-0000-0000-000000000001/{n}.jpg", "a" * 64],
        )
    calls = {"n": 0}

    def two_pages_only() -> float:
        calls["n"] += 1
        return 60.0 if calls["n"] <= 2 else 0.0

    first = run_cleanup(database, storage, get_settings(), time_left=two_pages_only, batch_size=10)
    assert not first.finished and first.counts["expired_uploads"] == 20
    second = run_cleanup(database, storage, get_settings(), time_left=deadline_in(60), batch_size=10)
    assert second.finished and second.counts["expired_uploads"] == 5
    assert rows(conn, "select count(*) as n from file_uploads where status = 'expired'") == [{"n": 25}]


def test_a_cleanup_page_takes_the_oldest_from_the_index_without_sorting_the_backlog(conn: db.Connection) -> None:
    """Pages come from file_uploads_expirable_idx in its order. Ordered by a column no index holds,
    each page would sort every upload still waiting: quadratic time on a large backlog
    (tests/benchmarks/test_cleanup_scale.py measures 10,000 against 100,000)."""
    from shared.core.sql import QUERIES

    conn.execute(
        "insert into upload_sessions (id, expires_at, created_at) values "
        "('00000000-0000-0000-0000-000000000002', now() - interval '20 days', now() - interval '40 days')"
    )
    conn.execute(
        "insert into file_uploads (upload_session_id, storage_path, filename, content_type, size_bytes, sha256, "
        "width, height, expires_at, created_at) select '00000000-0000-0000-0000-000000000002', "
        "'uploads/temp/00000000-0000-0000-0000-000000000002/' || n || '.jpg', 'x.jpg', 'image/jpeg', 10, "
        f"repeat('a', 64), 1, 1, now() - interval '20 days', {OLD} from generate_series(1, 5000) n"
    )
    conn.execute("analyze file_uploads")
    params = {"retention_days": 7, "payment_window_days": 14, "batch_size": 500}
    plan = "\n".join(r["QUERY PLAN"] for r in conn.execute("explain " + QUERIES["expire_abandoned_uploads"], params))
    assert "file_uploads_expirable_idx" in plan and "Sort" not in plan, plan


def test_photos_of_a_checkout_still_awaiting_a_bank_debit_are_kept(
    shop: TestClient, conn: db.Connection, settings: Settings
) -> None:
    """Completed unpaid (a bank debit), paid days later: cleanup must not take the photos first."""
    session = upload_photos(shop, 2)
    checkout = start_checkout(shop, session["upload_session_id"])
    assert press_pay(shop, checkout["checkout_url"], "bank_debit").status_code == 303
    assert rows(conn, "select status from checkouts") == [{"status": "awaiting_payment"}]
    unpriced = upload_photos(shop, 1)["photos"][0]["id"]  # another session, nobody's paying for it
    conn.execute("update file_uploads set created_at = now() - interval '30 days'")
    conn.execute(
        "update checkouts set created_at = now() - interval '30 days', expires_at = now() - interval '29 days'"
    )
    for path in stored_files(settings):
        age_object(settings, path, days=30)

    settled = run_checkout_settling(get_settings(), deadline_in(60))["checkouts"]
    report = run_cleanup(get_database(), get_storage(), get_settings(), time_left=deadline_in(60))

    assert report.counts["expired_uploads"] == 1 and report.counts["stray_temp_objects"] == 0
    # Asked again past the window: still clearing, so it keeps waiting.
    assert settled == {"checkouts_payment_pending": 1}
    statuses = {str(r["id"]): r["status"] for r in rows(conn, "select id, status from file_uploads")}
    assert statuses.pop(unpriced) == "expired"
    assert list(statuses.values()) == ["uploaded", "uploaded"]
    assert len([f for f in stored_files(settings) if f.startswith("uploads/temp/")]) == 2
    assert rows(conn, "select status from checkouts") == [{"status": "awaiting_payment"}]
    assert rows(conn, "select status from upload_sessions where id = %s", session["upload_session_id"]) == [
        {"status": "checkout"}
    ]


def test_an_open_checkout_past_its_time_ends_at_the_provider_before_its_photos_go(
    shop: TestClient, conn: db.Connection, settings: Settings
) -> None:
    """Its expiry event was lost. Cleanup asks the provider to end it; only then is the cart
    free, and its old photos abandoned like any others."""
    checkout = old_checkout_past_its_time(shop, conn, settings)

    settled = run_checkout_settling(get_settings(), deadline_in(60))["checkouts"]
    report = run_cleanup(get_database(), get_storage(), get_settings(), time_left=deadline_in(60))

    assert settled == {"checkouts_expired": 1} and report.counts["expired_uploads"] == 2
    assert local_payments().session(checkout["checkout_session_id"])["status"] == "expired"
    assert rows(conn, "select status from checkouts") == [{"status": "expired"}]
    assert [f for f in stored_files(settings) if f.startswith("uploads/temp/")] == []


def test_an_open_checkout_past_its_time_that_was_paid_is_fulfilled_not_reopened(
    shop: TestClient, conn: db.Connection, settings: Settings
) -> None:
    """Paid, and both the webhook and its retries lost: cleanup's question to the provider
    finds the payment, and the order is made with every photo."""
    checkout = old_checkout_past_its_time(shop, conn, settings)
    local_payments().pay(checkout["checkout_session_id"])  # the event never arrives

    settled = run_checkout_settling(get_settings(), deadline_in(60))["checkouts"]
    report = run_cleanup(get_database(), get_storage(), get_settings(), time_left=deadline_in(60))

    assert settled == {"checkouts_fulfilled": 1} and report.counts.get("expired_uploads", 0) == 0
    [order] = rows(conn, "select image_count, status from orders")
    assert order == {"image_count": 2, "status": "paid"}
    assert rows(conn, "select status from checkouts") == [{"status": "completed"}]
    assert {r["status"] for r in rows(conn, "select status from file_uploads")} == {"claimed"}


def test_a_provider_out_of_reach_leaves_stale_checkouts_for_the_next_run(
    shop: TestClient, conn: db.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    session = upload_photos(shop, 1)
    start_checkout(shop, session["upload_session_id"])
    conn.execute("update file_uploads set created_at = now() - interval '30 days'")
    conn.execute("update checkouts set expires_at = now() - interval '1 hour'")

    def unreachable(self: LocalPayments, session_id: str) -> None:
        raise PaymentsUnavailable("the provider could not be reached", answered=False)

    monkeypatch.setattr(LocalPayments, "expire_checkout_session", unreachable)
    settled = run_checkout_settling(get_settings(), deadline_in(60))["checkouts"]
    report = run_cleanup(get_database(), get_storage(), get_settings(), time_left=deadline_in(60))

    assert settled == {"checkouts_provider_unreachable": 1} and report.counts.get("expired_uploads", 0) == 0
    assert rows(conn, "select status from checkouts") == [{"status": "open"}]
    assert {r["status"] for r in rows(conn, "select status from file_uploads")} == {"uploaded"}


def old_checkout_past_its_time(shop: TestClient, conn: db.Connection, settings: Settings) -> dict[str, Any]:
    """Two photos uploaded 30 days ago, in a checkout whose page's time ran out an hour ago
    with no event from the provider."""
    session = upload_photos(shop, 2)
    checkout = start_checkout(shop, session["upload_session_id"])
    conn.execute("update file_uploads set created_at = now() - interval '30 days'")
    conn.execute("update checkouts set expires_at = now() - interval '1 hour'")
    for path in stored_files(settings):
        age_object(settings, path, days=30)
    return checkout


def local_payments() -> LocalPayments:
    provider = get_payments()
    assert isinstance(provider, LocalPayments)
    return provider


def test_cleanup_removes_what_upload_urls_wrote_that_no_pending_upload_owns(
    shop: TestClient, conn: db.Connection, settings: Settings
) -> None:
    from urllib.parse import urlsplit

    from tests.fixtures import images

    photo = images.jpeg()

    def announce() -> dict:  # type: ignore[type-arg]
        body = {"files": [{"filename": "x.jpg", "size": len(photo), "content_type": "image/jpeg"}]}
        return shop.post("/api/uploads/direct", json=body).json()  # type: ignore[no-any-return]

    def put(slot: dict) -> None:  # type: ignore[type-arg]
        url = urlsplit(slot["upload_url"])
        assert shop.put(f"{url.path}?{url.query}", content=photo, headers=slot["upload_headers"]).status_code == 200

    completed, removed, waiting = announce(), announce(), announce()
    for announced in (completed, removed, waiting):
        put(announced["files"][0])
    assert shop.post(f"/api/uploads/direct/{completed['files'][0]['id']}/complete").status_code == 200
    put(completed["files"][0])  # sent again after completion: nothing will read it
    gone = shop.delete(f"/api/uploads/{removed['upload_session_id']}/files/{removed['files'][0]['id']}")
    assert gone.status_code == 204
    put(removed["files"][0])  # sent after the photo was removed (the 25 MB stray of the issue)

    incoming = [p for p in stored_files(settings) if p.startswith("uploads/incoming/")]
    assert len(incoming) == 3
    dry = run_cleanup(get_database(), get_storage(), get_settings(), time_left=lambda: 60, dry_run=True)
    assert dry.counts["stray_incoming_objects"] == 2 and len(stored_files(settings)) == 4
    report = run_cleanup(get_database(), get_storage(), get_settings(), time_left=lambda: 60)

    assert report.counts["stray_incoming_objects"] == 2
    left = stored_files(settings)
    [waiting_row] = rows(conn, "select storage_path from file_uploads where status = 'pending'")
    assert waiting_row["storage_path"].replace("uploads/temp/", "uploads/incoming/") in left
    [kept] = rows(conn, "select storage_path from file_uploads where status = 'uploaded'")
    assert kept["storage_path"] in left and len(left) == 2
    # The waiting upload still completes.
    assert shop.post(f"/api/uploads/direct/{waiting['files'][0]['id']}/complete").status_code == 200


def test_the_stripe_webhook_function_runs_checkout_settling_on_its_schedule(
    shop: TestClient, conn: db.Connection, settings: Settings
) -> None:
    """EventBridge's `{"worker": "checkouts"}` reaches the stripe-webhook function, which has
    the Stripe SDK; anything else sent there is refused."""
    from functions.stripe_webhook.handler import handler

    session = upload_photos(shop, 1)
    start_checkout(shop, session["upload_session_id"])
    conn.execute("update checkouts set expires_at = now() - interval '1 hour'")

    report = handler({"worker": "checkouts"}, None)

    assert report == {"checkouts": {"checkouts_expired": 1}}
    assert rows(conn, "select status from upload_sessions") == [{"status": "open"}]
    with pytest.raises(ValueError):
        handler({"worker": "restoration"}, None)
