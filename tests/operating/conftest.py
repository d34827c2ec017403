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
from tests import images
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


# Filenames only this customer gave, so a test can look for them anywhere.
MY_FILENAMES = ("Grandma Hopper at the lake.jpg", "Hopper wedding 1931.jpg")


def upload_named(shop: TestClient, names: tuple[str, ...], seed: int = 0) -> dict[str, Any]:
    files = [("files", (name, images.jpeg(seed=seed + n), "image/jpeg")) for n, name in enumerate(names)]
    response = shop.post("/api/uploads", files=files)
    assert response.status_code == 201, response.text
    return response.json()


def finish_an_order(
    shop: TestClient,
    database: db.Database,
    email: str = CUSTOMER,
    names: tuple[str, ...] = MY_FILENAMES,
    seed: int = 100,
) -> dict[str, Any]:
    """Upload, pay, restore and email: a finished order, its checkout and the emailed token."""
    session = upload_named(shop, names, seed)
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
    second = upload_named(shop, ("Hopper family, unsent.jpg",), seed=110)
    cancelled = start_checkout(shop, second["upload_session_id"], email=CUSTOMER.lower())
    assert shop.post(f"/api/checkout/{cancelled['checkout_session_id']}/cancel").status_code == 200
    theirs = finish_an_order(shop, database, email="someone.else@example.org", names=("beach.jpg",), seed=20)
    upload_photos(shop, 1)
    shop.post("/api/email/resend", json={"email": CUSTOMER, "order_number": mine["order"]["order_number"]})
    return {"mine": mine, "theirs": theirs, "cancelled": cancelled}
