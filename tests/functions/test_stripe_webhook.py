"""The Stripe webhook: exactly one complete order, whatever Stripe sends and however often."""

from __future__ import annotations

import json
import secrets
import threading
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient

from shared.core import db
from shared.core.config import LOCAL_WEBHOOK_SECRET, Settings
from shared.core.errors import ServiceUnavailable
from shared.deps import get_payments
from shared.orders import fulfilment
from shared.payments import sign_webhook_payload
from shared.payments.local_provider import LocalPayments
from shared.stripe_events import dispatch
from tests.fixtures.db import counts, rows, stored_files
from tests.fixtures.shopping import start_checkout, upload_photos
from tests.fixtures.stripe_webhook import charge_event, paid_checkout, send


def test_a_paid_checkout_becomes_one_complete_order(shop: TestClient, conn: db.Connection, settings: Settings) -> None:
    _, event = paid_checkout(shop, photos=2)
    response = send(shop, event)
    assert response.status_code == 200, response.text
    assert response.json()["created"] is True
    [order] = rows(conn, "select * from orders")
    assert order["status"] == "paid" and order["payment_status"] == "paid"
    assert order["total_amount"] == 2 * settings.price_per_photo and order["image_count"] == 2
    assert order["stripe_payment_intent_id"].startswith("pi_local_")
    assert response.json()["order_number"] == order["order_number"]
    [customer] = rows(conn, "select * from customers")
    assert customer["email"] == "ada@example.com" and customer["id"] == order["customer_id"]
    originals = rows(conn, "select * from images where type = 'original'")
    # Recorded where they will live; moved there by each restoration job, not by the webhook.
    assert len(originals) == 2 and all(i["stored_at"] is None for i in originals)
    assert all(i["storage_path"].startswith(f"uploads/originals/{order['id']}/") for i in originals)
    temp = rows(conn, "select storage_path from file_uploads")
    assert sorted(t["storage_path"] for t in temp) == stored_files(settings)
    assert {r["status"] for r in rows(conn, "select status from file_uploads")} == {"claimed"}
    jobs = rows(conn, "select * from restoration_jobs")
    assert len(jobs) == 2 and {j["status"] for j in jobs} == {"pending"}
    [email] = rows(conn, "select * from email_queue")
    assert (email["template"], email["to_email"]) == ("order_confirmation", "ada@example.com")
    assert rows(conn, "select status from checkouts") == [{"status": "completed"}]
    assert rows(conn, "select status from upload_sessions") == [{"status": "paid"}]
    assert rows(conn, "select action, actor from audit_logs where entity_type = 'order'") == [
        {"action": "order.created", "actor": "stripe_webhook"}
    ]
    assert rows(conn, "select processed_at is not null as done from stripe_events") == [{"done": True}]


def test_a_customer_name_with_a_nul_character_still_makes_its_one_order(shop: TestClient, conn: db.Connection) -> None:
    # PostgreSQL cannot store U+0000 in text or jsonb: an event carrying one must not be
    # refused on every delivery (Stripe would retry it for days), so the NUL is dropped.
    _, event = paid_checkout(shop, photos=1)
    obj = event["data"]["object"]
    obj["customer_details"] = {**(obj.get("customer_details") or {}), "name": "Grace\u0000 Hopper", "\u0000x": "y"}
    obj["metadata"] = {**(obj.get("metadata") or {}), "note": "\u0000"}
    first = send(shop, event)
    assert first.status_code == 200, first.text
    assert first.json()["created"] is True
    assert send(shop, event).status_code == 200  # a redelivery: still the one order
    assert counts(conn)["orders"] == 1
    [stored] = rows(conn, "select payload -> 'data' -> 'object' -> 'customer_details' as details from stripe_events")
    assert stored["details"]["name"] == "Grace Hopper" and stored["details"]["x"] == "y"


