"""Every scheduled run by name, for the dev server's scheduler and `restoreclick worker run`.

In AWS two functions share them: the workers function runs `run_worker`'s (restoration,
email, cleanup, monitor), and the stripe-webhook function runs the checkout settling, so
that the workers function never needs the Stripe SDK. This module, which knows both, is
imported by neither function.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from shared.checkout.settling import WORKER_NAME as CHECKOUT_SETTLING
from shared.checkout.settling import run_checkout_settling
from shared.core.config import Settings
from shared.jobs.workers import WORKER_NAMES, run_worker

SCHEDULED_RUNS = (*WORKER_NAMES, CHECKOUT_SETTLING)


def run_scheduled(
    name: str, settings: Settings, time_left: Callable[[], float], *, once: bool = False
) -> dict[str, Any]:
    """Run one scheduled run now, as its schedule would."""
    if name == CHECKOUT_SETTLING:
        return run_checkout_settling(settings, time_left)
    return run_worker(name, settings, time_left, once=once)
