"""The queue's mechanics, run against the real named queries: claim plan, lease, release, retry, dead."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg import errors as pg_errors
from psycopg.types.json import Jsonb

from shared.core import db
from shared.core.errors import ServiceUnavailable
from shared.jobs.queue import (
    Job,
    Queue,
    RunReport,
    TerminalJobError,
    backoff_seconds,
    claim_statements,
    run_queue,
    sweep_expired_leases,
)
from shared.jobs.queues import EMAIL, ORDER_WORK, RESTORATION
from tests.fixtures import factories
from tests.fixtures.db import rows
from tests.fixtures.queue_plans import explain_claim
from tests.fixtures.shopping import paid_order


@dataclass(frozen=True)
class QueueTable:
    """A queue and the names its migrations give its table, states and claimable index."""

    definition: Queue
    table: str
    claimable_index: str
    done: str  # the status of a completed job
    running: str  # the status of a claimed job
    done_at: str  # the column a completion stamps


TABLES = {
    "restoration": QueueTable(
        RESTORATION, "restoration_jobs", "restoration_jobs_claimable_idx", "succeeded", "running", "finished_at"
    ),
    "email": QueueTable(EMAIL, "email_queue", "email_queue_claimable_idx", "sent", "sending", "sent_at"),
    "order_work": QueueTable(
        ORDER_WORK, "order_jobs", "order_jobs_claimable_idx", "succeeded", "running", "finished_at"
    ),
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


def _pending_jobs_in_one_statement(conn: db.Connection, queue: str, n: int) -> list[str]:
    """`n` pending jobs in `queue`'s table, inserted by one statement: one now(), one run_after."""
    if queue == "email":
        conn.execute(
            "insert into email_queue (to_email, template, dedupe_key) "
            "select 'c' || g || '@example.com', 'payment_failed', 'bulk:' || g from generate_series(1, %s) g",
            [n],
        )
    elif queue == "restoration":
        order = factories.order(conn)
        # Each job restores its own original photo, which comes from its own upload.
        conn.execute(
            "with uploads as ("
            "  insert into file_uploads (upload_session_id, storage_path, filename, content_type, size_bytes,"
            "                            sha256, width, height, status, order_id, expires_at)"
            "  select %(session)s, 'uploads/temp/' || %(session)s || '/' || g || '.jpg', g || '.jpg', 'image/jpeg',"
            "         1234, repeat('a', 64), 640, 480, 'claimed', %(order)s, now() + interval '2 days'"
            "  from generate_series(1, %(n)s) g"
            "  returning id, filename"
            "), originals as ("
            "  insert into images (order_id, type, file_upload_id, storage_path, filename, content_type, size_bytes)"
            "  select %(order)s, 'original', id, 'orders/' || %(order)s || '/' || filename,"
            "         filename, 'image/jpeg', 1234 from uploads"
            "  returning id"
            ") insert into restoration_jobs (order_id, image_id) select %(order)s, id from originals",
            {"order": order["id"], "session": order["upload_session_id"], "n": n},
        )
    else:
        order = factories.order(conn)
        conn.execute(
            "insert into order_jobs (order_id, kind, dedupe_key) "
            "select %s, 'finish_order', 'bulk:' || g from generate_series(1, %s) g",
            [order["id"], n],
        )
    table = TABLES[queue].table
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


def _claim(
    conn: db.Connection, queue: Queue, *, worker: str, lease_seconds: int, batch_size: int, ids: list[str] | None = None
) -> list[Job]:
    """Claim from `queue` (with `ids`, complete those and claim) as the run loop does."""
    return claim_statements(conn, queue).run(
        conn, worker=worker, completing=ids or [], lease_seconds=lease_seconds, batch_size=batch_size
    )


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
        for r in explain_claim(
            conn,
            table.definition,
            completing=False,
            options="",
            params={"batch_size": 10, "lease_seconds": 300, "worker": "plan-test"},
        )
    )
    assert table.claimable_index in plan, plan
    assert f"Seq Scan on {table.table}" not in plan, plan


