"""`supervisor worker`: create the topics if missing, then run the Faust worker."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime, timedelta

from supervisor import masking
from supervisor.kafka.admin import ensure_topics
from supervisor.settings import Settings
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


def run(settings: Settings, clock_start: datetime | None = None) -> None:
    import faust

    logging.basicConfig(level=settings.log_level)
    masking.install()  # no applicant's ID number or phone in any log line
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    asyncio.run(create_topics(settings))
    worker = create_app(settings, clock=shifted_clock(clock_start) if clock_start else None)
    runner = faust.Worker(worker.app, loglevel=settings.log_level.lower())
    # No terminal spinner: at WARNING and above Faust adds one and sets the root logger to
    # DEBUG for it, so every debug record of Faust and aiokafka is built and masked, then
    # dropped (a fifth of the worker's throughput, bench/RESULTS.md).
    runner.spinner = None
    runner.execute_from_commandline()
