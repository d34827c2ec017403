"""Download function: the page behind an emailed link, and the downloads themselves.

`GET /api/download/{token}` shows the photos (restored beside their originals, as
previews) and the ZIP and spends nothing (mail scanners open links); `POST` spends one
use and answers 303 to a signed storage URL.
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
from shared.downloads.page import download_page, refuse_unless_live, spend_download
from shared.downloads.page_html import page_policy, render_page

router = APIRouter(tags=["downloads"])
PRIVATE = {"x-robots-tag": "noindex, nofollow", "referrer-policy": "no-referrer", "cache-control": "no-store"}
PAGE_POLICY = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self' *; frame-ancestors 'none'"


def _error_page(exc: RestoreClickError) -> HTMLResponse:
    body = f"<!doctype html><html><body><h1>{html.escape(exc.message)}</h1></body></html>"
    return HTMLResponse(body, status_code=exc.status_code, headers=PRIVATE | {"content-security-policy": PAGE_POLICY})


@router.get("/api/download/{token}", response_class=HTMLResponse)
def show_downloads(token: str, request: Request) -> HTMLResponse:
    try:
        page = download_page(get_database(), get_storage(), token[:200])
    except RestoreClickError as exc:
        # A person following the emailed link reads a page; anything else gets the JSON error.
        if exc.status_code in (404, 410) and "text/html" in request.headers.get("accept", ""):
            return _error_page(exc)
        raise
    return HTMLResponse(render_page(token, page), headers=PRIVATE | {"content-security-policy": page_policy(page)})


@router.post("/api/download/{token}", status_code=303)
def download(
    token: str,
    image_id: Annotated[str | None, Form()] = None,
    part: Annotated[int, Form(ge=1, le=1000)] = 1,
) -> RedirectResponse:
    try:
        wanted = UUID(image_id) if image_id else None
    except ValueError:
        # A link that no longer works says so first, whatever photo the form names (as a
        # well-formed id of no photo does: spend_download refuses the link before the id).
        refuse_unless_live(get_database(), token[:200])
        raise NotFound("no restored photo with that id", code="photo_not_found") from None
    url = spend_download(get_database(), get_storage(), token[:200], wanted, part)
    return RedirectResponse(url, status_code=303, headers=PRIVATE)


app = create_app("download", [router])
handler = Mangum(app, lifespan="off")
