"""Faults survived, on the real broker (issue 6, item 5).

- The broker stops mid-stream and comes back (a broker of this test's own, on its own
  ports and data directory: the session broker other tests use is never stopped). The
  worker is not restarted: it reconnects by itself; events produced while the broker was
  away (a producer retrying) and after it came back are all judged, and the alerts are
  the ones `supervisor replay` gives for the same events.
- A flood of malformed messages (not UTF-8, not JSON, not an object, schema violations,
  wrong types, empty) interleaved with good events: every malformed one is in the
  dead-letter topic with its original bytes and a reason, every good case's alerts are
  right.
- An event from the future (its `occurred_at` far ahead of the worker's clock) goes to
  the dead-letter topic with the reason (how far ahead of which clock) and fires nothing;
  one a minute ahead is applied. Jumps of the wall clock are covered with fake clocks in
  tests/test_worker_clock.py (a test cannot move this machine's clock).
- A restart of the web service: the wall resumes from its last position, no alert missed
  or shown twice: tests/browser/test_wall.py (the restart test), not repeated here.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import shutil
import socket
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from supervisor.kafka import local
from supervisor.settings import Settings
from tests.core.factories import event_doc

from .conftest import CLOCK_START, RunningWorker, running_worker, worker_env, worker_total
from .kafka_io import alerts_of, collect, collect_until_quiet, produce, produce_pipelined, wait_for
from .test_replay_parity import (
    Output,
    assert_same_alerts,
    crafted_events,
    simulated_events,
    through_replay,
    write_lines,
)

pytestmark = pytest.mark.integration

Doc = dict[str, Any]


def lines_of(docs: list[Doc]) -> list[str]:
    return [json.dumps(d, ensure_ascii=False) for d in docs]


def by_case(docs: list[Doc]) -> list[list[Doc]]:
    cases: dict[str, list[Doc]] = {}
    for doc in docs:
        cases.setdefault(doc["case_id"], []).append(doc)
    return list(cases.values())


def consumed_all(port: int) -> float:
    return sum(
        worker_total(port, f"supervisor_worker_events_{name}_total")
        for name in ("consumed", "duplicate", "rejected")
    )


async def alerts_once_complete(
    bootstrap: str, topic: str, expected: Output, settle: float, timeout: float = 120
) -> Output:
    """The alerts topic once every expected id is there and it has then been quiet."""

    def complete(records: list[Any]) -> bool:
        return set(expected.alerts) <= {a["alert_id"] for a in alerts_of(records)}

    await collect(bootstrap, topic, complete, timeout=timeout)
    records = await collect_until_quiet(
        bootstrap, topic, not_before=time.monotonic() + settle + 1, quiet=4
    )
    return Output.of(alerts_of(records), "alerts topic")


# -- (a) the broker stops and comes back ------------------------------------------------


def free_pair() -> int:
    """A port p with p + 1 free too (the broker and its controller)."""
    for _ in range(50):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port < 65535:
            with socket.socket() as other:
                try:
                    other.bind(("127.0.0.1", port + 1))
                except OSError:
                    continue
            return port
    raise AssertionError("no two consecutive free ports")


@pytest.fixture
def own_broker(tmp_path: Path, kafka_settings: Settings) -> Iterator[Settings]:
    """A broker of this test's own: its own ports, and a home in tmp_path whose libs are
    the session's fetched jars (linked, not fetched again). Stopped at the end. Started
    even when the suite runs on another cluster (KAFKA_BOOTSTRAP_SERVERS): the fault is a
    broker this test stops, which only a broker of its own can be."""
    shared = local.Layout.of(kafka_settings)
    if not local.is_fetched(kafka_settings):
        local.fetch(kafka_settings)
    home = tmp_path / "kafka"
    version_dir = home / kafka_settings.kafka_version
    version_dir.mkdir(parents=True)
    (version_dir / "libs").symlink_to(shared.libs, target_is_directory=True)
    shutil.copy(shared.marker, version_dir / "COMPLETE")
    settings = kafka_settings.with_(
        kafka_home=home, kafka_port=free_pair(), kafka_bootstrap_servers=""
    )
    local.start_broker(settings)
    try:
        yield settings
    finally:
        local.stop(settings)


async def test_the_worker_rides_out_a_broker_restart(own_broker: Settings, tmp_path: Path) -> None:
    bootstrap = own_broker.bootstrap_servers
    docs = simulated_events(2026) + crafted_events()
    expected, _ = through_replay(write_lines(tmp_path / "events.jsonl", lines_of(docs)))
    cases = by_case(docs)
    random.Random(5).shuffle(cases)
    first = [d for case in cases[: len(cases) // 2] for d in case]
    during = [d for case in cases[len(cases) // 2 : 3 * len(cases) // 4] for d in case]
    after = [d for case in cases[3 * len(cases) // 4 :] for d in case]

    env = {
        **worker_env(bootstrap, tmp_path, uuid.uuid4().hex[:8]),
        "SUPERVISOR_KAFKA_PORT": str(own_broker.kafka_port),
        "SUPERVISOR_KAFKA_HOME": str(own_broker.kafka_home),
    }
    log = tmp_path / "worker.log"
    with running_worker(env, log) as worker:

        def keyed(part: list[Doc]) -> list[tuple[str, bytes]]:
            return [(d["case_id"], json.dumps(d, ensure_ascii=False).encode()) for d in part]

        await produce_pipelined(bootstrap, worker.events, keyed(first))
        assert await wait_for(lambda: consumed_all(worker.web_port) >= len(first), 90)

        # A producer already connected keeps its messages while the broker is away and
        # delivers them once it is back (retries within its delivery timeout).
        producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap,
            acks="all",
            enable_idempotence=True,
            request_timeout_ms=90_000,
            retry_backoff_ms=500,
        )
        await producer.start()
        try:
            await producer.partitions_for(worker.events)  # metadata known before the outage
            stopped = time.monotonic()
            assert await asyncio.to_thread(local.stop, own_broker), "its broker was not running"

            async def send_during() -> None:
                # send() waits while the producer's buffers are full, then the futures
                # until each message is acknowledged: all of it once the broker is back
                pending = [
                    await producer.send(worker.events, key=key.encode(), value=value)
                    for key, value in keyed(during)
                ]
                await asyncio.gather(*pending)

            sending = asyncio.create_task(send_during())
            await asyncio.sleep(8)  # the worker's consumer and producer lose the broker
            assert not sending.done(), "sent while the broker was away?"
            await asyncio.to_thread(local.start_broker, own_broker)
            back = time.monotonic()
            await asyncio.wait_for(sending, timeout=120)
        finally:
            await producer.stop()
        await produce_pipelined(bootstrap, worker.events, keyed(after))

        def caught_up() -> bool:
            return consumed_all(worker.web_port) >= len(docs)

        assert await wait_for(caught_up, 120), f"the worker did not catch up:\n{log_tail(log)}"
        found = await alerts_once_complete(
            bootstrap, worker.alerts, expected, float(env["SUPERVISOR_SETTLE_SECONDS"])
        )
        assert healthy(worker), "the worker is not ready after the broker came back"
    pids = set(re.findall(r"^\[[^\]]+\] \[(\d+)\]", log.read_text(errors="replace"), re.M))
    assert len(pids) == 1, f"the worker was restarted: pids {pids}"
    copies = found.records - len(found.alerts) - len(found.resolutions) - len(found.changes)
    print(
        f"broker away {back - stopped:.1f}s; {len(docs)} events ({len(during)} sent while it "
        f"was away); {found.records} alert records, {len(found.alerts)} ids "
        f"(replay {len(expected.alerts)}), topic-level duplicates: {copies}"
    )
    assert_same_alerts(found, expected)


def healthy(worker: RunningWorker) -> bool:
    try:
        url = f"http://127.0.0.1:{worker.web_port}/healthz"
        with urllib.request.urlopen(url, timeout=5) as response:
            status: int = response.status  # urlopen's return is Any in typeshed
            return status == 200
    except OSError:
        return False


def log_tail(log: Path) -> str:
    return log.read_text(errors="replace")[-3000:]


# -- (b) a flood of malformed messages --------------------------------------------------


def malformed(rng: random.Random, good: list[Doc], count: int) -> list[bytes]:
    """Messages that are not valid events, of every kind a broken center can send."""
    makers: list[Callable[[], bytes]] = [
        lambda: bytes(rng.randrange(128, 256) for _ in range(rng.randrange(1, 40))),  # not UTF-8
        lambda: "受理".encode("gbk") + b" " + uuid.uuid4().hex.encode(),  # another encoding
        lambda: b"",  # empty
        lambda: b"{" + uuid.uuid4().hex.encode(),  # not JSON
        lambda: rng.choice([b"[1, 2]", b"42", b"null", b'"accepted"', b"true"]),  # not objects
        lambda: b"\xef\xbb\xbf" + json.dumps(rng.choice(good)).encode() + b"}",  # trailing junk
    ]

    def violation() -> bytes:
        doc = json.loads(json.dumps(rng.choice(good)))
        doc["event_id"] = f"bad-{uuid.uuid4().hex}"
        broken: Callable[[dict[str, Any]], object] = rng.choice(
            [
                lambda d: d.pop("case_id"),
                lambda d: d.pop("occurred_at"),
                lambda d: d.update(type="teleported"),
                lambda d: d.update(occurred_at="2026-11-02 09:00"),  # no offset
                lambda d: d.update(occurred_at=1793581200),  # a number
                lambda d: d.update(case_id=12345),
                lambda d: d.update(schema_version=2),
                lambda d: d.update(center_id=None),
                lambda d: d.update(type="accepted", payload={"promised_limit": "5 days"}),
                lambda d: d.update(type="evaluated", payload={"level": "5"}),
                lambda d: d.update(type="evaluated", payload={"level": 9}),
                lambda d: d.update(type="fee_charged", payload={"amount": True}),
                lambda d: d.update(type="extended", payload={"value": -3, "unit": "working_day"}),
            ]
        )
        broken(doc)
        return json.dumps(doc, ensure_ascii=False).encode()

    return [violation() if rng.random() < 0.5 else rng.choice(makers)() for _ in range(count)]


MALFORMED = 3000


async def test_a_flood_of_malformed_messages_goes_to_the_dead_letters(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    docs = simulated_events(2026) + crafted_events()
    expected, _ = through_replay(write_lines(tmp_path / "events.jsonl", lines_of(docs)))
    rng = random.Random(13)
    bad = malformed(rng, docs, MALFORMED)
    good = [(d["case_id"], json.dumps(d, ensure_ascii=False).encode()) for d in docs]
    keys = [d["case_id"] for d in docs]
    stream: list[tuple[str, bytes]] = list(good)
    for value in bad:  # interleaved, keyed like a case (so they share its partition)
        stream.insert(rng.randrange(len(stream) + 1), (rng.choice(keys), value))

    env = worker_env(kafka_bootstrap, tmp_path, uuid.uuid4().hex[:8])
    with running_worker(env, tmp_path / "worker.log") as worker:
        began = time.monotonic()
        await produce_pipelined(worker.bootstrap, worker.events, stream)
        assert await wait_for(lambda: consumed_all(worker.web_port) >= len(stream), 180)
        handled = time.monotonic() - began
        rejected = worker_total(worker.web_port, "supervisor_worker_events_rejected_total")
        dead = await collect(
            worker.bootstrap, worker.dlq, lambda rs: len(rs) >= MALFORMED, timeout=60
        )
        found = await alerts_once_complete(
            worker.bootstrap, worker.alerts, expected, float(env["SUPERVISOR_SETTLE_SECONDS"])
        )
    print(
        f"{len(stream)} messages ({MALFORMED} malformed) handled in {handled:.1f}s; "
        f"{len(dead)} dead letters; {len(found.alerts)} alert ids (replay {len(expected.alerts)})"
    )
    assert rejected == MALFORMED
    assert Counter(r.value or b"" for r in dead) == Counter(bad), "not the original bytes"
    for record in dead:
        headers = dict(record.headers)
        assert headers.get("reason"), record
        assert re.fullmatch(rf"{re.escape(worker.events)}/\d+/\d+", headers["source"].decode())
    assert_same_alerts(found, expected)


# -- (c) events from the future ----------------------------------------------------------


async def test_an_event_from_the_future_is_refused_and_fires_nothing(
    worker: RunningWorker,
) -> None:
    """A case accepted an hour before the worker's clock start with one working day: its
    deadlines lie days ahead. A `step_completed` stamped three weeks ahead would, trusted,
    fire its warning, overdue and statutory overdue at once; it goes to the dead letters.
    A `supplement_requested` stamped 09:01 (at most a minute ahead of the session
    worker's clock, which started at 09:00) is within the tolerance and applied."""
    case = f"451221-2026-8{uuid.uuid4().int % 10**6:06d}"
    accepted = event_doc(
        "accepted",
        "2026-11-27T08:00:00+08:00",
        case_id=case,
        item_code="451221-XK-0042",
        promised_limit={"value": 1, "unit": "working_day"},
        statutory_limit={"value": 2, "unit": "working_day"},
    )
    future = event_doc("step_completed", "2026-12-18T09:00:00+08:00", case_id=case, step="review")
    near = [
        event_doc(
            "supplement_requested",
            at,
            case_id=case,
            missing_materials=["营业执照"],
        )
        for at in ("2026-11-27T08:30:00+08:00", "2026-11-27T09:01:00+08:00")
    ]
    before = worker_total(worker.web_port, "supervisor_worker_events_rejected_total")
    await produce(worker.bootstrap, worker.events, [(case, accepted), (case, future)])
    await produce(worker.bootstrap, worker.events, [(case, d) for d in near])

    def mine(records: list[Any]) -> list[Any]:
        return [r for r in records if r.key == case.encode()]

    dead = mine(await collect(worker.bootstrap, worker.dlq, lambda rs: bool(mine(rs)), timeout=60))
    records = await collect(
        worker.bootstrap,
        worker.alerts,
        lambda rs: any(a.get("case_id") == case for a in alerts_of(rs)),
        timeout=60,
    )
    await asyncio.sleep(3)  # anything the future event might have fired would be there
    records = await collect(worker.bootstrap, worker.alerts, lambda rs: False, timeout=3)
    raised = [a for a in alerts_of(records) if a.get("case_id") == case]
    assert [a["alert_id"] for a in raised] == [f"supplement.repeated:{case}"]
    assert raised[0]["raised_at"] == "2026-11-27T09:01:00+08:00"  # near the clock: applied
    assert len(dead) == 1 and json.loads(dead[0].value) == future
    reason = dict(dead[0].headers)["reason"].decode()
    assert re.fullmatch(
        r"from the future: occurred_at is 20 d \d+ h \d+ min \d+ s "
        r"ahead of the worker's clock \(2026-11-27T\d\d:\d\d:\d\d\+08:00\); "
        r"at most 5 min ahead is accepted",
        reason,
    ), reason
    assert worker_total(worker.web_port, "supervisor_worker_events_rejected_total") == before + 1
    future_rejected = metric_sample(
        worker.web_port, "supervisor_worker_events_rejected_total", 'reason="future"'
    )
    assert future_rejected is None or future_rejected >= 1
    assert CLOCK_START.startswith("2026-11-27T09:00")  # the clock the times above assume


def metric_sample(port: int, name: str, labels: str) -> float | None:
    """One labelled sample of a metric (None when the worker does not export it)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
        text = response.read().decode()
    match = re.search(
        rf"^{re.escape(name)}\{{[^}}]*{re.escape(labels)}[^}}]*\}} (\S+)$", text, re.M
    )
    return float(match.group(1)) if match else None
