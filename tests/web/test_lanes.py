"""The projection's two lanes (supervisor/web/consumer.py): the journal read at once and
shown to the walls before its transaction, the facts and events gathered by the broker,
and "caught up" only once both are. On the real
broker, the lanes are exercised by the integration tests (end to end, facts, faults)."""

from __future__ import annotations

import asyncio
import json
from contextlib import suppress
from types import SimpleNamespace
from typing import Any, cast

from aiokafka import TopicPartition
from prometheus_client import CollectorRegistry

from supervisor.settings import Settings
from supervisor.store.projection import Outcome, Projection
from supervisor.store.projection import Record as ProjectedRecord
from supervisor.web.consumer import GATHER_BYTES, GATHER_MS, AlertFeed
from supervisor.web.hub import AlertHub
from supervisor.web.metrics import WebMetrics
from tests.web.test_hardening import projected_feed
from tests.web.test_hub import make_alert


def feed() -> AlertFeed:
    settings = Settings.from_env({})
    return AlertFeed(settings, AlertHub(settings.wall_recent), WebMetrics(CollectorRegistry()))


def test_the_journal_is_fetched_at_once_and_the_statistics_gathered() -> None:
    journal, figures = feed().lanes()
    settings = Settings.from_env({})
    assert journal.topics == (settings.topic_alerts,)
    assert journal.journal
    assert journal.fetch_min_bytes == 1  # a fetch returns with the first alert
    assert figures.topics == (settings.topic_facts, settings.topic_events)
    assert not figures.journal
    assert (figures.fetch_max_wait_ms, figures.fetch_min_bytes) == (GATHER_MS, GATHER_BYTES)
    assert 0 < GATHER_MS <= 250  # a wall's figures are at most this much later


def test_caught_up_waits_for_every_lane() -> None:
    alert_feed = feed()
    journal, figures = alert_feed.lanes()
    alert_feed._lanes_behind = {journal.name, figures.name}
    alert_feed._lane_caught_up(journal)
    assert not alert_feed.caught_up.is_set()  # the figures would count too little
    alert_feed._lane_caught_up(journal)  # again: no change
    assert not alert_feed.caught_up.is_set()
    alert_feed._lane_caught_up(figures)
    assert alert_feed.caught_up.is_set()


class Fetches:
    """Just what a lane asks of its consumer: one fetch per batch given, then nothing."""

    def __init__(self, topic: str, *batches: list[Any]) -> None:
        self.tp = TopicPartition(topic, 0)
        self.batches = [{self.tp: records} for records in batches]

    def assignment(self) -> set[TopicPartition]:
        return {self.tp}

    async def end_offsets(self, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
        return {tp: 0 for tp in tps}  # nothing was there at the start

    async def getmany(self, timeout_ms: int, max_records: int) -> dict[TopicPartition, Any]:
        if self.batches:
            return self.batches.pop(0)
        await asyncio.sleep(timeout_ms / 1000)
        return {}


class HeldWrites:
    """The read model, whose transactions wait until `release` is set (the other lane's
    transaction, or a slow disk)."""

    def __init__(self, projection: Projection) -> None:
        self.projection = projection
        self.topics = projection.topics
        self.release = asyncio.Event()

    async def apply(self, records: list[ProjectedRecord]) -> Outcome:
        await self.release.wait()
        return await self.projection.apply(records)


def journal_record(offset: int) -> Any:
    value = json.dumps(make_alert(offset + 1)).encode()
    return SimpleNamespace(offset=offset, value=value, timestamp=None)


async def test_alerts_reach_the_walls_while_their_transaction_waits() -> None:
    """The journal lane pushes what it reads and fetches on: the transaction waits (for
    the other lane's) behind it, and the API's read-your-write waits for that."""
    settings = Settings.from_env({})
    registry = CollectorRegistry()
    alert_feed, projection, database = await projected_feed(settings, registry)
    held = HeldWrites(projection)
    journal, _ = alert_feed.lanes()
    hub = alert_feed._hub
    consumer: Any = Fetches(settings.topic_alerts, [journal_record(0)], [journal_record(1)])
    lane = asyncio.create_task(alert_feed._consume_lane(consumer, cast(Any, held), journal, set()))
    try:
        async with asyncio.timeout(5):
            while hub.head < 1:  # the second fetch did not wait for the first's write
                await asyncio.sleep(0.01)
        assert make_alert(2)["alert_id"] in hub  # on the walls ...
        assert hub.stored == -1 and await projection.positions() == {}  # ... not stored
        assert await hub.wait_for(0, timeout=0.05) is False  # the API waits for both
        held.release.set()
        assert await hub.wait_for(1, timeout=5) is True
        assert await projection.positions() == {(settings.topic_alerts, 0): 2}
        received = {"rule_id": "deadline.overdue", "severity": "red"}
        assert registry.get_sample_value("supervisor_web_alerts_received_total", received) == 2
    finally:
        lane.cancel()
        with suppress(asyncio.CancelledError):
            await lane
        await database.dispose()
