"""The web service's composition root: `create_app()` wires hub, metrics, feed and routes.

Nothing is created at import time: every call builds its own hub, metrics (against the
given registry) and Kafka feed, so tests make as many isolated apps as they like and
the process entry point (`server.run`) makes exactly one.

Routes:

- `/` redirects to the wall page, served from the repository's `dashboards/wall/`.
- `GET /api/alerts?limit=&severity=&center_id=&status=open|resolved`: recent alerts,
  newest first; a resolved one carries `"resolution": {...}`.
- `WS /ws/alerts`: `{"type": "snapshot", "alerts": [...]}` on connect (resolved alerts
  with their resolution), then `{"type": "alert", "alert": {...}}` per new alert and
  `{"type": "resolved", "resolution": {...}}` per new resolution (see hub.py for slow
  clients and for resolutions).
- `GET /api/centers`: center code -> name, for the page.
- `GET /healthz`: always 200 while the process serves; `status` is "degraded" when the
  Kafka consumer cannot reach the cluster (restarting the web would not help that).
- `GET /metrics`: Prometheus text format from the injected registry.

Every handler is `async def` so it runs on the event loop that owns the hub.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Annotated, Any, Final, Literal

import anyio
from fastapi import FastAPI, Query, WebSocket, WebSocketDisconnect
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from supervisor.settings import Settings
from supervisor.web.consumer import AlertFeed
from supervisor.web.hub import Alert, AlertHub, Subscription, SubscriptionEnded, encode_snapshot
from supervisor.web.metrics import WebMetrics

log = logging.getLogger(__name__)

#: The wall page's files: part of the repository, not of the settings.
WALL_DIR: Final = Path(__file__).resolve().parents[2] / "dashboards" / "wall"

#: Close codes: 1013 "try again later" makes the page reconnect for a fresh snapshot;
#: 1001 "going away" at shutdown.
CLOSE_TOO_SLOW: Final = 1013
CLOSE_GOING_AWAY: Final = 1001


def load_center_names() -> dict[str, str]:
    """Center code -> name from `supervisor.centers`, or {} while that module is absent.

    Only the module's absence is tolerated (the page then shows codes); a registry that
    exists but fails to load is a bug and raises.
    """
    try:
        from supervisor.centers import CenterRegistry
    except ModuleNotFoundError as exc:
        if exc.name != "supervisor.centers":
            raise
        log.warning("supervisor.centers is not available; the wall shows center codes")
        return {}
    registry = CenterRegistry.load()
    return {center.code: center.name for center in registry.all()}


def create_app(
    settings: Settings,
    *,
    registry: CollectorRegistry | None = None,
    start_consumer: bool = True,
    center_names: Mapping[str, str] | None = None,
) -> FastAPI:
    """Build the web service.

    `registry` receives the metrics (a fresh one when None); `start_consumer=False`
    leaves Kafka out (tests feed `app.state.hub` directly); `center_names` overrides the
    center registry. The hub, metrics and feed are on `app.state` for tests and tools.
    """
    metrics = WebMetrics(registry if registry is not None else CollectorRegistry())
    hub = AlertHub(settings.wall_recent)
    feed = AlertFeed(settings, hub, metrics) if start_consumer else None
    names = dict(center_names) if center_names is not None else load_center_names()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        task = asyncio.create_task(feed.run(), name="alert-feed") if feed else None
        try:
            yield
        finally:
            hub.close()
            if task is not None:
                task.cancel()
                with suppress(asyncio.CancelledError):
                    await task

    app = FastAPI(title="政务服务电子监察 实时预警", lifespan=lifespan)
    app.state.settings = settings
    app.state.hub = hub
    app.state.metrics = metrics
    app.state.feed = feed

    @app.get("/", include_in_schema=False)
    async def index() -> RedirectResponse:
        # Relative, so the redirect still works behind a reverse proxy's path prefix.
        return RedirectResponse("wall/")

    @app.get("/api/alerts")
    async def list_alerts(
        limit: Annotated[int | None, Query(ge=1)] = None,
        severity: Literal["yellow", "red"] | None = None,
        center_id: str | None = None,
        status: Literal["open", "resolved"] | None = None,
    ) -> list[Alert]:
        """Recent alerts, newest first (by raised_at), filtered when asked; a resolved
        alert carries its resolution under "resolution"."""
        return hub.recent(limit=limit, severity=severity, center_id=center_id, status=status)

    @app.get("/api/centers")
    async def list_centers() -> dict[str, str]:
        """Center code -> name; the page falls back to the code for unknown centers."""
        return names

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        last = feed.last_message_at if feed else None
        connected = feed.connected if feed else False
        return {
            "status": "ok" if feed is None or connected else "degraded",
            "kafka_connected": connected,
            "consumer": "enabled" if feed else "disabled",
            "topics": feed.topic_states() if feed else {},
            "last_message_at": last.isoformat() if last else None,
            "recent_alerts": len(hub),
            "resolved_alerts": hub.resolved_count,
            "websocket_clients": hub.subscriber_count,
        }

    @app.get("/metrics", include_in_schema=False)
    async def prometheus_metrics() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.websocket("/ws/alerts")
    async def alerts_socket(websocket: WebSocket) -> None:
        await websocket.accept()
        # Subscribe and snapshot with no await between: nothing can fall in the gap.
        subscription = hub.subscribe()
        snapshot = encode_snapshot(hub.recent())
        metrics.websocket_clients.inc()
        try:
            await websocket.send_text(snapshot)
            ended = await _pump(websocket, subscription)
            if ended is not None:
                if ended.overflowed:
                    metrics.websocket_slow_disconnects.inc()
                    log.info("closing a WebSocket client that fell too far behind")
                code = CLOSE_TOO_SLOW if ended.overflowed else CLOSE_GOING_AWAY
                with suppress(RuntimeError, WebSocketDisconnect):
                    await websocket.close(code=code, reason=ended.reason)
        except WebSocketDisconnect:
            pass
        finally:
            hub.unsubscribe(subscription)
            metrics.websocket_clients.dec()

    app.mount("/wall", StaticFiles(directory=WALL_DIR, html=True), name="wall")
    return app


async def _pump(websocket: WebSocket, subscription: Subscription) -> SubscriptionEnded | None:
    """Send the subscription's messages until the client leaves (None) or it ends.

    Listens for the client's close at the same time: a wall that receives no alerts for
    hours must still be noticed when it goes away, not at the next send. An anyio task
    group (not bare asyncio tasks) so that cancellation by the server, which Starlette
    drives through anyio cancel scopes, is recognised and not mistaken for an error.
    """
    ended: SubscriptionEnded | None = None
    async with anyio.create_task_group() as group:

        async def listen() -> None:
            await _until_disconnect(websocket)
            group.cancel_scope.cancel()

        async def send() -> None:
            nonlocal ended
            try:
                await _send_all(websocket, subscription)
            except SubscriptionEnded as exc:
                ended = exc
            except WebSocketDisconnect:
                pass
            group.cancel_scope.cancel()

        group.start_soon(listen)
        group.start_soon(send)
    return ended


async def _send_all(websocket: WebSocket, subscription: Subscription) -> None:
    while True:
        await websocket.send_text(await subscription.get())


async def _until_disconnect(websocket: WebSocket) -> None:
    """Read (and ignore) what the client sends until it disconnects."""
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
