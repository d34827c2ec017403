"""The Stripe stand-in itself, over plain HTTP: the tests of StripePayments are only as good
as its checks and shapes."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from tests.fixtures.stripe_standin import REFUNDS_URL, SESSIONS_URL, StripeStandIn, parse_stripe_form

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


# -- behaviours copied from Stripe's documentation, each as the stand-in's docstring cites ---


def test_an_executed_request_is_replayed_under_its_key_a_500_included(
    http: httpx.Client, stripe_standin: StripeStandIn
) -> None:
    key = {**AUTH, "Idempotency-Key": "k-500"}
    form = valid_form()
    stripe_standin.fail_next(1, saved=True)

    first = http.post(SESSIONS_URL, data=form, headers=key)
    replayed = http.post(SESSIONS_URL, data=form, headers=key)
    fresh = http.post(SESSIONS_URL, data=valid_form(), headers={**AUTH, "Idempotency-Key": "k-new"})

    assert first.status_code == 500 and first.headers["stripe-should-retry"] == "false"
    assert replayed.status_code == 500 and replayed.headers["idempotent-replayed"] == "true"
    assert replayed.json() == first.json()
    assert fresh.status_code == 200
    assert len(stripe_standin.sessions) == 1


def test_a_failure_before_execution_saves_nothing_and_a_retry_with_the_key_succeeds(
    http: httpx.Client, stripe_standin: StripeStandIn
) -> None:
    key = {**AUTH, "Idempotency-Key": "k-edge"}
    form = valid_form()
    stripe_standin.fail_next(1)

    assert http.post(SESSIONS_URL, data=form, headers=key).status_code == 500
    second = http.post(SESSIONS_URL, data=form, headers=key)
    third = http.post(SESSIONS_URL, data=form, headers=key)

    assert second.status_code == 200 and "idempotent-replayed" not in second.headers
    assert third.json()["id"] == second.json()["id"] and third.headers["idempotent-replayed"] == "true"


def test_a_validation_refusal_saves_nothing_under_the_key(http: httpx.Client, stripe_standin: StripeStandIn) -> None:
    key = {**AUTH, "Idempotency-Key": "k-invalid"}

    refused = http.post(SESSIONS_URL, data=valid_form(mode=None), headers=key)
    # Different (corrected) parameters under the same key: not an idempotency error.
    accepted = http.post(SESSIONS_URL, data=valid_form(), headers=key)

    assert refused.status_code == 400 and refused.json()["error"]["code"] == "parameter_missing"
    assert accepted.status_code == 200


def test_a_key_reused_on_another_endpoint_is_an_idempotency_error(
    http: httpx.Client, stripe_standin: StripeStandIn
) -> None:
    key = {**AUTH, "Idempotency-Key": "k-ep"}
    form = valid_form()
    created = http.post(SESSIONS_URL, data=form, headers=key).json()

    misused = http.post(f"{SESSIONS_URL}/{created['id']}/expire", headers=key)

    assert misused.status_code == 400 and misused.json()["error"]["type"] == "idempotency_error"
    assert stripe_standin.sessions[created["id"]]["status"] == "open"


def test_a_dropped_answer_was_carried_out(http: httpx.Client, stripe_standin: StripeStandIn) -> None:
    stripe_standin.drop_next(1, seconds=0.6)
    form = valid_form()

    with pytest.raises(httpx.ReadTimeout):
        http.post(SESSIONS_URL, data=form, headers={**AUTH, "Idempotency-Key": "k-lost"}, timeout=0.2)
    time.sleep(0.5)
    again = http.post(SESSIONS_URL, data=form, headers={**AUTH, "Idempotency-Key": "k-lost"})

    assert again.status_code == 200 and again.headers["idempotent-replayed"] == "true"
    assert list(stripe_standin.sessions) == [again.json()["id"]]


def test_a_total_below_the_minimum_charge_is_refused(http: httpx.Client, stripe_standin: StripeStandIn) -> None:
    small = valid_form(**{"line_items[0][price_data][unit_amount]": "20", "line_items[0][quantity]": "1"})

    refused = http.post(SESSIONS_URL, data=small, headers=AUTH)

    assert refused.status_code == 400 and refused.json()["error"]["code"] == "amount_too_small"
    assert stripe_standin.sessions == {}


def test_an_invalid_email_is_refused_with_stripes_code(http: httpx.Client) -> None:
    refused = http.post(SESSIONS_URL, data=valid_form(customer_email="nope"), headers=AUTH)

    assert refused.status_code == 400
    assert (refused.json()["error"]["code"], refused.json()["error"]["param"]) == ("email_invalid", "customer_email")


def test_a_zero_total_completes_with_no_payment_required(http: httpx.Client, stripe_standin: StripeStandIn) -> None:
    free = valid_form(**{"line_items[0][price_data][unit_amount]": "0"})
    created = http.post(SESSIONS_URL, data=free, headers=AUTH).json()

    stripe_standin.complete(created["id"])
    session = http.get(f"{SESSIONS_URL}/{created['id']}", headers=AUTH).json()

    assert (session["status"], session["payment_status"], session["payment_intent"]) == (
        "complete",
        "no_payment_required",
        None,
    )


def test_a_delayed_payment_completes_unpaid_then_settles(http: httpx.Client, stripe_standin: StripeStandIn) -> None:
    created = http.post(SESSIONS_URL, data=valid_form(), headers=AUTH).json()

    stripe_standin.complete(created["id"], paid=False)
    pending = http.get(f"{SESSIONS_URL}/{created['id']}", headers=AUTH).json()
    expire = http.post(f"{SESSIONS_URL}/{created['id']}/expire", headers=AUTH)
    stripe_standin.settle(created["id"])
    settled = http.get(f"{SESSIONS_URL}/{created['id']}", headers=AUTH).json()

    assert (pending["status"], pending["payment_status"]) == ("complete", "unpaid")
    assert pending["payment_intent"].startswith("pi_")
    assert expire.status_code == 400  # only an open session expires
    assert settled["payment_status"] == "paid"


def test_refunds_refund_a_paid_intent_in_full_once(http: httpx.Client, stripe_standin: StripeStandIn) -> None:
    created = http.post(SESSIONS_URL, data=valid_form(), headers=AUTH).json()
    unpaid_intent = "pi_" + "0" * 24
    stripe_standin.complete(created["id"], payment_intent="pi_test_refund")

    refund = http.post(
        REFUNDS_URL, data={"payment_intent": "pi_test_refund", "reason": "requested_by_customer"}, headers=AUTH
    )
    twice = http.post(REFUNDS_URL, data={"payment_intent": "pi_test_refund"}, headers=AUTH)
    unknown = http.post(REFUNDS_URL, data={"payment_intent": unpaid_intent}, headers=AUTH)
    listed = http.get(REFUNDS_URL, params={"payment_intent": "pi_test_refund"}, headers=AUTH).json()

    assert refund.status_code == 200
    assert refund.json()["object"] == "refund" and refund.json()["amount"] == 3000
    assert refund.json()["status"] == "succeeded"
    assert twice.status_code == 400 and twice.json()["error"]["code"] == "charge_already_refunded"
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "resource_missing"
    assert [r["id"] for r in listed["data"]] == [refund.json()["id"]]


def test_refunds_refuse_more_than_is_left(http: httpx.Client, stripe_standin: StripeStandIn) -> None:
    created = http.post(SESSIONS_URL, data=valid_form(), headers=AUTH).json()
    stripe_standin.complete(created["id"], payment_intent="pi_test_part")

    part = http.post(REFUNDS_URL, data={"payment_intent": "pi_test_part", "amount": "1000"}, headers=AUTH)
    too_much = http.post(REFUNDS_URL, data={"payment_intent": "pi_test_part", "amount": "2500"}, headers=AUTH)

    assert part.status_code == 200
    assert too_much.status_code == 400 and too_much.json()["error"]["param"] == "amount"
