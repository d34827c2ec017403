"""A checkout request as shared/checkout/checkouts.py builds one, for both providers' tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from shared.payments.base import CheckoutRequest

UPLOAD_SESSION_ID = "5d0f3c1e-8a7b-4c2d-9e6f-0a1b2c3d4e5f"
CHECKOUT_ID = "9b8a7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
SUCCESS_URL = "https://restoreclick.test/thanks?session_id={CHECKOUT_SESSION_ID}"
CANCEL_URL = f"https://restoreclick.test/upload/{UPLOAD_SESSION_ID}"
METADATA = {"upload_session_id": UPLOAD_SESSION_ID, "checkout_id": CHECKOUT_ID}


def checkout_request(**overrides: Any) -> CheckoutRequest:
    """3 photos at 15.00 EUR for ada@example.com, expiring in an hour."""
    fields: dict[str, Any] = {
        "upload_session_id": UPLOAD_SESSION_ID,
        "checkout_id": CHECKOUT_ID,
        "customer_email": "ada@example.com",
        "photo_count": 3,
        "unit_amount": 1500,
        "currency": "eur",
        "product_name": "Photo restoration",
        "success_url": SUCCESS_URL,
        "cancel_url": CANCEL_URL,
        "expires_at": datetime.now(UTC) + timedelta(hours=1),
        "idempotency_key": "checkout-" + "a" * 48,
        "metadata": dict(METADATA),
    }
    fields.update(overrides)
    return CheckoutRequest(**fields)
