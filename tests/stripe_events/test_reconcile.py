"""Reconciliation fulfils a paid checkout whose webhook never came."""

from __future__ import annotations

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from infra.commands.main import app
from shared.core import db
from shared.deps import get_payments
from shared.payments.local_provider import LocalPayments
from tests.fixtures.db import rows
from tests.fixtures.shopping import start_checkout, upload_photos


def test_reconcile_fulfils_a_session_whose_webhook_never_came(shop: TestClient, conn: db.Connection) -> None:
    lost = start_checkout(shop, upload_photos(shop, 2)["upload_session_id"])
    delivered = start_checkout(shop, upload_photos(shop, 1)["upload_session_id"])
    unpaid = start_checkout(shop, upload_photos(shop, 1)["upload_session_id"])
    provider = get_payments()
    assert isinstance(provider, LocalPayments)
    provider.pay(lost["checkout_session_id"])  # paid, but the webhook is lost
    shop.post(f"/dev/checkout/{delivered['checkout_session_id']}/pay", follow_redirects=False)
    assert rows(conn, "select count(*) as n from orders") == [{"n": 1}]

    outcome = CliRunner().invoke(app, ["reconcile"])
    assert outcome.exit_code == 0, outcome.output
    assert "2 completed checkout(s) seen, 1 fulfilled now" in outcome.output
    orders = rows(conn, "select stripe_checkout_session_id, image_count from orders order by order_number")
    assert {o["stripe_checkout_session_id"] for o in orders} == {
        lost["checkout_session_id"],
        delivered["checkout_session_id"],
    }
    assert rows(conn, "select count(*) as n from restoration_jobs") == [{"n": 3}]
    assert unpaid["checkout_session_id"] not in {o["stripe_checkout_session_id"] for o in orders}

    again = CliRunner().invoke(app, ["reconcile"])
    assert "0 fulfilled now" in again.output
    assert rows(conn, "select count(*) as n from orders") == [{"n": 2}]
