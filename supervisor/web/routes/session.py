"""Signing in and out at a desk (supervisor/web/sessions.py says why and how)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from supervisor.auth import Principal, Role
from supervisor.web.security import AnyRole, origin_allowed
from supervisor.web.services import Wired
from supervisor.web.sessions import COOKIE, Session

router = APIRouter(tags=["session"])

#: Who may sign in at a desk: the people who act (ops tokens are for machines).
DESK_ROLES = frozenset({Role.inspector, Role.director})


class SignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: str = Field(min_length=1, max_length=200)


def described(who: Principal, session: Session | None) -> dict[str, Any]:
    """Who is signed in, and the CSRF value the page sends back with each change."""
    shown: dict[str, Any] = {"name": who.name, "role": who.role, "center": who.center}
    if session is not None:
        shown["csrf"] = session.csrf
    return shown


@router.post("/api/session")
async def sign_in(
    body: SignIn, request: Request, response: Response, services: Wired
) -> dict[str, Any]:
    """登录: an access token (inspector or director) exchanged for a session cookie. Only
    from the service's own pages (or SUPERVISOR_WEB_ORIGINS): another site must not sign
    a browser in under someone else's name."""
    origins = services.settings.web_origins
    if not origin_allowed(request.headers.get("origin"), request.headers.get("host"), origins):
        raise HTTPException(403, "拒绝跨站请求")
    who = services.tokens.verify(body.token.strip())
    if who is None:
        raise HTTPException(401, "令牌无效、已过期或已吊销")
    if who.role not in DESK_ROLES:
        raise HTTPException(403, "此令牌不能登录工作台")
    sessions = services.sessions
    value, session = sessions.open(who.id)
    response.set_cookie(
        COOKIE,
        value,
        max_age=sessions.max_age,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    return described(who, session)


@router.get("/api/session")
async def current(who: AnyRole, request: Request) -> dict[str, Any]:
    """Who is signed in (with the CSRF value when by the session cookie)."""
    return described(who, getattr(request.state, "session", None))


@router.delete("/api/session", status_code=204)
async def sign_out(who: AnyRole, response: Response) -> Response:
    """退出: the cookie is deleted (a change like any other: the CSRF value is needed)."""
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
    response.status_code = 204
    return response
