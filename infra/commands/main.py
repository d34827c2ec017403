"""`restoreclick`: the one command-line entry point for people."""

from __future__ import annotations

from typing import Annotated

import typer

from infra.commands.customers import app as customers_app
from infra.commands.db import app as db_app
from infra.commands.errors import app as errors_app
from infra.commands.jobs import jobs_app, worker_app
from infra.commands.orders import app as orders_app

app = typer.Typer(help="RestoreClick backend: run it locally, migrate it, operate it.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(worker_app, name="worker")
app.add_typer(jobs_app, name="jobs")
app.add_typer(errors_app, name="errors")
app.add_typer(customers_app, name="customers")
app.add_typer(orders_app, name="orders")


@app.callback()
def main() -> None:
    """RestoreClick backend tools."""


@app.command()
def dev(
    port: Annotated[int, typer.Option(help="Port for every function's routes.")] = 8000,
    reset: Annotated[bool, typer.Option("--reset", help="Start from an empty database and storage.")] = False,
) -> None:
    """Run the whole shop locally: embedded database, every function, local stand-ins."""
    from infra.dev_server import run_dev

    run_dev(port=port, reset=reset)


@app.command()
def reconcile(
    days: Annotated[int, typer.Option(help="How far back to look for paid checkouts.")] = 3,
) -> None:
    """Fulfil paid checkouts whose webhook never arrived. Safe to run at any time."""
    from rich.console import Console

    from shared.core.config import get_settings
    from shared.deps import get_database, get_payments
    from shared.stripe_events.reconcile import reconcile_payments

    console = Console()
    with console.status("Asking the payment provider for completed checkouts…"):
        report = reconcile_payments(get_database(), get_payments(), get_settings(), days)
    console.print(f"{report.seen} completed checkout(s) seen, {len(report.fulfilled)} fulfilled now")
    for number in report.fulfilled:
        console.print(f"  [green]fulfilled[/] order {number}")
    for session_id, reason in report.skipped:
        console.print(f"  [yellow]skipped[/] {session_id}: {reason}")


@app.command()
def cleanup(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print what would go; change nothing.")] = False,
    max_seconds: Annotated[float, typer.Option(help="Stop after this long; the next run resumes.")] = 600,
) -> None:
    """Remove abandoned uploads, dead links, old events and finished jobs."""
    from rich.console import Console

    from shared.core.config import get_settings
    from shared.deps import get_database, get_storage
    from shared.jobs.cleanup import run_cleanup
    from shared.jobs.queue import deadline_in

    report = run_cleanup(
        get_database(), get_storage(), get_settings(), time_left=deadline_in(max_seconds), dry_run=dry_run
    )
    console = Console()
    verb = "would remove" if dry_run else "removed"
    for what, n in report.counts.items():
        console.print(f"  {what}: {verb} {n}")
    if not report.finished:
        console.print("[yellow]stopped for time; the next run resumes[/]")


@app.command()
def monitor() -> None:
    """Queue and storage health; exits 1 when an alert fires (for a cron alarm)."""
    import json

    from rich.console import Console
    from rich.table import Table

    from shared.core.config import get_settings
    from shared.deps import get_database
    from shared.jobs.monitoring import check_health

    health = check_health(get_database(), get_settings())
    console = Console()
    table = Table(title="queues")
    columns = [
        "queue",
        "pending",
        "oldest_pending_seconds",
        "running",
        "dead",
        "stuck",
        "p50_seconds",
        "p95_seconds",
        "error_rate",
    ]
    for column in columns:
        table.add_column(column)
    for q in health.queues:
        table.add_row(*[f"{q[c]:.1f}" if isinstance(q[c], float) else str(q[c]) for c in columns])
    console.print(table)
    console.print(
        f"storage: {health.storage_bytes} bytes"
        + (f" of {health.storage_quota_bytes}" if health.storage_quota_bytes else "")
    )
    console.print("unresolved errors: " + ", ".join(f"{category} {n}" for category, n in health.errors.items()))
    for alert in health.alerts:
        console.print(f"[bold red]ALERT[/] {alert}")
    print(json.dumps({"alerts": health.alerts, "errors": health.errors}))
    if health.alerts:
        raise typer.Exit(1)


if __name__ == "__main__":
    app()
