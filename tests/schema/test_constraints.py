"""Integrity lives in the database: bad rows are refused whatever code writes them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from shared.core import db
from shared.core.db import ConstraintViolation, InvalidValue
from tests.fixtures.factories import file_upload, insert, order, upload_session


@pytest.mark.parametrize(
    "email",
    ["not-an-email", "two@@example.com", "spaces in@example.com", "nodot@example", "", "a@b.c" + "x" * 260],
)
def test_customers_refuse_a_bad_email(conn: db.Connection, email: str) -> None:
    with pytest.raises(InvalidValue) as caught, db.translated_errors():
        insert(conn, "customers", email=email)
    assert caught.value.constraint == "customers_email_format"


def test_customer_email_is_unique_case_insensitively(conn: db.Connection) -> None:
    insert(conn, "customers", email="Ada@Example.com")
    with pytest.raises(ConstraintViolation) as caught, db.translated_errors():
        insert(conn, "customers", email="ada@example.COM")
    assert caught.value.constraint == "customers_email_key"


def test_orders_refuse_a_negative_amount(conn: db.Connection) -> None:
    with pytest.raises(InvalidValue) as caught, db.translated_errors():
        order(conn, total_amount=-1)
    assert caught.value.constraint == "orders_total_amount_check"


@pytest.mark.parametrize(
    ("column", "value", "constraint"),
    [
        ("status", "shipped", "orders_status_check"),
        ("payment_status", "pending", "orders_payment_status_check"),
        ("currency", "USD", "orders_currency_check"),
        ("image_count", 0, "orders_image_count_check"),
        ("order_number", "2026-1", "orders_order_number_format"),
    ],
)
def test_orders_refuse_unknown_statuses_and_bad_values(
    conn: db.Connection, column: str, value: object, constraint: str
) -> None:
    with pytest.raises(InvalidValue) as caught, db.translated_errors():
        order(conn, **{column: value})
    assert caught.value.constraint == constraint


def test_a_stripe_checkout_session_can_have_only_one_order(conn: db.Connection) -> None:
    first = order(conn)
    with pytest.raises(ConstraintViolation) as caught, db.translated_errors():
        order(conn, stripe_checkout_session_id=first["stripe_checkout_session_id"])
    assert caught.value.constraint == "orders_stripe_checkout_session_id_key"


def test_a_payment_intent_can_have_only_one_order(conn: db.Connection) -> None:
    order(conn, stripe_payment_intent_id="pi_123")
    with pytest.raises(ConstraintViolation) as caught, db.translated_errors():
        order(conn, stripe_payment_intent_id="pi_123")
    assert caught.value.constraint == "orders_stripe_payment_intent_id_key"


@pytest.mark.parametrize(
    ("table", "status", "constraint"),
    [
        ("restoration_jobs", "queued", "restoration_jobs_status_check"),
        ("email_queue", "delivered", "email_queue_status_check"),
        ("file_uploads", "lost", "file_uploads_status_check"),
    ],
)
def test_queues_and_uploads_refuse_unknown_statuses(
    conn: db.Connection, table: str, status: str, constraint: str
) -> None:
    o = order(conn)
    session = upload_session(conn)
    upload = file_upload(conn, session["id"])
    image = insert(
        conn,
        "images",
        order_id=o["id"],
        type="original",
        file_upload_id=upload["id"],
        storage_path=f"uploads/originals/{o['id']}/x.jpg",
        filename="x.jpg",
        content_type="image/jpeg",
        size_bytes=10,
    )
    rows = {
        "restoration_jobs": {"order_id": o["id"], "image_id": image["id"]},
        "email_queue": {"to_email": "a@example.com", "template": "order_confirmation", "dedupe_key": "k"},
        "file_uploads": {},
    }
    with pytest.raises(InvalidValue) as caught, db.translated_errors():
        if table == "file_uploads":
            file_upload(conn, session["id"], status=status)
        else:
            insert(conn, table, status=status, **rows[table])
    assert caught.value.constraint == constraint


def test_file_upload_filenames_cannot_be_paths(conn: db.Connection) -> None:
    session = upload_session(conn)
    for name in ("../../etc/passwd", "a/b.jpg", "a\\b.jpg", "..", "bad\x01name.jpg"):
        with pytest.raises(InvalidValue), db.translated_errors():
            file_upload(conn, session["id"], filename=name)


def test_a_claimed_upload_must_name_its_order(conn: db.Connection) -> None:
    session = upload_session(conn)
    with pytest.raises(InvalidValue) as caught, db.translated_errors():
        file_upload(conn, session["id"], status="claimed")
    assert caught.value.constraint == "file_uploads_claim_check"


def test_a_source_image_has_at_most_one_restored_image(conn: db.Connection) -> None:
    o = order(conn)
    upload = file_upload(conn, upload_session(conn)["id"])
    original = insert(
        conn,
        "images",
        order_id=o["id"],
        type="original",
        file_upload_id=upload["id"],
        storage_path="uploads/originals/o/1.jpg",
        filename="1.jpg",
        content_type="image/jpeg",
        size_bytes=5,
    )
    restored = {
        "order_id": o["id"],
        "type": "restored",
        "source_image_id": original["id"],
        "filename": "1.jpg",
        "content_type": "image/jpeg",
        "size_bytes": 5,
    }
    insert(conn, "images", storage_path="uploads/restored/o/1.jpg", **restored)
    with pytest.raises(ConstraintViolation) as caught, db.translated_errors():
        insert(conn, "images", storage_path="uploads/restored/o/2.jpg", **restored)
    assert caught.value.constraint == "images_one_restored_per_source"


def test_download_count_cannot_pass_the_limit(conn: db.Connection) -> None:
    o = order(conn)
    link = insert(
        conn,
        "download_links",
        order_id=o["id"],
        token_hash="b" * 64,
        expires_at=datetime.now(UTC) + timedelta(days=30),
        max_downloads=2,
    )
    conn.execute("update public.download_links set download_count = 2 where id = %s", [link["id"]])
    with pytest.raises(InvalidValue) as caught, db.translated_errors():
        conn.execute("update public.download_links set download_count = 3 where id = %s", [link["id"]])
    assert caught.value.constraint == "download_links_download_count_check"


def test_an_order_with_history_cannot_be_hard_deleted(conn: db.Connection) -> None:
    o = order(conn)
    insert(
        conn,
        "email_queue",
        order_id=o["id"],
        to_email="a@example.com",
        template="order_confirmation",
        dedupe_key=f"order_confirmation:{o['id']}",
    )
    with pytest.raises(ConstraintViolation) as caught, db.translated_errors():
        conn.execute("delete from public.orders where id = %s", [o["id"]])
    assert caught.value.code == "reference_violation"


def test_an_email_is_never_queued_twice_under_one_dedupe_key(conn: db.Connection) -> None:
    key = f"order_confirmation:{uuid.uuid4()}"
    insert(conn, "email_queue", to_email="a@example.com", template="order_confirmation", dedupe_key=key)
    with pytest.raises(ConstraintViolation) as caught, db.translated_errors():
        insert(conn, "email_queue", to_email="a@example.com", template="order_confirmation", dedupe_key=key)
    assert caught.value.constraint == "email_queue_dedupe_key_key"


def test_updated_at_is_kept_by_the_database(conn: db.Connection) -> None:
    o = order(conn)
    conn.execute("select pg_sleep(0.01)")
    updated = conn.execute(
        "update public.orders set metadata = '{\"x\": 1}' where id = %s returning updated_at", [o["id"]]
    ).fetchone()
    assert updated is not None and updated["updated_at"] > o["updated_at"]


def test_every_foreign_key_has_an_index_led_by_its_columns(conn: db.Connection) -> None:
    missing = conn.execute(
        """
        select c.conrelid::regclass::text as "table", c.conname
        from pg_constraint c
        where c.contype = 'f' and c.connamespace = 'public'::regnamespace
          and not exists (
              select 1 from pg_index i
              where i.indrelid = c.conrelid
                and i.indpred is null  -- a partial index cannot serve the key's lookups
                and (i.indkey::int2[])[0:cardinality(c.conkey) - 1] = c.conkey
          )
        """
    ).fetchall()
    assert missing == []


def test_a_refused_write_names_its_constraint_to_the_code_and_nothing_internal_to_a_customer(
    conn: db.Connection,
) -> None:
    """The message can end up in an HTTP answer; the table and constraint names must not."""
    first = order(conn)
    for write in (lambda: order(conn, total_amount=-1), lambda: order(conn, order_number=first["order_number"])):
        with pytest.raises((InvalidValue, ConstraintViolation)) as caught, db.translated_errors():
            write()
        assert caught.value.constraint and caught.value.constraint.startswith("orders_")
        body = str(caught.value.to_body())
        assert "orders" not in body and "constraint" not in body.replace("constraint_violation", ""), body
