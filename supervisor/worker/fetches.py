"""The agent's stream one message at a time again: the case events a fetch returned for a
partition, handed over as one by the transport (transport.Fetched), are passed on as
`Part`s, one per message, each with the message the agent reads.

Why: Faust's path for each message it hands to a stream (the conductor, the stream's
queue and iteration, its sensors, a turn of the loop) cost the worker more CPU an event
than the engine and its decoding together (bench/RESULTS.md); handed a fetch at a time,
it is paid once a fetch. The agent still judges one message at a time, in order, and
still acknowledges each once its partition's batch is written: a fetch is acknowledged
to Faust when its last part is, so nothing is committed before the state that records
it, and a part never acknowledged (its partition revoked, a stop begun) keeps the whole
fetch uncommitted, to be read again by the next owner, which ignores what was applied.

What Faust's stream checks for each message before the agent sees it, `parts` checks
for each part: a part is passed on only while the consumer's generation is the one it
was fetched in and the flow is active. After a rebalance began, the rest of a fetch
goes the way Faust sends a message of an earlier generation: not to the agent.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

#: The loop is given a turn once the parts of a fetch took this long (seconds). A fetch
#: holds up to a couple of thousand messages, half a second of work, which the timers, the
#: producer's sender and the web views should not wait behind; a turn for every message,
#: as Faust's stream gave, is part of what that cost. At 1 ms the worker spent more CPU
#: an event, at 10 ms the timers ran late (bench/RESULTS.md).
TURN_SECONDS = 0.002


@dataclass(eq=False)
class Whole:
    """A stream event carrying a fetch (its `message` is a transport.Fetched): how many
    of its parts are still to be acknowledged, and whether the agent began it."""

    event: Any
    waiting: int
    begun: bool = False


@dataclass(eq=False, slots=True)
class Part:
    """One message of a fetch, in the agent's stream (it has a `message`, as Faust's
    events)."""

    message: Any
    whole: Whole = field(repr=False)
    last: bool = True  # the fetch's last message

    def acknowledged(self) -> Any:
        """Count this part as acknowledged: the stream event to acknowledge to Faust when
        it was the fetch's last, else None. Each part counts once."""
        whole = self.whole
        whole.waiting -= 1
        return whole.event if whole.waiting == 0 else None


def acknowledged(event: Any) -> Any:
    """The stream event to acknowledge to Faust now that the agent acknowledged `event`:
    itself, a part's fetch once its last part is, or None."""
    return event.acknowledged() if isinstance(event, Part) else event


def begin(event: Any) -> None:
    """The agent judges `event`: a part's fetch is begun."""
    if isinstance(event, Part):
        event.whole.begun = True


def continued(event: Any) -> bool:
    """Whether more of `event`'s fetch is to come after it."""
    return isinstance(event, Part) and not event.last


def begun(event: Any) -> bool:
    """Whether `event` is a part of a fetch the agent began (a stop lets the agent finish
    such a fetch, whose judged parts are acknowledged with it, and begin no other)."""
    return isinstance(event, Part) and event.whole.begun


async def parts(
    events: AsyncIterable[Any],
    current: Callable[[Any], bool],
    turn_seconds: float = TURN_SECONDS,
) -> AsyncIterator[Any]:
    """`events` with each event carrying a fetch replaced by its parts, in order, while
    `current(fetched)` holds (the generation it was fetched in, the flow active: Faust's
    own test for each message), the loop given a turn every `turn_seconds`; other events
    as they come."""
    clock = time.monotonic
    async for event in events:
        fetched = event.message
        messages = getattr(fetched, "messages", None)
        if messages is None:
            yield event
            continue
        whole = Whole(event, len(messages))
        end = len(messages) - 1
        turned = clock()
        for index, message in enumerate(messages):
            if index:
                if clock() - turned >= turn_seconds:
                    await asyncio.sleep(0)
                    turned = clock()
                if not current(fetched):
                    break  # a rebalance began: the rest is the next owner's (or ours again)
            yield Part(message, whole, index == end)
