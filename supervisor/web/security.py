"""FastAPI dependencies for the roles of `supervisor.auth`: who is asking, and may they.

A token comes in `Authorization: Bearer <token>` or, where a header is awkward (the wall
page's URL, the browser's WebSocket), in a `token` query parameter; the header wins.

- No token, or one that does not verify: 401 with `WWW-Authenticate: Bearer`.
- A valid token of a role the route does not admit: 403.
- The WebSocket is checked before it is accepted: its Origin first (a page of another
  site gets 4403 whatever it sends), then the token (4401), then the role (4403).

Two equivalent ways to use it:

    app.state.tokens = store                         # what `authenticate` reads
    who: Annotated[Principal, Depends(require_roles("inspector", "director"))]
    principal = await check_websocket(websocket, store, settings.web_origins)

or, without app.state, an `Authenticator(store)` with `.requiring(*roles)` (a dependency)
and `await .websocket(websocket, origins, *roles)`.

Tokens in query strings reach uvicorn's request logs: call
`supervisor.auth.install_log_redaction()` in the process that serves (it keeps the id).

Besides who may ask, how: two ASGI middlewares that `create_app` puts around everything,
so that no route can forget them:

- `SecurityHeaders`: every HTTP response carries a Content-Security-Policy (the wall's
  page loads its own script and style only, and talks to its own host, WebSocket
  included), `X-Frame-Options: DENY`, `X-Content-Type-Options: nosniff` and
  `Referrer-Policy: no-referrer` (the wall's URL carries its token);
- `BodyLimit`: a request body larger than `MAX_BODY_BYTES` is refused with 413 before
  any handler reads it, whether it says its length (Content-Length) or not (chunked);
  and a NUL character anywhere in the path, the query or the body with 422 (no text a
  person writes holds one, and PostgreSQL cannot store one: the database would refuse
  the value, and the request would read as "the database is down").
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable, Iterable
from contextlib import suppress
from typing import Annotated, Final
from urllib.parse import urlsplit

from fastapi import Depends, HTTPException, Request, WebSocket
from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from supervisor.auth import PREFIX, Principal, Role, TokenStore, token_id_of
from supervisor.centers import is_valid_code
from supervisor.web.sessions import COOKIE, CSRF_HEADER, UNSAFE_METHODS, Sessions

log = logging.getLogger(__name__)

#: The attribute of `app.state` that holds the TokenStore `authenticate` uses.
STATE_ATTRIBUTE: Final = "tokens"
#: WebSocket close codes (4000-4999 are the application's): no or invalid token;
#: a foreign Origin or a role the socket does not admit.
CLOSE_UNAUTHORIZED: Final = 4401
CLOSE_FORBIDDEN: Final = 4403
#: Who may open the alert socket unless told otherwise.
WALL_ROLES: Final = (Role.inspector, Role.director)

_DEFAULT_PORTS: Final = {"http": 80, "https": 443, "ws": 80, "wss": 443}

Dependency = Callable[[Request], Awaitable[Principal]]


def bearer_token(connection: HTTPConnection) -> str | None:
    """The token of a request or WebSocket: the Bearer header, else `?token=`."""
    header = connection.headers.get("authorization")
    if header is not None and header.strip():  # an empty header is no header
        scheme, _, value = header.strip().partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
        return None  # another scheme (Basic...) is no token of ours
    query = connection.query_params.get("token")
    return query.strip() if query and query.strip() else None


def _unauthorized(detail: str, error: str | None = None) -> HTTPException:
    challenge = 'Bearer realm="supervisor"'
    if error is not None:
        challenge += f', error="{error}"'
    return HTTPException(401, detail, headers={"WWW-Authenticate": challenge})


def _verify(connection: HTTPConnection, store: TokenStore) -> Principal:
    """The principal of the connection's token or, without one, of its session cookie
    (sessions.py); else HTTPException 401 (403 for a cross-site request)."""
    token = bearer_token(connection)
    if token is None:
        signed_in = _session_principal(connection, store)
        if signed_in is not None:
            return signed_in
        raise _unauthorized("需要访问令牌（Authorization: Bearer <令牌>）")
    principal = store.verify(token)
    if principal is None:
        raise _unauthorized("令牌无效、已过期或已撤销", "invalid_token")
    return principal


def sessions_of(connection: HTTPConnection) -> Sessions | None:
    """The app's Sessions (`app.state.sessions`), if it signs people in."""
    sessions = getattr(connection.app.state, "sessions", None)
    return sessions if isinstance(sessions, Sessions) else None


