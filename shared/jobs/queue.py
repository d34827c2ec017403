"""One queue mechanism for every kind of background work (restoration, email, order work).

A run: sweep expired leases back to pending, then claim batches (FOR UPDATE SKIP LOCKED,
in SQL), handle each job with bounded concurrency while a heartbeat extends the leases,
acknowledge the finished ones in the statement that claims the next batch (one round trip
a batch), and schedule retries with capped exponential backoff and full jitter. It stops
claiming when the time left is below a safety margin and releases what it claimed but did
not start.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from shared.core import db
from shared.core.error_log import record_job_failure
from shared.core.errors import ServiceUnavailable

log = logging.getLogger("restoreclick.queue")

Job = dict[str, Any]
T = TypeVar("T")


class TerminalJobError(Exception):
    """Retrying cannot help (a photo that cannot be decoded, an address that bounces)."""


# What a handler returns when its job now waits on an outside provider's callback: the
# handler moved the job's lease to the provider, so the run neither completes nor releases it.
HANDED_OFF = "handed_off"


@dataclass(frozen=True)
class Queue:
    """A queue: its table and the states a job passes through there, and how it retries.

    Every queue runs on the same statements (shared/jobs/queue.sql, over the functions of
    migration 027); what sets one apart is only this definition. shared/jobs/queues.py
    holds the shop's."""

    name: str
    table: str  # schema-qualified, with the queue columns (see migration 027)
    claimed: str = "running"  # the status of a job a worker holds
    done: str = "succeeded"  # the status of a job completed
    base_delay_seconds: float = 30.0
    max_delay_seconds: float = 3600.0
    lease_seconds: int = 300

    def states(self) -> dict[str, str]:
        """The parameters that name this queue to every statement."""
        return {"table": self.table, "claimed": self.claimed, "done": self.done}


@dataclass
class RunReport:
    queue: str
    worker: str
    swept: int = 0
    claimed: int = 0
    succeeded: int = 0
    retried: int = 0
    dead: int = 0
    released: int = 0
    handed_off: int = 0
    stopped_for_time: bool = False
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "errors"} | {"errors": self.errors[:20]}


def worker_name(kind: str) -> str:
    """Unique per run: the lease says which process holds a job."""
    return f"{kind}:{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def backoff_seconds(attempt: int, base: float, cap: float) -> float:
    """Full jitter: uniform over [0, min(cap, base * 2^(attempt-1))]."""
    return random.uniform(0, min(cap, base * 2 ** max(0, attempt - 1)))


def sweep_expired_leases(database: db.Database, queue: Queue) -> int:
    with database.transaction(actor="sweeper") as conn:
        return len(db.all_rows(conn, "queue_sweep", **queue.states()))


class _Heartbeat:
    """Extends the leases of the jobs a run holds, so a long job is not swept from under it."""

    def __init__(self, database: db.Database, queue: Queue, worker: str) -> None:
        self.database, self.queue, self.worker = database, queue, worker
        self.ids: set[str] = set()
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._beat, daemon=True, name=f"heartbeat-{queue.name}")

    def _beat(self) -> None:
        try:
            self._beat_until_stopped()
        finally:
            self.database.close()  # this thread's connection ends with it

    def _beat_until_stopped(self) -> None:
        interval = max(1.0, self.queue.lease_seconds / 3)
        while not self.stop.wait(interval):
            with self.lock:
                ids = list(self.ids)
            if not ids:
                continue
            try:
                with self.database.transaction() as conn:
                    db.execute(
                        conn,
                        "queue_heartbeat",
                        **self.queue.states(),
                        ids=ids,
                        worker=self.worker,
                        lease_seconds=self.queue.lease_seconds,
                    )
            except Exception:
                log.warning("heartbeat failed for %s", self.queue.name, exc_info=True)

    def __enter__(self) -> _Heartbeat:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=5)


