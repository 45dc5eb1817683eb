"""Scale-out on the real broker (issue 6, item 4): workers of one consumer group share the
partitions; one is killed mid-stream (SIGKILL: no shutdown, no last commit) and another
joins later; partitions move, each case's state is recovered from the changelog, and the
alerts topic ends up with exactly the alert ids `supervisor replay` gives for the same
events: none missing, none extra, each with the same content.

Two workers `a` and `b` (one app id, so one consumer group; their own data directories
and web ports) start on six partitions and split them (read from each worker's log: the
"newly assigned partitions" table Faust writes at every rebalance). A realistic stream
(simulated stories of many Hechi centers and the hand-made cases of
test_replay_parity.py, about 2,000 events; each case's events sent together, cases in
random order) goes out in batches. A third of the way in, `a` is SIGKILLed while it
handles the stream; the stream goes on while `b` waits for the group to notice (the
session timeout, 10 s here through Faust's `BROKER_SESSION_TIMEOUT`; 60 s by default)
and takes every partition over. Two thirds in, `c` starts and joins: partitions move
from `b` to `c` while events keep arriving.

As in test_replay_parity.py every event lies before the workers' clock start and no
deadline falls within an hour after it, so the workers' running clocks fire exactly the
deadlines replay's `--until` fires.

What this test found, and what makes it pass (supervisor/worker/continuity.py and the
agent's tick check in app.py): around a rebalance faust-streaming 0.15 can skip a few
events of a partition and acknowledge them (lost for good: a false `workflow.no_decision`,
a missing `evaluation.negative`), and a worker can still send ticks for cases whose
partition just moved, which the new owner fired before it had read the case's last
events (false deadline alerts, then resolved). The agent now reads any gap in a
partition's offsets back from the broker, and a tick another worker sent is judged by
the receiving worker's own timer and gate. Each run prints how many gaps were read back.

At-least-once: a worker publishes an alert and waits for the broker's acknowledgement
before it writes the case state that records it, so a worker killed in between leaves
an alert whose state the next owner does not have: the next owner raises it again, with
the same id and the same content. Such topic-level copies are allowed (readers
de-duplicate by alert_id; README "Operations") and counted in the test's output; a copy
with a different content, an id replay does not give, or a missing id fails the test.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from supervisor.kafka.admin import ensure_topics
from supervisor.settings import Settings
from supervisor.worker.main import topics
from tests.processes import kill, spawn, terminate

from .conftest import CLOCK_START, wait_ready, worker_env, worker_total
from .kafka_io import alerts_of, collect, collect_until_quiet, produce_paced, wait_for
from .test_replay_parity import (
    CLOCK,
    MARGIN,
    Output,
    assert_same_alerts,
    crafted_events,
    reference_timers,
    simulated_events,
    through_replay,
    write_lines,
)

pytestmark = pytest.mark.integration

Doc = dict[str, Any]

PARTITIONS = 6
#: How soon the group notices a killed worker (Faust reads these from the environment);
#: the defaults (60 s session) would make a test wait a minute for the failover.
FAILOVER = {
    "BROKER_SESSION_TIMEOUT": "10",
    "BROKER_HEARTBEAT_INTERVAL": "1",
    "BROKER_REBALANCE_TIMEOUT": "20",
}
#: Cases per batch and seconds between batches: about 25 s of stream for 2,000 events.
BATCH_CASES = 8
INTERVAL = 0.5


# -- the stream -----------------------------------------------------------------------


def stream_events() -> list[Doc]:
    """test_replay_parity's set and two more simulated months, distinct cases each."""
    sources = [simulated_events(2026), crafted_events(), simulated_events(7), simulated_events(5)]
    owner: dict[str, int] = {}
    for number, docs in enumerate(sources):
        for doc in docs:
            assert owner.setdefault(doc["case_id"], number) == number, doc["case_id"]
    return [doc for docs in sources for doc in docs]


