"""Retention and erasure: photos and addresses are kept no longer than needed."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from shared.core import db
from shared.core.config import Settings, get_settings
from shared.deps import get_storage
from shared.jobs.cleanup import run_cleanup
from shared.jobs.queue import deadline_in
from tests.fixtures import factories
from tests.fixtures.db import migrate_up_to, rows, stored_files
from tests.fixtures.operating import CUSTOMER, MY_FILENAMES, finish_an_order, invoke, upload_named, walk_the_shop
from tests.fixtures.shopping import press_pay, start_checkout

ACCOUNTING = (
    "order_number", "total_amount", "currency", "image_count", "created_at", "paid_at", "completed_at",
    "stripe_checkout_session_id", "stripe_payment_intent_id", "status", "payment_status",
)  # fmt: skip


def every_row_as_text(conn: db.Connection) -> str:
    """Every row of every table of the shop, as JSON text, lower-cased."""
    tables = [r["tablename"] for r in rows(conn, "select tablename from pg_tables where schemaname = 'public'")]
    dumped = {t: rows(conn, f"select coalesce(json_agg(t), '[]') as j from public.\"{t}\" t")[0]["j"] for t in tables}
    return json.dumps(dumped, default=str).lower()


def objects_of(settings: Settings, order_id: object) -> list[str]:
    return [p for p in stored_files(settings) if str(order_id) in p]


# -- retention ----------------------------------------------------------------------------


def test_photos_go_photo_retention_days_after_the_order_finished_and_the_order_row_stays(
    shop: TestClient, database: db.Database, conn: db.Connection, settings: Settings
) -> None:
    old = finish_an_order(shop, database)
    recent = finish_an_order(shop, database, email="someone.else@example.org", names=("beach.jpg",), seed=20)
    assert "We keep your photos for 90 days" in old["mail"]["text"]
    old_id, recent_id = old["order"]["id"], recent["order"]["id"]
    assert objects_of(settings, old_id) and objects_of(settings, recent_id)
    conn.execute("update orders set completed_at = now() - interval '91 days' where id = %s", [old_id])
    conn.execute("update orders set completed_at = now() - interval '89 days' where id = %s", [recent_id])

    dry = run_cleanup(database, get_storage(), settings, time_left=deadline_in(60), dry_run=True)
    assert dry.counts["expired_order_photos"] == 1 and objects_of(settings, old_id)
    report = run_cleanup(database, get_storage(), settings, time_left=deadline_in(60))
    assert report.counts["expired_order_photos"] == 1
    assert objects_of(settings, old_id) == []  # originals, restored photos, previews and the ZIP
    # one original, one restored, their two previews, one ZIP
    assert len(objects_of(settings, recent_id)) == 5
    [order] = rows(conn, "select * from orders where id = %s", old_id)
    assert order["photos_deleted_at"] is not None and order["deleted_at"] is None
    assert {k: order[k] for k in ACCOUNTING} == {k: old["order"][k] for k in ACCOUNTING if k != "completed_at"} | {
        "completed_at": order["completed_at"]
    }
    assert rows(conn, "select count(*) filter (where deleted_at is null) as kept, count(*) as n from images "
                "where order_id = %s", old_id) == [{"kept": 0, "n": 4}]  # fmt: skip
    gone = shop.get(f"/api/download/{old['token']}")
    said = gone.json()["error"]["message"]
    # What happened and when, as the email said; no new link offered, since none could work.
    assert (
        gone.status_code == 410
        and "retention" in said
        and f"on {order['photos_deleted_at'].day} {order['photos_deleted_at']:%B %Y}," in said
    )
    assert "new link" not in said
    # Downloading says the same, whatever photo the form names.
    for form in ({}, {"image_id": "not-a-photo"}, {"image_id": str(old["order"]["id"])}):
        tried = shop.post(f"/api/download/{old['token']}", data=form)
        assert tried.status_code == 410 and tried.json()["error"]["message"] == said, form
    assert shop.get(f"/api/download/{recent['token']}").status_code == 200
    # The success page no longer offers what is gone: no previews, no download, a sentence why.
    status = shop.get(f"/api/restoration/status/{old['checkout']['checkout_session_id']}").json()
    assert status["photos_deleted"] is True and status["download"] is None
    assert all(p["preview"] == {"before": None, "after": None} for p in status["photos"])
    kept = shop.get(f"/api/restoration/status/{recent['checkout']['checkout_session_id']}").json()
    assert "photos_deleted" not in kept and kept["download"]["ready"] is True

    again = run_cleanup(database, get_storage(), settings, time_left=deadline_in(60))
    assert again.counts["expired_order_photos"] == 0


def test_an_order_refunded_before_its_photos_were_restored_loses_them_after_retention_too(
    shop: TestClient, database: db.Database, conn: db.Connection, settings: Settings
) -> None:
    session = upload_named(shop, MY_FILENAMES)
    checkout = start_checkout(shop, session["upload_session_id"], email=CUSTOMER)
    assert press_pay(shop, checkout["checkout_url"]).status_code == 303  # paid; no worker has run
    [order] = rows(conn, "select id, order_number from orders")
    refunded = invoke(["orders", "refund", order["order_number"], "--yes"])
    assert refunded.exit_code == 0, refunded.output
    # The refund ended the order, and retention counts from there.
    [stopped] = rows(conn, "select status, completed_at, photos_deleted_at from orders where id = %s", order["id"])
    assert stopped["status"] == "refunded" and stopped["completed_at"] is not None
    # Its originals, never restored (nor moved into the order's folder, as no worker ran).
    named = {r["storage_path"] for r in rows(conn, "select storage_path from images where order_id = %s"
                                             " union select storage_path from file_uploads where order_id = %s",
                                             order["id"], order["id"])}  # fmt: skip
    kept = {path for path in stored_files(settings) if any(path.endswith(n) for n in named)}
    assert named and len(kept) >= len(MY_FILENAMES), (named, kept)
    conn.execute("update orders set completed_at = now() - interval '91 days' where id = %s", [order["id"]])

    report = run_cleanup(database, get_storage(), settings, time_left=deadline_in(60))

    assert report.counts["expired_order_photos"] == 1
    assert kept.isdisjoint(stored_files(settings))
    assert rows(conn, "select photos_deleted_at is not null as deleted from orders where id = %s", order["id"]) == [
        {"deleted": True}
    ]


def test_orders_stopped_before_migration_039_are_finished_at_their_last_update(
    empty_database_url: str, tmp_path: Path
) -> None:
    migrate_up_to(empty_database_url, tmp_path, up_to=38)
    with db.connect(empty_database_url) as conn:
        stopped = {
            status: factories.order(conn, status=status)["id"] for status in ("refunded", "disputed", "processing")
        }
        conn.execute("update orders set payment_status = status where status in ('refunded', 'disputed')")
        # Stopped ten days ago: their updated_at says so (set past the trigger that stamps now).
        conn.execute("alter table orders disable trigger orders_set_updated_at")
        conn.execute("update orders set updated_at = now() - interval '10 days'")
        conn.execute("alter table orders enable trigger orders_set_updated_at")
        before = {r["id"]: r["updated_at"] for r in rows(conn, "select id, updated_at from orders")}

    migrate_up_to(empty_database_url, tmp_path, up_to=None)

    with db.connect(empty_database_url) as conn:
        after = {r["id"]: r for r in rows(conn, "select id, completed_at, updated_at from orders")}
    for status in ("refunded", "disputed"):
        order = after[stopped[status]]
        assert order["completed_at"] == order["updated_at"] == before[stopped[status]], status
    still_working = after[stopped["processing"]]
    assert still_working["completed_at"] is None and still_working["updated_at"] == before[stopped["processing"]]


def test_the_retention_is_a_setting_and_the_email_says_it(
    shop: TestClient, database: db.Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PHOTO_RETENTION_DAYS", "30")
    get_settings.cache_clear()
    finished = finish_an_order(shop, database)
    assert "We keep your photos for 30 days" in finished["mail"]["text"]


# -- erasure ------------------------------------------------------------------------------


def test_an_erased_customer_is_nowhere_in_the_rows_or_storage_and_accounting_stays(
    database: db.Database, shop: TestClient, conn: db.Connection, settings: Settings
) -> None:
    walked_shop = walk_the_shop(shop, database)
    mine, theirs = walked_shop["mine"], walked_shop["theirs"]
    before = every_row_as_text(conn)
    assert CUSTOMER.lower() in before and MY_FILENAMES[0].lower() in before  # the test can see them
    my_hashes = {
        r["sha256"] for r in rows(conn, "select i.sha256 from images i where i.order_id = %s", mine["order"]["id"])
    }
    my_hashes |= {r["sha256"] for r in rows(conn, "select sha256 from file_uploads where filename like 'Hopper%%'")}
    [customer] = rows(conn, "select id from customers where lower(email) = lower(%s)", CUSTOMER)
    their_objects = objects_of(settings, theirs["order"]["id"])

    erased = invoke(["customers", "erase", CUSTOMER, "--yes"])
    assert erased.exit_code == 0, erased.output

    after = every_row_as_text(conn)
    for secret in (CUSTOMER.lower(), "grace", *[n.lower() for n in (*MY_FILENAMES, "Hopper family, unsent.jpg")]):
        assert secret not in after, secret
    # No object left is one of their photos: not at their paths, not anywhere by content.
    assert objects_of(settings, mine["order"]["id"]) == []
    root = settings.storage_dir / settings.storage_bucket
    left = {hashlib.sha256((root / p).read_bytes()).hexdigest(): p for p in stored_files(settings)}
    assert not my_hashes & set(left), "a photo of the erased customer is still stored"
    assert sorted(objects_of(settings, theirs["order"]["id"])) == sorted(their_objects)
    # Accounting keeps what it needs.
    [order] = rows(conn, "select * from orders where id = %s", mine["order"]["id"])
    assert {k: order[k] for k in ACCOUNTING} == {k: mine["order"][k] for k in ACCOUNTING}
    [checkout] = rows(conn, "select * from checkouts where stripe_checkout_session_id = %s",
                      mine["order"]["stripe_checkout_session_id"])  # fmt: skip
    assert checkout["amount_total"] == mine["order"]["total_amount"] and checkout["currency"] == "usd"
    assert rows(conn, "select count(*) as n from download_links where order_id = %s", mine["order"]["id"]) == [{"n": 0}]
    # The link is gone with the person: its page says only what a link never issued says,
    # for a person and for a script alike, so nothing about them is kept or told.
    junk = "rc_dl_" + "B" * 43
    for accept in ("application/json", "text/html,*/*"):
        erased = shop.get(f"/api/download/{mine['token']}", headers={"accept": accept})
        never = shop.get(f"/api/download/{junk}", headers={"accept": accept})
        assert erased.status_code == never.status_code == 404
        assert erased.content == never.content and b"not valid" in erased.content
        assert erased.headers["content-type"] == never.headers["content-type"]
    assert shop.post(f"/api/download/{mine['token']}").json() == shop.post(f"/api/download/{junk}").json()
    # The audit log says who was erased, by id.
    [audit] = rows(conn, "select * from audit_logs where action = 'customer.erased'")
    assert audit["entity_type"] == "customer" and audit["entity_id"] == customer["id"]
    assert audit["actor"].startswith("operator") and audit["new_values"]["orders"] == 1
    # The other customer is untouched, their link still works.
    assert "someone.else@example.org" in after
    assert shop.get(f"/api/download/{theirs['token']}").status_code == 200
    # Erasing again finds nobody by that address.
    again = invoke(["customers", "erase", CUSTOMER, "--yes"])
    assert again.exit_code == 0 and "nothing" in again.output


def test_refunding_an_erased_customers_order_emails_nobody(
    shop: TestClient, database: db.Database, conn: db.Connection
) -> None:
    walked = walk_the_shop(shop, database)
    assert invoke(["customers", "erase", CUSTOMER, "--yes"]).exit_code == 0
    number = walked["mine"]["order"]["order_number"]
    refunded = invoke(["orders", "refund", number, "--yes"])
    assert refunded.exit_code == 0 and f"{number} refunded" in refunded.output, refunded.output
    assert rows(conn, "select payment_status from orders where order_number = %s", number) == [
        {"payment_status": "refunded"}
    ]
    # The money goes back; no email goes to the address erasure left in place of theirs.
    assert rows(conn, "select count(*) as n from email_queue where template = 'payment_refunded'") == [{"n": 0}]
    assert rows(conn, "select count(*) as n from email_queue where to_email like '%%@erased.invalid'"
                " and status in ('pending', 'sending')") == [{"n": 0}]  # fmt: skip


def test_erasure_asks_first_and_changes_nothing_when_told_no(conn: db.Connection, settings: Settings) -> None:
    before, objects = every_row_as_text(conn), stored_files(settings)
    answer = invoke(["customers", "erase", CUSTOMER], input="n\n")
    assert answer.exit_code == 1 and "Erase" in answer.output
    assert every_row_as_text(conn) == before and stored_files(settings) == objects


def test_erasure_waits_for_an_order_still_being_restored(
    shop: TestClient, conn: db.Connection, settings: Settings
) -> None:
    session = upload_named(shop, MY_FILENAMES)
    checkout = start_checkout(shop, session["upload_session_id"], email=CUSTOMER)
    assert press_pay(shop, checkout["checkout_url"]).status_code == 303  # paid; no worker has run
    objects = stored_files(settings)
    [order] = rows(conn, "select order_number from orders")
    refused = invoke(["customers", "erase", CUSTOMER, "--yes"])
    assert refused.exit_code == 1 and order["order_number"] in refused.output
    assert stored_files(settings) == objects
    assert rows(conn, "select count(*) as n from customers where lower(email) = lower(%s)", CUSTOMER) == [{"n": 1}]
