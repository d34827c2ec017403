"""Connection, transaction and error translation: the only module that talks to psycopg.

A Lambda container serves one request at a time, so each container keeps one lazily
opened connection and reuses it across invocations. The connection is checked before
reuse after an idle spell (Lambda may have frozen the container and the server or pooler
may have dropped it) and reopened when it broke. Server-side prepared statements are
off by default (`prepare_threshold=None`): Supabase's transaction pooler hands each
transaction to any backend, where a statement prepared on another one does not exist.
A direct connection or a session pooler may turn them on (`prepare_threshold=0`
prepares every statement on its first run); the queue-drain benchmark measures both.

The edge owns the transaction: request handlers and worker loops open it with
`Database.transaction()`; repositories take the caller's connection and never commit.
Each transaction starts by setting its statement and lock timeouts (DB_STATEMENT_TIMEOUT_MS,
DB_LOCK_TIMEOUT_MS) for itself alone (`set_config(..., true)`, as SET LOCAL): through the
transaction pooler the next transaction may run on another backend, and a session-wide
SET would stay behind on this one for whoever gets it next. A statement past its time is
cancelled by the server and answers 503 `database_timeout`; a lock not granted in time,
503 `database_busy`, so a Lambda never waits out its own limit on a stuck database.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar, overload

from pydantic import BaseModel

from shared.core.errors import (
    Conflict,
    NoResult,
    RestoreClickError,
    ServiceUnavailable,
    ValidationFailed,
)
from shared.core.sql import QUERIES

# psycopg is imported on first use, not with this module: a function's cold start then
# pays for the driver only when a request reaches the database (a CORS preflight or a
# refused request never does), and the import-time benchmark holds handlers to that.
# `Connection` is for annotations only, which `from __future__ import annotations` leaves
# unevaluated everywhere in the shop.
if TYPE_CHECKING:
    import psycopg

    Connection = psycopg.Connection[dict[str, Any]]

log = logging.getLogger("restoreclick.db")
ModelT = TypeVar("ModelT", bound=BaseModel)

# After this long unused, a connection is pinged before it is trusted again.
IDLE_CHECK_SECONDS = 30.0


class ConstraintViolation(Conflict):
    """A database constraint refused a write. `constraint` names it, as the migrations do."""

    code = "constraint_violation"

    def __init__(self, message: str, *, constraint: str | None, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.constraint = constraint


class InvalidValue(ValidationFailed):
    """A CHECK or NOT NULL constraint refused a value."""

    code = "invalid_value"

    def __init__(self, message: str, *, constraint: str | None) -> None:
        super().__init__(message)
        self.constraint = constraint


def translate(exc: psycopg.Error) -> RestoreClickError:
    """Turn a psycopg error into the domain error the rest of the shop understands."""
    import psycopg
    from psycopg import errors as pg_errors

    # The constraint's name is for code (`.constraint`) and for the log, never for the
    # message: a message can reach a customer, and table and constraint names must not.
    constraint = getattr(exc.diag, "constraint_name", None)
    if constraint:
        log.warning("the database refused a write: %s (%s)", type(exc).__name__, constraint)
    if isinstance(exc, pg_errors.UniqueViolation | pg_errors.ExclusionViolation):
        return ConstraintViolation("that already exists", constraint=constraint, code="already_exists")
    if isinstance(exc, pg_errors.ForeignKeyViolation):
        return ConstraintViolation(
            "that refers to something that does not exist or is still in use",
            constraint=constraint,
            code="reference_violation",
        )
    if isinstance(exc, pg_errors.CheckViolation | pg_errors.NotNullViolation):
        return InvalidValue("a value was refused as out of range or missing", constraint=constraint)
    if isinstance(exc, pg_errors.DataError):
        return ValidationFailed("value has the wrong form for the database", code="invalid_value")
    if isinstance(exc, pg_errors.LockNotAvailable):
        return ServiceUnavailable("the database is busy with the same records; try again", code="database_busy")
    if isinstance(exc, pg_errors.QueryCanceled):
        return ServiceUnavailable("the database took too long to answer; try again", code="database_timeout")
    if isinstance(exc, psycopg.OperationalError):
        return ServiceUnavailable("the database is unavailable; try again", code="database_unavailable")
    return RestoreClickError("database error", code="database_error")


@contextmanager
def translated_errors() -> Iterator[None]:
    """Re-raise psycopg errors as domain errors, keeping the original as the cause."""
    import psycopg  # it guards database calls only, which need the driver anyway

    try:
        yield
    except psycopg.Error as exc:
        raise translate(exc) from exc


def connect(
    url: str,
    *,
    connect_timeout: int = 5,
    application_name: str = "restoreclick",
    prepare_threshold: int | None = None,
) -> Connection:
    """A new autocommit connection with dict rows; no server-side prepared statements
    unless `prepare_threshold` says after how many runs of a statement to prepare it."""
    import psycopg
    from psycopg.rows import dict_row

    conn = psycopg.connect(
        url,
        autocommit=True,
        prepare_threshold=prepare_threshold,
        row_factory=dict_row,
        connect_timeout=connect_timeout,
        application_name=application_name,
        # libpq's default `prefer` starts the GSSAPI (Kerberos) library on every connect;
        # nothing here authenticates that way, and its path crashes processes that connect
        # from several threads at once (psycopg/psycopg#1213, seen here in the test suite).
        gssencmode="disable",
    )
    return conn


class Database:
    """Lazily opened connections, reused across invocations and reopened when broken.

    One connection per thread: a Lambda container has one thread, so one connection;
    the dev server runs sync endpoints in a thread pool, where each thread gets its own
    and concurrent requests really are concurrent in the database.
    """

    def __init__(
        self,
        url: str,
        *,
        connect_timeout: int = 5,
        application_name: str = "restoreclick",
        prepare_threshold: int | None = None,
        statement_timeout_ms: int | None = None,
        lock_timeout_ms: int | None = None,
    ):
        self.url = url
        # None: the server's own setting (0, no limit, unless the role or database says).
        self.statement_timeout_ms = statement_timeout_ms
        self.lock_timeout_ms = lock_timeout_ms
        self.connect_timeout = connect_timeout
        self.application_name = application_name
        self.prepare_threshold = prepare_threshold  # None: never prepare (the pooler's rule)
        self._local = threading.local()
        # Every thread's connection, with the thread that owns it: a worker run starts
        # threads (its pool, the heartbeat) that end with it, and their connections must
        # not outlive them, or a warm container leaks a few per run until the server is full.
        self._all: list[tuple[threading.Thread, Connection]] = []
        self._all_lock = threading.Lock()

    def _healthy(self, conn: Connection) -> bool:
        if conn.closed or conn.broken:
            return False
        if time.monotonic() - getattr(self._local, "last_used", 0.0) < IDLE_CHECK_SECONDS:
            return True
        import psycopg

        try:
            conn.execute("select 1")
        except psycopg.Error:
            return False
        return True

    def connection(self) -> Connection:
        """This thread's connection, opened on first use and replaced if it broke."""
        conn: Connection | None = getattr(self._local, "conn", None)
        if conn is None or not self._healthy(conn):
            self.close()
            with translated_errors():
                conn = connect(
                    self.url,
                    connect_timeout=self.connect_timeout,
                    application_name=self.application_name,
                    prepare_threshold=self.prepare_threshold,
                )
            self._local.conn = conn
            with self._all_lock:
                orphans = [c for thread, c in self._all if not thread.is_alive()]
                self._all = [(t, c) for t, c in self._all if t.is_alive()]
                self._all.append((threading.current_thread(), conn))
            for orphan in orphans:  # their threads have ended: nobody can use them again
                orphan.close()
        self._local.last_used = time.monotonic()
        return conn

    def _begin(self) -> tuple[Connection, AbstractContextManager[psycopg.Transaction]]:
        """BEGIN on this thread's connection. A connection the server dropped while idle
        (a restart, a pooler timeout, a frozen container) fails right here, before any
        work was done, so it is safe to reconnect and begin once more."""
        import psycopg

        for attempt in (1, 2):
            conn = self.connection()
            tx = conn.transaction()
            try:
                tx.__enter__()
                return conn, tx
            except psycopg.OperationalError as exc:
                self.close()
                if attempt == 2:
                    raise translate(exc) from exc
        raise AssertionError("unreachable")

    @contextmanager
    def transaction(self, actor: str | None = None) -> Iterator[Connection]:
        """Open a transaction: commit when the block ends, roll back if it raises.

        `actor` is recorded by the audit trigger for every order status change made inside.
        A connection error closes the connection, so the next call opens a fresh one.
        """
        conn, tx = self._begin()
        try:
            with translated_errors():
                try:
                    self._set_locals(conn, actor)
                    yield conn
                except BaseException as exc:
                    tx.__exit__(type(exc), exc, exc.__traceback__)
                    raise
                tx.__exit__(None, None, None)
        except ServiceUnavailable:
            self.close()
            raise
        finally:
            self._local.last_used = time.monotonic()

    def _set_locals(self, conn: Connection, actor: str | None) -> None:
        """This transaction's timeouts and actor, in one round trip."""
        settings = {
            "statement_timeout": self.statement_timeout_ms,
            "lock_timeout": self.lock_timeout_ms,
            "restoreclick.actor": actor,
        }
        chosen = {name: str(value) for name, value in settings.items() if value is not None}
        if chosen:
            calls = ", ".join(f"set_config('{name}', %s, true)" for name in chosen)
            conn.execute(f"select {calls}", list(chosen.values()))

    def close(self) -> None:
        """Close this thread's connection, if it has one."""
        conn: Connection | None = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            with self._all_lock:
                self._all = [(t, c) for t, c in self._all if c is not conn]
            conn.close()

    def close_all(self) -> None:
        """Close every thread's connection (shutdown, tests)."""
        with self._all_lock:
            conns, self._all = self._all, []
        for _, conn in conns:
            conn.close()
        self._local = threading.local()


