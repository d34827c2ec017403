"""`restoreclick orders list|show|refund|resend` (shared/orders/operator.py)."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from infra.commands.targets import JsonOption, TargetOption, fail, operating_on, operator_name, print_json
from shared.core.errors import RestoreClickError
from shared.deps import get_database

app = typer.Typer(help="Look after one order: list, show, refund, resend its link.")
console = Console()
STATUSES = ("paid", "processing", "completed", "partially_completed", "failed", "refunded", "disputed")


@app.command("list")
def list_command(
    status: Annotated[str | None, typer.Option(help=", ".join(STATUSES))] = None,
    since: Annotated[int | None, typer.Option("--since", min=1, help="Only orders of the last DAYS days.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 100,
    target: TargetOption = "dev",
    as_json: JsonOption = False,
) -> None:
    """Orders, the newest first."""
    from shared.orders.operator import list_orders

    if status is not None and status not in STATUSES:
        raise fail(f"unknown status {status!r}; choose from {', '.join(STATUSES)}")
    with operating_on(target), get_database().transaction() as conn:
        found = list_orders(conn, status=status, since_days=since, limit=limit)
    if as_json:
        print_json(found)
        return
    table = Table(title=f"orders ({target})")
    table.add_column("order", no_wrap=True)
    for column in ("status", "payment", "photos", "total", "created", "customer"):
        table.add_column(column)
    for o in found:
        table.add_row(
            o["order_number"], o["status"], o["payment_status"], str(o["image_count"]),
            f"{o['total_amount'] / 100:.2f} {o['currency'].upper()}", f"{o['created_at']:%Y-%m-%d %H:%M}", o["email"],
        )  # fmt: skip
    console.print(table)


def _section(title: str, rows: list[dict[str, Any]], columns: list[str]) -> None:
    table = Table(title=f"{title} ({len(rows)})")
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*["" if row.get(c) is None else str(row[c])[:60] for c in columns])
    console.print(table)


@app.command("show")
def show(order_number: str, target: TargetOption = "dev", as_json: JsonOption = False) -> None:
    """The order's photos and jobs, emails, links, payment and audit trail."""
    from shared.orders.operator import show_order

    with operating_on(target), get_database().transaction() as conn:
        try:
            view = show_order(conn, order_number)
        except RestoreClickError as exc:
            raise fail(exc.message, 1) from None
    if as_json:
        print_json(view)
        return
    o = view["order"]
    console.print(f"[bold]order {o['order_number']}[/]  {o['status']}  payment {o['payment_status']}")
    console.print(f"  customer {o['email']}  {o['image_count']} photo(s)  {o['total_amount']} {o['currency']}")
    console.print(
        f"  created {o['created_at']}  completed {o['completed_at'] or '-'}"
        f"  photos deleted {o['photos_deleted_at'] or '-'}"
    )
    p = view["payment"] or {}
    console.print(
        f"  payment: {p.get('payments_provider', '-')} {p.get('stripe_checkout_session_id', '-')} "
        f"intent {p.get('stripe_payment_intent_id') or '-'} checkout {p.get('status', '-')} "
        f"refund {p.get('stripe_refund_id') or '-'}"
    )
    _section("photos", view["photos"], ["type", "filename", "size_bytes", "width", "height", "stored_at", "deleted_at"])
    _section("jobs", view["jobs"], ["queue", "id", "status", "attempt_number", "last_error"])
    _section("emails", view["emails"], ["template", "status", "to_email", "sent_at", "last_error"])
    _section("links", view["links"], ["id", "expires_at", "download_count", "max_downloads", "revoked_reason"])
    _section("audit trail", view["audit"], ["created_at", "entity_type", "action", "actor", "new_values"])


@app.command("refund")
def refund(
    order_number: str,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    target: TargetOption = "dev",
) -> None:
    """Refund an order in full through the webhook's refund path, and stop its work."""
    from shared.deps import get_payments
    from shared.orders.operator import refund_order

    if not yes:
        typer.confirm(f"Refund order {order_number} in full on {target}?", abort=True)
    with operating_on(target), console.status(f"Refunding {order_number}…"):
        try:
            outcome = refund_order(get_database(), get_payments(), order_number, actor=operator_name())
        except RestoreClickError as exc:
            raise fail(exc.message, 1) from None
    if outcome.status == "refund_pending":
        raise fail(
            f"order {order_number}: the provider has not refunded it yet (checkout {outcome.checkout_status}); "
            "see `restoreclick errors list --category payment`",
            1,
        )
    verb = "was already refunded" if outcome.status == "already_refunded" else "refunded"
    console.print(f"[green]{order_number} {verb}[/] (refund {outcome.refund_id or 'none needed'})")


@app.command("resend")
def resend(order_number: str, target: TargetOption = "dev") -> None:
    """Email the customer a fresh download link (the email worker sends it)."""
    from shared.jobs.triggers import request_worker_run
    from shared.orders.operator import resend_order_link

    with operating_on(target) as settings:
        try:
            queued = resend_order_link(get_database(), order_number)
        except RestoreClickError as exc:
            raise fail(exc.message, 1) from None
        if queued:
            request_worker_run(settings, "email")  # the target's own workers, not this shell's
    if not queued:
        raise fail(f"no email queued for {order_number}: it is not finished, or it had its resends for this hour", 1)
    console.print(f"[green]queued[/] a fresh download link for {order_number}; the email worker sends it")
