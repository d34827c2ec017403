"""`/dev/outbox`: the emails `restoreclick dev` would have sent, newest first.

HTML for people; `?format=json` for scripts and tests (recipient, subject, text body,
attachment names, and the download links found in the body).
"""

from __future__ import annotations

import html
import re
from email import policy
from email.parser import BytesParser
from pathlib import Path
from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, JSONResponse, Response

LINK = re.compile(r"https?://\S+/api/download/rc_dl_[A-Za-z0-9_-]+")
PAGE_POLICY = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"


def read_outbox(folder: Path) -> list[dict[str, Any]]:
    messages = []
    files = sorted(folder.glob("*.eml"), key=lambda p: p.stat().st_mtime, reverse=True) if folder.exists() else []
    for path in files:
        mime = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
        body = mime.get_body(preferencelist=("plain",))
        text = body.get_content() if body else ""
        messages.append(
            {
                "email_id": mime["X-RestoreClick-Email-Id"],
                "to": mime["To"],
                "subject": mime["Subject"],
                "date": mime["Date"],
                "text": text,
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
        items = (
            "".join(
                f"<article><h3>{html.escape(m['subject'] or '')}</h3><p>to {html.escape(m['to'] or '')} · "
                f"{html.escape(m['date'] or '')}</p><pre>{_linked(m['text'])}</pre>"
                f"<p>{len(m['attachments'])} attachment(s)</p></article>"
                for m in messages
            )
            or "<p>No email yet.</p>"
        )
        page = (
            f"<!doctype html><html><head><meta charset='utf-8'><title>Outbox</title><style>"
            "body{font-family:system-ui;max-width:50em;margin:2em auto}article{border-bottom:1px solid #ddd}"
            "pre{white-space:pre-wrap}</style></head><body><h1>Outbox</h1>"
            f"{items}</body></html>"
        )
        return HTMLResponse(page, headers={"content-security-policy": PAGE_POLICY})

    return router


def _linked(text: str) -> str:
    escaped = html.escape(text)
    return re.sub(r"(https?://[^\s<]+)", r'<a href="\1">\1</a>', escaped)
