"""StripePayments against the local Stripe stand-in, through the official `stripe` package.

What the stand-in records is what Stripe would receive, so these tests pin the exact
parameters, headers, retries and pagination of the real calls.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.payments.base import (
    STRIPE_API_VERSION,
    CheckoutAlreadyPaid,
    PaymentsRejected,
    PaymentsUnavailable,
    RefundRequest,
)
from shared.payments.stripe_provider import StripePayments
from tests.fixtures.checkout_requests import (
    CANCEL_URL,
    CHECKOUT_ID,
    SUCCESS_URL,
    UPLOAD_SESSION_ID,
    checkout_request,
)
from tests.fixtures.stripe_standin import SESSIONS_URL, StripeStandIn


@pytest.fixture
def payments(stripe_standin: StripeStandIn) -> StripePayments:
    return StripePayments(secret_key="sk_test_x", api_base=stripe_standin.base_url)


# -- create -------------------------------------------------------------------------------


def test_create_sends_exactly_what_stripe_expects(payments: StripePayments, stripe_standin: StripeStandIn) -> None:
    request = checkout_request()

    created = payments.create_checkout_session(request)

    [sent] = stripe_standin.recorded("POST")
    assert sent.status == 200
    metadata = {"upload_session_id": UPLOAD_SESSION_ID, "checkout_id": CHECKOUT_ID}
    assert sent.form == {
        "mode": "payment",
        "line_items": [
            {
                "price_data": {
                    "currency": "eur",
                    "unit_amount": "1500",
                    "product_data": {"name": "Photo restoration"},
                },
                "quantity": "3",
            }
        ],
        "customer_email": "ada@example.com",
        "client_reference_id": CHECKOUT_ID,
        "metadata": metadata,
        "payment_intent_data": {"metadata": metadata},
        "success_url": SUCCESS_URL,
        "cancel_url": CANCEL_URL,
        "expires_at": str(int(request.expires_at.timestamp())),
    }
    assert sent.headers["authorization"] == "Bearer sk_test_x"
    assert sent.headers["idempotency-key"] == request.idempotency_key
    assert sent.headers["content-type"].startswith("application/x-www-form-urlencoded")
    assert sent.headers["stripe-version"] == STRIPE_API_VERSION  # pinned in our code, not left to the SDK
    assert sent.query == {}

    session = stripe_standin.sessions[created.id]
    assert created.id.startswith("cs_test_")
    assert created.url == session["url"]
    assert created.expires_at == datetime.fromtimestamp(int(request.expires_at.timestamp()), UTC)
    assert session["amount_total"] == 4500
    assert session["status"] == "open" and session["payment_status"] == "unpaid"


def test_same_idempotency_key_gives_the_same_session(payments: StripePayments, stripe_standin: StripeStandIn) -> None:
    request = checkout_request()

    first = payments.create_checkout_session(request)
    again = payments.create_checkout_session(request)

    assert again == first
    assert len(stripe_standin.sessions) == 1
    keys = [r.headers["idempotency-key"] for r in stripe_standin.recorded("POST")]
    assert keys == [request.idempotency_key, request.idempotency_key]


def test_a_new_idempotency_key_gives_a_new_session(payments: StripePayments, stripe_standin: StripeStandIn) -> None:
    first = payments.create_checkout_session(checkout_request())
    second = payments.create_checkout_session(checkout_request(idempotency_key="checkout-" + "b" * 48))

    assert second.id != first.id
    assert len(stripe_standin.sessions) == 2


def test_a_key_reused_for_different_parameters_is_rejected(
    payments: StripePayments, stripe_standin: StripeStandIn
) -> None:
    payments.create_checkout_session(checkout_request())

    with pytest.raises(PaymentsRejected) as caught:
        payments.create_checkout_session(checkout_request(photo_count=4))

    assert caught.value.status_code == 400
    assert "idempotent requests" in caught.value.provider_message
    assert len(stripe_standin.sessions) == 1


def test_a_failure_then_success_retries_with_the_same_key(
    payments: StripePayments, stripe_standin: StripeStandIn
) -> None:
    stripe_standin.fail_next(1)
    request = checkout_request()

    created = payments.create_checkout_session(request)

    attempts = stripe_standin.recorded("POST")
    assert [r.status for r in attempts] == [500, 200]
    assert {r.headers["idempotency-key"] for r in attempts} == {request.idempotency_key}
    assert list(stripe_standin.sessions) == [created.id]


# -- failures -----------------------------------------------------------------------------


def _call(payments: StripePayments, operation: str) -> object:
    if operation == "create":
        return payments.create_checkout_session(checkout_request())
    if operation == "retrieve":
        return payments.retrieve_checkout_session("cs_test_whatever")
    if operation == "expire":
        return payments.expire_checkout_session("cs_test_whatever")
    return list(payments.list_completed_checkout_sessions(datetime.now(UTC) - timedelta(days=1)))


@pytest.mark.parametrize("operation", ["create", "retrieve", "expire", "list"])
def test_stripe_failing_every_time_is_unavailable(
    payments: StripePayments, stripe_standin: StripeStandIn, operation: str
) -> None:
    stripe_standin.fail_next(100)

    with pytest.raises(PaymentsUnavailable) as caught:
        _call(payments, operation)

    assert caught.value.status_code == 503
    assert caught.value.code == "payments_unavailable"
    # One request and the client's two retries, all answered 500.
    assert [r.status for r in stripe_standin.requests] == [500, 500, 500]
    assert stripe_standin.sessions == {}


def test_stripe_out_of_reach_is_unavailable(stripe_standin: StripeStandIn) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]  # nothing listens once the socket closes
    payments = StripePayments(secret_key="sk_test_x", api_base=f"http://127.0.0.1:{closed_port}")

    with pytest.raises(PaymentsUnavailable):
        payments.create_checkout_session(checkout_request())


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"expires_at": "soon"}, "between 30 minutes and 24 hours"),
        ({"expires_at": "late"}, "between 30 minutes and 24 hours"),
        ({"currency": "EUR"}, "Invalid currency"),
        ({"currency": "euro"}, "Invalid currency"),
        ({"success_url": "https://restoreclick.test/thanks"}, "{CHECKOUT_SESSION_ID}"),
        ({"cancel_url": "not a url"}, "Not a valid URL"),
        ({"customer_email": "not-an-email"}, "Invalid email address"),
        ({"product_name": ""}, "product_data][name]"),
        ({"metadata": {"k" * 41: "v"}}, "longer than 40 characters"),
    ],
)
def test_requests_stripe_refuses_are_rejected(
    payments: StripePayments,
    stripe_standin: StripeStandIn,
    overrides: dict[str, Any],
    expected: str,
) -> None:
    if overrides.get("expires_at") == "soon":
        overrides["expires_at"] = datetime.now(UTC) + timedelta(minutes=29)
    elif overrides.get("expires_at") == "late":
        overrides["expires_at"] = datetime.now(UTC) + timedelta(hours=24, minutes=1)

    with pytest.raises(PaymentsRejected) as caught:
        payments.create_checkout_session(checkout_request(**overrides))

    assert caught.value.status_code == 400
    assert caught.value.code == "payments_rejected"
    # Stripe's own words are for us; the customer reads a sentence meant for them.
    assert expected in caught.value.provider_message
    assert "param" not in caught.value.message and "[" not in caught.value.message
    # A refusal is final: no retry, and nothing was created.
    assert [r.status for r in stripe_standin.requests] == [400]
    assert stripe_standin.sessions == {}


def test_expiry_at_the_limits_is_accepted(payments: StripePayments) -> None:
    payments.create_checkout_session(checkout_request(expires_at=datetime.now(UTC) + timedelta(minutes=31)))
    payments.create_checkout_session(
        checkout_request(
            expires_at=datetime.now(UTC) + timedelta(hours=23, minutes=59),
            idempotency_key="checkout-" + "c" * 48,
        )
    )


def test_a_refused_key_is_rejected(stripe_standin: StripeStandIn) -> None:
    payments = StripePayments(secret_key="rk_live_nope", api_base=stripe_standin.base_url)

    with pytest.raises(PaymentsRejected) as caught:
        payments.create_checkout_session(checkout_request())
    assert re.search("Invalid API Key", caught.value.provider_message)
    assert [r.status for r in stripe_standin.requests] == [401]


# -- retrieve -----------------------------------------------------------------------------


def test_retrieve_maps_an_open_session(payments: StripePayments, stripe_standin: StripeStandIn) -> None:
    before = int(time.time())
    created = payments.create_checkout_session(checkout_request())

    info = payments.retrieve_checkout_session(created.id)

    assert [r.path for r in stripe_standin.recorded("GET", f"{SESSIONS_URL}/{created.id}")] == [
        f"{SESSIONS_URL}/{created.id}"
    ]
    assert info.id == created.id
    assert info.status == "open"
    assert info.payment_status == "unpaid"
    assert info.amount_total == 4500
    assert info.currency == "eur"
    assert info.customer_email == "ada@example.com"
    assert info.payment_intent is None
    assert info.client_reference_id == CHECKOUT_ID
    assert info.metadata == {"upload_session_id": UPLOAD_SESSION_ID, "checkout_id": CHECKOUT_ID}
    assert before <= info.created.timestamp() <= time.time()
    assert info.created.tzinfo is not None


def test_retrieve_maps_a_paid_session(payments: StripePayments, stripe_standin: StripeStandIn) -> None:
    created = payments.create_checkout_session(checkout_request())
    stripe_standin.complete(created.id, payment_intent="pi_test_123")

    info = payments.retrieve_checkout_session(created.id)

    assert (info.status, info.payment_status, info.payment_intent) == (
        "complete",
        "paid",
        "pi_test_123",
    )
    assert info.amount_total == 4500


def test_retrieve_takes_the_email_from_customer_details(
    payments: StripePayments, stripe_standin: StripeStandIn
) -> None:
    # A session made without customer_email: Checkout collects it into customer_details.
    session = stripe_standin.add_session(
        customer_email=None,
        status="complete",
        payment_status="paid",
        customer_details={"email": "typed@example.com", "name": "Ada"},
    )

    assert payments.retrieve_checkout_session(session["id"]).customer_email == "typed@example.com"


def test_retrieve_of_an_unknown_session_is_rejected(payments: StripePayments, stripe_standin: StripeStandIn) -> None:
    with pytest.raises(PaymentsRejected) as caught:
        payments.retrieve_checkout_session("cs_test_missing")
    assert re.search(r"No such checkout\.session", caught.value.provider_message)
    assert [r.status for r in stripe_standin.requests] == [404]


# -- expire (the customer cancelled) -------------------------------------------------------


def test_expire_ends_an_open_session(payments: StripePayments, stripe_standin: StripeStandIn) -> None:
    created = payments.create_checkout_session(checkout_request())

    info = payments.expire_checkout_session(created.id)

    [sent] = stripe_standin.recorded("POST", f"{SESSIONS_URL}/{created.id}/expire")
    assert sent.status == 200 and sent.form == {}
    assert sent.headers["authorization"] == "Bearer sk_test_x"
    assert (info.id, info.status, info.payment_status) == (created.id, "expired", "unpaid")
    assert stripe_standin.sessions[created.id]["status"] == "expired"


def test_expiring_an_expired_session_again_gives_it_back(
    payments: StripePayments, stripe_standin: StripeStandIn
) -> None:
    created = payments.create_checkout_session(checkout_request())
    payments.expire_checkout_session(created.id)

    again = payments.expire_checkout_session(created.id)

    assert (again.status, again.payment_status) == ("expired", "unpaid")
    expires = stripe_standin.recorded("POST", f"{SESSIONS_URL}/{created.id}/expire")
    assert [r.status for r in expires] == [200, 400]  # Stripe refuses; the session says why
    assert [r.status for r in stripe_standin.recorded("GET", f"{SESSIONS_URL}/{created.id}")] == [200]


def test_expiring_a_paid_session_is_already_paid(payments: StripePayments, stripe_standin: StripeStandIn) -> None:
    created = payments.create_checkout_session(checkout_request())
    stripe_standin.complete(created.id, payment_intent="pi_test_paid")

    with pytest.raises(CheckoutAlreadyPaid) as caught:
        payments.expire_checkout_session(created.id)

    assert (caught.value.status_code, caught.value.code) == (409, "already_paid")
    session = stripe_standin.sessions[created.id]
    assert (session["status"], session["payment_status"]) == ("complete", "paid")
    [refused] = stripe_standin.recorded("POST", f"{SESSIONS_URL}/{created.id}/expire")
    assert refused.status == 400  # refused once, not retried


def test_expiring_an_unknown_session_is_rejected(payments: StripePayments, stripe_standin: StripeStandIn) -> None:
    with pytest.raises(PaymentsRejected) as caught:
        payments.expire_checkout_session("cs_test_missing")
    assert re.search(r"No such checkout\.session", caught.value.provider_message)
    assert [r.status for r in stripe_standin.requests] == [404]


# -- list (reconciliation) ------------------------------------------------------------------


def test_list_pages_through_every_completed_session(payments: StripePayments, stripe_standin: StripeStandIn) -> None:
    now = int(time.time())
    since = datetime.fromtimestamp(now - 3600, UTC)
    wanted = [
        stripe_standin.add_session(
            status="complete",
            payment_status="paid",
            created=now - 3000 + i,
            payment_intent=f"pi_test_{i}",
            client_reference_id=f"checkout-{i}",
        )
        for i in range(205)
    ]
    # Not wanted: open and expired sessions, and completed ones from before `since`.
    for i in range(20):
        stripe_standin.add_session(status="open", created=now - 100 + i)
        stripe_standin.add_session(status="expired", created=now - 200 + i)
        stripe_standin.add_session(status="complete", payment_status="paid", created=now - 4000 + i)

    found = list(payments.list_completed_checkout_sessions(since))

    assert sorted(info.id for info in found) == sorted(s["id"] for s in wanted)
    assert len(found) == 205
    assert all(info.status == "complete" and info.payment_status == "paid" for info in found)
    pages = stripe_standin.recorded("GET")
    assert len(pages) == 3
    for page in pages:
        assert page.query["created"] == {"gte": str(now - 3600)}
        assert page.query["status"] == "complete"
        assert page.query["limit"] == "100"
    # Stripe lists newest first; each next page starts after the last one seen.
    ids_in_order = [info.id for info in found]
    assert "starting_after" not in pages[0].query
    assert pages[1].query["starting_after"] == ids_in_order[99]
    assert pages[2].query["starting_after"] == ids_in_order[199]
    assert [info.created.timestamp() for info in found] == sorted(
        (info.created.timestamp() for info in found), reverse=True
    )


def test_list_includes_a_session_created_in_the_same_second(
    payments: StripePayments, stripe_standin: StripeStandIn
) -> None:
    since = datetime.now(UTC)
    created = payments.create_checkout_session(checkout_request())
    stripe_standin.complete(created.id)

    assert [info.id for info in payments.list_completed_checkout_sessions(since)] == [created.id]


def test_list_with_nothing_completed_is_empty(payments: StripePayments, stripe_standin: StripeStandIn) -> None:
    payments.create_checkout_session(checkout_request())

    assert list(payments.list_completed_checkout_sessions(datetime.now(UTC) - timedelta(hours=1))) == []
    assert len(stripe_standin.recorded("GET")) == 1


def test_list_failing_on_a_later_page_is_unavailable(payments: StripePayments, stripe_standin: StripeStandIn) -> None:
    now = int(time.time())
    for i in range(150):
        stripe_standin.add_session(status="complete", payment_status="paid", created=now - 10 - i)
    sessions: Iterator[Any] = payments.list_completed_checkout_sessions(datetime.now(UTC) - timedelta(hours=1))

    first_page = [next(sessions) for _ in range(100)]
    stripe_standin.fail_next(3)

    assert len(first_page) == 100
    with pytest.raises(PaymentsUnavailable):
        next(sessions)


# -- refunds --------------------------------------------------------------------------------


def test_a_refund_is_made_with_the_callers_key_and_a_second_is_answered_with_the_first(
    payments: StripePayments, stripe_standin: StripeStandIn
) -> None:
    created = payments.create_checkout_session(checkout_request())
    stripe_standin.complete(created.id, payment_intent="pi_test_r1")

    refund = payments.refund_payment(
        RefundRequest(payment_intent="pi_test_r1", amount=4500, idempotency_key="refund-a-0")
    )
    # A new key (an earlier attempt failed definitively): Stripe refuses a second refund of a
    # payment refunded in full, and the first is the answer.
    again = payments.refund_payment(
        RefundRequest(payment_intent="pi_test_r1", amount=4500, idempotency_key="refund-a-1")
    )

    assert refund.status == "succeeded" and refund.amount == 4500
    assert again.id == refund.id
    assert len(stripe_standin.refunds) == 1
    [first, second] = stripe_standin.recorded("POST", "/v1/refunds")
    assert first.form == {
        "payment_intent": "pi_test_r1",
        "amount": "4500",
        "reason": "requested_by_customer",
    }
    assert first.headers["idempotency-key"] == "refund-a-0" and second.status == 400


def test_a_refund_stripe_cannot_answer_is_unavailable_and_says_whether_it_answered(
    payments: StripePayments, stripe_standin: StripeStandIn
) -> None:
    created = payments.create_checkout_session(checkout_request())
    stripe_standin.complete(created.id, payment_intent="pi_test_r2")
    stripe_standin.fail_next(1, saved=True, path="/v1/refunds")

    with pytest.raises(PaymentsUnavailable) as caught:
        payments.refund_payment(RefundRequest(payment_intent="pi_test_r2", amount=4500, idempotency_key="refund-b-0"))

    assert caught.value.answered is True
    assert stripe_standin.refunds == {}
