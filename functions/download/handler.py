"""Download function: the page behind an emailed link, and the downloads themselves.

`GET /api/download/{token}` shows the photos and the ZIP and spends nothing (mail
scanners open links); `POST` spends one use and answers 303 to a signed storage URL.
"""

from __future__ import annotations

import html
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from mangum import Mangum

from shared.core.errors import NotFound, RestoreClickError
from shared.core.http import create_app
from shared.deps import get_database, get_storage
from shared.downloads.page import DownloadPage, download_page, spend_download

router = APIRouter(tags=["downloads"])
PRIVATE = {"x-robots-tag": "noindex, nofollow", "referrer-policy": "no-referrer", "cache-control": "no-store"}
PAGE_POLICY = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self' *; frame-ancestors 'none'"


def _page(token: str, page: DownloadPage) -> str:
    action = f"/api/download/{html.escape(token)}"
    rows = "".join(
        f"<li>{html.escape(p['filename'])} <form method='post' action='{action}'>"
        f"<input type='hidden' name='image_id' value='{p['id']}'><button>Download</button></form></li>"
        for p in page.photos
    )
    zip_button = ""
    if page.zip_available and page.zip_parts == 1:
        zip_button = (
            f"<form method='post' action='{action}'><button class='zip' id='download-zip'>"
            "Download all (ZIP)</button></form>"
        )
    elif page.zip_available:
        # Too large for one object in storage: the ZIP comes in parts, each a download.
        zip_button = "<p>All photos, as ZIPs:</p>" + "".join(
            f"<form method='post' action='{action}'><input type='hidden' name='part' value='{n}'>"
            f"<button class='zip' id='download-zip-{n}'>Part {n} of {page.zip_parts}</button></form>"
            for n in range(1, page.zip_parts + 1)
        )
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><meta name='robots' content='noindex'>"
        "<title>Your restored photos</title><style>body{font-family:Georgia,serif;max-width:36em;margin:2em auto}"
        "li{margin:.5em 0}form{display:inline}button{margin-left:1em}.zip{font-size:1.1em}</style></head><body>"
        f"<h1>Order {html.escape(page.order_number)}</h1>{zip_button}<ul>{rows}</ul>"
        f"<p>This link works {page.uses_left} more time(s), until {page.expires_at:%d %B %Y}.</p></body></html>"
    )


def _error_page(exc: RestoreClickError) -> HTMLResponse:
    body = f"<!doctype html><html><body><h1>{html.escape(exc.message)}</h1></body></html>"
    return HTMLResponse(body, status_code=exc.status_code, headers=PRIVATE | {"content-security-policy": PAGE_POLICY})


@router.get("/api/download/{token}", response_class=HTMLResponse)
def show_downloads(token: str, request: Request) -> HTMLResponse:
    try:
        page = download_page(get_database(), token[:200])
    except RestoreClickError as exc:
        # A person following the emailed link reads a page; anything else gets the JSON error.
        if exc.status_code in (404, 410) and "text/html" in request.headers.get("accept", ""):
            return _error_page(exc)
        raise
    return HTMLResponse(_page(token, page), headers=PRIVATE | {"content-security-policy": PAGE_POLICY})


@router.post("/api/download/{token}", status_code=303)
def download(
    token: str,
    image_id: Annotated[str | None, Form()] = None,
    part: Annotated[int, Form(ge=1, le=1000)] = 1,
) -> RedirectResponse:
    try:
        wanted = UUID(image_id) if image_id else None
    except ValueError:
        raise NotFound("no restored photo with that id", code="photo_not_found") from None
    url = spend_download(get_database(), get_storage(), token[:200], wanted, part)
    return RedirectResponse(url, status_code=303, headers=PRIVATE)


app = create_app("download", [router])
handler = Mangum(app, lifespan="off")
