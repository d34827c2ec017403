"""The shop with StripePayments pointed at the Stripe stand-in, and the steps its tests take:
check out, deliver a signed event as Stripe would, and check the money invariant."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from shared.core import db
from shared.core.config import LOCAL_WEBHOOK_SECRET, Settings, get_settings
from shared.payments import sign_webhook_payload
from tests.functions.conftest import rows
from tests.payments.stripe_standin import StripeStandIn


@pytest.fixture
def stripe_shop(
    settings: Settings, database: db.Database, stripe_standin: StripeStandIn, monkeypatch: pytest.MonkeyPatch
) -> Iterator[TestClient]:
    """The dev app with payments by StripePayments, pointed at the stand-in."""
    from infra.dev_server import build_dev_app

    monkeypatch.setenv("PAYMENTS_PROVIDER", "stripe")
    monkeypatch.setenv("STRIPE_SECRET_KEY", "sk_test_shop")
    monkeypatch.setenv("STRIPE_API_BASE", stripe_standin.base_url)
    monkeypatch.setenv("STRIPE_TIMEOUT_SECONDS", "0.5")
    get_settings.cache_clear()
    client = TestClient(build_dev_app(get_settings(), lambda payload, signature: 500))
    with client:
        yield client
    get_settings.cache_clear()


def checkout(shop: TestClient, upload_session_id: str, email: str = "ada@example.com") -> Any:
    return shop.post("/api/checkout", json={"upload_session_id": upload_session_id, "email": email})


def deliver(shop: TestClient, kind: str, session: dict[str, Any], event_id: str | None = None) -> Any:
    """A signed event as Stripe sends it, carrying the session as Stripe holds it (a
    redelivery when `event_id` names an event sent before)."""
    event = {
        "id": event_id or "evt_" + secrets.token_hex(12),
        "object": "event",
        "type": kind,
        "created": int(time.time()),
        "livemode": False,
        "data": {"object": {k: v for k, v in session.items() if not k.startswith("_")}},
    }
    payload = json.dumps(event).encode()
    return shop.post(
        "/api/webhooks/stripe",
        content=payload,
        headers={
            "stripe-signature": sign_webhook_payload(payload, LOCAL_WEBHOOK_SECRET),
            "content-type": "application/json",
        },
    )


def cart_status(conn: db.Connection, upload_session_id: str) -> str:
    [row] = rows(conn, "select status from upload_sessions where id = %s", upload_session_id)
    return str(row["status"])


def assert_paid_session_settled_once(conn: db.Connection, standin: StripeStandIn, session_id: str) -> str:
    """The invariant for one paid session: one order with every photo paid for, or one refund."""
    orders = rows(conn, "select id, image_count from orders where stripe_checkout_session_id = %s", session_id)
    intent = standin.sessions[session_id]["payment_intent"]
    refunds = [r for r in standin.refunds.values() if r["payment_intent"] == intent]
    assert len(orders) + len(refunds) == 1, (orders, refunds)
    if orders:
        [checkout_row] = rows(
            conn, "select photo_count from checkouts where stripe_checkout_session_id = %s", session_id
        )
        [images] = rows(
            conn, "select count(*) as n from images where order_id = %s and type = 'original'", orders[0]["id"]
        )
        assert orders[0]["image_count"] == checkout_row["photo_count"] == images["n"]
        return "order"
    assert refunds[0]["amount"] == standin.sessions[session_id]["amount_total"]
    return "refund"
