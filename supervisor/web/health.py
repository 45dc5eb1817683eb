"""The service's health as `/healthz` reports it: up or degraded for everyone, and the
feed's, the database's and the walls' details for a caller with a valid token."""

from __future__ import annotations

from typing import Any

from supervisor.auth import Principal
from supervisor.web.services import Services


def health(services: Services, who: Principal | None) -> dict[str, Any]:
    """`{"status": "ok" | "degraded"}` (degraded: the Kafka consumer cannot reach the
    cluster, or the read model's database does not answer); with `who`, the details."""
    feed, state, hub = services.feed, services.read_state, services.hub
    consuming = services.consuming
    last = feed.last_message_at if consuming else None
    connected = feed.connected if consuming else False
    database_ok = state.ready.is_set() and state.database_ok and feed.database_ok
    healthy = (not consuming or connected) and database_ok
    status = "ok" if healthy else "degraded"
    if who is None:
        return {"status": status}
    return {
        "status": status,
        "kafka_connected": connected,
        "consumer": "enabled" if consuming else "disabled",
        "topics": feed.topic_states() if consuming else {},
        "last_message_at": last.isoformat() if last else None,
        "database": {
            "backend": services.database.dialect,
            "ready": state.ready.is_set(),
            "answers": state.database_ok and feed.database_ok,
        },
        "journal_position": hub.head,
        "alerts": len(hub),
        "resolved_alerts": hub.resolved_count,
        "websocket_clients": hub.subscriber_count,
    }
