"""Cancelling a checkout: the customer went back from the payment page to change photos.

The payment page is expired at the provider first (it can no longer be paid), then the
upload session is open again; a paid checkout is never undone.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from shared.core import db
from shared.core.config import Settings
from shared.deps import get_payments
from shared.payments.base import CheckoutSessionInfo
from shared.payments.local_provider import LocalPayments
from tests.fixtures import images
from tests.fixtures.db import rows
from tests.fixtures.shopping import press_pay, start_checkout, upload_photos
from tests.fixtures.stripe_webhook import send


def cancel(shop: TestClient, checkout_session_id: str) -> Any:
    return shop.post(f"/api/checkout/{checkout_session_id}/cancel")


def local_payments() -> LocalPayments:
    provider = get_payments()
    assert isinstance(provider, LocalPayments)
    return provider


def cancellations(conn: db.Connection) -> list[dict[str, Any]]:
    query = "select entity_id, old_values, new_values, actor from audit_logs where action = 'checkout.cancelled'"
    return rows(conn, query)


def test_cancelling_reopens_the_session_to_change_photos_and_pay_for_the_rest(
    shop: TestClient, conn: db.Connection, settings: Settings
) -> None:
    session = upload_photos(shop, 3)
    session_id = session["upload_session_id"]
    first = start_checkout(shop, session_id)
    assert first["amount_total"] == 3 * settings.price_per_photo

    cancelled = cancel(shop, first["checkout_session_id"])

    assert cancelled.status_code == 200, cancelled.text
    # The checkout id travels in page URLs: holding it must not hand over the cart's id.
    assert cancelled.json() == {"checkout_session_id": first["checkout_session_id"], "status": "open"}
    assert session_id not in cancelled.text
    removed = session["photos"][0]["id"]
    assert shop.delete(f"/api/uploads/{session_id}/files/{removed}").status_code == 204
    added = shop.post(
        "/api/uploads",
        files=[("files", ("late.jpg", images.jpeg(seed=9), "image/jpeg"))],
        data={"upload_session_id": session_id},
    )
    assert added.status_code == 201, added.text
    late = shop.delete(f"/api/uploads/{session_id}/files/{added.json()['photos'][0]['id']}")
    assert late.status_code == 204

    second = start_checkout(shop, session_id)
    assert second["checkout_session_id"] != first["checkout_session_id"]
    assert second["photo_count"] == 2 and second["amount_total"] == 2 * settings.price_per_photo
    assert press_pay(shop, second["checkout_url"]).status_code == 303
    assert press_pay(shop, second["checkout_url"]).status_code == 303  # a second press pays nothing more

    [order] = rows(conn, "select * from orders")
    assert order["stripe_checkout_session_id"] == second["checkout_session_id"]
    assert order["image_count"] == 2
    ordered = rows(conn, "select file_upload_id from images where type = 'original' order by file_upload_id")
    remaining = sorted(p["id"] for p in session["photos"][1:])
    assert sorted(str(r["file_upload_id"]) for r in ordered) == remaining
    statuses = rows(conn, "select stripe_checkout_session_id as id, status from checkouts order by created_at")
    assert statuses == [
        {"id": first["checkout_session_id"], "status": "expired"},
        {"id": second["checkout_session_id"], "status": "completed"},
    ]


def test_the_cancelled_payment_page_can_no_longer_be_paid(shop: TestClient, conn: db.Connection) -> None:
    checkout = start_checkout(shop, upload_photos(shop)["upload_session_id"])
    assert cancel(shop, checkout["checkout_session_id"]).status_code == 200

    page = shop.get(checkout["checkout_url"].split("8000", 1)[-1])
    assert 'id="pay"' not in page.text and "This checkout is expired" in page.text
    paid = press_pay(shop, checkout["checkout_url"])

    assert paid.status_code == 409 and paid.json()["error"]["code"] == "checkout_expired"
    assert local_payments().retrieve_checkout_session(checkout["checkout_session_id"]).status == "expired"
    assert rows(conn, "select * from orders") == []
    assert rows(conn, "select * from stripe_events") == []


def test_cancelling_a_paid_checkout_is_refused_and_changes_nothing(shop: TestClient, conn: db.Connection) -> None:
    checkout = start_checkout(shop, upload_photos(shop)["upload_session_id"])
    assert press_pay(shop, checkout["checkout_url"]).status_code == 303

    refused = cancel(shop, checkout["checkout_session_id"])

    assert refused.status_code == 409 and refused.json()["error"]["code"] == "already_paid"
    assert rows(conn, "select status from checkouts") == [{"status": "completed"}]
    assert rows(conn, "select status from upload_sessions") == [{"status": "paid"}]
    assert rows(conn, "select count(*) as n from orders") == [{"n": 1}]
    assert cancellations(conn) == []


def test_a_cancel_after_paying_but_before_the_webhook_leaves_the_payment_to_the_webhook(
    shop: TestClient, conn: db.Connection
) -> None:
    session_id = upload_photos(shop)["upload_session_id"]
    checkout = start_checkout(shop, session_id)
    completed = local_payments().pay(checkout["checkout_session_id"])  # paid; its event not yet delivered

    refused = cancel(shop, checkout["checkout_session_id"])

    assert refused.status_code == 409 and refused.json()["error"]["code"] == "already_paid"
    assert rows(conn, "select status from checkouts") == [{"status": "open"}]
    assert rows(conn, "select status from upload_sessions") == [{"status": "checkout"}]
    assert cancellations(conn) == []
    assert send(shop, completed).status_code == 200
    assert rows(conn, "select count(*) as n from orders") == [{"n": 1}]
    assert rows(conn, "select status from upload_sessions") == [{"status": "paid"}]


def test_cancelling_an_unknown_checkout_is_404(shop: TestClient, conn: db.Connection) -> None:
    for checkout_session_id in ("cs_local_000000000000000000000000", "cs_test_nope", "x" * 255):
        response = cancel(shop, checkout_session_id)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "checkout_not_found"
    assert cancel(shop, "x" * 256).status_code == 422


def test_cancelling_again_answers_the_same_and_reopens_once(shop: TestClient, conn: db.Connection) -> None:
    session_id = upload_photos(shop)["upload_session_id"]
    checkout = start_checkout(shop, session_id)

    answers = [cancel(shop, checkout["checkout_session_id"]) for _ in range(3)]

    assert [a.status_code for a in answers] == [200, 200, 200]
    assert {a.json()["status"] for a in answers} == {"open"}
    [audit] = cancellations(conn)
    assert audit["old_values"] == {"status": "open"} and audit["new_values"] == {"status": "expired"}
    assert audit["actor"] == "customer"
    assert rows(conn, "select status from checkouts") == [{"status": "expired"}]
    assert rows(conn, "select status from upload_sessions") == [{"status": "open"}]


def test_five_concurrent_cancels_all_answer_200_and_reopen_once(
    shop: TestClient, conn: db.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    session_id = upload_photos(shop)["upload_session_id"]
    checkout = start_checkout(shop, session_id)
    provider = local_payments()
    expire = provider.expire_checkout_session
    everyone_read_it_open = threading.Barrier(5, timeout=20)

    def expire_together(checkout_session_id: str) -> CheckoutSessionInfo:
        # All five have seen the checkout live before any of them expires it: the database,
        # not an earlier read, must decide which one reopens the session.
        everyone_read_it_open.wait()
        return expire(checkout_session_id)

    monkeypatch.setattr(provider, "expire_checkout_session", expire_together)

    with ThreadPoolExecutor(max_workers=5) as pool:
        answers = list(pool.map(lambda _: cancel(shop, checkout["checkout_session_id"]), range(5)))

    assert [a.status_code for a in answers] == [200] * 5, [a.text for a in answers]
    assert {a.json()["status"] for a in answers} == {"open"}
    assert len(cancellations(conn)) == 1
    assert rows(conn, "select status from checkouts") == [{"status": "expired"}]
    assert rows(conn, "select status from upload_sessions") == [{"status": "open"}]


def test_a_late_expiry_event_for_a_cancelled_checkout_changes_nothing(shop: TestClient, conn: db.Connection) -> None:
    session_id = upload_photos(shop)["upload_session_id"]
    first = start_checkout(shop, session_id)
    assert cancel(shop, first["checkout_session_id"]).status_code == 200
    second = start_checkout(shop, session_id)  # the customer is paying the new page

    provider = local_payments()
    late = provider.event_for(provider.session(first["checkout_session_id"]), "checkout.session.expired")
    assert send(shop, late).status_code == 200

    statuses = rows(conn, "select stripe_checkout_session_id as id, status from checkouts order by created_at")
    assert statuses == [
        {"id": first["checkout_session_id"], "status": "expired"},
        {"id": second["checkout_session_id"], "status": "open"},
    ]
    assert rows(conn, "select status from upload_sessions") == [{"status": "checkout"}]
    assert len(cancellations(conn)) == 1
    assert press_pay(shop, second["checkout_url"]).status_code == 303
    assert rows(conn, "select count(*) as n from orders") == [{"n": 1}]


def test_the_payment_page_gives_nobody_the_cart(shop: TestClient) -> None:
    """Whoever holds the payment page's URL sees its cancel link: it must not name the cart."""
    session = upload_photos(shop, 1)
    checkout = start_checkout(shop, session["upload_session_id"])

    page = shop.get(urlsplit(checkout["checkout_url"]).path)

    assert page.status_code == 200
    assert session["upload_session_id"] not in page.text
    assert session["upload_session_id"] not in local_payments().session(checkout["checkout_session_id"])["cancel_url"]


def test_cancelling_an_id_with_a_nul_is_an_unknown_checkout(shop: TestClient, conn: db.Connection) -> None:
    checkout = start_checkout(shop, upload_photos(shop)["upload_session_id"])
    for checkout_session_id in ("cs_local_%00", f"{checkout['checkout_session_id']}%00"):
        refused = cancel(shop, checkout_session_id)
        assert refused.status_code == 404, refused.text
        assert refused.json()["error"]["code"] == "checkout_not_found"
    assert rows(conn, "select status from checkouts") == [{"status": "open"}]
