"""`restoreclick orders list|show|refund|resend`, on orders the journey made."""

from __future__ import annotations

import json
import threading
from typing import Any
from urllib.parse import urlsplit

from fastapi.testclient import TestClient

from shared.core import db
from shared.core.config import Settings, get_settings
from shared.deps import get_payments
from shared.jobs.queue import deadline_in
from shared.jobs.workers import run_worker
from shared.orders.operator import refund_order
from shared.payments.local_provider import LocalPayments
from tests.fixtures.db import rows
from tests.fixtures.operating import CUSTOMER, invoke, walk_the_shop
from tests.fixtures.stripe_webhook import charge_event, send


def test_orders_list_filters_by_status_and_age_and_show_tells_the_whole_story(
    shop: TestClient, database: db.Database, conn: db.Connection, settings: Settings
) -> None:
    walked_shop = walk_the_shop(shop, database)
    mine, theirs = walked_shop["mine"]["order"], walked_shop["theirs"]["order"]
    conn.execute("update orders set created_at = now() - interval '10 days' where id = %s", [theirs["id"]])
    listed = invoke(["orders", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    assert [o["order_number"] for o in json.loads(listed.stdout)] == [mine["order_number"], theirs["order_number"]]
    recent = json.loads(invoke(["orders", "list", "--since", "3", "--json"]).stdout)
    assert [o["order_number"] for o in recent] == [mine["order_number"]]
    assert json.loads(invoke(["orders", "list", "--status", "refunded", "--json"]).stdout) == []
    assert invoke(["orders", "list", "--status", "lost"]).exit_code == 2
    table = invoke(["orders", "list"])
    assert table.exit_code == 0 and "orders (dev)" in table.output

    shown = invoke(["orders", "show", mine["order_number"], "--json"])
    assert shown.exit_code == 0, shown.output
    view = json.loads(shown.stdout)
    assert view["order"]["email"] == CUSTOMER and view["payment"]["status"] == "completed"
    assert sorted(p["type"] for p in view["photos"]) == ["original", "original", "restored", "restored"]
    assert {j["queue"] for j in view["jobs"]} == {"restoration", "order_work"}
    assert [e["template"] for e in view["emails"]] == ["order_confirmation", "restoration_complete"]
    assert len(view["links"]) == 1 and "token_hash" not in view["links"][0]
    assert [a["action"] for a in view["audit"]][:2] == ["order.created", "order.status_changed"]
    text = invoke(["orders", "show", mine["order_number"]])
    assert text.exit_code == 0 and f"order {mine['order_number']}" in text.output and CUSTOMER in text.output
    assert invoke(["orders", "show", "20990101-000001"]).exit_code == 1


def test_an_operator_refund_takes_the_webhooks_refund_path_once_and_stops_the_order(
    database: db.Database, shop: TestClient, conn: db.Connection, settings: Settings
) -> None:
    walked_shop = walk_the_shop(shop, database)
    mine = walked_shop["mine"]
    number = mine["order"]["order_number"]
    # Two operators at once (each its own connection, as two shells would have): one refund
    # at the provider, one email, one audit row.
    outcomes: list[Any] = []
    start = threading.Barrier(2)

    def refund() -> None:
        own = db.Database(settings.require("database_url"))
        try:
            start.wait()
            outcomes.append(refund_order(own, get_payments(), number, actor="operator:test").status)
        finally:
            own.close_all()

    threads = [threading.Thread(target=refund) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) in (["refunded", "refunded"], ["already_refunded", "refunded"]), outcomes
    provider = get_payments()
    assert isinstance(provider, LocalPayments)
    [made] = provider.refunds()
    assert made["amount"] == mine["order"]["total_amount"]
    assert made["payment_intent"] == mine["order"]["stripe_payment_intent_id"]
    [order] = rows(conn, "select status, payment_status from orders where id = %s", mine["order"]["id"])
    assert order == {"status": "refunded", "payment_status": "refunded"}
    [checkout] = rows(conn, "select status, refund_reason, stripe_refund_id from checkouts where "
                      "stripe_checkout_session_id = %s", mine["order"]["stripe_checkout_session_id"])  # fmt: skip
    assert checkout == {"status": "refunded", "refund_reason": "operator_refund", "stripe_refund_id": made["id"]}
    assert rows(conn, "select count(*) as n from email_queue where template = 'payment_refunded'") == [{"n": 1}]
    assert rows(conn, "select count(*) as n from audit_logs where action = 'checkout.refunded'") == [{"n": 1}]
    # The order stops as a refund event stops it: its link no longer downloads.
    assert shop.get(f"/api/download/{mine['token']}").status_code == 410
    # An operator's refund is not an error.
    assert rows(conn, "select count(*) as n from error_log where category = 'payment'") == [{"n": 0}]
    again = invoke(["orders", "refund", number, "--yes"])
    assert again.exit_code == 0 and "already refunded" in again.output
    assert len(provider.refunds()) == 1
    # The other customer's order is untouched.
    [theirs] = rows(conn, "select status from orders where id = %s", walked_shop["theirs"]["order"]["id"])
    assert theirs == {"status": "completed"}


def test_the_refund_command_asks_first_refunds_and_an_unknown_order_is_one_line(
    shop: TestClient, database: db.Database, conn: db.Connection
) -> None:
    walked_shop = walk_the_shop(shop, database)
    number = walked_shop["mine"]["order"]["order_number"]
    assert invoke(["orders", "refund", number], input="n\n").exit_code == 1
    assert not get_payments().refunds()  # type: ignore[attr-defined]
    done = invoke(["orders", "refund", number, "--yes"])
    assert done.exit_code == 0 and f"{number} refunded" in done.output, done.output
    assert rows(conn, "select payment_status from orders where order_number = %s", number) == [
        {"payment_status": "refunded"}
    ]
    # The refund email is queued for the checkout, not the order; show lists it all the same.
    shown = invoke(["orders", "show", number, "--json"])
    assert shown.exit_code == 0, shown.output
    emails = {e["template"]: e for e in json.loads(shown.stdout)["emails"]}
    [refund_mail] = rows(conn, "select id, to_email from email_queue where template = 'payment_refunded'")
    assert emails["payment_refunded"]["id"] == str(refund_mail["id"])
    assert emails["payment_refunded"]["to_email"] == refund_mail["to_email"]
    missing = invoke(["orders", "refund", "20990101-000001", "--yes"])
    assert missing.exit_code == 1 and "no order 20990101-000001" in missing.output


def test_resend_emails_a_fresh_link_through_the_email_workers_code(
    database: db.Database, shop: TestClient, conn: db.Connection, settings: Settings
) -> None:
    walked_shop = walk_the_shop(shop, database)
    mine = walked_shop["mine"]
    number = mine["order"]["order_number"]
    sent = invoke(["orders", "resend", number])
    assert sent.exit_code == 0, sent.output
    run_worker("email", get_settings(), deadline_in(60))
    outbox = shop.get("/dev/outbox?format=json").json()["messages"]
    resent = [m for m in outbox if m["subject"] == f"Your download link ({number})"]
    assert resent and resent[-1]["to"] == CUSTOMER
    token = urlsplit(resent[-1]["download_links"][0]).path.rsplit("/", 1)[-1]
    assert token != mine["token"] and shop.get(f"/api/download/{token}").status_code == 200
    # The per-order limit of the customer's own resends holds for the operator too.
    outcomes = [invoke(["orders", "resend", number]).exit_code for _ in range(4)]
    assert outcomes.count(1) >= 1
    assert rows(conn, "select count(*) as n from email_queue where template = 'download_links_resent' "
                "and order_id = %s", mine["order"]["id"])[0]["n"] == 3  # fmt: skip


def test_an_order_refunded_at_the_provider_is_not_refunded_again(
    shop: TestClient, database: db.Database, conn: db.Connection
) -> None:
    # A refund made in Stripe's dashboard arrives as charge.refunded and stops the order; the
    # operator's refund afterwards must not ask the provider for the money a second time.
    number = walk_the_shop(shop, database)["mine"]["order"]["order_number"]
    [order] = rows(conn, "select stripe_payment_intent_id, total_amount from orders where order_number = %s", number)
    assert (
        send(
            shop, charge_event("charge.refunded", order["stripe_payment_intent_id"], order["total_amount"])
        ).status_code
        == 200
    )
    emails_before = rows(conn, "select count(*) as n from email_queue")[0]["n"]
    outcome = refund_order(database, get_payments(), number, actor="operator:test")
    assert outcome.status == "already_refunded"
    provider = get_payments()
    assert isinstance(provider, LocalPayments)
    assert provider.refunds() == []
    assert rows(conn, "select count(*) as n from email_queue")[0]["n"] == emails_before