def run_queue(
    database: db.Database,
    queue: Queue,
    handle: Callable[[Job], object],
    *,
    time_left: Callable[[], float],
    safety_margin_seconds: float = 20.0,
    batch_size: int = 10,
    concurrency: int = 2,
    worker: str | None = None,
    max_batches: int | None = None,
) -> RunReport:
    """Drain `queue` with `handle` until it is empty or the time left runs low."""
    worker = worker or worker_name(queue.name)
    report = RunReport(queue.name, worker)
    report.swept = sweep_expired_leases(database, queue)
    claims = claim_statements(database.connection(), queue)
    batches = 0
    succeeded: list[str] = []  # handled, not yet acknowledged: that rides with the next claim
    with _Heartbeat(database, queue, worker) as heartbeat, ThreadPoolExecutor(concurrency) as pool:
        while time_left() > safety_margin_seconds and (max_batches is None or batches < max_batches):
            jobs = _complete_and_claim(database, queue, claims, worker, succeeded, batch_size)
            report.succeeded += len(succeeded)
            succeeded = []
            if not jobs:
                break
            batches += 1
            report.claimed += len(jobs)
            with heartbeat.lock:
                heartbeat.ids.update(str(j["id"]) for j in jobs)

            def handle_one(job: Job) -> str:
                return _handle_one(database, queue, handle, job, worker, time_left, safety_margin_seconds, report)

            # One job at a time needs no pool: this thread runs them in turn, as a pool of one
            # would, without handing each job to another thread and its outcome back.
            outcomes = [handle_one(job) for job in jobs] if concurrency == 1 else list(pool.map(handle_one, jobs))
            succeeded = [str(job["id"]) for job, outcome in zip(jobs, outcomes, strict=True) if outcome == "succeeded"]
            released = [str(job["id"]) for job, outcome in zip(jobs, outcomes, strict=True) if outcome == "released"]
            if released:  # the time ran low: the run ends here, so acknowledge at once
                _acknowledge(database, queue, worker, done=succeeded, released=released)
                report.succeeded += len(succeeded)
                succeeded = []
            report.released += len(released)
            report.retried += outcomes.count("retried")
            report.dead += outcomes.count("dead")
            report.handed_off += outcomes.count(HANDED_OFF)
            with heartbeat.lock:
                heartbeat.ids.difference_update(str(j["id"]) for j in jobs)
        _acknowledge(database, queue, worker, done=succeeded, released=[])
        report.succeeded += len(succeeded)
        report.stopped_for_time = time_left() <= safety_margin_seconds
    return report


# Claims and acknowledgements are single statements, run on the autocommit connection,
# where a statement is a transaction of its own: BEGIN and COMMIT around one would cost two
# more round trips and add no atomicity. None touches an order, so there is no actor to
# record for the audit trail.


@dataclass(frozen=True)
class ClaimStatements:
    """A queue's two claims as the database writes them (migration 027's
    queue_claim_statement), with its placeholders: $1 worker, $2 ids to complete, $3 lease
    seconds, $4 batch size."""

    claim: db.Statement
    complete_and_claim: db.Statement

    def run(
        self, conn: db.Connection, *, worker: str, completing: list[str], lease_seconds: int, batch_size: int
    ) -> list[Job]:
        """Claim a batch for `worker`; with `completing`, complete those jobs of its in the
        same statement."""
        if completing:
            return db.all_rows_of(conn, self.complete_and_claim, worker, completing, lease_seconds, batch_size)
        # The bare claim never reads $2; sent typed, or the server cannot plan the statement.
        unused = db.null_of(conn, "uuid[]")
        return db.all_rows_of(conn, self.claim, worker, unused, lease_seconds, batch_size)


def claim_statements(conn: db.Connection, queue: Queue) -> ClaimStatements:
    """Asked once a run. The claims are sent as statements, not as calls of the functions
    queue_claim and queue_complete_and_claim: those build the same text and EXECUTE it,
    which formats and plans it inside PL/pgSQL on every call, and the drain benchmark
    measured that costing about a tenth of the rate (docs/performance.md)."""
    row = db.one(conn, "queue_claim_statements", **queue.states())
    return ClaimStatements(
        claim=db.Statement("queue_claim", row["claim"]),
        complete_and_claim=db.Statement("queue_complete_and_claim", row["complete_and_claim"]),
    )


def _complete_and_claim(
    database: db.Database,
    queue: Queue,
    claims: ClaimStatements,
    worker: str,
    succeeded: list[str],
    batch_size: int,
) -> list[Job]:
    """Acknowledge the jobs of the last batch that succeeded and claim the next batch, in
    one statement: a round trip a batch, as a bare claim loop makes."""

    def claim() -> list[Job]:
        return claims.run(
            database.connection(),
            worker=worker,
            completing=succeeded,
            lease_seconds=queue.lease_seconds,
            batch_size=batch_size,
        )

    try:
        return _rerun_deadlock_victims(claim)
    except Exception:
        if succeeded:
            # The failed claim took the acknowledgement with it; those jobs did succeed,
            # so acknowledge them on their own before the error ends the run.
            _acknowledge(database, queue, worker, done=succeeded, released=[])
        raise


