"""`WS /ws/alerts?after=SEQ[&batch=1]`: the journal live to a wall, in the caller's
scope (what it sends: supervisor/web/streaming.py)."""

from __future__ import annotations

from fastapi import APIRouter, WebSocket

from supervisor.web.security import bearer_token, check_websocket
from supervisor.web.services import Wired
from supervisor.web.sessions import COOKIE
from supervisor.web.streaming import position, stream_alerts

router = APIRouter()


@router.websocket("/ws/alerts")
async def alerts_socket(websocket: WebSocket, services: Wired) -> None:
    # Accepted, then closed with 4401/4403 when refused: a browser sees the code and
    # the wall stops retrying a revoked token instead of looping on "network down".
    who = await check_websocket(
        websocket,
        services.tokens,
        services.settings.web_origins,
        ("inspector", "director"),
        accept_first=True,
    )
    if who is None:
        return
    await websocket.accept()
    token = bearer_token(websocket)
    cookie = websocket.cookies.get(COOKIE, "")

    def still_valid() -> bool:
        """The token, or the signed-in session and its token, still good."""
        if token is not None:
            return services.tokens.verify(token) is not None
        session = services.sessions.read(cookie)
        return session is not None and services.tokens.principal(session.token_id) is not None

    await stream_alerts(
        services,
        websocket,
        who,
        after=position(websocket.query_params.get("after")),
        batch=websocket.query_params.get("batch") == "1",
        still_valid=still_valid,
    )
