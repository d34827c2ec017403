"""The container's connection: reused across invocations, replaced when it breaks."""

from __future__ import annotations

import threading

import psycopg
import pytest

from shared.core import db
from shared.core.errors import NoResult, ServiceUnavailable


def backend_pid(database: db.Database) -> int:
    with database.transaction() as conn:
        return conn.execute("select pg_backend_pid() as pid").fetchone()["pid"]  # type: ignore[index]


def test_one_connection_is_reused_across_transactions(database: db.Database) -> None:
    assert backend_pid(database) == backend_pid(database) == backend_pid(database)


def test_a_connection_the_server_dropped_is_replaced_transparently(database: db.Database, admin_url: str) -> None:
    first = backend_pid(database)
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute("select pg_terminate_backend(%s)", [first])
    assert backend_pid(database) != first  # no error reaches the caller


def test_a_failed_transaction_rolls_back_and_the_connection_stays_usable(database: db.Database) -> None:
    with pytest.raises(RuntimeError), database.transaction() as conn:
        conn.execute("insert into customers (email) values ('a@example.com')")
        raise RuntimeError("the handler failed")
    with database.transaction() as conn:
        assert conn.execute("select count(*) as n from customers").fetchone() == {"n": 0}


def test_no_server_side_prepared_statements(database: db.Database) -> None:
    # Supabase's transaction pooler moves transactions between backends: a statement
    # prepared on one does not exist on the next.
    for _ in range(10):  # psycopg would prepare after 5 runs if it were allowed to
        with database.transaction() as conn:
            db.maybe_one(conn, "order_by_number", order_number="20260101-000001")
    with database.transaction() as conn:
        assert conn.execute("select count(*) as n from pg_prepared_statements").fetchone() == {"n": 0}


def test_each_thread_has_its_own_connection(database: db.Database) -> None:
    pids: list[int] = []
    threads = [threading.Thread(target=lambda: pids.append(backend_pid(database))) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(pids)) == 3


def test_one_raises_no_result_and_an_unreachable_server_is_service_unavailable(database: db.Database) -> None:
    with database.transaction() as conn, pytest.raises(NoResult):
        db.one(conn, "order_by_number", order_number="20260101-000001")
    unreachable = db.Database("postgresql://postgres@127.0.0.1:1/nothing", connect_timeout=1)
    with pytest.raises(ServiceUnavailable), unreachable.transaction():
        pass


def test_the_connections_of_threads_that_ended_are_closed(database: db.Database, conn: db.Connection) -> None:
    """A worker run's pool and heartbeat threads end with the run; a warm container that
    kept their connections would fill the server after a few dozen runs."""

    def one_transaction() -> None:
        with database.transaction() as tx:
            tx.execute("select 1")

    for _ in range(12):
        thread = threading.Thread(target=one_transaction)
        thread.start()
        thread.join()
    one_transaction()

    [row] = conn.execute(
        "select count(*) as n from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()"
    ).fetchall()
    assert row["n"] <= 2  # this thread's, and at most the last ended thread's until the next opens


def test_a_slow_statement_is_cancelled_at_the_statement_timeout_with_a_clear_error(database_url: str) -> None:
    database = db.Database(database_url, statement_timeout_ms=300)
    try:
        with pytest.raises(ServiceUnavailable) as refused, database.transaction() as conn:
            conn.execute("select pg_sleep(5)")
        assert refused.value.code == "database_timeout"
        assert "took too long" in str(refused.value)
        assert isinstance(refused.value.__cause__, psycopg.errors.QueryCanceled)
        with database.transaction() as conn:  # and the next transaction works
            assert conn.execute("select 1 as one").fetchone() == {"one": 1}
    finally:
        database.close_all()


def test_a_lock_not_granted_in_time_fails_as_busy_and_the_holder_keeps_it(database_url: str) -> None:
    database = db.Database(database_url, lock_timeout_ms=200, statement_timeout_ms=10_000)
    holder = db.Database(database_url)
    try:
        with holder.transaction() as held:
            held.execute("lock table customers in access exclusive mode")
            with pytest.raises(ServiceUnavailable) as refused, database.transaction() as conn:
                conn.execute("select count(*) from customers")
            assert refused.value.code == "database_busy"
            assert isinstance(refused.value.__cause__, psycopg.errors.LockNotAvailable)
    finally:
        database.close_all()
        holder.close_all()


def test_the_containers_database_applies_the_configured_timeouts_to_every_transaction(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shared.core.config import get_settings

    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("DB_STATEMENT_TIMEOUT_MS", "1234")
    monkeypatch.setenv("DB_LOCK_TIMEOUT_MS", "567")
    get_settings.cache_clear()
    db.set_database(None)
    try:
        database = db.get_database()
        for actor in (None, "support"):
            with database.transaction(actor) as conn:
                shown = conn.execute(
                    "select current_setting('statement_timeout') as statement, current_setting('lock_timeout') as lock"
                ).fetchone()
            assert shown == {"statement": "1234ms", "lock": "567ms"}
        # Set for each transaction alone: the session, which a pooler hands on, keeps none.
        assert database.connection().execute("show statement_timeout").fetchone() == {"statement_timeout": "0"}
    finally:
        db.set_database(None)
        get_settings.cache_clear()
