"""Email: templates, providers (outbox, SendGrid, SMTP) and the email worker.

EMAIL_PROVIDER chooses: `sendgrid` (SENDGRID_API_KEY), `smtp`, or `outbox`, the
embedded default that writes .eml files the dev server lists at /dev/outbox.
"""

from __future__ import annotations

from shared.core.config import Settings
from shared.email.base import EmailProvider, OutgoingEmail


def email_from_settings(settings: Settings) -> EmailProvider:
    provider = settings.effective_email_provider
    if provider == "sendgrid":
        from shared.email.sendgrid_provider import SendGridEmail

        return SendGridEmail(settings.require("sendgrid_api_key"), settings.sendgrid_api_base)
    if provider == "smtp":
        from shared.email.smtp_provider import SmtpEmail

        return SmtpEmail(
            settings.require("smtp_host"),
            settings.smtp_port,
            settings.smtp_username,
            settings.smtp_password.get_secret_value() if settings.smtp_password else None,
        )
    from shared.email.outbox import OutboxEmail

    return OutboxEmail(settings.outbox_dir)


# What other folders use: the provider interface, the factory, queueing an email
# (`outgoing`), the email job (`worker`), and the dev server's /dev/outbox routes.
__all__ = [
    "EmailProvider",
    "OutgoingEmail",
    "email_from_settings",
    "outbox_routes",
    "outgoing",
    "worker",
]
