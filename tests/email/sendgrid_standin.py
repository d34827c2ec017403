"""A local stand-in for SendGrid's v3 Mail Send endpoint, the one call SendGridEmail makes.

A small FastAPI app served over real HTTP on 127.0.0.1 (by `tests.storage.http_server`),
so the official `sendgrid` package talks to it exactly as it would to api.sendgrid.com.
It checks a request the way SendGrid does and answers in SendGrid's shapes:

- only `POST /v3/mail/send`, with `Authorization: Bearer <the API key>` (401 otherwise)
  and a JSON body (`Content-Type: application/json`), at most 30 MB;
- `personalizations`: 1 to 1000 blocks, each with a non-empty `to` list of valid,
  unique addresses (1000 recipients in all at most);
- `from` with a valid address; a `subject` at the top or in every personalization;
- `content`: non-empty values, `text/plain` first, then `text/html`, then anything else;
- `attachments`: strict base64 `content`, a `filename`, an optional MIME `type`,
  `disposition` `attachment` or `inline` (inline needs a `content_id`);
- `custom_args`: string values, under 10,000 bytes of JSON in all.

An accepted message is answered 202, no body, with an `X-Message-Id` header, and kept in
`accepted`. Refusals are 400 (or 413) with `{"errors": [{"message", "field", "help"}]}`.
`fail_next(status)` makes the next requests fail with 400, 401, 429 or 500 before
anything is checked, as SendGrid does when it is rate limiting or broken.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import re
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from tests.storage.http_server import serve

MAIL_SEND = "/v3/mail/send"
API_KEY = "SG.stand-in-key.restoreclick-tests"
MAX_REQUEST_BYTES = 30 * 1024 * 1024
MAX_PERSONALIZATIONS = 1000
MAX_RECIPIENTS = 1000
MAX_CUSTOM_ARGS_BYTES = 10_000
EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")
MIME_TYPE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*$")
FAILURES: dict[int, str] = {
    400: "Bad Request",
    401: "The provided authorization grant is invalid, expired, or revoked",
    429: "too many requests",
    500: "internal server error",
}


class Refused(Exception):
    """A request SendGrid would refuse: its status and the `errors` entry it answers with."""

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.error = {"message": message, "field": field, "help": None}


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    status: int = 0


@dataclass
class AcceptedMail:
    message_id: str
    body: dict[str, Any]

    def attachments(self) -> list[tuple[str, str, str, bytes]]:
        """(filename, type, disposition, decoded bytes) of each attachment, in order."""
        return [
            (a["filename"], a.get("type", ""), a.get("disposition", "attachment"), base64.b64decode(a["content"]))
            for a in self.body.get("attachments", [])
        ]

    def content(self) -> dict[str, str]:
        return {c["type"]: c["value"] for c in self.body["content"]}


@dataclass
class SendGridStandIn:
    api_key: str = API_KEY
    base_url: str = ""
    accepted: list[AcceptedMail] = field(default_factory=list)
    requests: list[RecordedRequest] = field(default_factory=list)
    _failures: list[int] = field(default_factory=list)
    answer_delay_seconds: float = 0.0  # accept the mail, then answer this late (a client timing out)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def reset(self) -> None:
        with self._lock:
            self.accepted.clear()
            self.requests.clear()
            self._failures.clear()
            self.answer_delay_seconds = 0.0

    def fail_next(self, status: int, count: int = 1) -> None:
        """The next `count` requests answer `status` before anything is checked or kept."""
        if status not in FAILURES:
            raise ValueError(f"the stand-in fails with one of {sorted(FAILURES)}")
        with self._lock:
            self._failures.extend([status] * count)

    # -- checks -------------------------------------------------------------------------

    def authenticate(self, headers: dict[str, str]) -> None:
        scheme, _, key = headers.get("authorization", "").partition(" ")
        if scheme != "Bearer" or not secrets.compare_digest(key.encode(), self.api_key.encode()):
            raise Refused(401, FAILURES[401])

    def accept(self, headers: dict[str, str], raw: bytes) -> AcceptedMail:
        if len(raw) > MAX_REQUEST_BYTES:
            raise Refused(413, "The JSON payload you have included in your request is too large.")
        if headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
            raise Refused(400, "Content-Type should be application/json.")
        try:
            body = json.loads(raw)
        except ValueError:
            raise Refused(400, "Bad Request: the request body must be valid JSON.") from None
        if not isinstance(body, dict):
            raise Refused(400, "The request body must be a JSON object.")
        _check_personalizations(body)
        _check_from(body.get("from"))
        _check_subject(body)
        _check_content(body)
        _check_attachments(body.get("attachments"))
        _check_custom_args(body.get("custom_args"), "custom_args")
        mail = AcceptedMail(secrets.token_urlsafe(16), body)
        self.accepted.append(mail)
        return mail


def _address(value: Any, field_name: str) -> str:
    if not isinstance(value, dict) or not isinstance(value.get("email"), str):
        raise Refused(400, "The email address is required.", field_name)
    if not EMAIL.match(value["email"]):
        raise Refused(400, "Does not contain a valid address.", f"{field_name}.email")
    if "name" in value and not isinstance(value["name"], str):
        raise Refused(400, "The name must be a string.", f"{field_name}.name")
    return value["email"].lower()


def _check_personalizations(body: dict[str, Any]) -> None:
    blocks = body.get("personalizations")
    if not isinstance(blocks, list) or not blocks:
        raise Refused(
            400,
            "The personalizations field is required and must have at least one personalization.",
            "personalizations",
        )
    if len(blocks) > MAX_PERSONALIZATIONS:
        raise Refused(400, "You may not have more than 1000 personalizations per API request.", "personalizations")
    recipients = 0
    for i, block in enumerate(blocks):
        where = f"personalizations.{i}"
        if not isinstance(block, dict):
            raise Refused(400, "A personalization must be an object.", where)
        if not isinstance(block.get("to"), list) or not block["to"]:
            raise Refused(
                400,
                "The to array is required for all personalization objects, "
                "and must have at least one email object with a valid email address.",
                f"{where}.to",
            )
        seen: set[str] = set()
        for kind in ("to", "cc", "bcc"):
            addresses = block.get(kind, [])
            if not isinstance(addresses, list):
                raise Refused(400, f"The {kind} field must be an array.", f"{where}.{kind}")
            for j, address in enumerate(addresses):
                email = _address(address, f"{where}.{kind}.{j}")
                if email in seen:
                    raise Refused(
                        400,
                        "Each email address in the personalization block should be unique between to, cc, and bcc.",
                        f"{where}.{kind}.{j}.email",
                    )
                seen.add(email)
        recipients += len(seen)
        if "subject" in block and (not isinstance(block["subject"], str) or not block["subject"]):
            raise Refused(400, "The subject must be a non-empty string.", f"{where}.subject")
        _check_custom_args(block.get("custom_args"), f"{where}.custom_args")
    if recipients > MAX_RECIPIENTS:
        raise Refused(400, "The total number of recipients must be no more than 1000.", "personalizations")


def _check_from(sender: Any) -> None:
    if sender is None:
        raise Refused(400, "The from object must be provided for every email send.", "from")
    _address(sender, "from")


def _check_subject(body: dict[str, Any]) -> None:
    if "template_id" in body:
        return
    top = body.get("subject")
    if top is not None and (not isinstance(top, str) or not top):
        raise Refused(
            400,
            "The subject is required. You can get around this requirement if you use a template "
            "with a subject defined or if every personalization has a subject defined.",
            "subject",
        )
    if top is None and not all("subject" in block for block in body["personalizations"]):
        raise Refused(
            400,
            "The subject is required. You can get around this requirement if you use a template "
            "with a subject defined or if every personalization has a subject defined.",
            "subject",
        )


def _check_content(body: dict[str, Any]) -> None:
    content = body.get("content")
    if content is None and "template_id" in body:
        return
    if not isinstance(content, list) or not content:
        raise Refused(
            400,
            "Unless a valid template_id is provided, the content parameter is required. "
            "There must be at least one defined content block.",
            "content",
        )
    types = []
    for i, block in enumerate(content):
        if not isinstance(block, dict) or not isinstance(block.get("type"), str) or not block["type"]:
            raise Refused(
                400,
                "The content type cannot contain ';', or CRLF characters, and must be at least one character.",
                f"content.{i}.type",
            )
        if not isinstance(block.get("value"), str) or not block["value"]:
            raise Refused(
                400, "The content value must be a string at least one character in length.", f"content.{i}.value"
            )
        types.append(block["type"])
    if len(set(types)) != len(types):
        raise Refused(400, "Each content type may only be used once.", "content")
    # text/plain, when present, comes first; text/html comes next; any other type after both.
    expected = [t for t in ("text/plain", "text/html") if t in types]
    if types[: len(expected)] != expected:
        raise Refused(
            400,
            "If present, text/plain and text/html may only be provided in that order, before any other content.",
            "content",
        )


def _check_attachments(attachments: Any) -> None:
    if attachments is None:
        return
    if not isinstance(attachments, list):
        raise Refused(400, "The attachments field must be an array.", "attachments")
    for i, item in enumerate(attachments):
        where = f"attachments.{i}"
        if not isinstance(item, dict):
            raise Refused(400, "An attachment must be an object.", where)
        content = item.get("content")
        if not isinstance(content, str) or not content:
            raise Refused(400, "The attachment content is required.", f"{where}.content")
        try:
            base64.b64decode(content, validate=True)
        except (binascii.Error, ValueError):
            raise Refused(400, "The attachment content must be base64 encoded.", f"{where}.content") from None
        if not isinstance(item.get("filename"), str) or not item["filename"]:
            raise Refused(400, "The attachment filename parameter is required.", f"{where}.filename")
        if "type" in item and (not isinstance(item["type"], str) or not MIME_TYPE.match(item["type"])):
            raise Refused(400, "The attachment type must be a valid MIME type.", f"{where}.type")
        disposition = item.get("disposition", "attachment")
        if disposition not in ("attachment", "inline"):
            raise Refused(
                400,
                "The disposition of your attachment can be either 'inline' or 'attachment'.",
                f"{where}.disposition",
            )
        if disposition == "inline" and not item.get("content_id"):
            raise Refused(
                400, "The content_id parameter is required if your attachment is inline.", f"{where}.content_id"
            )


def _check_custom_args(custom_args: Any, where: str) -> None:
    if custom_args is None:
        return
    if not isinstance(custom_args, dict):
        raise Refused(400, "The custom_args field must be an object.", where)
    for key, value in custom_args.items():
        if not isinstance(value, str):
            raise Refused(400, "Custom arguments values must be strings.", f"{where}.{key}")
    if len(json.dumps(custom_args).encode()) > MAX_CUSTOM_ARGS_BYTES:
        raise Refused(400, "The custom arguments must total less than 10000 bytes.", where)


# -- the app ------------------------------------------------------------------------------


def _errors(status: int, error: dict[str, Any], headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"errors": [error]}, status_code=status, headers=headers)


def standin_app(standin: SendGridStandIn) -> FastAPI:
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    @app.api_route("/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    async def anything(request: Request, path: str) -> Response:
        entry = RecordedRequest(
            request.method,
            request.url.path,
            {k.lower(): v for k, v in request.headers.items()},
            await request.body(),
        )
        response = _answer(standin, entry)
        entry.status = response.status_code
        with standin._lock:
            standin.requests.append(entry)
        if standin.answer_delay_seconds:
            await asyncio.sleep(standin.answer_delay_seconds)
        return response

    return app


def _answer(standin: SendGridStandIn, entry: RecordedRequest) -> Response:
    with standin._lock:
        forced = standin._failures.pop(0) if standin._failures else None
    if forced is not None:
        headers = {}
        if forced == 429:
            reset = int(time.time()) + 60
            headers = {"X-RateLimit-Limit": "600", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)}
        return _errors(forced, {"message": FAILURES[forced], "field": None, "help": None}, headers)
    if entry.path != MAIL_SEND:
        return _errors(404, {"message": "resource not found", "field": None, "help": None})
    if entry.method != "POST":
        return _errors(405, {"message": "method not allowed", "field": None, "help": None})
    try:
        standin.authenticate(entry.headers)
        with standin._lock:
            mail = standin.accept(entry.headers, entry.body)
    except Refused as refused:
        return _errors(refused.status, refused.error)
    return Response(status_code=202, headers={"X-Message-Id": mail.message_id})


# -- serving it ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def sendgrid_server() -> Iterator[SendGridStandIn]:
    """One stand-in server for the run, on 127.0.0.1 and a port the OS picked."""
    standin = SendGridStandIn()
    with serve(standin_app(standin)) as url:
        standin.base_url = url
        yield standin


@pytest.fixture
def sendgrid_standin(sendgrid_server: SendGridStandIn) -> Iterator[SendGridStandIn]:
    """The stand-in, emptied for this test: `.base_url`, `.accepted`, `.requests`, `.fail_next()`."""
    sendgrid_server.reset()
    yield sendgrid_server
    sendgrid_server.reset()
