from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from shared.core import db
from shared.core.config import get_settings
from shared.jobs.queue import deadline_in
from shared.jobs.workers import run_worker
from tests.functions.shopping import press_pay, start_checkout, upload_photos


@pytest.fixture
def finished_order(shop: TestClient, database: db.Database) -> dict[str, Any]:
    """A paid, restored and emailed order: its checkout, and the token from the email."""
    session = upload_photos(shop, 2)
    checkout = start_checkout(shop, session["upload_session_id"])
    assert press_pay(shop, checkout["checkout_url"]).status_code == 303
    run_worker("restoration", get_settings(), deadline_in(120))
    run_worker("email", get_settings(), deadline_in(60))
    mail = next(m for m in shop.get("/dev/outbox?format=json").json()["messages"] if m["download_links"])
    token = urlsplit(mail["download_links"][0]).path.rsplit("/", 1)[-1]
    with database.transaction() as conn:
        order = conn.execute("select id, order_number from orders").fetchone()
    return {"checkout": checkout, "token": token, "order": order}
