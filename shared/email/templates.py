"""The shop's emails, each as a subject, a plain text body and an HTML body."""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


def _money(amount: int | None, currency: str | None) -> str:
    return f"{(amount or 0) / 100:.2f} {(currency or '').upper()}"


def _html(paragraphs: list[str], link: tuple[str, str | None] | None = None, image: str = "") -> str:
    body = "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs) + image
    label, url = link or ("", None)
    if url:
        body += (
            f'<p><a href="{html.escape(url)}" style="background:#2f6f4e;color:#fff;padding:10px 18px;'
            f'border-radius:6px;text-decoration:none">{html.escape(label)}</a></p>'
        )
    return (
        '<!doctype html><html><body style="font-family:Georgia,serif;max-width:36em;margin:auto;color:#222">'
        f'<h2>RestoreClick</h2>{body}<p style="color:#777">RestoreClick — old photos, new life.</p></body></html>'
    )


def _preview(context: dict[str, Any]) -> str:
    """The first restored photo, shown inline (a CID attachment), when the email carries it."""
    cid = context.get("preview_cid")
    if not cid:
        return ""
    return (
        f'<p><img src="cid:{html.escape(cid)}" alt="Your first restored photo" width="{context["preview_width"]}" '
        'style="max-width:100%;height:auto;border-radius:4px"></p>'
    )


def _which_failed(payload: dict[str, Any]) -> list[str]:
    names = payload.get("failed_photos") or []
    return [f"Not restored: {', '.join(names)}."] if names else []


def render(template: str, payload: dict[str, Any], context: dict[str, Any]) -> Rendered:
    number = payload.get("order_number", "")
    link = context.get("download_url")
    if template == "order_confirmation":
        lines = [
            f"Thank you! We received your order {number}: {payload.get('photo_count')} photo(s), "
            f"{_money(payload.get('amount_total'), payload.get('currency'))}.",
            "We are restoring your photos now and will email you a download link when they are ready.",
        ]
        return Rendered(f"Order {number} received", "\n\n".join(lines), _html(lines))
    if template == "restoration_complete":
        lines = [
            f"Your {payload.get('restored')} restored photo(s) from order {number} are ready.",
            f"Download them here (the link works for {context.get('ttl_days')} days): {link}",
        ]
        if int(payload.get("zip_parts") or 1) > 1:
            lines.append(f"There are too many to fit one ZIP: the page offers them as {payload['zip_parts']} ZIPs.")
        return Rendered(
            f"Your restored photos are ready ({number})",
            "\n\n".join(lines),
            _html(lines[:1], ("Download your photos", link), _preview(context)),
        )
    if template == "restoration_partial":
        lines = [
            f"We restored {payload.get('restored')} photo(s) from order {number}; "
            f"{payload.get('failed')} could not be restored, and we are sorry for that.",
            *_which_failed(payload),
            f"Download the restored ones here: {link}",
            "Reply to this email and we will refund the photos we could not restore.",
        ]
        return Rendered(
            f"Most of your photos are ready ({number})",
            "\n\n".join(lines),
            _html([*lines[:-2], lines[-1]], ("Download your photos", link), _preview(context)),
        )  # the link as a button
    if template == "restoration_failed":
        lines = [
            f"We could not restore the photos of order {number}. We are sorry.",
            *_which_failed(payload),
            "Reply to this email and we will refund you in full.",
        ]
        return Rendered(f"We could not restore your photos ({number})", "\n\n".join(lines), _html(lines))
    if template == "download_links_resent":
        lines = [
            f"Here is a fresh download link for order {number}: {link}",
            f"It works for {context.get('ttl_days')} days.",
        ]
        return Rendered(
            f"Your download link ({number})", "\n\n".join(lines), _html(lines[1:], ("Download your photos", link))
        )
    if template == "payment_failed":
        lines = [
            "Your payment did not go through, so we have not started on your photos.",
            "Your photos are still uploaded: you can try checking out again.",
        ]
        return Rendered("Your payment did not go through", "\n\n".join(lines), _html(lines))
    if template == "payment_refunded":
        amount = payload.get("amount_total") or 0
        why = payload.get("why") or "we could not take on this order"
        lines = [
            f"We could not start on your {payload.get('photo_count')} photo(s), because {why}.",
            f"We have refunded your payment of {_money(amount, payload.get('currency'))} in full; "
            "your bank usually shows it within 5 to 10 business days."
            if amount
            else "You were not charged.",
            "If your photos are still in your upload session, you can check them out again; "
            "or reply to this email and we will help.",
        ]
        return Rendered("We refunded your payment", "\n\n".join(lines), _html(lines))
    raise ValueError(f"unknown email template {template!r}")
