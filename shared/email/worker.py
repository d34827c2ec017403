"""One email job: render, attach, send once, record the provider's message id."""

from __future__ import annotations

from shared.core import db
from shared.core.config import Settings
from shared.downloads.links import create_download_link
from shared.email.base import Attachment, EmailOutcomeUnknown, EmailProvider, OutgoingEmail
from shared.email.templates import MessageContext, render
from shared.jobs.queue import Job, TerminalJobError
from shared.storage import StorageService, unique_names

WITH_LINK = {"restoration_complete", "restoration_partial", "download_links_resent"}
# The emails that say photos are ready carry the first one's preview.
WITH_PREVIEW = {"restoration_complete", "restoration_partial"}
# A preview of 1024 px is about 100 KB; one far larger is not what an email should carry.
INLINE_PREVIEW_MAX_BYTES = 512 * 1024
# Shown at most this wide: the email's column is about 36em.
INLINE_PREVIEW_WIDTH = 560


def send_email(
    database: db.Database, storage: StorageService, provider: EmailProvider, settings: Settings, job: Job
) -> None:
    if job["send_started_at"] is not None and job["provider_message_id"] is None:
        # An earlier attempt reached the provider and then died: it may have been sent.
        # Sending again could reach the customer twice, so stop and say so.
        raise TerminalJobError(
            f"an earlier attempt via {job['provider']} started at {job['send_started_at']:%Y-%m-%d %H:%M:%S} "
            "and its outcome is unknown; check the provider's log for this email id, then "
            "`restoreclick jobs retry` it if it was not delivered"
        )
    context: MessageContext = {
        "ttl_days": settings.download_link_ttl_days,
        "photo_retention_days": settings.photo_retention_days,
    }
    attachments: list[Attachment] = []
    link_id = None
    if job["template"] in WITH_LINK and job["order_id"]:
        # The link is made here, as the email is written: only its hash is stored, so this
        # is the one moment its token can be put in the message.
        with database.transaction(actor="email_worker") as conn:
            # Each ZIP part is a download of its own: a split order gets the uses for each.
            parts = max(1, int((job["payload"] or {}).get("zip_parts") or 1))
            token, link = create_download_link(
                conn, job["order_id"], ttl_days=settings.download_link_ttl_days,
                max_uses=min(1000, settings.download_max_uses * parts),
            )  # fmt: skip
        link_id = str(link.id)
        context["download_url"] = f"{settings.public_base_url}/api/download/{token}"
        context["expires_at"], context["max_uses"] = link.expires_at, link.max_downloads
        if job["template"] in WITH_PREVIEW:
            attachments = _attachments(database, storage, job, settings.email_attachment_cap_bytes, context)
    rendered = render(job["template"], job["payload"], context)
    message = OutgoingEmail(
        str(job["id"]),
        settings.email_from,
        job["to_email"],
        rendered.subject,
        rendered.text,
        rendered.html,
        attachments,
    )
    with database.transaction() as conn:
        db.execute(conn, "record_send_attempt", id=str(job["id"]), provider=provider.name, worker=job["locked_by"])
    try:
        message_id = provider.send(message)
    except EmailOutcomeUnknown:
        # The attempt stays recorded: the retry finds it and stops with a note instead of
        # sending a second copy (see the top of this function).
        raise
    except BaseException:
        with database.transaction() as conn:
            db.execute(conn, "clear_send_attempt", id=str(job["id"]))
            if link_id:  # the provider refused it: the next attempt makes its own link
                db.execute(conn, "revoke_download_link", id=link_id, reason="email not sent")
        raise
    with database.transaction() as conn:
        db.execute(conn, "record_email_sent", id=str(job["id"]), message_id=message_id)


def _attachments(
    database: db.Database, storage: StorageService, job: Job, cap: int, context: MessageContext
) -> list[Attachment]:
    """The first restored photo's preview, inline; then, for a complete order, the restored
    photos themselves while their total stays under the cap (links only beyond it). The
    preview is bounded on its own (INLINE_PREVIEW_MAX_BYTES), so the message stays within
    the cap plus half a megabyte: far inside SendGrid's 30 MB and Gmail's 25 MB.

    Inline rather than a signed URL in the HTML: the link lasts 30 days, longer than S3
    lets a signed URL live (7 days), and mail clients show an attached image where they
    block remote ones; a preview is tens of kilobytes, far inside any mail size limit.
    """
    with database.transaction() as conn:
        restored = db.all_rows(conn, "restored_images_of_order", order_id=str(job["order_id"]))
    attached: list[Attachment] = []
    first = next((r for r in restored if r["preview_path"]), None)
    if first is not None and first["preview_size_bytes"] <= INLINE_PREVIEW_MAX_BYTES:
        content_id = f"preview-{first['id']}@restoreclick"
        attached.append(Attachment("preview.jpg", "image/jpeg", storage.read_photo(first["preview_path"]), content_id))
        context["preview_cid"] = content_id
        context["preview_width"] = min(first["preview_width"], INLINE_PREVIEW_WIDTH)
    if job["template"] != "restoration_complete" or sum(r["size_bytes"] for r in restored) > cap:
        return attached
    # Named as in the ZIP: two photos called photo.jpg arrive as two files, not one over the other.
    names = unique_names([r["filename"] for r in restored])
    photos = [
        Attachment(name, r["content_type"], storage.read_photo(r["storage_path"]))
        for name, r in zip(names, restored, strict=True)
    ]
    return attached + photos