def _session_principal(connection: HTTPConnection, store: TokenStore) -> Principal | None:
    """The principal of a session cookie, None without one. A cookie that does not
    verify, or whose token was revoked or expired: 401. A request that changes
    something without the session's CSRF value, or from a foreign Origin: 403. The
    session is left on `connection.state.session` (for /api/me)."""
    sessions = sessions_of(connection)
    cookie = connection.cookies.get(COOKIE)
    if sessions is None or not cookie:
        return None
    session = sessions.read(cookie)
    if session is None:
        raise _unauthorized("登录已失效，请重新登录", "invalid_token")
    if connection.scope["type"] == "http" and connection.scope["method"] in UNSAFE_METHODS:
        settings = getattr(connection.app.state, "settings", None)
        origins = settings.web_origins if settings is not None else ()
        origin = connection.headers.get("origin")
        if not origin_allowed(origin, connection.headers.get("host"), origins):
            log.info("request refused: session cookie sent from Origin %r", origin)
            raise HTTPException(403, "拒绝跨站请求")
        if not Sessions.csrf_matches(session, connection.headers.get(CSRF_HEADER)):
            log.info("request refused: session cookie without its CSRF value")
            raise HTTPException(403, "请求缺少本次登录的 X-CSRF-Token")
    principal = store.principal(session.token_id)
    if principal is None:
        raise _unauthorized("本次登录所用的令牌已撤销或过期", "invalid_token")
    connection.state.session = session
    return principal


def _roles(roles: Iterable[Role | str]) -> frozenset[Role]:
    chosen = frozenset(Role(role) for role in roles)  # ValueError for an unknown role
    if not chosen:
        raise ValueError("name at least one role")
    return chosen


#: The roles as people call them, in refusals.
ROLE_NAMES: Final = {"inspector": "纪检监察人员", "director": "中心负责人", "ops": "运维人员"}


def _check_role(principal: Principal, allowed: frozenset[Role]) -> Principal:
    if principal.role not in allowed:
        log.info("%s refused: role not admitted here", principal.label)
        role = ROLE_NAMES.get(principal.role.value, principal.role.value)
        raise HTTPException(403, f"{role}不能使用此功能")
    return principal


def store_of(connection: HTTPConnection) -> TokenStore:
    """The TokenStore the app keeps on `app.state.tokens`."""
    store = getattr(connection.app.state, STATE_ATTRIBUTE, None)
    if not isinstance(store, TokenStore):
        raise RuntimeError(f"app.state.{STATE_ATTRIBUTE} holds no TokenStore")
    return store


async def authenticate(request: Request) -> Principal:
    """Dependency: the caller, whatever the role; 401 without a valid token."""
    return _verify(request, store_of(request))


def require_roles(*roles: Role | str) -> Dependency:
    """Dependency factory: the caller, if their role is one of `roles` (else 403)."""
    allowed = _roles(roles)

    async def dependency(request: Request) -> Principal:
        return _check_role(_verify(request, store_of(request)), allowed)

    return dependency


#: Route parameter types (`who: Viewer`), reading `app.state.tokens`. Module-level on
#: purpose: with `from __future__ import annotations` FastAPI resolves an annotation in the
#: module's globals, so `Annotated[Principal, Depends(x)]` with `x` local to a factory
#: function is not found (the parameter becomes a required query field: 422). A
#: dependency made inside a function goes in the default instead: `who = Depends(x)`.
Viewer = Annotated[Principal, Depends(require_roles(Role.inspector, Role.director))]
AnyRole = Annotated[Principal, Depends(authenticate)]
#: `/metrics`: city-wide figures for the monitoring system, not for a center's director.
Ops = Annotated[Principal, Depends(require_roles(Role.ops))]


async def maybe_authenticate(request: Request) -> Principal | None:
    """Dependency: the caller if they show a valid token, else None (never 401). For
    a route that answers everyone but tells a known caller more (`/healthz`)."""
    token = bearer_token(request)
    return store_of(request).verify(token) if token is not None else None


MaybeAnyone = Annotated[Principal | None, Depends(maybe_authenticate)]


#: A `center_id` asked for that no center can have (contract §1: 6 or 9 digits).
NOT_A_CENTER: Final = "服务中心编码（center_id）应为 6 位或 9 位数字"


def require_center(principal: Principal, center_id: str, *, act: bool = False) -> None:
    """422 for what is not a center's code; 403 unless the principal may see (or, with
    `act`, act on) `center_id`."""
    if not is_valid_code(center_id):
        raise HTTPException(422, NOT_A_CENTER)
    allowed = principal.may_act(center_id) if act else principal.may_see(center_id)
    if not allowed:
        raise HTTPException(403, "此中心不在您的职责范围内")


