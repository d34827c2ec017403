"""Every app shares one error shape, security headers, CORS and a body limit."""

from __future__ import annotations

import pytest
from fastapi import APIRouter, Request
from fastapi.testclient import TestClient
from pydantic import BaseModel

from shared.config import Settings
from shared.errors import Conflict
from shared.http import create_app

router = APIRouter()


class Echo(BaseModel):
    text: str


@router.post("/api/echo")
def echo(body: Echo) -> dict[str, str]:
    return {"text": body.text}


@router.post("/api/raw")
async def raw(request: Request) -> dict[str, int]:
    return {"size": len(await request.body())}


@router.get("/api/conflict")
def conflict() -> None:
    raise Conflict("that photo was already paid for", code="already_paid")


@router.get("/api/boom")
def boom() -> None:
    raise RuntimeError("secret database password is hunter2")


@pytest.fixture
def client(settings: Settings) -> TestClient:
    return TestClient(create_app("test", [router], max_body_bytes=100), raise_server_exceptions=False)


def test_domain_errors_render_in_the_json_error_shape(client: TestClient) -> None:
    response = client.get("/api/conflict")
    assert response.status_code == 409
    assert response.json() == {"error": {"code": "already_paid", "message": "that photo was already paid for"}}


def test_validation_errors_say_which_field(client: TestClient) -> None:
    response = client.post("/api/echo", json={"wrong": 1})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "validation_failed"
    assert "text" in error["message"]


def test_unknown_routes_and_methods_use_the_same_shape(client: TestClient) -> None:
    assert client.get("/nowhere").json()["error"]["code"] == "not_found"
    response = client.get("/api/echo")
    assert response.status_code == 405 and response.json()["error"]["code"] == "method_not_allowed"


def test_unexpected_errors_are_500_without_a_stack_trace_or_secret(client: TestClient) -> None:
    response = client.get("/api/boom")
    assert response.status_code == 500
    assert response.json() == {
        "error": {"code": "internal_error", "message": "something went wrong on our side; please try again"}
    }
    assert "hunter2" not in response.text and "Traceback" not in response.text
    assert response.headers["x-content-type-options"] == "nosniff"


def test_security_headers_on_every_response(client: TestClient) -> None:
    for response in (client.get("/api/conflict"), client.post("/api/echo", json={"text": "hi"})):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert "default-src 'none'" in response.headers["content-security-policy"]
        assert response.headers["cache-control"] == "no-store"


def test_a_declared_oversized_body_is_refused_before_parsing(client: TestClient) -> None:
    response = client.post(
        "/api/echo", content=b'{"text": "' + b"x" * 200 + b'"}', headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_too_large"


def test_a_streamed_oversized_body_is_cut_off(client: TestClient) -> None:
    def chunks():  # no Content-Length: the limit is counted as the body arrives
        for _ in range(10):
            yield b"x" * 50

    response = client.post("/api/raw", content=chunks())
    assert response.status_code == 413
    assert client.post("/api/raw", content=b"x" * 100).json() == {"size": 100}


def test_cors_allows_only_the_configured_origins(client: TestClient) -> None:
    allowed = client.options(
        "/api/echo",
        headers={"origin": "http://127.0.0.1:8000", "access-control-request-method": "POST"},
    )
    assert allowed.headers["access-control-allow-origin"] == "http://127.0.0.1:8000"
    refused = client.options(
        "/api/echo",
        headers={"origin": "https://evil.example", "access-control-request-method": "POST"},
    )
    assert "access-control-allow-origin" not in refused.headers
    simple = client.get("/api/conflict", headers={"origin": "https://evil.example"})
    assert "access-control-allow-origin" not in simple.headers
