"""The embedded email provider: every message an .eml file in OUTBOX_DIR.

The file is named after our email id, so sending the same message again overwrites it
instead of adding a second one.
"""

from __future__ import annotations

import os
import tempfile
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path

from shared.email.base import OutgoingEmail


def to_mime(message: OutgoingEmail) -> EmailMessage:
    mime = EmailMessage()
    mime["From"] = message.sender
    mime["To"] = message.to
    mime["Subject"] = message.subject
    mime["Date"] = formatdate(localtime=False)
    mime["Message-ID"] = make_msgid(idstring=message.email_id, domain="restoreclick.local")
    mime["X-RestoreClick-Email-Id"] = message.email_id
    mime.set_content(message.text)
    mime.add_alternative(message.html, subtype="html")
    html_part = mime.get_body(("html",))
    for attachment in message.attachments:
        maintype, _, subtype = attachment.content_type.partition("/")
        if attachment.content_id and isinstance(html_part, EmailMessage):
            # Beside the HTML it belongs to, in a multipart/related part (RFC 2387).
            html_part.add_related(
                attachment.data, maintype=maintype, subtype=subtype, cid=f"<{attachment.content_id}>",
                filename=attachment.filename, disposition="inline",
            )  # fmt: skip
        else:
            mime.add_attachment(attachment.data, maintype=maintype, subtype=subtype, filename=attachment.filename)
    return mime


class OutboxEmail:
    name = "outbox"

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)

    def send(self, message: OutgoingEmail) -> str:
        fd, temp = tempfile.mkstemp(dir=self.folder, prefix=".partial-")
        with os.fdopen(fd, "wb") as out:
            out.write(to_mime(message).as_bytes())
        os.replace(temp, self.folder / f"{message.email_id}.eml")
        return f"outbox-{message.email_id}"
