"""What the worker publishes, and what it counts once the broker has it.

The case agent and the centers agent decide; this module sends: alerts, resolutions and
case changes to the alerts topic (keyed by alert_id, through the outbox for a case's, so
that a crash loses none: outbox.py), and refused messages to the dead-letter topic (their
bytes and the reason, stored before the offset moves on: refusals.py). The metrics and
the log lines of an alert are taken when the broker acknowledged it, not when it was
handed over, so a figure never counts an alert the journal does not hold.

Case facts go out through `facts.FactPublisher`, which is an output of its own already.
Nothing here needs a broker: the senders are passed in (the producer's, in app.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Container, Sequence
from dataclasses import replace
from datetime import datetime
from functools import partial
from typing import Any

from supervisor import deadletters
from supervisor.core.alerts import Alert, CaseChange, Resolution
from supervisor.masking import mask_text
from supervisor.worker import refusals
from supervisor.worker.alert_log import AlertLog
from supervisor.worker.metrics import UNREGISTERED_CENTER, WorkerMetrics, rejection_reason
from supervisor.worker.outbox import Outbox
from supervisor.worker.outbox import encode as encode_message

log = logging.getLogger("supervisor.worker")

#: Hands a record (key, value) to the producer; returns the future of its acknowledgement.
SendAlert = Callable[[bytes, bytes], Awaitable[Any]]
#: Hands a dead letter to the producer; returns the future of its acknowledgement.
SendLetter = Callable[[deadletters.Record], Awaitable[Any]]


class Outputs:
    """The worker's publishing: `raise_alerts` for a case's (through `outbox`),
    `publish` and `publish_resolved` for the centers agent's, `refuse` for dead letters.
    `centers` bounds the metrics' center label (others count as UNREGISTERED_CENTER)."""

    def __init__(
        self,
        *,
        send_alert: SendAlert,
        send_letter: SendLetter,
        outbox: Outbox,
        metrics: WorkerMetrics,
        centers: Container[str],
        alert_log: AlertLog,
    ) -> None:
        self._send_alert = send_alert
        self._send_letter = send_letter
        self.outbox = outbox
        self._metrics = metrics
        self._centers = centers
        self.alert_log = alert_log

    # -- counted once acknowledged -----------------------------------------------------

    def alert_delivered(
        self, alert: Alert, published_at: datetime, ingested: float | None, by_timer: bool
    ) -> None:
        """Metrics of an alert the broker acknowledged. `ingested` is the Kafka timestamp
        (Unix seconds) of the event that raised it; `by_timer` says a deadline tick fired
        it (its lateness is measured)."""
        metrics = self._metrics
        center = alert.center_id if alert.center_id in self._centers else UNREGISTERED_CENTER
        metrics.alerts_raised.labels(alert.rule_id, alert.severity, center).inc()
        late = max(0.0, (published_at - alert.raised_at).total_seconds())
        metrics.alert_latency.observe(late)
        if by_timer:
            metrics.deadline_lateness.observe(late)
        if ingested is not None:
            metrics.ingest_to_alert.observe(max(0.0, time.time() - ingested))

    def resolution_delivered(self, resolution: Resolution) -> None:
        self._metrics.alerts_resolved.labels(resolution.rule_id).inc()
        log.info("resolved %s: %s", resolution.alert_id, resolution.reason)

    def change_delivered(self, change: CaseChange) -> None:
        self._metrics.case_changes.labels(change.change, change.rule_id).inc()

    # -- a case's: through the outbox --------------------------------------------------

    async def raise_alerts(
        self,
        case_id: str,
        alerts: list[Alert],
        resolutions: list[Resolution],
        published_at: datetime,
        *,
        changes: Sequence[CaseChange] = (),
        ingested: float | None = None,
        by_timer: bool = False,
    ) -> None:
        """Hand a case's alerts, resolutions and changes to its alerts (contract §6) to the
        producer, in order (a change after the alert it changes), without waiting for the
        acknowledgement: the case store writes them down with the state meanwhile
        (outbox.py). Counted and measured once acknowledged."""
        messages: list[tuple[dict[str, Any], Callable[[], None] | None]] = []
        for alert in alerts:
            messages.append(
                (
                    alert.to_dict(),
                    partial(self.alert_delivered, alert, published_at, ingested, by_timer),
                )
            )
        for resolution in resolutions:
            resolution = proved_wrong_at(resolution, published_at)
            messages.append((resolution.to_dict(), partial(self.resolution_delivered, resolution)))
        for change in changes:
            messages.append((change.to_dict(), partial(self.change_delivered, change)))
        await self.outbox.send(case_id, messages)

    # -- the centers agent's: acknowledged before its state is written -----------------

    async def publish(self, alerts: list[Alert], published_at: datetime) -> None:
        """For the centers agent (center.silent; a few a day): publish the alerts and wait
        for the broker's acknowledgement of all of them before the center's state that
        records them is written (sent together: one round trip)."""
        pending = [await self._send_alert(*encode_message(alert.to_dict())) for alert in alerts]
        await asyncio.gather(*pending)
        for alert in alerts:
            self.alert_delivered(alert, published_at, None, False)
        self.alert_log.raised(alerts)

    async def publish_resolved(self, resolutions: list[Resolution]) -> None:
        """For the centers agent: silences a late event disproved, acknowledged."""
        pending = [await self._send_alert(*encode_message(r.to_dict())) for r in resolutions]
        await asyncio.gather(*pending)
        for resolution in resolutions:
            self.resolution_delivered(resolution)

    # -- dead letters -------------------------------------------------------------------

    async def refuse(self, message: Any, reason: str, *, future: bool = False) -> None:
        """Move `message` (a Kafka message: topic, partition, offset, key, value) to the
        dead-letter topic with `reason`, bounded (its body cut to 64 KiB,
        deadletters.record), and wait until it is stored: the offset moves on, whatever
        the message was (worker/refusals.py). Counted by kind and logged."""
        reason = mask_text(reason)
        kind = "future" if future else rejection_reason(reason)
        self._metrics.events_rejected.labels(kind).inc()
        log.warning(
            "dead letter %s[%s]@%s: %s", message.topic, message.partition, message.offset, reason
        )
        source = f"{message.topic}/{message.partition}/{message.offset}"
        letter = deadletters.record(message.key, message.value, reason, source)
        await refusals.store(self._send_letter, letter)


def proved_wrong_at(resolution: Resolution, now: datetime) -> Resolution:
    """The resolution dated when the late event that proves the alert wrong was judged.

    The engine has no clock: it dates a resolution by the case's own latest instant
    (replay's event time), which in the live worker is when its last deadline fired, not
    when the late event came: a township's batch judged a week later was dated a week
    early, before the upload existed. The worker's clock reading, in the resolution's
    offset, is the later of the two."""
    if now <= resolution.resolved_at:
        return resolution
    return replace(resolution, resolved_at=now.astimezone(resolution.resolved_at.tzinfo))
