"""The shop's emails: one template per message (`messages/<name>.txt`), rendered as a
subject, a plain-text part and an HTML part.

A template is a `Subject:` line, a blank line, then paragraphs separated by blank lines,
with `$name` placeholders (string.Template). Two rules make one file serve both parts:

- a paragraph `[Label]($url)` is the message's button: in HTML a button linking to the
  URL, in the text part `Label: <url>`, so both carry the same link;
- a paragraph whose placeholder has no value (None or "") is left out, so optional
  lines (the ZIP parts, the photos that failed) need no conditionals.

Values are escaped for HTML after substitution, so a customer's filename shows as typed
and never becomes markup. The standard library is enough, and was chosen by import cost
in the workers function: `string` and `html` are already imported there, where Jinja2
would add its own modules to every cold start.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from string import Template
from typing import Any, Required, TypedDict

MESSAGES = Path(__file__).with_name("messages")
BUTTON = re.compile(r"^\[(?P<label>[^\]]+)\]\(\$(?P<url>\w+)\)$")
BRAND = "RestoreClick"
FOOTER = "RestoreClick — old photos, new life."
PARAGRAPH = '<p class="ink" style="margin:0 0 16px;font-size:16px;line-height:1.55;color:#2b2420">'

# The demo page's palette (infra/demo/demo.css): warm paper, ink, the rust accent. Inline
# styles are the light look every client shows; clients that honour <style> (Apple Mail,
# iOS, Outlook.com, Gmail's apps in part) get the dark one when the reader asks for it.
PAGE_STYLE = """
:root { color-scheme: light dark; supported-color-schemes: light dark; }
body { margin: 0; padding: 0; width: 100% !important; }
a.button:hover { background: #8f3f1d !important; }
@media (max-width: 600px) { .card { padding: 20px 18px !important; } }
@media (prefers-color-scheme: dark) {
  body, .page { background: #1d1916 !important; }
  .card { background: #2a2420 !important; border-color: #3a322c !important; }
  .ink, .card p, .brand { color: #f1e9df !important; }
  .muted { color: #b7aa9d !important; }
  a.button, td.button { background: #d2693a !important; color: #1d1916 !important; }
}
"""


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


class MessageContext(TypedDict, total=False):
    """What the email worker adds to a queued email's payload as it writes the message."""

    ttl_days: Required[int]
    photo_retention_days: int  # how long the photos stay, told in the completion emails
    download_url: str  # only for the emails that carry a download link, made as they are written
    expires_at: datetime  # with the link: when it ends
    max_uses: int  # with the link: how many downloads it allows
    preview_cid: str  # the first restored photo's inline attachment, when the email carries one
    preview_width: int


@cache
def _template(name: str) -> tuple[str, list[str]]:
    path = MESSAGES / f"{name}.txt"
    if not re.fullmatch(r"[a-z_]+", name) or not path.is_file():
        raise ValueError(f"unknown email template {name!r}")
    head, _, body = path.read_text(encoding="utf-8").partition("\n\n")
    if not head.startswith("Subject: "):
        raise ValueError(f"{path.name} must start with a Subject: line")
    return head.removeprefix("Subject: ").strip(), [p.strip() for p in body.split("\n\n") if p.strip()]


def _filled(paragraph: str, values: dict[str, Any]) -> str | None:
    """The paragraph with its values in, or None when one of them has none."""
    template = Template(paragraph)
    names = template.get_identifiers()
    if any(values.get(n) in (None, "") for n in names):
        return None
    return template.substitute({n: str(values[n]) for n in names})


def render_template(name: str, values: dict[str, Any], image: str = "") -> Rendered:
    """Render one message's template with its values into both parts (`image`: HTML shown
    after the first paragraph, in the HTML part only)."""
    subject_line, paragraphs = _template(name)
    subject = _filled(subject_line, values)
    if subject is None:
        raise ValueError(f"email {name!r} is missing a value its subject needs")
    text_parts: list[str] = []
    html_parts: list[str] = []
    for paragraph in paragraphs:
        button = BUTTON.match(paragraph)
        if button:
            url = values.get(button["url"])
            if not url:
                continue
            label = _filled(button["label"], values) or button["label"]
            text_parts.append(f"{label}: {url}")
            html_parts.append(_button(label, str(url)))
            continue
        filled = _filled(paragraph, values)
        if filled is None:
            continue
        text_parts.append(filled)
        html_parts.append(f"{PARAGRAPH}{html.escape(filled)}</p>")
    text = "\n\n".join([*text_parts, "—", FOOTER]) + "\n"
    if image:
        html_parts.insert(1, image)
    return Rendered(subject, text, _page(subject, html_parts))


def _button(label: str, url: str) -> str:
    # A table cell as well as the link's own padding: Outlook pads cells, not links.
    return (
        '<table role="presentation" cellpadding="0" cellspacing="0" style="margin:8px 0 24px">'
        '<tr><td class="button" style="border-radius:8px;background:#b4532a">'
        f'<a class="button" href="{html.escape(url)}" style="display:inline-block;padding:14px 26px;'
        "font-size:17px;font-weight:600;color:#ffffff;text-decoration:none;border-radius:8px;"
        f'background:#b4532a">{html.escape(label)}</a></td></tr></table>'
    )


def _page(subject: str, body: list[str]) -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="color-scheme" content="light dark"><meta name="supported-color-schemes" content="light dark">'
        f"<title>{html.escape(subject)}</title><style>{PAGE_STYLE}</style></head>"
        '<body class="page" style="margin:0;padding:0;background:#faf6ef">'
        '<table role="presentation" class="page" width="100%" cellpadding="0" cellspacing="0" '
        'style="background:#faf6ef"><tr><td align="center" style="padding:24px 12px">'
        '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" style="max-width:560px">'
        '<tr><td class="brand" style="padding:0 4px 14px;font-family:Georgia,\'Times New Roman\',serif;'
        f'font-size:22px;font-weight:700;color:#2b2420">{BRAND}</td></tr>'
        '<tr><td class="card" style="background:#ffffff;border:1px solid #e6ddd0;border-radius:12px;'
        "padding:28px 30px;font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#2b2420\">"
        f"{''.join(body)}</td></tr>"
        '<tr><td class="muted" style="padding:14px 4px;font-family:system-ui,-apple-system,sans-serif;'
        f'font-size:13px;color:#6f635a">{html.escape(FOOTER)}</td></tr>'
        "</table></td></tr></table></body></html>"
    )


def _money(amount: int | None, currency: str | None) -> str:
    return f"{(amount or 0) / 100:.2f} {(currency or '').upper()}"


def _link_terms(context: MessageContext) -> str | None:
    """How long the link lasts and how many downloads it allows, said plainly."""
    expires: datetime | None = context.get("expires_at")
    uses = context.get("max_uses")
    if expires is None or uses is None:
        return None
    return (
        f"The link works for {context['ttl_days']} days, until {expires:%d %B %Y}, and for {uses} downloads "
        "(each ZIP or single photo you download counts as one). After that, ask for a new one on the order page."
    )


def _preview(context: MessageContext) -> str:
    """The first restored photo, shown inline (a CID attachment), when the email carries it."""
    cid = context.get("preview_cid")
    if not cid:
        return ""
    width = context.get("preview_width", 512)
    return (
        f'<p><img src="cid:{html.escape(cid)}" alt="Your first restored photo" width="{width}" '
        'style="max-width:100%;height:auto;border-radius:8px"></p>'
    )


def render(template: str, payload: dict[str, Any], context: MessageContext) -> Rendered:
    """The email `template` for a queued job's payload and the worker's context (the link)."""
    failed = payload.get("failed_photos") or []
    amount = payload.get("amount_total") or 0
    parts = int(payload.get("zip_parts") or 1)
    why = payload.get("why") or "we could not take on this order"
    values = {
        **payload,
        "amount": _money(payload.get("amount_total"), payload.get("currency")),
        "failed_photos": ", ".join(failed) or None,
        "download_url": context.get("download_url"),
        "link_terms": _link_terms(context),
        "zip_parts_note": f"There are too many to fit one ZIP: the page offers them as {parts} ZIPs."
        if parts > 1
        else None,
        "why": why,
        "photo_retention_days": context.get("photo_retention_days"),
        "refund_opening": (
            f"We have refunded your order of {payload.get('photo_count')} photo(s), as our team agreed with you."
            if payload.get("reason") == "operator_refund"
            else f"We could not start on your {payload.get('photo_count')} photo(s), because {why}."
        ),
        "refund_line": (
            f"We have refunded your payment of {_money(amount, payload.get('currency'))} in full; "
            "your bank usually shows it within 5 to 10 business days."
        )
        if amount
        else "You were not charged.",
    }
    return render_template(template, values, _preview(context))