def _plan_nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from _plan_nodes(child)


@pytest.mark.parametrize("statement", ["claim", "complete_and_claim"])
@pytest.mark.parametrize("queue", ["restoration", "email", "order_work"])
def test_a_claim_reads_one_batch_of_the_index_however_many_due_jobs_share_its_run_after(
    conn: db.Connection, queue: str, statement: str
) -> None:
    # A backlog queued at once (one transaction, one now()): a tie-breaker the index lacks
    # would make every claim read and sort all of it, and draining it quadratic.
    table = TABLES[queue]
    _pending_jobs_in_one_statement(conn, queue, 3000)
    assert rows(conn, f"select count(distinct run_after) as n from {table.table}") == [{"n": 1}]
    conn.execute(f"analyze {table.table}")

    params = {"ids": [], "batch_size": 10, "lease_seconds": 300, "worker": "plan-test"}
    with conn.transaction(force_rollback=True):  # EXPLAIN ANALYZE runs the claim
        [row] = explain_claim(
            conn, table.definition, completing=statement == "complete_and_claim",
            options="(analyze, costs off, timing off, summary off, format json)", params=params,
        )  # fmt: skip
    [root] = row["QUERY PLAN"]
    nodes = list(_plan_nodes(root["Plan"]))
    assert not [n["Node Type"] for n in nodes if "Sort" in n["Node Type"]], root
    [scan] = [n for n in nodes if n.get("Index Name") == table.claimable_index]
    assert scan["Actual Rows"] == 10, root  # one batch of index entries, not the 3000 due
    assert not [n for n in nodes if n["Node Type"] == "Seq Scan" and n.get("Relation Name") == table.table], root


# -- 2. heartbeat -----------------------------------------------------------------------


def test_a_job_running_longer_than_its_lease_keeps_it_and_completes_exactly_once(
    database: db.Database, conn: db.Connection
) -> None:
    _queue_emails(conn, 1)
    queue = replace(EMAIL, lease_seconds=3)
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
            assert _claim(tx, queue, batch_size=10, lease_seconds=3, worker="intruder") == []
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
        database, table.definition, long_first_job, lambda: clock["left"],
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
    later = _run(database, table.definition, lambda job: handled.append(str(job["id"])), batch_size=10)
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

    report = _run(database, table.definition, undecodable, worker="terminal-test")
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
    assert _run(database, table.definition, undecodable).claimed == 0


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
    backing_off = replace(table.definition, base_delay_seconds=base, max_delay_seconds=3600)
    report = _run(database, backing_off, provider_down, max_batches=1)
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
        assert _run(database, table.definition, provider_down).claimed == 0


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


# -- 6. a batch's completion rides with the next claim ----------------------------------


def _table_as_this_transaction_sees_it(conn: db.Connection, table: str, lease_seconds: int) -> list[dict[str, Any]]:
    """Every row, the timestamps this transaction wrote named rather than valued (two
    transactions have different now()s)."""
    [clock] = rows(conn, "select now() as now, now() + make_interval(secs => %s) as lease_end", lease_seconds)
    names = {clock["now"]: "now()", clock["lease_end"]: "now() + lease"}
    return [
        {k: names.get(v, v) if isinstance(v, datetime) else v for k, v in row.items()}
        for row in rows(conn, f"select * from {table} order by id")
    ]


