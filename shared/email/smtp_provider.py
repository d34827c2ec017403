"""Email over SMTP (STARTTLS when the server offers it, its certificate checked)."""

from __future__ import annotations

import smtplib
import ssl

from shared.email.base import EmailOutcomeUnknown, EmailUnavailable, OutgoingEmail
from shared.email.outbox import to_mime
from shared.jobs.queue import TerminalJobError


class SmtpEmail:
    name = "smtp"

    def __init__(self, host: str, port: int, username: str | None, password: str | None) -> None:
        self.host, self.port, self.username, self.password = host, port, username, password

    def send(self, message: OutgoingEmail) -> str:
        mime = to_mime(message)
        try:
            with smtplib.SMTP(self.host, self.port, timeout=20) as server:
                server.ehlo()
                tls = server.has_extn("starttls")
                if tls:
                    # smtplib's default context checks no certificate: anyone in the middle
                    # would do, and would be handed the password below.
                    server.starttls(context=ssl.create_default_context())
                    server.ehlo()
                if self.username and self.password:
                    if not tls:
                        raise EmailUnavailable("the SMTP server does not offer STARTTLS; not sending the password")
                    server.login(self.username, self.password)
                try:
                    server.send_message(mime)
                except (smtplib.SMTPServerDisconnected, TimeoutError) as exc:
                    # The message was being handed over when the line went quiet or dropped:
                    # the server may have queued it.
                    raise EmailOutcomeUnknown(f"SMTP server dropped while taking the message: {exc!r}") from exc
        except EmailOutcomeUnknown:
            raise
        except smtplib.SMTPRecipientsRefused as exc:
            # A 5xx to the recipient is a bounce: retrying cannot help. A 4xx may pass later.
            if all(code >= 500 for code, _ in exc.recipients.values()):
                raise TerminalJobError(f"SMTP server refused the recipient: {exc.recipients}") from exc
            raise EmailUnavailable(f"SMTP server refused the recipient for now: {exc.recipients}") from exc
        except smtplib.SMTPDataError as exc:
            if exc.smtp_code >= 500:
                raise TerminalJobError(f"SMTP server refused the message: {exc}") from exc
            raise EmailUnavailable(f"SMTP server refused the message for now: {exc}") from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise EmailUnavailable(f"SMTP server refused or unreachable: {exc}") from exc
        return str(mime["Message-ID"])
