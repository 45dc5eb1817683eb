"""A fetch handed over as one, passed to the agent a message at a time
(supervisor/worker/fetches.py): in order, acknowledged once its last part is, cut short
when a rebalance begins, the loop given its turns."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from supervisor.worker import fetches

from .fakes import Message


@dataclass
class Fetched:
    """What the transport hands over: the fetch's messages, and its generation."""

    messages: list[Message]
    generation_id: int = 1
    topic: str = "case-events"
    partition: int = 0


@dataclass
class Event:
    message: Any
    acked: list[Any] = field(default_factory=list)


def fetch(*offsets: int) -> Event:
    return Event(Fetched([Message("case-events", 0, offset, b"k", b"v") for offset in offsets]))


async def stream(*events: Event) -> AsyncIterator[Event]:
    for event in events:
        yield event


async def collect(events: AsyncIterator[Any]) -> list[Any]:
    return [event async for event in events]


def always(fetched: Any) -> bool:
    return True


async def test_a_fetch_is_passed_on_a_message_at_a_time_in_order() -> None:
    tick = Event(Message("ticks", 0, 7, b"", b"[]"))
    got = await collect(fetches.parts(stream(fetch(3, 4, 5), tick, fetch(6)), always))
    assert [item.message.offset for item in got] == [3, 4, 5, 7, 6]
    assert got[3] is tick  # what is not a fetch comes as it is
    assert all(isinstance(item, fetches.Part) for index, item in enumerate(got) if index != 3)
    assert got[0].whole is got[2].whole and got[0].whole is not got[4].whole


async def test_a_fetch_is_acknowledged_once_each_of_its_parts_is() -> None:
    whole = fetch(10, 11, 12)
    got = await collect(fetches.parts(stream(whole), always))
    assert fetches.acknowledged(got[1]) is None
    assert fetches.acknowledged(got[0]) is None
    assert fetches.acknowledged(got[2]) is whole  # the last one, in any order
    alone = Event(Message("ticks", 0, 1, b"", b"[]"))
    assert fetches.acknowledged(alone) is alone


async def test_a_fetch_with_a_part_never_acknowledged_is_never_acknowledged() -> None:
    got = await collect(fetches.parts(stream(fetch(1, 2, 3)), always))
    assert [fetches.acknowledged(part) for part in got[:2]] == [None, None]
    assert got[2].whole.waiting == 1  # a revoked partition's part: the fetch stays unread


async def test_the_rest_of_a_fetch_is_not_passed_on_once_a_rebalance_began() -> None:
    generation = {"now": 1}

    def current(fetched: Any) -> bool:
        return bool(fetched.generation_id == generation["now"])

    got: list[Any] = []
    async for part in fetches.parts(stream(fetch(1, 2, 3, 4), fetch(5)), current):
        got.append(part)
        if part.message.offset == 2:
            generation["now"] = 2  # the agent judged offset 2 when the rebalance began
    assert [part.message.offset for part in got] == [1, 2, 5]  # the stream checks the next


async def test_the_loop_gets_a_turn_while_a_long_fetch_is_passed_on() -> None:
    turns = 0

    async def other_task() -> None:
        nonlocal turns
        while True:
            turns += 1
            await asyncio.sleep(0)

    other = asyncio.create_task(other_task())
    await asyncio.sleep(0)
    seen = turns
    at_each: list[int] = []
    async for _part in fetches.parts(stream(fetch(1, 2, 3)), always, turn_seconds=0.0):
        at_each.append(turns - seen)
    other.cancel()
    assert at_each == [0, 1, 2]  # a turn before each part after the first

    at_each = []
    seen = turns
    async for _part in fetches.parts(stream(fetch(1, 2, 3)), always, turn_seconds=60.0):
        at_each.append(turns - seen)
    assert at_each == [0, 0, 0]  # none within the time slice


async def test_a_fetch_is_begun_when_the_agent_judges_one_of_its_parts() -> None:
    got = await collect(fetches.parts(stream(fetch(1, 2)), always))
    alone = Event(Message("ticks", 0, 1, b"", b"[]"))
    assert not fetches.begun(got[0]) and not fetches.begun(got[1])
    fetches.begin(got[0])
    assert fetches.begun(got[1])  # a stop lets the agent finish it
    fetches.begin(alone)
    assert not fetches.begun(alone)  # a message alone is no fetch to finish
