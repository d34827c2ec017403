"""Token downloads: look at the page freely, spend one use per download.

The token is looked up by its SHA-256 (the only thing stored), so lookup time depends on
the hash, not on how much of a guessed token matched. Bytes never pass through a function:
a download answers 303 to a short-lived signed storage URL.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import urlsplit
from uuid import UUID

from shared.core import db
from shared.core.audit import record_audit
from shared.core.errors import Gone, NotFound
from shared.downloads.links import token_hash
from shared.orders.images import SignedPreview, signed_preview
from shared.storage import StorageService, unique_names

SIGNED_URL_SECONDS = 300
FINISHED_ORDERS = ("completed", "partially_completed", "failed")
NEW_LINK_HINT = "Ask for a new link with your email address and order number on the order page."


PhotoState = Literal["restored", "not_restored", "restoring"]
FINISHED_JOB = {"succeeded", "dead", "cancelled"}


@dataclass(frozen=True)
class PagePhoto:
    """One photo of the order: its restored version (`id`, what a download names) when
    there is one, and both previews as short-lived signed URLs."""

    original_id: UUID
    original_filename: str
    state: PhotoState
    id: UUID | None
    filename: str | None
    before: SignedPreview | None
    after: SignedPreview | None


@dataclass
class DownloadPage:
    order_number: str
    photos: list[PagePhoto]
    uses_left: int
    expires_at: datetime
    zip_available: bool
    image_id: UUID | None
    # How many ZIPs hold the order's photos (split to fit storage's object size limit).
    zip_parts: int = 1

    @property
    def preview_origins(self) -> list[str]:
        """Where the page's images come from: its content security policy allows these only."""
        urls = [p.url for photo in self.photos for p in (photo.before, photo.after) if p]
        return sorted({"{0.scheme}://{0.netloc}".format(urlsplit(url)) for url in urls})


# The same words for a token never issued and for one whose row is gone (the customer was
# erased): a link that no longer exists cannot say why without keeping data about the
# person, and the page must not tell a guesser which tokens were once real.
NO_SUCH_LINK = (
    "This download link is not valid. If you copied it from our email, check that the whole "
    "link was copied; if it was, reply to that email and we will help."
)
# Why a link was revoked (the reasons payments/refunds.py and privacy/retention.sql write),
# in the customer's words. A hint to ask for a new link only where the shop would give one.
REVOKED_BECAUSE = {
    "refunded": "Order {number} was refunded, so its photos are no longer offered for download.",
    "disputed": "The payment for order {number} is disputed with the bank, so its photos are not "
    "offered for download. Reply to our email if you need them.",
}


def _refusal(link: dict[str, Any] | None) -> Exception:
    """404 for a token we never issued (or whose row was erased); 410 saying why for one
    that no longer works."""
    if link is None:
        return NotFound(NO_SUCH_LINK, code="link_not_found")
    if link["revoked_at"] is not None:
        return Gone(_revoked_message(link), code="link_revoked")
    if link["expires_at"] <= datetime.now(UTC):
        return Gone(f"this download link has expired. {NEW_LINK_HINT}", code="link_expired")
    return Gone(
        f"this download link has been used {link['max_downloads']} times, its limit. {NEW_LINK_HINT}",
        code="link_used_up",
    )


def _revoked_message(link: dict[str, Any]) -> str:
    number, deleted = link["order_number"], link["photos_deleted_at"]
    if deleted is not None:
        # Retention deleted them (or erasure, whose links are gone before this is read):
        # no new link can bring them back, so none is offered.
        return (
            f"The photos of order {number} were deleted on {deleted.day} {deleted:%B %Y}, as our email said they would "
            "be after the retention period; they can no longer be downloaded. Reply to that email if you "
            "have a question."
        )
    reason = REVOKED_BECAUSE.get(link["revoked_reason"])
    return reason.format(number=number) if reason else f"this download link no longer works. {NEW_LINK_HINT}"


def refuse_unless_live(database: db.Database, token: str) -> None:
    """Raise what a link that no longer works answers; nothing for a live one. For a request
    that is wrong in another way too: the link's state is what the customer needs to know."""
    with database.transaction() as conn:
        _live_link(conn, token)


