"""SmtpEmail against a real SMTP server (aiosmtpd) on 127.0.0.1.

The provider says EHLO, upgrades with STARTTLS when the server offers it (checking the
server's certificate), logs in when it has credentials (only over TLS), and sends the
MIME message the outbox would have written. A refusal that is about this message (a 5xx
to the recipient or the data) is terminal; anything else is retried later.
"""

from __future__ import annotations

import pytest

from shared.email.base import EmailUnavailable
from shared.email.smtp_provider import SmtpEmail
from shared.jobs.queue import TerminalJobError
from tests.fixtures.email_messages import BLOB, PHOTO, message
from tests.fixtures.smtp_server import Certificates, CollectingHandler, closed_port, smtp_server

CREDENTIALS = ("restoreclick", "s3cret-relay-password")


@pytest.fixture
def trust_test_ca(certificates: Certificates, monkeypatch: pytest.MonkeyPatch) -> None:
    """The provider trusts the system's CAs; for these tests the system's CA is the test CA."""
    monkeypatch.setenv("SSL_CERT_FILE", str(certificates.ca_file))
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)


def test_a_message_arrives_with_its_recipient_subject_parts_and_attachments() -> None:
    handler = CollectingHandler()
    sent = message()
    with smtp_server(handler) as port:
        message_id = SmtpEmail("127.0.0.1", port, None, None).send(sent)

    [received] = handler.received
    assert received.mail_from == "orders@restoreclick.local"
    assert received.rcpt_tos == ["ada@example.com"]
    mime = received.message
    assert mime["To"] == "ada@example.com"
    assert mime["From"] == "RestoreClick <orders@restoreclick.local>"
    assert mime["Subject"] == sent.subject
    assert mime["Message-ID"] == message_id and sent.email_id in message_id
    assert mime["X-RestoreClick-Email-Id"] == sent.email_id
    text, html = mime.get_body(("plain",)), mime.get_body(("html",))
    assert text is not None and html is not None
    # On the wire every line ends in CRLF, as SMTP requires.
    assert text.get_content().replace("\r\n", "\n") == sent.text
    assert html.get_content().replace("\r\n", "\n") == sent.html
    assert [(a.get_filename(), a.get_content_type(), a.get_content()) for a in mime.iter_attachments()] == [
        ("grandma (restored).jpg", "image/jpeg", PHOTO),
        ("Ürgroßvater 1923.png", "image/png", BLOB),
    ]
    assert received.over_tls is False and received.login is None


def test_it_upgrades_to_tls_and_logs_in_when_the_server_offers_both(
    certificates: Certificates, trust_test_ca: None
) -> None:
    handler = CollectingHandler()
    with smtp_server(handler, tls=certificates.server_context(), credentials=CREDENTIALS) as port:
        SmtpEmail("127.0.0.1", port, *CREDENTIALS).send(message())

    assert handler.logins == [(*CREDENTIALS, True)]
    [received] = handler.received
    assert received.over_tls and received.login == CREDENTIALS[0]
    assert received.rcpt_tos == ["ada@example.com"]


def test_it_uses_starttls_without_credentials_too(certificates: Certificates, trust_test_ca: None) -> None:
    handler = CollectingHandler()
    with smtp_server(handler, tls=certificates.server_context()) as port:
        SmtpEmail("127.0.0.1", port, None, None).send(message())
    [received] = handler.received
    assert received.over_tls and received.login is None


def test_wrong_credentials_are_not_a_reason_to_drop_the_email(certificates: Certificates, trust_test_ca: None) -> None:
    handler = CollectingHandler()
    server = smtp_server(handler, tls=certificates.server_context(), credentials=CREDENTIALS)
    with server as port, pytest.raises(EmailUnavailable) as caught:
        SmtpEmail("127.0.0.1", port, CREDENTIALS[0], "wrong").send(message())
    assert not isinstance(caught.value, TerminalJobError)  # fix the setting, the retry sends it
    assert handler.received == []


def test_a_certificate_nobody_vouches_for_stops_the_send_before_the_password(
    certificates: Certificates, trust_test_ca: None
) -> None:
    # Whoever answers with a certificate the CAs do not vouch for may be in the middle.
    handler = CollectingHandler()
    server = smtp_server(handler, tls=certificates.server_context(trusted=False), credentials=CREDENTIALS)
    with server as port, pytest.raises(EmailUnavailable, match="CERTIFICATE_VERIFY_FAILED"):
        SmtpEmail("127.0.0.1", port, *CREDENTIALS).send(message())
    assert handler.logins == [] and handler.received == []


def test_credentials_are_never_sent_without_tls() -> None:
    # A relay that offers AUTH in the clear (or an attacker who stripped STARTTLS).
    handler = CollectingHandler()
    server = smtp_server(handler, credentials=CREDENTIALS, auth_without_tls=True)
    with server as port, pytest.raises(EmailUnavailable, match="TLS"):
        SmtpEmail("127.0.0.1", port, *CREDENTIALS).send(message())
    assert handler.logins == [] and handler.received == []


def test_a_recipient_refused_for_good_is_terminal() -> None:
    handler = CollectingHandler(refuse_recipients={"ada@example.com": "550 5.1.1 <ada@example.com>: no such user"})
    with smtp_server(handler) as port, pytest.raises(TerminalJobError, match="no such user"):
        SmtpEmail("127.0.0.1", port, None, None).send(message())
    assert handler.received == []


def test_a_recipient_refused_for_now_is_retried() -> None:
    handler = CollectingHandler(refuse_recipients={"ada@example.com": "450 4.2.1 mailbox busy, try again later"})
    with smtp_server(handler) as port, pytest.raises(EmailUnavailable, match="mailbox busy") as caught:
        SmtpEmail("127.0.0.1", port, None, None).send(message())
    assert not isinstance(caught.value, TerminalJobError)
    assert handler.received == []


@pytest.mark.parametrize(
    ("reply", "terminal"),
    [("554 5.6.0 message content rejected", True), ("451 4.3.0 local error in processing", False)],
)
def test_a_refused_message_is_terminal_only_when_the_refusal_is_permanent(reply: str, terminal: bool) -> None:
    handler = CollectingHandler(refuse_data=reply)
    with smtp_server(handler) as port, pytest.raises((TerminalJobError, EmailUnavailable)) as caught:
        SmtpEmail("127.0.0.1", port, None, None).send(message())
    assert isinstance(caught.value, TerminalJobError) is terminal
    assert reply.split(" ", 2)[2] in str(caught.value)


def test_a_server_that_is_down_is_retried_later() -> None:
    with closed_port() as port, pytest.raises(EmailUnavailable, match="refused or unreachable"):
        SmtpEmail("127.0.0.1", port, None, None).send(message())
