"""Restoration queue claim latency with many finished jobs behind the pending ones.

The claim (as migration 027 writes it for the restoration queue) should be served by the partial index of
pending rows (`restoration_jobs_claimable_idx`), so its cost follows the pending rows,
not the finished ones. Prints claim latency p50/p95 as a worker sees it (BEGIN, claim,
COMMIT), the same without the partial index for contrast, and the EXPLAIN plan.

Sizes: BENCH_FINISHED_ROWS (default 1,000,000 succeeded jobs), BENCH_PENDING_ROWS
(default 5,000), BENCH_CLAIMS (default 200 claims of a batch of 10).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable

from psycopg import sql

from shared.core import db
from shared.jobs.queue import claim_statements
from shared.jobs.queues import RESTORATION
from tests.benchmarks.conftest import env_int, summary_ms, table
from tests.fixtures import factories
from tests.fixtures.queue_plans import explain_claim as explain_claim_statement

FINISHED = env_int("BENCH_FINISHED_ROWS", 1_000_000)
PENDING = env_int("BENCH_PENDING_ROWS", 5_000)
CLAIMS = env_int("BENCH_CLAIMS", 200)
BATCH = 10
IMAGES_PER_ORDER = 200
# Finished jobs spread over this many original images (one job per image per attempt in
# real life; a pool keeps setup quick while every foreign key still points somewhere real).
IMAGE_POOL = max(PENDING, 10_000)
STATEMENT_CLAIMS = 20
WORKER = "bench-worker"
WARMUP = 5
# The plan node that finds the pending rows (not the join back on the primary key).
SCAN = re.compile(r"Scan.* on restoration_jobs$")
# Without the claimable index the planner falls back to the other partial index holding the
# pending rows (the unique one on active images); without both, it reads every row.
VARIANTS = {
    "claim statement": (),
    "claim, claimable_idx dropped": ("restoration_jobs_claimable_idx",),
    "claim, both partial idx dropped": ("restoration_jobs_claimable_idx", "restoration_jobs_active_image_key"),
}


def seed(conn: db.Connection) -> None:
    """Orders, their original images, FINISHED succeeded jobs and PENDING pending ones."""
    for _ in range(-(-IMAGE_POOL // IMAGES_PER_ORDER)):
        factories.order(conn, image_count=IMAGES_PER_ORDER, status="processing")
    conn.execute(
        """
        insert into file_uploads (upload_session_id, storage_path, filename, content_type, size_bytes, sha256,
                                  width, height, status, order_id, expires_at)
        select o.upload_session_id, 'uploads/temp/' || o.upload_session_id || '/' || g || '.jpg',
               'photo' || g || '.jpg', 'image/jpeg', 250000, repeat('a', 64), 1600, 1200, 'claimed', o.id,
               now() + interval '2 days'
        from orders o cross join generate_series(1, %(per_order)s) g
        """,
        {"per_order": IMAGES_PER_ORDER},
    )
    conn.execute(
        """
        insert into images (order_id, type, file_upload_id, storage_path, filename, content_type, size_bytes,
                            width, height, stored_at)
        select order_id, 'original', id, 'uploads/originals/' || order_id || '/' || id || '.jpg', filename,
               content_type, size_bytes, width, height, now()
        from file_uploads
        """
    )
    # Finished jobs, oldest first, five seconds apart: months of history. Every foreign key
    # points at a row made above by construction, so the per-row FK triggers (most of the
    # cost of a million-row insert) are skipped for this statement alone.
    conn.execute("set session_replication_role = replica")
    conn.execute(
        """
        with pool as (
            select id, order_id, row_number() over (order by id) - 1 as n from images where type = 'original'
        )
        insert into restoration_jobs (order_id, image_id, status, attempt_number, run_after, started_at,
                                      finished_at, created_at, provider)
        select p.order_id, p.id, 'succeeded', 1, t.at, t.at, t.at + interval '20 seconds', t.at, 'local'
        from generate_series(0, %(finished)s - 1) g
        join pool p on p.n = mod(g, %(pool)s)
        cross join lateral (select now() - (%(finished)s - g) * interval '5 seconds' as at) t
        """,
        {"finished": FINISHED, "pool": IMAGE_POOL},
    )
    conn.execute("reset session_replication_role")
    conn.execute(
        """
        insert into restoration_jobs (order_id, image_id, run_after)
        select order_id, id, now() - random() * interval '1 hour'
        from images where type = 'original' order by id limit %(pending)s
        """,
        {"pending": PENDING},
    )
    conn.execute("vacuum analyze restoration_jobs")


def status_counts(conn: db.Connection) -> dict[str, int]:
    rows = conn.execute("select status, count(*) as n from restoration_jobs group by status").fetchall()
    return {row["status"]: row["n"] for row in rows}


def claim_params() -> dict[str, object]:
    return {"batch_size": BATCH, "lease_seconds": 300, "worker": WORKER}


def claim(conn: db.Connection) -> list[dict[str, object]]:
    """The restoration claim, as the run loop sends it."""
    return claim_statements(conn, RESTORATION).run(
        conn, worker=WORKER, completing=[], lease_seconds=300, batch_size=BATCH
    )


def timed_claims(database: db.Database, count: int) -> tuple[list[float], list[str]]:
    """`count` claims as the worker makes them, each acknowledged right after."""
    latencies, claimed = [], []
    for _ in range(count):
        started = time.perf_counter()
        with database.transaction(actor=WORKER) as conn:
            jobs = claim(conn)
        latencies.append(time.perf_counter() - started)
        ids = [str(j["id"]) for j in jobs]
        claimed += ids
        with database.transaction(actor=WORKER) as conn:
            db.execute(conn, "queue_complete", **RESTORATION.states(), ids=ids, worker=WORKER)
    return latencies, claimed


def statement_claims(url: str, count: int, *, drop: tuple[str, ...] = ()) -> tuple[list[float], str]:
    """The claim statement alone, each in a savepoint rolled back (the pending rows stay
    pending); inside a transaction that dropped the indexes named in `drop`, rolled back too.
    Returns the latencies and how the plan reaches the pending rows."""
    latencies = []
    with db.connect(url) as conn, conn.transaction(force_rollback=True):
        for index in drop:
            conn.execute(sql.SQL("drop index {}").format(sql.Identifier(index)))
        plan = explain_claim_statement(
            conn, RESTORATION, completing=False, options="(costs off)", params=claim_params()
        )
        access = next(line for row in plan if SCAN.search(line := row["QUERY PLAN"].strip(" ->")))
        access = access.removesuffix(" on restoration_jobs")
        for _ in range(count):
            with conn.transaction(force_rollback=True):
                started = time.perf_counter()
                jobs = claim(conn)
                latencies.append(time.perf_counter() - started)
                assert len(jobs) == BATCH
    return latencies, access


def explain_claim(url: str) -> str:
    with db.connect(url) as conn, conn.transaction(force_rollback=True):
        plan = explain_claim_statement(
            conn, RESTORATION, completing=False, options="(analyze, buffers, costs off, summary off)",
            params=claim_params(),
        )  # fmt: skip
    return "\n".join(row["QUERY PLAN"] for row in plan)


def test_claim_latency_with_many_finished_jobs(database_url: str, report: Callable[[str], None]) -> None:
    assert (WARMUP + CLAIMS) * BATCH < PENDING, "BENCH_PENDING_ROWS must exceed (BENCH_CLAIMS + 5) * 10"
    started = time.perf_counter()
    with db.connect(database_url) as conn:
        seed(conn)
        counts = status_counts(conn)
    setup_seconds = time.perf_counter() - started
    assert counts == {"succeeded": FINISHED, "pending": PENDING}

    plan = explain_claim(database_url)
    with db.connect(database_url) as conn:
        oldest = conn.execute(
            "select id from restoration_jobs where status = 'pending' order by run_after, id limit %s",
            [(WARMUP + CLAIMS) * BATCH],
        ).fetchall()
    database = db.Database(database_url, application_name="bench-claim")
    try:
        _, warm = timed_claims(database, WARMUP)  # warm the connection and the caches
        latencies, claimed = timed_claims(database, CLAIMS)
    finally:
        database.close_all()
    variants = {name: statement_claims(database_url, STATEMENT_CLAIMS, drop=drop) for name, drop in VARIANTS.items()}

    # Correctness: every claim took a full batch of distinct pending jobs, oldest first.
    assert len(claimed) == len(set(claimed)) == CLAIMS * BATCH
    assert set(warm + claimed) == {str(row["id"]) for row in oldest}
    with db.connect(database_url) as conn:
        after = status_counts(conn)
    assert after == {"succeeded": FINISHED + (CLAIMS + WARMUP) * BATCH, "pending": PENDING - (CLAIMS + WARMUP) * BATCH}
    assert "restoration_jobs_claimable_idx" in plan

    report(f"\n-- EXPLAIN (ANALYZE, BUFFERS) of the restoration claim, {FINISHED:,} finished rows --\n{plan}")
    sizes = {"finished rows": f"{FINISHED:,}", "pending rows": f"{PENDING:,}"}
    rows = [("BEGIN+claim+COMMIT", variants["claim statement"][1], CLAIMS, latencies)]
    rows += [(name, access, STATEMENT_CLAIMS, values) for name, (values, access) in variants.items()]
    report(
        table(
            "restoration claim, batch of 10",
            [sizes | {"measured": m, "claims": n} | summary_ms(values) | {"access": a} for m, a, n, values in rows],
        )
        + f"setup: {setup_seconds:.1f} s (BENCH_FINISHED_ROWS={FINISHED}, BENCH_PENDING_ROWS={PENDING})"
    )