def scope_filter(principal: Principal) -> Callable[[str], bool]:
    """A predicate on center ids: those the principal may see (for lists and the hub)."""
    if principal.role is Role.inspector:
        return lambda _center_id: True
    if principal.role is Role.director:
        return principal.may_see
    return lambda _center_id: False


def origin_allowed(origin: str | None, host: str | None, allowed: Iterable[str]) -> bool:
    """May a page of `origin` open the socket? No Origin (not a browser): yes; the
    service's own origin (same host and port as the Host header, any scheme, so a TLS
    proxy in front changes nothing): yes; one of `allowed`: yes; else (`null` too) no."""
    if origin is None:
        return True
    normalised = origin.strip().rstrip("/").lower()
    if normalised in {entry.strip().rstrip("/").lower() for entry in allowed}:
        return True
    if not host:
        return False
    try:
        page = urlsplit(normalised)
        own = urlsplit(f"//{host.strip().lower()}")
        explicit, own_port = page.port, own.port
    except ValueError:  # a port that is not a number
        return False
    if page.scheme not in _DEFAULT_PORTS or not page.hostname or page.hostname != own.hostname:
        return False
    if own_port is None:  # a Host without a port names the default port of the scheme
        return explicit is None or explicit == _DEFAULT_PORTS[page.scheme]
    return (explicit or _DEFAULT_PORTS[page.scheme]) == own_port


async def check_websocket(
    websocket: WebSocket,
    store: TokenStore,
    allowed_origins: Iterable[str],
    roles: Iterable[Role | str] = WALL_ROLES,
    *,
    accept_first: bool = False,
) -> Principal | None:
    """The principal of a WebSocket handshake, or None after closing it.

    Refused: a foreign Origin or a role not in `roles` (4403), no or an invalid token
    (4401). Closed before `accept()` by default, as refusing a handshake should be; note
    that uvicorn then answers the handshake with HTTP 403, so a browser sees only a
    failed connection (close code 1006), not 4401/4403. `accept_first=True` accepts and
    closes at once with the code, for a page that must tell "token refused" (stop
    retrying) from "network down" (retry); nothing is sent before the close either way.
    On success the socket is not yet accepted: the caller accepts it.
    """
    allowed = _roles(roles)
    origin = websocket.headers.get("origin")
    code: int | None = None
    principal: Principal | None = None
    if not origin_allowed(origin, websocket.headers.get("host"), allowed_origins):
        log.info("WebSocket refused: Origin %r is not allowed", origin)
        code = CLOSE_FORBIDDEN
    else:
        token = bearer_token(websocket)
        principal = store.verify(token) if token is not None else None
        if token is None:  # a signed-in page: its cookie (the Origin is checked above)
            with suppress(HTTPException):
                principal = _session_principal(websocket, store)
        if principal is None:
            token_id = token_id_of(token) if token is not None else None
            shown = f"{PREFIX}{token_id}" if token_id else "no well-formed token"
            log.info("WebSocket refused: %s", shown)
            code = CLOSE_UNAUTHORIZED
        elif principal.role not in allowed:
            log.info("WebSocket refused: %s, role not admitted", principal.label)
            code = CLOSE_FORBIDDEN
    if code is None:
        return principal
    if accept_first:
        await websocket.accept()
    await websocket.close(code=code)
    return None


class Authenticator:
    """The same checks bound to one store, for an app that keeps it in a closure."""

    def __init__(self, store: TokenStore) -> None:
        self.store = store

    async def __call__(self, request: Request) -> Principal:
        """Dependency: the caller, whatever the role; 401 without a valid token."""
        return _verify(request, self.store)

    def requiring(self, *roles: Role | str) -> Dependency:
        """Dependency: the caller, if their role is one of `roles` (else 403)."""
        allowed = _roles(roles)

        async def dependency(request: Request) -> Principal:
            return _check_role(_verify(request, self.store), allowed)

        return dependency

    async def websocket(
        self,
        websocket: WebSocket,
        allowed_origins: Iterable[str],
        *roles: Role | str,
        accept_first: bool = False,
    ) -> Principal | None:
        """`check_websocket` with this store; `roles` default to inspector and director."""
        return await check_websocket(
            websocket, self.store, allowed_origins, roles or WALL_ROLES, accept_first=accept_first
        )


# -- HTTP hardening: response headers, request body size -----------------------------------

#: The largest request body read, in bytes. The API's bodies are small (a note or a
#: reason of at most 2,000 characters, a silence): 64 KiB is far above any of them, and
#: keeps a client from making the service buffer megabytes before a handler refuses them.
MAX_BODY_BYTES: Final = 64 * 1024

