"""The pages: `/` redirects to the wall, the wall's and the console's files (the
repository's dashboards/wall/ and dashboards/console/, dashboards/common/ the modules
both import, and dashboards/vendor/ the libraries vendored from npm, shipped in the
package), and the
API's documentation (`/docs`, `/redoc`, `/openapi.json`), only with `settings.api_docs`
(SUPERVISOR_API_DOCS, default off) and then only to a valid token."""

from __future__ import annotations

import secrets
from typing import Final
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from supervisor.settings import package_path
from supervisor.web.security import AnyRole, bearer_token

#: The wall page's files: the repository's dashboards/wall/, shipped inside the package
#: (part of the code, not of the settings; see `supervisor.settings.package_path`).
WALL_DIR: Final = package_path("_wall")
#: The console's files (people at a desk): the repository's dashboards/console/, shipped
#: inside the package like the wall
CONSOLE_DIR: Final = package_path("_console")
#: The modules both pages import (`../../common/…` from their js/: the same relative
#: path on disk, for node's tests, as under the service, behind any path prefix)
COMMON_DIR: Final = package_path("_common")
#: The libraries the pages load from npm, vendored (dashboards/vendor/: Apache ECharts
#: for the console's charts, its version pinned in dashboards/package.json): served by
#: the service itself, so that no page loads anything from another origin.
VENDOR_DIR: Final = package_path("_vendor")
#: The API documentation pages load Swagger UI or ReDoc from their CDN, and run one
#: inline script (allowed by its nonce): their own policy, served only with api_docs.
DOCS_POLICY: Final = (
    "default-src 'self'",
    "script-src 'self' 'nonce-{nonce}' https://cdn.jsdelivr.net",
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com",
    "font-src 'self' https://fonts.gstatic.com",
    "img-src 'self' data: https:",
    "worker-src 'self' blob:",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
)

router = APIRouter()

#: `/openapi.json`, `/docs` (Swagger UI) and `/redoc`, to a valid token of any role; the
#: app includes it only with `settings.api_docs`.
#:
#: The pages fetch the schema from the browser, without the Authorization header: a
#: token given as `?token=` is passed on in the schema's URL (relative, so a proxy's
#: path prefix still works). Only a token that verified is passed on, and a valid token
#: is `svt_` and URL-safe characters: nothing that could break out of the page's script.
docs_router = APIRouter()


@router.get("/", include_in_schema=False)
async def index() -> RedirectResponse:
    # Relative, so the redirect still works behind a reverse proxy's path prefix.
    return RedirectResponse("wall/")


def mount_static(app: FastAPI) -> None:
    """Serve the wall's files at `/wall/`, the console's at `/console/`, the modules
    both import at `/common/` and the vendored libraries at `/vendor/` (no token: the
    pages ask for one, and every call they make needs it)."""
    app.mount("/wall", StaticFiles(directory=WALL_DIR, html=True), name="wall")
    app.mount("/console", StaticFiles(directory=CONSOLE_DIR, html=True), name="console")
    app.mount("/common", StaticFiles(directory=COMMON_DIR), name="common")
    app.mount("/vendor", StaticFiles(directory=VENDOR_DIR), name="vendor")


@docs_router.get("/openapi.json", include_in_schema=False)
async def openapi(request: Request, who: AnyRole) -> JSONResponse:
    return JSONResponse(_app(request).openapi())


@docs_router.get("/docs", include_in_schema=False)
async def swagger(request: Request, who: AnyRole) -> HTMLResponse:
    title = _app(request).title
    return _docs_page(get_swagger_ui_html(openapi_url=_schema_url(request), title=title))


@docs_router.get("/redoc", include_in_schema=False)
async def redoc(request: Request, who: AnyRole) -> HTMLResponse:
    title = _app(request).title
    return _docs_page(get_redoc_html(openapi_url=_schema_url(request), title=title))


def _app(request: Request) -> FastAPI:
    app: FastAPI = request.app
    return app


def _schema_url(request: Request) -> str:
    """`openapi.json`, with the caller's token when it came in the query string."""
    if request.headers.get("authorization", "").strip():
        return "openapi.json"  # a header: whatever adds it adds it to the schema too
    token = bearer_token(request)
    return "openapi.json" if token is None else f"openapi.json?token={quote(token, safe='')}"


def _docs_page(page: HTMLResponse) -> HTMLResponse:
    """A documentation page with its own Content-Security-Policy (DOCS_POLICY): its
    inline scripts carry a fresh nonce, the only inline scripts the policy runs."""
    nonce = secrets.token_urlsafe(16)
    html = bytes(page.body).decode("utf-8").replace("<script>", f'<script nonce="{nonce}">')
    policy = "; ".join(DOCS_POLICY).replace("{nonce}", nonce)
    return HTMLResponse(html, headers={"Content-Security-Policy": policy})
