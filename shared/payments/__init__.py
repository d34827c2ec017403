"""Payments: Stripe Checkout in production, a local stand-in on a laptop.

PAYMENTS_PROVIDER chooses (`stripe` when STRIPE_SECRET_KEY is set, `local` otherwise).
The stripe package is imported only by the module that calls it.
"""

from __future__ import annotations

from shared.core.config import Settings
from shared.payments.base import (
    CheckoutAlreadyPaid,
    CheckoutRequest,
    CheckoutSessionInfo,
    CreatedCheckout,
    PaymentsProvider,
    PaymentsRejected,
    PaymentsUnavailable,
    Refund,
    RefundRequest,
)
from shared.stripe_events.signatures import sign_webhook_payload, verify_webhook


def webhook_secrets(settings: Settings) -> list[str]:
    """Every accepted webhook secret: several during a rotation, comma-separated."""
    raw = settings.stripe_webhook_secret.get_secret_value()
    return [s.strip() for s in raw.split(",") if s.strip()]


def payments_from_settings(settings: Settings) -> PaymentsProvider:
    if settings.effective_payments_provider == "stripe":
        from shared.payments.stripe_provider import StripePayments

        return StripePayments(
            settings.require("stripe_secret_key"), settings.stripe_api_base, settings.stripe_timeout_seconds
        )
    from shared.payments.local_provider import LocalPayments

    return LocalPayments(settings.local_data_dir / "payments", settings.public_base_url)


# What other folders use: the provider interface, the factory, webhook secrets, refunds, and
# the local stand-in with its checkout page (for the dev server and tests only).
__all__ = [
    "CheckoutAlreadyPaid",
    "CheckoutRequest",
    "CheckoutSessionInfo",
    "CreatedCheckout",
    "PaymentsProvider",
    "PaymentsRejected",
    "PaymentsUnavailable",
    "Refund",
    "RefundRequest",
    "local_provider",
    "local_routes",
    "payments_from_settings",
    "refunds",
    "sign_webhook_payload",
    "verify_webhook",
    "webhook_secrets",
]