@pytest.mark.parametrize("queue", ["restoration", "email", "order_work"])
def test_complete_and_claim_leaves_the_table_as_complete_then_claim_would(
    request: pytest.FixtureRequest, conn: db.Connection, queue: str
) -> None:
    table = TABLES[queue]
    _pending_jobs(request, conn, queue, 8)
    # Distinct run_afters fix which jobs a claim takes: both ways must take the same ones.
    conn.execute(
        f"update {table.table} q set run_after = now() - make_interval(mins => r.n::int) "
        f"from (select id, row_number() over (order by id) as n from {table.table} where status = 'pending') r "
        "where q.id = r.id"
    )
    lease = 300
    definition = table.definition
    mine = _claim(conn, definition, batch_size=3, lease_seconds=lease, worker="finisher")
    [theirs] = _claim(conn, definition, batch_size=1, lease_seconds=lease, worker="another-run")
    # Two of ours handled, one of ours still in hand, and one another run holds.
    handled, in_hand = [str(j["id"]) for j in mine[:2]], str(mine[2]["id"])
    ids = [*handled, str(theirs["id"])]
    claim: dict[str, Any] = {"batch_size": 3, "lease_seconds": lease, "worker": "finisher"}

    with conn.transaction(force_rollback=True):
        completed = db.one(conn, "queue_complete", **definition.states(), ids=ids, worker="finisher")
        assert completed["completed"] == 2
        apart = _claim(conn, definition, **claim)
        after_apart = _table_as_this_transaction_sees_it(conn, table.table, lease)
    with conn.transaction(force_rollback=True):
        together = _claim(conn, definition, ids=ids, **claim)
        after_together = _table_as_this_transaction_sees_it(conn, table.table, lease)

    assert sorted(str(j["id"]) for j in together) == sorted(str(j["id"]) for j in apart)
    assert after_together == after_apart
    # And what that state is: spelled out, so that both ways being wrong alike fails too.
    by_id = {str(r["id"]): r for r in after_together}
    for job_id in handled:
        assert {k: by_id[job_id][k] for k in ("status", "locked_by", "locked_until", table.done_at)} == {
            "status": table.done, "locked_by": None, "locked_until": None, table.done_at: "now()",
        }  # fmt: skip
    assert (by_id[str(theirs["id"])]["status"], by_id[str(theirs["id"])]["locked_by"]) == (table.running, "another-run")
    assert (by_id[in_hand]["status"], by_id[in_hand]["locked_by"]) == (table.running, "finisher")
    assert len(together) == 3
    for job in together:
        claimed = by_id[str(job["id"])]
        assert (claimed["status"], claimed["attempt_number"]) == (table.running, 1)
        assert (claimed["locked_by"], claimed["locked_until"]) == ("finisher", "now() + lease")
    assert [r["status"] for r in after_together].count("pending") == 1


def _name(statement: str | db.Statement) -> str:
    """A named query's name, or the name of a statement the database wrote."""
    return statement.name if isinstance(statement, db.Statement) else statement


def _recording(real: Callable[..., Any], names: list[str]) -> Callable[..., Any]:
    def run(conn: db.Connection, statement: str | db.Statement, /, *args: Any, **params: Any) -> Any:
        names.append(_name(statement))
        return real(conn, statement, *args, **params)

    return run


@pytest.mark.parametrize("concurrency", [1, 3])
@pytest.mark.parametrize("queue", ["restoration", "email", "order_work"])
def test_a_run_over_several_batches_completes_every_job_once_acknowledging_each_batch_with_the_next_claim(
    monkeypatch: pytest.MonkeyPatch, database: db.Database, conn: db.Connection, queue: str, concurrency: int
) -> None:
    table = TABLES[queue]
    ids = _pending_jobs_in_one_statement(conn, queue, 25)
    statements: list[str] = []
    for runner in ("all_rows", "all_rows_of", "maybe_one", "execute"):
        monkeypatch.setattr(db, runner, _recording(getattr(db, runner), statements))
    handled: list[tuple[str, threading.Thread]] = []

    def handle(job: Job) -> None:
        handled.append((str(job["id"]), threading.current_thread()))

    report = _run(database, table.definition, handle, batch_size=10, concurrency=concurrency)

    assert (report.claimed, report.succeeded, report.retried, report.dead, report.released) == (25, 25, 0, 0, 0)
    assert sorted(job_id for job_id, _ in handled) == sorted(ids)  # each exactly once
    assert rows(
        conn,
        f"select status, attempt_number, locked_by, locked_until, {table.done_at} is not null as stamped, "
        f"count(*)::int as n from {table.table} group by 1, 2, 3, 4, 5",
    ) == [
        {"status": table.done, "attempt_number": 1, "locked_by": None, "locked_until": None, "stamped": True, "n": 25}
    ]
    # A round trip a batch: after the sweep and asking for the claims' texts, the first
    # claim, then each batch's completion with the next claim (the last finding none), and
    # nothing left to acknowledge on its own.
    assert statements == ["queue_sweep", "queue_claim_statements", "queue_claim"] + ["queue_complete_and_claim"] * 3
    threads = {thread for _, thread in handled}
    if concurrency == 1:
        assert threads == {threading.current_thread()}  # no pool: the run's own thread
    else:
        assert threading.current_thread() not in threads


