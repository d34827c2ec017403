"""The queue's mechanics, run against the real named queries: claim plan, lease, release, retry, dead."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from psycopg.types.json import Jsonb

from shared import db
from shared.queue import Job, Queue, RunReport, TerminalJobError, backoff_seconds, run_queue, sweep_expired_leases
from shared.sql import QUERIES
from tests.functions.conftest import rows
from tests.workers.test_restoration_journey import paid_order


@dataclass(frozen=True)
class QueueTable:
    """A queue and the names its migrations give its table, states and claimable index."""

    queue: str
    table: str
    claimable_index: str
    done: str  # the status of a completed job


TABLES = {
    "restoration": QueueTable("restoration", "restoration_jobs", "restoration_jobs_claimable_idx", "succeeded"),
    "email": QueueTable("email", "email_queue", "email_queue_claimable_idx", "sent"),
    "order_work": QueueTable("order_work", "order_jobs", "order_jobs_claimable_idx", "succeeded"),
}


def _queue_emails(conn: db.Connection, n: int, prefix: str = "mechanics") -> None:
    for i in range(n):
        conn.execute(
            "insert into email_queue (to_email, template, payload, dedupe_key) values (%s, 'payment_failed', %s, %s)",
            [f"c{i}@example.com", Jsonb({}), f"{prefix}:{i}"],
        )


def _pending_jobs(request: pytest.FixtureRequest, conn: db.Connection, queue: str, n: int) -> list[str]:
    """Exactly `n` pending jobs in `queue`'s table (the only pending ones there); their ids."""
    table = TABLES[queue].table
    if queue == "email":
        _queue_emails(conn, n)
    else:
        shop: TestClient = request.getfixturevalue("shop")
        paid_order(shop, photos=n)  # n pending restoration jobs (and a confirmation email)
        if queue == "order_work":
            [order] = rows(conn, "select id from orders")
            for i in range(n):
                conn.execute(
                    "insert into order_jobs (order_id, kind, dedupe_key) values (%s, 'finish_order', %s)",
                    [order["id"], f"mechanics:{i}"],
                )
    ids = [str(r["id"]) for r in rows(conn, f"select id from {table} where status = 'pending'")]
    assert len(ids) == n
    return ids


def _run(
    database: db.Database,
    queue: Queue,
    handle: Callable[[Job], object],
    time_left: Callable[[], float] = lambda: 1000.0,
    **options: object,
) -> RunReport:
    return run_queue(database, queue, handle, time_left=time_left, **options)  # type: ignore[arg-type]


# -- 1. the claim plan ------------------------------------------------------------------


@pytest.mark.parametrize("queue", ["restoration", "email", "order_work"])
def test_the_named_claim_query_uses_the_partial_index_of_claimable_rows_not_a_table_scan(
    request: pytest.FixtureRequest, conn: db.Connection, queue: str
) -> None:
    table = TABLES[queue]
    if queue == "email":
        conn.execute(
            "insert into email_queue (to_email, template, dedupe_key, status, sent_at) "
            "select 'old@example.com', 'payment_failed', 'old:' || g, 'sent', now() from generate_series(1, 20000) g"
        )
        _queue_emails(conn, 3)
    else:
        shop: TestClient = request.getfixturevalue("shop")
        paid_order(shop, photos=3)
        [image] = rows(conn, "select id, order_id from images where type = 'original' limit 1")
        if queue == "restoration":
            # Only pending and running jobs must be unique per image: finished ones pile up.
            conn.execute(
                "insert into restoration_jobs (order_id, image_id, status, attempt_number, finished_at) "
                "select %s, %s, 'succeeded', 1, now() from generate_series(1, 20000)",
                [image["order_id"], image["id"]],
            )
        else:
            conn.execute(
                "insert into order_jobs (order_id, kind, dedupe_key, status, attempt_number, finished_at) "
                "select %s, 'finish_order', 'old:' || g, 'succeeded', 1, now() from generate_series(1, 20000) g",
                [image["order_id"]],
            )
            for i in range(3):
                conn.execute(
                    "insert into order_jobs (order_id, kind, dedupe_key) values (%s, 'finish_order', %s)",
                    [image["order_id"], f"pending:{i}"],
                )
    conn.execute(f"analyze {table.table}")
    assert rows(conn, f"select count(*) as n from {table.table} where status = 'pending'") == [{"n": 3}]

    plan = "\n".join(
        r["QUERY PLAN"]
        for r in conn.execute(
            "explain " + QUERIES[f"{queue}_claim"], {"batch_size": 10, "lease_seconds": 300, "worker": "plan-test"}
        ).fetchall()
    )
    assert table.claimable_index in plan, plan
    assert f"Seq Scan on {table.table}" not in plan, plan