def _live_link(conn: db.Connection, token: str) -> dict[str, Any]:
    link = db.maybe_one(conn, "download_link_by_hash", token_hash=token_hash(token))
    if (
        link is None
        or link["revoked_at"]
        or link["expires_at"] <= datetime.now(UTC)
        or link["download_count"] >= link["max_downloads"]
    ):
        raise _refusal(link)
    return link


def _named(photos: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The order's photos (in upload order) under the names their ZIP gives them."""
    names = unique_names([p["filename"] for p in photos])
    return [{**p, "filename": name} for p, name in zip(photos, names, strict=True)]


def _named_restored(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The page's photos with each restored one under the name its ZIP gives it (the same
    photos in the same upload order as `_named` names them), and each original under the
    unique name the status answer gives it (two uploads may share a filename)."""
    names = iter(unique_names([r["filename"] for r in rows if r["id"]]))
    originals = unique_names([r["original_filename"] for r in rows])
    return [
        {**r, "original_filename": original} | ({"filename": next(names)} if r["id"] else {})
        for r, original in zip(rows, originals, strict=True)
    ]


def download_page(database: db.Database, storage: StorageService, token: str) -> DownloadPage:
    """What the link offers, with the previews. Looking does not use the link up (mail
    scanners look too), and neither does fetching a preview: its URL is signed for viewing."""
    with database.transaction() as conn:
        link = _live_link(conn, token)
        rows = _named_restored(db.all_rows(conn, "download_page_photos", order_id=str(link["order_id"])))
    if link["image_id"]:
        rows = [r for r in rows if r["id"] == link["image_id"]]
    finished = link["order_status"] in FINISHED_ORDERS
    photos = [
        PagePhoto(
            row["original_id"],
            row["original_filename"],
            _state(row, finished),
            row["id"],
            row["filename"],
            signed_preview(storage, row, "original_"),
            signed_preview(storage, row) if row["id"] else None,
        )
        for row in rows
    ]
    restored = any(p.id for p in photos)
    return DownloadPage(
        link["order_number"],
        photos,
        link["max_downloads"] - link["download_count"],
        link["expires_at"],
        zip_available=not link["image_id"] and restored and link["zip_parts"] > 0,
        image_id=link["image_id"],
        zip_parts=link["zip_parts"],
    )


def _state(row: dict[str, Any], order_finished: bool) -> PhotoState:
    if row["id"]:
        return "restored"
    if order_finished or row["job_status"] in FINISHED_JOB:
        return "not_restored"
    return "restoring"


def spend_download(
    database: db.Database, storage: StorageService, token: str, image_id: UUID | None, part: int = 1
) -> str:
    """Count one use and return a signed URL for the photo (or the order's ZIP, or one
    part of it when it was split)."""
    with database.transaction(actor="customer") as conn:
        link = db.maybe_one(conn, "use_download_link", token_hash=token_hash(token))
        if link is None:
            raise _refusal(db.maybe_one(conn, "download_link_by_hash", token_hash=token_hash(token)))
        order = db.one(conn, "order_by_id", order_id=str(link["order_id"]))
        wanted = image_id or link["image_id"]
        if link["image_id"] and wanted != link["image_id"]:
            raise NotFound("this link is for another photo", code="photo_not_found")
        if wanted:
            photos = {p["id"]: p for p in _named(db.all_rows(conn, "downloadable_images", order_id=str(order["id"])))}
            if wanted not in photos:
                raise NotFound("no restored photo with that id in this order", code="photo_not_found")
            path, name = photos[wanted]["storage_path"], photos[wanted]["filename"]
        else:
            parts = order["zip_parts"]
            if not 1 <= part <= parts:
                raise NotFound("this order has no such ZIP; download the photos one by one", code="zip_not_found")
            stem = f"restoreclick-{order['order_number']}"
            path = storage.zip_path(order["id"], stem, part, parts)
            name = path.rsplit("/", 1)[-1]
        record_audit(
            conn,
            "download_link",
            link["id"],
            "download_link.used",
            actor="customer",
            new={"image_id": str(wanted) if wanted else None, "use": link["download_count"]},
        )
    # Any failure above rolled the use back; signing cannot fail the count.
    return storage.signed_download_url(path, SIGNED_URL_SECONDS, name)