# -- 7. deadlock victims ----------------------------------------------------------------


def _failing(
    real: Callable[..., Any], name: str, cause: psycopg.Error, times: int, attempts: Counter[str]
) -> Callable[..., Any]:
    """`real`, except that statement `name` fails `times` times as db reports `cause`."""

    def run(conn: db.Connection, statement: str | db.Statement, /, *args: Any, **params: Any) -> Any:
        attempts[_name(statement)] += 1
        if _name(statement) == name and attempts[name] <= times:
            raise db.translate(cause) from cause  # as db.translated_errors does
        return real(conn, statement, *args, **params)

    return run


@pytest.mark.parametrize(
    ("statement", "ordinary_runs"),
    [("queue_claim", 1), ("queue_complete_and_claim", 2), ("queue_complete", 1)],
)
def test_a_claim_or_acknowledgement_rolled_back_to_break_a_deadlock_is_run_again_and_every_job_completes(
    monkeypatch: pytest.MonkeyPatch, database: db.Database, conn: db.Connection, statement: str, ordinary_runs: int
) -> None:
    ids = _pending_jobs_in_one_statement(conn, "email", 25)
    attempts: Counter[str] = Counter()
    deadlock = pg_errors.DeadlockDetected("deadlock detected")
    for runner in ("all_rows", "all_rows_of", "execute"):
        monkeypatch.setattr(db, runner, _failing(getattr(db, runner), statement, deadlock, 1, attempts))
    handled: list[str] = []

    # Three batches: the first claimed alone, the second with the first's completion, the
    # third's completion acknowledged on its own as the run stops at max_batches.
    report = _run(
        database, EMAIL, lambda job: handled.append(str(job["id"])),
        batch_size=10, concurrency=1, max_batches=3,
    )  # fmt: skip

    assert attempts[statement] == ordinary_runs + 1
    assert (report.claimed, report.succeeded, report.retried, report.dead) == (25, 25, 0, 0)
    assert sorted(handled) == sorted(ids)
    assert rows(
        conn, "select status, attempt_number, locked_by, count(*)::int as n from email_queue group by 1, 2, 3"
    ) == [{"status": "sent", "attempt_number": 1, "locked_by": None, "n": 25}]


@pytest.mark.parametrize(
    ("cause", "runs"),
    [
        (pg_errors.QueryCanceled("canceling statement due to statement timeout"), 1),
        (psycopg.OperationalError("server closed the connection unexpectedly"), 1),
        (pg_errors.DeadlockDetected("deadlock detected"), 3),  # a victim every time: given up on
    ],
    ids=["statement-timeout", "connection-lost", "deadlock-every-time"],
)
def test_a_claim_is_run_again_only_after_a_deadlock_and_at_most_three_times(
    monkeypatch: pytest.MonkeyPatch, database: db.Database, conn: db.Connection, cause: psycopg.Error, runs: int
) -> None:
    _queue_emails(conn, 3)
    attempts: Counter[str] = Counter()
    monkeypatch.setattr(db, "all_rows_of", _failing(db.all_rows_of, "queue_claim", cause, 99, attempts))
    handled: list[Job] = []

    with pytest.raises(ServiceUnavailable) as failure:
        _run(database, EMAIL, handled.append, concurrency=1)

    assert failure.value.__cause__ is cause
    assert attempts["queue_claim"] == runs
    assert handled == []
    assert rows(conn, "select status, attempt_number, count(*)::int as n from email_queue group by 1, 2") == [
        {"status": "pending", "attempt_number": 0, "n": 3}
    ]
