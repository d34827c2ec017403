"""LocalPayments, the stand-in for Stripe Checkout on a laptop: sessions, payment, expiry,
and events shaped like the ones Stripe delivers, so the real webhook code runs."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import stripe

from shared.core.errors import Conflict, NotFound
from shared.payments.base import CheckoutAlreadyPaid, PaymentsRejected, RefundRequest, checkout_session_info
from shared.payments.local_provider import LocalPayments
from shared.stripe_events.signatures import sign_webhook_payload, verify_webhook
from tests.fixtures.checkout_requests import CHECKOUT_ID, UPLOAD_SESSION_ID, checkout_request
from tests.fixtures.events import load_event
from tests.fixtures.stripe_standin import StripeStandIn

PUBLIC_BASE_URL = "http://localhost:8000/"

# A checkout.session.completed event as Stripe delivers it (tests/events/), its session
# trimmed to the fields the shop reads; the envelope is complete.
SHOP_READS = {
    "id", "object", "amount_subtotal", "amount_total", "cancel_url", "client_reference_id",
    "created", "currency", "customer_details", "customer_email", "expires_at", "livemode",
    "metadata", "mode", "payment_intent", "payment_status", "status", "success_url", "url",
}  # fmt: skip
_COMPLETED = load_event("checkout.session.completed")
STRIPE_EVENT: dict[str, Any] = {
    **_COMPLETED,
    "data": {"object": {k: v for k, v in _COMPLETED["data"]["object"].items() if k in SHOP_READS}},
}

# Every field of Stripe's Checkout Session object the stand-in may use: it must not
# invent a field Stripe does not have.
STRIPE_SESSION_FIELDS = set(_COMPLETED["data"]["object"])


@pytest.fixture
def provider(tmp_path: Path) -> LocalPayments:
    return LocalPayments(tmp_path / "payments", PUBLIC_BASE_URL)


def test_create_then_retrieve_an_open_unpaid_session(provider: LocalPayments) -> None:
    request = checkout_request()

    created = provider.create_checkout_session(request)
    info = provider.retrieve_checkout_session(created.id)

    assert created.id.startswith("cs_local_")
    assert created.url == f"http://localhost:8000/dev/checkout/{created.id}"
    assert created.expires_at == datetime.fromtimestamp(int(request.expires_at.timestamp()), UTC)
    assert info.id == created.id
    assert (info.status, info.payment_status) == ("open", "unpaid")
    assert info.amount_total == 4500
    assert info.currency == "eur"
    assert info.customer_email == "ada@example.com"
    assert info.client_reference_id == CHECKOUT_ID
    assert info.payment_intent is None
    assert info.metadata == {"upload_session_id": UPLOAD_SESSION_ID, "checkout_id": CHECKOUT_ID}
    assert abs(info.created.timestamp() - time.time()) < 5


def test_pay_returns_a_completed_event_shaped_like_stripes(provider: LocalPayments) -> None:
    created = provider.create_checkout_session(checkout_request())

    event = provider.pay(created.id)

    assert set(event) == set(STRIPE_EVENT)
    assert set(event["data"]) == set(STRIPE_EVENT["data"])
    session = event["data"]["object"]
    assert set(STRIPE_EVENT["data"]["object"]) - {"url"} <= set(session)
    assert set(session) <= STRIPE_SESSION_FIELDS
    for key, value in STRIPE_EVENT.items():
        assert type(event[key]) is type(value), key
    for key, value in STRIPE_EVENT["data"]["object"].items():
        if value is not None and key in session:
            assert type(session[key]) is type(value), key

    assert event["id"].startswith("evt_")
    assert event["object"] == "event"
    assert event["type"] == "checkout.session.completed"
    assert event["livemode"] is False
    assert abs(event["created"] - time.time()) < 5
    assert session["id"] == created.id
    assert session["object"] == "checkout.session"
    assert (session["status"], session["payment_status"]) == ("complete", "paid")
    assert session["payment_intent"].startswith("pi_")
    assert session["amount_total"] == 4500
    assert session["currency"] == "eur"
    assert session["customer_email"] == "ada@example.com"
    assert session["client_reference_id"] == CHECKOUT_ID
    assert session["metadata"] == {
        "upload_session_id": UPLOAD_SESSION_ID,
        "checkout_id": CHECKOUT_ID,
    }
    assert "idempotency_key" not in session and "line_items" not in session


def test_the_event_goes_through_signing_and_the_official_library(provider: LocalPayments) -> None:
    created = provider.create_checkout_session(checkout_request())
    payload = json.dumps(provider.pay(created.id)).encode()
    header = sign_webhook_payload(payload, "whsec_local")

    ours = verify_webhook(payload, header, ["whsec_local"], 300)
    theirs = stripe.Webhook.construct_event(payload, header, "whsec_local")

    assert theirs["type"] == ours["type"] == "checkout.session.completed"
    assert theirs["data"]["object"]["payment_status"] == "paid"
    info = checkout_session_info(ours["data"]["object"])
    assert info == provider.retrieve_checkout_session(created.id)


def test_retrieve_after_paying(provider: LocalPayments) -> None:
    created = provider.create_checkout_session(checkout_request())
    event = provider.pay(created.id)

    info = provider.retrieve_checkout_session(created.id)

    assert (info.status, info.payment_status) == ("complete", "paid")
    assert info.payment_intent == event["data"]["object"]["payment_intent"]


def test_paying_twice_takes_one_payment(provider: LocalPayments) -> None:
    created = provider.create_checkout_session(checkout_request())

    first = provider.pay(created.id)
    second = provider.pay(created.id)

    assert second["data"]["object"]["payment_intent"] == first["data"]["object"]["payment_intent"]
    assert second["type"] == "checkout.session.completed"


def test_same_idempotency_key_gives_the_same_session(provider: LocalPayments) -> None:
    request = checkout_request()

    first = provider.create_checkout_session(request)
    again = provider.create_checkout_session(request)
    other = provider.create_checkout_session(checkout_request(idempotency_key="checkout-other"))

    assert again == first
    assert other.id != first.id
    assert len(list(provider.store_dir.glob("cs_local_*.json"))) == 2


def test_expire(provider: LocalPayments) -> None:
    created = provider.create_checkout_session(checkout_request())

    event = provider.expire(created.id)

    assert event["type"] == "checkout.session.expired"
    assert set(event) == set(STRIPE_EVENT)
    assert event["data"]["object"]["status"] == "expired"
    assert event["data"]["object"]["payment_status"] == "unpaid"
    info = provider.retrieve_checkout_session(created.id)
    assert (info.status, info.payment_status) == ("expired", "unpaid")


def test_paying_an_expired_session_is_a_conflict(provider: LocalPayments) -> None:
    created = provider.create_checkout_session(checkout_request())
    provider.expire(created.id)

    with pytest.raises(Conflict) as caught:
        provider.pay(created.id)

    assert caught.value.code == "checkout_expired"
    assert caught.value.status_code == 409
    assert provider.retrieve_checkout_session(created.id).payment_status == "unpaid"


def test_paying_after_the_expiry_time_is_a_conflict(provider: LocalPayments) -> None:
    created = provider.create_checkout_session(checkout_request(expires_at=datetime.now(UTC) - timedelta(seconds=1)))

    with pytest.raises(Conflict):
        provider.pay(created.id)
    assert provider.retrieve_checkout_session(created.id).payment_status == "unpaid"


def test_expiring_a_paid_session_leaves_it_paid(provider: LocalPayments) -> None:
    created = provider.create_checkout_session(checkout_request())
    provider.pay(created.id)

    provider.expire(created.id)

    info = provider.retrieve_checkout_session(created.id)
    assert (info.status, info.payment_status) == ("complete", "paid")


def test_expire_checkout_session_ends_the_page_for_good(provider: LocalPayments) -> None:
    created = provider.create_checkout_session(checkout_request())

    info = provider.expire_checkout_session(created.id)
    again = provider.expire_checkout_session(created.id)

    assert (info.status, info.payment_status) == ("expired", "unpaid")
    assert again == info
    with pytest.raises(Conflict) as caught:
        provider.pay(created.id)
    assert caught.value.code == "checkout_expired"


def test_expire_checkout_session_of_a_paid_session_is_already_paid(provider: LocalPayments) -> None:
    created = provider.create_checkout_session(checkout_request())
    provider.pay(created.id)

    with pytest.raises(CheckoutAlreadyPaid) as caught:
        provider.expire_checkout_session(created.id)

    assert (caught.value.status_code, caught.value.code) == (409, "already_paid")
    info = provider.retrieve_checkout_session(created.id)
    assert (info.status, info.payment_status) == ("complete", "paid")


def test_list_completed_returns_only_completed_sessions(provider: LocalPayments) -> None:
    since = datetime.now(UTC)  # same second as the sessions below: still included
    paid = [provider.create_checkout_session(checkout_request(idempotency_key=f"paid-{i}")) for i in range(3)]
    for created in paid:
        provider.pay(created.id)
    provider.create_checkout_session(checkout_request(idempotency_key="open"))
    expired = provider.create_checkout_session(checkout_request(idempotency_key="expired"))
    provider.expire(expired.id)

    found = list(provider.list_completed_checkout_sessions(since))

    assert sorted(info.id for info in found) == sorted(c.id for c in paid)
    assert all((info.status, info.payment_status) == ("complete", "paid") for info in found)
    assert list(provider.list_completed_checkout_sessions(datetime.now(UTC) + timedelta(seconds=2))) == []


def test_list_skips_completed_sessions_from_before(provider: LocalPayments) -> None:
    old = provider.create_checkout_session(checkout_request(idempotency_key="old"))
    provider.pay(old.id)
    path = provider.store_dir / f"{old.id}.json"
    session = json.loads(path.read_text())
    session["created"] -= 7200
    path.write_text(json.dumps(session))

    assert list(provider.list_completed_checkout_sessions(datetime.now(UTC) - timedelta(hours=1))) == []


@pytest.mark.parametrize(
    "session_id",
    ["cs_local_nothere", "cs_test_abc", "cs_local_", "cs_local_../../etc/passwd", "../x"],
)
def test_unknown_or_hostile_ids_are_not_found(provider: LocalPayments, session_id: str) -> None:
    with pytest.raises(NotFound):
        provider.retrieve_checkout_session(session_id)
    with pytest.raises(NotFound):
        provider.pay(session_id)


def test_the_local_and_stripe_providers_agree(provider: LocalPayments, stripe_standin: StripeStandIn) -> None:
    """The same request gives the same view of the session through either provider."""
    from shared.payments.stripe_provider import StripePayments

    real = StripePayments(secret_key="sk_test_x", api_base=stripe_standin.base_url)
    request = checkout_request()

    local = provider.retrieve_checkout_session(provider.create_checkout_session(request).id)
    remote = real.retrieve_checkout_session(real.create_checkout_session(request).id)

    ignore = {"id", "created"}
    assert local.model_dump(exclude=ignore) == remote.model_dump(exclude=ignore)


# -- delayed payments, free checkouts, minimum charge, refunds ------------------------------


def test_paying_by_bank_debit_completes_unpaid_and_settles_later(provider: LocalPayments) -> None:
    created = provider.create_checkout_session(checkout_request())

    completed = provider.pay(created.id, "bank_debit")
    pending = provider.retrieve_checkout_session(created.id)
    cleared = provider.settle(created.id, succeeded=True)

    assert completed["type"] == "checkout.session.completed"
    assert (pending.status, pending.payment_status) == ("complete", "unpaid")
    assert pending.payment_intent and pending.payment_intent.startswith("pi_local_")
    assert cleared["type"] == "checkout.session.async_payment_succeeded"
    assert provider.retrieve_checkout_session(created.id).payment_status == "paid"
    with pytest.raises(Conflict):
        provider.settle(created.id, succeeded=True)  # nothing left to clear


def test_a_bounced_debit_stays_unpaid(provider: LocalPayments) -> None:
    created = provider.create_checkout_session(checkout_request())
    provider.pay(created.id, "bank_debit")

    bounced = provider.settle(created.id, succeeded=False)

    assert bounced["type"] == "checkout.session.async_payment_failed"
    assert provider.retrieve_checkout_session(created.id).payment_status == "unpaid"


def test_a_zero_total_needs_no_payment(provider: LocalPayments) -> None:
    created = provider.create_checkout_session(checkout_request(unit_amount=0))

    provider.pay(created.id)

    info = provider.retrieve_checkout_session(created.id)
    assert (info.payment_status, info.payment_intent) == ("no_payment_required", None)


def test_a_total_below_stripes_minimum_is_refused(provider: LocalPayments) -> None:
    with pytest.raises(PaymentsRejected) as caught:
        provider.create_checkout_session(checkout_request(unit_amount=10, photo_count=1))

    assert caught.value.details == {"stripe_code": "amount_too_small"}


def test_a_payment_is_refunded_once_whatever_the_key(provider: LocalPayments) -> None:
    created = provider.create_checkout_session(checkout_request())
    provider.pay(created.id)
    intent = provider.retrieve_checkout_session(created.id).payment_intent
    assert intent is not None

    first = provider.refund_payment(RefundRequest(payment_intent=intent, amount=4500, idempotency_key="r-0"))
    again = provider.refund_payment(RefundRequest(payment_intent=intent, amount=4500, idempotency_key="r-1"))

    assert again == first and first.status == "succeeded" and first.amount == 4500
    assert len(provider.refunds()) == 1
    with pytest.raises(PaymentsRejected):
        provider.refund_payment(RefundRequest(payment_intent="pi_local_unknown", amount=1, idempotency_key="r-2"))


@pytest.mark.parametrize(
    "session_id", ["cs_local_" + "a" * 300, "cs_local_../../etc", "cs_local_ABCDEF012345678901234567"]
)
def test_an_id_this_provider_never_made_is_unknown(provider: LocalPayments, session_id: str) -> None:
    with pytest.raises(NotFound):
        provider.retrieve_checkout_session(session_id)
