"""`restoreclick customers erase EMAIL`: forget a person (shared/privacy/erasure.py)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from infra.commands.targets import TargetOption, fail, operating_on, operator_name
from shared.deps import get_database

app = typer.Typer(help="The shop's customers, as personal data.")
console = Console()


@app.command("erase")
def erase(
    email: Annotated[str, typer.Argument(help="The person's email address.")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    target: TargetOption = "dev",
) -> None:
    """Remove a person: address, name, phone, photos, links, queued emails. Accounting stays."""
    from shared.deps import get_storage
    from shared.privacy.erasure import ErasureBlocked, erase_customer

    email = email.strip()
    if "@" not in email:
        raise fail(f"{email!r} is not an email address")
    if not yes:
        typer.confirm(
            f"Erase {email} from {target}: their photos, links, name and address? This cannot be undone",
            abort=True,
        )
    with operating_on(target), console.status("Erasing…"):
        try:
            report = erase_customer(get_database(), get_storage(), email, actor=operator_name())
        except ErasureBlocked as exc:
            raise fail(exc.message, 1) from None
    if not report.found:
        console.print(f"nothing in {target} holds {email}")
        return
    console.print(
        f"[green]erased[/]: {len(report.customer_ids)} customer row(s), {report.orders} order(s) kept for "
        f"accounting, {report.checkouts} checkout(s), {report.objects_deleted} stored object(s) deleted"
    )
    for name, n in report.rows_changed.items():
        if n:
            console.print(f"  {name}: {n}")
