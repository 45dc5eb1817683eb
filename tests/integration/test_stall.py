"""The stall watchdog (supervisor/worker/watchdog.py) on the real broker.

The stall it is for: after a table recovery, faust-streaming 0.15 sometimes leaves an
event unacknowledged with the consumer's position past it (a path in its code: the
agent's queue is emptied when the flow resumes, just after the seek to the committed
offsets). The partition looks consumed; with no later message the event waits for the
next rebalance. It comes about one restart in six and could not be caught on demand
here, so these tests force the same state, in a real worker process on the real broker,
by running the worker through this module (`python -m tests.integration.test_stall`),
which patches Faust's message dispatch before starting it:

- `drop`: the dispatch swallows the first deliveries of one marked event: fetched, its
  read offset recorded, never handed to the agent nor acknowledged: the state the race
  leaves. One drop: the watchdog's seek fetches it again. Three: two seeks are swallowed
  too, and the watchdog makes the consumer rejoin its group; the rebalance delivers it.
- `pause`: the events partition of the marked case is paused through Faust's consumer
  once the worker is ready (`consumer.pause_partitions`): its events stay unread while
  it is assigned. The watchdog resumes it and fetches it again.
- and the control: the same dropped event with the watchdog off stays unjudged.

Each case's alert (`supplement.repeated`, raised by the marked event) must come within
seconds of the stall delay, the stall be counted in `supervisor_worker_stalls_total`
with its action, and logged.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from supervisor.kafka.admin import ensure_topics
from supervisor.settings import Settings
from supervisor.worker.main import topics
from supervisor.worker.ticks import partition_of
from tests.core.factories import event_doc
from tests.processes import spawn, terminate

from .conftest import CLOCK_START, events_consumed, wait_ready, worker_env
from .kafka_io import alerts_of, collect, produce, wait_for

pytestmark = pytest.mark.integration

#: The environment of the stalling worker (read by this module's main, not by supervisor).
STALL_MODE = "SUPERVISOR_TEST_STALL_MODE"  # drop | pause
STALL_EVENT = "SUPERVISOR_TEST_STALL_EVENT"  # the event_id of the marked event
STALL_CASE = "SUPERVISOR_TEST_STALL_CASE"  # its case_id (pause: its partition)
STALL_DROPS = "SUPERVISOR_TEST_STALL_DROPS"  # deliveries of it to swallow
#: Seconds without progress that make a stall, in these tests (15 by default).
STALL_SECONDS = 3


# -- the stalling worker (this module as a program) ----------------------------------------


def stalling_worker() -> None:
    """`supervisor worker`, with Faust's dispatch patched to stall the marked event."""
    import faust
    from faust.transport.conductor import Conductor
    from faust.types import TP

    from supervisor.worker import app as worker_app
    from supervisor.worker import main

    settings = Settings.from_env()
    mode = os.environ[STALL_MODE]
    marker = os.environ[STALL_EVENT].encode()
    drops = int(os.environ.get(STALL_DROPS, "0"))
    compile_handler = Conductor._compile_message_handler

    def say(text: str) -> None:
        print(f"stall test: {text}", file=sys.stderr, flush=True)

    def compile_stalling(self: Any) -> Any:
        handler = compile_handler(self)

        async def on_message(message: Any) -> Any:
            nonlocal drops
            if (
                mode == "drop"
                and drops > 0
                and message.topic == settings.topic_events
                and any(
                    marker in (each.value or b"")
                    # a fetch of several case events comes as one (worker/transport.py):
                    # dropped whole, as Faust's stall drops what it fetched
                    for each in getattr(message, "messages", [message])
                )
            ):
                drops -= 1
                say(f"dropped {message.topic}[{message.partition}]@{message.offset}")
                return None  # fetched, read offset recorded, never queued nor acked
            return await handler(message)

        return on_message

    Conductor._compile_message_handler = compile_stalling  # type: ignore[method-assign]

    create_app = worker_app.create_app

    def create_pausing(*args: Any, **kwargs: Any) -> Any:
        worker = create_app(*args, **kwargs)
        app: faust.App = worker.app
        tp = TP(settings.topic_events, partition_of(os.environ[STALL_CASE], settings.partitions))
        paused = False

        @app.timer(interval=0.5)  # type: ignore[untyped-decorator]
        async def pause_once() -> None:
            nonlocal paused
            recovered = app.tables.recovery.completed.is_set()  # type: ignore[attr-defined]
            if paused or not recovered or app.rebalancing:
                return
            if tp in app.consumer.assignment():
                app.consumer.pause_partitions({tp})
                paused = True
                say(f"paused {tp.topic}[{tp.partition}]")

        return worker

    if mode == "pause":
        main.create_app = create_pausing  # type: ignore[attr-defined]
    main.run(settings, clock_start=datetime.fromisoformat(CLOCK_START))


# -- the tests -----------------------------------------------------------------------------


@contextmanager
def stalling(env: dict[str, str], log: Path) -> Iterator[int]:
    """The stalling worker, ready; yields its web port."""
    settings = Settings.from_env(env)
    with ThreadPoolExecutor(1) as pool:
        pool.submit(
            asyncio.run, ensure_topics(settings.bootstrap_servers, topics(settings))
        ).result()
    process = spawn(["-m", "tests.integration.test_stall"], env, log)
    port = settings.worker_web_port
    try:
        if not wait_ready(f"http://127.0.0.1:{port}/healthz", process, timeout=90):
            raise AssertionError(f"the worker did not become ready:\n{tail(log)}")
        yield port
    finally:
        terminate(process)
        if process.returncode not in (0, -signal.SIGTERM):
            print(tail(log))


def tail(log: Path) -> str:
    return log.read_text(errors="replace")[-4000:]


