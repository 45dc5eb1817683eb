"""The worker's Prometheus metrics, created against an injected registry.

Served by the worker's own web port at /metrics (Prometheus scrapes the worker and the
web service; see docker-compose.yml and dashboards/prometheus/prometheus.yml).
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from supervisor.core.events import EventType

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
# A deadline alert is due within a tick (1 s by default); minutes mean a backlog or a stall.
LATENESS_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600)
# Kafka ingest to alert: milliseconds live, seconds to minutes when the worker is behind.
INGEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)

#: Why a message went to the dead-letter topic: a bounded label set (the full reason is
#: in the message's `reason` header and the log).
REJECTION_REASONS = ("malformed", "invalid", "future", "engine_error")
#: The center_id label of alerts from centers missing from the registry: any 6 or 9
#: digits pass the schema, so a typo in one center's software must not create series.
UNREGISTERED_CENTER = "other"


def rejection_reason(reason: str) -> str:
    """The label of a dead-letter reason: `malformed` (not UTF-8, not JSON, nested too
    deeply, not an object), `future` (occurred_at ahead of the worker's clock: the worker
    knows it from the pipeline's flag; this reads the reason it writes), `engine_error` (a
    bug: the event is valid), else `invalid`: JSON that breaks the event schema or a bound
    of it (over 64 KiB, a number beyond 64 bits, a lone surrogate), an event whose case
    state would pass its bound, or one whose times the engine cannot place ("cannot apply
    this event", as replay says; worker/refusals.py)."""
    if reason.startswith(("not UTF-8", "not JSON", "number ", "an event must be")):
        return "malformed"
    if reason.startswith("engine error"):
        return "engine_error"
    if reason.startswith("from the future"):
        return "future"
    return "invalid"


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
    case_changes: Counter
    centers_watched: Gauge
    facts: Counter
    ingest_to_alert: Histogram
    deadline_lateness: Histogram
    consumer_lag: Gauge
    partitions_assigned: Gauge
    center_last_event: Gauge
    events_misrouted: Counter
    alerts_unacknowledged: Gauge
    events_read_back: Counter
    ticks_stale: Counter
    alerts_sent_again: Counter
    stalls: Counter
    case_states: Counter

    @classmethod
    def create(cls, registry: CollectorRegistry) -> WorkerMetrics:
        return cls(
            events_consumed=_with_labels(
                Counter(
                    "supervisor_worker_events_consumed",
                    "Valid case events consumed, by type.",
                    ["type"],
                    registry=registry,
                ),
                *(kind.value for kind in EventType),
            ),
            events_rejected=_with_labels(
                Counter(
                    "supervisor_worker_events_rejected",
                    "Messages sent to the dead-letter topic, by reason: malformed (not UTF-8, "
                    "not JSON, not an object), invalid (breaks the event schema), future "
                    "(occurred_at ahead of the worker's clock), engine_error.",
                    ["reason"],
                    registry=registry,
                ),
                *REJECTION_REASONS,
            ),
            events_duplicate=Counter(
                "supervisor_worker_events_duplicate",
                "Re-delivered events (an event_id already applied), ignored.",
                registry=registry,
            ),
            alerts_raised=Counter(
                "supervisor_worker_alerts_raised",
                'Alerts published, by rule, severity and center (center_id "other": a '
                "center missing from the registry).",
                ["rule_id", "severity", "center_id"],
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
            case_changes=Counter(
                "supervisor_worker_case_changes",
                "What cases did to their alerts (contract §6): closed, superseded, "
                "concluded_late, by rule.",
                ["change", "rule_id"],
                registry=registry,
            ),
            centers_watched=Gauge(
                "supervisor_worker_centers_watched",
                "Registered centers watched for silence (center.silent) by this worker.",
                registry=registry,
            ),
            ingest_to_alert=Histogram(
                "supervisor_worker_ingest_to_alert_seconds",
                "From the Kafka timestamp of the event that raised an alert to the alert's "
                "acknowledgement by the broker (alerts raised by an event, not by a timer).",
                buckets=INGEST_BUCKETS,
                registry=registry,
            ),
            deadline_lateness=Histogram(
                "supervisor_worker_deadline_lateness_seconds",
                "From a deadline (the alert's raised_at) to the publication of the alert its "
                "timer fired, on the worker's clock.",
                buckets=LATENESS_BUCKETS,
                registry=registry,
            ),
            consumer_lag=Gauge(
                "supervisor_worker_consumer_lag",
                "Messages on the broker not yet handled, per partition of the case-events "
                "topic owned by this worker (sum over workers: the group's lag).",
                ["topic", "partition"],
                registry=registry,
            ),
            partitions_assigned=Gauge(
                "supervisor_worker_partitions_assigned",
                "Partitions of the case-events topic owned by this worker now.",
                registry=registry,
            ),
            center_last_event=Gauge(
                "supervisor_worker_center_last_event_timestamp_seconds",
                "When this worker last received an event of the center (Unix seconds, wall "
                "clock); registered centers only. Take the max over workers.",
                ["center_id"],
                registry=registry,
            ),
            events_misrouted=Counter(
                "supervisor_worker_events_misrouted",
                "Events on another partition than Kafka's default partitioner (murmur2) "
                "gives their case_id: a producer with another partitioner (the worker "
                "keeps such a case, and sends its ticks, on the partition its events "
                "came on).",
                registry=registry,
            ),
            events_read_back=Counter(
                "supervisor_worker_events_read_back",
                "Offsets of the case-events topic that never reached the agent (Faust "
                "skipped them around a rebalance) and were read back from the broker "
                "before going on (supervisor/worker/continuity.py).",
                registry=registry,
            ),
            ticks_stale=Counter(
                "supervisor_worker_ticks_stale",
                "Deadline ticks dropped because they were sent before this worker's "
                "current assignment (its recovery indexed their cases again).",
                registry=registry,
            ),
            alerts_unacknowledged=Gauge(
                "supervisor_worker_alerts_unacknowledged",
                "Alert and resolution messages handed to the producer and not yet "
                "acknowledged by the broker; kept with their case meanwhile "
                "(supervisor/worker/outbox.py).",
                registry=registry,
            ),
            alerts_sent_again=_with_labels(
                Counter(
                    "supervisor_worker_alerts_sent_again",
                    "Alert and resolution messages sent again: the producer failed to "
                    "deliver them (failed), or a recovered case listed them as not "
                    "acknowledged (recovered; copies readers de-duplicate by alert_id).",
                    ["reason"],
                    registry=registry,
                ),
                "failed",
                "recovered",
            ),
            stalls=_with_labels(
                Counter(
                    "supervisor_worker_stalls",
                    "Events partitions found stalled by the watchdog (unread events, no "
                    "progress for SUPERVISOR_STALL_SECONDS while the worker was idle), by the "
                    "action taken: seek (fetched again) or rejoin (a rebalance, when seeking "
                    "did not help); supervisor/worker/watchdog.py.",
                    ["action"],
                    registry=registry,
                ),
                "seek",
                "rejoin",
            ),
            facts=_with_labels(
                Counter(
                    "supervisor_worker_facts",
                    "Case facts for the statistics (supervisor/worker/facts.py): published "
                    "(acknowledged by the broker), failed (lost: a statistic is off) or "
                    "unchanged (not sent: no figure of the case changed).",
                    ["result"],
                    registry=registry,
                ),
                "published",
                "failed",
                "unchanged",
            ),
            case_states=_with_labels(
                Counter(
                    "supervisor_worker_case_states",
                    "Case states staged by the events judged, and written to the table by "
                    "their batches (a case changed by several events of a batch is written "
                    "once): supervisor/worker/case_agent.py.",
                    ["step"],
                    registry=registry,
                ),
                "staged",
                "written",
            ),
        )


def _with_labels(counter: Counter, *values: str) -> Counter:
    """Create the children of a one-label counter, so each is exported at 0 from the start
    (a rate over a series that appears only at its first increment misses that one)."""
    for value in values:
        counter.labels(value)
    return counter
