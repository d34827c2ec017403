"""Every app shares one error shape, security headers, CORS and a body limit."""

from __future__ import annotations

import json

import pytest
from fastapi import APIRouter, Request
from fastapi.testclient import TestClient
from pydantic import BaseModel

from shared.core.config import Settings
from shared.core.errors import Conflict
from shared.core.http import create_app

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


def test_a_client_that_sends_its_whole_oversized_body_first_reads_the_413(settings: Settings) -> None:
    """Over real HTTP through uvicorn as the dev server runs it (h11; httptools is not
    installed): a client that sends 30 MB before reading must get the JSON 413, not a reset."""
    import socket

    from tests.fixtures.http_server import serve

    app = create_app("test", [router], max_body_bytes=1024 * 1024)
    body = b"x" * (30 * 1024 * 1024)
    with serve(app, http="auto") as url:
        port = int(url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            sock.sendall(
                b"POST /api/raw HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/octet-stream\r\n"
                + f"content-length: {len(body)}\r\n\r\n".encode()
            )
            sock.sendall(body)  # a reset here was the bug
            answer = _read_response(sock)
        assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
        assert json.loads(answer.partition(b"\r\n\r\n")[2])["error"]["code"] == "request_too_large"
        assert b"content-type: application/json" in answer.lower()

        # Asking first (Expect: 100-continue): answered at once, before any body is sent.
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            sock.sendall(
                b"POST /api/raw HTTP/1.1\r\nhost: 127.0.0.1\r\nexpect: 100-continue\r\n"
                + f"content-length: {len(body)}\r\n\r\n".encode()
            )
            answer = _read_response(sock)
        assert answer.startswith(b"HTTP/1.1 413") and b"request_too_large" in answer


def _read_response(sock) -> bytes:  # type: ignore[no-untyped-def]
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
        head, _, rest = received.partition(b"\r\n\r\n")
        length = next(
            (int(h.split(b":")[1]) for h in head.split(b"\r\n") if h.lower().startswith(b"content-length")), None
        )
        if length is not None and len(rest) >= length:
            break
    return received


def test_a_refused_cors_preflight_is_our_json_error_with_the_security_headers(client: TestClient) -> None:
    refused = client.options(
        "/api/echo",
        headers={"origin": "https://evil.example", "access-control-request-method": "POST"},
    )
    assert refused.status_code == 400
    assert refused.headers["content-type"] == "application/json"
    assert refused.json()["error"]["code"] == "cors_refused"
    assert refused.headers["x-content-type-options"] == "nosniff"
    assert refused.headers["content-security-policy"].startswith("default-src 'none'")
    bad_method = client.options(
        "/api/echo",
        headers={"origin": "http://127.0.0.1:8000", "access-control-request-method": "PATCH"},
    )
    assert bad_method.status_code == 400 and bad_method.json()["error"]["code"] == "cors_refused"
