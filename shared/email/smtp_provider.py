"""Email over SMTP (STARTTLS when the server offers it)."""

from __future__ import annotations

import smtplib

from shared.email.base import EmailUnavailable, OutgoingEmail
from shared.email.outbox import to_mime


class SmtpEmail:
    name = "smtp"

    def __init__(self, host: str, port: int, username: str | None, password: str | None) -> None:
        self.host, self.port, self.username, self.password = host, port, username, password

    def send(self, message: OutgoingEmail) -> str:
        mime = to_mime(message)
        try:
            with smtplib.SMTP(self.host, self.port, timeout=20) as server:
                server.ehlo()
                if server.has_extn("starttls"):
                    server.starttls()
                    server.ehlo()
                if self.username and self.password:
                    server.login(self.username, self.password)
                server.send_message(mime)
        except (OSError, smtplib.SMTPException) as exc:
            raise EmailUnavailable(f"SMTP server refused or unreachable: {exc}") from exc
        return str(mime["Message-ID"])
