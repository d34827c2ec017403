"""The error log: what went wrong, kept once per kind with a count, for the operator.

Written from the places where the shop already knows something failed: the app factory's
error handler (every 5xx a function answers), the queue's fail path (a job retried with an
error, or dead), automatic refunds, and configuration errors at start-up. Reading it is
`restoreclick errors list|show|resolve`; counts by category are in `/api/metrics` and
`restoreclick monitor`.

Recording never makes things worse: it runs in its own transaction (the failing one has
rolled back), and a failure to record is logged and swallowed, never raised over the error
being recorded. Messages are redacted with the structured logs' redaction (keys, tokens,
addresses) and cut short; no payload is ever stored.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Literal

from pydantic import BaseModel

from shared.core import db
from shared.core.errors import ConfigurationError
from shared.core.logs import redact

log = logging.getLogger("restoreclick.error_log")

Category = Literal["payment", "storage", "restoration", "email", "database", "configuration", "validation"]
Severity = Literal["warning", "error", "critical"]
SubjectType = Literal["order", "job", "event", "checkout", "request"]
CATEGORIES: tuple[Category, ...] = (
    "payment", "storage", "restoration", "email", "database", "configuration", "validation",
)  # fmt: skip
MESSAGE_MAX_CHARS = 500
# Ids, numbers and quoted values vary between two occurrences of the same error; the
# fingerprint leaves them out so that "job 1f2e… timed out after 30.2 s" is one entry.
_VARYING = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|\b[a-z]{2,5}_[A-Za-z0-9]{8,}|\d+")


class ErrorEntry(BaseModel):
    id: int
    category: str
    severity: str
    subject_type: str | None
    subject_id: str | None
    source: str
    message: str
    count: int
    first_seen_at: datetime
    last_seen_at: datetime
    resolved: bool
    resolved_at: datetime | None
    resolved_by: str | None


def clean_message(message: str) -> str:
    """The message as it may be stored: redacted, on one line, at most MESSAGE_MAX_CHARS."""
    text = " ".join(redact(message).split()) or "(no message)"
    return text if len(text) <= MESSAGE_MAX_CHARS else text[: MESSAGE_MAX_CHARS - 1] + "…"


def fingerprint(category: str, source: str, message: str, subject_type: str | None, subject_id: str | None) -> str:
    """Same category, source, message shape and subject: the same error. A request's id is
    left out (each request has its own), so repeats of one failing route count together."""
    subject = "" if subject_type in (None, "request") else f"{subject_type}:{subject_id}"
    shape = _VARYING.sub("#", message)
    return hashlib.sha256("\0".join((category, source, shape, subject)).encode()).hexdigest()


def record_error_in(
    conn: db.Connection,
    *,
    category: Category,
    severity: Severity,
    source: str,
    message: str,
    subject_type: SubjectType | None = None,
    subject_id: str | None = None,
) -> int:
    """Record one occurrence inside the caller's transaction; returns the entry's id."""
    text = clean_message(message)
    subject = None if subject_id is None else clean_message(str(subject_id))[:200]
    row = db.one(
        conn, "record_error",
        fingerprint=fingerprint(category, source, text, subject_type if subject else None, subject),
        category=category, severity=severity, subject_type=subject_type if subject else None,
        subject_id=subject, source=source[:100], message=text,
    )  # fmt: skip
    return int(row["id"])


def record_error(
    database: db.Database | None,
    *,
    category: Category,
    severity: Severity,
    source: str,
    message: str,
    subject_type: SubjectType | None = None,
    subject_id: str | None = None,
) -> int | None:
    """Record one occurrence in a transaction of its own; None when it could not be written
    (no database configured, or the database is the thing that failed)."""
    try:
        database = database or db.get_database()
        with database.transaction(actor="error_log") as conn:
            return record_error_in(
                conn, category=category, severity=severity, source=source, message=message,
                subject_type=subject_type, subject_id=subject_id,
            )  # fmt: skip
    except Exception as exc:  # recording must never replace the error being recorded
        log.warning("could not record an error in the error log: %s", type(exc).__name__)
        return None


def record_startup_error(database_url: str | None, message: str, source: str = "startup") -> int | None:
    """A configuration error at start-up, when there may be no valid Settings to build the
    shop's Database from: written straight through DATABASE_URL, if there is one."""
    if not database_url:
        return None
    database = db.Database(database_url, connect_timeout=3, statement_timeout_ms=5000, lock_timeout_ms=2000)
    try:
        return record_error(database, category="configuration", severity="critical", source=source, message=message)
    finally:
        database.close_all()


