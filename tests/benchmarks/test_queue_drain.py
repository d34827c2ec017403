"""Queue drain: no-op jobs per second through our queue, against procrastinate and a bare loop.

- Ours: `shared.jobs.queue.run_queue` on the order_work queue with a no-op handler, so every job
  is claimed under a lease, its attempt counted and its completion acknowledged, exactly as
  a worker runs it (sweep, claim batches, heartbeat, bounded concurrency, acknowledgement).
  Measured with server-side prepared statements off (what Supabase's transaction pooler
  needs, and our default) and on.
- Ours before 027: the same run loop on the statements the queue ran before the one
  mechanism (a copy per table, kept here in queue_before_027/), so the mechanism's cost is
  measured against them in the same run.
- Peer: procrastinate, its own schema in a database of its own, a no-op async task (its
  cheapest kind), `run_worker_async(wait=False, concurrency=n)`.
- Floor: a bare loop over the same table as ours: one statement a batch that acknowledges
  the previous ten jobs and claims the next ten with FOR UPDATE SKIP LOCKED.

N workers are N concurrent drains: for ours and the floor, N threads each with its own
connection (as N Lambda invocations each hold one); for procrastinate, one worker running N
jobs at once, which is how procrastinate scales within a process. Only the drain is timed:
jobs are queued and connections opened beforehand. Variants take turns within each run (in
reverse order every other run), so a noisy neighbour on the machine slows them all alike.

Sizes: BENCH_DRAIN_JOBS (default 10,000 jobs a drain), BENCH_DRAIN_PEER_JOBS (procrastinate's,
default 2,000), BENCH_RUNS (at least 5). Rates are compared, so the sizes may differ.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import procrastinate
import psycopg
import pytest
from procrastinate.job_context import JobContext

from shared.core import db
from shared.core.sql import QUERIES, load_queries
from shared.jobs import queue as queue_mechanism
from shared.jobs.queue import run_queue
from shared.jobs.queues import ORDER_WORK
from tests.benchmarks.conftest import env_int, table
from tests.benchmarks.performance import Figure, Target, at_least, publish, runs_from_env
from tests.conftest import create_test_database, drop_test_database
from tests.fixtures import factories

JOBS = env_int("BENCH_DRAIN_JOBS", 10_000)
# procrastinate drains about 500 jobs/s here, 10,000 of them ten times would take four
# minutes; a rate measured on 2,000 is no lower than on 10,000 (see the notes).
PEER_JOBS = env_int("BENCH_DRAIN_PEER_JOBS", 2_000)
WORKER_COUNTS = (1, 4)
BATCH = 10
# Prepared statements: off as through Supabase's transaction pooler, or on from a
# statement's first run (psycopg's own default prepares after five).
PREPARED = {"off": None, "on": 0}

SEED = """
insert into order_jobs (order_id, kind, dedupe_key)
select %(order_id)s, 'finish_order', 'drain:' || g from generate_series(1, %(jobs)s) g
"""
OUTCOME = "select status, attempt_number, count(*) as n from order_jobs group by status, attempt_number"

# The floor: acknowledge the previous batch and claim the next in one statement. It keeps
# only what the table's constraints demand (a running row names its holder and lease).
CLAIM_AND_ACK = """
with acknowledged as (
    update order_jobs
    set status = 'succeeded', locked_until = null, locked_by = null, finished_at = now()
    where id = any(%(done)s::uuid[]) and status = 'running' and locked_by = %(worker)s
), next as (
    select id from order_jobs
    where status = 'pending' and run_after <= now()
    order by run_after
    limit %(batch_size)s
    for update skip locked
)
update order_jobs q
set status = 'running', attempt_number = q.attempt_number + 1, locked_by = %(worker)s,
    locked_until = now() + interval '5 minutes', started_at = now()
from next
where q.id = next.id
returning q.id
"""

# The baseline: the statements of branch `layout`, under the names the run loop calls now.
BEFORE_027 = {
    name.replace("order_work_", "queue_"): text
    for name, text in load_queries(Path(__file__).parent / "queue_before_027").items()
}

PEER_RESET = """
truncate procrastinate_events, procrastinate_periodic_defers, procrastinate_jobs, procrastinate_workers
restart identity
"""
PEER_OUTCOME = "select status::text, attempts, count(*) as n from procrastinate_jobs group by status, attempts"

NOTES = """
Run alone with `./restoreclick bench tests/benchmarks/test_queue_drain.py` (BENCH_DRAIN_JOBS,
BENCH_DRAIN_PEER_JOBS and BENCH_RUNS size it; the figures above say which sizes ran).

