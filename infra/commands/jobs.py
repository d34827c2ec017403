"""`restoreclick worker run` and `restoreclick jobs list|retry|cancel`."""

from __future__ import annotations

import json
from typing import Annotated
from uuid import UUID

import typer
from rich.console import Console
from rich.table import Table

from infra.commands.progress import stderr_console
from infra.commands.targets import JsonOption, TargetOption, operating_on
from shared.core import db
from shared.deps import get_database
from shared.jobs.queues import every_queue

worker_app = typer.Typer(help="Run a worker by hand.")
jobs_app = typer.Typer(help="Inspect, retry or cancel background jobs.")
console = Console()


@worker_app.command("run")
def run(
    name: Annotated[str, typer.Argument(help="restoration, email, cleanup, monitor or checkouts")],
    once: Annotated[bool, typer.Option("--once", help="Claim one batch only.")] = False,
    max_seconds: Annotated[float, typer.Option(help="Stop claiming after this long.")] = 300,
    target: TargetOption = "dev",
    as_json: JsonOption = False,
) -> None:
    """Run a worker now, as its schedule would; print its report (JSON)."""
    from shared.jobs.queue import deadline_in
    from shared.jobs.schedule import run_scheduled

    with operating_on(target) as settings, stderr_console().status(f"Running the {name} worker…"):
        report = run_scheduled(name, settings, deadline_in(max_seconds), once=once)
    if as_json:
        print(json.dumps(report, default=str))
    else:
        console.print_json(json.dumps(report, default=str))


@jobs_app.command("list")
def list_jobs(
    status: Annotated[str | None, typer.Option(help="pending, running, sending, dead, …")] = None,
    limit: int = 50,
    target: TargetOption = "dev",
    as_json: JsonOption = False,
) -> None:
    """The most recently changed jobs of every queue."""
    with operating_on(target) as settings, get_database().transaction() as conn:
        queues = list(every_queue(settings).values())
        found = db.all_rows(
            conn, "queue_list",
            queues=[q.name for q in queues], tables=[q.table for q in queues], status=status, limit=limit,
        )  # fmt: skip
    if as_json:
        print(json.dumps(found, default=str))
        return
    table = Table()
    for column in ("queue", "id", "status", "attempts", "run after", "last error"):
        table.add_column(column)
    for job in found:
        table.add_row(
            job["queue"],
            str(job["id"]),
            job["status"],
            f"{job['attempt_number']}/{job['max_attempts']}",
            f"{job['run_after']:%Y-%m-%d %H:%M:%S}",
            (job["last_error"] or "")[:80],
        )
    console.print(table)


PAST = {"retry": "retried", "cancel": "cancelled"}


def _is_job_id(job_id: str) -> bool:
    # Job ids are uuids: anything else is a typo, told in the operator's words before the
    # database's cast would refuse it in its own.
    try:
        UUID(job_id)
    except ValueError:
        return False
    return True


def _change(action: str, queue: str, job_id: str, target: str) -> None:
    with operating_on(target) as settings:
        queues = every_queue(settings)
        if queue not in queues:
            raise typer.BadParameter(f"queue must be one of {', '.join(queues)}")
        if not _is_job_id(job_id):
            console.print(f"[red]{job_id} is not a job id[/]")
            raise typer.Exit(1)
        with get_database().transaction(actor="operator") as conn:
            changed = db.maybe_one(conn, f"queue_{action}", table=queues[queue].table, id=job_id)
    if changed is None:
        console.print(f"[red]no {queue} job {job_id} that can be {PAST[action]} now[/]")
        raise typer.Exit(1)
    console.print(f"[green]{PAST[action]}: {queue} job {job_id}[/]")


@jobs_app.command("retry")
def retry(queue: str, job_id: str, target: TargetOption = "dev") -> None:
    """Put a dead or cancelled job back in the queue with fresh attempts."""
    _change("retry", queue, job_id, target)


@jobs_app.command("cancel")
def cancel(queue: str, job_id: str, target: TargetOption = "dev") -> None:
    """Cancel a pending or dead job."""
    _change("cancel", queue, job_id, target)
