"""Order numbers are YYYYMMDD-NNNNNN per UTC day, unique and gap-free under concurrency."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta, timezone

from shared.core import db
from shared.orders.numbers import next_order_number


def test_numbers_count_per_utc_day(database: db.Database) -> None:
    late_evening_in_new_york = datetime(2026, 3, 1, 22, 30, tzinfo=timezone(timedelta(hours=-5)))
    with database.transaction() as conn:
        # 22:30 in New York on 1 March is 03:30 UTC on 2 March.
        assert next_order_number(conn, late_evening_in_new_york) == "20260302-000001"
        assert next_order_number(conn, late_evening_in_new_york) == "20260302-000002"
        assert next_order_number(conn, datetime(2026, 3, 3, tzinfo=UTC)) == "20260303-000001"


def test_a_rolled_back_order_gives_its_number_back(database: db.Database) -> None:
    day = datetime(2026, 5, 1, 12, tzinfo=UTC)
    with database.transaction() as conn:
        assert next_order_number(conn, day) == "20260501-000001"
    try:
        with database.transaction() as conn:
            assert next_order_number(conn, day) == "20260501-000002"
            raise RuntimeError("the order failed after taking a number")
    except RuntimeError:
        pass
    with database.transaction() as conn:
        assert next_order_number(conn, day) == "20260501-000002"


def test_fifty_concurrent_allocations_give_fifty_consecutive_numbers(database_url: str) -> None:
    day = datetime(2026, 7, 4, 9, tzinfo=UTC)
    numbers: list[str] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(50)
    lock = threading.Lock()

    def allocate() -> None:
        try:
            with db.connect(database_url) as conn, conn.transaction():
                barrier.wait(timeout=30)
                number = next_order_number(conn, day)
                conn.execute("select pg_sleep(0.005)")  # hold the lock a moment: real contention
            with lock:
                numbers.append(number)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=allocate) for _ in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    assert sorted(numbers) == [f"20260704-{n:06d}" for n in range(1, 51)]
