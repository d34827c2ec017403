"""One restoration job: original in place → restored → stored → recorded. Idempotent.

A retried job never makes a second restored image: the restored object's path is derived
from the original's, and the row is an upsert on the one-restored-per-source index.
"""

from __future__ import annotations

import hashlib
import io
import logging

from shared import db
from shared.config import Settings
from shared.images import mark_image_stored, record_restored_image, restored_image_of
from shared.queue import Job, TerminalJobError
from shared.restoration import RestorationProvider
from shared.storage import StorageService

log = logging.getLogger("restoreclick.restoration")
STOPPED_ORDERS = ("refunded", "disputed")


def restore_photo(
    database: db.Database, storage: StorageService, provider: RestorationProvider, settings: Settings, job: Job
) -> None:
    with database.transaction() as conn:
        image = db.one(conn, "image_for_restoration", image_id=str(job["image_id"]))
        existing = restored_image_of(conn, job["image_id"])
    if image["order_status"] in STOPPED_ORDERS:
        log.info("order %s is %s: not restoring", image["order_id"], image["order_status"])
        return
    _ensure_original_in_place(database, storage, image)
    with database.transaction(actor="restoration_worker") as conn:
        db.execute(conn, "mark_order_processing", order_id=str(image["order_id"]))
    if existing is None:
        restored = provider.restore(storage.store.read(image["storage_path"]))
        width, height = _dimensions(restored)
        object_name = image["storage_path"].rsplit("/", 1)[-1].rsplit(".", 1)[0] + ".jpg"
        path = storage.save_restored(image["order_id"], object_name, restored, "image/jpeg")
        with database.transaction(actor="restoration_worker") as conn:
            existing = record_restored_image(
                conn,
                order_id=str(image["order_id"]), source_image_id=str(image["id"]), storage_path=path,
                filename=_restored_filename(image["filename"]), size_bytes=len(restored),
                width=width, height=height, sha256=hashlib.sha256(restored).hexdigest(),
            )  # fmt: skip
    with database.transaction() as conn:
        db.execute(conn, "link_restored_image", job_id=str(job["id"]),
                   restored_image_id=str(existing.id), provider=provider.name)


def _ensure_original_in_place(database: db.Database, storage: StorageService, image: dict) -> None:  # type: ignore[type-arg]
    """Restoration never starts on a photo that is not in the order's originals yet."""
    if image["stored_at"] is not None:
        return
    if not image["temp_path"]:
        raise TerminalJobError("the original photo has no upload to move")
    storage.move(image["temp_path"], image["storage_path"])
    with database.transaction() as conn:
        mark_image_stored(conn, image["id"])


def _dimensions(photo: bytes) -> tuple[int, int]:
    from PIL import Image

    with Image.open(io.BytesIO(photo)) as decoded:
        return decoded.size


def _restored_filename(original: str) -> str:
    stem = original.rsplit(".", 1)[0] if "." in original else original
    return f"{stem[:200]} (restored).jpg"
