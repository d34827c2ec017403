"""`restoreclick db health` (the checks are infra/db_health.py)."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from infra.commands.targets import JsonOption, TargetOption, operating_on, print_json, target_url

console = Console()


def _table(title: str, rows: list[dict[str, object]], columns: list[str]) -> None:
    if not rows:
        console.print(f"{title}: none")
        return
    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*[str(row[c]) if row[c] is not None else "" for c in columns])
    console.print(table)


def health(target: TargetOption = "dev", as_json: JsonOption = False) -> None:
    """Table and index sizes, unused and duplicate indexes, bloat, cache hits, dead rows,
    long queries and lock waits; exits 1 when a threshold (README) is crossed."""
    from infra.db_health import check

    with operating_on(target) as settings, console.status(f"Reading {target}'s statistics…"):
        report = check(target_url(settings))
    if as_json:
        print_json(report.as_dict())
    else:
        _table("tables", report.tables, ["table", "total_bytes", "table_bytes", "index_bytes", "estimated_rows"])
        _table("indexes", report.indexes, ["table", "index", "bytes", "scans"])
        _table("unused indexes (never scanned, not unique)", report.unused_indexes, ["table", "index", "bytes"])
        _table("duplicate indexes", report.duplicate_indexes, ["table", "indexes", "bytes"])
        _table("bloat (estimate)", report.bloat, ["table", "bytes", "needed_bytes", "bloat_bytes"])
        ratio = "n/a" if report.cache_hit_ratio is None else f"{report.cache_hit_ratio:.2%}"
        console.print(f"cache hit ratio: {ratio} over {report.cache_blocks} block reads")
        _table(
            "dead rows and vacuum", report.dead_tuples,
            ["table", "live", "dead", "last_autovacuum", "last_vacuum", "last_autoanalyze"],
        )  # fmt: skip
        _table("long-running queries", report.long_queries, ["pid", "state", "seconds", "query"])
        _table("lock waits", report.lock_waits, ["pid", "blocked_by", "seconds", "query"])
        for problem in report.problems:
            console.print(f"[bold red]THRESHOLD[/] {problem}")
        if not report.problems:
            console.print("[green]no threshold crossed[/]")
    if report.problems:
        raise typer.Exit(1)