"Ours before 027" is the same run loop on the order_work statements of branch `layout`, the
per-table copies that migration 027's functions replaced (kept in
tests/benchmarks/queue_before_027/), so the one mechanism and what it replaced are measured
in the same run, turn by turn. A run asks the database once for its queue's two claim
statements (027's queue_claim_statement, the one place they are written) and sends them
itself with their numbered placeholders; the baseline sends the old copies the same way,
so a batch's round trip carries the same statement in both, and the ratio measures what
the rest of the mechanism costs (the sweep, heartbeat and final acknowledgement go through
027's PL/pgSQL functions, once a run or every lease/3). Calling 027's claiming functions
instead, as the first version of the mechanism did, ran the claim through PL/pgSQL's
EXECUTE, which formats and plans it on every call: 0.89× the copies with prepared
statements off, 0.98× on, in the run of 2026-12-01 13:53 UTC.

Ours is `run_queue` on the order_work queue with a no-op handler and concurrency 1, as
workers.py runs order_work: sweep, claims under a lease, attempts counted, heartbeat,
acknowledgements. "Prepared statements on" is `Database(prepare_threshold=0)`; off is our
default, as Supabase's transaction pooler requires. The bare loop is one statement a
batch on the same table. procrastinate runs a no-op async task (its cheapest kind) with
psycopg's default of preparing a statement after five runs, and a pool of n + 2
connections; its 4 workers are one worker of concurrency 4. It drains 2,000 jobs a run
(ten drains of 10,000 would take four minutes); in a side check, on a server without
fsync, its rate on 2,000 jobs (537–610 jobs/s) was no lower than on 10,000 (368–588), so
the smaller queue flatters it if anything. Ratios are taken run by run, every variant running once in each run,
in reverse order every other run.

Two cores are shared by PostgreSQL and every Python thread (one interpreter lock): four
workers add little over one for any of the three, and procrastinate's concurrency none,
since one event loop does all its Python and each job costs it a fetch and a finish round
trip. The server has its durability on (fsync, synchronous commit), so every commit waits
for the WAL flush, as on a real server: one statement a batch pays that once a batch,
procrastinate's fetch and finish once a job each.

Where ours falls short of the bare loop: both make the same updates, one statement a batch,
but ours returns the whole row a handler reads (order, kind, payload as JSON, times) where
the bare loop returns ids; decoding those rows (JSON, UUIDs, datetimes) is most of our own
Python time, and a heartbeat thread keeps the leases beside the loop. Profiled at 1
worker, 77% of our drain is waiting on PostgreSQL. Against procrastinate, the
ratio with 4 workers and prepared statements off sits just under the 20× target on a
durable server (medians of 19.8× and 19.1× in two full runs, rounds from 17.7× to 24.7×;
22.5× on a server without fsync): the gap is that per-row work.

What it took. First measured at 8× procrastinate and 0.47× the bare loop (4 workers,
prepared statements off), for two causes, both fixed in shared/:
1. The claims ordered by (run_after, id), while the partial index of pending jobs holds
   run_after alone, so every claim read and sorted every due job: 5 ms a claim with
   10,000 due against 0.2 ms now, and draining a backlog went quadratic. Ties on run_after
   are the rule, since jobs queued in one transaction share now(). The claims now order by
   run_after alone; jobs due at the same instant come in index order. The bare loop uses
   the same order, so it sped up as much.
2. Eight round trips a batch: BEGIN, the audit actor, the claim, COMMIT, and again for the
   acknowledgement. Claims and acknowledgements are single statements, now run on the
   autocommit connection (a statement is its own transaction, and none touches an order,
   so there is no actor to record), and a batch's acknowledgement rides in the statement
   that claims the next (`<queue>_complete_and_claim`): one round trip a batch, as the bare
   loop makes. A run of concurrency 1 also handles its jobs in its own thread instead of
   handing each to a pool of one.

With four workers a claim can deadlock with another worker's acknowledgement: SKIP
LOCKED does not stop a claim that meets a row claimed since it began from waiting while
it locks that row's newer versions. PostgreSQL rolls one of the statements back after
deadlock_timeout (1 s); the queue (since this benchmark) and the bare loop run it again,
and "deadlocks rerun" counts those over all runs. Each stalls its run for about a second.
"""


@dataclass(frozen=True)
class Drain:
    """One thing measured: a queue, its prepared-statement setting, how many workers."""

    queue: str  # "ours", "ours before 027", "procrastinate" or "bare loop"
    prepared: str  # "off", "on", or "default" (procrastinate's psycopg default: on after 5 runs)
    workers: int


DRAINS = [
    *(
        Drain(queue, prepared, n)
        for queue in ("ours", "ours before 027", "bare loop")
        for prepared in PREPARED
        for n in WORKER_COUNTS
    ),
    *(Drain("procrastinate", "default", n) for n in WORKER_COUNTS),
]


def timed_threads(workers: int, work: Callable[[int, Callable[[], None]], None]) -> float:
    """Seconds from the moment `workers` threads are all ready until the last one ends.

    Thread `i` runs `work(i, ready)` and calls `ready()` once its connection is open, so
    connecting is not timed."""
    barrier = threading.Barrier(workers + 1)
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            work(index, barrier.wait)
        except BaseException as exc:
            errors.append(exc)
            barrier.abort()  # a thread that failed before it was ready must not hang the others

    threads = [threading.Thread(target=run, args=(i,), name=f"drain-{i}") for i in range(workers)]
    for thread in threads:
        thread.start()
    with contextlib.suppress(threading.BrokenBarrierError):
        barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise errors[0]
    return elapsed


def seed_ours(url: str, order_id: object) -> None:
    with db.connect(url) as conn:
        conn.execute("truncate order_jobs")
        conn.execute(SEED, {"order_id": order_id, "jobs": JOBS})
        conn.execute("vacuum analyze order_jobs")


class DeadlockReruns(logging.Handler):
    """Counts the statements our queue ran again after PostgreSQL broke a deadlock (it logs each)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += "deadlock" in record.getMessage()


def drain_ours(url: str, workers: int, prepared: str) -> tuple[float, list[object], int]:
    """Our run loop, `workers` of them at once, each as a worker runs order_work."""
    database = db.Database(url, application_name="bench-drain-ours", prepare_threshold=PREPARED[prepared])
    handled: list[object] = []
    claimed: list[int] = []
    reruns = DeadlockReruns()

    def work(index: int, ready: Callable[[], None]) -> None:
        database.connection()  # this thread's, opened before the clock starts
        ready()
        report = run_queue(
            database,
            ORDER_WORK,
            lambda job: handled.append(job["id"]),  # the no-op job
            time_left=lambda: 3600.0,
            batch_size=BATCH,
            concurrency=1,  # as workers.py runs order_work
            worker=f"bench-drain-{index}",
        )
        assert not report.errors and report.succeeded == report.claimed
        claimed.append(report.claimed)

    queue_log = logging.getLogger("restoreclick.queue")
    queue_log.addHandler(reruns)
    try:
        seconds = timed_threads(workers, work)
    finally:
        queue_log.removeHandler(reruns)
        database.close_all()
    assert sum(claimed) == JOBS
    return seconds, handled, reruns.count


def drain_bare(url: str, workers: int, prepared: str) -> tuple[float, list[object], int]:
    """The floor: claim ten, run them, acknowledge them with the next claim."""
    handled: list[object] = []
    reruns: list[int] = []

    def work(index: int, ready: Callable[[], None]) -> None:
        done: list[object] = []
        params = {"worker": f"bare-{index}", "batch_size": BATCH}
        with db.connect(url, application_name="bench-drain-bare", prepare_threshold=PREPARED[prepared]) as conn:
            ready()
            while True:
                try:
                    jobs = conn.execute(CLAIM_AND_ACK, params | {"done": done}).fetchall()
                except psycopg.errors.DeadlockDetected:
                    reruns.append(index)
                    continue  # rolled back whole: run it again, as ours does (see shared/jobs/queue.py)
                if not jobs:
                    break  # that statement acknowledged the last batch
                for job in jobs:
                    handled.append(job["id"])  # the no-op job
                done = [job["id"] for job in jobs]

    return timed_threads(workers, work), handled, len(reruns)


def drain_procrastinate(url: str, workers: int) -> tuple[float, list[object]]:
    """procrastinate's worker with `workers` jobs at once, until the queue is empty."""
    handled: list[object] = []
    # One pooled connection per job in flight, and spare ones for the worker's own upkeep.
    connector = procrastinate.PsycopgConnector(conninfo=url, min_size=workers + 2, max_size=workers + 2)
    app = procrastinate.App(connector=connector)

    @app.task(name="noop", pass_context=True)
    async def noop(context: JobContext) -> None:
        handled.append(context.job.id)

    async def queue_and_drain() -> float:
        async with app.open_async():
            await noop.batch_defer_async(*({} for _ in range(PEER_JOBS)))
            vacuum_analyze(url, "procrastinate_jobs")
            started = time.perf_counter()
            await app.run_worker_async(wait=False, concurrency=workers, install_signal_handlers=False)
            return time.perf_counter() - started

    with db.connect(url) as conn:
        conn.execute(PEER_RESET)
    return asyncio.run(queue_and_drain()), handled


def vacuum_analyze(url: str, table_name: str) -> None:
    with db.connect(url) as conn:
        conn.execute(f"vacuum analyze {table_name}")


def outcome(url: str, query: str) -> list[tuple[Any, ...]]:
    with db.connect(url) as conn:
        return sorted(tuple(row.values()) for row in conn.execute(query).fetchall())


def measure(drain: Drain, url: str, peer_url: str, order_id: object) -> tuple[float, int]:
    """One drain of a freshly seeded queue, once every job ran exactly once: its jobs per
    second, and how many statements were run again after a deadlock (each costs a 1 s wait)."""
    if drain.queue == "procrastinate":
        seconds, handled = drain_procrastinate(peer_url, drain.workers)
        # Every job succeeded on its first attempt, and the task ran once per job.
        assert outcome(peer_url, PEER_OUTCOME) == [("succeeded", 1, PEER_JOBS)]
        assert len(handled) == len(set(handled)) == PEER_JOBS
        return PEER_JOBS / seconds, 0
    seed_ours(url, order_id)
    if drain.queue == "bare loop":
        seconds, handled, reruns = drain_bare(url, drain.workers, drain.prepared)
    else:
        with statements_before_027() if drain.queue == "ours before 027" else contextlib.nullcontext():
            seconds, handled, reruns = drain_ours(url, drain.workers, drain.prepared)
    # Every job ran exactly once, on its first attempt, and none is left pending or running.
    assert outcome(url, OUTCOME) == [("succeeded", 1, JOBS)]
    assert len(handled) == len(set(handled)) == JOBS
    return JOBS / seconds, reruns


# The claims' placeholders, as migration 027's queue_claim_statement numbers them.
CLAIM_PARAMETERS = {"%(worker)s": "$1", "%(ids)s": "$2", "%(lease_seconds)s": "$3", "%(batch_size)s": "$4"}


def numbered(text: str) -> str:
    """A named query's text with the claims' numbered placeholders: the same statement on
    the wire, as psycopg numbers them in order before it sends one."""
    for named, number in CLAIM_PARAMETERS.items():
        text = text.replace(named, number)
    assert "%(" not in text, text
    return text


@contextlib.contextmanager
def statements_before_027() -> Iterator[None]:
    """The run loop on the old per-table statements: same Python, the SQL as it was."""
    now = {name: QUERIES[name] for name in BEFORE_027 if name in QUERIES}
    QUERIES.update(BEFORE_027)
    before = queue_mechanism.ClaimStatements(
        claim=db.Statement("queue_claim", numbered(BEFORE_027["queue_claim"])),
        complete_and_claim=db.Statement("queue_complete_and_claim", numbered(BEFORE_027["queue_complete_and_claim"])),
    )
    asked = queue_mechanism.claim_statements
    setattr(queue_mechanism, "claim_statements", lambda database, definition: before)  # noqa: B010
    try:
        yield
    finally:
        for name in BEFORE_027.keys() - now.keys():  # the claims, which have no named query now
            del QUERIES[name]
        QUERIES.update(now)
        setattr(queue_mechanism, "claim_statements", asked)  # noqa: B010


def ratio(over: list[float], under: list[float]) -> Figure:
    """Run-by-run ratios: the variants of one run shared the machine's mood."""
    return Figure.of([a / b for a, b in zip(over, under, strict=True)])


@pytest.fixture
def peer_database_url(admin_url: str) -> Iterator[str]:
    """A database of procrastinate's own, with its schema."""
    url = create_test_database(admin_url)
    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=url))
    with app.open():
        app.schema_manager.apply_schema()
    yield url
    drop_test_database(admin_url, url)


