"""One restoration job: original in place → restored → stored → recorded. Idempotent.

A retried job never makes a second restored image: the restored object's path is derived
from the original's, and the row is an upsert on the one-restored-per-source index.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from shared.core import db
from shared.core.config import Settings
from shared.core.errors import RestoreClickError
from shared.jobs.queue import Job, TerminalJobError
from shared.orders.images import Image, mark_images_stored, record_restored_image, restored_image_of
from shared.restoration.base import RESTORED_PIXEL_FACTOR, AnyRestorationProvider, RemoteRestorationProvider
from shared.restoration.hand_off import hand_to_provider
from shared.restoration.previews import store_preview
from shared.storage import StorageObjectTooLarge, StorageService
from shared.uploads.photo_checks import photo_header

log = logging.getLogger("restoreclick.restoration")
STOPPED_ORDERS = ("refunded", "disputed")


def restore_photo(
    database: db.Database,
    storage: StorageService,
    provider: AnyRestorationProvider,
    settings: Settings,
    job: Job,
) -> object:
    """Restore the job's photo, or hand it to a remote provider (returns HANDED_OFF)."""
    image, existing = photo_of_job(database, job)
    if image["order_status"] in STOPPED_ORDERS:
        log.info("order %s is %s: not restoring", image["order_id"], image["order_status"])
        return None
    _ensure_original_in_place(database, storage, image)
    with database.transaction(actor="restoration_worker") as conn:
        db.execute(conn, "mark_order_processing", order_id=str(image["order_id"]))
    original: bytes | None = None
    if image["preview_path"] is None:
        # Made before restoring: a photo that cannot be restored is still shown, as it was.
        original = _checked_original(storage, image)
        store_preview(database, storage, image["id"], image["storage_path"], original, settings.upload_max_pixels)
    restored: bytes | None = None
    if existing is None:
        if isinstance(provider, RemoteRestorationProvider):
            return hand_to_provider(database, storage, provider, settings, job, image)
        restored = provider.restore(original or _checked_original(storage, image))
        existing = store_restored_photo(database, storage, image, restored, restored_max_pixels(settings))
        if existing is None:
            return None  # refunded or disputed while it was restored: nothing to deliver
    preview_restored_photo(database, storage, existing, restored, restored_max_pixels(settings))
    link_restored_photo(database, job, existing, provider.name)
    return None


def photo_of_job(database: db.Database, job: Job) -> tuple[dict[str, Any], Image | None]:
    """The job's original image (with its order's status) and its restored image, if made."""
    with database.transaction() as conn:
        image = db.one(conn, "image_for_restoration", image_id=str(job["image_id"]))
        return image, restored_image_of(conn, job["image_id"])


def restored_max_pixels(settings: Settings) -> int:
    """The most pixels a restored photo may have before it is decoded (models upscale)."""
    return settings.upload_max_pixels * RESTORED_PIXEL_FACTOR


def _checked_original(storage: StorageService, image: dict[str, Any]) -> bytes:
    """The original's bytes, refused unless they are the bytes checked at upload.

    No signed URL writes where originals are kept, so a mismatch means the store was
    changed behind the shop's back: never restore (or decode) what was not checked.
    """
    original = storage.read_photo(image["storage_path"])
    if image.get("sha256") and hashlib.sha256(original).hexdigest() != image["sha256"]:
        raise TerminalJobError("the stored original is not the photo that was checked at upload")
    return original


def store_restored_photo(
    database: db.Database, storage: StorageService, image: dict[str, Any], restored: bytes, max_pixels: int
) -> Image | None:
    """Save the restored bytes beside the order's originals and record them, once per source.

    None when the order was refunded or disputed while the photo was restored: the refund
    cancelled the job, and a photo nobody paid for is not kept (the object just saved is
    deleted again)."""
    width, height = _dimensions(restored, max_pixels)
    object_name = image["storage_path"].rsplit("/", 1)[-1].rsplit(".", 1)[0] + ".jpg"
    try:
        path = storage.save_restored(image["order_id"], object_name, restored, "image/jpeg")
    except StorageObjectTooLarge:
        raise TerminalJobError("the restored photo is larger than storage takes") from None
    with database.transaction(actor="restoration_worker") as conn:
        order = db.one(conn, "lock_order_for_a_restored_photo", order_id=str(image["order_id"]))
        if order["status"] not in STOPPED_ORDERS:
            return record_restored_image(
                conn,
                order_id=str(image["order_id"]), source_image_id=str(image["id"]), storage_path=path,
                filename=_restored_filename(image["filename"]), size_bytes=len(restored),
                width=width, height=height, sha256=hashlib.sha256(restored).hexdigest(),
            )  # fmt: skip
    log.info("order %s is %s: its restored photo is not kept", image["order_id"], order["status"])
    storage.delete_objects([path])
    return None


def preview_restored_photo(
    database: db.Database, storage: StorageService, restored: Image, photo: bytes | None, max_pixels: int
) -> None:
    """The restored photo's preview, unless an earlier attempt recorded it already."""
    if restored.preview_path is None:
        photo = photo if photo is not None else storage.store.read(restored.storage_path)
        store_preview(database, storage, restored.id, restored.storage_path, photo, max_pixels)


def link_restored_photo(database: db.Database, job: Job, restored: Image, provider: str) -> None:
    with database.transaction() as conn:
        db.execute(
            conn, "link_restored_image", job_id=str(job["id"]), restored_image_id=str(restored.id), provider=provider
        )


def _ensure_original_in_place(database: db.Database, storage: StorageService, image: dict[str, Any]) -> None:
    """Restoration never starts on a photo that is not in the order's originals yet."""
    if image["stored_at"] is not None:
        return
    if not image["temp_path"]:
        raise TerminalJobError("the original photo has no upload to move")
    storage.move(image["temp_path"], image["storage_path"])
    with database.transaction() as conn:
        mark_images_stored(conn, [image["id"]])


def _dimensions(photo: bytes, max_pixels: int) -> tuple[int, int]:
    try:
        _, width, height = photo_header(photo, max_pixels)
    except RestoreClickError as exc:
        raise TerminalJobError(f"the restored photo is refused: {exc.message}") from None
    return width, height


def _restored_filename(original: str) -> str:
    stem = original.rsplit(".", 1)[0] if "." in original else original
    return f"{stem[:200]} (restored).jpg"
