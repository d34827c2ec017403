"""What every function's FastAPI app has in common: one error shape, security headers,
CORS limited to ALLOWED_ORIGINS, and a request body limit enforced before parsing.

Nothing here runs at startup: Mangum runs with lifespan off, and each invocation of a
warm container reuses the app and its lazily opened connection.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Iterable
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BeforeValidator
from pydantic_core import PydanticCustomError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.core.errors import RestoreClickError

log = logging.getLogger("restoreclick.http")

DEFAULT_MAX_BODY_BYTES = 1024 * 1024
# How much of a body declared too large is read (and dropped) so that its sender sees the
# 413 rather than a reset: the largest photo a customer might pick, with room to spare.
DRAIN_MAX_BYTES = 64 * 1024 * 1024

# JSON answers need no scripts, frames or anything else; HTML pages set their own policy.
API_SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "content-security-policy": "default-src 'none'; frame-ancestors 'none'",
    "cross-origin-resource-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=()",
    # Nothing a function answers belongs in a search index (download pages least of all).
    "x-robots-tag": "noindex, nofollow",
}

HTTP_ERROR_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    410: "gone",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_failed",
    429: "too_many_requests",
}


# Characters nobody means to type and nobody can see: the C0 and C1 controls (a NUL, a tab,
# DEL, NEL), the line and paragraph separators, the bidirectional overrides and isolates
# (which make a name or an address display as something else), the zero-width space and
# the byte-order mark. The zero-width joiner and non-joiner stay: Persian and Indic names
# and emoji need them.
_INVISIBLE = re.compile("[\x00-\x1f\x7f-\x9f\u200b\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]")


def has_control_character(value: str) -> bool:
    """Whether `value` holds a control or other invisible character (see _INVISIBLE)."""
    return _INVISIBLE.search(value) is not None


def _refuse_control_characters(value: Any) -> Any:
    # A control character (a NUL above all, which the database cannot store) is a slip of
    # a paste or a script, never part of an address, a name or an order number. Checked
    # before the field's own rules, so a tab in an address reads as this, not as a pattern.
    if isinstance(value, str) and has_control_character(value):
        # A custom error, so the customer reads this sentence without pydantic's prefix.
        raise PydanticCustomError("control_character", "has an invisible control character in it; type it again")
    return value


# A text field a customer types: refused with a 422 naming the field if it holds a control
# character, before anything is recorded.
TypedText = Annotated[str, BeforeValidator(_refuse_control_characters)]


async def raw_body(request: Request) -> bytes:
    """The request's bytes exactly as sent: webhook signatures are computed over them."""
    return await request.body()


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        body["details"] = details
    return {"error": body}


