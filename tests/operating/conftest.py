"""Fixtures for the operator's commands: a shop that has been used, and the command line."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from click.testing import Result
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from infra.commands.main import app
from shared.core import db
from shared.core.config import get_settings
from shared.jobs.queue import deadline_in
from shared.jobs.workers import run_worker
from tests.functions.shopping import press_pay, start_checkout, upload_photos

CUSTOMER = "Grace.Hopper@Example.com"

Invoke = Callable[..., Result]


@pytest.fixture
def invoke() -> Iterator[Invoke]:
    """Run `restoreclick ARGS` in this process, with settings read afresh (and `env` on top)."""

    def run(args: list[str], env: dict[str, str] | None = None, input: str | None = None) -> Result:
        get_settings.cache_clear()
        try:
            return CliRunner().invoke(app, args, env=env, input=input)
        finally:
            get_settings.cache_clear()

    yield run
    get_settings.cache_clear()


def finish_an_order(shop: TestClient, database: db.Database, email: str = CUSTOMER, photos: int = 2) -> dict[str, Any]:
    """Upload, pay, restore and email: a finished order, its checkout and the emailed token."""
    session = upload_photos(shop, photos)
    checkout = start_checkout(shop, session["upload_session_id"], email=email)
    assert press_pay(shop, checkout["checkout_url"]).status_code == 303
    run_worker("restoration", get_settings(), deadline_in(120))
    run_worker("email", get_settings(), deadline_in(60))
    with database.transaction() as conn:
        order = conn.execute(
            "select o.* from orders o where o.stripe_checkout_session_id = %s", [checkout["checkout_session_id"]]
        ).fetchone()
    assert order is not None and order["status"] == "completed"
    mails = shop.get("/dev/outbox?format=json").json()["messages"]
    mail = next(m for m in mails if m["download_links"] and order["order_number"] in m["subject"])
    token = urlsplit(mail["download_links"][0]).path.rsplit("/", 1)[-1]
    return {"order": order, "checkout": checkout, "token": token, "mail": mail}


@pytest.fixture
def walked_shop(shop: TestClient, database: db.Database) -> dict[str, Any]:
    """The journey, walked: a finished order; a second cart checked out by the same person
    and cancelled from the payment page; another customer's finished order; and a cart
    nobody checked out."""
    mine = finish_an_order(shop, database)
    second = upload_photos(shop, 1)
    cancelled = start_checkout(shop, second["upload_session_id"], email=CUSTOMER.lower())
    assert shop.post(f"/api/checkout/{cancelled['checkout_session_id']}/cancel").status_code == 200
    theirs = finish_an_order(shop, database, email="someone.else@example.org", photos=1)
    upload_photos(shop, 1)
    shop.post("/api/email/resend", json={"email": CUSTOMER, "order_number": mine["order"]["order_number"]})
    return {"mine": mine, "theirs": theirs, "cancelled": cancelled}
