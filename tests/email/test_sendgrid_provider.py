"""SendGridEmail against the local SendGrid stand-in, through the official `sendgrid` package.

What the stand-in accepted is what SendGrid would have received, so these tests pin the
exact request, and how each kind of refusal is classified for the queue: a request
SendGrid refuses is terminal, a busy or broken SendGrid is retried.
"""

from __future__ import annotations

import httpx
import pytest

from shared.email.base import EmailUnavailable
from shared.email.sendgrid_provider import SendGridEmail
from shared.jobs.queue import TerminalJobError
from tests.fixtures.email_messages import BLOB, PHOTO, message
from tests.fixtures.sendgrid_standin import API_KEY, MAIL_SEND, SendGridStandIn
from tests.fixtures.smtp_server import closed_port


@pytest.fixture
def provider(sendgrid_standin: SendGridStandIn) -> SendGridEmail:
    return SendGridEmail(API_KEY, sendgrid_standin.base_url)


def test_a_message_with_attachments_arrives_intact(provider: SendGridEmail, sendgrid_standin: SendGridStandIn) -> None:
    sent = message()

    message_id = provider.send(sent)

    [mail] = sendgrid_standin.accepted
    assert message_id == mail.message_id  # SendGrid's X-Message-Id, not an invented one
    [request] = sendgrid_standin.requests
    assert (request.method, request.path, request.status) == ("POST", MAIL_SEND, 202)
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    assert request.headers["content-type"] == "application/json"
    assert mail.body["personalizations"] == [{"to": [{"email": "ada@example.com"}]}]
    assert mail.body["from"] == {"email": "orders@restoreclick.local", "name": "RestoreClick"}
    assert mail.body["subject"] == sent.subject
    assert [c["type"] for c in mail.body["content"]] == ["text/plain", "text/html"]
    assert mail.content() == {"text/plain": sent.text, "text/html": sent.html}
    assert mail.attachments() == [
        ("grandma (restored).jpg", "image/jpeg", "attachment", PHOTO),
        ("Ürgroßvater 1923.png", "image/png", "attachment", BLOB),
    ]
    # Our email id travels with the message, so SendGrid's event webhook can name it.
    assert mail.body["custom_args"] == {"restoreclick_email_id": sent.email_id}


def test_a_message_without_attachments_sends_none(provider: SendGridEmail, sendgrid_standin: SendGridStandIn) -> None:
    provider.send(message(attachments=[]))
    [mail] = sendgrid_standin.accepted
    assert "attachments" not in mail.body


def test_a_message_sendgrid_refuses_is_terminal(provider: SendGridEmail, sendgrid_standin: SendGridStandIn) -> None:
    # No dot in the domain: SendGrid's own validation refuses it with a 400.
    with pytest.raises(TerminalJobError, match=r"SendGrid refused the message \(400\)"):
        provider.send(message(to="ada@localhost"))
    [request] = sendgrid_standin.requests
    assert request.status == 400 and sendgrid_standin.accepted == []


def test_a_wrong_api_key_is_terminal(sendgrid_standin: SendGridStandIn) -> None:
    provider = SendGridEmail("SG.not-the-key", sendgrid_standin.base_url)
    with pytest.raises(TerminalJobError, match=r"\(401\)"):
        provider.send(message())
    assert sendgrid_standin.accepted == []


@pytest.mark.parametrize("status", [400, 401])
def test_sendgrid_refusing_the_request_is_terminal(
    provider: SendGridEmail, sendgrid_standin: SendGridStandIn, status: int
) -> None:
    sendgrid_standin.fail_next(status)
    with pytest.raises(TerminalJobError, match=rf"\({status}\)"):
        provider.send(message())
    assert [r.status for r in sendgrid_standin.requests] == [status]


@pytest.mark.parametrize("status", [429, 500])
def test_a_busy_or_broken_sendgrid_is_retried_later(
    provider: SendGridEmail, sendgrid_standin: SendGridStandIn, status: int
) -> None:
    sendgrid_standin.fail_next(status)
    with pytest.raises(EmailUnavailable, match=rf"SendGrid failed \({status}\)") as caught:
        provider.send(message())
    assert not isinstance(caught.value, TerminalJobError)
    assert sendgrid_standin.accepted == []
    # Nothing was kept, so the queue's retry sends it once.
    assert provider.send(message()) == sendgrid_standin.accepted[0].message_id


def test_sendgrid_unreachable_is_retried_later() -> None:
    with closed_port() as port:
        provider = SendGridEmail(API_KEY, f"http://127.0.0.1:{port}")
        with pytest.raises(EmailUnavailable, match="SendGrid unreachable"):
            provider.send(message())


# -- the stand-in refuses what SendGrid refuses -------------------------------------------


