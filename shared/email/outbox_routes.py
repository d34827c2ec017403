"""`/dev/outbox`: the emails `restoreclick dev` would have sent, newest first.

For people, each email as the customer would see it (its HTML part, framed from
`/dev/outbox/{email_id}.html`) above its plain-text part; `?format=json` for scripts and
tests (recipient, subject, both parts, attachment names, the download links found in the
text part).
"""

from __future__ import annotations

import base64
import html
import re
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, JSONResponse, Response

LINK = re.compile(r"https?://\S+/api/download/rc_dl_[A-Za-z0-9_-]+")
EMAIL_ID = re.compile(r"^[0-9a-fA-F-]{1,64}$")
PAGE_POLICY = "default-src 'none'; style-src 'unsafe-inline'; frame-src 'self'; frame-ancestors 'none'"
# The email itself, framed by the outbox page only: its styles, nothing it could load or run.
EMAIL_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'"


def _parse(path: Path) -> EmailMessage:
    return BytesParser(policy=policy.default).parsebytes(path.read_bytes())


def _part(mime: EmailMessage, subtype: str) -> str:
    body = mime.get_body(preferencelist=(subtype,))
    return str(body.get_content()) if body is not None and body.get_content_subtype() == subtype else ""


def _shown(mime: EmailMessage) -> str:
    """The HTML part as a mail client shows it: its inline images (`cid:` parts of the
    multipart/related around it) put in place as data: URLs, which the frame's policy allows."""
    page = _part(mime, "html")
    for part in mime.walk():
        content_id = str(part.get("content-id") or "").strip("<>")
        if content_id and part.get_content_maintype() == "image":
            payload = part.get_payload(decode=True)
            data = base64.b64encode(payload if isinstance(payload, bytes) else b"").decode()
            page = page.replace(f"cid:{content_id}", f"data:{part.get_content_type()};base64,{data}")
    return page


def read_outbox(folder: Path) -> list[dict[str, Any]]:
    messages = []
    files = sorted(folder.glob("*.eml"), key=lambda p: p.stat().st_mtime, reverse=True) if folder.exists() else []
    for path in files:
        mime = _parse(path)
        text = _part(mime, "plain")
        messages.append(
            {
                "email_id": mime["X-RestoreClick-Email-Id"],
                "to": mime["To"],
                "subject": mime["Subject"],
                "date": mime["Date"],
                "text": text,
                "html": _part(mime, "html"),
                "attachments": [part.get_filename() for part in mime.iter_attachments()],
                "download_links": LINK.findall(text),
            }
        )
    return messages


def outbox_router(folder: Path) -> APIRouter:
    router = APIRouter(tags=["dev"], include_in_schema=False)

    @router.get("/dev/outbox")
    def outbox(format: str = "html") -> Response:
        messages = read_outbox(folder)
        if format == "json":
            return JSONResponse({"messages": messages})
        items = "".join(_article(m) for m in messages) or "<p>No email yet.</p>"
        page = (
            "<!doctype html><html><head><meta charset='utf-8'><title>Outbox</title><style>"
            "body{font-family:system-ui;max-width:50em;margin:2em auto;padding:0 1em}"
            "article{border-bottom:1px solid #ddd;padding-bottom:1em}"
            "iframe{width:100%;height:34em;border:1px solid #ddd;border-radius:8px}"
            "pre{white-space:pre-wrap}</style></head><body><h1>Outbox</h1>"
            f"{items}</body></html>"
        )
        return HTMLResponse(page, headers={"content-security-policy": PAGE_POLICY})

    @router.get("/dev/outbox/{email_id}.html")
    def email_html(email_id: str) -> Response:
        path = folder / f"{email_id}.eml"
        if not EMAIL_ID.match(email_id) or not path.is_file():
            return JSONResponse(
                {"error": {"code": "email_not_found", "message": "no such email in the outbox"}}, status_code=404
            )
        return HTMLResponse(_shown(_parse(path)), headers={"content-security-policy": EMAIL_POLICY})

    return router


def _article(m: dict[str, Any]) -> str:
    preview = (
        f"<iframe sandbox src='/dev/outbox/{html.escape(m['email_id'] or '')}.html' "
        f"title='{html.escape(m['subject'] or '')}' loading='lazy'></iframe>"
        if m["html"]
        else ""
    )
    return (
        f"<article><h3>{html.escape(m['subject'] or '')}</h3><p>to {html.escape(m['to'] or '')} · "
        f"{html.escape(m['date'] or '')}</p>{preview}<h4>Plain-text part</h4><pre>{_linked(m['text'])}</pre>"
        f"<p>{len(m['attachments'])} attachment(s)</p></article>"
    )


def _linked(text: str) -> str:
    escaped = html.escape(text)
    return re.sub(r"(https?://[^\s<]+)", r'<a href="\1">\1</a>', escaped)
