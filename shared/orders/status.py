"""What the holder of an order reference may see: progress, never personal data.

The reference is the order id or the Stripe checkout session id (the success page has
it). Before the webhook has created the order, a known checkout answers how its payment
stands: being confirmed, expired unpaid, or failed.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any
from uuid import UUID

from shared.core import db
from shared.core.errors import NotFound
from shared.orders.images import signed_preview
from shared.storage import StorageService, unique_names

PHOTO_STATE = {
    "pending": "waiting",
    "running": "restoring",
    "succeeded": "restored",
    "dead": "failed",
    "cancelled": "cancelled",
}
READY = ("completed", "partially_completed")
UNPAID_ORDERS = ("refunded", "disputed")
# Before the order exists, what the checkout's state means to the customer.
CHECKOUT_STATE = {
    "creating": "confirming_payment",
    "open": "confirming_payment",  # paid and the webhook not in yet
    "awaiting_payment": "payment_pending",  # a bank debit still clearing: photos kept as paid for
    "completed": "confirming_payment",
    "expired": "checkout_expired",
    "failed": "payment_failed",
    "refunding": "refunded",
    "refunded": "refunded",
}
CHECKOUT_MESSAGE = {
    "confirming_payment": "We are confirming your payment.",
    "payment_pending": "Your payment is being processed by your bank; this can take a few days. "
    "We will start on your photos, and email you, as soon as it clears.",
    "checkout_expired": "This checkout ended without a payment.",
    "payment_failed": "Your payment did not go through; nothing was charged.",
    "refunded": "We could not take on this order and refunded your payment in full; we have emailed you why.",
}


def _order_for(conn: db.Connection, ref: str) -> dict[str, Any] | None:
    try:
        order_id = UUID(ref)
    except ValueError:
        return db.maybe_one(conn, "order_for_status_by_checkout", ref=ref)
    return db.maybe_one(conn, "order_for_status_by_id", order_id=str(order_id))


PHOTOS_DELETED_MESSAGE = (
    # True of both ways photos go: retention (the completion email gave the period) and a
    # customer's erasure, which this answer cannot tell apart without keeping data about them.
    "The photos of this order have been deleted, after the time our email said we would keep "
    "them or at the customer's request; the order itself is kept for our accounts."
)


def _previews(storage: StorageService, photo: dict[str, Any]) -> dict[str, Any]:
    before = signed_preview(storage, photo, "original_")
    after = signed_preview(storage, photo) if photo["restored_image_id"] else None
    return {"before": asdict(before) if before else None, "after": asdict(after) if after else None}


def order_status(database: db.Database, storage: StorageService, ref: str) -> dict[str, Any]:
    """The order's progress, and each photo's state with its previews (short-lived signed
    URLs of the original and, once restored, of the result) as the success page shows them.
    A refunded or disputed order shows no previews: the order was not paid for."""
    if "\x00" in ref:
        # No id holds a NUL (PostgreSQL's text cannot): as unknown as any other reference.
        raise NotFound("no order with that reference", code="order_not_found")
    with database.transaction() as conn:
        order = _order_for(conn, ref)
        if order is None:
            checkout = db.maybe_one(conn, "checkout_for_status", ref=ref)
            if checkout is None:
                raise NotFound("no order with that reference", code="order_not_found")
            state = CHECKOUT_STATE.get(checkout["status"], "confirming_payment")
            return {
                "status": state,
                "message": CHECKOUT_MESSAGE[state],
                "order_number": None,
                "photos_total": checkout["photo_count"],
                "photos_done": 0,
                "photos": [],
                "download": None,
            }
        photos = db.all_rows(conn, "photo_statuses", order_id=str(order["id"]))
    # Photos deleted (retention or the customer's erasure): nothing left to preview or fetch.
    photos_gone = order["photos_deleted_at"] is not None
    show_previews = order["status"] not in UNPAID_ORDERS and not photos_gone
    # Two uploads may share a filename: each is listed under the unique name the download
    # page shows its original by (unique_names, in upload order, as the ZIP names them).
    names = unique_names([p["filename"] for p in photos])
    listed = [
        {
            "id": str(p["id"]),
            "filename": name,
            "status": "restored"
            if p["restored_image_id"]
            else PHOTO_STATE.get(p["job_status"] or "pending", "waiting"),
            "preview": _previews(storage, p) if show_previews else {"before": None, "after": None},
        }
        for p, name in zip(photos, names, strict=True)
    ]
    ready = order["status"] in READY and not photos_gone
    gone = {"photos_deleted": True, "message": PHOTOS_DELETED_MESSAGE} if photos_gone else {}
    return {
        **gone,
        "order_number": order["order_number"],
        "status": order["status"],
        "photos_total": len(listed),
        "photos_done": sum(p["status"] == "restored" for p in listed),
        "photos": listed,
        "download": {
            "ready": True,
            "how": "We emailed you a download link. Lost it? POST your email and order number "
            "to /api/email/resend for a new one.",
        }
        if ready
        else None,
    }