def batches_of(docs: Sequence[Doc], seed: int) -> list[list[tuple[str, bytes]]]:
    """Each case's events together and in order (a center sends a case's story, or a
    township its day, at once), cases in random order, a few cases per batch."""
    cases: dict[str, list[Doc]] = {}
    for doc in docs:
        cases.setdefault(doc["case_id"], []).append(doc)
    order = list(cases)
    random.Random(seed).shuffle(order)
    batches = []
    for start in range(0, len(order), BATCH_CASES):
        batches.append(
            [
                (case, json.dumps(doc, ensure_ascii=False).encode())
                for case in order[start : start + BATCH_CASES]
                for doc in cases[case]
            ]
        )
    return batches


# -- the workers ----------------------------------------------------------------------


def parse_partitions(text: str) -> set[int]:
    """`0-2,4` (Faust's abbreviation of a partition set) -> {0, 1, 2, 4}."""
    found: set[int] = set()
    for part in filter(None, (p.strip() for p in text.split(","))):
        first, _, last = part.partition("-")
        found.update(range(int(first), int(last or first) + 1))
    return found


@dataclass
class Node:
    """One `supervisor worker` process of the group."""

    name: str
    env: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def port(self) -> int:
        return int(self.env["SUPERVISOR_WORKER_WEB_PORT"])

    def start(self) -> None:
        self.process = spawn(["worker", "--clock-start", CLOCK_START], self.env, self.log)

    def wait_ready(self, timeout: float = 90) -> None:
        assert self.process is not None
        url = f"http://127.0.0.1:{self.port}/healthz"
        assert wait_ready(url, self.process, timeout), f"{self.name} not ready:\n{self.tail()}"

    def owned(self, topic: str) -> set[int] | None:
        """The events partitions of the latest assignment in the log (None: none yet)."""
        tables = self.log_text().split("Setting newly assigned partitions")[1:]
        if not tables:
            return None
        table = tables[-1].split(" for group ")[0]
        match = re.search(rf"^\|\s*{re.escape(topic)}\s*\|\s*\{{([^}}]*)\}}", table, re.M)
        return parse_partitions(match.group(1)) if match else set()

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self) -> None:
        if self.process is not None:
            terminate(self.process)

    def tail(self) -> str:
        return self.log_text()[-3000:]


async def assigned(nodes: Sequence[Node], topic: str, expected: Sequence[set[int]]) -> bool:
    """Wait until each node's latest assignment is what `expected` says for it."""

    def matches() -> bool:
        return all(node.owned(topic) == want for node, want in zip(nodes, expected, strict=True))

    return await wait_for(matches, 90, every=0.5)


async def shared(nodes: Sequence[Node], topic: str) -> bool:
    """Wait until the nodes own disjoint, non-empty sets of events partitions that
    together cover all of them."""

    def split() -> bool:
        owned = [node.owned(topic) for node in nodes]
        if any(not parts for parts in owned):
            return False
        union = set().union(*(p for p in owned if p))
        return union == set(range(PARTITIONS)) and sum(map(len, owned)) == PARTITIONS  # type: ignore[arg-type]

    return await wait_for(split, 90, every=0.5)


# -- the test -------------------------------------------------------------------------


def test_the_stream_is_clear_of_the_clock() -> None:
    """The comparison's preconditions, in-process: every event before the workers' clock
    start, no deadline racing it, enough cases and rules for the comparison to mean much."""
    docs = stream_events()
    assert len(docs) >= 1500 and len({d["case_id"] for d in docs}) >= 250
    assert max(datetime.fromisoformat(d["occurred_at"]) for d in docs) < CLOCK
    rules, pending = reference_timers(docs)
    assert len(set(rules)) >= 10
    racing = [(i, due) for i, due in pending if due < CLOCK + MARGIN]
    assert not racing, f"deadlines racing the workers' clock: {racing}"