def stalls_counted(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
        text = response.read().decode()
    return {
        action: float(value)
        for action, value in re.findall(
            r'^supervisor_worker_stalls_total\{action="(\w+)"\} (\S+)$', text, re.M
        )
    }


def case_events(case: str, marked: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Two events consumed as usual, then the marked one, which raises
    `supplement.repeated` (a second request for materials)."""
    before = [
        event_doc("submitted", "2026-11-27T08:00:00+08:00", case_id=case, center_id="451228"),
        event_doc(
            "supplement_requested",
            "2026-11-27T08:10:00+08:00",
            case_id=case,
            center_id="451228",
            missing_materials=["户口簿"],
        ),
    ]
    second = event_doc(
        "supplement_requested",
        "2026-11-27T08:50:00+08:00",
        case_id=case,
        center_id="451228",
        event_id=marked,
        missing_materials=["结婚证"],
    )
    return before, second


async def alert_of(bootstrap: str, topic: str, case: str, timeout: float) -> list[dict[str, Any]]:
    records = await collect(
        bootstrap,
        topic,
        lambda rs: any(a.get("case_id") == case for a in alerts_of(rs)),
        timeout=timeout,
    )
    return [a for a in alerts_of(records) if a.get("case_id") == case]


def stall_env(
    tmp_path: Path, kafka_bootstrap: str, mode: str, **extra: str
) -> tuple[dict[str, str], str, str]:
    case = f"451228-2026-{uuid.uuid4().int % 10**7:07d}"
    marked = f"stall-{uuid.uuid4().hex[:12]}"
    env = {
        **worker_env(kafka_bootstrap, tmp_path, uuid.uuid4().hex[:8]),
        "SUPERVISOR_STALL_SECONDS": str(STALL_SECONDS),
        STALL_MODE: mode,
        STALL_EVENT: marked,
        STALL_CASE: case,
        **extra,
    }
    return env, case, marked


@pytest.mark.parametrize(
    ("mode", "drops", "action"),
    [("drop", 1, "seek"), ("drop", 3, "rejoin"), ("pause", 0, "seek")],
    ids=["dropped-then-seek", "dropped-again-then-rejoin", "paused-then-resumed"],
)
async def test_a_stalled_event_is_judged_within_seconds(
    kafka_bootstrap: str, tmp_path: Path, mode: str, drops: int, action: str
) -> None:
    env, case, marked = stall_env(tmp_path, kafka_bootstrap, mode, **{STALL_DROPS: str(drops)})
    settings = Settings.from_env(env)
    log = tmp_path / "worker.log"
    with stalling(env, log) as port:
        before, second = case_events(case, marked)
        if mode == "pause":  # its partition is paused from the start: all three wait
            assert await wait_for(lambda: "stall test: paused" in log.read_text(), 30), tail(log)
            waiting = [*before, second]
        else:
            keyed = [(case, d) for d in before]
            await produce(settings.bootstrap_servers, settings.topic_events, keyed)
            assert await wait_for(lambda: events_consumed(port) >= 2, 30), tail(log)
            waiting = [second]
        produced = time.monotonic()
        keyed = [(case, d) for d in waiting]
        await produce(settings.bootstrap_servers, settings.topic_events, keyed)
        mine = await alert_of(settings.bootstrap_servers, settings.topic_alerts, case, 60)
        judged = time.monotonic() - produced
        counted = stalls_counted(port)
    text = log.read_text(errors="replace")
    print(f"{mode} ({drops} drops): judged {judged:.1f} s after it was produced; {counted}")
    assert [a["alert_id"] for a in mine] == [f"supplement.repeated:{case}"]
    assert mine[0]["raised_at"] == "2026-11-27T08:50:00+08:00"
    if mode == "drop":
        assert text.count("stall test: dropped") == drops, tail(log)
    attempts = 3 if action == "rejoin" else 1
    assert judged >= STALL_SECONDS, "judged before any stall was detected: not stalled?"
    assert judged < attempts * STALL_SECONDS + 15, f"judged late:\n{tail(log)}"
    assert counted.get(action, 0) >= 1, counted
    assert re.search(
        rf"{re.escape(settings.topic_events)}\[\d+\]: \d+ event\(s\) from offset \d+ unread "
        rf"for \d+ s while the worker is idle \(a faust-streaming stall\)",
        text,
    ), tail(log)


async def test_without_the_watchdog_the_dropped_event_waits(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    """The control: the forced state is a stall (nothing else recovers from it)."""
    env, case, marked = stall_env(
        tmp_path, kafka_bootstrap, "drop", **{STALL_DROPS: "1", "SUPERVISOR_STALL_SECONDS": "0"}
    )
    settings = Settings.from_env(env)
    log = tmp_path / "worker.log"
    with stalling(env, log) as port:
        before, second = case_events(case, marked)
        keyed = [(case, d) for d in before]
        await produce(settings.bootstrap_servers, settings.topic_events, keyed)
        assert await wait_for(lambda: events_consumed(port) >= 2, 30), tail(log)
        # alone, as in the test above: a fetch holding it would be dropped whole
        await produce(settings.bootstrap_servers, settings.topic_events, [(case, second)])
        assert await wait_for(lambda: "stall test: dropped" in log.read_text(), 30), tail(log)
        await asyncio.sleep(25)
        consumed = events_consumed(port)
        counted = stalls_counted(port)
        mine = await alert_of(settings.bootstrap_servers, settings.topic_alerts, case, 3)
    assert consumed == 2, "the dropped event was judged after all"
    assert mine == []
    assert counted == {"seek": 0.0, "rejoin": 0.0}


if __name__ == "__main__":
    stalling_worker()
