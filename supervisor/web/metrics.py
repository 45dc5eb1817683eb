"""The web service's Prometheus metrics, all in one place.

Created against an injected `CollectorRegistry` (never the global default one), so that
every `create_app()` and every test gets its own fresh set: two apps in one process do
not collide, and a test reads exactly what its own app counted. Names follow
`supervisor_web_<what>_<unit>`; counters get their `_total` suffix from the client.
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from supervisor.lifecycle import ACTIONS

#: Buckets for the delay from the alert's production to its push to the sockets: live
#: pushes take milliseconds; the upper buckets show a lagging consumer.
PUSH_DELAY_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)
SEVERITIES: Final = ("yellow", "red")


class WebMetrics:
    """The metrics of one web service instance."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.websocket_clients = Gauge(
            "supervisor_web_websocket_clients",
            "WebSocket clients (wall screens) connected now.",
            registry=registry,
        )
        self.websocket_messages_dropped = Counter(
            "supervisor_web_websocket_messages_dropped",
            "Messages queued for a WebSocket client and never sent, because the client "
            "was disconnected as too slow (it resumes from its last seq when it reconnects).",
            registry=registry,
        )
        self.websocket_slow_disconnects = Counter(
            "supervisor_web_websocket_slow_disconnects",
            "WebSocket clients disconnected because their send queue was full.",
            registry=registry,
        )
        self.alerts_received = Counter(
            "supervisor_web_alerts_received",
            "Valid alert messages read from the alerts topic, repeats included "
            "(a restart reads again what the read model had not stored).",
            ["rule_id", "severity"],
            registry=registry,
        )
        self.alert_resolutions = Counter(
            "supervisor_web_alert_resolutions",
            "Valid resolutions (alerts a late event proved wrong) read from the alerts "
            "topic, repeats included.",
            ["rule_id"],
            registry=registry,
        )
        self.alerts_malformed = Counter(
            "supervisor_web_alerts_malformed",
            "Messages on the alerts topic that were not a valid alert or resolution and "
            "were skipped.",
            registry=registry,
        )
        self.dlq_messages = Counter(
            "supervisor_web_dlq_messages",
            "Rejected case events seen on the dead-letter topic since this process started.",
            registry=registry,
        )
        self.alert_push_delay = Histogram(
            "supervisor_web_alert_push_delay_seconds",
            "Seconds from the alert's Kafka timestamp (else its raised_at) to its push to "
            "the WebSocket queues; live alerts only, not the backlog read at start.",
            buckets=PUSH_DELAY_BUCKETS,
            registry=registry,
        )
        self.lifecycle_changes = Counter(
            "supervisor_web_lifecycle_changes",
            "Lifecycle changes made through the API and read back from the journal, by "
            "action (acknowledge, resolve, appeal, accept_appeal, reject_appeal).",
            ["action"],
            registry=registry,
        )
        for action in ACTIONS:  # at 0 from the start, so a rate() sees the first change
            self.lifecycle_changes.labels(action)
        self.projected = Counter(
            "supervisor_web_projected_records",
            "Records read into the read model, by topic (alerts, facts, events) and "
            "result: written, skipped (written before: a re-read, or another web service "
            "sharing the database), malformed (unreadable, skipped) or invalid (a case "
            "event that is not a contract event: the worker dead-letters it).",
            ["topic", "result"],
            registry=registry,
        )
        self.projection_batch_seconds = Histogram(
            "supervisor_web_projection_batch_seconds",
            "Seconds one batch of records took to be written to the read model, with its "
            "offsets, in one transaction.",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
            registry=registry,
        )
        self.database_up = Gauge(
            "supervisor_web_database_up",
            "1 when the read model's database answered its last use, else 0 (the "
            "projection waits and resumes where it stopped).",
            registry=registry,
        )
        self.kafka_connected = Gauge(
            "supervisor_web_kafka_connected",
            "1 when the alerts consumer reaches the Kafka cluster, else 0.",
            registry=registry,
        )

    def watch(
        self, open_alerts: Callable[[], Iterable[Mapping[str, int]]], open_cases: Callable[[], int]
    ) -> None:
        """Export the open alerts by severity and the open cases, read at each scrape
        from the service's own state (so they are never stale, and cost nothing between
        scrapes). `open_alerts` yields the open alerts by severity of each center."""
        self.registry.register(_StateCollector(open_alerts, open_cases))


class _StateCollector(Collector):
    def __init__(
        self, open_alerts: Callable[[], Iterable[Mapping[str, int]]], open_cases: Callable[[], int]
    ) -> None:
        self._open_alerts = open_alerts
        self._open_cases = open_cases

    def collect(self) -> Iterator[Metric]:
        tally: Tally[str] = Tally()
        for counts in self._open_alerts():
            tally.update(counts)
        alerts = GaugeMetricFamily(
            "supervisor_web_open_alerts",
            "Alerts in the read model that are open, acknowledged or appealed (not "
            "resolved, withdrawn, closed nor superseded), by severity.",
            labels=["severity"],
        )
        for severity in SEVERITIES:
            alerts.add_metric([severity], tally.get(severity, 0))
        yield alerts
        yield GaugeMetricFamily(
            "supervisor_web_open_cases",
            "Cases accepted and not concluded nor withdrawn, in the read model.",
            value=self._open_cases(),
        )
