"""Webhook signatures: what we sign, the official library accepts; what we verify refuses
everything Stripe would not have sent, each with its own error code."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import pytest
import stripe

from shared.core.errors import BadRequest
from shared.stripe_events.signatures import sign_webhook_payload, verify_webhook

SECRET = "whsec_test_current"
OLD_SECRET = "whsec_test_previous"
TOLERANCE = 300
NOW = 1_767_225_600  # fixed clock: no test depends on how fast it runs

EVENT = {
    "id": "evt_test_1",
    "object": "event",
    "type": "checkout.session.completed",
    "created": NOW,
    "data": {"object": {"id": "cs_test_1", "object": "checkout.session", "payment_status": "paid"}},
}
PAYLOAD = json.dumps(EVENT).encode()


def verify(payload: bytes, header: str | None, secrets: list[str] | None = None, now: int = NOW) -> dict:
    return verify_webhook(payload, header, secrets or [SECRET], TOLERANCE, now=now)


def refused(payload: bytes, header: str | None, **kwargs) -> BadRequest:  # type: ignore[no-untyped-def]
    with pytest.raises(BadRequest) as caught:
        verify(payload, header, **kwargs)
    assert caught.value.status_code == 400
    return caught.value


def test_sign_makes_the_header_stripe_sends() -> None:
    header = sign_webhook_payload(PAYLOAD, SECRET, timestamp=NOW)

    expected = hmac.new(SECRET.encode(), f"{NOW}.".encode() + PAYLOAD, hashlib.sha256).hexdigest()
    assert header == f"t={NOW},v1={expected}"


def test_sign_uses_the_current_time_by_default() -> None:
    before = int(time.time())
    header = sign_webhook_payload(PAYLOAD, SECRET)

    timestamp = int(header.split(",")[0].removeprefix("t="))
    assert before <= timestamp <= time.time()
    assert verify_webhook(PAYLOAD, header, [SECRET], TOLERANCE) == EVENT  # real clock


def test_a_good_signature_verifies() -> None:
    assert verify(PAYLOAD, sign_webhook_payload(PAYLOAD, SECRET, timestamp=NOW)) == EVENT


def test_the_official_library_accepts_our_signature() -> None:
    header = sign_webhook_payload(PAYLOAD, SECRET)  # construct_event checks against the real clock

    event = stripe.Webhook.construct_event(PAYLOAD, header, SECRET, tolerance=TOLERANCE)

    assert event["id"] == "evt_test_1"
    assert event["type"] == "checkout.session.completed"
    assert event["data"]["object"]["payment_status"] == "paid"
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(PAYLOAD, header, "whsec_other", tolerance=TOLERANCE)


def test_a_signature_at_the_edge_of_the_tolerance_verifies() -> None:
    header = sign_webhook_payload(PAYLOAD, SECRET, timestamp=NOW)

    assert verify(PAYLOAD, header, now=NOW + TOLERANCE) == EVENT
    assert verify(PAYLOAD, header, now=NOW - TOLERANCE) == EVENT


def test_wrong_secret() -> None:
    header = sign_webhook_payload(PAYLOAD, "whsec_someone_else", timestamp=NOW)

    assert refused(PAYLOAD, header).code == "bad_signature"


@pytest.mark.parametrize("header", [None, ""])
def test_missing_header(header: str | None) -> None:
    assert refused(PAYLOAD, header).code == "missing_signature"


@pytest.mark.parametrize(
    "tamper",
    [
        lambda body: body.replace(b'"paid"', b'"unpaid"'),
        lambda body: body + b" ",
        lambda body: body.replace(b"cs_test_1", b"cs_test_2"),
    ],
    ids=["changed-value", "trailing-space", "other-session"],
)
def test_tampered_body(tamper) -> None:  # type: ignore[no-untyped-def]
    header = sign_webhook_payload(PAYLOAD, SECRET, timestamp=NOW)

    assert refused(tamper(PAYLOAD), header).code == "bad_signature"


def test_a_signature_moved_to_another_timestamp() -> None:
    good = sign_webhook_payload(PAYLOAD, SECRET, timestamp=NOW)
    moved = good.replace(f"t={NOW}", f"t={NOW + 1}")

    assert refused(PAYLOAD, moved).code == "bad_signature"


@pytest.mark.parametrize(
    "header",
    ["garbage", "t=abc,v1=00", f"t={NOW}", f"t={NOW},v0=00", f"v1=00,t={NOW}x", "t=,v1=00"],
)
def test_malformed_header(header: str) -> None:
    assert refused(PAYLOAD, header).code == "bad_signature"


def test_old_timestamp() -> None:
    header = sign_webhook_payload(PAYLOAD, SECRET, timestamp=NOW - TOLERANCE - 1)

    assert refused(PAYLOAD, header).code == "timestamp_out_of_tolerance"


def test_future_timestamp() -> None:
    header = sign_webhook_payload(PAYLOAD, SECRET, timestamp=NOW + TOLERANCE + 1)

    assert refused(PAYLOAD, header).code == "timestamp_out_of_tolerance"


def test_the_library_alone_would_accept_a_future_timestamp() -> None:
    """Why verify_webhook checks the future itself: the library only refuses old ones."""
    future = int(time.time()) + 3600
    header = sign_webhook_payload(PAYLOAD, SECRET, timestamp=future)

    assert stripe.WebhookSignature.verify_header(PAYLOAD.decode(), header, SECRET, tolerance=TOLERANCE)
    with pytest.raises(BadRequest) as caught:
        verify_webhook(PAYLOAD, header, [SECRET], TOLERANCE)
    assert caught.value.code == "timestamp_out_of_tolerance"


@pytest.mark.parametrize(
    "payload",
    [b"{not json", b"", b'{"id": "evt_1",', b"\xff\xfe{}"],
    ids=["broken", "empty", "cut", "bytes"],
)
def test_malformed_json(payload: bytes) -> None:
    header = sign_webhook_payload(payload, SECRET, timestamp=NOW)

    error = refused(payload, header)
    # Bytes that are not UTF-8 cannot match a signature the library computes over text.
    assert error.code == ("bad_signature" if payload.startswith(b"\xff") else "malformed_payload")


@pytest.mark.parametrize("payload", [b"[1, 2]", b'"evt"', b"42", b"null", b"true"])
def test_json_that_is_not_an_object(payload: bytes) -> None:
    header = sign_webhook_payload(payload, SECRET, timestamp=NOW)

    assert refused(payload, header).code == "malformed_payload"


def test_an_unsigned_payload_is_refused_before_it_is_parsed() -> None:
    header = sign_webhook_payload(b"{}", SECRET, timestamp=NOW)

    assert refused(b"[not even json", header).code == "bad_signature"


@pytest.mark.parametrize("signed_with", [OLD_SECRET, SECRET])
def test_rotation_accepts_either_secret(signed_with: str) -> None:
    header = sign_webhook_payload(PAYLOAD, signed_with, timestamp=NOW)

    assert verify(PAYLOAD, header, secrets=[OLD_SECRET, SECRET]) == EVENT


def test_rotation_still_refuses_a_third_secret() -> None:
    header = sign_webhook_payload(PAYLOAD, "whsec_retired_long_ago", timestamp=NOW)

    assert refused(PAYLOAD, header, secrets=[OLD_SECRET, SECRET]).code == "bad_signature"


def test_a_header_with_several_signatures_verifies_if_one_matches() -> None:
    """During a secret roll on Stripe's side, a header carries one v1 per secret."""
    ours = sign_webhook_payload(PAYLOAD, SECRET, timestamp=NOW).split(",")[1]
    header = f"t={NOW},v1={'0' * 64},{ours}"

    assert verify(PAYLOAD, header) == EVENT


def test_no_secret_configured_refuses_everything() -> None:
    header = sign_webhook_payload(PAYLOAD, SECRET, timestamp=NOW)

    with pytest.raises(BadRequest) as caught:
        verify_webhook(PAYLOAD, header, [], TOLERANCE, now=NOW)
    assert caught.value.code == "bad_signature"


def test_json_nested_deeper_than_the_parser_goes_is_malformed() -> None:
    from shared.core.errors import BadRequest

    payload = b"[" * 100_000
    with pytest.raises(BadRequest) as caught:
        verify_webhook(payload, sign_webhook_payload(payload, SECRET), [SECRET], 300)
    assert caught.value.code == "malformed_payload"
