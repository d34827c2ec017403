"""`restoreclick db health`: what it reports, and each threshold making it exit 1."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import psycopg
import pytest

import infra.db_health as db_health
from tests.fixtures.operating import invoke


def health(url: str) -> tuple[int, dict[str, Any]]:
    out = invoke(["db", "health", "--json"], env={"DATABASE_URL": url})
    assert out.stdout.startswith("{"), (out.output, out.exception)
    return out.exit_code, json.loads(out.stdout)


def test_a_freshly_migrated_database_is_healthy_and_every_section_is_there(database_url: str) -> None:
    code, report = health(database_url)
    assert code == 0, report["problems"]
    assert report["problems"] == [] and report["duplicate_indexes"] == []
    tables = {t["table"] for t in report["tables"]}
    assert {"orders", "images", "error_log", "audit_logs"} <= tables
    assert all(t["total_bytes"] >= t["table_bytes"] for t in report["tables"])
    assert any(i["index"] == "orders_pkey" and i["is_primary"] for i in report["indexes"])
    assert {t["table"] for t in report["dead_tuples"]} == tables
    assert report["long_queries"] == [] and report["lock_waits"] == []
    printed = invoke(["db", "health"], env={"DATABASE_URL": database_url})
    assert printed.exit_code == 0 and "cache hit ratio" in printed.output and "no threshold crossed" in printed.output


def test_a_duplicate_index_crosses_a_threshold(database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("create index orders_customer_a on orders (customer_id)")
        conn.execute("create index orders_customer_b on orders (customer_id)")
    code, report = health(database_url)
    assert code == 1
    assert {"orders_customer_a", "orders_customer_b"} <= set(report["duplicate_indexes"][0]["indexes"])
    assert any("duplicate indexes on orders" in p for p in report["problems"])


def test_dead_rows_and_bloat_are_measured_and_judged(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("alter table request_throttle set (autovacuum_enabled = false)")
        conn.execute(
            "insert into request_throttle (key, window_start) select 'k' || n, now() from generate_series(1, 20000) n"
        )
        conn.execute("analyze request_throttle")
        conn.execute("delete from request_throttle where key <> 'k1'")
        conn.execute("select pg_stat_force_next_flush()")
    monkeypatch.setattr(db_health, "BLOAT_MIN_BYTES", 64 * 1024)
    code, report = health(database_url)
    [dead] = [t for t in report["dead_tuples"] if t["table"] == "request_throttle"]
    assert dead["dead"] >= 19_000 and code == 1
    assert any("request_throttle has" in p and "dead rows" in p for p in report["problems"])
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("analyze request_throttle")  # the planner now knows one row is left
    code, report = health(database_url)
    [bloat] = [b for b in report["bloat"] if b["table"] == "request_throttle"]
    assert bloat["bloat_bytes"] > 0.9 * bloat["bytes"]
    assert any("request_throttle is about" in p for p in report["problems"])


def test_a_long_query_and_a_lock_wait_cross_their_thresholds(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db_health, "LONG_QUERY_SECONDS", 1)
    monkeypatch.setattr(db_health, "LOCK_WAIT_SECONDS", 1)
    holder = psycopg.connect(database_url)
    holder.execute("lock table orders in access exclusive mode")  # a migration holding the table
    waiter_done = threading.Event()

    def wait_for_the_table() -> None:
        with psycopg.connect(database_url, autocommit=True) as waiter:
            waiter.execute("select count(*) from orders")
        waiter_done.set()

    waiting = threading.Thread(target=wait_for_the_table)
    waiting.start()
    try:
        time.sleep(2.5)
        with monkeypatch.context() as m:
            # Listed from a tenth of the threshold: with 1 s, from 0 s.
            m.setattr(db_health, "LONG_QUERY_SECONDS", 1)
            code, report = health(database_url)
    finally:
        holder.rollback()
        holder.close()
        waiting.join(timeout=10)
    assert waiter_done.is_set()
    assert code == 1
    [wait] = report["lock_waits"]
    assert wait["seconds"] >= 2 and "orders" in wait["query"] and wait["blocked_by"]
    assert any("waited" in p and "for a lock" in p for p in report["problems"])
    assert any(q["state"] == "idle in transaction" for q in report["long_queries"])
