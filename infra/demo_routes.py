"""The demo shop page at `/`, for `restoreclick dev` only: no Lambda serves it.

Plain files from infra/demo/ (HTML, CSS, JavaScript; no build step). The page sets its own
Content-Security-Policy: scripts and styles only from this origin (so nothing inline),
thumbnails from `blob:` URLs of the photos the customer picked, requests only to the shop
itself. Every other response keeps the API's `default-src 'none'`.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, JSONResponse, Response

from shared.core.config import Settings
from shared.core.errors import NotFound

DEMO_DIR = Path(__file__).resolve().parent / "demo"

PAGE_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob:; connect-src 'self'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)

# The only files served, by name: nothing else under infra/ is reachable.
ASSETS = {
    "demo.css": "text/css; charset=utf-8",
    "demo.js": "text/javascript; charset=utf-8",
    "favicon.svg": "image/svg+xml",
}


def demo_router(settings: Settings) -> APIRouter:
    """`/` (the page), `/demo/{asset}` and `/demo/settings.json` (what the page shows and checks)."""
    router = APIRouter(tags=["demo"], include_in_schema=False)

    @router.get("/", response_class=HTMLResponse)
    def demo_page() -> HTMLResponse:
        # Read on each request so edits show up on reload, as with any dev server.
        page = (DEMO_DIR / "index.html").read_text(encoding="utf-8")
        return HTMLResponse(page, headers={"content-security-policy": PAGE_POLICY})

    @router.get("/demo/settings.json")
    def demo_settings() -> JSONResponse:
        # The price is only known to the server; the page shows it before checkout prices it.
        return JSONResponse(
            {
                "price_per_photo": settings.price_per_photo,
                "currency": settings.currency,
                "upload_max_bytes": settings.upload_max_bytes,
                # Larger photos go straight to storage through a signed URL instead.
                "upload_request_max_bytes": min(settings.upload_request_max_bytes, settings.upload_max_bytes),
                "upload_max_files": settings.upload_max_files,
            }
        )

    @router.get("/demo/{asset}")
    def demo_asset(asset: str) -> Response:
        media_type = ASSETS.get(asset)
        if media_type is None:
            raise NotFound("no such file", code="not_found")
        return Response((DEMO_DIR / asset).read_bytes(), media_type=media_type)

    return router
