"""What tools and the pages ask about the service itself: its health (open to all), its
Prometheus metrics (ops only), who a token is, and the centers' names in scope."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from supervisor.web.health import health
from supervisor.web.security import AnyRole, MaybeAnyone, Ops, Viewer
from supervisor.web.services import Wired

router = APIRouter()


@router.get("/api/centers")
async def list_centers(who: Viewer, services: Wired) -> dict[str, str]:
    """Center code -> name, in the caller's scope."""
    return {code: name for code, name in services.names.items() if who.may_see(code)}


@router.get("/api/me")
async def me(who: AnyRole) -> dict[str, Any]:
    """Who the token belongs to: the wall shows it and narrows its board."""
    return {"name": who.name, "role": who.role, "center": who.center}


@router.get("/healthz")
async def healthz(who: MaybeAnyone, services: Wired) -> dict[str, Any]:
    """A readiness probe, open to all: `{"status": "ok" | "degraded"}` (degraded: the
    Kafka consumer cannot reach the cluster, or the read model's database does not
    answer; the wall shows it). With a valid token, of any role, also the consumer's
    state, the database, positions and counts; an anonymous caller learns nothing
    about the deployment beyond up or down."""
    return health(services, who)


@router.get("/metrics", include_in_schema=False)
async def prometheus_metrics(who: Ops, services: Wired) -> Response:
    """Prometheus's scrape: the ops role only (the figures are city-wide: open alerts,
    walls, rules; a director's token must not read them)."""
    return Response(generate_latest(services.metrics.registry), media_type=CONTENT_TYPE_LATEST)