# -- the tiny executor: named queries, named parameters -------------------------------


def jsonb(value: Any) -> Any:
    """`value` as a jsonb parameter (psycopg's Jsonb, imported with the driver)."""
    from psycopg.types.json import Jsonb

    return Jsonb(value)


class _TypedNull:
    """A NULL parameter sent with a type's oid, for `null_of`."""

    __slots__ = ("oid",)

    def __init__(self, oid: int) -> None:
        self.oid = oid


_typed_null_connections: weakref.WeakSet[Any] = weakref.WeakSet()


def null_of(conn: Connection, builtin_type: str) -> Any:
    """A NULL of one of PostgreSQL's own types (`uuid[]`, `text`), as a query parameter: for
    a placeholder the statement never reads, whose type the server cannot infer (psycopg
    sends None, and an empty list, as of unknown type)."""
    import psycopg

    if conn not in _typed_null_connections:  # registered once a connection
        conn.adapters.register_dumper(_TypedNull, _typed_null_dumper())
        _typed_null_connections.add(conn)
    name, array = builtin_type.removesuffix("[]"), builtin_type.endswith("[]")
    info = psycopg.postgres.types[name]  # built-in oids are fixed across server versions
    return _TypedNull(info.array_oid if array else info.oid)


@functools.cache
def _typed_null_dumper() -> type:
    from psycopg.adapt import Dumper

    class TypedNullDumper(Dumper):
        # One dumper per oid (psycopg asks get_key, then upgrade), each sending NULL.
        def get_key(self, obj: Any, format: Any) -> Any:
            return (_TypedNull, obj.oid)

        def upgrade(self, obj: Any, format: Any) -> Dumper:
            dumper = TypedNullDumper(_TypedNull)
            dumper.oid = obj.oid
            return dumper

        def dump(self, obj: Any) -> None:
            return None

    return TypedNullDumper