# -- 2. heartbeat -----------------------------------------------------------------------


def test_a_job_running_longer_than_its_lease_keeps_it_and_completes_exactly_once(
    database: db.Database, conn: db.Connection
) -> None:
    _queue_emails(conn, 1)
    queue = Queue("email", lease_seconds=3)
    handled: list[str] = []

    def five_second_job(job: Job) -> None:
        handled.append(str(job["id"]))
        time.sleep(5)

    reports: list[RunReport] = []
    runner = threading.Thread(target=lambda: reports.append(_run(database, queue, five_second_job)))
    runner.start()
    try:
        deadline = time.monotonic() + 10
        while not rows(conn, "select 1 from email_queue where status = 'sending'"):
            assert time.monotonic() < deadline, "the run never claimed the job"
            time.sleep(0.05)
        claimed_at = time.monotonic()
        [first] = rows(conn, "select locked_until from email_queue")

        time.sleep(max(0.0, claimed_at + 4.0 - time.monotonic()))  # past the 3 s lease it was claimed with
        [later] = rows(conn, "select status, locked_until, locked_until > clock_timestamp() as live from email_queue")
        assert later["status"] == "sending" and later["live"], later
        assert later["locked_until"] > first["locked_until"]
        # Another run starting now neither sweeps the job back nor claims it.
        assert sweep_expired_leases(database, queue) == 0
        with database.transaction() as tx:
            assert db.all_rows(tx, "email_claim", batch_size=10, lease_seconds=3, worker="intruder") == []
    finally:
        runner.join(timeout=30)
    assert not runner.is_alive()

    [report] = reports
    assert (report.claimed, report.succeeded, report.retried, report.dead) == (1, 1, 0, 0)
    assert len(handled) == 1
    [job] = rows(conn, "select status, attempt_number, error_history, locked_by from email_queue")
    assert job == {"status": "sent", "attempt_number": 1, "error_history": [], "locked_by": None}
    assert _run(database, queue, five_second_job).claimed == 0
    assert len(handled) == 1


# -- 3. release -------------------------------------------------------------------------


@pytest.mark.parametrize("queue", ["restoration", "email", "order_work"])
def test_jobs_claimed_but_not_started_when_time_runs_low_are_released_uncounted(
    request: pytest.FixtureRequest, database: db.Database, conn: db.Connection, queue: str
) -> None:
    table = TABLES[queue]
    ids = _pending_jobs(request, conn, queue, 4)
    clock = {"left": 100.0}
    handled: list[str] = []

    def long_first_job(job: Job) -> None:
        handled.append(str(job["id"]))
        clock["left"] = 5.0  # this job used up the run's time

    report = _run(
        database, Queue(queue), long_first_job, lambda: clock["left"],
        safety_margin_seconds=20, batch_size=4, concurrency=1,
    )  # fmt: skip
    assert (report.claimed, report.succeeded, report.released) == (4, 1, 3)
    assert report.stopped_for_time is True and report.retried == report.dead == 0
    [done] = handled
    states = {
        str(r["id"]): r
        for r in rows(
            conn, f"select id, status, attempt_number, locked_by, locked_until, error_history from {table.table}"
            " where id = any(%s::uuid[])", ids,
        )
    }  # fmt: skip
    assert states[done]["status"] == table.done
    for job_id in set(ids) - {done}:
        released = {k: v for k, v in states[job_id].items() if k != "id"}
        assert released == {
            "status": "pending",
            "attempt_number": 0,
            "locked_by": None,
            "locked_until": None,
            "error_history": [],
        }

    # The next run takes them up as first attempts.
    later = _run(database, Queue(queue), lambda job: handled.append(str(job["id"])), batch_size=10)
    assert later.succeeded == 3 and sorted(handled) == sorted(ids)
    assert rows(conn, f"select distinct status, attempt_number from {table.table} where id = any(%s::uuid[])", ids) == [
        {"status": table.done, "attempt_number": 1}
    ]


