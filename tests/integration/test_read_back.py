"""The continuity read-back on the real broker: what a gap holds, up to the partition's
end, and an error (never an empty answer) when the broker cannot be reached."""

from __future__ import annotations

import uuid

import pytest
from faust.types import TP

from supervisor.kafka.admin import ensure_topics
from supervisor.worker.continuity import read_back

from .kafka_io import produce

pytestmark = pytest.mark.integration


async def test_a_span_is_read_back_and_the_position_reached_is_told(kafka_bootstrap: str) -> None:
    topic = f"read-back-{uuid.uuid4().hex[:8]}"
    await ensure_topics(kafka_bootstrap, {topic: 1})
    await produce(kafka_bootstrap, topic, [(f"k{n}", f"v{n}".encode()) for n in range(10)])
    tp = TP(topic, 0)
    records, reached = await read_back(kafka_bootstrap, tp, 3, 8)
    assert [r.offset for r in records] == [3, 4, 5, 6, 7] and reached == 8
    assert [r.value for r in records][:2] == [b"v3", b"v4"]
    records, reached = await read_back(kafka_bootstrap, tp, 8, 20)  # beyond the end
    assert [r.offset for r in records] == [8, 9] and reached == 10


async def test_an_unreachable_broker_is_an_error_not_an_empty_span() -> None:
    with pytest.raises(Exception):  # noqa: B017 (aiokafka's connection error, any kind)
        await read_back("127.0.0.1:9", TP("nowhere", 0), 0, 5, timeout=2)