def test_queue_drain(database_url: str, peer_database_url: str, report: Callable[[str], None]) -> None:
    with db.connect(database_url) as conn:
        order_id = factories.order(conn, status="processing")["id"]
    runs = runs_from_env()
    rates: dict[Drain, list[float]] = {drain: [] for drain in DRAINS}
    reruns = dict.fromkeys(DRAINS, 0)
    started = time.perf_counter()
    for run in range(runs):
        # Every other run takes the variants in reverse order, so a drift over a run (the
        # WAL growing towards a checkpoint, autovacuum waking) falls on none of them alone.
        for drain in DRAINS if run % 2 == 0 else DRAINS[::-1]:
            jobs_per_second, reran = measure(drain, database_url, peer_database_url, order_id)
            rates[drain].append(jobs_per_second)
            reruns[drain] += reran
    total_seconds = time.perf_counter() - started

    def rate(queue: str, prepared: str, workers: int) -> list[float]:
        return rates[Drain(queue, prepared, workers)]

    rows: list[dict[str, object]] = [
        {
            "queue": d.queue,
            "prepared statements": d.prepared,
            "workers": d.workers,
            "jobs": f"{PEER_JOBS if d.queue == 'procrastinate' else JOBS:,}",
            "jobs/s": Figure.of(values).show(digits=0),
            "deadlocks rerun": "–" if d.queue == "procrastinate" else reruns[d],
        }
        for d, values in rates.items()
    ]
    ratios: dict[tuple[str, int, str], Figure] = {}
    ratio_rows: list[dict[str, object]] = []
    for prepared in PREPARED:
        for workers in WORKER_COUNTS:
            ours = rate("ours", prepared, workers)
            ratios["peer", workers, prepared] = ratio(ours, rate("procrastinate", "default", workers))
            ratios["bare", workers, prepared] = ratio(ours, rate("bare loop", prepared, workers))
            ratios["before", workers, prepared] = ratio(ours, rate("ours before 027", prepared, workers))
            ratio_rows.append(
                {
                    "ours, prepared statements": prepared,
                    "workers": workers,
                    "ours ÷ procrastinate": ratios["peer", workers, prepared].show(digits=1) + "×",
                    "ours ÷ bare loop": ratios["bare", workers, prepared].show(digits=2) + "×",
                    "ours ÷ ours before 027": ratios["before", workers, prepared].show(digits=2) + "×",
                    # Where the two send the same statement a batch, a median near 1 says
                    # little alone: how often each was the faster says whether it is a tie.
                    "runs ours faster than before 027": "{} of {}".format(
                        sum(r > 1 for r in ratios["before", workers, prepared].values), runs
                    ),
                }
            )
    targets: list[Target] = [
        at_least(
            "ours ≥ 15× procrastinate's jobs/s with 4 workers, prepared statements off (issue 16)",
            ratios["peer", 4, "off"].median,
            15,
        )
    ]
    for prepared in PREPARED:
        targets.append(
            at_least(
                f"ours no slower than ours before 027 with 4 workers, prepared statements {prepared}",
                ratios["before", 4, prepared].median,
                1.0,
            )
        )
        targets.append(
            at_least(
                f"ours ≥ 20× procrastinate's jobs/s with 4 workers, prepared statements {prepared}",
                ratios["peer", 4, prepared].median,
                20,
            )
        )
        targets.append(
            at_least(
                f"ours ≥ 0.5× the bare loop's jobs/s with 4 workers, prepared statements {prepared}",
                ratios["bare", 4, prepared].median,
                0.5,
            )
        )

    title = f"queue drain, {JOBS:,} no-op jobs (procrastinate {PEER_JOBS:,}), {runs} runs"
    report(table(title, rows))
    report(table("ratios, run by run", ratio_rows))
    report("\n".join(t.line() for t in targets) + f"\n{total_seconds:.0f} s for all runs")
    publish(
        "queue-drain",
        "Queue drain",
        [
            (f"Jobs per second draining {JOBS:,} no-op jobs (procrastinate: {PEER_JOBS:,}), median (min–max)", rows),
            ("Ours over the others, run by run (each run measures every variant in turn)", ratio_rows),
        ],
        targets,
        database_url=database_url,
        notes=NOTES,
    )