# A queue's failures belong to what its jobs do: order work moves photos and writes ZIPs.
QUEUE_CATEGORIES: dict[str, Category] = {"restoration": "restoration", "email": "email", "order_work": "storage"}


def record_job_failure(database: db.Database, queue: str, job_id: object, error: str, status: str | None) -> None:
    """A job attempt failed: retried after a backoff (a warning) or dead (an error)."""
    dead = status == "dead"
    record_error(
        database, category=QUEUE_CATEGORIES.get(queue, "database"), severity="error" if dead else "warning",
        source=f"queue {queue} {'dead' if dead else 'retry'}", message=error,
        subject_type="job", subject_id=str(job_id),
    )  # fmt: skip


@contextmanager
def configuration_errors_recorded(source: str) -> Iterator[None]:
    """Around a scheduled run's start: a setting it is missing (a provider's key in
    production) is recorded as a configuration error, then raised as before, so the
    run still fails and its alarm still fires."""
    try:
        yield
    except ConfigurationError as exc:
        record_error(None, category="configuration", severity="critical", source=source, message=exc.message)
        raise


# Which category a 5xx belongs to: its error code first, then the route it answered.
CODE_PREFIXES: tuple[tuple[str, Category], ...] = (
    ("database", "database"),
    ("configuration", "configuration"),
    ("payment", "payment"),
    ("stripe", "payment"),
    ("refund", "payment"),
    ("storage", "storage"),
    ("restoration", "restoration"),
    ("replicate", "restoration"),
    ("email", "email"),
)
PATH_PREFIXES: tuple[tuple[str, Category], ...] = (
    ("/api/checkout", "payment"),
    ("/api/webhooks/stripe", "payment"),
    ("/api/webhooks/replicate", "restoration"),
    ("/api/restoration", "restoration"),
    ("/api/email", "email"),
    ("/api/workers/email", "email"),
    ("/api/workers/restoration", "restoration"),
    ("/api/uploads", "storage"),
    ("/api/download", "storage"),
)


def category_of_answer(code: str, path: str) -> Category:
    """The category of a 5xx answered with error `code` on `path` (database by default:
    an unexpected failure with no better clue is most often the database's)."""
    for prefix, category in CODE_PREFIXES:
        if code.startswith(prefix):
            return category
    for prefix, category in PATH_PREFIXES:
        if path.startswith(prefix):
            return category
    return "database"


def list_errors(
    conn: db.Connection, *, category: str | None = None, unresolved: bool = False, limit: int = 100
) -> list[ErrorEntry]:
    return db.all_rows(conn, "list_errors", ErrorEntry, category=category, unresolved=unresolved, limit=limit)


def error_entry(conn: db.Connection, entry_id: int) -> ErrorEntry | None:
    row: ErrorEntry | None = db.maybe_one(conn, "error_entry", ErrorEntry, id=entry_id)
    return row


def resolve_error(conn: db.Connection, entry_id: int, actor: str) -> ErrorEntry | None:
    """Mark an entry resolved; None when there is no such unresolved entry."""
    row: ErrorEntry | None = db.maybe_one(conn, "resolve_error", ErrorEntry, id=entry_id, actor=actor)
    return row


def unresolved_counts(conn: db.Connection) -> dict[str, int]:
    """Unresolved entries by category, every category present (0 when none)."""
    counts: dict[str, int] = {category: 0 for category in CATEGORIES}
    for row in db.all_rows(conn, "unresolved_errors_by_category"):
        counts[row["category"]] = int(row["entries"])
    return counts
