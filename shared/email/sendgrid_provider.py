"""Email through SendGrid's v3 API with the official `sendgrid` package."""

from __future__ import annotations

import base64
from urllib.error import URLError

from shared.email.base import EmailOutcomeUnknown, EmailUnavailable, OutgoingEmail
from shared.jobs.queue import TerminalJobError

TIMEOUT_SECONDS = 20


class SendGridEmail:
    name = "sendgrid"

    def __init__(self, api_key: str, api_base: str | None = None) -> None:
        from sendgrid import SendGridAPIClient

        self.client = SendGridAPIClient(api_key=api_key, host=api_base or "https://api.sendgrid.com")
        # The library waits forever by default: a hung SendGrid would hold the worker until
        # Lambda kills it.
        self.client.client.timeout = TIMEOUT_SECONDS

    def send(self, message: OutgoingEmail) -> str:
        from python_http_client.exceptions import HTTPError
        from sendgrid.helpers.mail import Attachment, CustomArg, Mail

        mail = Mail(
            from_email=message.sender,
            to_emails=message.to,
            subject=message.subject,
            plain_text_content=message.text,
            html_content=message.html,
        )
        mail.custom_arg = CustomArg("restoreclick_email_id", message.email_id)
        # add_attachment puts each attachment first (the library inserts at index 0): add
        # them last to first so the customer sees them in our order, as the other providers do.
        for item in reversed(message.attachments):
            encoded = base64.b64encode(item.data).decode()
            if item.content_id:
                mail.add_attachment(Attachment(encoded, item.filename, item.content_type, "inline", item.content_id))
            else:
                mail.add_attachment(Attachment(encoded, item.filename, item.content_type, "attachment"))
        try:
            response = self.client.send(mail)
        except HTTPError as exc:
            status = getattr(exc, "status_code", 0) or 0
            if 400 <= status < 500 and status != 429:
                raise TerminalJobError(f"SendGrid refused the message ({status})") from exc
            raise EmailUnavailable(f"SendGrid failed ({status})") from exc
        except URLError as exc:
            # urllib wraps failures while sending the request: SendGrid never had it.
            raise EmailUnavailable(f"SendGrid unreachable: {exc.reason}") from exc
        except OSError as exc:
            # The request was sent and the answer did not come (read timeout, connection reset).
            raise EmailOutcomeUnknown(f"SendGrid did not answer after the message was sent: {exc!r}") from exc
        return response.headers.get("X-Message-Id", "") or f"sendgrid-{message.email_id}"
