"""The payloads in tests/events/ hold what our code reads, and what the stand-ins send has
their shape: a stand-in that invents a field, or drops one of the envelope's, fails here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from infra.scheduler import schedules_from_serverless
from shared.payments.base import STRIPE_API_VERSION
from shared.payments.local_provider import LocalPayments
from shared.stripe_events.shape import OBJECT_SHAPES, check_stripe_event
from tests.fixtures.checkout_requests import checkout_request
from tests.fixtures.events import load_event
from tests.fixtures.stripe_standin import StripeStandIn

ROOT = Path(__file__).resolve().parents[2]
# Stripe's Event object (docs.stripe.com/api/events/object): every key of the envelope.
EVENT_KEYS = {"id", "object", "api_version", "created", "data", "livemode", "pending_webhooks", "request", "type"}
OBJECT_OF = {"checkout.session": "checkout.session", "charge.refunded": "charge", "charge.dispute": "dispute"}


def _object_name(event_type: str) -> str:
    return next(name for prefix, name in OBJECT_OF.items() if event_type.startswith(prefix))


@pytest.mark.parametrize("event_type", sorted(OBJECT_SHAPES))
def test_every_event_type_we_handle_has_a_payload_our_shape_check_accepts(event_type: str) -> None:
    event = load_event(event_type)
    assert set(event) == EVENT_KEYS
    assert event["type"] == event_type and event["object"] == "event"
    assert event["api_version"] == STRIPE_API_VERSION  # rendered at the version we pin
    assert event["data"]["object"]["object"] == _object_name(event_type)
    assert check_stripe_event(event) == event


def test_each_load_is_a_new_event_and_overrides_apply() -> None:
    first, second = load_event("charge.refunded"), load_event("charge.refunded", obj={"amount_refunded": 7})
    assert first["id"] != second["id"] and first["id"].startswith("evt_")
    assert second["data"]["object"]["amount_refunded"] == 7
    assert second["data"]["object"]["payment_intent"] == first["data"]["object"]["payment_intent"]
    assert load_event("checkout.session.expired", id="evt_same")["id"] == "evt_same"
    with pytest.raises(ValueError, match="not a Stripe event"):
        load_event("apigw_v2_get", obj={"x": 1})
    with pytest.raises(FileNotFoundError, match=r"charge\.refunded"):
        load_event("charge.refund")


def _session_keys(event_type: str) -> set[str]:
    return set(load_event(event_type)["data"]["object"])


def _assert_shaped_like_stripe(event: dict[str, Any]) -> None:
    assert set(event) == EVENT_KEYS
    assert set(event["data"]) == set(load_event(event["type"])["data"])
    invented = set(event["data"]["object"]) - _session_keys(event["type"])
    assert not invented, f"{event['type']} carries fields Stripe's object does not have: {sorted(invented)}"
    check_stripe_event(event)


def test_local_payments_events_are_shaped_like_stripes(tmp_path: Path) -> None:
    provider = LocalPayments(tmp_path / "payments", "http://localhost:8000/")
    paid = provider.create_checkout_session(checkout_request()).id
    _assert_shaped_like_stripe(provider.pay(paid))
    debit = provider.create_checkout_session(checkout_request(idempotency_key="debit")).id
    _assert_shaped_like_stripe(provider.pay(debit, "bank_debit"))
    _assert_shaped_like_stripe(provider.settle(debit, succeeded=True))
    bounced = provider.create_checkout_session(checkout_request(idempotency_key="bounced")).id
    provider.pay(bounced, "bank_debit")
    _assert_shaped_like_stripe(provider.settle(bounced, succeeded=False))
    expired = provider.create_checkout_session(checkout_request(idempotency_key="expired")).id
    _assert_shaped_like_stripe(provider.expire(expired))


def test_the_stripe_standins_sessions_have_only_stripes_fields() -> None:
    standin = StripeStandIn()
    session = standin.add_session(amount_total=1998, currency="usd")
    assert not set(StripeStandIn.public(session)) - _session_keys("checkout.session.expired")
    completed = StripeStandIn.public(standin.complete(session["id"], paid=False))
    assert not set(completed) - _session_keys("checkout.session.completed")
    settled = StripeStandIn.public(standin.settle(session["id"]))
    assert not set(settled) - _session_keys("checkout.session.async_payment_succeeded")


def test_the_http_payloads_are_payload_format_2_0() -> None:
    for name in ("apigw_v2_get", "function_url_post"):
        event = load_event(name)
        assert event["version"] == "2.0" and isinstance(event["isBase64Encoded"], bool)
        assert {"rawPath", "rawQueryString", "headers", "requestContext", "routeKey"} <= set(event)
        http = event["requestContext"]["http"]
        assert set(http) == {"method", "path", "protocol", "sourceIp", "userAgent"}
        assert http["path"] == event["rawPath"]
        assert all(header == header.lower() for header in event["headers"])
    url = load_event("function_url_post")["requestContext"]
    # A function URL has no routes or stages, and a NONE-auth caller no account.
    assert (url["routeKey"], url["stage"], url["accountId"]) == ("$default", "$default", "anonymous")
    assert url["domainName"] == f"{url['apiId']}.lambda-url.eu-west-1.on.aws"


def test_the_schedule_payload_is_one_serverless_yml_sends() -> None:
    """A schedule with `input` hands Lambda that constant instead of EventBridge's event."""
    sent = [{"worker": s.worker} for s in schedules_from_serverless(ROOT / "serverless.yml")]
    assert load_event("eventbridge_scheduled_restoration") in sent
