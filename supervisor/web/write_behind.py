"""The journal lane's writes, behind its pushes (consumer.py).

Why: the journal's records reach the walls as soon as they are read; their database
transaction waits for the other lane's (one lane writes at a time, the facts and events
a few hundred at a time). Written inline, that wait held the lane's next fetch too, so
the next alert waited for a transaction of statistics. Here the lane queues what it
pushed and fetches on; one task writes what is queued, all of it in one transaction, as
soon as the one before is done.

Bounded: a lane with `limit` records queued waits for the writer (a database that is
down must not grow the queue without end; the lane then waits as it did before). A
writer that fails (a bug: a database that is down is waited out inside `write`) fails
the lane's next `put` or `drain`, which reconnects from the stored offsets.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")


class WriteBehind(Generic[T]):
    """Items queued by `put`, written in order by `run` (one task) in batches."""

    def __init__(self, write: Callable[[list[T]], Awaitable[object]], limit: int) -> None:
        self._write = write
        self._limit = limit
        self._queue: list[T] = []
        self._queued = asyncio.Event()
        self._taken = asyncio.Event()  # the writer took a batch: room in the queue
        self._idle = asyncio.Event()  # nothing queued, nothing being written
        self._idle.set()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self.run())

    async def stop(self) -> None:
        """Stop the writer, whatever it is doing (what it had not written is read again
        from the stored offsets)."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def put(self, items: Sequence[T]) -> None:
        """Queue `items` for writing; wait while `limit` of them are queued."""
        self._raise_if_failed()
        if not items:
            return
        self._queue.extend(items)
        self._idle.clear()
        self._queued.set()
        while len(self._queue) >= self._limit:
            self._taken.clear()
            await self._until(self._taken)

    async def drain(self) -> None:
        """Wait until everything queued is written."""
        await self._until(self._idle)

    async def run(self) -> None:
        while True:
            await self._queued.wait()
            self._queued.clear()
            while self._queue:
                batch, self._queue = self._queue, []
                self._taken.set()
                await self._write(batch)
            self._idle.set()

    async def _until(self, event: asyncio.Event) -> None:
        """Wait for `event`, or raise what stopped the writer meanwhile."""
        if self._task is None:
            raise RuntimeError("the writer is not started")
        waiting = asyncio.ensure_future(event.wait())
        try:
            await asyncio.wait({waiting, self._task}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiting.cancel()
        self._raise_if_failed()

    def _raise_if_failed(self) -> None:
        if self._task is None or not self._task.done():
            return
        cause = None if self._task.cancelled() else self._task.exception()
        raise RuntimeError("the journal's writer stopped") from cause
