"""`restoreclick db backup` and `db restore` (the logic is infra/backup.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from infra.commands.targets import TargetOption, display_url, fail, operating_on, target_url

console = Console()


def backup(
    out: Annotated[Path, typer.Option("--out", "-o", help="The archive to write (its manifest goes beside it).")],
    target: TargetOption = "dev",
) -> None:
    """Back up the shop's schemas and data (pg_dump custom format) with a manifest of storage objects."""
    from infra.backup import PgToolFailed
    from infra.backup import backup as run_backup
    from infra.pg_tools import PgToolMissing

    with (
        operating_on(target) as settings,
        console.status(f"Backing up {target} ({display_url(target_url(settings))})…") as status,
    ):
        try:
            result = run_backup(target_url(settings), out, step=lambda s: status.update(s + "…"))
        except (PgToolMissing, PgToolFailed) as exc:
            raise fail(str(exc), 1) from None
        except OSError as exc:
            raise fail(f"cannot write {out}: {exc.strerror or exc}", 1) from None
    console.print(f"[green]backed up[/] {target} to {result.archive} with {result.tool}")
    console.print(f"  {sum(result.tables.values())} rows in {len(result.tables)} tables; manifest {result.manifest}")
    console.print(f"  {result.objects} storage object(s) named by rows are listed in the manifest")


def restore(
    archive: Annotated[Path, typer.Argument(help="An archive written by `db backup`.")],
    target: TargetOption = "dev",
    force: Annotated[
        bool, typer.Option("--force", help="Replace the shop's schemas if the database holds tables.")
    ] = False,
) -> None:
    """Restore an archive into an empty database; refuses one that holds tables unless --force."""
    from infra.backup import PgToolFailed, RestoreRefused, RowsMismatched
    from infra.backup import restore as run_restore
    from infra.local_database import bootstrap_server
    from infra.pg_tools import PgToolMissing

    # schema=False: the archive brings the schema, so the embedded database is not migrated
    # first (it would no longer be empty) and a database without one is the expected case.
    with (
        operating_on(target, schema=False) as settings,
        console.status(f"Restoring into {target} ({display_url(target_url(settings))})…") as status,
    ):
        url = target_url(settings)
        try:
            result = run_restore(
                url, archive, force=force, ensure_roles=lambda: bootstrap_server(url),
                step=lambda s: status.update(s + "…"),
            )  # fmt: skip
        except RowsMismatched as exc:
            for name, (expected, got) in exc.mismatched.items():
                restored = "not restored" if got < 0 else f"{got} rows restored"
                listed = "the manifest does not list it" if expected < 0 else f"the manifest says {expected}"
                console.print(f"[bold red]{name}[/]: {restored}, {listed}")
            raise fail(str(exc), 1) from None
        except (RestoreRefused, PgToolMissing, PgToolFailed) as exc:
            raise fail(str(exc), 1) from None
        except OSError as exc:
            raise fail(f"cannot read {archive}: {exc.strerror or exc}", 1) from None
    table = Table(title=f"restored into {target}")
    for column in ("table", "rows"):
        table.add_column(column)
    for name, n in result.tables.items():
        table.add_row(name, str(n))
    console.print(table)
    console.print(f"[green]restored[/] with {result.tool}; every table's rows match the manifest")
    console.print(f"check it with: ./restoreclick db verify --target {target}")