def _acknowledge(database: db.Database, queue: Queue, worker: str, *, done: list[str], released: list[str]) -> None:
    """Complete the jobs that succeeded and release those not started, in one transaction."""
    statements = [(f"queue_{action}", ids) for action, ids in (("complete", done), ("release", released)) if ids]

    def run() -> None:
        if len(statements) == 1:
            [(name, ids)] = statements
            db.execute(database.connection(), name, **queue.states(), ids=ids, worker=worker)
        elif statements:
            with database.transaction() as conn:
                for name, ids in statements:
                    db.execute(conn, name, **queue.states(), ids=ids, worker=worker)

    _rerun_deadlock_victims(run)


DEADLOCK_DETECTED = "40P01"  # PostgreSQL's SQLSTATE for a statement rolled back to break a deadlock
DEADLOCK_ATTEMPTS = 3


def _rerun_deadlock_victims(statement: Callable[[], T]) -> T:
    """Run a claim or an acknowledgement, again if PostgreSQL rolled it back to break a deadlock.

    SKIP LOCKED does not keep a claim from waiting on a row that another run claimed since
    the claim began: PostgreSQL then locks the row's newer versions, waiting for whoever is
    updating them, such as that run acknowledging it. That run may in turn wait for a row
    the claim has locked, and PostgreSQL breaks the cycle by rolling one statement back
    whole; it did nothing, so it is run again."""
    for attempt in range(1, DEADLOCK_ATTEMPTS + 1):
        try:
            return statement()
        except ServiceUnavailable as exc:
            if attempt == DEADLOCK_ATTEMPTS or getattr(exc.__cause__, "sqlstate", None) != DEADLOCK_DETECTED:
                raise
            log.warning("queue statement chosen to break a deadlock; running it again (attempt %s)", attempt + 1)
    raise AssertionError("unreachable")


def _handle_one(
    database: db.Database,
    queue: Queue,
    handle: Callable[[Job], object],
    job: Job,
    worker: str,
    time_left: Callable[[], float],
    margin: float,
    report: RunReport,
) -> str:
    if time_left() <= margin:
        return "released"  # not started: give it back without counting the attempt
    try:
        return HANDED_OFF if handle(job) == HANDED_OFF else "succeeded"
    except Exception as exc:
        terminal = isinstance(exc, TerminalJobError)
        message = f"{type(exc).__name__}: {exc}"
        log.warning(
            "%s job %s failed (attempt %s): %s",
            queue.name,
            job["id"],
            job["attempt_number"],
            message,
            extra={"queue": queue.name, "job_id": str(job["id"]), "order_id": str(job.get("order_id") or "")},
        )
        status = fail_job(database, queue, job, worker, message, terminal=terminal)
        record_job_failure(database, queue.name, job["id"], message, status)
        report.errors.append(message)  # list.append is atomic; counts are kept by the caller
        return "dead" if status == "dead" else "retried"


def complete_jobs(conn: db.Connection, queue: Queue, ids: list[str], holder: str) -> int:
    """Complete jobs `holder` holds (a run, or a prediction a job was handed to); how many were."""
    return int(db.one(conn, "queue_complete", **queue.states(), ids=ids, worker=holder)["completed"])


def fail_job(database: db.Database, queue: Queue, job: Job, holder: str, error: str, *, terminal: bool) -> str | None:
    """Record a failed attempt of a job `holder` holds: retried after a backoff, or dead.

    Returns the job's new status, None when `holder` no longer held it (its lease was swept).
    """
    with database.transaction(actor=holder) as conn:
        row = db.maybe_one(
            conn, "queue_fail", **queue.states(),
            id=str(job["id"]), worker=holder, terminal=terminal, error=error,
            retry_in_seconds=backoff_seconds(job["attempt_number"], queue.base_delay_seconds, queue.max_delay_seconds),
        )  # fmt: skip
    return None if row is None else str(row["status"])


def deadline_in(seconds: float) -> Callable[[], float]:
    """A `time_left` for runs outside Lambda (`--max-seconds`)."""
    end = time.monotonic() + seconds
    return lambda: end - time.monotonic()
