"""The shop against Stripe as its documentation says it behaves: the checkout and webhook
functions over HTTP, StripePayments through the official SDK, and the Stripe stand-in
refusing, failing, timing out, completing unpaid and settling late.

Each test is one way a customer's payment can go; the invariant they all keep: every paid
Checkout Session ends with exactly one order (holding every photo paid for) or exactly one
refund, and no cart stays stuck.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient

from shared.core import db
from shared.core.config import get_settings
from tests.fixtures.db import rows
from tests.fixtures.events import load_event
from tests.fixtures.shop_on_stripe import assert_paid_session_settled_once, cart_status, checkout, deliver
from tests.fixtures.shopping import upload_photos
from tests.fixtures.stripe_standin import REFUNDS_URL, SESSIONS_URL, StripeStandIn

# -- refused and failing creates ------------------------------------------------------------


def test_a_refused_create_answers_why_and_frees_the_cart_at_once(
    stripe_shop: TestClient, conn: db.Connection, stripe_standin: StripeStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stripe refuses a total below its minimum charge (400 amount_too_small)."""
    monkeypatch.setenv("PRICE_PER_PHOTO", "20")
    get_settings.cache_clear()
    cart = upload_photos(stripe_shop, 2)["upload_session_id"]

    refused = checkout(stripe_shop, cart)

    assert refused.status_code == 400, refused.text
    error = refused.json()["error"]
    assert error["code"] == "payments_rejected"
    assert error["message"] == "The total is below the smallest amount our payment provider can charge."
    assert "checkouts" not in refused.text and "constraint" not in refused.text
    assert cart_status(conn, cart) == "open"
    assert rows(conn, "select status from checkouts") == [{"status": "failed"}]
    # The same photos check out again at once, with a new key (the refusal was an answer).
    monkeypatch.setenv("PRICE_PER_PHOTO", "999")
    get_settings.cache_clear()
    again = checkout(stripe_shop, cart)
    assert again.status_code == 201, again.text
    keys = {r.headers["idempotency-key"] for r in stripe_standin.recorded("POST")}
    assert len(keys) == 2


def test_a_failure_stripe_saved_answers_503_and_the_retry_uses_a_new_key(
    stripe_shop: TestClient, conn: db.Connection, stripe_standin: StripeStandIn
) -> None:
    cart = upload_photos(stripe_shop, 1)["upload_session_id"]
    stripe_standin.fail_next(1, saved=True)  # Stripe replays this 500 to the same key for 24 h

    failed = checkout(stripe_shop, cart)

    assert failed.status_code == 503
    assert failed.headers["retry-after"] == "30"
    assert failed.json()["error"]["code"] == "payments_unavailable"
    # Stripe-Should-Retry: false, so the SDK did not retry a replay.
    assert [r.status for r in stripe_standin.recorded("POST")] == [500]
    assert cart_status(conn, cart) == "open"

    again = checkout(stripe_shop, cart)
    assert again.status_code == 201, again.text
    first_key, second_key = (r.headers["idempotency-key"] for r in stripe_standin.recorded("POST"))
    assert first_key != second_key
    assert len(stripe_standin.sessions) == 1


def test_a_create_that_timed_out_is_retried_with_its_key_and_gets_the_same_session(
    stripe_shop: TestClient, conn: db.Connection, stripe_standin: StripeStandIn
) -> None:
    """Stripe made the session but every answer was lost: the retry must not make a second."""
    cart = upload_photos(stripe_shop, 2)["upload_session_id"]
    stripe_standin.drop_next(3, seconds=1.5, path=SESSIONS_URL)  # the request and the SDK's two retries

    lost = checkout(stripe_shop, cart)

    assert lost.status_code == 503 and lost.headers["retry-after"] == "30"
    assert len(stripe_standin.sessions) == 1  # it was made, nobody has its URL
    assert cart_status(conn, cart) == "open"
    time.sleep(1.6)  # the stand-in answers the dropped requests late; let them finish

    again = checkout(stripe_shop, cart)

    assert again.status_code == 201, again.text
    [made] = stripe_standin.sessions
    assert again.json()["checkout_session_id"] == made
    assert len({r.headers["idempotency-key"] for r in stripe_standin.recorded("POST")}) == 1
    assert rows(conn, "select status from checkouts") == [{"status": "open"}]


