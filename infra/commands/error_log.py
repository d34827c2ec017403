"""`restoreclick errors list|show|resolve`: the error log (shared/core/error_log.py)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from infra.commands.targets import JsonOption, TargetOption, fail, operating_on, operator_name, print_json
from shared.core.error_log import CATEGORIES, error_entry, list_errors, resolve_error
from shared.deps import get_database

app = typer.Typer(help="What went wrong: 5xx answers, failed jobs, automatic refunds, configuration errors.")
console = Console()


@app.command("list")
def list_command(
    category: Annotated[str | None, typer.Option(help=", ".join(CATEGORIES))] = None,
    unresolved: Annotated[bool, typer.Option("--unresolved", help="Only entries not resolved yet.")] = False,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 100,
    target: TargetOption = "dev",
    as_json: JsonOption = False,
) -> None:
    """Entries, the most recently seen first."""
    if category is not None and category not in CATEGORIES:
        raise fail(f"unknown category {category!r}; choose from {', '.join(CATEGORIES)}")
    with operating_on(target), get_database().transaction() as conn:
        entries = list_errors(conn, category=category, unresolved=unresolved, limit=limit)
    if as_json:
        print_json([e.model_dump(mode="json") for e in entries])
        return
    table = Table(title=f"error log ({target})")
    for column in ("id", "category", "severity", "count", "last seen", "subject", "message", "resolved"):
        table.add_column(column)
    for e in entries:
        table.add_row(
            str(e.id), e.category, e.severity, str(e.count), f"{e.last_seen_at:%Y-%m-%d %H:%M:%S}",
            f"{e.subject_type} {e.subject_id}" if e.subject_type else "", e.message[:80], "yes" if e.resolved else "",
        )  # fmt: skip
    console.print(table)


@app.command("show")
def show(entry_id: int, target: TargetOption = "dev", as_json: JsonOption = False) -> None:
    """One entry in full."""
    with operating_on(target), get_database().transaction() as conn:
        entry = error_entry(conn, entry_id)
    if entry is None:
        raise fail(f"no error-log entry {entry_id}", 1)
    if as_json:
        print_json(entry.model_dump(mode="json"))
        return
    for name, value in entry.model_dump().items():
        console.print(f"[bold]{name}[/]: {value if value is not None else ''}")


@app.command("resolve")
def resolve(entry_id: int, target: TargetOption = "dev") -> None:
    """Mark an entry resolved (it opens again if the error comes back)."""
    with operating_on(target), get_database().transaction(actor=operator_name()) as conn:
        entry = resolve_error(conn, entry_id, operator_name())
        exists = entry is not None or error_entry(conn, entry_id) is not None
    if entry is None:
        raise fail(f"entry {entry_id} is already resolved" if exists else f"no error-log entry {entry_id}", 1)
    console.print(f"[green]resolved[/] {entry_id}: {entry.message[:80]}")