def _query(name: str) -> str:
    try:
        return QUERIES[name]
    except KeyError:
        raise KeyError(f"no query named {name!r} in shared/**/*.sql") from None


def execute(conn: Connection, name: str, /, **params: Any) -> int:
    """Run a named statement; return the number of rows it touched."""
    with translated_errors():
        cur = conn.execute(_query(name), params)
        return cur.rowcount


@overload
def one(conn: Connection, name: str, model: None = None, /, **params: Any) -> dict[str, Any]: ...
@overload
def one(conn: Connection, name: str, model: type[ModelT], /, **params: Any) -> ModelT: ...
def one(conn: Connection, name: str, model: type[ModelT] | None = None, /, **params: Any) -> dict[str, Any] | ModelT:
    """Run a named query that must return one row; `NoResult` when it returns none."""
    row = maybe_one(conn, name, model, **params)
    if row is None:
        raise NoResult(f"{name}: no matching row")
    return row


@overload
def maybe_one(conn: Connection, name: str, model: None = None, /, **params: Any) -> dict[str, Any] | None: ...
@overload
def maybe_one(conn: Connection, name: str, model: type[ModelT], /, **params: Any) -> ModelT | None: ...
def maybe_one(
    conn: Connection, name: str, model: type[ModelT] | None = None, /, **params: Any
) -> dict[str, Any] | ModelT | None:
    """Run a named query; its first row (as `model` when given), or None."""
    with translated_errors():
        row = conn.execute(_query(name), params).fetchone()
    if row is None or model is None:
        return row
    return model.model_validate(row)


