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


def shifted_clock(start: datetime) -> Clock:
    """A clock that reads `start` now and advances in real time from there."""
    origin = time.monotonic()
    return lambda: start + timedelta(seconds=time.monotonic() - origin)


def run(settings: Settings, clock_start: datetime | None = None) -> None:
    import faust

    logging.basicConfig(level=settings.log_level)
    masking.install()  # no applicant's ID number or phone in any log line
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    asyncio.run(ensure_topics(settings.bootstrap_servers, topics(settings)))
    worker = create_app(settings, clock=shifted_clock(clock_start) if clock_start else None)
    faust.Worker(worker.app, loglevel=settings.log_level.lower()).execute_from_commandline()
