"""Resend: the same answer whether or not the order exists, and a rate limit per order."""

from __future__ import annotations

from fastapi.testclient import TestClient

from shared import db
from tests.functions.conftest import rows


def test_resend_answers_identically_and_respects_its_rate(
    shop: TestClient,
    conn: db.Connection,
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
    assert rows(conn, "select count(*) as n from email_queue where template = 'download_links_resent'") == [{"n": 1}]
    for _ in range(5):
        assert (
            shop.post("/api/email/resend", json={"email": "ada@example.com", "order_number": number}).status_code == 202
        )
    assert rows(conn, "select count(*) as n from email_queue where template = 'download_links_resent'") == [{"n": 3}]


def test_malformed_resend_requests_get_the_json_error(shop: TestClient, database: db.Database) -> None:
    response = shop.post("/api/email/resend", json={"email": "x"})
    assert response.status_code == 422 and response.json()["error"]["code"] == "validation_failed"
