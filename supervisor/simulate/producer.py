"""Publishes simulated case events to Kafka, like any center's system would.

Why it is thin: everything about what happens in a case lives in the pure `scenario`
module; this one only paces and publishes. It writes contract events to the case-events
topic (key = case_id, so one case stays on one partition and in order) and nothing else:
the supervisor must not be able to tell it from a real center.

Pacing: the backlog goes out first, as fast as the broker takes it; then about `rate`
events per second. Events that came due (a live case's next step) go first; when they
do not fill the second, new live cases start at the current time.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Callable, Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from aiokafka import AIOKafkaProducer

from supervisor import masking
from supervisor.centers import CenterRegistry
from supervisor.core.calendar import WorkCalendar as OfficialCalendar
from supervisor.settings import Settings
from supervisor.simulate.catalogue import Catalogue
from supervisor.simulate.scenario import SHANGHAI, Event, Scenario

log = logging.getLogger(__name__)

_TICK = 0.1  # seconds between pacing decisions
_CHUNK = 500  # events awaited together while publishing the backlog
_LOG_EVERY = 1.0  # seconds between progress lines, at most


def shanghai_now() -> datetime:
    """The default clock: the current time in Asia/Shanghai."""
    return datetime.now(SHANGHAI)


def encode(event: Event) -> tuple[bytes, bytes]:
    """Kafka key and value of an event: the case_id, and the event as UTF-8 JSON."""
    key = str(event["case_id"]).encode("utf-8")
    value = json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return key, value


async def simulate(
    settings: Settings,
    *,
    rate: float = 5.0,
    late_share: float = 0.15,
    irregular_share: float = 0.1,
    backlog_cases: int = 300,
    seed: int | None = None,
    duration: float | None = None,
    clock: Callable[[], datetime] = shanghai_now,
) -> int:
    """Publish a backlog, then live events at about `rate`/s; return how many were sent.

    Runs until `duration` seconds have passed (None: until cancelled; on cancellation
    the producer is flushed and stopped, the count logged, and the cancellation goes on).
    A fixed `seed` with the same clock gives the same events: reuse one only on a fresh
    topic, or the supervisor will (rightly) drop the repeated event_ids as duplicates.
    """
    masking.install()  # the simulator's applicants are realistic: never in a log line
    if rate <= 0:
        raise ValueError("rate must be positive")
    if backlog_cases < 0:
        raise ValueError("backlog_cases must not be negative")
    scenario = Scenario(
        random.Random(seed),
        CenterRegistry.load(),
        Catalogue.load(),
        late_share=late_share,
        irregular_share=irregular_share,
        tz=ZoneInfo(settings.timezone),
        # The engine's national calendar, so that backlog cases planned red or yellow
        # are red or yellow for the engine too, holidays included.
        is_workday=OfficialCalendar(settings.timezone).is_working_day,
    )
    loop = asyncio.get_running_loop()
    started = loop.time()
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.bootstrap_servers,
        client_id=f"{settings.app_id}-simulator",
        acks="all",
        linger_ms=20,
    )
    await producer.start()
    sent = 0
    try:
        backlog = scenario.backlog(clock(), backlog_cases)
        for first in range(0, len(backlog), _CHUNK):
            sent += await _publish(producer, settings.topic_events, backlog[first : first + _CHUNK])
        log.info(
            "simulator: backlog of %d cases sent as %d events in %.1fs, %d events planned later",
            backlog_cases,
            sent,
            loop.time() - started,
            scenario.pending,
        )
        budget = 0.0
        last = last_log = loop.time()
        while duration is None or loop.time() - started < duration:
            remaining = _TICK if duration is None else duration - (loop.time() - started)
            await asyncio.sleep(max(0.0, min(_TICK, remaining)))
            tick = loop.time()
            budget = min(budget + rate * (tick - last), rate + 1.0)  # no bursts after a stall
            last = tick
            wanted = int(budget)
            if wanted:
                now = clock()
                batch = scenario.due(now, limit=wanted)
                while len(batch) < wanted:
                    batch.extend(scenario.start_case(now))
                sent += await _publish(producer, settings.topic_events, batch)
                budget -= len(batch)
            if tick - last_log >= _LOG_EVERY:
                last_log = tick
                log.info("simulator: %d events sent, %d planned later", sent, scenario.pending)
    finally:
        await producer.stop()
        log.info("simulator: stopped after %d events", sent)
    return sent


async def _publish(producer: AIOKafkaProducer, topic: str, events: Sequence[Event]) -> int:
    """Send events in order and wait until the broker has them all."""
    futures = []
    for event in events:
        key, value = encode(event)
        futures.append(await producer.send(topic, value=value, key=key))
    await asyncio.gather(*futures)
    return len(events)
