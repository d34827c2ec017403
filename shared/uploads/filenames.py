"""The customer's filename is data, never a path: refuse path tricks, keep the rest."""

from __future__ import annotations

import re

from shared.core.errors import BadRequest

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def refuse_path_tricks(filename: str) -> None:
    """Refuse a filename that names a folder, climbs out of one, or hides control bytes.

    Browsers send a bare name; anything else was made up to probe us, so it gets a clear
    400 instead of a silent rename.
    """
    if not filename or not filename.strip():
        raise BadRequest("every photo needs a filename", code="bad_filename")
    if "/" in filename or "\\" in filename or filename.strip() in {".", ".."}:
        raise BadRequest(f"{filename!r}: a filename may not contain a path", code="bad_filename")
    if _CONTROL.search(filename):
        raise BadRequest("a filename may not contain control characters", code="bad_filename")
    if len(filename.encode("utf-8")) > 255:
        raise BadRequest("a filename may be at most 255 bytes long", code="bad_filename")
