"""The web pages, served by the API itself: plain HTML, CSS and JavaScript modules from
``services/api/pages/web`` (no build step, no CDN; everything works offline).

Each page sends the token typed at sign-in as ``Authorization: Bearer`` on every API call (the
auditor page also sends the purpose stated at sign-in as ``X-Audit-Purpose``).
A strict Content-Security-Policy keeps every script, style and request on this origin.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

from shared.errors import NotFound

WEB = Path(__file__).resolve().parent / "web"
STATIC = WEB / "static"
STATIC_TYPES = {
    ".css": "text/css",
    ".js": "text/javascript",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
    "img-src 'self' blob: data:; connect-src 'self'; form-action 'self'; base-uri 'none'; "
    "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}

router = APIRouter(include_in_schema=False)


def _page(filename: str) -> FileResponse:
    return FileResponse(WEB / filename, media_type="text/html", headers=SECURITY_HEADERS)


@router.get("/")
def clinical_page() -> FileResponse:
    return _page("clinical.html")


@router.get("/ops")
def ops_page() -> FileResponse:
    return _page("ops.html")


@router.get("/audit")
def auditor_page() -> FileResponse:
    return _page("auditor.html")


@router.get("/static/{path:path}")
def static_file(path: str) -> FileResponse:
    """A file under ``web/static`` of a known type; nothing outside that folder."""
    target = (STATIC / path).resolve()
    media_type = STATIC_TYPES.get(target.suffix)
    if media_type is None or not target.is_relative_to(STATIC) or not target.is_file():
        raise NotFound(f"no static file {path!r}")
    return FileResponse(target, media_type=media_type, headers=SECURITY_HEADERS)
