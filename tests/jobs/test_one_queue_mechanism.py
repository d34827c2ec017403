"""One queue mechanism: a new queue costs a definition and a table; rows queued before the
mechanism (migration 027) are claimed and run by it; the operator's commands use it too."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from psycopg.types.json import Jsonb

from shared.core import db
from shared.core.config import Settings
from shared.core.sql import QUERIES
from shared.jobs.queue import Job, Queue, TerminalJobError, deadline_in, run_queue, sweep_expired_leases
from shared.jobs.queues import EMAIL, ORDER_WORK, RESTORATION, every_queue
from shared.jobs.workers import run_worker
from tests.fixtures import factories
from tests.fixtures.db import migrate_up_to, rows
from tests.fixtures.queue_plans import explain_claim

# A queue the shop does not have: a table with the queue columns and its claimable index,
# and states of its own. Nothing else is written for it.
THUMBNAIL_TABLE = """
create table public.thumbnail_jobs (
    id              uuid primary key default gen_random_uuid(),
    photo           text not null,
    status          text not null default 'pending'
        check (status in ('pending', 'drawing', 'drawn', 'dead', 'cancelled')),
    attempt_number  integer not null default 0,
    max_attempts    integer not null default 2,
    run_after       timestamptz not null default now(),
    locked_until    timestamptz,
    locked_by       text,
    last_error      text,
    error_history   jsonb not null default '[]'::jsonb,
    started_at      timestamptz,
    finished_at     timestamptz,
    created_at      timestamptz not null default now(),
    updated_at      timestamptz not null default now()
);
create index thumbnail_jobs_claimable_idx on public.thumbnail_jobs (run_after) where status = 'pending';
"""
THUMBNAILS = Queue("thumbnails", "public.thumbnail_jobs", claimed="drawing", done="drawn", base_delay_seconds=3600)


def _run(database: db.Database, queue: Queue, handle: Any, **options: Any) -> Any:
    return run_queue(database, queue, handle, time_left=lambda: 1000.0, **options)


def test_a_new_queue_needs_only_its_definition_and_its_table(database: db.Database, conn: db.Connection) -> None:
    conn.execute(THUMBNAIL_TABLE)
    conn.execute("insert into thumbnail_jobs (photo) select 'photo-' || g from generate_series(1, 5) g order by g")
    assert not [name for name, text in QUERIES.items() if "thumbnail_jobs" in text]  # no statement of its own

    def draw(job: Job) -> None:
        if job["photo"] == "photo-4":
            raise ConnectionError("the renderer is away")
        if job["photo"] == "photo-5":
            raise TerminalJobError("not a photo")

    first = _run(database, THUMBNAILS, draw, batch_size=5, max_batches=1)  # a retry cannot come round again
    assert (first.claimed, first.succeeded, first.retried, first.dead) == (5, 3, 1, 1)
    states = {r["photo"]: r for r in rows(conn, "select * from thumbnail_jobs")}
    for photo in ("photo-1", "photo-2", "photo-3"):
        done = states[photo]
        assert (done["status"], done["attempt_number"], done["locked_by"]) == ("drawn", 1, None)
        assert done["started_at"] is not None and done["finished_at"] is not None
    retried, dead = states["photo-4"], states["photo-5"]
    assert (retried["status"], retried["attempt_number"], retried["finished_at"]) == ("pending", 1, None)
    assert [e["error"] for e in retried["error_history"]] == ["ConnectionError: the renderer is away"]
    assert (dead["status"], dead["last_error"]) == ("dead", "TerminalJobError: not a photo")
    assert dead["finished_at"] is not None

    # The second attempt is its last (max_attempts 2): failing again, it is dead.
    conn.execute("update thumbnail_jobs set run_after = now() where photo = 'photo-4'")
    second = _run(database, THUMBNAILS, draw)
    assert (second.claimed, second.dead) == (1, 1)
    assert rows(conn, "select status, attempt_number from thumbnail_jobs where photo = 'photo-4'") == [
        {"status": "dead", "attempt_number": 2}
    ]

    # A lease that expired is swept back; the operator's retry and cancel work on it too.
    conn.execute(
        "update thumbnail_jobs set status = 'drawing', attempt_number = 1, locked_by = 'gone', "
        "locked_until = now() - interval '1 second' where photo = 'photo-1'"
    )
    assert sweep_expired_leases(database, THUMBNAILS) == 1
    assert rows(conn, "select status, locked_by from thumbnail_jobs where photo = 'photo-1'") == [
        {"status": "pending", "locked_by": None}
    ]
    with database.transaction() as tx:
        [dead_id] = [r["id"] for r in rows(tx, "select id from thumbnail_jobs where photo = 'photo-5'")]
        assert db.all_rows(tx, "queue_retry", table=THUMBNAILS.table, id=str(dead_id)) == [{"id": dead_id}]
        assert db.all_rows(tx, "queue_cancel", table=THUMBNAILS.table, id=str(dead_id)) == [{"id": dead_id}]
        assert db.all_rows(tx, "queue_retry", table=THUMBNAILS.table, id=str(dead_id)) == [{"id": dead_id}]
        listed = db.all_rows(
            tx, "queue_list", queues=["thumbnails"], tables=[THUMBNAILS.table], status="pending", limit=10
        )
    assert sorted(r["queue"] for r in listed) == ["thumbnails", "thumbnails"]
    assert all(r["order_id"] is None for r in listed)  # a queue whose jobs belong to no order


def test_a_new_queue_is_claimed_through_its_partial_index(conn: db.Connection) -> None:
    conn.execute(THUMBNAIL_TABLE)
    conn.execute(
        "insert into thumbnail_jobs (photo, status, finished_at) "
        "select 'old', 'drawn', now() from generate_series(1, 20000)"
    )
    conn.execute("insert into thumbnail_jobs (photo) values ('new')")
    conn.execute("analyze thumbnail_jobs")
    with conn.transaction(force_rollback=True):
        plan = "\n".join(
            r["QUERY PLAN"]
            for r in explain_claim(
                conn,
                THUMBNAILS,
                completing=True,
                options="",
                params={"batch_size": 10, "lease_seconds": 60, "worker": "plan"},
            )
        )
    assert "thumbnail_jobs_claimable_idx" in plan and "Seq Scan on thumbnail_jobs" not in plan, plan


def test_the_claims_refuse_a_value_that_names_no_table(conn: db.Connection) -> None:
    with pytest.raises(Exception, match="row type"):
        conn.execute("select * from public.queue_claim(null::integer, 'running', 'w', 1, 1)")


def test_the_shops_queues_are_the_three_tables(settings: Settings) -> None:
    assert {q.name: (q.table, q.claimed, q.done) for q in every_queue(settings).values()} == {
        "restoration": ("public.restoration_jobs", "running", "succeeded"),
        "email": ("public.email_queue", "sending", "sent"),
        "order_work": ("public.order_jobs", "running", "succeeded"),
    }
    assert every_queue(settings)["restoration"].lease_seconds == settings.restoration_lease_seconds
    assert every_queue(settings)["email"].base_delay_seconds == settings.email_retry_delay_ms / 1000


def test_an_email_sent_by_the_email_worker_carries_the_queue_stamps(
    settings: Settings, database: db.Database, conn: db.Connection
) -> None:
    # The worker records the provider's answer itself; the row still reads like any queue's.
    conn.execute(
        "insert into email_queue (to_email, template, payload, dedupe_key) "
        "values ('c@example.com', 'payment_failed', '{}', 'stamps')"
    )
    report = run_worker("email", settings, deadline_in(60))
    assert report["email"]["succeeded"] == 1
    [job] = rows(conn, "select status, started_at, finished_at, sent_at, send_started_at from email_queue")
    assert job["status"] == "sent"
    assert None not in job.values()
    assert job["started_at"] <= job["send_started_at"] <= job["sent_at"] <= job["finished_at"]


# -- rows queued before migration 027 ----------------------------------------------------------


def test_jobs_queued_before_the_one_mechanism_are_claimed_and_run_by_it(
    empty_database_url: str, tmp_path: Path
) -> None:
    migrate_up_to(empty_database_url, tmp_path, up_to=26)
    with db.connect(empty_database_url) as conn:
        order = factories.order(conn, image_count=2, status="paid")
        images = conn.execute(
            "with uploads as ("
            "  insert into file_uploads (upload_session_id, storage_path, filename, content_type, size_bytes,"
            "                            sha256, width, height, status, order_id, expires_at)"
            "  select %(session)s, 'uploads/temp/' || %(session)s || '/' || g || '.jpg', g || '.jpg', 'image/jpeg',"
            "         1234, repeat('a', 64), 640, 480, 'claimed', %(order)s, now() + interval '2 days'"
            "  from generate_series(1, 2) g"
            "  returning id, filename"
            ") insert into images (order_id, type, file_upload_id, storage_path, filename, content_type, size_bytes)"
            "  select %(order)s, 'original', id, 'orders/' || %(order)s || '/' || filename, filename,"
            "         'image/jpeg', 1234 from uploads order by filename returning id",
            {"order": order["id"], "session": order["upload_session_id"]},
        ).fetchall()
        conn.execute(
            "insert into restoration_jobs (order_id, image_id) values (%s, %s)", [order["id"], images[0]["id"]]
        )
        # Dead after its last attempt, as the old sweep left it: the operator retries it below.
        conn.execute(
            "insert into restoration_jobs (order_id, image_id, status, attempt_number, finished_at) "
            "values (%s, %s, 'dead', 3, now())",
            [order["id"], images[1]["id"]],
        )
        conn.execute(
            "insert into order_jobs (order_id, kind, dedupe_key) values (%s, 'finish_order', 'before-027')",
            [order["id"]],
        )
        for key, status, extra in (
            ("pending", "pending", {}),
            ("sent", "sent", {"sent_at": "2026-11-30 10:00:00+00"}),
            # Its provider call was under way when the old worker died; the operator has checked.
            ("dead", "dead", {"send_started_at": "2026-11-30 09:00:00+00"}),
        ):
            columns = ", ".join(["to_email", "template", "payload", "dedupe_key", "status", *extra])
            values = ["c@example.com", "payment_failed", Jsonb({}), f"before-027:{key}", status, *extra.values()]
            conn.execute(f"insert into email_queue ({columns}) values ({', '.join(['%s'] * len(values))})", values)
        before = {
            r["dedupe_key"]: r["updated_at"] for r in rows(conn, "select dedupe_key, updated_at from email_queue")
        }

    migrate_up_to(empty_database_url, tmp_path, up_to=None)
    database = db.Database(empty_database_url)
    try:
        with db.connect(empty_database_url) as conn:
            carried = {r["dedupe_key"]: r for r in rows(conn, "select * from email_queue")}
            # The new stamps carry the best known times; updated_at is untouched.
            assert carried["before-027:sent"]["finished_at"] == carried["before-027:sent"]["sent_at"]
            assert carried["before-027:dead"]["started_at"] == carried["before-027:dead"]["send_started_at"]
            assert carried["before-027:pending"]["finished_at"] is None
            assert {k: r["updated_at"] for k, r in carried.items()} == before

            handled: dict[str, list[Job]] = {}
            for queue in (RESTORATION, EMAIL, ORDER_WORK):
                handled[queue.name] = []
                report = _run(database, queue, handled[queue.name].append)
                assert (report.claimed, report.succeeded) == (1, 1), queue.name
            assert [j["image_id"] for j in handled["restoration"]] == [images[0]["id"]]
            assert [j["dedupe_key"] for j in handled["email"]] == ["before-027:pending"]
            assert [j["dedupe_key"] for j in handled["order_work"]] == ["before-027"]
            assert rows(conn, "select status, sent_at is not null as sent from email_queue where dedupe_key = %s",
                        "before-027:pending") == [{"status": "sent", "sent": True}]  # fmt: skip

            # The operator's retry (`restoreclick jobs retry`) goes through the same mechanism.
            dead_email = carried["before-027:dead"]["id"]
            [dead_restoration] = rows(conn, "select id from restoration_jobs where status = 'dead'")
            with database.transaction(actor="operator") as tx:
                for queue, job_id in ((EMAIL, dead_email), (RESTORATION, dead_restoration["id"])):
                    assert db.all_rows(tx, "queue_retry", table=queue.table, id=str(job_id)) == [{"id": job_id}]
            [email] = rows(
                conn, "select status, attempt_number, send_started_at, finished_at from email_queue where id = %s",
                dead_email,
            )  # fmt: skip
            # The retry vouches for the earlier attempt, so the send-started trace no longer stops a send.
            assert email == {"status": "pending", "attempt_number": 0, "send_started_at": None, "finished_at": None}
            assert _run(database, EMAIL, lambda job: None).succeeded == 1
            assert _run(database, RESTORATION, lambda job: None).succeeded == 1
    finally:
        database.close_all()