def test_stripe_out_of_reach_answers_503_and_frees_the_cart(
    stripe_shop: TestClient, conn: db.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    monkeypatch.setenv("STRIPE_API_BASE", f"http://127.0.0.1:{closed}")
    get_settings.cache_clear()
    cart = upload_photos(stripe_shop, 1)["upload_session_id"]

    failed = checkout(stripe_shop, cart)

    assert failed.status_code == 503 and failed.headers["retry-after"] == "30"
    assert cart_status(conn, cart) == "open"
    assert (
        stripe_shop.delete(
            f"/api/uploads/{cart}/files/{rows(conn, 'select id from file_uploads')[0]['id']}"
        ).status_code
        == 204
    )


# -- never reopen what Stripe may have taken money for ----------------------------------------


def test_a_checkout_past_its_hour_that_stripe_holds_unpaid_keeps_the_photos_until_the_debit_clears(
    stripe_shop: TestClient, conn: db.Connection, stripe_standin: StripeStandIn
) -> None:
    """A bank debit: complete, unpaid, and its completed event lost. The hour ends."""
    upload = upload_photos(stripe_shop, 2)
    cart = upload["upload_session_id"]
    page = checkout(stripe_shop, cart).json()
    stripe_standin.complete(page["checkout_session_id"], paid=False)
    conn.execute("update checkouts set expires_at = now() - interval '1 minute'")

    second = checkout(stripe_shop, cart)

    assert second.status_code == 409 and second.json()["error"]["code"] == "payment_pending"
    assert len(stripe_standin.sessions) == 1  # no second payment page
    assert cart_status(conn, cart) == "checkout"
    status = stripe_shop.get(f"/api/restoration/status/{page['checkout_session_id']}").json()
    assert status["status"] == "payment_pending" and "bank" in status["message"]
    removed = stripe_shop.delete(f"/api/uploads/{cart}/files/{upload['photos'][0]['id']}")
    assert removed.status_code == 409 and removed.json()["error"]["code"] == "photo_paid_for"
    cancelled = stripe_shop.post(f"/api/checkout/{page['checkout_session_id']}/cancel")
    assert cancelled.status_code == 409 and cancelled.json()["error"]["code"] == "payment_pending"

    settled = stripe_standin.settle(page["checkout_session_id"])
    assert deliver(stripe_shop, "checkout.session.async_payment_succeeded", settled).status_code == 200

    assert assert_paid_session_settled_once(conn, stripe_standin, page["checkout_session_id"]) == "order"
    assert cart_status(conn, cart) == "paid"


def test_a_debit_that_bounces_gives_the_cart_back(
    stripe_shop: TestClient, conn: db.Connection, stripe_standin: StripeStandIn
) -> None:
    cart = upload_photos(stripe_shop, 1)["upload_session_id"]
    page = checkout(stripe_shop, cart).json()
    pending = stripe_standin.complete(page["checkout_session_id"], paid=False)
    assert deliver(stripe_shop, "checkout.session.completed", pending).status_code == 200
    assert rows(conn, "select status from checkouts") == [{"status": "awaiting_payment"}]

    failed = stripe_standin.settle(page["checkout_session_id"], succeeded=False)
    assert deliver(stripe_shop, "checkout.session.async_payment_failed", failed).status_code == 200

    assert cart_status(conn, cart) == "open"
    assert rows(conn, "select count(*) as n from orders") == [{"n": 0}]
    assert checkout(stripe_shop, cart).status_code == 201


def test_a_checkout_past_its_hour_that_was_paid_is_never_reopened(
    stripe_shop: TestClient, conn: db.Connection, stripe_standin: StripeStandIn
) -> None:
    """A card payment whose webhook Stripe is still retrying: the cart must not reopen, and
    the late webhook makes the order with every photo."""
    upload = upload_photos(stripe_shop, 3)
    cart = upload["upload_session_id"]
    page = checkout(stripe_shop, cart).json()
    paid = stripe_standin.complete(page["checkout_session_id"])
    conn.execute("update checkouts set expires_at = now() - interval '1 minute'")

    second = checkout(stripe_shop, cart)

    assert second.status_code == 409 and second.json()["error"]["code"] == "already_paid"
    assert stripe_shop.delete(f"/api/uploads/{cart}/files/{upload['photos'][0]['id']}").status_code == 409
    assert deliver(stripe_shop, "checkout.session.completed", paid).status_code == 200
    assert assert_paid_session_settled_once(conn, stripe_standin, page["checkout_session_id"]) == "order"
    assert rows(conn, "select image_count from orders") == [{"image_count": 3}]


def test_a_checkout_past_its_hour_still_open_at_stripe_is_expired_there_then_priced_anew(
    stripe_shop: TestClient, conn: db.Connection, stripe_standin: StripeStandIn
) -> None:
    cart = upload_photos(stripe_shop, 1)["upload_session_id"]
    first = checkout(stripe_shop, cart).json()
    conn.execute("update checkouts set expires_at = now() - interval '1 minute'")

    second = checkout(stripe_shop, cart)

    assert second.status_code == 201, second.text
    assert stripe_standin.sessions[first["checkout_session_id"]]["status"] == "expired"
    assert second.json()["checkout_session_id"] != first["checkout_session_id"]
    assert len(stripe_standin.recorded("POST", f"{SESSIONS_URL}/{first['checkout_session_id']}/expire")) == 1


# -- automatic refunds ----------------------------------------------------------------------


def _second_paid_session_for_a_fulfilled_cart(
    shop: TestClient, conn: db.Connection, standin: StripeStandIn
) -> tuple[str, dict[str, Any]]:
    """A cart already made an order by one payment, and a second payment for it (from data
    written before checkouts waited for Stripe's word, or a provider gone wrong)."""
    cart = upload_photos(shop, 2)["upload_session_id"]
    page = checkout(shop, cart).json()
    assert deliver(shop, "checkout.session.completed", standin.complete(page["checkout_session_id"])).status_code == 200
    [first] = rows(conn, "select * from checkouts")
    duplicate = standin.add_session(
        amount_total=first["amount_total"], currency=first["currency"],
        customer_email=first["email"], client_reference_id=None, metadata={},
    )  # fmt: skip
    conn.execute(
        "insert into checkouts (upload_session_id, stripe_checkout_session_id, payments_provider, status, email,"
        " file_upload_ids, photo_count, unit_amount, amount_total, currency, idempotency_key, checkout_url,"
        " expires_at) select upload_session_id, %s, 'stripe', 'expired', email, file_upload_ids, photo_count,"
        " unit_amount, amount_total, currency, 'checkout-dup', 'https://x', now() from checkouts",
        [duplicate["id"]],
    )
    return cart, standin.complete(duplicate["id"])


def test_a_payment_for_photos_already_paid_for_is_refunded_once_under_concurrent_deliveries(
    stripe_shop: TestClient, conn: db.Connection, stripe_standin: StripeStandIn
) -> None:
    _, duplicate = _second_paid_session_for_a_fulfilled_cart(stripe_shop, conn, stripe_standin)
    barrier = threading.Barrier(8)
    statuses: list[int] = []

    def send() -> None:
        barrier.wait()
        statuses.append(deliver(stripe_shop, "checkout.session.completed", duplicate).status_code)

    threads = [threading.Thread(target=send) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert statuses == [200] * 8  # Stripe stops retrying
    assert assert_paid_session_settled_once(conn, stripe_standin, duplicate["id"]) == "refund"
    assert rows(conn, "select count(*) as n from orders") == [{"n": 1}]
    [row] = rows(
        conn, "select status, refund_reason from checkouts where stripe_checkout_session_id = %s", duplicate["id"]
    )
    assert row == {"status": "refunded", "refund_reason": "already_paid"}
    [email] = rows(conn, "select to_email, payload from email_queue where template = 'payment_refunded'")
    assert email["to_email"] == "ada@example.com" and email["payload"]["reason"] == "already_paid"
    assert rows(conn, "select count(*) as n from audit_logs where action = 'checkout.refunded'") == [{"n": 1}]

    # Stripe then tells us about the refund we made: nothing changes a second time.
    [refund] = stripe_standin.refunds.values()
    charge = load_event(
        "charge.refunded",
        obj={
            "id": refund["charge"], "payment_intent": refund["payment_intent"],
            "amount": refund["amount"], "amount_captured": refund["amount"], "amount_refunded": refund["amount"],
            "refunded": True,
        },
    )["data"]["object"]  # fmt: skip
    assert deliver(stripe_shop, "charge.refunded", charge).status_code == 200
    assert rows(conn, "select status from orders") == [{"status": "paid"}]
    assert len(stripe_standin.refunds) == 1
    assert rows(conn, "select count(*) as n from email_queue where template = 'payment_refunded'") == [{"n": 1}]


def test_a_refund_stripe_failed_on_is_retried_with_a_new_key_and_made_once(
    stripe_shop: TestClient, conn: db.Connection, stripe_standin: StripeStandIn
) -> None:
    _, duplicate = _second_paid_session_for_a_fulfilled_cart(stripe_shop, conn, stripe_standin)
    stripe_standin.fail_next(1, saved=True, path=REFUNDS_URL)

    first = deliver(stripe_shop, "checkout.session.completed", duplicate)

    assert first.status_code == 503  # Stripe redelivers
    assert stripe_standin.refunds == {}
    again = deliver(stripe_shop, "checkout.session.completed", duplicate)
    assert again.status_code == 200
    attempts = stripe_standin.recorded("POST", REFUNDS_URL)
    assert [r.status for r in attempts] == [500, 200]
    assert attempts[0].headers["idempotency-key"] != attempts[1].headers["idempotency-key"]
    assert assert_paid_session_settled_once(conn, stripe_standin, duplicate["id"]) == "refund"


def test_a_refund_whose_answer_was_lost_is_retried_with_its_key_and_made_once(
    stripe_shop: TestClient, conn: db.Connection, stripe_standin: StripeStandIn
) -> None:
    _, duplicate = _second_paid_session_for_a_fulfilled_cart(stripe_shop, conn, stripe_standin)
    stripe_standin.drop_next(3, seconds=1.2, path=REFUNDS_URL)

    first = deliver(stripe_shop, "checkout.session.completed", duplicate)

    assert first.status_code == 503
    assert len(stripe_standin.refunds) == 1  # made at Stripe; we never heard
    time.sleep(1.3)
    assert deliver(stripe_shop, "checkout.session.completed", duplicate).status_code == 200
    assert len({r.headers["idempotency-key"] for r in stripe_standin.recorded("POST", REFUNDS_URL)}) == 1
    assert assert_paid_session_settled_once(conn, stripe_standin, duplicate["id"]) == "refund"
    assert rows(conn, "select status from checkouts where stripe_checkout_session_id = %s", duplicate["id"]) == [
        {"status": "refunded"}
    ]


@pytest.mark.parametrize("kind", ["checkout.session.expired", "checkout.session.async_payment_failed"])
def test_an_event_saying_a_page_ended_is_believed_only_when_stripe_agrees(
    stripe_shop: TestClient, conn: db.Connection, stripe_standin: StripeStandIn, kind: str
) -> None:
    """An event is a hint: the cart reopens only on the session Stripe holds now. A page
    still open at Stripe stays the live checkout, so no second page can be opened beside it."""
    cart = upload_photos(stripe_shop, 1)["upload_session_id"]
    page = checkout(stripe_shop, cart).json()
    still_open = stripe_standin.sessions[page["checkout_session_id"]]

    assert deliver(stripe_shop, kind, {**still_open, "status": "expired"}).status_code == 200

    assert rows(conn, "select status from checkouts") == [{"status": "open"}]
    assert cart_status(conn, cart) == "checkout"
    assert rows(conn, "select count(*) as n from email_queue") == [{"n": 0}]
    # When Stripe really ends it, the same event does.
    stripe_standin.sessions[page["checkout_session_id"]]["status"] = "expired"
    if kind == "checkout.session.async_payment_failed":
        stripe_standin.sessions[page["checkout_session_id"]].update(status="complete", payment_status="unpaid")
    assert deliver(stripe_shop, kind, stripe_standin.sessions[page["checkout_session_id"]]).status_code == 200
    assert cart_status(conn, cart) == "open"


def test_a_refund_stripe_refuses_is_left_for_an_operator_and_the_webhook_still_answers_200(
    stripe_shop: TestClient,
    conn: db.Connection,
    stripe_standin: StripeStandIn,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tests.fixtures.stripe_standin import StripeErrorResponse

    _, duplicate = _second_paid_session_for_a_fulfilled_cart(stripe_shop, conn, stripe_standin)

    def disputed(form: dict[str, Any]) -> dict[str, Any]:
        raise StripeErrorResponse(400, "The charge is disputed and cannot be refunded.", code="charge_disputed")

    monkeypatch.setattr(stripe_standin, "refund", disputed)
    answer = deliver(stripe_shop, "checkout.session.completed", duplicate)

    assert answer.status_code == 200 and answer.json()["reason"] == "refund_pending"
    [row] = rows(
        conn, "select status, refund_reason from checkouts where stripe_checkout_session_id = %s", duplicate["id"]
    )
    assert row == {"status": "refunding", "refund_reason": "already_paid"}
    [event] = rows(
        conn,
        "select processed_at, last_error from stripe_events where type = 'checkout.session.completed' "
        "and payload -> 'data' -> 'object' ->> 'id' = %s",
        duplicate["id"],
    )
    assert event["processed_at"] is not None and "refund refused" in event["last_error"]
    assert rows(conn, "select count(*) as n from email_queue where template = 'payment_refunded'") == [{"n": 0}]
