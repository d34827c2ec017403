"""`restoreclick db health`: sizes, index use, bloat, cache, vacuum, long queries and lock
waits, judged against written-down thresholds (also in the README). Every query is a named
one in infra/sql/health.sql; nothing here changes the database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from infra import queries
from shared.core import db
from shared.core.logs import redact

MB = 1024 * 1024
# The thresholds. Each is crossed only where it means work for the operator: a tiny table
# is never "bloated", a new database's cold cache is no alarm.
UNUSED_INDEX_MIN_BYTES = 10 * MB  # an index never scanned, and this large, costs every write for nothing
BLOAT_MIN_BYTES = 50 * MB
BLOAT_MIN_RATIO = 0.5  # wasted share of the table
CACHE_HIT_MIN_RATIO = 0.95
CACHE_MIN_BLOCKS = 10_000  # below this many block reads the ratio says nothing yet
DEAD_TUPLES_MIN = 10_000
DEAD_TUPLES_MIN_RATIO = 0.2  # dead over live + dead
LONG_QUERY_SECONDS = 300
LOCK_WAIT_SECONDS = 30
LOCK_TIMEOUT_MS = 2000  # how long health itself may wait for a lock before giving up


@dataclass
class Report:
    tables: list[dict[str, Any]]
    indexes: list[dict[str, Any]]
    unused_indexes: list[dict[str, Any]]
    duplicate_indexes: list[dict[str, Any]]
    bloat: list[dict[str, Any]]
    cache_hit_ratio: float | None
    cache_blocks: int
    dead_tuples: list[dict[str, Any]]
    long_queries: list[dict[str, Any]]
    lock_waits: list[dict[str, Any]]
    problems: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items()}


def check(url: str) -> Report:
    with db.connect(url, application_name="restoreclick-db-health") as conn, conn.transaction():
        # For this transaction alone (a pooler hands the session on): never queue long behind a lock.
        queries.rows(conn, "health_lock_timeout", ms=str(LOCK_TIMEOUT_MS))
        tables = queries.rows(conn, "health_table_sizes")
        indexes = queries.rows(conn, "health_index_usage")
        duplicates = queries.rows(conn, "health_duplicate_indexes")
        bloat = queries.rows(conn, "health_table_bloat")
        cache = queries.one(conn, "health_cache_hit_ratio")
        dead = queries.rows(conn, "health_dead_tuples")
        # Listed from a tenth of the threshold, so the operator sees one coming.
        long_queries = queries.rows(conn, "health_long_queries", min_seconds=LONG_QUERY_SECONDS // 10)
        waits = queries.rows(conn, "health_lock_waits")
    for row in (*long_queries, *waits):
        row["query"] = redact(row["query"] or "")  # a statement's text may carry a literal secret
    blocks = int(cache["hits"]) + int(cache["reads"])
    unused = [i for i in indexes if i["scans"] == 0 and not i["is_unique"] and not i["is_primary"]]
    report = Report(
        tables, indexes, unused, duplicates, bloat,
        int(cache["hits"]) / blocks if blocks else None, blocks, dead, long_queries, waits,
    )  # fmt: skip
    report.problems = judge(report)
    return report


def judge(report: Report) -> list[str]:
    """Every threshold the report crosses, as one line each."""
    problems = [
        f"index {i['index']} on {i['table']} was never scanned and takes {i['bytes'] // MB} MB"
        for i in report.unused_indexes
        if i["bytes"] >= UNUSED_INDEX_MIN_BYTES
    ]
    problems += [f"duplicate indexes on {d['table']}: {', '.join(d['indexes'])}" for d in report.duplicate_indexes]
    problems += [
        f"table {b['table']} is about {b['bloat_bytes'] // MB} MB bloated ({b['bloat_bytes'] / b['bytes']:.0%})"
        for b in report.bloat
        if b["bytes"] and b["bloat_bytes"] >= BLOAT_MIN_BYTES and b["bloat_bytes"] / b["bytes"] >= BLOAT_MIN_RATIO
    ]
    ratio = report.cache_hit_ratio
    if ratio is not None and report.cache_blocks >= CACHE_MIN_BLOCKS and ratio < CACHE_HIT_MIN_RATIO:
        problems.append(f"cache hit ratio {ratio:.1%} is under {CACHE_HIT_MIN_RATIO:.0%}")
    for t in report.dead_tuples:
        total = t["live"] + t["dead"]
        if t["dead"] >= DEAD_TUPLES_MIN and total and t["dead"] / total >= DEAD_TUPLES_MIN_RATIO:
            problems.append(
                f"table {t['table']} has {t['dead']} dead rows ({t['dead'] / total:.0%}); "
                f"last autovacuum {t['last_autovacuum'] or 'never'}"
            )
    problems += [
        f"pid {q['pid']} ({q['state']}) has run for {q['seconds']} s: {q['query'][:80]}"
        for q in report.long_queries
        if q["seconds"] >= LONG_QUERY_SECONDS
    ]
    problems += [
        f"pid {w['pid']} has waited {w['seconds']} s for a lock held by {w['blocked_by']}"
        for w in report.lock_waits
        if (w["seconds"] or 0) >= LOCK_WAIT_SECONDS
    ]
    return problems
