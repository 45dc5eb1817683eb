"""The live wall: a FastAPI service that reads alerts from Kafka and pushes them to screens.

`app.create_app(settings)` is the one composition root; `server.run(settings)` serves it.
The modules: `hub` (recent alerts and broadcast, no I/O), `consumer` (Kafka -> hub),
`metrics` (Prometheus), `app` (HTTP and WebSocket routes).
"""

from supervisor.web.app import create_app

__all__ = ["create_app"]
