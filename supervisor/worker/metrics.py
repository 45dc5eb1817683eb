"""The worker's Prometheus metrics, created against an injected registry.

Served by the worker's own web port at /metrics (Prometheus scrapes the worker and the
web service; see docker-compose.yml and dashboards/prometheus.yml).
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# Event time to publication spans seconds (live) to days (a township's batch upload).
LATENCY_BUCKETS = (
    0.05,
    0.1,
    0.25,
    0.5,
    1,
    2.5,
    5,
    10,
    30,
    60,
    300,
    900,
    3600,
    4 * 3600,
    86400,
    7 * 86400,
    30 * 86400,
)
PROCESSING_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


@dataclass(frozen=True)
class WorkerMetrics:
    events_consumed: Counter
    events_rejected: Counter
    events_duplicate: Counter
    alerts_raised: Counter
    alert_latency: Histogram
    processing: Histogram
    open_timers: Gauge
    unconfirmed_years: Gauge
    rule_reloads: Counter
    rules_loaded: Gauge
    rules_reloaded_at: Gauge
    alerts_resolved: Counter
    centers_watched: Gauge
    facts: Counter

    @classmethod
    def create(cls, registry: CollectorRegistry) -> WorkerMetrics:
        return cls(
            events_consumed=Counter(
                "supervisor_worker_events_consumed",
                "Valid case events consumed, by type.",
                ["type"],
                registry=registry,
            ),
            events_rejected=Counter(
                "supervisor_worker_events_rejected",
                "Messages that were not valid case events (sent to the dead-letter topic).",
                registry=registry,
            ),
            events_duplicate=Counter(
                "supervisor_worker_events_duplicate",
                "Re-delivered events (an event_id already applied), ignored.",
                registry=registry,
            ),
            alerts_raised=Counter(
                "supervisor_worker_alerts_raised",
                "Alerts published, by rule and severity.",
                ["rule_id", "severity"],
                registry=registry,
            ),
            alert_latency=Histogram(
                "supervisor_worker_alert_latency_seconds",
                "From the event time at which an alert's condition became true (raised_at) "
                "to its publication on the alerts topic.",
                buckets=LATENCY_BUCKETS,
                registry=registry,
            ),
            processing=Histogram(
                "supervisor_worker_processing_seconds",
                "From a message's Kafka timestamp to the end of its processing.",
                buckets=PROCESSING_BUCKETS,
                registry=registry,
            ),
            open_timers=Gauge(
                "supervisor_worker_open_timers",
                "Cases of this worker's partitions with a pending deadline.",
                registry=registry,
            ),
            unconfirmed_years=Gauge(
                "supervisor_calendar_unconfirmed_year",
                "1 for each year used with no official holiday schedule (fallback calendar).",
                ["year"],
                registry=registry,
            ),
            rule_reloads=_with_labels(
                Counter(
                    "supervisor_rule_reloads",
                    "Changes of the rules directory seen by the worker: applied (the new rules "
                    "are in force) or refused (broken; the last good rules stay in force).",
                    ["result"],
                    registry=registry,
                ),
                "applied",
                "refused",
            ),
            rules_loaded=Gauge(
                "supervisor_rules_loaded",
                "Enabled rules in force.",
                registry=registry,
            ),
            rules_reloaded_at=Gauge(
                "supervisor_rules_last_reload_timestamp_seconds",
                "When the rules in force were loaded (at start or by the last applied reload), "
                "in Unix seconds.",
                registry=registry,
            ),
            alerts_resolved=Counter(
                "supervisor_worker_alerts_resolved",
                "Alerts a late event proved wrong, resolved with the reason, by rule.",
                ["rule_id"],
                registry=registry,
            ),
            centers_watched=Gauge(
                "supervisor_worker_centers_watched",
                "Registered centers watched for silence (center.silent) by this worker.",
                registry=registry,
            ),
            facts=_with_labels(
                Counter(
                    "supervisor_worker_facts",
                    "Case facts for the statistics (supervisor/worker/facts.py): published "
                    "(acknowledged by the broker) or failed (lost: a statistic is off).",
                    ["result"],
                    registry=registry,
                ),
                "published",
                "failed",
            ),
        )


def _with_labels(counter: Counter, *values: str) -> Counter:
    """Create the children of a one-label counter, so each is exported at 0 from the start
    (a rate over a series that appears only at its first increment misses that one)."""
    for value in values:
        counter.labels(value)
    return counter
