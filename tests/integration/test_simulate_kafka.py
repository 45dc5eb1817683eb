"""`simulate()` against the real broker: what it says it sent is on the topic, valid and keyed."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from jsonschema import Draft202012Validator

from supervisor.centers import CenterRegistry
from supervisor.core.calendar import WorkCalendar
from supervisor.kafka.admin import ensure_topics
from supervisor.settings import Settings
from supervisor.simulate import Catalogue, Scenario
from supervisor.simulate.producer import simulate

from .kafka_io import collect

pytestmark = pytest.mark.integration

SCHEMA = Path(__file__).resolve().parents[2] / "supervisor/schema/case-event.schema.json"
START = datetime(2026, 11, 27, 10, 15, tzinfo=ZoneInfo("Asia/Shanghai"))  # a working Friday


async def test_simulate_publishes_the_backlog_then_live_events(
    kafka_bootstrap: str, topic_name: Callable[..., str]
) -> None:
    topic = topic_name("events")
    await ensure_topics(kafka_bootstrap, {topic: 3})
    settings = Settings.from_env().with_(
        kafka_bootstrap_servers=kafka_bootstrap, topic_events=topic
    )
    loop = asyncio.get_running_loop()
    origin = loop.time()

    def clock() -> datetime:  # starts at START, then runs in real time
        return START + timedelta(seconds=loop.time() - origin)

    sent = await simulate(settings, rate=20.0, backlog_cases=40, seed=5, duration=4.0, clock=clock)
    ended = clock()
    records = await collect(kafka_bootstrap, topic, lambda rs: len(rs) >= sent, timeout=60)
    assert len(records) == sent

    validator = Draft202012Validator(json.loads(SCHEMA.read_text("utf-8")))
    events = []
    for record in records:
        assert record.key is not None and record.value is not None
        event = json.loads(record.value.decode("utf-8"))
        assert not list(validator.iter_errors(event))
        assert record.key.decode("utf-8") == event["case_id"]
        assert datetime.fromisoformat(event["occurred_at"]) <= ended
        events.append((record.partition, record.offset, event))

    # The backlog is what the pure scenario plans for this seed and moment.
    expected = Scenario(
        random.Random(5),
        CenterRegistry.load(),
        Catalogue.load(),
        is_workday=WorkCalendar(settings.timezone).is_working_day,
    ).backlog(START, 40)
    received_ids = {e["event_id"] for _, _, e in events}
    assert {e["event_id"] for e in expected} <= received_ids
    live = sent - len(expected)
    assert 20 <= live <= 20 * 4 + 25  # about `rate` per second after the backlog

    # One case's events stay in order on one partition.
    per_case: dict[str, list[tuple[int, int, datetime]]] = {}
    for partition, offset, event in sorted(events, key=lambda x: (x[0], x[1])):
        at = datetime.fromisoformat(event["occurred_at"])
        per_case.setdefault(event["case_id"], []).append((partition, offset, at))
    for seen in per_case.values():
        assert len({p for p, _, _ in seen}) == 1
        times = [at for _, _, at in seen]
        assert times == sorted(times)
