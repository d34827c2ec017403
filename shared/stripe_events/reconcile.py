"""Reconciliation: fulfil paid checkout sessions whose webhook never arrived.

Lists the provider's completed checkout sessions of the last days (every page) and runs
the same fulfilment the webhook runs for any that has no order. Fulfilment is idempotent,
so this is safe to run at any time, from cron too, even while webhooks are arriving.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from shared.core import db
from shared.core.config import Settings
from shared.core.errors import NotFound
from shared.orders.fulfilment import fulfil_checkout_session
from shared.orders.numbers import order_by_checkout_session
from shared.payments import PaymentsProvider


@dataclass
class ReconcileReport:
    seen: int = 0
    fulfilled: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)


def reconcile_payments(
    database: db.Database,
    payments: PaymentsProvider,
    settings: Settings,
    days: int = 3,
    on_seen: Callable[[ReconcileReport], None] | None = None,
) -> ReconcileReport:
    """Fulfil every completed checkout session since `days` ago that has no order yet
    (`on_seen` is told after each session, for progress)."""
    report = ReconcileReport()
    since = datetime.now(UTC) - timedelta(days=days)
    for session in payments.list_completed_checkout_sessions(since):
        report.seen += 1
        try:
            with database.transaction() as conn:
                if order_by_checkout_session(conn, session.id) is not None:
                    continue
            try:
                result = fulfil_checkout_session(database, payments, settings, session.id)
            except NotFound as exc:
                report.skipped.append((session.id, exc.message))
                continue
            if result.order is None:
                report.skipped.append((session.id, result.reason))
                continue
            report.fulfilled.append(result.order.order_number)
        finally:
            if on_seen:
                on_seen(report)
    return report
