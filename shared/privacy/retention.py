"""Retention: an order's photos are deleted PHOTO_RETENTION_DAYS after it finished.

A cleanup step. The objects go first (originals, restored photos, ZIPs: everything in the
order's folders and everything its rows name), then the rows are marked in one statement:
the order's `photos_deleted_at`, its images soft-deleted, its links revoked. A run that
dies between the two leaves the order unmarked, so the next run deletes again (deleting a
missing object is no error) and marks it: no photo outlives its retention by more than a
run, and the order row stays, for accounting.
"""

from __future__ import annotations

from shared.core import db
from shared.core.config import Settings
from shared.storage import StorageService


def order_objects(conn: db.Connection, storage: StorageService, order_id: str) -> list[str]:
    """Every stored object of one order: what its rows name and what its folders hold."""
    paths = {r["storage_path"] for r in db.all_rows(conn, "order_photo_paths", order_id=order_id)}
    for folder in storage.order_folders(order_id):
        paths.update(o.path for o in storage.store.list(folder))
    return sorted(paths)


def delete_expired_photos(
    database: db.Database, storage: StorageService, settings: Settings, *, batch_size: int, dry_run: bool
) -> int:
    """Delete the photos of one page of orders past retention; returns how many orders."""
    with database.transaction(actor="cleanup") as conn:
        orders = db.all_rows(
            conn, "orders_past_photo_retention", retention_days=settings.photo_retention_days, batch_size=batch_size
        )
    if dry_run:
        return len(orders)
    for order in orders:
        order_id = str(order["id"])
        with database.transaction(actor="cleanup") as conn:
            paths = order_objects(conn, storage, order_id)
        storage.delete_objects(paths)
        with database.transaction(actor="cleanup") as conn:
            db.one(conn, "mark_order_photos_deleted", order_id=order_id)
    return len(orders)