def valid_body() -> dict[str, object]:
    return {
        "personalizations": [{"to": [{"email": "ada@example.com"}]}],
        "from": {"email": "orders@restoreclick.local"},
        "subject": "Hello",
        "content": [{"type": "text/plain", "value": "hi"}, {"type": "text/html", "value": "<p>hi</p>"}],
        "attachments": [{"content": "aGk=", "filename": "a.jpg", "type": "image/jpeg", "disposition": "attachment"}],
        "custom_args": {"restoreclick_email_id": "x"},
    }


def post(standin: SendGridStandIn, body: object, key: str = API_KEY) -> httpx.Response:
    return httpx.post(f"{standin.base_url}{MAIL_SEND}", json=body, headers={"authorization": f"Bearer {key}"})


def test_the_stand_in_accepts_a_valid_request(sendgrid_standin: SendGridStandIn) -> None:
    response = post(sendgrid_standin, valid_body())
    assert response.status_code == 202 and response.content == b""
    assert response.headers["x-message-id"] == sendgrid_standin.accepted[0].message_id


def _without(key: str) -> dict[str, object]:
    body = valid_body()
    del body[key]
    return body


def _with(key: str, value: object) -> dict[str, object]:
    return valid_body() | {key: value}


REFUSED = {
    "no personalizations": (_without("personalizations"), "personalizations"),
    "empty to": (_with("personalizations", [{"to": []}]), "personalizations.0.to"),
    "bad recipient": (_with("personalizations", [{"to": [{"email": "ada"}]}]), "personalizations.0.to.0.email"),
    "duplicate recipient": (
        _with("personalizations", [{"to": [{"email": "a@example.com"}], "cc": [{"email": "A@example.com"}]}]),
        "personalizations.0.cc.0.email",
    ),
    "no from": (_without("from"), "from"),
    "from as a string": (_with("from", "RestoreClick <orders@restoreclick.local>"), "from"),
    "no subject": (_without("subject"), "subject"),
    "no content": (_without("content"), "content"),
    "html before text": (
        _with("content", [{"type": "text/html", "value": "<p>hi</p>"}, {"type": "text/plain", "value": "hi"}]),
        "content",
    ),
    "empty content value": (_with("content", [{"type": "text/plain", "value": ""}]), "content.0.value"),
    "attachment not base64": (
        _with("attachments", [{"content": "not base64!", "filename": "a"}]),
        "attachments.0.content",
    ),
    "attachment without filename": (_with("attachments", [{"content": "aGk="}]), "attachments.0.filename"),
    "attachment bad disposition": (
        _with("attachments", [{"content": "aGk=", "filename": "a", "disposition": "download"}]),
        "attachments.0.disposition",
    ),
    "inline without content_id": (
        _with("attachments", [{"content": "aGk=", "filename": "a", "disposition": "inline"}]),
        "attachments.0.content_id",
    ),
    "custom arg not a string": (_with("custom_args", {"n": 1}), "custom_args.n"),
    "custom args too large": (_with("custom_args", {"a": "x" * 10_000}), "custom_args"),
}


@pytest.mark.parametrize("case", REFUSED)
def test_the_stand_in_refuses_what_sendgrid_refuses(sendgrid_standin: SendGridStandIn, case: str) -> None:
    body, field = REFUSED[case]
    response = post(sendgrid_standin, body)
    assert response.status_code == 400, response.text
    [error] = response.json()["errors"]
    assert error["field"] == field and error["message"]
    assert sendgrid_standin.accepted == []


def test_the_stand_in_checks_the_key_the_method_and_the_content_type(sendgrid_standin: SendGridStandIn) -> None:
    assert post(sendgrid_standin, valid_body(), key="SG.wrong").status_code == 401
    no_auth = httpx.post(f"{sendgrid_standin.base_url}{MAIL_SEND}", json=valid_body())
    assert no_auth.status_code == 401
    not_json = httpx.post(
        f"{sendgrid_standin.base_url}{MAIL_SEND}",
        content=b"personalizations=1",
        headers={"authorization": f"Bearer {API_KEY}", "content-type": "application/x-www-form-urlencoded"},
    )
    assert not_json.status_code == 400
    wrong_method = httpx.get(f"{sendgrid_standin.base_url}{MAIL_SEND}", headers={"authorization": f"Bearer {API_KEY}"})
    assert wrong_method.status_code == 405
    assert sendgrid_standin.accepted == []


def test_a_rate_limited_answer_says_when_to_come_back(sendgrid_standin: SendGridStandIn) -> None:
    sendgrid_standin.fail_next(429)
    limited = post(sendgrid_standin, valid_body())
    assert limited.status_code == 429 and limited.headers["x-ratelimit-remaining"] == "0"
    assert post(sendgrid_standin, valid_body()).status_code == 202