@overload
def all_rows(conn: Connection, name: str, model: None = None, /, **params: Any) -> list[dict[str, Any]]: ...
@overload
def all_rows(conn: Connection, name: str, model: type[ModelT], /, **params: Any) -> list[ModelT]: ...
def all_rows(
    conn: Connection, name: str, model: type[ModelT] | None = None, /, **params: Any
) -> list[dict[str, Any]] | list[ModelT]:
    """Run a named query; every row (as `model` when given)."""
    with translated_errors():
        rows = conn.execute(_query(name), params).fetchall()
    if model is None:
        return rows
    return [model.model_validate(row) for row in rows]


class Statement(NamedTuple):
    """A statement the database wrote (a function of a migration returned its text), with
    PostgreSQL's own placeholders ($1, $2, ...) and a name for logs and tests."""

    name: str
    text: str


def all_rows_of(conn: Connection, statement: Statement, /, *params: Any) -> list[dict[str, Any]]:
    """Run a statement the database wrote, its parameters in order; every row.

    The text goes to the server as it came from it: psycopg's raw cursor binds $n
    placeholders itself, so nothing of the text is rewritten on the way."""
    from psycopg import RawCursor

    with translated_errors(), RawCursor(conn) as cur:
        cur.execute(statement.text, params)
        return cur.fetchall()


_default: Database | None = None
_default_lock = threading.Lock()


def get_database() -> Database:
    """The container-wide Database for DATABASE_URL, created on first use."""
    global _default
    with _default_lock:
        if _default is None:
            from shared.core.config import get_settings

            settings = get_settings()
            _default = Database(
                settings.require("database_url"),
                connect_timeout=settings.db_connect_timeout_seconds,
                statement_timeout_ms=settings.db_statement_timeout_ms,
                lock_timeout_ms=settings.db_lock_timeout_ms,
            )
        return _default


def set_database(database: Database | None) -> None:
    """Replace the container-wide Database (the dev server and tests point it elsewhere)."""
    global _default
    with _default_lock:
        if _default is not None and _default is not database:
            _default.close_all()
        _default = database


@contextmanager
def using_database(database: Database) -> Iterator[Database]:
    """`database` as the container-wide one inside the block, the one before it after: an
    operator's command aimed at another target must not have shop code it runs fall back
    to DATABASE_URL."""
    global _default
    with _default_lock:
        previous, _default = _default, database
    try:
        yield database
    finally:
        with _default_lock:
            _default = previous
        database.close_all()