async def test_workers_share_partitions_survive_a_kill_and_a_join(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    docs = stream_events()
    lines = [json.dumps(d, ensure_ascii=False) for d in docs]
    expected, _ = through_replay(write_lines(tmp_path / "events.jsonl", lines))

    run = f"scale-{uuid.uuid4().hex[:8]}"
    nodes = []
    for name in ("a", "b", "c"):
        env = {
            **worker_env(kafka_bootstrap, tmp_path / name, run),
            **FAILOVER,
            "SUPERVISOR_PARTITIONS": str(PARTITIONS),
        }
        nodes.append(Node(name, env, tmp_path / f"{name}.log"))
    a, b, c = nodes
    settings = Settings.from_env(a.env)
    events_topic = settings.topic_events
    await ensure_topics(settings.bootstrap_servers, topics(settings))

    batches = batches_of(docs, seed=6)
    kill_at, join_at = len(batches) // 3, 2 * len(batches) // 3
    marks: dict[str, float] = {}

    async def orchestrate(number: int) -> None:
        if number == kill_at:
            # mid-stream: a has handled the batches before this one and is handling this
            # one when the signal comes (sent right after this hook), alerts in flight
            assert worker_total(a.port, "supervisor_worker_events_consumed_total") > 0

            delay = random.uniform(0.05, 0.4)  # any moment must do

            def crash() -> None:
                assert a.process is not None
                kill(a.process)
                marks["killed"], marks["killed at"] = time.monotonic(), time.time()
                print(f"a SIGKILLed {delay:.2f}s into batch {number} of {len(batches)}")

            asyncio.get_running_loop().call_later(delay, crash)
        if number == join_at:
            # b must have taken a's partitions over; the stream waits for that if needed
            assert await assigned([b], events_topic, [set(range(PARTITIONS))]), b.tail()
            marks["taken over"] = time.monotonic()
            c.start()  # joins while the stream goes on
            print(
                f"b took every partition over {marks['taken over'] - marks['killed']:.1f}s "
                f"after the kill; c starts before batch {number}"
            )

    try:
        began = time.monotonic()
        a.start()
        a.wait_ready()
        b.start()
        b.wait_ready()
        assert await shared([a, b], events_topic), a.tail() + b.tail()
        print(f"a owns {a.owned(events_topic)}, b owns {b.owned(events_topic)}")

        await produce_paced(
            settings.bootstrap_servers, events_topic, batches, INTERVAL, orchestrate
        )
        produced = time.monotonic()
        assert await shared([b, c], events_topic), b.tail() + c.tail()
        print(
            f"stream of {len(docs)} events in {len(batches)} batches: "
            f"{produced - began:.1f}s after start; b owns {b.owned(events_topic)}, "
            f"c owns {c.owned(events_topic)}"
        )

        def complete(records: list[Any]) -> bool:
            return set(expected.alerts) <= {a["alert_id"] for a in alerts_of(records)}

        await collect(settings.bootstrap_servers, settings.topic_alerts, complete, timeout=150)
        records = await collect_until_quiet(
            settings.bootstrap_servers,
            settings.topic_alerts,
            not_before=time.monotonic() + settings.settle_seconds + 1,
            quiet=5,
        )
        dead = await collect(settings.bootstrap_servers, settings.topic_dlq, lambda rs: False, 3)
    finally:
        for node in nodes:
            node.stop()
    print(f"done {time.monotonic() - began:.1f}s after start")

    found = Output.of(alerts_of(records), "alerts topic")  # same content across copies
    copies = Counter(  # alerts only: a resolution or a case change travels under its id
        a["alert_id"]
        for a in alerts_of(records)
        if a.get("status") != "resolved" and a.get("kind") != "case_change"
    )
    again = sorted(ident for ident, n in copies.items() if n > 1)
    killed_ms = marks["killed at"] * 1000
    before_kill = {  # a copy acknowledged before the kill: a published it, b or c again
        a["alert_id"] for a in alerts_of(r for r in records if r.timestamp < killed_ms)
    }
    read_back = sum(node.log_text().count("never reached the agent") for node in nodes)
    print(
        f"{found.records} records on the alerts topic, {len(found.alerts)} alert ids "
        f"(replay: {len(expected.alerts)}), {len(found.resolutions)} resolutions; "
        f"topic-level duplicates: {sum(copies[i] for i in again) - len(again)} "
        f"({[(i, 'first copy before the kill' if i in before_kill else 'after') for i in again]}); "
        f"gaps read back after a rebalance: {read_back}"
    )
    assert not dead, f"{len(dead)} dead letters: {[r.headers for r in dead][:5]}"
    assert_same_alerts(found, expected)