def test_twenty_concurrent_deliveries_of_one_event_make_one_order(shop: TestClient, conn: db.Connection) -> None:
    _, event = paid_checkout(shop, photos=3)
    statuses: list[int] = []
    barrier = threading.Barrier(20)

    def deliver() -> None:
        barrier.wait()
        statuses.append(send(shop, event).status_code)

    threads = [threading.Thread(target=deliver) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert statuses == [200] * 20
    assert counts(conn) == {"orders": 1, "customers": 1, "images": 3, "restoration_jobs": 3, "email_queue": 1}
    assert rows(conn, "select attempts from stripe_events") == [{"attempts": 20}]
    # The losers gave their order numbers back: the next order is number 2.
    assert rows(conn, "select last_value from order_number_counters") == [{"last_value": 1}]


def test_completed_and_async_payment_succeeded_for_one_session_make_one_order(
    shop: TestClient, conn: db.Connection
) -> None:
    checkout, completed = paid_checkout(shop)
    provider = get_payments()
    assert isinstance(provider, LocalPayments)
    succeeded = provider.event_for(
        provider.session(checkout["checkout_session_id"]), "checkout.session.async_payment_succeeded"
    )
    results: list[int] = []
    threads = [
        threading.Thread(target=lambda e=e: results.append(send(shop, e).status_code))
        for e in (completed, succeeded, completed, succeeded)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert results == [200] * 4
    assert counts(conn) == {"orders": 1, "customers": 1, "images": 2, "restoration_jobs": 2, "email_queue": 1}


def test_an_unpaid_completion_waits_for_async_payment_succeeded(shop: TestClient, conn: db.Connection) -> None:
    session = upload_photos(shop)
    checkout = start_checkout(shop, session["upload_session_id"])
    provider = get_payments()
    assert isinstance(provider, LocalPayments)
    unpaid = provider.session(checkout["checkout_session_id"]) | {"status": "complete", "payment_status": "unpaid"}
    provider._save(unpaid)
    response = send(shop, provider.event_for(unpaid, "checkout.session.completed"))
    assert response.status_code == 200 and response.json()["fulfilled"] is False
    assert counts(conn)["orders"] == 0
    provider._save(unpaid | {"payment_status": "paid", "payment_intent": "pi_local_delayed"})
    later = send(
        shop,
        provider.event_for(
            provider.session(checkout["checkout_session_id"]), "checkout.session.async_payment_succeeded"
        ),
    )
    assert later.status_code == 200 and later.json()["created"] is True
    assert counts(conn)["orders"] == 1


def test_a_refund_before_the_completion_event_leaves_a_refunded_order_with_no_work(
    shop: TestClient, conn: db.Connection
) -> None:
    checkout, completed = paid_checkout(shop)
    intent = completed["data"]["object"]["payment_intent"]
    assert send(shop, charge_event("charge.refunded", intent, checkout["amount_total"])).status_code == 200
    assert send(shop, completed).status_code == 200
    [order] = rows(conn, "select status, payment_status from orders")
    assert order == {"status": "refunded", "payment_status": "refunded"}
    assert counts(conn)["restoration_jobs"] == 0 and counts(conn)["email_queue"] == 0


def test_a_refund_after_the_order_stops_its_work_and_revokes_links(shop: TestClient, conn: db.Connection) -> None:
    checkout, completed = paid_checkout(shop)
    send(shop, completed)
    [order] = rows(conn, "select id from orders")
    conn.execute(
        "insert into download_links (order_id, token_hash, expires_at) values (%s, %s, now() + interval '1 day')",
        [order["id"], "c" * 64],
    )
    intent = completed["data"]["object"]["payment_intent"]
    partial = send(shop, charge_event("charge.refunded", intent, checkout["amount_total"], refunded=100))
    assert partial.status_code == 200
    assert rows(conn, "select status from orders") == [{"status": "paid"}]
    assert send(shop, charge_event("charge.refunded", intent, checkout["amount_total"])).status_code == 200
    assert rows(conn, "select status, payment_status from orders") == [
        {"status": "refunded", "payment_status": "refunded"}
    ]
    assert {j["status"] for j in rows(conn, "select status from restoration_jobs")} == {"cancelled"}
    assert {e["status"] for e in rows(conn, "select status from email_queue")} == {"cancelled"}
    assert rows(conn, "select revoked_reason from download_links") == [{"revoked_reason": "refunded"}]
    # A dispute after the refund changes nothing more; every status change was audited.
    send(shop, charge_event("charge.dispute.created", intent, checkout["amount_total"]))
    assert rows(conn, "select status from orders") == [{"status": "refunded"}]
    assert [
        r["new_values"]["status"]
        for r in rows(conn, "select new_values from audit_logs where entity_type = 'order' order by id")
    ] == ["paid", "refunded"]


def test_a_dispute_marks_the_order_disputed(shop: TestClient, conn: db.Connection) -> None:
    checkout, completed = paid_checkout(shop)
    send(shop, completed)
    intent = completed["data"]["object"]["payment_intent"]
    assert send(shop, charge_event("charge.dispute.created", intent, checkout["amount_total"])).status_code == 200
    assert rows(conn, "select status, payment_status from orders") == [
        {"status": "disputed", "payment_status": "disputed"}
    ]


def test_expired_after_completion_changes_nothing(shop: TestClient, conn: db.Connection) -> None:
    checkout, completed = paid_checkout(shop)
    send(shop, completed)
    provider = get_payments()
    assert isinstance(provider, LocalPayments)
    expired = provider.event_for(provider.session(checkout["checkout_session_id"]), "checkout.session.expired")
    assert send(shop, expired).status_code == 200
    assert rows(conn, "select status from checkouts") == [{"status": "completed"}]
    assert rows(conn, "select status from upload_sessions") == [{"status": "paid"}]


def test_an_expired_checkout_releases_the_session(shop: TestClient, conn: db.Connection) -> None:
    session = upload_photos(shop)
    checkout = start_checkout(shop, session["upload_session_id"])
    provider = get_payments()
    assert isinstance(provider, LocalPayments)
    assert send(shop, provider.expire(checkout["checkout_session_id"])).status_code == 200
    assert rows(conn, "select status from upload_sessions") == [{"status": "open"}]
    assert start_checkout(shop, session["upload_session_id"])["checkout_session_id"] != checkout["checkout_session_id"]


def test_a_failed_async_payment_fails_the_checkout_and_tells_the_customer(
    shop: TestClient, conn: db.Connection
) -> None:
    session = upload_photos(shop)
    checkout = start_checkout(shop, session["upload_session_id"])
    provider = get_payments()
    assert isinstance(provider, LocalPayments)
    # A bank debit: completed unpaid, then it bounces.
    assert send(shop, provider.pay(checkout["checkout_session_id"], "bank_debit")).status_code == 200
    assert rows(conn, "select status from checkouts") == [{"status": "awaiting_payment"}]
    failed = provider.settle(checkout["checkout_session_id"], succeeded=False)
    assert send(shop, failed).status_code == 200
    assert rows(conn, "select status from checkouts") == [{"status": "failed"}]
    assert rows(conn, "select status from upload_sessions") == [{"status": "open"}]
    assert rows(conn, "select template, to_email from email_queue") == [
        {"template": "payment_failed", "to_email": "ada@example.com"}
    ]
    assert send(shop, failed).json() == {"received": True, "duplicate": True}
    assert counts(conn)["email_queue"] == 1


def test_other_events_are_recorded_and_accepted(shop: TestClient, conn: db.Connection) -> None:
    event = {
        "id": "evt_" + secrets.token_hex(8),
        "object": "event",
        "type": "customer.created",
        "data": {"object": {"object": "customer", "id": "cus_1"}},
    }
    assert send(shop, event).status_code == 200
    assert rows(conn, "select type, processed_at is not null as done from stripe_events") == [
        {"type": "customer.created", "done": True}
    ]


@pytest.mark.parametrize(
    ("tamper", "code"),
    [
        ("wrong_secret", "bad_signature"),
        ("missing", "missing_signature"),
        ("old", "timestamp_out_of_tolerance"),
        ("future", "timestamp_out_of_tolerance"),
        ("malformed_json", "malformed_payload"),
        ("not_an_event", "malformed_payload"),
        ("body_changed", "bad_signature"),
    ],
)
def test_bad_deliveries_are_refused_and_write_nothing(
    shop: TestClient, conn: db.Connection, tamper: str, code: str
) -> None:
    _, event = paid_checkout(shop)
    payload = json.dumps(event).encode()
    headers = {"content-type": "application/json"}
    if tamper == "wrong_secret":
        headers["stripe-signature"] = sign_webhook_payload(payload, "whsec_someone_else")
    elif tamper == "old":
        headers["stripe-signature"] = sign_webhook_payload(payload, LOCAL_WEBHOOK_SECRET, int(time.time()) - 3600)
    elif tamper == "future":
        headers["stripe-signature"] = sign_webhook_payload(payload, LOCAL_WEBHOOK_SECRET, int(time.time()) + 3600)
    elif tamper == "malformed_json":
        payload = b'{"id": "evt_1", "type": '
        headers["stripe-signature"] = sign_webhook_payload(payload, LOCAL_WEBHOOK_SECRET)
    elif tamper == "not_an_event":
        payload = b'{"hello": "world"}'
        headers["stripe-signature"] = sign_webhook_payload(payload, LOCAL_WEBHOOK_SECRET)
    elif tamper == "body_changed":
        headers["stripe-signature"] = sign_webhook_payload(payload, LOCAL_WEBHOOK_SECRET)
        payload = payload.replace(b"ada@example.com", b"eve@example.com")
    response = shop.post("/api/webhooks/stripe", content=payload, headers=headers)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == code
    assert rows(conn, "select * from stripe_events") == []
    assert counts(conn)["orders"] == 0


def test_a_rotated_secret_is_accepted_during_the_rotation(
    shop: TestClient, conn: db.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shared.core.config import get_settings

    _, event = paid_checkout(shop)
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", f"whsec_new_one,{LOCAL_WEBHOOK_SECRET}")
    get_settings.cache_clear()
    assert send(shop, event, secret="whsec_new_one").status_code == 200
    assert counts(conn)["orders"] == 1


def _fail_once(monkeypatch: pytest.MonkeyPatch, target: Any, name: str, error: Exception) -> None:
    original = getattr(target, name)
    state = {"failed": False}

    def failing(*args: Any, **kwargs: Any) -> Any:
        if not state["failed"]:
            state["failed"] = True
            raise error
        return original(*args, **kwargs)

    monkeypatch.setattr(target, name, failing)


@pytest.mark.parametrize(
    ("step", "error"),
    [
        ("retrieve", ServiceUnavailable("provider timed out")),
        ("get_or_create_customer", ServiceUnavailable("database went away")),
        ("next_order_number", RuntimeError("crash while numbering")),
        ("claim_photos", RuntimeError("crash while claiming")),
        ("queue_order_work", RuntimeError("crash while queueing")),
        ("mark_handled", RuntimeError("crash before commit")),
    ],
)
def test_a_failure_at_any_step_then_a_redelivery_gives_one_complete_order(
    shop: TestClient,
    conn: db.Connection,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    step: str,
    error: Exception,
) -> None:
    _, event = paid_checkout(shop, photos=2)
    if step == "retrieve":
        _fail_once(monkeypatch, type(get_payments()), "retrieve_checkout_session", error)
    elif step == "mark_handled":  # dispatch marks the event inside fulfilment's transaction
        _fail_once(monkeypatch, dispatch, step, error)
    else:
        _fail_once(monkeypatch, fulfilment, step, error)
    first = send(shop, event)
    assert first.status_code in (500, 503)
    assert counts(conn)["orders"] == 0
    assert rows(conn, "select processed_at from stripe_events") == [{"processed_at": None}]
    # Stripe retries: a later delivery of the same event finishes everything exactly once.
    again = send(shop, event)
    assert again.status_code == 200
    assert counts(conn) == {"orders": 1, "customers": 1, "images": 2, "restoration_jobs": 2, "email_queue": 1}
    assert rows(conn, "select last_value from order_number_counters") == [{"last_value": 1}]


def test_the_webhook_never_touches_storage_so_slow_or_failing_storage_cannot_hold_it_up(
    shop: TestClient, conn: db.Connection, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shared.deps import get_storage

    _, event = paid_checkout(shop, photos=3)
    store = type(get_storage().store)
    for name in ("move", "save", "delete", "read", "stat", "list"):
        if hasattr(store, name):
            monkeypatch.setattr(store, name, _storage_is_down)

    assert send(shop, event).status_code == 200

    assert counts(conn)["orders"] == 1
    # The photos wait in the temporary area; the restoration job moves each before restoring.
    assert rows(conn, "select count(*) as n from images where stored_at is null") == [{"n": 3}]
    assert len(stored_files(settings)) == 3


def _storage_is_down(*args: Any, **kwargs: Any) -> Any:
    raise ServiceUnavailable("storage timed out")


@pytest.mark.parametrize(
    ("tampering", "problem"),
    [
        ({"amount_total": 1}, "amount 1 != priced"),
        ({"currency": "eur"}, "currency eur != priced"),
        ({"metadata": {"photo_count": "1"}}, "photo count 1 != priced 2"),
        ({"metadata": {"photos": "0" * 32}}, "names other photos"),
        ({"client_reference_id": "00000000-0000-0000-0000-000000000000"}, "client_reference_id"),
    ],
)
def test_a_session_that_does_not_match_what_was_priced_makes_no_order_and_is_refunded(
    shop: TestClient,
    conn: db.Connection,
    tampering: dict[str, Any],
    problem: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The webhook fulfils what the provider says was paid, checked against our record;
    what does not match is never fulfilled, and the money goes back."""
    checkout, event = paid_checkout(shop, photos=2)
    provider = get_payments()
    assert isinstance(provider, LocalPayments)
    session = provider.session(checkout["checkout_session_id"])
    for key, value in tampering.items():
        session[key] = {**session[key], **value} if isinstance(value, dict) else value
    provider._save(session)  # as if the payment provider held something else than we priced
    response = send(shop, event)
    assert response.status_code == 200, response.text  # retrying cannot help: accepted, refunded
    assert response.json() == {"received": True, "fulfilled": False, "reason": "refunded"}
    assert counts(conn) == {"orders": 0, "customers": 0, "images": 0, "restoration_jobs": 0, "email_queue": 1}
    assert problem in caplog.text
    [refund] = provider.refunds()
    assert refund["payment_intent"] == session["payment_intent"] and refund["amount"] == session["amount_total"]
    [row] = rows(conn, "select status, refund_reason, stripe_refund_id from checkouts")
    assert row == {"status": "refunded", "refund_reason": "payment_mismatch", "stripe_refund_id": refund["id"]}
    [recorded] = rows(conn, "select processed_at from stripe_events where id = %s", event["id"])
    assert recorded["processed_at"] is not None
    # Stripe redelivers: nothing twice.
    assert send(shop, event).json() == {"received": True, "duplicate": True}
    assert len(provider.refunds()) == 1


def test_a_free_checkout_is_fulfilled_without_payment(shop: TestClient, conn: db.Connection) -> None:
    checkout, event = paid_checkout(shop, photos=1)
    event["data"]["object"]["payment_status"] = "no_payment_required"
    provider = get_payments()
    assert isinstance(provider, LocalPayments)
    session = provider.session(checkout["checkout_session_id"])
    provider._save({**session, "payment_status": "no_payment_required"})
    response = send(shop, event)
    assert response.status_code == 200 and response.json()["created"] is True
    assert counts(conn)["orders"] == 1


@pytest.mark.parametrize(
    ("kind", "obj", "field"),
    [
        ("checkout.session.completed", {"id": ["cs_local_x"]}, "data.object.id"),
        ("checkout.session.expired", {}, "data.object.id"),
        ("charge.refunded", {"payment_intent": "pi_1", "amount": "all of it"}, "data.object.amount"),
        ("charge.refunded", {"payment_intent": "pi_1", "amount": 2**63}, "data.object.amount"),
        ("charge.dispute.created", {"payment_intent": 7}, "data.object.payment_intent"),
    ],
)
def test_a_signed_event_whose_object_we_cannot_read_is_refused_naming_the_field(
    shop: TestClient, conn: db.Connection, kind: str, obj: dict[str, Any], field: str
) -> None:
    event = {"id": "evt_" + secrets.token_hex(8), "object": "event", "type": kind, "data": {"object": obj}}
    response = send(shop, event)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_payload"
    assert field in response.json()["error"]["message"]
    assert rows(conn, "select * from stripe_events") == []
