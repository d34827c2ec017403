"""The Replicate provider against a local stand-in of Replicate's API, over real HTTP.

The worker hands each photo to a prediction and moves on; the signed webhook (or, when it
never comes, the poll fallback) stores the restored photo and settles the job, exactly
once however often it is delivered.
"""

from __future__ import annotations

import hashlib
import io
import time
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from PIL import Image

from infra.dev_server import build_dev_app
from shared.core import db
from shared.core.config import Settings, get_settings
from shared.deps import get_storage
from shared.jobs.queue import deadline_in
from shared.jobs.workers import run_worker
from tests.fixtures.db import rows
from tests.fixtures.http_server import SwappableApp, serve
from tests.fixtures.replicate_standin import ReplicateStandIn
from tests.fixtures.shopping import press_pay, start_checkout, upload_photos

MODEL_VERSION = "0fbacf7a2bb56a3a4d0fbc2f3f5c9f52ccd4b1a1ef0e8e4d1ed2d3a4b5c6d7e8"


@pytest.fixture
def replicate(settings: Settings) -> Iterator[ReplicateStandIn]:
    standin = ReplicateStandIn()
    with serve(standin.app()) as url:
        standin.base_url = url
        yield standin


@pytest.fixture
def live_shop(
    settings: Settings, database: db.Database, replicate: ReplicateStandIn, monkeypatch: pytest.MonkeyPatch
) -> Iterator[httpx.Client]:
    """The dev app over real HTTP (Replicate must reach the photo URLs and the webhook)."""
    mount = SwappableApp()
    with serve(mount) as base_url:
        monkeypatch.setenv("PUBLIC_BASE_URL", base_url)
        monkeypatch.setenv("RESTORATION_PROVIDER", "replicate")
        monkeypatch.setenv("REPLICATE_API_TOKEN", replicate.token)
        monkeypatch.setenv("REPLICATE_API_BASE", replicate.base_url)
        monkeypatch.setenv("REPLICATE_MODEL", f"tencentarc/gfpgan:{MODEL_VERSION}")
        get_settings.cache_clear()
        mount.app = build_dev_app(get_settings())
        with httpx.Client(base_url=base_url, timeout=30) as client:
            yield client
        mount.app = None


def paid_order(shop: httpx.Client, photos: int) -> None:
    session = upload_photos(shop, photos)  # type: ignore[arg-type]
    checkout = start_checkout(shop, session["upload_session_id"])  # type: ignore[arg-type]
    assert press_pay(shop, checkout["checkout_url"]).status_code == 303  # type: ignore[arg-type]


def restoration_run() -> dict[str, Any]:
    return run_worker("restoration", get_settings(), deadline_in(60))


def webhook_url(shop: httpx.Client) -> str:
    return str(shop.base_url.join("/api/webhooks/replicate"))


def jobs(conn: db.Connection) -> list[dict[str, Any]]:
    return rows(conn, "select * from restoration_jobs order by created_at, id")


def test_photos_are_handed_to_replicate_and_restored_by_its_signed_webhook(
    live_shop: httpx.Client, replicate: ReplicateStandIn, conn: db.Connection
) -> None:
    paid_order(live_shop, photos=2)
    report = restoration_run()
    assert report["restoration"]["handed_off"] == 2 and report["restoration"]["succeeded"] == 0
    assert report["order_work"]["succeeded"] == 0  # nothing to finish while Replicate works

    waiting = jobs(conn)
    assert [j["status"] for j in waiting] == ["running", "running"]
    for job in waiting:
        assert job["provider"] == "replicate" and job["locked_by"] == f"replicate:{job['provider_prediction_id']}"
        assert job["locked_until"] - job["started_at"] > timedelta(minutes=25)
    assert {j["provider_prediction_id"] for j in waiting} == set(replicate.predictions)
    originals = {r["storage_path"] for r in rows(conn, "select storage_path from images where type = 'original'")}
    for prediction in replicate.predictions.values():
        assert prediction["version"] == MODEL_VERSION
        assert prediction["webhook"] == webhook_url(live_shop)
        assert prediction["webhook_events_filter"] == ["completed"]
        assert list(prediction["input"]) == ["img"]  # GFPGAN's photo input (REPLICATE_IMAGE_INPUT)
        assert any(urlsplit(prediction["input"]["img"]).path.endswith(path) for path in originals)

    for prediction_id in list(replicate.predictions):
        replicate.finish(prediction_id)
        delivered = replicate.deliver(prediction_id)
        assert delivered.status_code == 200 and delivered.json()["outcome"] == "restored"
    assert replicate.secret_reads == 1  # fetched once, kept for the container's life

    assert [j["status"] for j in jobs(conn)] == ["succeeded", "succeeded"]
    storage = get_storage()
    restored = rows(conn, "select * from images where type = 'restored'")
    assert len(restored) == 2
    for image in restored:
        data = storage.store.read(image["storage_path"])
        assert hashlib.sha256(data).hexdigest() == image["sha256"]
        with Image.open(io.BytesIO(data)) as decoded:  # Replicate's PNG, delivered as JPEG
            assert decoded.format == "JPEG" and decoded.size == (image["width"], image["height"]) == (64, 48)

    finished = restoration_run()
    assert finished["order_work"]["succeeded"] == 1
    [order] = rows(conn, "select id, status from orders")
    assert order["status"] == "completed"
    [zip_object] = storage.store.list(f"downloads/{order['id']}/")
    with zipfile.ZipFile(io.BytesIO(storage.store.read(zip_object.path))) as archive:
        assert sorted(archive.namelist()) == ["photo0 (restored).jpg", "photo1 (restored).jpg"]


