"""One message for every email provider's tests: non-ASCII text, a photo and a binary blob."""

from __future__ import annotations

import os

from shared.email.base import Attachment, OutgoingEmail
from tests import images

PHOTO = images.jpeg((320, 240), seed=7)
# Every byte value, and more than one base64 line's worth: nothing may be re-encoded.
BLOB = bytes(range(256)) * 1200 + os.urandom(4096)


def message(**overrides: object) -> OutgoingEmail:
    values: dict[str, object] = {
        "email_id": "3f6d2a8e-5c1b-4a7e-9d0f-2b8c4e6a1d3f",
        "sender": "RestoreClick <orders@restoreclick.local>",
        "to": "ada@example.com",
        "subject": "Your restored photos are ready (20250101-000042) — merci",
        "text": "Your 2 restored photo(s) are ready.\n\nDownload them here: https://shop.test/api/download/rc_dl_x\n",
        "html": "<!doctype html><html><body><p>Your 2 restored photo(s) are ready — enjoy.</p></body></html>\n",
        "attachments": [
            Attachment("grandma (restored).jpg", "image/jpeg", PHOTO),
            Attachment("Ürgroßvater 1923.png", "image/png", BLOB),
        ],
    }
    values.update(overrides)
    return OutgoingEmail(**values)  # type: ignore[arg-type]
