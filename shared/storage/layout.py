"""The bucket's layout, written once: where each kind of object lives.

    uploads/incoming/{upload_session_id}/{object} where a signed upload URL writes
    uploads/temp/{upload_session_id}/{object}     before payment (checked photos only)
    uploads/originals/{order_id}/{object}         paid photos
    uploads/restored/{order_id}/{object}          restored photos
    uploads/previews/{order_id}/{kind}-{stem}.jpg each order photo's web preview (kind: original
                                                  or restored; stem: the photo's object name)
    downloads/{order_id}/{name}.zip               the order's ZIP (or its parts)

Object names are generated (uuid + extension); the customer's filename is only data. A
photo keeps its object name from `temp` to `originals`. Pure functions, no I/O: the
webhook computes where a paid photo will be kept without touching storage, and SQL never
spells a path (callers pass these in).
"""

from __future__ import annotations

import uuid
from uuid import UUID

TEMP = "uploads/temp"
INCOMING = "uploads/incoming"
ORIGINALS = "uploads/originals"
RESTORED = "uploads/restored"
PREVIEWS = "uploads/previews"
DOWNLOADS = "downloads"
# The folders of an order's photos, and the word their previews are named with.
ORDER_PHOTO_KINDS = {ORIGINALS: "original", RESTORED: "restored"}
ALLOWED_EXTENSIONS = {".jpg", ".jpeg", ".png", ".webp", ".heic", ".zip"}


def new_object_name(extension: str) -> str:
    """A fresh object name; an extension we do not store photos under is dropped."""
    extension = extension.lower() if extension.lower() in ALLOWED_EXTENSIONS else ""
    return uuid.uuid4().hex + extension


def temp_path(upload_session_id: UUID | str, object_name: str) -> str:
    return f"{TEMP}/{upload_session_id}/{object_name}"


def incoming_path_for(temp_path: str) -> str:
    """Where the signed upload URL of the photo kept at `temp_path` writes."""
    if not temp_path.startswith(f"{TEMP}/"):
        raise ValueError(f"{temp_path!r} is not a temporary upload path")
    return INCOMING + temp_path[len(TEMP) :]


def originals_path_for(temp_path: str, order_id: UUID | str) -> str:
    """Where the paid photo now at `temp_path` is kept: the same object name, in the order's originals."""
    return f"{ORIGINALS}/{order_id}/{temp_path.rsplit('/', 1)[-1]}"


def restored_path(order_id: UUID | str, object_name: str) -> str:
    return f"{RESTORED}/{order_id}/{object_name}"


def order_folders(order_id: UUID | str) -> list[str]:
    """Every folder that holds an order's photos: originals, restored photos, ZIPs."""
    return [
        f"{ORIGINALS}/{order_id}/",
        f"{RESTORED}/{order_id}/",
        f"{PREVIEWS}/{order_id}/",
        f"{DOWNLOADS}/{order_id}/",
    ]


def preview_path_for(photo_path: str) -> str:
    """Where the web preview of the order photo at `photo_path` is kept: in the order's
    previews folder, so whatever removes an order's objects removes its previews, and derived
    from the photo's path, so a retried job writes the same object again, never a second one."""
    for folder, kind in ORDER_PHOTO_KINDS.items():
        if photo_path.startswith(f"{folder}/"):
            order_id, _, object_name = photo_path[len(folder) + 1 :].partition("/")
            return f"{PREVIEWS}/{order_id}/{kind}-{object_name.rsplit('.', 1)[0]}.jpg"
    raise ValueError(f"{photo_path!r} is not an order photo")


def zip_path(order_id: UUID | str, name: str, part: int = 1, parts: int = 1) -> str:
    """The order's ZIP, or part `part` of `parts` when it is split."""
    if parts == 1:
        return f"{DOWNLOADS}/{order_id}/{name}.zip"
    return f"{DOWNLOADS}/{order_id}/{name}-part-{part}-of-{parts}.zip"
