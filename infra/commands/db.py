"""`restoreclick db`: status, push and verify over one or more named databases."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from infra.commands.progress import bar
from infra.commands.targets import JsonOption, chosen_names, open_targets
from shared.core import db
from shared.core.config import get_settings
from shared.migrations import (
    MigrationFailed,
    MigrationFile,
    MigrationRefused,
    State,
    plan_migrations,
    push_migrations,
)

app = typer.Typer(help="Apply and check the schema migrations in supabase/migrations/.")
console = Console()

TargetOption = Annotated[
    list[str] | None,
    typer.Option("--target", "-t", help="dev (DATABASE_URL) or prod (PRODUCTION_DATABASE_URL)."),
]
AllOption = Annotated[bool, typer.Option("--all", help="Every configured target.")]

STATE_STYLE: dict[State, str] = {
    "applied": "green",
    "pending": "yellow",
    "drifted": "bold red",
    "missing_file": "bold red",
}


@app.command()
def status(target: TargetOption = None, every: AllOption = False, as_json: JsonOption = False) -> None:
    """Print, per target, which migrations are applied, pending or drifted."""
    settings = get_settings()
    report = []
    with open_targets(chosen_names(target or [], every, settings), settings) as targets:
        for t in targets:
            with db.connect(t.url) as conn:
                plan = plan_migrations(conn, settings.migrations_dir)
            if as_json:
                report.append(
                    {
                        "target": t.name,
                        "database": t.display_url,
                        "migrations": [{"version": e.version, "name": e.name, "state": e.state} for e in plan.entries],
                        "counts": {s: len(plan.having(s)) for s in STATE_STYLE},
                    }
                )
                continue
            table = Table(title=f"{t.name}  {t.display_url}")
            for column in ("version", "name", "state"):
                table.add_column(column)
            for entry in plan.entries:
                table.add_row(entry.version, entry.name, f"[{STATE_STYLE[entry.state]}]{entry.state}[/]")
            console.print(table)
            counts = {s: len(plan.having(s)) for s in STATE_STYLE}
            console.print(", ".join(f"{n} {s}" for s, n in counts.items()))
    if as_json:
        print(json.dumps({"targets": report}))


@app.command()
def push(
    target: TargetOption = None,
    every: AllOption = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would be applied.")] = False,
    include_all: Annotated[
        bool, typer.Option("--include-all", help="Also apply files older than the newest applied.")
    ] = False,
) -> None:
    """Apply pending migrations in version order, each file in one transaction."""
    settings = get_settings()
    failed = False
    with open_targets(chosen_names(target or [], every, settings), settings) as targets:
        for t in targets:
            console.print(f"[bold]{t.name}[/]  {t.display_url}")
            with db.connect(t.url) as conn:
                pending = len(plan_migrations(conn, settings.migrations_dir).pending)
            try:
                with bar(f"{t.name}: applying migrations", pending) as step:

                    def applied(f: MigrationFile) -> None:
                        step(f.filename)
                        console.print(f"  applied {f.filename}")

                    result = push_migrations(
                        t.url,
                        settings.migrations_dir,
                        dry_run=dry_run,
                        include_all=include_all,
                        on_apply=applied,
                    )
            except (MigrationRefused, MigrationFailed) as exc:
                console.print(f"  [bold red]{exc}[/]")
                failed = True
                continue
            if dry_run:
                for f in result.applied:
                    console.print(f"  would apply {f.filename}")
            if not result.applied:
                console.print("  nothing to apply: up to date")
    if failed:
        raise typer.Exit(1)


@app.command()
def verify(target: TargetOption = None, every: AllOption = False) -> None:
    """Exit non-zero, naming the file, when an applied migration changed or vanished, or none is applied."""
    settings = get_settings()
    failed = False
    with open_targets(chosen_names(target or [], every, settings), settings) as targets:
        for t in targets:
            with db.connect(t.url) as conn:
                plan = plan_migrations(conn, settings.migrations_dir)
            if plan.problems:
                failed = True
                for line in plan.problems:
                    console.print(f"[bold red]{t.name}[/]: {line}")
            else:
                applied = len(plan.having("applied"))
                # Nothing applied verifies nothing (after a failed restore, say): exit 1 so a
                # script does not read it as a pass. Some applied and some pending is exit 0.
                failed = failed or applied == 0
                console.print(_verified(t.name, applied, len(plan.having("pending"))))
    if failed:
        raise typer.Exit(1)


def _verified(target: str, applied: int, pending: int) -> str:
    """What a verify without mismatches says. Verify compares the applied history with the
    files; a file not applied yet is not a mismatch (push applies it), so it says so plainly;
    with nothing applied there is nothing verified (the caller exits 1)."""
    if applied == 0:
        return (
            f"[bold red]{target}[/]: no migration applied yet, nothing to compare; "
            f"{pending} pending: run ./restoreclick db push --target {target}"
        )
    line = f"[green]{target}[/]: history matches the files: {applied} applied, unchanged"
    if pending:
        line += f"; {pending} pending (not a mismatch): run ./restoreclick db push --target {target}"
    return line + ("" if pending else "; none pending")


# The operating commands that belong to the database live in their own modules.
from infra.commands import backup as _backup  # noqa: E402
from infra.commands import health as _health  # noqa: E402

app.command("backup")(_backup.backup)
app.command("restore")(_backup.restore)
app.command("health")(_health.health)
