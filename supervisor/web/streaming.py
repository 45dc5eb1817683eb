"""The alert socket's stream: what a wall gets first (exactly what it missed, or a
snapshot), then the journal's messages live, until it leaves, falls too far behind or
its token is revoked.

Messages: `{"type": "snapshot", "seq", "alerts"}` on connect, or, when the client says
the last position it has (`?after=`), exactly the messages it missed; then
`{"type": "alert"|"change", "seq", "alert"}` live (see hub.py for slow clients). With
`batch=1` (the wall asks for it), messages that queued up while the previous frame was
being sent come as one frame `{"type": "batch", "messages": [...]}`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from contextlib import suppress
from typing import Final

import anyio
from fastapi import WebSocket, WebSocketDisconnect

from supervisor.auth import Principal
from supervisor.web.hub import Subscription, SubscriptionEnded
from supervisor.web.security import CLOSE_UNAUTHORIZED
from supervisor.web.services import Services

log = logging.getLogger(__name__)

#: Close codes: 1013 "try again later" makes the page reconnect for a fresh snapshot;
#: 1001 "going away" at shutdown.
CLOSE_TOO_SLOW: Final = 1013
CLOSE_GOING_AWAY: Final = 1001
#: Seconds a new socket waits at most for the journal to be read to its end at start.
CATCH_UP_TIMEOUT: Final = 30.0
#: Seconds between two looks at an open socket's token (revoked: closed with 4401).
TOKEN_RECHECK_SECONDS: Final = 5.0
REVOKED: Final = "token revoked"
#: Messages in one batch frame at most (`?batch=1`); a full client queue is 256.
BATCH_MAX: Final = 256


def position(raw: str | None) -> int | None:
    """The client's `?after=` position, None when absent or not a number."""
    try:
        return int(raw) if raw is not None else None
    except ValueError:
        return None


async def stream_alerts(
    services: Services,
    websocket: WebSocket,
    who: Principal,
    *,
    after: int | None,
    batch: bool,
    still_valid: Callable[[], bool],
) -> None:
    """Serve an accepted socket: wait (a little) for the journal after a restart, send
    what the client needs first, then its subscription, and close with the code that
    tells the page what to do (4401 revoked, 1013 too slow, 1001 going away)."""
    hub, metrics = services.hub, services.metrics
    # after a restart, first the read model, then the journal read to its end
    await services.read_state.wait_ready(CATCH_UP_TIMEOUT)
    if services.consuming:
        with suppress(TimeoutError):
            await asyncio.wait_for(services.feed.caught_up.wait(), CATCH_UP_TIMEOUT)
    # Subscribe and take what to send first with no await between: nothing can fall
    # in the gap. A client that says where it was gets exactly what it missed; one
    # ahead of this journal (the topic was recreated) gets a snapshot.
    subscription = hub.subscribe(who.may_see)
    known = after is not None and after <= hub.head
    missed = hub.missed(after, who.may_see) if known and after is not None else None
    first = missed if missed is not None else [hub.snapshot(who.may_see)]
    metrics.websocket_clients.inc()
    try:
        for text in first:
            await websocket.send_text(text)
        ended = await pump(websocket, subscription, still_valid, batch=batch)
        if ended is not None and ended.reason == REVOKED:
            with suppress(RuntimeError, WebSocketDisconnect):
                await websocket.close(code=CLOSE_UNAUTHORIZED, reason=REVOKED)
        elif ended is not None:
            if ended.overflowed:
                metrics.websocket_slow_disconnects.inc()
                metrics.websocket_messages_dropped.inc(subscription.pending + 1)
                log.info("closing a WebSocket client that fell too far behind")
            code = CLOSE_TOO_SLOW if ended.overflowed else CLOSE_GOING_AWAY
            with suppress(RuntimeError, WebSocketDisconnect):
                await websocket.close(code=code, reason=ended.reason)
    except WebSocketDisconnect:
        pass
    finally:
        hub.unsubscribe(subscription)
        metrics.websocket_clients.dec()


async def pump(
    websocket: WebSocket,
    subscription: Subscription,
    still_valid: Callable[[], bool],
    batch: bool = False,
) -> SubscriptionEnded | None:
    """Send the subscription's messages until the client leaves (None) or it ends.

    Listens for the client's close at the same time: a wall that receives no alerts for
    hours must still be noticed when it goes away, not at the next send. Looks at the
    token every few seconds too: a revoked token's open socket is closed (4401) instead
    of receiving alerts until it next reconnects. An anyio task group (not bare asyncio
    tasks) so that cancellation by the server, which Starlette drives through anyio
    cancel scopes, is recognised and not mistaken for an error.
    """
    ended: SubscriptionEnded | None = None
    async with anyio.create_task_group() as group:

        async def listen() -> None:
            await _until_disconnect(websocket)
            group.cancel_scope.cancel()

        async def send() -> None:
            nonlocal ended
            try:
                await _send_all(websocket, subscription, batch)
            except SubscriptionEnded as exc:
                ended = exc
            except WebSocketDisconnect:
                pass
            group.cancel_scope.cancel()

        async def watch_token() -> None:
            nonlocal ended
            while still_valid():
                await anyio.sleep(TOKEN_RECHECK_SECONDS)
            ended = SubscriptionEnded(REVOKED, overflowed=False)
            group.cancel_scope.cancel()

        group.start_soon(listen)
        group.start_soon(send)
        group.start_soon(watch_token)
    return ended


async def _send_all(websocket: WebSocket, subscription: Subscription, batch: bool) -> None:
    if not batch:
        while True:
            await websocket.send_text(await subscription.get())
    while True:  # what queued up while the last frame went out, in one frame
        texts = await subscription.get_many(BATCH_MAX)
        if len(texts) == 1:
            await websocket.send_text(texts[0])
        else:  # the messages are JSON already: joined, not parsed and encoded again
            await websocket.send_text('{"type":"batch","messages":[' + ",".join(texts) + "]}")


async def _until_disconnect(websocket: WebSocket) -> None:
    """Read (and ignore) what the client sends until it disconnects."""
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
