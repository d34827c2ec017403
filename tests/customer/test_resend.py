"""Resend: the same answer, after the same work, whether or not the order exists; and a
rate limit per order."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from shared import db
from shared.resend import match_resend_requests
from tests.functions.conftest import rows


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
    original = db.execute

    def recording(conn: db.Connection, name: str, **params: Any) -> Any:
        run.append(name)
        return original(conn, name, **params)

    monkeypatch.setattr(db, "execute", recording)
    for name in ("all_rows", "maybe_one", "one"):
        monkeypatch.setattr(db, name, _refuse)  # any lookup on the answer path would show here
    number = finished_order["order"]["order_number"]

    real = shop.post("/api/email/resend", json={"email": "ada@example.com", "order_number": number})
    statements_for_real = list(run)
    run.clear()
    made_up = shop.post("/api/email/resend", json={"email": "eve@example.com", "order_number": "20200101-000009"})

    assert (real.status_code, made_up.status_code) == (202, 202) and real.text == made_up.text
    assert statements_for_real == run == ["record_resend_request"]


def _refuse(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError("the resend answer path looked something up")


def test_malformed_resend_requests_get_the_json_error(shop: TestClient, database: db.Database) -> None:
    response = shop.post("/api/email/resend", json={"email": "x"})
    assert response.status_code == 422 and response.json()["error"]["code"] == "validation_failed"
