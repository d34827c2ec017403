"""The Stripe stand-in itself, over plain HTTP: the tests of StripePayments are only as good
as its checks and shapes."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from tests.payments.stripe_standin import SESSIONS_URL, StripeStandIn, parse_stripe_form

AUTH = {"Authorization": "Bearer sk_test_x"}


def valid_form(**overrides: Any) -> dict[str, str]:
    form = {
        "mode": "payment",
        "line_items[0][price_data][currency]": "eur",
        "line_items[0][price_data][unit_amount]": "1500",
        "line_items[0][price_data][product_data][name]": "Photo restoration",
        "line_items[0][quantity]": "2",
        "customer_email": "ada@example.com",
        "client_reference_id": "checkout-1",
        "metadata[upload_session_id]": "u-1",
        "success_url": "https://shop.test/ok?s={CHECKOUT_SESSION_ID}",
        "cancel_url": "https://shop.test/back",
        "expires_at": str(int(time.time()) + 3600),
    }
    form.update(overrides)
    return {k: v for k, v in form.items() if v is not None}


@pytest.fixture
def http(stripe_standin: StripeStandIn) -> httpx.Client:
    with httpx.Client(base_url=stripe_standin.base_url) as client:
        yield client  # type: ignore[misc]


def test_parse_stripe_form() -> None:
    parsed = parse_stripe_form(
        "line_items[0][price_data][unit_amount]=5&line_items[1][quantity]=2"
        "&metadata[0]=zero&metadata[upload_session_id]=u&created[gte]=7&mode=payment&empty="
    )

    assert parsed == {
        "line_items": [{"price_data": {"unit_amount": "5"}}, {"quantity": "2"}],
        "metadata": {"0": "zero", "upload_session_id": "u"},
        "created": {"gte": "7"},
        "mode": "payment",
        "empty": "",
    }


def test_create_answers_a_session_in_stripes_shape(http: httpx.Client) -> None:
    response = http.post(SESSIONS_URL, data=valid_form(), headers=AUTH)

    assert response.status_code == 200
    session = response.json()
    assert session["id"].startswith("cs_test_")
    assert session["object"] == "checkout.session"
    assert session["amount_total"] == 3000
    assert session["metadata"] == {"upload_session_id": "u-1"}
    assert (session["status"], session["payment_status"], session["payment_intent"]) == (
        "open",
        "unpaid",
        None,
    )
    assert session["url"].startswith("https://checkout.stripe.com/")
    assert response.headers["request-id"].startswith("req_")


@pytest.mark.parametrize(
    ("overrides", "param"),
    [
        ({"mode": None}, "mode"),
        ({"mode": "subscription"}, "mode"),
        ({"line_items[0][price_data][currency]": "EUR"}, "line_items[0][price_data][currency]"),
        (
            {"line_items[0][price_data][unit_amount]": "-1"},
            "line_items[0][price_data][unit_amount]",
        ),
        (
            {"line_items[0][price_data][unit_amount]": "1.5"},
            "line_items[0][price_data][unit_amount]",
        ),
        (
            {"line_items[0][price_data][product_data][name]": ""},
            "line_items[0][price_data][product_data][name]",
        ),
        ({"line_items[0][quantity]": "0"}, "line_items[0][quantity]"),
        ({"success_url": "https://shop.test/ok"}, "success_url"),
        ({"cancel_url": None}, "cancel_url"),
        ({"expires_at": str(int(time.time()) + 1700)}, "expires_at"),
        ({"expires_at": str(int(time.time()) + 90000)}, "expires_at"),
        ({"customer_emial": "typo@example.com"}, "customer_emial"),
    ],
)
def test_create_refuses_what_stripe_refuses(
    http: httpx.Client, stripe_standin: StripeStandIn, overrides: dict[str, Any], param: str
) -> None:
    response = http.post(SESSIONS_URL, data=valid_form(**overrides), headers=AUTH)

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param
    assert error["message"]
    assert stripe_standin.sessions == {}


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer sk_live_x"}, {"Authorization": "Basic x"}])
def test_a_request_without_a_test_key_is_unauthorized(http: httpx.Client, headers: dict[str, str]) -> None:
    response = http.post(SESSIONS_URL, data=valid_form(), headers=headers)

    assert response.status_code == 401
    assert response.json()["error"]["type"] == "invalid_request_error"


def test_idempotency_key(http: httpx.Client, stripe_standin: StripeStandIn) -> None:
    headers = {**AUTH, "Idempotency-Key": "key-1"}

    first = http.post(SESSIONS_URL, data=valid_form(), headers=headers).json()
    again = http.post(SESSIONS_URL, data=valid_form(), headers=headers).json()
    changed = http.post(SESSIONS_URL, data=valid_form(customer_email="bob@example.com"), headers=headers)

    assert again == first
    assert changed.status_code == 400
    assert changed.json()["error"]["type"] == "idempotency_error"
    assert len(stripe_standin.sessions) == 1


def test_retrieve_unknown_is_404(http: httpx.Client) -> None:
    response = http.get(f"{SESSIONS_URL}/cs_test_nope", headers=AUTH)

    assert response.status_code == 404
    assert response.json()["error"] == {
        "type": "invalid_request_error",
        "message": "No such checkout.session: 'cs_test_nope'",
        "param": "session",
        "code": "resource_missing",
    }


def test_list_pages_newest_first(http: httpx.Client, stripe_standin: StripeStandIn) -> None:
    now = int(time.time())
    ids = [stripe_standin.add_session(status="complete", created=now - i)["id"] for i in range(5)]
    stripe_standin.add_session(status="open", created=now)
    stripe_standin.add_session(status="complete", created=now - 1000)

    query = {"status": "complete", "limit": "2", "created[gte]": str(now - 10)}
    first = http.get(SESSIONS_URL, params=query, headers=AUTH).json()
    second = http.get(SESSIONS_URL, params={**query, "starting_after": ids[1]}, headers=AUTH).json()
    last = http.get(SESSIONS_URL, params={**query, "starting_after": ids[3]}, headers=AUTH).json()

    assert first["object"] == "list" and first["url"] == SESSIONS_URL
    assert [s["id"] for s in first["data"]] == ids[:2] and first["has_more"] is True
    assert [s["id"] for s in second["data"]] == ids[2:4] and second["has_more"] is True
    assert [s["id"] for s in last["data"]] == ids[4:] and last["has_more"] is False
    too_many = http.get(SESSIONS_URL, params={"limit": "101"}, headers=AUTH)
    assert too_many.status_code == 400 and too_many.json()["error"]["param"] == "limit"


def test_fail_next_and_complete(http: httpx.Client, stripe_standin: StripeStandIn) -> None:
    session = stripe_standin.add_session()
    stripe_standin.fail_next(1)

    failed = http.get(f"{SESSIONS_URL}/{session['id']}", headers=AUTH)
    stripe_standin.complete(session["id"], payment_intent="pi_test_9")
    paid = http.get(f"{SESSIONS_URL}/{session['id']}", headers=AUTH)

    assert failed.status_code == 500 and failed.json()["error"]["type"] == "api_error"
    assert paid.status_code == 200
    assert (paid.json()["status"], paid.json()["payment_status"]) == ("complete", "paid")
    assert paid.json()["payment_intent"] == "pi_test_9"
    assert [r.status for r in stripe_standin.requests] == [500, 200]
