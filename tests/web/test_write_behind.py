"""The journal lane's writes behind its pushes (supervisor/web/write_behind.py): queued
without waiting, written in order in batches, bounded, and a failed writer not hidden."""

from __future__ import annotations

import asyncio

import pytest

from supervisor.web.write_behind import WriteBehind


class Writes:
    """Batches written, each held until `release` is set."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.release = asyncio.Event()
        self.release.set()

    async def __call__(self, batch: list[int]) -> None:
        await self.release.wait()
        self.batches.append(batch)


async def test_what_is_queued_during_a_write_goes_in_the_next_batch_in_order() -> None:
    writes = Writes()
    writes.release.clear()
    behind = WriteBehind(writes, limit=100)
    behind.start()
    try:
        await behind.put([1])
        await asyncio.sleep(0.01)  # the writer took [1] and waits
        async with asyncio.timeout(1):  # queued without waiting for the write
            await behind.put([2, 3])
            await behind.put([4])
        writes.release.set()
        async with asyncio.timeout(1):
            await behind.drain()
        assert writes.batches == [[1], [2, 3, 4]]
    finally:
        await behind.stop()


async def test_a_full_queue_waits_for_the_writer() -> None:
    writes = Writes()
    writes.release.clear()
    behind = WriteBehind(writes, limit=3)
    behind.start()
    try:
        await behind.put([1])
        await asyncio.sleep(0.01)  # [1] is being written
        await behind.put([2, 3])  # two queued: under the limit
        full = asyncio.create_task(behind.put([4]))
        await asyncio.sleep(0.01)
        assert not full.done()  # three queued: the lane waits
        writes.release.set()
        async with asyncio.timeout(1):
            await full
            await behind.drain()
        assert [n for batch in writes.batches for n in batch] == [1, 2, 3, 4]
    finally:
        await behind.stop()


async def test_a_failed_writer_fails_the_lane() -> None:
    async def broken(batch: list[int]) -> None:
        raise LookupError("a bug")

    behind = WriteBehind(broken, limit=100)
    behind.start()
    try:
        await behind.put([1])
        with pytest.raises(RuntimeError, match="writer stopped") as raised:
            async with asyncio.timeout(1):
                await behind.drain()
        assert isinstance(raised.value.__cause__, LookupError)
        with pytest.raises(RuntimeError, match="writer stopped"):
            await behind.put([2])
    finally:
        await behind.stop()
