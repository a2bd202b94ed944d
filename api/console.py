"""``/console/``: the auditor's console, a static page that uses the public API.

On by default wherever GraphiQL is (development), off in production unless
``REGSOSEK_CONSOLE=true``; when off, every console route answers 404. The page
runs under a strict Content-Security-Policy: scripts and styles from the
gateway only (no inline script or style, no CDN), connections to the gateway
only, no framing, no form posting anywhere. It signs in at ``/oauth/token`` and
reads through ``/graphql`` with a bearer token it keeps in memory; it has no
route of its own into the audit trail. Files it offers (a lookup's CSV, the signed
subject report, which is ``subjectReport``'s ``jws`` as returned) are made in the page
from what ``/graphql`` answered: nothing is written or kept on the server.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from api.state import gateway_state

CONSOLE: Final = Path(__file__).parent / "static" / "console"
ASSETS: Final = {"console.js": "text/javascript", "console.css": "text/css"}
CONSOLE_HEADERS: Final = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self';"
    " img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none';"
    " frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
}


def _enabled(request: Request) -> None:
    if not gateway_state(request.app).settings.console_enabled:
        raise HTTPException(status_code=404)


async def console_redirect(request: Request) -> Response:
    _enabled(request)
    return RedirectResponse("/console/", status_code=308)


async def console_page(request: Request) -> Response:
    """The page itself (no token needed to load it: it holds no data)."""
    _enabled(request)
    return FileResponse(CONSOLE / "index.html", headers=CONSOLE_HEADERS, media_type="text/html")


async def console_asset(request: Request) -> Response:
    """The console's own script and style sheet (a fixed list: nothing else is served here)."""
    _enabled(request)
    name = request.path_params["name"]
    media_type = ASSETS.get(name)
    if media_type is None:
        raise HTTPException(status_code=404)
    return FileResponse(CONSOLE / name, headers=CONSOLE_HEADERS, media_type=media_type)


def console_routes() -> list[BaseRoute]:
    return [
        Route("/console", console_redirect, methods=["GET"]),
        Route("/console/", console_page, methods=["GET"]),
        Route("/console/{name}", console_asset, methods=["GET"]),
    ]
