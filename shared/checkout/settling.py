"""Settling checkouts whose provider event never came: the `checkouts` scheduled run.

It runs every 15 minutes on the stripe-webhook function, which carries the Stripe SDK
(the workers function does not: 7 MB more would take it past its package size), and in
the dev server's scheduler and `restoreclick worker run checkouts` like any worker.

Stripe tells us how every payment page ends (completed, expired, async payment succeeded
or failed), and a lost event is redelivered for days. This is the net under that: each
checkout still live well past its time is put to the provider, and only the provider's
answer moves it on, so a cart is never stuck and never reopened while money may be taken:
- `creating` past its time: no customer ever had its page (the URL is only handed out once
  the provider answered), so it fails here and the cart is free;
- `open` past its time: the provider expires it (the cart is free), or says it was paid
  (then it is fulfilled or refunded now), or pending (it waits as `awaiting_payment`);
- `refunding`: the refund the provider could not be asked for earlier is made now;
- `awaiting_payment` past the window delayed payments clear in: asked again, fulfilled
  if it was paid.
A provider that cannot be reached leaves the checkout as it is, for the next run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from shared.checkout.checkouts import Checkout, PaymentPending, end_checkout_at_provider
from shared.core import db
from shared.core.config import Settings
from shared.orders.fulfilment import fulfil_checkout_session
from shared.payments import CheckoutAlreadyPaid, PaymentsProvider, PaymentsUnavailable

log = logging.getLogger("restoreclick.checkout_settling")

# The name of this run on the schedules (serverless.yml) and on the command line.
WORKER_NAME = "checkouts"
# How long after its expiry a checkout waits for Stripe's own event before we ask.
SETTLE_GRACE_MINUTES = 15
# How long a delayed payment method may take to clear (Stripe's SEPA and ACH debits settle
# within two weeks): a checkout awaiting one is asked about again after that.
ASYNC_PAYMENT_WINDOW_DAYS = 14
BATCH_SIZE = 100
SAFETY_MARGIN_SECONDS = 10.0


def run_checkout_settling(settings: Settings, time_left: Callable[[], float]) -> dict[str, Any]:
    """Settle stale checkouts page by page until none is left or the time runs low."""
    from shared.deps import get_database, get_payments

    database, payments = get_database(), get_payments()
    counts: dict[str, int] = {}
    while time_left() > SAFETY_MARGIN_SECONDS:
        page = settle_checkouts(
            database, payments, settings,
            payment_window_days=ASYNC_PAYMENT_WINDOW_DAYS, time_left=time_left,
            safety_margin_seconds=SAFETY_MARGIN_SECONDS, batch_size=BATCH_SIZE, dry_run=False,
        )  # fmt: skip
        for outcome, n in page.items():
            counts[outcome] = counts.get(outcome, 0) + n
        # Only outcomes that moved a checkout on make progress; the others (still pending,
        # provider unreachable, refund refused) are asked about again next run.
        moved = sum(n for o, n in page.items() if o in MOVED_ON)
        if moved == 0 or sum(page.values()) < BATCH_SIZE:
            break
    report: dict[str, Any] = {"checkouts": counts}
    log.info("checkout settling finished", extra={"worker": WORKER_NAME, "report": report})
    return report


MOVED_ON = {"checkouts_abandoned", "checkouts_expired", "checkouts_fulfilled", "checkouts_refunded"}


def settle_checkouts(
    database: db.Database,
    payments: PaymentsProvider,
    settings: Settings,
    *,
    payment_window_days: int,
    time_left: Callable[[], float],
    safety_margin_seconds: float,
    batch_size: int,
    dry_run: bool,
) -> dict[str, int]:
    """Settle one page of stale checkouts; returns counts by outcome."""
    with database.transaction() as conn:
        stale = db.all_rows(
            conn, "checkouts_to_settle", Checkout,
            grace_minutes=SETTLE_GRACE_MINUTES, payment_window_days=payment_window_days, batch_size=batch_size,
        )  # fmt: skip
    counts: dict[str, int] = {}
    if dry_run:
        return {"checkouts_to_settle": len(stale)} if stale else {}
    for checkout in stale:
        if time_left() <= safety_margin_seconds:
            break
        try:
            outcome = _settle(database, payments, settings, checkout)
        except PaymentsUnavailable:
            outcome = "provider_unreachable"
        counts[f"checkouts_{outcome}"] = counts.get(f"checkouts_{outcome}", 0) + 1
    return counts


def _settle(database: db.Database, payments: PaymentsProvider, settings: Settings, checkout: Checkout) -> str:
    if checkout.status == "creating":
        with database.transaction(actor="cleanup") as conn:
            db.maybe_one(conn, "abandon_checkout", checkout_id=str(checkout.id), unanswered=False)
        return "abandoned"
    assert checkout.stripe_checkout_session_id is not None
    if checkout.status == "open":
        try:
            end_checkout_at_provider(database, payments, checkout, actor="cleanup")
            return "expired"
        except PaymentPending:
            return "payment_pending"
        except CheckoutAlreadyPaid:
            pass  # paid, and its event lost: fulfil (or refund) it now
    result = fulfil_checkout_session(database, payments, settings, checkout.stripe_checkout_session_id)
    if result.order is not None:
        return "fulfilled"
    return result.reason if result.reason in ("refunded", "refund_pending") else "payment_pending"
