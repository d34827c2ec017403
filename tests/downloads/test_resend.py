"""Resend: the same answer, after the same work, whether or not the order exists; and a
rate limit per order."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from shared.core import db
from shared.downloads.resend import match_resend_requests
from tests.fixtures.db import rows


def test_resend_answers_identically_and_respects_its_rate(
    shop: TestClient,
    conn: db.Connection,
    database: db.Database,
    finished_order: dict,  # type: ignore[type-arg]
) -> None:
    number = finished_order["order"]["order_number"]
    answers = [
        shop.post("/api/email/resend", json={"email": "ADA@example.com", "order_number": number}),
        shop.post("/api/email/resend", json={"email": "eve@example.com", "order_number": number}),
        shop.post("/api/email/resend", json={"email": "ada@example.com", "order_number": "20200101-000001"}),
    ]
    assert {r.status_code for r in answers} == {202}
    assert len({r.text for r in answers}) == 1
    assert match_resend_requests(database) == 1
    assert rows(conn, "select count(*) as n from email_queue where template = 'download_links_resent'") == [{"n": 1}]
    [resend] = rows(conn, "select payload from email_queue where template = 'download_links_resent'")
    # The new link gets its uses for each of the order's ZIPs, as the first link did.
    assert resend["payload"] == {"order_number": number, "zip_parts": 1}
    for _ in range(5):
        assert (
            shop.post("/api/email/resend", json={"email": "ada@example.com", "order_number": number}).status_code == 202
        )
        match_resend_requests(database)
    assert rows(conn, "select count(*) as n from email_queue where template = 'download_links_resent'") == [{"n": 3}]
    # Matched or not, no request is kept once the worker has seen it.
    assert rows(conn, "select count(*) as n from resend_requests") == [{"n": 0}]


def test_a_matching_and_a_made_up_request_do_the_same_work(
    shop: TestClient,
    database: db.Database,
    finished_order: dict,  # type: ignore[type-arg]
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Timing must not tell whether an email and an order number belong together: both
    requests run exactly the same statements."""
    run: list[str] = []
    named = db._query

    def recording(name: str) -> str:
        run.append(name)
        return named(name)

    # Every named statement goes through here: a lookup of the order would show.
    monkeypatch.setattr(db, "_query", recording)
    number = finished_order["order"]["order_number"]

    real = shop.post("/api/email/resend", json={"email": "ada@example.com", "order_number": number})
    statements_for_real = list(run)
    run.clear()
    made_up = shop.post("/api/email/resend", json={"email": "eve@example.com", "order_number": "20200101-000009"})

    assert (real.status_code, made_up.status_code) == (202, 202) and real.text == made_up.text
    # The throttle's two counts (keyed on the email and client addresses, never the order), then the insert.
    assert statements_for_real == run == ["count_throttled_request", "count_throttled_request", "record_resend_request"]


def test_resends_are_throttled_per_email_and_per_client_address_and_still_answer_202(
    shop: TestClient, conn: db.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shared.core.config import get_settings

    monkeypatch.setenv("RESEND_THROTTLE_PER_EMAIL", "2")
    monkeypatch.setenv("RESEND_THROTTLE_PER_ADDRESS", "4")
    get_settings.cache_clear()
    answers = [shop.post("/api/email/resend", json={"email": "Ada@example.com", "order_number": "1"}) for _ in range(3)]
    answers += [
        shop.post("/api/email/resend", json={"email": f"p{n}@example.com", "order_number": "1"}) for n in range(3)
    ]

    assert {a.status_code for a in answers} == {202} and len({a.text for a in answers}) == 1
    recorded = [r["email"] for r in rows(conn, "select email from resend_requests order by id")]
    # Two for Ada (her third was over her limit, and still counted for the address), then
    # one more before the address's limit of four.
    assert recorded == ["Ada@example.com", "Ada@example.com", "p0@example.com"]


def test_malformed_resend_requests_get_the_json_error(shop: TestClient, conn: db.Connection) -> None:
    response = shop.post("/api/email/resend", json={"email": "x"})
    assert response.status_code == 422 and response.json()["error"]["code"] == "validation_failed"
    for field, value in (("email", "ada\u0000@example.com"), ("order_number", "20261201-000001\u0000")):
        body = {"email": "ada@example.com", "order_number": "20261201-000001", field: value}
        refused = shop.post("/api/email/resend", json=body)
        assert refused.status_code == 422, refused.text
        error = refused.json()["error"]
        assert error["code"] == "validation_failed" and error["message"].startswith(f"{field}: ")
        assert error["message"] == f"{field}: has an invisible control character in it; type it again"
    assert rows(conn, "select count(*) as n from resend_requests") == [{"n": 0}]
