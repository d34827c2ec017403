"""Steps of the customer journey, for tests that need to get somewhere first."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from fastapi.testclient import TestClient

from tests import images


def upload_photos(shop: TestClient, count: int = 2) -> dict[str, Any]:
    files = [("files", (f"photo{n}.jpg", images.jpeg(seed=n), "image/jpeg")) for n in range(count)]
    response = shop.post("/api/uploads", files=files)
    assert response.status_code == 201, response.text
    return response.json()


def start_checkout(shop: TestClient, session_id: str, email: str = "ada@example.com") -> dict[str, Any]:
    response = shop.post("/api/checkout", json={"upload_session_id": session_id, "email": email, "name": "Ada"})
    assert response.status_code == 201, response.text
    return response.json()


def press_pay(shop: TestClient, checkout_url: str, method: str = "card") -> Any:
    """What the customer's Pay button does on the local checkout page (`bank_debit`: the
    session completes unpaid, and the debit clears later)."""
    return shop.post(urlsplit(checkout_url).path + f"/pay?method={method}", follow_redirects=False)
