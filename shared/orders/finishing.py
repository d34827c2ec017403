"""Order-level work on the queue: finishing an order once all its photos are final.

Finishing: the order becomes completed, partially_completed or failed; a ZIP of the
restored photos is written (streamed, constant memory); the matching email is queued
(the email worker creates the download link when it sends, so the token exists only in
the email, never in the database).
"""

from __future__ import annotations

import logging
from typing import Any

from shared.core import db
from shared.core.config import Settings
from shared.jobs.queue import Job
from shared.orders.numbers import Order
from shared.storage import ArchiveEntry, StorageService

log = logging.getLogger("restoreclick.orders")

EMAIL_BY_STATUS = {
    "completed": "restoration_complete",
    "partially_completed": "restoration_partial",
    "failed": "restoration_failed",
}


class NotYetFinal(Exception):
    """Some photos are still being restored; the job retries after its backoff."""


def queue_finish_for_settled_orders(database: db.Database) -> int:
    """Queue a finish job for every order whose photos are all final (once each)."""
    with database.transaction() as conn:
        ready = db.all_rows(conn, "orders_ready_to_finish")
        queued = 0
        for row in ready:
            queued += db.maybe_one(
                conn, "queue_order_job", order_id=str(row["id"]), kind="finish_order",
                dedupe_key=f"finish_order:{row['id']}", max_attempts=5,
            ) is not None  # fmt: skip
    return queued


def finish_order(database: db.Database, storage: StorageService, settings: Settings, job: Job) -> None:
    order_id = str(job["order_id"])
    with database.transaction() as conn:
        tally = db.one(conn, "restoration_tally", order_id=order_id)
        order = db.one(conn, "order_by_id", Order, order_id=order_id)
        restored = db.all_rows(conn, "restored_images_of_order", order_id=order_id)
    if tally["unfinished"]:
        raise NotYetFinal(f"{tally['unfinished']} photo(s) still being restored")
    if order.status not in ("paid", "processing"):
        return  # refunded, disputed, or finished by an earlier attempt
    status = (
        "completed" if tally["failed"] == 0
        else "failed" if tally["succeeded"] == 0
        else "partially_completed"
    )  # fmt: skip
    # ZIPs that each fit the storage's object limit: one when they fit together, parts
    # otherwise, none when the server refuses even so. Never a reason not to finish.
    archives = (
        storage.write_order_archives(
            order.id, f"restoreclick-{order.order_number}", _archive_names(restored), settings.storage_max_object_bytes
        )
        if restored
        else []
    )
    if restored and not archives:
        log.warning("order %s: no ZIP fits storage; its photos are offered one by one", order_id,
                    extra={"order_id": order_id})  # fmt: skip
    zip_path = archives[0].path if archives else None
    with database.transaction(actor="order_worker") as conn:
        db.one(conn, "lock_order", order_id=order_id)
        finished = db.maybe_one(conn, "finish_order", Order, order_id=order_id, status=status, zip_parts=len(archives))
        if finished is None:
            return
        email = db.one(conn, "customer_email_of_order", order_id=order_id)["email"]
        template = EMAIL_BY_STATUS[status]
        db.maybe_one(
            conn, "queue_email",
            order_id=order_id, to_email=email, template=template,
            payload=db.jsonb({"order_number": order.order_number, "zip_path": zip_path, "zip_parts": len(archives),
                           "restored": tally["succeeded"], "failed": tally["failed"],
                           "failed_photos": tally["failed_filenames"]}),
            dedupe_key=f"{template}:{order_id}", max_attempts=8,
        )  # fmt: skip


def _archive_names(restored: list[dict[str, Any]]) -> list[ArchiveEntry]:
    """Names inside the ZIP: the customer's own filenames, made unique."""
    seen: dict[str, int] = {}
    entries: list[ArchiveEntry] = []
    for image in restored:
        name = image["filename"]
        count = seen.get(name, 0)
        seen[name] = count + 1
        if count:
            stem, _, ext = name.rpartition(".")
            name = f"{stem} ({count + 1}).{ext}"
        entries.append(ArchiveEntry(name, image["storage_path"], image["size_bytes"]))
    return entries
