"""`supervisor worker`: create the topics if missing, then run the Faust worker.

It stops within `SHUTDOWN_DEADLINE_SECONDS` of SIGTERM or SIGINT, whatever the broker's
state. The stop first writes the batch in hand (`Worker.drain`: at most
`case_agent.DRAIN_SECONDS`), so its events are committed and not judged again at the next
start; then Faust's own stop commits the offsets handled, flushes the producer, leaves the
group and closes the tables; with the broker away it waited for it, and the worker took a
minute to exit, past an orchestrator's grace period (30 s: then SIGKILL). Now the stop
starts as before, and a process still alive at the deadline exits at once. That loses
nothing: an offset is committed only once the alerts and the state of its event were
delivered, so what was not committed is read and judged again at the next start, and a
case's alerts the broker had not acknowledged are listed in its stored value and sent
again (worker/outbox.py) — the guarantees a crash already relies on.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import faust

from supervisor import collector, masking
from supervisor.kafka.admin import ensure_topics
from supervisor.settings import Settings
from supervisor.shutdown import ShutdownDeadline
from supervisor.worker.app import Clock, create_app, ticks_topic
from supervisor.worker.centers import centers_topic


def topics(settings: Settings) -> dict[str, int]:
    n = settings.partitions
    return {
        settings.topic_events: n,
        ticks_topic(settings): n,
        settings.topic_alerts: 1,  # the alert journal: its offsets are the wall's positions
        settings.topic_dlq: n,
        settings.topic_facts: n,  # keyed by case_id, like the events
        centers_topic(settings): 1,  # one owner judges every center's silence
        **changelogs(settings),
    }


def changelogs(settings: Settings) -> dict[str, int]:
    """The changelog topics of the worker's tables (`cases` and `handled` on the events'
    partitions, `centers` on its one), as Faust names them. Created here, before Faust
    starts, so that they are in the metadata with a leader for each partition: created by
    Faust as it started, on a fresh broker one could be missing from the metadata its
    first assignment read (the centers table's was: `PartitionsMismatch` at every write
    of a center, so `center.silent` was never judged until a restart)."""
    app_id, n = settings.app_id, settings.partitions
    return {
        f"{app_id}-cases-changelog": n,
        f"{app_id}-handled-changelog": n,
        f"{app_id}-centers-changelog": 1,
    }


DAY_MS = 86_400_000


def topic_configs(settings: Settings) -> dict[str, dict[str, str]]:
    """Retention of the topics whose history matters: the alert journal (the wall's and
    the audit's record; forever by default), the case facts (the month and year figures
    after a restart) and the dead letters (time for ops to look and replay)."""

    def keep(days: float) -> dict[str, str]:
        return {"retention.ms": str(int(days * DAY_MS)) if days > 0 else "-1"}

    return {
        settings.topic_alerts: keep(settings.journal_retention_days),
        settings.topic_facts: keep(settings.facts_retention_days),
        settings.topic_dlq: keep(settings.dlq_retention_days),
        # compacted, as Faust makes a table's changelog: the latest value of each key
        **{changelog: {"cleanup.policy": "compact"} for changelog in changelogs(settings)},
    }


async def create_topics(settings: Settings) -> None:
    """The project's topics, with their partitions, replicas and retention."""
    await ensure_topics(
        settings.bootstrap_servers,
        topics(settings),
        replication_factor=settings.replication_factor,
        configs=topic_configs(settings),
    )


def shifted_clock(start: datetime) -> Clock:
    """A clock that reads `start` now and advances in real time from there."""
    origin = time.monotonic()
    return lambda: start + timedelta(seconds=time.monotonic() - origin)


log = logging.getLogger("supervisor.worker.main")


def _deadline() -> ShutdownDeadline:
    """The worker's: it says why nothing is lost when it has to exit at the deadline."""
    return ShutdownDeadline(
        log=log,
        message="still stopping %.0f s after the signal: exiting now (offsets not committed "
        "are read again at the next start; alerts not acknowledged are kept with their "
        "case and sent again)",
    )


class DeadlineWorker(faust.Worker):
    """Faust's worker, whose stop on SIGTERM or SIGINT ends by the deadline at the latest,
    and begins with `drain` (the batches in hand written, while the consumer still runs:
    Faust's stop pauses it first thing)."""

    def __init__(
        self,
        *args: Any,
        deadline: ShutdownDeadline,
        drain: Callable[[], Awaitable[object]] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.deadline = deadline
        self.drain = drain

    async def _stop_on_signal(self, signal: Any) -> None:
        # mode's one stop per signal (`_schedule_shutdown` starts it once)
        if self.drain is not None:
            try:
                await self.drain()
            except Exception:  # never in the way of the stop itself
                log.exception("writing the batch in hand before stopping failed")
        await super()._stop_on_signal(signal)

    def _on_sigterm(self) -> None:
        self.deadline.arm()
        super()._on_sigterm()

    def _on_sigint(self) -> None:
        self.deadline.arm()
        super()._on_sigint()


def run(settings: Settings, clock_start: datetime | None = None) -> None:
    logging.basicConfig(level=settings.log_level)
    masking.install()  # no applicant's ID number or phone in any log line
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    asyncio.run(create_topics(settings))
    worker = create_app(settings, clock=shifted_clock(clock_start) if clock_start else None)
    runner = DeadlineWorker(
        worker.app, loglevel=settings.log_level.lower(), deadline=_deadline(), drain=worker.drain
    )
    # No terminal spinner: at WARNING and above Faust adds one and sets the root logger to
    # DEBUG for it, so every debug record of Faust and aiokafka is built and masked, then
    # dropped (a fifth of the worker's throughput, bench/RESULTS.md).
    runner.spinner = None
    collector.tune()  # the app is wired and the rules loaded: kept for the process's life
    runner.execute_from_commandline()
