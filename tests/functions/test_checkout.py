"""Checkout: priced on the server from the photos, exactly those photos, once."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from shared.core import db
from shared.core.config import Settings
from tests.fixtures import images
from tests.fixtures.db import rows
from tests.fixtures.shopping import press_pay, start_checkout, upload_photos


def test_checkout_is_priced_on_the_server_from_the_session(
    shop: TestClient, conn: db.Connection, settings: Settings
) -> None:
    session = upload_photos(shop, 3)
    response = shop.post(
        "/api/checkout",
        json={
            "upload_session_id": session["upload_session_id"],
            "email": "ada@example.com",
            "amount_total": 1,
            "unit_amount": 1,
        },  # a client cannot set the price
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["amount_total"] == 3 * settings.price_per_photo
    assert body["currency"] == settings.currency and body["photo_count"] == 3
    assert body["checkout_session_id"].startswith("cs_local_")
    assert body["checkout_url"].endswith(f"/dev/checkout/{body['checkout_session_id']}")
    [checkout] = rows(conn, "select * from checkouts")
    assert checkout["status"] == "open"
    assert sorted(map(str, checkout["file_upload_ids"])) == sorted(p["id"] for p in session["photos"])
    assert checkout["amount_total"] == 3 * settings.price_per_photo
    assert checkout["stripe_checkout_session_id"] == body["checkout_session_id"]


def test_the_session_is_frozen_while_a_checkout_is_open(shop: TestClient) -> None:
    session = upload_photos(shop, 2)
    session_id = session["upload_session_id"]
    start_checkout(shop, session_id)
    more = shop.post(
        "/api/uploads",
        files=[("files", ("c.jpg", images.jpeg(), "image/jpeg"))],
        data={"upload_session_id": session_id},
    )
    assert more.status_code == 409 and more.json()["error"]["code"] == "checkout_in_progress"
    removed = shop.delete(f"/api/uploads/{session_id}/files/{session['photos'][0]['id']}")
    assert removed.status_code == 409


def test_pressing_checkout_twice_gives_the_same_payment_page(shop: TestClient, conn: db.Connection) -> None:
    session_id = upload_photos(shop)["upload_session_id"]
    first = start_checkout(shop, session_id)
    second = start_checkout(shop, session_id)
    assert first["checkout_session_id"] == second["checkout_session_id"]
    assert rows(conn, "select count(*) as n from checkouts") == [{"n": 1}]
    other = shop.post("/api/checkout", json={"upload_session_id": session_id, "email": "eve@example.com"})
    assert other.status_code == 409


def test_empty_unknown_expired_and_paid_sessions_are_refused(shop: TestClient, conn: db.Connection) -> None:
    session = upload_photos(shop, 1)
    session_id = session["upload_session_id"]
    assert shop.delete(f"/api/uploads/{session_id}/files/{session['photos'][0]['id']}").status_code == 204
    empty = shop.post("/api/checkout", json={"upload_session_id": session_id, "email": "a@example.com"})
    assert empty.status_code == 422 and empty.json()["error"]["code"] == "empty_session"

    unknown = shop.post("/api/checkout", json={"upload_session_id": str(uuid.uuid4()), "email": "a@example.com"})
    assert unknown.status_code == 404

    expired_id = upload_photos(shop)["upload_session_id"]
    conn.execute(
        "update upload_sessions set created_at = now() - interval '3 days', "
        "expires_at = now() - interval '1 hour' where id = %s",
        [expired_id],
    )
    expired = shop.post("/api/checkout", json={"upload_session_id": expired_id, "email": "a@example.com"})
    assert expired.status_code == 410 and expired.json()["error"]["code"] == "upload_session_expired"

    paid_id = upload_photos(shop)["upload_session_id"]
    assert press_pay(shop, start_checkout(shop, paid_id)["checkout_url"]).status_code == 303
    paid = shop.post("/api/checkout", json={"upload_session_id": paid_id, "email": "ada@example.com"})
    assert paid.status_code == 409 and paid.json()["error"]["code"] == "already_paid"
    assert rows(conn, "select count(*) as n from checkouts where status = 'completed'") == [{"n": 1}]


def test_bad_checkout_requests_get_clear_errors(shop: TestClient, conn: db.Connection) -> None:
    session_id = upload_photos(shop)["upload_session_id"]
    for body in (
        {"upload_session_id": session_id, "email": "not-an-email"},
        {"upload_session_id": "nope", "email": "a@example.com"},
        {"email": "a@example.com"},
    ):
        response = shop.post("/api/checkout", json=body)
        assert response.status_code == 422
        assert response.json()["error"]["code"] == "validation_failed"
    assert rows(conn, "select * from checkouts") == []


def test_an_expired_payment_page_frees_the_session_for_a_new_checkout(shop: TestClient, conn: db.Connection) -> None:
    session_id = upload_photos(shop)["upload_session_id"]
    first = start_checkout(shop, session_id)
    conn.execute("update checkouts set expires_at = %s", [datetime.now(UTC) - timedelta(minutes=1)])
    second = start_checkout(shop, session_id)
    assert second["checkout_session_id"] != first["checkout_session_id"]
    assert [r["status"] for r in rows(conn, "select status from checkouts order by created_at")] == ["expired", "open"]


def test_the_local_pay_button_sends_a_signed_event_the_webhook_accepts(shop: TestClient, conn: db.Connection) -> None:
    session = upload_photos(shop, 2)
    checkout = start_checkout(shop, session["upload_session_id"])
    page = shop.get(checkout["checkout_url"].split("8000", 1)[-1])
    assert page.status_code == 200 and "Pay" in page.text and "19.98 USD" in page.text
    paid = press_pay(shop, checkout["checkout_url"])
    assert paid.status_code == 303
    assert paid.headers["location"].endswith(f"checkout_session_id={checkout['checkout_session_id']}")
    [order] = rows(conn, "select * from orders")
    assert order["stripe_checkout_session_id"] == checkout["checkout_session_id"]
    assert order["image_count"] == 2 and order["status"] == "paid"
    [event] = rows(conn, "select type, processed_at from stripe_events")
    assert event["type"] == "checkout.session.completed" and event["processed_at"] is not None


def test_an_address_that_is_not_one_is_refused_in_the_customers_words(shop: TestClient, conn: db.Connection) -> None:
    session_id = upload_photos(shop)["upload_session_id"]
    for email in ("ada.example.com", " ada@example.com", "ada@example", "ada@@example.com"):
        refused = shop.post("/api/checkout", json={"upload_session_id": session_id, "email": email})
        assert refused.status_code == 422, refused.text
        assert refused.json()["error"]["message"] == "email: is not an email address (name@example.com)", email
    assert rows(conn, "select count(*) as n from checkouts") == [{"n": 0}]
    # A Persian name keeps its zero-width non-joiner: it is part of how the name is written.
    persian = "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645"
    body = {"upload_session_id": session_id, "email": "a@example.com", "name": persian}
    opened = shop.post("/api/checkout", json=body)
    assert opened.status_code == 201, opened.text
    assert rows(conn, "select name from checkouts") == [{"name": persian}]


def test_a_control_character_in_the_email_or_name_is_refused_and_nothing_is_recorded(
    shop: TestClient, conn: db.Connection
) -> None:
    session = upload_photos(shop)
    session_id = session["upload_session_id"]
    for field, value in (
        ("email", "a\u0000da@example.com"),  # a NUL, which the database cannot store
        ("email", "ada\t@example.com"),  # whitespace too: the sentence, not the pattern
        ("name", "A\u0000da"),
        ("name", "A\u0001da"),  # storable, and still no part of a name
        ("name", "Ada\u007f"),
        # Invisible, and they change how a name or an address displays.
        ("email", "ad\u202ea@example.com"),  # a right-to-left override
        ("email", "ada\u200b@example.com"),  # a zero-width space
        ("email", "\ufeffada@example.com"),  # a byte-order mark
        ("name", "Ad\u202ea"),
        ("name", "Ada\u0085"),  # NEL, a C1 control
        ("name", "Ada\u2028Lovelace"),  # the line separator
    ):
        body = {"upload_session_id": session_id, "email": "ada@example.com", "name": "Ada", field: value}
        refused = shop.post("/api/checkout", json=body)
        assert refused.status_code == 422, refused.text
        error = refused.json()["error"]
        assert error["code"] == "validation_failed"
        assert error["message"] == f"{field}: has an invisible control character in it; type it again"
    assert rows(conn, "select count(*) as n from checkouts") == [{"n": 0}]
    assert rows(conn, "select status from upload_sessions") == [{"status": "open"}]
    # The same cart checks out once the field is typed again.
    assert start_checkout(shop, session_id)["photo_count"] == 2
