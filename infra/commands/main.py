"""`restoreclick`: the one command-line entry point for people."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from infra.commands.customers import app as customers_app
from infra.commands.db import app as db_app
from infra.commands.error_log import app as errors_app
from infra.commands.errors import OperatorGroup
from infra.commands.jobs import jobs_app, worker_app
from infra.commands.orders import app as orders_app
from infra.commands.progress import counting
from infra.commands.targets import JsonOption, TargetOption, operating_on

app = typer.Typer(
    cls=OperatorGroup,
    help="RestoreClick backend: run it locally, migrate it, operate it.",
    no_args_is_help=True,
)
app.add_typer(db_app, name="db")
app.add_typer(worker_app, name="worker")
app.add_typer(jobs_app, name="jobs")
app.add_typer(errors_app, name="errors")
app.add_typer(customers_app, name="customers")
app.add_typer(orders_app, name="orders")


@app.callback()
def main(
    ctx: typer.Context,
    debug: Annotated[
        bool, typer.Option("--debug", envvar="RESTORECLICK_DEBUG", help="Show the full traceback of a failure.")
    ] = False,
) -> None:
    """RestoreClick backend tools. Every command but `dev` takes --target dev|prod."""
    ctx.meta["restoreclick.debug"] = debug


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
    target: TargetOption = "dev",
    as_json: JsonOption = False,
) -> None:
    """Fulfil paid checkouts whose webhook never arrived. Safe to run at any time."""
    from shared.deps import get_database, get_payments
    from shared.stripe_events.reconcile import ReconcileReport, reconcile_payments

    def progress(report: ReconcileReport) -> None:
        seen(1, f"{len(report.fulfilled)} fulfilled")

    with (
        operating_on(target) as settings,
        counting("Asking the payment provider for completed checkouts", "checkout(s) seen") as seen,
    ):
        report = reconcile_payments(get_database(), get_payments(), settings, days, on_seen=progress)
    if as_json:
        skipped = [{"checkout_session_id": s, "reason": r} for s, r in report.skipped]
        print(json.dumps({"seen": report.seen, "fulfilled": report.fulfilled, "skipped": skipped}))
        return
    console = Console()
    console.print(f"{report.seen} completed checkout(s) seen, {len(report.fulfilled)} fulfilled now")
    for number in report.fulfilled:
        console.print(f"  [green]fulfilled[/] order {number}")
    for session_id, reason in report.skipped:
        console.print(f"  [yellow]skipped[/] {session_id}: {reason}")


@app.command()
def cleanup(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print what would go; change nothing.")] = False,
    max_seconds: Annotated[float, typer.Option(help="Stop after this long; the next run resumes.")] = 600,
    target: TargetOption = "dev",
    as_json: JsonOption = False,
) -> None:
    """Remove abandoned uploads, dead links, old events and finished jobs."""
    from shared.deps import get_database, get_storage
    from shared.jobs.cleanup import run_cleanup
    from shared.jobs.queue import deadline_in

    with operating_on(target) as settings:
        verb = "would remove" if dry_run else "removed"
        with counting("Cleaning up" if not dry_run else "Counting what cleanup would remove", verb) as step:
            report = run_cleanup(
                get_database(), get_storage(), settings, time_left=deadline_in(max_seconds), dry_run=dry_run,
                on_page=lambda what, n: step(n, what),
            )  # fmt: skip
    if as_json:
        print(json.dumps({"dry_run": report.dry_run, "finished": report.finished, "counts": report.counts}))
        return
    console = Console()
    for what, n in report.counts.items():
        console.print(f"  {what}: {verb} {n}")
    if not report.finished:
        console.print("[yellow]stopped for time; the next run resumes[/]")


MONITOR_COLUMNS = [
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


@app.command()
def monitor(target: TargetOption = "dev", as_json: JsonOption = False) -> None:
    """Queue and storage health; exits 1 when an alert fires (for a cron alarm)."""
    from shared.deps import get_database
    from shared.jobs.monitoring import check_health

    with operating_on(target) as settings:
        health = check_health(get_database(), settings)
    if as_json:
        print(json.dumps(health.as_dict(), default=str))
    else:
        _print_health(health.queues, health.storage_bytes, health.storage_quota_bytes, health.alerts)
        unresolved = ", ".join(f"{category} {n}" for category, n in health.errors.items())
        Console().print(f"unresolved errors: {unresolved or 'none'}")
    if health.alerts:
        raise typer.Exit(1)


def _print_health(queues: list[dict[str, Any]], used: int, quota: int | None, alerts: list[str]) -> None:
    console = Console()
    table = Table(title="queues")
    for column in MONITOR_COLUMNS:
        table.add_column(column)
    for q in queues:
        table.add_row(*[f"{q[c]:.1f}" if isinstance(q[c], float) else str(q[c]) for c in MONITOR_COLUMNS])
    console.print(table)
    console.print(f"storage: {used} bytes" + (f" of {quota}" if quota else ""))
    for alert in alerts:
        console.print(f"[bold red]ALERT[/] {alert}")
    if not alerts:
        console.print("[green]no alert[/]")


if __name__ == "__main__":
    app()
