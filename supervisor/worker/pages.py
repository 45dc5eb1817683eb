"""The worker's own web pages, for Prometheus and for an orchestrator's probes."""

from __future__ import annotations

from collections.abc import Sized
from typing import Any, cast

import faust
from faust.web import Request, Response, View
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest


def install(app: faust.App, registry: CollectorRegistry, timers: Sized) -> None:
    """`/metrics` (the registry) and `/healthz` (ready or not; `timers`: the due index,
    whose size it reports) on the app's web server."""

    @app.page("/metrics")
    async def metrics_page(self: View, request: Request) -> Response:
        # aiohttp refuses a charset inside content_type=, so the header is set whole.
        return self.bytes(generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    @app.page("/healthz")
    async def health_page(self: View, request: Request) -> Response:
        """200 once the worker owns partitions with their case state recovered and is
        not rebalancing; 503 while it starts or rebalances (a readiness probe)."""
        recovered = cast(Any, app.tables).recovery.completed.is_set()  # TableManager
        ready = recovered and not app.rebalancing
        body = {
            "status": "ok" if ready else "starting",
            "recovered": recovered,
            "rebalancing": bool(app.rebalancing),
            "open_timers": len(timers),
        }
        return self.json(body, status=200 if ready else 503)
