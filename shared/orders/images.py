"""Images of an order: originals (moved out of the temporary area after payment) and
their restored versions (at most one per original, enforced by a unique index)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal
from uuid import UUID

from pydantic import BaseModel

from shared.core import db

if TYPE_CHECKING:
    from shared.storage import StorageService

log = logging.getLogger("restoreclick.orders")
# How long a preview's signed URL works: enough to look at a page or a success screen; the
# page and the status answer sign afresh each time they are asked.
PREVIEW_URL_SECONDS = 900


class Image(BaseModel):
    id: UUID
    order_id: UUID
    type: Literal["original", "restored"]
    source_image_id: UUID | None
    file_upload_id: UUID | None
    storage_path: str
    filename: str
    content_type: str
    size_bytes: int
    width: int | None
    height: int | None
    sha256: str | None
    stored_at: datetime | None
    preview_path: str | None = None
    metadata: dict[str, Any]
    created_at: datetime


def restored_image_of(conn: db.Connection, image_id: UUID | str) -> Image | None:
    return db.maybe_one(conn, "restored_image_of", Image, image_id=str(image_id))


def record_restored_image(conn: db.Connection, **values: Any) -> Image:
    """Insert the restored version of an original, or return the one already recorded."""
    return db.one(conn, "record_restored_image", Image, **values)


def mark_images_stored(conn: db.Connection, image_ids: Sequence[UUID | str]) -> None:
    """The objects are at these images' storage paths now."""
    db.execute(conn, "mark_images_stored", image_ids=[str(i) for i in image_ids])


@dataclass(frozen=True)
class SignedPreview:
    """A photo's web preview as a page shows it: a short-lived signed URL and its size."""

    url: str
    width: int
    height: int


def signed_preview(storage: StorageService, row: dict[str, Any], prefix: str = "") -> SignedPreview | None:
    """The signed preview of the image in `row` (its columns named `{prefix}preview_path`
    and so on), or None when it has none. Signed with no download name, so it shows inline;
    fetching it counts against nothing."""
    from shared.storage import StorageObjectMissing, StorageUnavailable

    path = row.get(f"{prefix}preview_path")
    if not path:
        return None
    try:
        url = storage.signed_download_url(path, PREVIEW_URL_SECONDS)
    except (StorageObjectMissing, StorageUnavailable) as exc:
        # A preview is a courtesy: the page and the status answer stand without it (and
        # the downloads, which need storage anyway, say so themselves).
        log.warning("preview %s not signed: %s", path, exc)
        return None
    return SignedPreview(url, row[f"{prefix}preview_width"], row[f"{prefix}preview_height"])