# -- 4. dead and retry ------------------------------------------------------------------


@pytest.mark.parametrize("queue", ["restoration", "email", "order_work"])
def test_a_terminal_error_sends_a_job_straight_to_dead_on_its_first_attempt(
    request: pytest.FixtureRequest, database: db.Database, conn: db.Connection, queue: str
) -> None:
    table = TABLES[queue]
    [job_id] = _pending_jobs(request, conn, queue, 1)

    def undecodable(job: Job) -> None:
        raise TerminalJobError("the photo cannot be decoded")

    report = _run(database, Queue(queue), undecodable, worker="terminal-test")
    assert (report.claimed, report.dead, report.retried, report.succeeded) == (1, 1, 0, 0)
    [job] = rows(
        conn, f"select status, attempt_number, max_attempts, last_error, error_history, locked_by from {table.table} "
        "where id = %s", job_id,
    )  # fmt: skip
    assert job["status"] == "dead" and job["attempt_number"] == 1 < job["max_attempts"]
    assert job["locked_by"] is None
    assert job["last_error"] == "TerminalJobError: the photo cannot be decoded"
    [entry] = job["error_history"]
    assert entry["attempt"] == 1 and entry["worker"] == "terminal-test"
    assert entry["error"] == "TerminalJobError: the photo cannot be decoded"
    # Dead is final: a later run does not take it again.
    assert _run(database, Queue(queue), undecodable).claimed == 0


@pytest.mark.parametrize("queue", ["restoration", "email", "order_work"])
def test_a_retryable_error_returns_the_job_to_pending_after_a_backoff_within_its_bound(
    request: pytest.FixtureRequest, database: db.Database, conn: db.Connection, queue: str
) -> None:
    table = TABLES[queue]
    [job_id] = _pending_jobs(request, conn, queue, 1)
    base = 60.0

    def provider_down(job: Job) -> None:
        raise ConnectionError("provider down")

    # One batch: a (vanishingly rare) near-zero draw must not let the same run take it again.
    report = _run(database, Queue(queue, base_delay_seconds=base, max_delay_seconds=3600), provider_down, max_batches=1)
    assert (report.claimed, report.retried, report.dead) == (1, 1, 0)
    # The fail statement stamps its own now() into the history: the delay is measured from it.
    [job] = rows(
        conn,
        "select status, attempt_number, locked_by, error_history, "
        "extract(epoch from run_after - (error_history -> 0 ->> 'at')::timestamptz)::float8 as delay, "
        f"run_after > clock_timestamp() as in_future from {table.table} where id = %s",
        job_id,
    )
    assert job["status"] == "pending" and job["attempt_number"] == 1 and job["locked_by"] is None
    assert [e["error"] for e in job["error_history"]] == ["ConnectionError: provider down"]
    # First attempt: full jitter over [0, base]. Zero exactly has probability zero.
    assert 0 < job["delay"] <= base, job["delay"]
    if job["delay"] > 5:  # almost always; a tiny draw may already have passed
        assert job["in_future"]
        assert _run(database, Queue(queue), provider_down).claimed == 0


# -- 5. backoff -------------------------------------------------------------------------


@pytest.mark.parametrize(("base", "cap"), [(30.0, 1800.0), (10.0, 600.0), (60.0, 6 * 3600.0)])
def test_backoff_is_full_jitter_within_the_capped_exponential_bound(base: float, cap: float) -> None:
    for attempt in range(0, 16):
        bound = min(cap, base * 2 ** max(0, attempt - 1))
        draws = [backoff_seconds(attempt, base, cap) for _ in range(2000)]
        assert all(0 <= d <= bound for d in draws), (attempt, bound, min(draws), max(draws))
        assert len(set(draws)) > 1900, "the delay should not be constant"
        # Full jitter spreads over the whole range, not only its upper half ("equal jitter").
        assert min(draws) < 0.05 * bound and max(draws) > 0.95 * bound, (attempt, bound, min(draws), max(draws))
    # The cap binds: late attempts never wait longer than it.
    assert max(backoff_seconds(40, base, cap) for _ in range(2000)) <= cap
