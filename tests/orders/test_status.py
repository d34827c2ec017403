"""Order status by order id and by checkout session id, with no personal data."""

from __future__ import annotations

import uuid

import pytest
from fastapi.testclient import TestClient

from shared.core import db
from tests.fixtures.shopping import start_checkout, upload_photos


def test_status_by_order_id_and_by_checkout_session(
    shop: TestClient,
    finished_order: dict,  # type: ignore[type-arg]
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Both answers carry signed preview URLs, whose expiry is counted from the clock: one
    # clock for both, so that a second ticking between them cannot tell them apart.
    import shared.storage.local as local_storage

    now = local_storage.time.time()
    monkeypatch.setattr(local_storage.time, "time", lambda: now)
    by_session = shop.get(f"/api/restoration/status/{finished_order['checkout']['checkout_session_id']}")
    by_order = shop.get(f"/api/restoration/status/{finished_order['order']['id']}")
    assert by_session.status_code == by_order.status_code == 200
    assert by_session.json() == by_order.json()
    body = by_order.json()
    assert body["order_number"] == finished_order["order"]["order_number"]
    assert body["status"] == "completed" and body["photos_total"] == body["photos_done"] == 2
    assert {p["status"] for p in body["photos"]} == {"restored"}
    assert body["download"]["ready"] is True
    assert "ada@example.com" not in by_order.text and "Ada" not in by_order.text


def test_a_paid_checkout_awaiting_its_webhook_says_so(shop: TestClient) -> None:
    checkout = start_checkout(shop, upload_photos(shop, 1)["upload_session_id"])
    body = shop.get(f"/api/restoration/status/{checkout['checkout_session_id']}").json()
    assert body["status"] == "confirming_payment" and body["photos_total"] == 1


def test_unknown_references_are_404(shop: TestClient, database) -> None:  # type: ignore[no-untyped-def]
    for ref in (str(uuid.uuid4()), "cs_test_nope", "x" * 500):
        response = shop.get(f"/api/restoration/status/{ref}")
        assert response.status_code == 404 and response.json()["error"]["code"] == "order_not_found"


def test_a_checkout_that_expired_or_failed_unpaid_says_which(shop: TestClient) -> None:
    from shared.deps import get_payments
    from tests.fixtures.stripe_webhook import send

    payments = get_payments()
    expired = start_checkout(shop, upload_photos(shop, 1)["upload_session_id"])["checkout_session_id"]
    assert send(shop, payments.expire(expired)).status_code == 200  # type: ignore[attr-defined]
    failed = start_checkout(shop, upload_photos(shop, 1)["upload_session_id"])["checkout_session_id"]
    # A bank debit that bounces: completed unpaid, then failed.
    assert send(shop, payments.pay(failed, "bank_debit")).status_code == 200  # type: ignore[attr-defined]
    assert shop.get(f"/api/restoration/status/{failed}").json()["status"] == "payment_pending"
    assert send(shop, payments.settle(failed, succeeded=False)).status_code == 200  # type: ignore[attr-defined]
    assert shop.get(f"/api/restoration/status/{expired}").json()["status"] == "checkout_expired"
    assert shop.get(f"/api/restoration/status/{failed}").json()["status"] == "payment_failed"


def test_status_polls_find_the_order_through_an_index_however_many_orders_there_are(conn: db.Connection) -> None:
    """Every poll of the success page runs these: a cast or an OR over both columns would
    read every order (72 ms a poll at 500k orders) where an index reads one."""
    from shared.core.sql import QUERIES

    conn.execute("insert into customers (id, email) values ('00000000-0000-0000-0000-00000000000c', 'c@example.com')")
    conn.execute(
        "insert into orders (order_number, customer_id, stripe_checkout_session_id, upload_session_id,"
        " image_count, total_amount, currency) select '20260101-' || lpad(n::text, 6, '0'),"
        " '00000000-0000-0000-0000-00000000000c', 'cs_test_' || n, gen_random_uuid(), 1, 999, 'usd'"
        " from generate_series(1, 20000) n"
    )
    conn.execute("analyze orders")
    [some] = conn.execute("select id, stripe_checkout_session_id from orders where order_number = '20260101-012345'")

    by_id = QUERIES["order_for_status_by_id"]
    by_checkout = QUERIES["order_for_status_by_checkout"]
    for query, params, index in (
        (by_id, {"order_id": some["id"]}, "orders_pkey"),
        (by_checkout, {"ref": some["stripe_checkout_session_id"]}, "orders_stripe_checkout_session_id_key"),
        (QUERIES["checkout_for_status"], {"ref": "cs_test_12345"}, "checkouts_stripe_checkout_session_id_key"),
    ):
        plan = "\n".join(r["QUERY PLAN"] for r in conn.execute("explain " + query, params))
        assert index in plan and "Seq Scan" not in plan, plan


def test_a_reference_that_is_not_an_id_is_looked_up_as_a_checkout_and_answers_404(shop: TestClient) -> None:
    for ref in ("not-a-uuid", "00000000-0000-0000-0000-000000000000", "cs_test_nobody", "cs_test_%00x", "%00"):
        response = shop.get(f"/api/restoration/status/{ref}")
        assert response.status_code == 404 and response.json()["error"]["code"] == "order_not_found"
