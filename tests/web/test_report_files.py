"""Files made for the report routes (web/routes/reports.py): one at a time in a worker
thread, the others waiting on the event loop without a thread of their own, and no more
than FILES_WAITING of them: a burst of report requests once held every worker thread,
and every other request (the health check, the alert list) waited for minutes."""

from __future__ import annotations

import asyncio
import threading
from types import SimpleNamespace
from typing import Any, cast

import pytest
from anyio import CapacityLimiter
from fastapi import HTTPException

from supervisor.web.routes.reports import FILES_WAITING, TOO_MANY_FILES, _made
from supervisor.web.services import Services


async def test_a_burst_of_files_waits_its_turn_and_beyond_a_few_is_refused() -> None:
    services = cast(Services, SimpleNamespace(files=CapacityLimiter(1)))
    release = threading.Event()
    threads: set[int] = set()

    def make(n: int) -> bytes:
        threads.add(threading.get_ident())
        release.wait(10)
        return str(n).encode()

    first = asyncio.create_task(_made(services, make, 0))
    waiting = [asyncio.create_task(_made(services, make, n)) for n in range(1, 1 + FILES_WAITING)]
    await asyncio.sleep(0.2)
    assert len(threads) == 1  # one file at a time: the others hold no thread
    ticks = 0
    for _ in range(5):  # the loop goes on meanwhile
        await asyncio.sleep(0)
        ticks += 1
    assert ticks == 5
    with pytest.raises(HTTPException) as refused:
        await _made(services, make, 99)
    assert refused.value.status_code == 503 and refused.value.detail == TOO_MANY_FILES
    headers: Any = refused.value.headers
    assert headers == {"Retry-After": "10"}
    release.set()
    made = await asyncio.gather(first, *waiting)
    assert made == [str(n).encode() for n in range(1 + FILES_WAITING)]
    assert await _made(services, make, 7) == b"7"  # the burst over, files are made again
