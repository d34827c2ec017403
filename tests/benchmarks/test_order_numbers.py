"""Order-number allocation throughput with N threads allocating at once.

Each allocation is what the webhook does: its own transaction, the upsert on the day's
counter row (shared/orders/numbers.sql, `next_order_number`), commit. The row lock is held
until commit, so allocations for one day are serialised by design; the figures show what
that costs as threads are added. Each thread count gets its own day, so each run can be
checked to be exactly 1..total: unique and gap-free.

Sizes: BENCH_ORDER_NUMBER_THREADS (default "1,2,4,8,16"), BENCH_ORDER_NUMBERS (default
4,000 allocations per thread count).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from shared.core import db
from shared.orders.numbers import next_order_number
from tests.benchmarks.conftest import env_int, summary_ms, table

THREADS = [int(n) for n in os.environ.get("BENCH_ORDER_NUMBER_THREADS", "1,2,4,8,16").split(",")]
TOTAL = env_int("BENCH_ORDER_NUMBERS", 4_000)
FIRST_DAY = datetime(2031, 1, 1, 12, tzinfo=UTC)


def allocate(database: db.Database, threads: int, day: datetime) -> tuple[float, list[float], list[str]]:
    """TOTAL allocations for `day` shared among `threads`; (seconds, latencies, numbers)."""
    per_thread = [TOTAL // threads + (1 if i < TOTAL % threads else 0) for i in range(threads)]
    numbers: list[str] = []
    latencies: list[float] = []
    lock = threading.Lock()
    start = threading.Barrier(threads + 1)
    failures: list[BaseException] = []

    def work(count: int) -> None:
        mine, times = [], []
        try:
            with database.transaction() as conn:  # open this thread's connection before the clock starts
                conn.execute("select 1")
            start.wait()
            for _ in range(count):
                began = time.perf_counter()
                with database.transaction() as conn:
                    mine.append(next_order_number(conn, day))
                times.append(time.perf_counter() - began)
        except BaseException as exc:
            failures.append(exc)
            start.abort()
        with lock:
            numbers.extend(mine)
            latencies.extend(times)

    workers = [threading.Thread(target=work, args=(n,)) for n in per_thread]
    for worker in workers:
        worker.start()
    start.wait()
    began = time.perf_counter()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - began
    assert not failures, failures
    return elapsed, latencies, numbers


def test_order_number_allocation_throughput(database_url: str, report: Callable[[str], None]) -> None:
    database = db.Database(database_url, application_name="bench-order-numbers")
    rows = []
    try:
        for n, threads in enumerate(THREADS):
            day = FIRST_DAY + timedelta(days=n)
            elapsed, latencies, numbers = allocate(database, threads, day)
            # Correctness: exactly 1..TOTAL for the day, each once.
            assert sorted(numbers) == [f"{day:%Y%m%d}-{i:06d}" for i in range(1, TOTAL + 1)]
            rows.append(
                {
                    "threads": threads,
                    "allocations": TOTAL,
                    "seconds": f"{elapsed:.2f}",
                    "per second": f"{TOTAL / elapsed:,.0f}",
                    **summary_ms(latencies),
                }
            )
    finally:
        database.close_all()
    report(table("order-number allocation (one transaction each, one day's counter)", rows))
