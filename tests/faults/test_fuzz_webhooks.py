"""Property-based fuzzing of the Stripe webhook's event parser: correctly signed events of
any shape (the event types we handle, others, and objects with missing, mistyped or
unknown fields) never cause a 5xx, never make an order, and a refused one writes nothing.

The signature is valid on purpose: an unsigned body is refused before parsing (covered
in tests/functions), so only a signed one reaches the code under test here.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.core import db
from tests.fixtures.db import row_counts
from tests.fixtures.stripe_webhook import send

EVENT_TYPES = [
    "checkout.session.completed",
    "checkout.session.async_payment_succeeded",
    "checkout.session.async_payment_failed",
    "checkout.session.expired",
    "charge.refunded",
    "charge.dispute.created",
    "payment_intent.succeeded",
    "customer.created",
]

json_leaf = st.none() | st.booleans() | st.integers(-(2**63), 2**63) | st.floats(allow_nan=False) | st.text(max_size=40)
json_value = st.recursive(
    json_leaf,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
# Objects with the fields our code reads, well typed but with any values (unknown ids,
# odd statuses, amounts that do not match), plus fields we never read.
stripe_object = st.fixed_dictionaries(
    {"id": st.sampled_from(["cs_test_unknown", "cs_local_0", "ch_x"]) | st.text(min_size=1, max_size=80)},
    optional={
        "object": st.sampled_from(["checkout.session", "charge", "dispute", "payment_intent"]),
        "client_reference_id": st.uuids().map(str) | st.text(max_size=40),
        "payment_status": st.sampled_from(["paid", "unpaid", "no_payment_required"]) | st.text(max_size=20),
        "status": st.sampled_from(["complete", "open", "expired"]) | st.text(max_size=20),
        "payment_intent": st.none() | st.text(max_size=30),
        "amount_total": st.integers(0, 10**12),
        "amount": st.integers(0, 10**12),
        "amount_refunded": st.integers(0, 10**12),
        "currency": st.sampled_from(["usd", "eur", ""]),
        "metadata": st.dictionaries(st.sampled_from(["photo_count", "photos", "x"]), st.text(max_size=40)),
        "extra": json_value,
    },
)
# The same with any field replaced by any JSON value: mistyped, negative, nested.
mistyped_object = st.dictionaries(
    st.sampled_from(["id", "payment_intent", "amount", "amount_refunded", "metadata", "object"]), json_value
)


def envelope(obj: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {
            "id": st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=24).map(
                "evt_{}".format
            ),
            "type": st.sampled_from(EVENT_TYPES)
            | st.from_regex(r"[a-z_.]{1,40}", fullmatch=True)
            | st.text(max_size=9),
            "data": st.fixed_dictionaries({"object": obj}),
        },
        optional={
            "object": st.just("event") | json_value,
            "created": st.integers(-(2**40), 2**40) | json_value,
            "livemode": st.booleans() | json_value,
        },
    )


any_envelope = st.dictionaries(st.sampled_from(["id", "type", "data", "object"]), json_value, max_size=4)
# Mostly well-formed, so that the fuzzing reaches what lies behind the shape check.
event_body = st.one_of(
    envelope(stripe_object), envelope(stripe_object), envelope(stripe_object), envelope(mistyped_object), any_envelope
)


def test_signed_events_of_any_shape_never_fail_or_make_an_order(shop: TestClient, database: db.Database) -> None:
    codes: list[str] = []

    @given(event=event_body)
    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def deliver(event: dict[str, Any]) -> None:
        before = row_counts(database)
        response = send(shop, event, raw=json.dumps(event).encode())
        codes.append(response.json()["error"]["code"] if response.status_code >= 400 else str(response.status_code))
        assert response.status_code < 500, (event, response.status_code, response.text[:300])
        body = response.json()
        after = row_counts(database)
        assert (after["orders"], after["customers"]) == (0, 0), event
        if response.status_code >= 400:
            assert set(body) == {"error"} and {"code", "message"} <= set(body["error"]), body
            assert after == before, f"refused ({response.status_code}) but wrote rows: {event}"

    deliver()
    # Not vacuous: most deliveries got past the envelope check into the event's handling.
    assert sum(code != "malformed_payload" for code in codes) > len(codes) // 2, Counter(codes)