def test_a_webhook_delivered_many_times_at_once_stores_one_restored_photo(
    live_shop: httpx.Client, replicate: ReplicateStandIn, conn: db.Connection
) -> None:
    paid_order(live_shop, photos=1)
    restoration_run()
    [prediction_id] = replicate.predictions
    replicate.finish(prediction_id)
    deliveries = [replicate.callback(prediction_id) for _ in range(8)]
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda d: httpx.post(webhook_url(live_shop), content=d[0], headers=d[1]), deliveries))
    assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
    assert "restored" in {a.json()["outcome"] for a in answers}
    assert rows(conn, "select count(*) as n from images where type = 'restored'") == [{"n": 1}]
    [order] = rows(conn, "select id from orders")
    assert len(get_storage().store.list(f"uploads/restored/{order['id']}/")) == 1
    assert [j["status"] for j in jobs(conn)] == ["succeeded"]
    # Days later, Replicate retries once more: the job is settled, nothing moves.
    again = replicate.deliver(prediction_id)
    assert again.status_code == 200 and again.json()["outcome"] == "not_awaited"
    assert rows(conn, "select count(*) as n from images where type = 'restored'") == [{"n": 1}]


@pytest.mark.parametrize(
    ("forgery", "code"),
    [
        ("wrong_secret", "bad_signature"),
        ("an_hour_old", "bad_signature"),
        ("an_hour_ahead", "bad_signature"),
        ("tampered_body", "bad_signature"),
        ("no_signature", "bad_signature"),
    ],
)
def test_a_forged_or_stale_webhook_is_refused_and_changes_nothing(
    live_shop: httpx.Client, replicate: ReplicateStandIn, conn: db.Connection, forgery: str, code: str
) -> None:
    paid_order(live_shop, photos=1)
    restoration_run()
    [prediction_id] = replicate.predictions
    replicate.finish(prediction_id)
    signing: dict[str, Any] = {
        "wrong_secret": {"secret_key": ReplicateStandIn().secret_key},
        "an_hour_old": {"timestamp": int(time.time()) - 3600},
        "an_hour_ahead": {"timestamp": int(time.time()) + 3600},
    }.get(forgery, {})
    body, headers = replicate.callback(prediction_id, **signing)
    if forgery == "tampered_body":
        body = body.replace(b'"succeeded"', b'"failed"')
    if forgery == "no_signature":
        del headers["webhook-signature"]
    before = jobs(conn)
    answer = live_shop.post("/api/webhooks/replicate", content=body, headers=headers)
    assert answer.status_code == 400 and answer.json()["error"]["code"] == code
    assert jobs(conn) == before
    assert rows(conn, "select count(*) as n from images where type = 'restored'") == [{"n": 0}]


