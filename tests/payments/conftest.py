"""Fixtures of the payments tests: the Stripe stand-in server, and a quiet, quick client."""

from __future__ import annotations

import pytest
import stripe
from stripe._http_client import HTTPClient

from tests.fixtures.shop_on_stripe import stripe_shop
from tests.fixtures.stripe_standin import stripe_server, stripe_standin

__all__ = ["stripe_server", "stripe_shop", "stripe_standin"]


@pytest.fixture(autouse=True)
def _quiet_fast_stripe(monkeypatch: pytest.MonkeyPatch) -> None:
    # Telemetry would write an id under ~/.config/stripe and add platform details to requests.
    monkeypatch.setattr(stripe, "enable_telemetry", False)
    # The client waits 0.5 s, then about 1 s, before its two retries; the stand-in needs no pause.
    monkeypatch.setattr(HTTPClient, "_sleep_time_seconds", lambda self, num_retries: 0.0)
