"""The web service's composition root: `create_app()` builds the services and wires the
lifespan, the middlewares, the error answers and the routers.

Nothing is created at import time: every call builds its own `Services` (database
engine, hub, metrics against the given registry, Kafka feed), so tests make as many
isolated apps as they like and the process entry point (`server.run`) makes exactly one.
Every list, detail and figure is read from the read model (supervisor/store/,
docs/history.md); the WebSocket from the hub.

Routes, one module per concern under supervisor/web/routes/; every one but `/healthz`
and the pages' files needs a token (`Authorization: Bearer …`, `?token=` or a desk's
session cookie; see supervisor/auth.py and security.py), and a director only ever sees
the centers of their scope (their center and those below it):

- `pages`: `/` redirects to the wall; `/wall/`, `/console/`; `/docs`, `/redoc`,
  `/openapi.json` with `settings.api_docs`.
- `alerts`: `GET /api/alerts` (filtered, paged), `GET /api/export/alerts` (CSV, XLSX),
  `GET /api/alerts/{id}` with its history, `POST /api/alerts/{id}/acknowledge|resolve|
  appeal|appeal/accept|appeal/reject` (the lifecycle, supervisor/lifecycle.py).
- `cases`: `GET /api/cases/{case_id}`: one case, its masked timeline and its alerts.
- `silences`: `POST|GET /api/silences`, `GET /api/silences/{id}`, `POST
  /api/silences/{id}/lift` (inspectors only).
- `stats`: `GET /api/stats/headline`, `/api/board`, `/api/stats/centers`,
  `/api/stats/figures?by=`, `/api/export/centers`, `/api/assessment` and
  `/api/assessment/trend` (绩效考核).
- `reports`: `GET /api/assessment/export` (XLSX, PDF) and `GET /api/report` (the monthly
  report, 月度电子监察通报, as a PDF).
- `ops`: `GET /api/centers`, `/api/me`, `/healthz` (open), `/metrics` (ops only).
- `socket`: `WS /ws/alerts?after=SEQ[&batch=1]`.
- `session`, `orders`, `rules`: signing in at a desk, supervision orders and work
  queues, the rules in force.

Every date and time a client gives is checked to lie in the years of bounds.py (422
otherwise). Request bodies are bounded and every response carries security headers
(security.py); a validation error says where and what, without echoing the value sent
(errors.py). Every handler is `async def` so it runs on the event loop that owns the hub.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from datetime import datetime

from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from supervisor.auth import TokenStore
from supervisor.settings import Settings
from supervisor.store.db import Database
from supervisor.web import errors
from supervisor.web.routes import (
    alerts,
    cases,
    ops,
    orders,
    pages,
    reports,
    rules,
    session,
    silences,
    socket,
    stats,
)
from supervisor.web.security import BodyLimit, SecurityHeaders
from supervisor.web.services import STATE_ATTRIBUTE, Services


def create_app(
    settings: Settings,
    *,
    registry: CollectorRegistry | None = None,
    start_consumer: bool = True,
    center_names: Mapping[str, str] | None = None,
    tokens: TokenStore | None = None,
    clock: Callable[[], datetime] | None = None,
    database: Database | None = None,
) -> FastAPI:
    """Build the web service.

    `registry` receives the metrics (a fresh one when None); `start_consumer=False`
    leaves Kafka out (tests write records with `app.state.writer`, applied at once to
    the read model and the hub); `center_names` overrides the center registry; `tokens`
    the token store (default: settings.tokens_file); `database` the read model (default:
    `settings.database`, or without Kafka an in-memory SQLite). The routes use
    `app.state.services`; its parts are on `app.state` by name too (`hub`, `metrics`,
    `feed`, `writer`, `read_model`...), for tests and tools.
    """
    services = Services.build(
        settings,
        registry=registry,
        start_consumer=start_consumer,
        center_names=center_names,
        tokens=tokens,
        clock=clock,
        database=database,
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with services.running():
            yield

    # The documentation routes are added below, behind a token, or not at all.
    app = FastAPI(
        title="政务服务电子监察 实时预警",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.add_middleware(BodyLimit)
    app.add_middleware(SecurityHeaders)  # outermost: on the 413s of BodyLimit too
    errors.install(app)
    _keep_on_state(app, services)
    # The order is the API documentation's; paths that overlap (one alert and its
    # steps, `{alert_id:path}`) are all in routes/alerts.py, which says how they resolve.
    for module in (session, orders, rules, pages, alerts, silences, stats, reports, cases, ops):
        app.include_router(module.router)
    if settings.api_docs:
        app.include_router(pages.docs_router)
    app.include_router(socket.router)
    pages.mount_static(app)
    return app


def _keep_on_state(app: FastAPI, services: Services) -> None:
    """`app.state.services`, and its parts under the names security.py (`tokens`,
    `sessions`, `settings`), the tests and the tools read."""
    setattr(app.state, STATE_ATTRIBUTE, services)
    state = app.state
    state.settings = services.settings
    state.hub = services.hub
    state.metrics = services.metrics
    state.feed = services.feed if services.consuming else None
    state.tokens = services.tokens
    state.writer = services.writer
    state.read_model = services.read
    state.read_state = services.read_state
    state.projection = services.projection
    state.alert_feed = services.feed  # the Kafka feed's per-record logic, with or without Kafka
    state.database = services.database
    state.sessions = services.sessions
    state.order_desk = services.order_desk
    state.order_watch = services.order_watch
    state.rule_sheet = services.rule_sheet
    state.clock = services.clock