def test_the_poll_fallback_settles_predictions_whose_webhook_never_came(
    live_shop: httpx.Client, replicate: ReplicateStandIn, conn: db.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    paid_order(live_shop, photos=2)
    restoration_run()
    unfinished, finished = sorted(replicate.predictions)
    replicate.finish(finished)  # done at Replicate, but its webhook is lost
    monkeypatch.setenv("REPLICATE_POLL_AFTER_SECONDS", "0")
    get_settings.cache_clear()
    report = restoration_run()
    assert report["predictions_polled"] == {"restored": 1, "in_progress": 1}
    by_prediction = {j["provider_prediction_id"]: j["status"] for j in jobs(conn)}
    assert by_prediction == {finished: "succeeded", unfinished: "running"}

    replicate.finish(unfinished)
    report = restoration_run()
    assert report["predictions_polled"] == {"restored": 1}
    assert report["order_work"]["succeeded"] == 1  # the same run finishes the order
    assert rows(conn, "select status from orders") == [{"status": "completed"}]


def test_a_failing_prediction_is_tried_again_then_dead_and_the_order_failed(
    live_shop: httpx.Client, replicate: ReplicateStandIn, conn: db.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAX_RESTORATION_ATTEMPTS", "2")
    get_settings.cache_clear()
    paid_order(live_shop, photos=1)
    for attempt in (1, 2):
        assert restoration_run()["restoration"]["handed_off"] == 1
        [job] = jobs(conn)
        replicate.finish(job["provider_prediction_id"], succeed=False)
        answer = replicate.deliver(job["provider_prediction_id"])
        assert answer.status_code == 200 and answer.json()["outcome"] == "failed"
        [job] = jobs(conn)
        assert job["attempt_number"] == attempt and "CUDA out of memory" in job["last_error"]
        conn.execute("update restoration_jobs set run_after = now() where id = %s", [job["id"]])
    assert job["status"] == "dead" and len(job["error_history"]) == 2
    assert len(replicate.predictions) == 2  # a new prediction for the second attempt
    restoration_run()
    assert rows(conn, "select status from orders") == [{"status": "failed"}]


def test_a_prediction_that_outlives_its_lease_is_swept_and_a_late_webhook_ignored(
    live_shop: httpx.Client, replicate: ReplicateStandIn, conn: db.Connection
) -> None:
    paid_order(live_shop, photos=1)
    restoration_run()
    [first] = replicate.predictions
    conn.execute("update restoration_jobs set locked_until = now() - interval '1 second'")
    assert restoration_run()["restoration"]["handed_off"] == 1  # swept, then handed over anew
    second = next(p for p in replicate.predictions if p != first)
    replicate.finish(first)
    assert replicate.deliver(first).json()["outcome"] == "not_awaited"  # the lease passed on
    assert rows(conn, "select count(*) as n from images where type = 'restored'") == [{"n": 0}]
    replicate.finish(second)
    assert replicate.deliver(second).json()["outcome"] == "restored"
    [job] = jobs(conn)
    assert job["status"] == "succeeded" and job["attempt_number"] == 2


@pytest.mark.parametrize(("status", "outcome"), [(500, "pending"), (429, "pending"), (422, "dead")])
def test_replicate_refusing_a_prediction_is_retried_or_dead_by_its_status(
    live_shop: httpx.Client, replicate: ReplicateStandIn, conn: db.Connection, status: int, outcome: str
) -> None:
    paid_order(live_shop, photos=1)
    replicate.create_failures.append(status)
    report = restoration_run()["restoration"]
    assert report["handed_off"] == 0 and (report["dead"], report["retried"]) == (
        (1, 0) if outcome == "dead" else (0, 1)
    )
    [job] = jobs(conn)
    assert job["status"] == outcome and str(status) in job["last_error"]
    assert replicate.predictions == {}


def test_the_webhook_is_not_served_when_photos_are_restored_locally(shop: Any) -> None:
    answer = shop.post("/api/webhooks/replicate", content=b"{}", headers={"content-type": "application/json"})
    assert answer.status_code == 404 and answer.json()["error"]["code"] == "not_configured"


def test_a_misconfigured_signing_secret_answers_500_without_showing_it(
    live_shop: httpx.Client, replicate: ReplicateStandIn, conn: db.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REPLICATE_WEBHOOK_SECRET", "not-a-whsec-secret-value")
    get_settings.cache_clear()
    paid_order(live_shop, photos=1)
    restoration_run()
    [prediction_id] = replicate.predictions
    replicate.finish(prediction_id)
    answer = replicate.deliver(prediction_id)
    assert answer.status_code == 500 and answer.json()["error"]["code"] == "configuration_error"
    assert "not-a-whsec-secret-value" not in answer.text
    assert [j["status"] for j in jobs(conn)] == ["running"]  # Replicate retries; the poll fallback would settle it


def test_a_provider_output_over_the_pixel_limit_is_refused_before_it_is_decoded() -> None:
    from shared.jobs.queue import TerminalJobError
    from shared.restoration.predictions import _as_jpeg
    from tests.fixtures import images

    with pytest.raises(TerminalJobError, match="pixels"):
        _as_jpeg(images.png_claiming(30000, 30000), 320_000_000)
    with pytest.raises(TerminalJobError, match="pixels"):
        _as_jpeg(images.png((200, 100)), 200 * 100 - 1)
    assert _as_jpeg(images.png((200, 100)), 200 * 100)[:2] == b"\xff\xd8"