class SecurityHeaders:
    """Adds the security headers to every response that did not set its own, and turns an
    unexpected exception into the JSON 500 (logged with its traceback, never shown)."""

    def __init__(self, app: ASGIApp, *, https: bool) -> None:
        self.app = app
        self.headers = dict(API_SECURITY_HEADERS)
        if https:
            self.headers["strict-transport-security"] = "max-age=63072000; includeSubDomains"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {k.decode().lower() for k, _ in message.get("headers", [])}
                extra = [(k.encode(), v.encode()) for k, v in self.headers.items() if k not in present]
                if "cache-control" not in present:
                    extra.append((b"cache-control", b"no-store"))
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send_with_headers(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            log.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
            await record_server_error("internal_error", f"{type(exc).__name__}: {exc}", route_path(scope))
            if started:
                raise
            body = json.dumps(
                error_body("internal_error", "something went wrong on our side; please try again")
            ).encode()
            await tracking_send(
                {"type": "http.response.start", "status": 500, "headers": [(b"content-type", b"application/json")]}
            )
            await tracking_send({"type": "http.response.body", "body": body})


class BodyLimit:
    """Refuses request bodies over the limit before anything parses them.

    A declared Content-Length over the limit is answered 413 at once; a body without one
    (chunked) is counted as it streams and cut off with 413 when it passes the limit.
    Routes may allow more, by exact path (the multipart upload) or by a prefix ending in
    `/` (local storage's signed uploads, whose objects are as large as a photo may be).
    """

    def __init__(self, app: ASGIApp, *, max_bytes: int, overrides: dict[str, int] | None = None):
        self.app = app
        self.max_bytes = max_bytes
        self.overrides = overrides or {}

    def limit_for(self, path: str) -> int:
        if path in self.overrides:
            return self.overrides[path]
        prefixes = [p for p in self.overrides if p.endswith("/") and path.startswith(p)]
        return self.overrides[max(prefixes, key=len)] if prefixes else self.max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None:
            try:
                too_large = int(declared) > limit
            except ValueError:
                too_large = False
            if too_large:
                await _refuse_declared_body(scope, receive, send, limit)
                return
        received = 0
        exceeded = False
        answered = False

        async def counting_receive() -> Message:
            nonlocal received, exceeded
            if exceeded:
                return {"type": "http.request", "body": b"", "more_body": False}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # Not an exception: a body parser (FastAPI's form parsing) would turn it
                    # into its own 400. The app sees the body end here, and whatever it
                    # answers is replaced by the 413 below.
                    exceeded = True
                    return {"type": "http.request", "body": b"", "more_body": False}
            return message

        app_answered = False

        async def guarded_send(message: Message) -> None:
            nonlocal answered, app_answered
            if exceeded and not app_answered:
                if not answered:
                    answered = True
                    await _send_too_large(send, limit)
                return
            app_answered = app_answered or message["type"] == "http.response.start"
            answered = answered or app_answered
            await send(message)

        await self.app(scope, counting_receive, guarded_send)
        if exceeded and not answered:
            await _send_too_large(send, limit)


class RequestIds:
    """Puts the request's ids on every log line written while it is served, and answers
    with `x-request-id`: API Gateway's request id (which its access logs carry), or a new
    one where there is no gateway (the dev server); and the Lambda invocation's id, which
    Mangum hands over in the scope."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        from shared.core.logs import request_ids

        event = scope.get("aws.event") or {}
        request_id = str((event.get("requestContext") or {}).get("requestId") or uuid.uuid4())
        invocation = getattr(scope.get("aws.context"), "aws_request_id", None)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            await send(message)

        with request_ids(request_id=request_id, lambda_request_id=invocation):
            await self.app(scope, receive, send_with_id)


async def _refuse_declared_body(scope: Scope, receive: Receive, send: Send, limit: int) -> None:
    """413 for a body declared too large, answered so that the client reads it.

    A client that asked `Expect: 100-continue` has sent nothing yet: answer at once (the
    server sends no 100 since the body is never read). One that sends its body first would
    get a connection reset if we closed while it sends: read and drop the body, up to
    DRAIN_MAX_BYTES, then answer and close.
    """
    headers = dict(scope.get("headers", []))
    if b"100-continue" not in headers.get(b"expect", b"").lower():
        drained = 0
        while drained <= DRAIN_MAX_BYTES:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            drained += len(message.get("body", b""))
            if not message.get("more_body", False):
                break
    await _send_too_large(send, limit, close=True)


async def _send_too_large(send: Send, limit: int, *, close: bool = False) -> None:
    body = json.dumps(error_body("request_too_large", f"request body is larger than {limit} bytes")).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class JsonCORSMiddleware(CORSMiddleware):
    """Starlette's CORS, with a refused preflight answered like every other error: our JSON
    body and the security headers, instead of a bare `text/plain` "Disallowed CORS ..."."""

    def preflight_response(self, request_headers: Any) -> Any:
        response = super().preflight_response(request_headers)
        if response.status_code < 400:
            return response
        problem = response.body.decode(errors="replace") if isinstance(response.body, bytes) else "refused"
        refused = JSONResponse(
            error_body("cors_refused", f"this cross-origin request is not allowed ({problem})"),
            status_code=response.status_code,
            headers={k: v for k, v in response.headers.items() if k.lower().startswith("access-control-")},
        )
        refused.headers.update(API_SECURITY_HEADERS)
        refused.headers["cache-control"] = "no-store"
        return refused


def route_path(scope: Scope) -> str:
    """The route's template (`/api/download/{token}`), not the path asked for: ids and
    tokens stay out of the error log, and one failing route is one entry."""
    route = scope.get("route")
    return str(getattr(route, "path", None) or scope.get("path", ""))


async def record_server_error(code: str, message: str, path: str) -> None:
    """Put a 5xx in the error log, off the event loop (the write is a database call).

    Not when the database itself is unreachable: the entry could not be written, and
    trying would hold the answer for a connect timeout. The log line still says it.
    """
    if code == "database_unavailable":
        return
    from starlette.concurrency import run_in_threadpool

    from shared.core.error_log import category_of_answer, record_error
    from shared.core.logs import current_request_id

    request_id = current_request_id()
    await run_in_threadpool(
        lambda: record_error(
            None,
            category=category_of_answer(code, path),
            source=f"http {path}"[:100],
            severity="critical" if code == "configuration_error" else "error",
            message=f"{code}: {message}",
            subject_type="request" if request_id else None,
            subject_id=request_id,
        )
    )


async def _domain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RestoreClickError)
    if exc.status_code >= 500:
        log.error("request failed: %s", exc.code, exc_info=exc.__cause__ or exc)
        await record_server_error(exc.code, exc.message, route_path(request.scope))
    return JSONResponse(exc.to_body(), status_code=exc.status_code, headers=exc.headers or None)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    details = [
        {"field": ".".join(str(p) for p in e.get("loc", ()) if p != "body"), "problem": e.get("msg")}
        for e in exc.errors()
    ]
    first = details[0] if details else {"field": "", "problem": "invalid request"}
    message = f"{first['field'] or 'request'}: {first['problem']}"
    return JSONResponse(error_body("validation_failed", message, details), status_code=422)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = HTTP_ERROR_CODES.get(exc.status_code, "http_error")
    message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
    return JSONResponse(error_body(code, message), status_code=exc.status_code, headers=exc.headers)


def create_app(
    title: str,
    routers: Iterable[APIRouter],
    *,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    body_limit_overrides: dict[str, int] | None = None,
) -> FastAPI:
    """A FastAPI app with the shop's error shape, headers, CORS and body limit."""
    from shared.core.config import get_settings

    try:
        settings = get_settings()
    except Exception as exc:
        # A function whose settings do not validate never starts: say so where the operator
        # looks (the error log, when DATABASE_URL at least is there), then fail as before.
        import os

        from shared.core.error_log import record_startup_error

        record_startup_error(os.environ.get("DATABASE_URL"), f"{title} cannot start: {exc}")
        raise
    if settings.app_env != "test":  # tests read records through pytest's own capture
        from shared.core.logs import configure_logging

        configure_logging()
    app = FastAPI(
        title=f"RestoreClick {title}",
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json" if settings.app_env != "production" else None,
    )
    for router in routers:
        app.include_router(router)
    app.add_exception_handler(RestoreClickError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    # Added inside out: CORS is outermost, so even a 413 or 500 carries its headers.
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes, overrides=body_limit_overrides)
    app.add_middleware(SecurityHeaders, https=settings.public_base_url.startswith("https://"))
    app.add_middleware(
        JsonCORSMiddleware,
        allow_origins=settings.allowed_origin_list,
        allow_methods=["GET", "POST", "DELETE", "PUT"],
        allow_headers=["content-type", "authorization"],
        max_age=600,
    )
    app.add_middleware(RequestIds)
    return app
