"""Every deployed function carries the same guards: headers, CORS, error shape, body limit."""

from __future__ import annotations

import importlib

import pytest
from fastapi.testclient import TestClient

from shared.core.config import Settings

FUNCTIONS = ["upload", "checkout", "stripe_webhook", "replicate_webhook", "status", "download", "resend", "workers"]


def function_app(name: str):  # type: ignore[no-untyped-def]
    module = importlib.import_module(f"functions.{name}.handler")
    factory = next(
        (
            getattr(module, n)
            for n in dir(module)
            if n.startswith("create_") and n.endswith("_app") and n != "create_app"
        ),
        None,
    )
    return factory() if factory else importlib.reload(module).app


@pytest.mark.parametrize("name", FUNCTIONS)
def test_each_function_has_the_security_headers_and_error_shape(settings: Settings, name: str) -> None:
    client = TestClient(function_app(name))
    response = client.get("/api/nowhere")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    for header in (
        "x-content-type-options",
        "x-frame-options",
        "referrer-policy",
        "content-security-policy",
        "x-robots-tag",
        "cache-control",
    ):
        assert header in response.headers, (name, header)
    big = client.post("/api/anything", content=b"x" * (8 * 1024 * 1024))
    assert big.status_code == 413 and big.json()["error"]["code"] == "request_too_large"


@pytest.mark.parametrize("name", FUNCTIONS)
def test_cors_is_limited_to_the_allowed_origins(settings: Settings, name: str) -> None:
    client = TestClient(function_app(name))
    allowed = client.options(
        "/api/anything", headers={"origin": "http://127.0.0.1:8000", "access-control-request-method": "POST"}
    )
    assert allowed.headers.get("access-control-allow-origin") == "http://127.0.0.1:8000"
    refused = client.options(
        "/api/anything", headers={"origin": "https://evil.example", "access-control-request-method": "POST"}
    )
    assert "access-control-allow-origin" not in refused.headers
