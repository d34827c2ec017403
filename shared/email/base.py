"""What an email provider is given, and what it must do with it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from shared.core.errors import ServiceUnavailable


class EmailUnavailable(ServiceUnavailable):
    """The provider did not take the message: sending it again is safe."""

    code = "email_unavailable"


class EmailOutcomeUnknown(EmailUnavailable):
    """The message went out but no answer came back (a timeout or a drop after sending): the
    provider may have accepted it, so it must not be sent again blindly."""

    code = "email_outcome_unknown"


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    data: bytes
    # Set for an image the HTML shows inline (`<img src="cid:...">`) rather than a file.
    content_id: str | None = None


@dataclass(frozen=True)
class OutgoingEmail:
    email_id: str  # our email_queue id: travels with the message, for tracing
    sender: str
    to: str
    subject: str
    text: str
    html: str
    attachments: list[Attachment] = field(default_factory=list)


class EmailProvider(Protocol):
    name: str

    def send(self, message: OutgoingEmail) -> str:
        """Hand the message over; return the provider's message id."""
        ...
