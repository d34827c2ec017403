"""Web previews of an order's photos: about 1024 px on the long side, JPEG, made once.

The restoration worker makes one for the original and one for the restored photo, so the
download page and the success page can show the result before anything is downloaded.
A preview is stored beside its photo (`StorageService.preview_path_for`) and recorded on
the photo's row; a retried job finds it recorded and makes none, and a job that died
between storing and recording writes the same object again, never a second one.

Memory stays bounded for big photos: the header is checked against the pixel limit before
anything is decoded, and a JPEG (every restored photo, and most originals) is decoded
already reduced by libjpeg's DCT scaling (Pillow's draft mode, 1/2 to 1/8 a side), never
below the preview's size, so a 12 MP photo is decoded at 3 MP or less.
"""

from __future__ import annotations

import io
import logging
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING
from uuid import UUID

from shared.core import db
from shared.core.errors import RestoreClickError
from shared.storage import StorageService
from shared.uploads.photo_checks import photo_header

if TYPE_CHECKING:
    from PIL.Image import Image as PillowImage

log = logging.getLogger("restoreclick.restoration")
PREVIEW_LONG_SIDE = 1024
# Enough for a screen at this size; a preview is a tenth of the restored photo's bytes.
PREVIEW_QUALITY = 80
WHITE = (255, 255, 255)


class PreviewRefused(ValueError):
    """The photo cannot be made into a preview (not decodable, or over the pixel limit)."""


@dataclass(frozen=True)
class Preview:
    data: bytes
    width: int
    height: int


def make_preview(photo: bytes, max_pixels: int) -> Preview:
    """A JPEG of the photo at most PREVIEW_LONG_SIDE a side, upright, without metadata."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        _, width, height = photo_header(photo, max_pixels)
    except RestoreClickError as exc:
        raise PreviewRefused(exc.message) from None
    scale = min(1.0, PREVIEW_LONG_SIDE / max(width, height))
    try:
        with Image.open(io.BytesIO(photo)) as decoded:
            # JPEG only (other formats ignore it): decode at the smallest DCT scale that is
            # still at least the preview's size.
            decoded.draft("RGB", (math.ceil(width * scale), math.ceil(height * scale)))
            decoded.thumbnail((PREVIEW_LONG_SIDE, PREVIEW_LONG_SIDE), Image.Resampling.LANCZOS, reducing_gap=None)
            # Phone photos are stored sideways with an EXIF orientation; the restored photo
            # is upright, and the two previews must line up.
            ImageOps.exif_transpose(decoded, in_place=True)
            preview = _flattened(decoded)
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise PreviewRefused(f"the photo cannot be decoded: {exc}") from None
    out = io.BytesIO()
    # No EXIF or ICC carried over: where a phone photo was taken stays in the original.
    preview.save(out, "JPEG", quality=PREVIEW_QUALITY, optimize=True, progressive=True)
    return Preview(out.getvalue(), preview.width, preview.height)


def _flattened(image: PillowImage) -> PillowImage:
    """RGB, with any transparency laid on white (JPEG has no alpha)."""
    from PIL import Image

    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        flat = Image.new("RGB", rgba.size, WHITE)
        flat.paste(rgba, mask=rgba.getchannel("A"))
        return flat
    return image if image.mode == "RGB" else image.convert("RGB")


def store_preview(
    database: db.Database,
    storage: StorageService,
    image_id: UUID | str,
    photo_path: str,
    photo: bytes,
    max_pixels: int,
) -> str | None:
    """Make, store and record the preview of one order photo; its path, or None when the
    photo cannot be previewed (the page then shows the photo's name without an image; the
    restoration itself goes on: a preview is never a reason to fail a paid photo)."""
    try:
        preview = make_preview(photo, max_pixels)
    except PreviewRefused as exc:
        log.warning("no preview for image %s: %s", image_id, exc)
        return None
    path = storage.save_preview(photo_path, preview.data)
    with database.transaction(actor="restoration_worker") as conn:
        db.execute(
            conn, "record_preview",
            image_id=str(image_id), preview_path=path, preview_width=preview.width,
            preview_height=preview.height, preview_size_bytes=len(preview.data),
        )  # fmt: skip
    return path
