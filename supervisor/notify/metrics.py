"""The notifier's Prometheus metrics (`supervisor_notify_*`), on its own registry."""

from __future__ import annotations

from dataclasses import dataclass
from typing import get_args

from prometheus_client import CollectorRegistry, Counter, Gauge

from supervisor.notify.plan import Kind
from supervisor.notify.records import REASONS, SOURCES

#: The delivery channels (routing.yaml `channels`).
CHANNELS = ("webhook", "email")


@dataclass(frozen=True)
class NotifyMetrics:
    sent: Counter  # {channel}: attempts the receiver took
    retried: Counter  # {channel}: failed attempts with a retry scheduled
    failed: Counter  # {channel}: failed attempts, whatever comes next
    dead_letters: Counter  # {channel}: notifications given up (dead-letter records)
    outbox: Gauge  # deliveries pending (not yet delivered nor dead)
    escalations: Counter  # escalation records written to the journal
    suppressed: Counter  # {kind}: notifications a silence held back
    position: Gauge  # the last journal position applied
    replays: Counter  # dead letters put back in the outbox
    skipped: Counter  # {source, reason}: records read and not acted on (records.py)
    active: Gauge  # 1 while this notifier is the one that sends (service.py: the group)

    @classmethod
    def create(cls, registry: CollectorRegistry) -> NotifyMetrics:
        p = "supervisor_notify_"
        made = cls(
            sent=Counter(
                f"{p}notifications_sent", "Notifications delivered", ["channel"], registry=registry
            ),
            retried=Counter(
                f"{p}notifications_retried",
                "Failed attempts followed by a retry",
                ["channel"],
                registry=registry,
            ),
            failed=Counter(
                f"{p}notifications_failed",
                "Failed delivery attempts",
                ["channel"],
                registry=registry,
            ),
            dead_letters=Counter(
                f"{p}dead_letters",
                "Notifications given up after the retry budget or a permanent failure",
                ["channel"],
                registry=registry,
            ),
            outbox=Gauge(f"{p}outbox_size", "Deliveries waiting to be sent", registry=registry),
            escalations=Counter(
                f"{p}escalations", "Escalation steps written to the journal", registry=registry
            ),
            suppressed=Counter(
                f"{p}suppressed",
                "Notifications held back by a silence",
                ["kind"],
                registry=registry,
            ),
            position=Gauge(
                f"{p}journal_position", "The last alert journal position applied", registry=registry
            ),
            replays=Counter(
                f"{p}replays", "Dead letters put back in the outbox by ops", registry=registry
            ),
            skipped=Counter(
                f"{p}records_skipped",
                "Records of the journal or the state topic skipped as untrustworthy",
                ["source", "reason"],
                registry=registry,
            ),
            active=Gauge(
                f"{p}active",
                "1 while this notifier is the active one (it sends), 0 on standby",
                registry=registry,
            ),
        )
        # Every series exported at 0 from the start: increase() and rate() cannot see the
        # first increment of a series that appears with it (a channel's first dead letter).
        for counter in (made.sent, made.retried, made.failed, made.dead_letters):
            for channel in CHANNELS:
                counter.labels(channel)
        for kind in get_args(Kind):
            made.suppressed.labels(kind)
        for source in SOURCES:
            for reason in REASONS:
                made.skipped.labels(source, reason)
        return made