#: Headers every HTTP response carries, whatever produced it (a route, a 404, a 413, the
#: wall's files). DENY and frame-ancestors 'none': no page may frame the wall or the API
#: (clickjacking); nosniff: a JSON answer is never run as a script; no-referrer: the
#: wall's URL holds its token and must not leave in a Referer header.
FIXED_HEADERS: Final = (
    ("x-frame-options", "DENY"),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
)

#: The wall's policy: its own script and stylesheet only (it has no inline script, no
#: inline style attribute, no `eval`), the `data:` favicon, and requests to its own
#: origin; nothing may frame it, and no form or `<base>` may send it elsewhere.
BASE_POLICY: Final = (
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "font-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
)
#: A Host header fit to name in a policy: a DNS name or IPv4 address, or a bracketed
#: IPv6 address, with an optional port. Anything else is left out of the policy.
_HOST = re.compile(r"^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$")


def content_security_policy(host: str | None) -> str:
    """The wall's Content-Security-Policy for a request to `host` (its Host header).

    `connect-src 'self'` covers the page's `fetch` calls; the WebSocket (`ws:`/`wss:` to
    the same host) is named explicitly as well, because browsers older than CSP level 3
    do not count a WebSocket to the page's own host as 'self'.
    """
    sources = ["'self'"]
    if host and _HOST.match(host):
        sources += [f"ws://{host}", f"wss://{host}"]
    return "; ".join((*BASE_POLICY, "connect-src " + " ".join(sources)))


class SecurityHeaders:
    """ASGI middleware: adds `FIXED_HEADERS` and a Content-Security-Policy to every HTTP
    response. A response that sets its own policy (the API documentation pages, which
    load Swagger UI or ReDoc) keeps it; the other headers are always set."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        policy = content_security_policy(Headers(scope=scope).get("host"))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in FIXED_HEADERS:
                    headers[name] = value
                if "content-security-policy" not in headers:
                    headers["content-security-policy"] = policy
            await send(message)

        await self.app(scope, receive, send_with_headers)


#: What a request with a NUL character is told (422).
HAS_NUL: Final = "请求中含有空字符（NUL），无法处理"
#: A NUL in a query string or a path, encoded (%00) or not.
_NUL_IN_URL: Final = re.compile(rb"%00|\x00")
#: A NUL in a JSON body: the escape \u0000 (after an even run of backslashes, so not a
#: backslash written out and followed by "u0000"), or the byte itself.
_NUL_IN_JSON: Final = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000|\x00")


class BodyLimit:
    """ASGI middleware: refuses a request body over `limit` bytes with 413, and a NUL in
    the path, the query or the body with 422 (`HAS_NUL`).

    A declared `Content-Length` over the limit is refused before anything is read. A body
    without one (chunked) is read here, up to the limit, before the app runs: one more
    byte and the answer is 413, so the app never sees part of a body. The body read is
    then handed to the app as one message; later `receive()` calls (a disconnect) go to
    the server as usual. WebSocket and lifespan scopes pass through (uvicorn bounds a
    WebSocket message: `server.py`).
    """

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        if declared is not None:
            if not declared.strip().isdigit():
                await _refuse(send, 400, "Content-Length is not a number")
                return
            if int(declared) > self.limit:
                await _refuse(send, 413, self._too_large())
                return
        chunks: list[bytes] = []
        size = 0
        first: Message | None = None
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client left: let the app see it
                first = message
                break
            body: bytes = message.get("body", b"")
            size += len(body)
            if size > self.limit:
                await _refuse(send, 413, self._too_large())
                return
            chunks.append(body)
            if not message.get("more_body", False):
                break
        whole = b"".join(chunks)
        path = scope.get("raw_path") or scope.get("path", "").encode("utf-8", "replace")
        if (
            _NUL_IN_URL.search(path)
            or _NUL_IN_URL.search(scope.get("query_string", b""))
            or _NUL_IN_JSON.search(whole)
        ):  # after the size: a body too large is a 413 whatever it holds
            await _refuse(send, 422, HAS_NUL)
            return
        if first is None:
            first = {"type": "http.request", "body": whole, "more_body": False}
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                assert first is not None
                return first
            return await receive()

        await self.app(scope, replay, send)

    def _too_large(self) -> str:
        return f"request body too large: at most {self.limit} bytes"


async def _refuse(send: Send, status: int, detail: str) -> None:
    """Answer a request the app never sees, in the API's error shape."""
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body, "more_body": False})
