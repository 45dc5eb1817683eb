"""The read model survives SIGKILL mid-stream, exactly once in effect (docs/history.md).

On the real broker, a real `supervisor web` projects a stream of some 50,000 records
(the alert journal: alerts, lifecycle changes, a few malformed records; case facts; case
events, a few invalid) into a real PostgreSQL, and once into a SQLite file. It is killed
with SIGKILL twice, and started again each time. After each kill the database must hold
exactly what the records below its stored offsets make: the rows and the offsets of a
batch are committed together or not at all. Restarted after the last kill, it must
reach the topics' ends and hold every row once: each alert, with its final status, each
history entry, fact, case and event, and nothing of the malformed records; and it must
have read only the records after the stored offsets (its own counters say how many).

Two instants are aimed at, at two points of the stream: while a batch is being written
(PostgreSQL: a transaction of the web service holds a transaction id, i.e. has written
rows not yet committed; SQLite: the web service holds the write lock), and the moment a
batch's rows are seen committed (the row counts move). The test waits for the instant
after the chosen point and kills then; it fails if the instant never comes, rather than
kill at another one.

What would make it fail (checked once by hand, with Projection.apply patched in the
web service's process, since the product code is not this test's to change):

- offsets committed in a transaction of their own *before* the batch's rows: the kill
  while writing loses the batch. Right after the kill the alerts, history, facts and
  events of that batch are missing though the offsets cover them; and after the
  restart, which reads from those offsets, they are missing for good (the final check
  alone fails too, naming them).
- offsets committed *after* the rows, separately: the kill at a commit leaves rows the
  offsets do not cover ("not covered by the stored offsets"). The keys would make the
  re-read harmless at the end, so only the check right after the kill sees it; and it
  sees it only when the kill falls between the two commits, which the "committed"
  instant makes likely when the two are apart.
- a table whose rows are not keyed by what they come from (a history entry numbered by
  the database rather than by its journal position): a batch read twice doubles them,
  which the "twice" checks report.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sqlite3
import subprocess
import time
import urllib.request
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Final

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.structs import RecordMetadata
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from supervisor.auth import TokenStore
from supervisor.kafka.admin import ensure_topics
from supervisor.store.db import async_url
from supervisor.store.schema import (
    alert_early,
    alert_history,
    alerts,
    case_events,
    case_facts,
    cases,
    positions,
)
from supervisor.web.journal import lifecycle_record
from tests.databases import PostgresCluster
from tests.processes import kill, spawn, terminate
from tests.web.test_hub import make_alert

from .conftest import free_port

pytestmark = pytest.mark.integration

#: Alerts in the journal; with their changes (1.5 an alert) and a few malformed records,
#: 35,006 records.
ALERTS: Final = 14_000
#: Alerts between one and its next change: a change falls in another batch than its
#: alert (a batch is at most 5,000 records), so the alert's state is read back from the
#: database, and kills fall between an alert and its changes.
LAG: Final = 2_500
#: Cases with facts (1 to 3 facts each, some sent twice, a few unreadable): ~6,700 records.
FACT_CASES: Final = 3_200
#: Cases with events (the contract's 21 examples each, some twice, a few invalid): ~9,000.
EVENT_CASES: Final = 420
#: Partitions of the facts and events topics (the journal has one: its offsets are
#: the alerts' positions).
PARTITIONS: Final = 3
#: Each kill: where in the stream (share of all records committed) it is aimed, and at
#: which instant: while a batch is being written ("writing"), or the moment a batch's
#: rows are seen committed ("committed").
KILLS: Final = ((0.12, "writing"), (0.55, "committed"))
#: Seconds allowed for the projection to reach a kill point, or the end.
PROGRESS_TIMEOUT: Final = 60.0
#: The test's own connections to PostgreSQL, told apart from the web service's.
APPLICATION_NAME: Final = "read-model-kill-test"

CST: Final = timezone(timedelta(hours=8))
BY: Final = {"name": "王监察", "role": "inspector"}
AT: Final = datetime(2026, 11, 28, 9, 0, tzinfo=CST)
EXAMPLES: Final = Path(__file__).resolve().parents[1] / "fixtures" / "contract-examples.jsonl"
#: Personal data of the examples: never stored unmasked.
PERSONAL: Final = ("452727198805060021", "13977881234", "李小梅")
CENTERS: Final = ("451221", "451222", "451200")
#: The event ids of the messages in the events topic that are not contract events.
INVALID_EVENT_IDS: Final = frozenset(f"bad-{m}" for m in range(EVENT_CASES) if m % 100 == 50)

TopicPartition = tuple[str, int]
FactKey = tuple[str, str, datetime]  # case_id, event_type, occurred_at (naive UTC)
EventKey = tuple[str, str]  # case_id, event_id


# -- the stream ---------------------------------------------------------------------------


@dataclass
class Change:
    """One lifecycle record: where it is, and the alert's status after it (None: the
    journal refuses it, so it leaves no history)."""

    alert_id: str
    record: dict[str, Any]
    after: tuple[str, str | None] | None
    offset: int = -1


@dataclass
class Stream:
    """What was produced, where each record landed, and so what any prefix of the topics
    must become in the read model (`expected`)."""

    journal: str
    facts: str
    events: str
    dlq: str
    ends: dict[TopicPartition, int] = field(default_factory=dict)
    alert_offsets: dict[str, int] = field(default_factory=dict)
    changes: list[Change] = field(default_factory=list)
    #: each distinct fact: where its first copy is, and the case status it carries
    facts_at: dict[FactKey, tuple[int, int, str]] = field(default_factory=dict)
    #: each distinct valid event: where its first copy is
    events_at: dict[EventKey, tuple[int, int]] = field(default_factory=dict)
    malformed_alert_ids: set[str] = field(default_factory=set)
    malformed_case_ids: set[str] = field(default_factory=set)
    lifecycle_records: int = 0  # every lifecycle record produced, refused ones included

    @property
    def total(self) -> int:
        return sum(self.ends.values())

    def expected(self, at: dict[TopicPartition, int]) -> Snapshot:
        """What the records below `at` (next offset of each partition) make."""
        journal = at.get((self.journal, 0), 0)
        statuses: dict[str, tuple[str, str | None]] = {
            alert_id: ("open", None)
            for alert_id, offset in self.alert_offsets.items()
            if offset < journal
        }
        history: list[tuple[str, int]] = []
        early: list[tuple[str, int]] = []
        for change in sorted(self.changes, key=lambda c: c.offset):
            if change.after is None or change.offset >= journal:
                continue
            if change.alert_id not in statuses:
                early.append((change.alert_id, change.offset))  # its alert comes later
                continue
            statuses[change.alert_id] = change.after
            history.append((change.alert_id, change.offset))
        facts: list[FactKey] = []
        case_status: dict[str, tuple[int, str]] = {}
        for key, (partition, offset, status) in self.facts_at.items():
            if offset < at.get((self.facts, partition), 0):
                facts.append(key)
                case_status[key[0]] = max(case_status.get(key[0], (-1, "")), (offset, status))
        events = [
            key
            for key, (partition, offset) in self.events_at.items()
            if offset < at.get((self.events, partition), 0)
        ]
        return Snapshot(
            positions={tp: n for tp, n in at.items() if n},
            alerts=statuses,
            history=sorted(history),
            early=sorted(early),
            facts=sorted(facts),
            cases={case: status for case, (_, status) in case_status.items()},
            events=sorted(events),
        )


@dataclass
class Snapshot:
    """The read model's rows that matter here, keys as lists (duplicates would show)."""

    positions: dict[TopicPartition, int]
    alerts: dict[str, tuple[str, str | None]]  # id -> (status, disposition)
    history: list[tuple[str, int]]
    early: list[tuple[str, int]]
    facts: list[FactKey]
    cases: dict[str, str]
    events: list[EventKey]
    alert_rows: int = -1  # rows counted, to compare with the distinct ids
    case_rows: int = -1


def _changes(alert_id: str, plan: int) -> list[Change]:
    """The lifecycle records of an alert by its plan (`n % 8`), with the status each
    leaves. Plan 4's second record is refused (a resolved alert cannot be acknowledged);
    plan 5 returns to `open` from the state the appeal saved; plan 7's change is sent
    before its alert (it waits in `alert_early`)."""

    def record(action: Any, **extra: Any) -> dict[str, Any]:
        extra.setdefault("note", f"{action} {alert_id}")
        return lifecycle_record(alert_id, action, by=BY, at=AT, **extra)

    plans: dict[int, list[tuple[dict[str, Any], tuple[str, str | None] | None]]] = {
        0: [],
        1: [(record("acknowledge"), ("acknowledged", None))],
        2: [
            (record("acknowledge"), ("acknowledged", None)),
            (record("resolve", disposition="verified"), ("resolved", "verified")),
        ],
        3: [(record("resolve", disposition="false_alarm"), ("resolved", "false_alarm"))],
        4: [
            (record("resolve", disposition="rectified"), ("resolved", "rectified")),
            (record("acknowledge"), None),
        ],
        5: [
            (record("appeal", reason="系统误报，已补正材料"), ("appealed", None)),
            (record("reject_appeal", note="申诉不成立"), ("open", None)),
        ],
        6: [
            (record("acknowledge"), ("acknowledged", None)),
            (record("appeal", reason="已按时办结"), ("appealed", None)),
            (record("accept_appeal"), ("withdrawn", None)),
        ],
        7: [(record("acknowledge"), ("acknowledged", None))],
    }
    return [Change(alert_id, r, after) for r, after in plans[plan]]


def _alert(n: int) -> dict[str, Any]:
    """Alert number `n` (ids unique by `n`), of one of three centers, red or yellow."""
    return make_alert(n, severity="yellow" if n % 3 else "red", center_id=CENTERS[n % 3])


def _journal(stream: Stream) -> list[tuple[str, bytes, Change | str | None]]:
    """The journal's records in order: (key, value, what it is: a Change, an alert id,
    or None for a malformed record)."""
    slots: dict[int, list[Change]] = {}
    for n in range(ALERTS):
        alert_id = _alert(n)["alert_id"]
        changes = _changes(alert_id, n % 8)
        if n % 8 == 7 and n >= LAG:  # sent before its alert
            slots.setdefault(n - LAG, []).extend(changes)
            continue
        for step, change in enumerate(changes, start=1):
            slots.setdefault(n + step * LAG, []).append(change)
    naive = {**make_alert(ALERTS + 1), "raised_at": "2026-11-02T10:00:00"}  # no UTC offset
    bad_action = {
        **lifecycle_record(_alert(0)["alert_id"], "acknowledge", by=BY, at=AT),
        "action": "delete",
    }
    malformed: dict[int, list[bytes]] = {
        ALERTS // 4: [b"not json {", b"[]"],
        ALERTS // 2: [json.dumps(naive).encode(), json.dumps(bad_action).encode()],
        3 * ALERTS // 4: [b"", b"\xff\xfe\x00"],
    }
    stream.malformed_alert_ids.add(naive["alert_id"])
    out: list[tuple[str, bytes, Change | str | None]] = []
    for n in range(max(slots) + 1):
        for change in slots.get(n, []):
            out.append((change.alert_id, _dumps(change.record), change))
        for value in malformed.get(n, []):
            out.append(("malformed", value, None))
        if n < ALERTS:
            alert = _alert(n)
            out.append((alert["alert_id"], _dumps(alert), alert["alert_id"]))
    return out


def _facts() -> list[tuple[str, bytes | None, tuple[FactKey, str] | None]]:
    """Facts of FACT_CASES cases, sent step by step (all first facts, then the second
    ones...), so a case's facts fall in different batches; every tenth case's last fact
    is sent twice (the worker may do so; the reader de-duplicates); and a few that
    cannot be read."""
    steps: list[list[tuple[str, dict[str, Any]]]] = [[], [], [], []]
    for m in range(FACT_CASES):
        case_id = f"451221-2026-9{m:06d}"
        submitted = datetime(2026, 11, 2, 9, 0, tzinfo=CST) + timedelta(minutes=m)
        accepted = submitted + timedelta(hours=2)
        path: list[tuple[str, datetime, str]] = [("submitted", submitted, "received")]
        if m % 4 in (1, 2):
            path.append(("accepted", accepted, "open"))
        if m % 4 == 2:
            path.append(("concluded", accepted + timedelta(days=2), "concluded"))
        if m % 4 == 3:
            path.append(("not_accepted", submitted + timedelta(hours=1), "not_accepted"))
        if m % 10 == 0:
            path.append(path[-1])  # sent again
        for number, (event_type, at, status) in enumerate(path):
            steps[number].append(
                (
                    case_id,
                    {
                        "case_id": case_id,
                        "center_id": "451221",
                        "event_type": event_type,
                        "occurred_at": at.isoformat(),
                        "status": status,
                        "accepted_at": accepted.isoformat() if status != "received" else None,
                        "concluded_at": at.isoformat() if status == "concluded" else None,
                        "deadline": (accepted + timedelta(days=7)).isoformat(),
                        "on_time": True if status == "concluded" else None,
                        "department": "南丹县市场监督管理局",
                        "window_id": "W12",
                        "staff_id": "nd-0107",
                    },
                )
            )
    out: list[tuple[str, bytes | None, tuple[FactKey, str] | None]] = []
    for step in steps:
        for case_id, fact in step:
            at = datetime.fromisoformat(fact["occurred_at"]).astimezone(UTC).replace(tzinfo=None)
            out.append((case_id, _dumps(fact), ((case_id, fact["event_type"], at), fact["status"])))
        bogus = {**step[0][1], "case_id": f"malformed-fact-{len(out)}", "status": "bogus"}
        naive = {**step[0][1], "case_id": f"malformed-fact-{len(out) + 1}"}
        naive["occurred_at"] = "2026-11-02T09:00:00"
        out += [(bogus["case_id"], _dumps(bogus), None), (naive["case_id"], _dumps(naive), None)]
        out.append(("malformed-fact", b"{not json", None))
    return out


def _events() -> list[tuple[str, bytes | None, EventKey | None]]:
    """The contract's 21 examples for each of EVENT_CASES cases (new case and event ids,
    the rest as sent: personal data included, to be masked), every 50th sent twice, and
    a few that are not contract events (the worker dead-letters them)."""
    examples = [json.loads(line) for line in EXAMPLES.read_text(encoding="utf-8").splitlines()]
    out: list[tuple[str, bytes | None, EventKey | None]] = []
    for m in range(EVENT_CASES):
        for example in examples:
            event = {
                **example,
                "case_id": f"{example['center_id']}-2026-8{m:06d}",
                "event_id": f"{example['event_id']}-{m}",
            }
            key = (event["case_id"], event["event_id"])
            out.append((event["case_id"], _dumps(event), key))
            if len(out) % 50 == 0:
                out.append((event["case_id"], _dumps(event), key))
        if m % 100 == 50:
            untyped = {**examples[0], "case_id": f"malformed-case-{m}", "event_id": f"bad-{m}"}
            del untyped["type"]
            out += [
                (untyped["case_id"], _dumps(untyped), None),
                (f"malformed-case-{m}-raw", b"\x00garbage", None),
                (f"malformed-case-{m}-none", None, None),
            ]
    return out


def _dumps(document: dict[str, Any]) -> bytes:
    return json.dumps(document, ensure_ascii=False).encode()


async def _produce(
    bootstrap: str, messages: list[tuple[str, str, bytes | None]]
) -> list[RecordMetadata]:
    """Send (topic, key, value) in order, pipelined (an idempotent producer keeps each
    partition's order); where each one landed."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=True,
        linger_ms=20,
        max_batch_size=256 * 1024,
    )
    await producer.start()
    try:
        pending = [await producer.send(t, key=k.encode(), value=v) for t, k, v in messages]
        return list(await asyncio.gather(*pending))
    finally:
        await producer.stop()


@pytest.fixture(scope="module")
async def stream(kafka_bootstrap: str) -> Stream:
    """The three topics of this module, made and filled once; each test reads them into
    a database of its own from offset 0 (the projection has no consumer group)."""
    run = uuid.uuid4().hex[:8]
    made = Stream(
        journal=f"alerts-kill-{run}",
        facts=f"case-facts-kill-{run}",
        events=f"case-events-kill-{run}",
        dlq=f"case-events-kill-{run}.dlq",
    )
    await ensure_topics(
        kafka_bootstrap,
        {made.journal: 1, made.facts: PARTITIONS, made.events: PARTITIONS, made.dlq: 1},
    )
    journal, facts, events = _journal(made), _facts(), _events()
    messages: list[tuple[str, str, bytes | None]] = [(made.journal, k, v) for k, v, _ in journal]
    messages += [(made.facts, key, value) for key, value, _ in facts]
    messages += [(made.events, key, value) for key, value, _ in events]
    landed = await _produce(kafka_bootstrap, messages)
    for meta in landed:
        tp = (meta.topic, meta.partition)
        made.ends[tp] = max(made.ends.get(tp, 0), meta.offset + 1)
    journal_at, facts_at, events_at = (
        landed[: len(journal)],
        landed[len(journal) : len(journal) + len(facts)],
        landed[len(journal) + len(facts) :],
    )
    for (_, _, what), meta in zip(journal, journal_at, strict=True):
        if isinstance(what, Change):
            what.offset = meta.offset
            made.changes.append(what)
            made.lifecycle_records += 1
        elif isinstance(what, str):
            made.alert_offsets[what] = meta.offset
    for (key, _, fact), meta in zip(facts, facts_at, strict=True):
        if fact is None:
            made.malformed_case_ids.add(key)
        elif fact[0] not in made.facts_at:
            made.facts_at[fact[0]] = (meta.partition, meta.offset, fact[1])
    for (key, _, event), meta in zip(events, events_at, strict=True):
        if event is None:
            made.malformed_case_ids.add(key)
        elif event not in made.events_at:
            made.events_at[event] = (meta.partition, meta.offset)
    # the journal's offsets are positions from 0: a fresh topic with nothing else in it
    assert made.ends[(made.journal, 0)] == len(journal)
    assert len(made.alert_offsets) == ALERTS
    return made


# -- the database -------------------------------------------------------------------------


@dataclass
class Backend:
    """The read model's database of one test, and the test's own engine on it."""

    url: str
    engine: AsyncEngine
    sqlite_path: Path | None = None

    @property
    def postgresql(self) -> bool:
        return self.sqlite_path is None

    async def committed(self) -> dict[TopicPartition, int]:
        """The stored positions ({} before the web service created the tables)."""
        try:
            async with self.engine.connect() as connection:
                result = await connection.execute(select(positions))
                return {(r.topic, r.partition): r.next_offset for r in result}
        except Exception:  # no tables yet: it is migrating
            return {}

    async def writing(self) -> bool:
        """Whether the web service is in the middle of writing a batch right now:
        PostgreSQL: one of its transactions has a transaction id (it wrote rows not yet
        committed); SQLite: it holds the write lock (ours cannot be taken)."""
        if self.sqlite_path is not None:
            probe = sqlite3.connect(self.sqlite_path, timeout=0, isolation_level=None)
            try:
                probe.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError:  # database is locked: the writer is in
                return True
            else:
                probe.execute("ROLLBACK")
                return False
            finally:
                probe.close()
        async with self.engine.connect() as connection:
            found = await connection.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                    " AND application_name <> :me AND backend_xid IS NOT NULL"
                ),
                {"me": APPLICATION_NAME},
            )
            return bool(found)

    async def rows(self) -> int:
        """Rows of the tables every batch writes to (alerts, history, facts, events)."""
        async with self.engine.connect() as connection:
            found = await connection.scalar(
                text(
                    "SELECT (SELECT count(*) FROM alerts) + (SELECT count(*) FROM alert_history)"
                    " + (SELECT count(*) FROM case_facts) + (SELECT count(*) FROM case_events)"
                )
            )
            return int(found or 0)

    async def others_gone(self) -> bool:
        """PostgreSQL: no session of the killed web service is left (its open
        transaction rolled back); SQLite has no server side."""
        if not self.postgresql:
            return True
        async with self.engine.connect() as connection:
            left = await connection.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                    " AND application_name <> :me"
                ),
                {"me": APPLICATION_NAME},
            )
            return not left

    async def snapshot(self) -> Snapshot:
        """The rows, read in one consistent snapshot."""
        async with self.engine.connect() as connection:
            if self.postgresql:
                connection = await connection.execution_options(isolation_level="REPEATABLE READ")
            async with connection.begin():
                return await _read(connection)


async def _read(connection: AsyncConnection) -> Snapshot:
    found = await connection.execute(select(positions))
    at = {(r.topic, r.partition): r.next_offset for r in found}
    rows = (
        await connection.execute(select(alerts.c.alert_id, alerts.c.status, alerts.c.disposition))
    ).all()
    history = await connection.execute(select(alert_history.c.alert_id, alert_history.c.seq))
    early = await connection.execute(select(alert_early.c.alert_id, alert_early.c.seq))
    facts = await connection.execute(
        select(case_facts.c.case_id, case_facts.c.event_type, case_facts.c.occurred_at)
    )
    case_rows = (await connection.execute(select(cases.c.case_id, cases.c.status))).all()
    events = await connection.execute(select(case_events.c.case_id, case_events.c.event_id))
    return Snapshot(
        positions={tp: n for tp, n in at.items() if n},
        alerts={r.alert_id: (r.status, r.disposition) for r in rows},
        history=sorted((r.alert_id, r.seq) for r in history),
        early=sorted((r.alert_id, r.seq) for r in early),
        facts=sorted((r.case_id, r.event_type, r.occurred_at) for r in facts),
        cases={r.case_id: r.status for r in case_rows},
        events=sorted((r.case_id, r.event_id) for r in events),
        alert_rows=len(rows),
        case_rows=len(case_rows),
    )


@pytest.fixture(params=["postgresql", "sqlite"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    """A fresh database: one of the session's PostgreSQL cluster, or a SQLite file."""
    if request.param == "sqlite":
        path = tmp_path / "read-model.db"
        url = f"sqlite:///{path}"
        engine = create_async_engine(async_url(url))
        try:
            yield Backend(url, engine, sqlite_path=path)
        finally:
            await engine.dispose()
        return
    cluster: PostgresCluster = request.getfixturevalue("postgres")
    name = f"kill_{uuid.uuid4().hex[:12]}"
    url = cluster.create_database(name)
    engine = create_async_engine(
        async_url(url),
        connect_args={"server_settings": {"application_name": APPLICATION_NAME}},
    )
    try:
        yield Backend(url, engine)
    finally:
        await engine.dispose()
        cluster.drop_database(name)


# -- the web service ----------------------------------------------------------------------


@dataclass
class Web:
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


def _start(env: dict[str, str], log: Path) -> Web:
    port = free_port()
    process = spawn(["web"], {**env, "SUPERVISOR_WEB_PORT": str(port)}, log)
    return Web(process, port, log)


@pytest.fixture
def web_env(
    stream: Stream, backend: Backend, kafka_bootstrap: str, tmp_path: Path
) -> dict[str, str]:
    """The web service's environment: this module's topics, this test's database."""
    return {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "SUPERVISOR_TOPIC_ALERTS": stream.journal,
        "SUPERVISOR_TOPIC_FACTS": stream.facts,
        "SUPERVISOR_TOPIC_EVENTS": stream.events,
        "SUPERVISOR_TOPIC_DLQ": stream.dlq,
        "SUPERVISOR_APP_ID": f"supervisor-kill-{uuid.uuid4().hex[:8]}",
        "SUPERVISOR_DATA_DIR": str(tmp_path / "data"),
        "SUPERVISOR_TOKENS_FILE": str(tmp_path / "tokens.json"),
        "SUPERVISOR_DATABASE_URL": backend.url,
    }


async def _progress_to(
    backend: Backend, stream: Stream, web: Web, share: float, instant: str
) -> dict[TopicPartition, int]:
    """Wait until at least `share` of the records are committed (the journal's partition
    started), then for the `instant` to kill at: the web service writing a batch
    ("writing"), or the rows of its next batch committed ("committed"); return the
    positions seen before. Fails if it dies, or gets to the end first (then the stream
    is too short for this machine)."""
    deadline = time.monotonic() + PROGRESS_TIMEOUT
    at: dict[TopicPartition, int] = {}
    while True:
        assert web.process.poll() is None, f"the web service died:\n{web.tail()}"
        assert time.monotonic() < deadline, f"no progress to {share:.0%}: {at}\n{web.tail()}"
        at = await backend.committed()
        done = sum(at.values())
        assert done < stream.total, (
            "the projection finished before the kill: make the stream longer"
        )
        if at.get((stream.journal, 0), 0) > 0 and done >= share * stream.total:
            break
        await asyncio.sleep(0.02)
    if instant == "writing":
        while not await backend.writing():
            assert web.process.poll() is None, f"the web service died:\n{web.tail()}"
            assert time.monotonic() < deadline, f"never saw it write a batch\n{web.tail()}"
            await asyncio.sleep(0.005)
        return at
    rows = await backend.rows()
    while await backend.rows() == rows:  # no sleep: kill as soon as a commit shows
        assert web.process.poll() is None, f"the web service died:\n{web.tail()}"
        assert time.monotonic() < deadline, f"never saw it commit a batch\n{web.tail()}"
    return at


async def _until_gone(backend: Backend) -> None:
    deadline = time.monotonic() + 30
    while not await backend.others_gone():
        assert time.monotonic() < deadline, "the killed web service's sessions are still there"
        await asyncio.sleep(0.05)


def _projected(port: int, token: str) -> dict[tuple[str, str], float]:
    """The web service's `supervisor_web_projected_records_total` by (topic, result)."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/metrics", headers={"Authorization": f"Bearer {token}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=2) as response:
            body = response.read().decode()
    except OSError:
        return {}
    counts: dict[tuple[str, str], float] = {}
    for labels, value in re.findall(
        r"^supervisor_web_projected_records_total\{([^}]*)\} (\S+)$", body, re.M
    ):
        found = dict(re.findall(r'(\w+)="([^"]*)"', labels))
        counts[(found["topic"], found["result"])] = float(value)
    return counts


def _same(what: str, seen: list[Any], want: list[Any], when: str) -> None:
    """`seen` (sorted keys read) is `want`: no key twice, none missing, none beyond."""
    twice = len(seen) - len(set(seen))
    missing, extra = sorted(set(want) - set(seen)), sorted(set(seen) - set(want))
    assert not twice and not missing and not extra, (
        f"{when}: {what}: {len(seen)} rows, expected {len(want)}; {twice} keys twice, "
        f"{len(missing)} missing (e.g. {missing[:3]}), "
        f"{len(extra)} not covered by the stored offsets (e.g. {extra[:3]})"
    )


def _assert_matches(seen: Snapshot, want: Snapshot, when: str) -> None:
    """`seen` is exactly `want`, table by table, with no key twice."""
    assert seen.positions == want.positions, when
    assert seen.alert_rows == len(seen.alerts), f"{when}: an alert id twice"
    assert seen.case_rows == len(seen.cases), f"{when}: a case twice"
    _same("alerts", sorted(seen.alerts), sorted(want.alerts), when)
    wrong = {i: (seen.alerts[i], s) for i, s in want.alerts.items() if seen.alerts[i] != s}
    assert not wrong, f"{when}: {len(wrong)} alerts (seen, expected): {list(wrong.items())[:5]}"
    _same("alert_history", seen.history, want.history, when)
    _same("alert_early", seen.early, want.early, when)
    _same("case_facts", seen.facts, want.facts, when)
    _same("cases", sorted(seen.cases), sorted(want.cases), when)
    wrong_cases = {c: (seen.cases[c], s) for c, s in want.cases.items() if seen.cases[c] != s}
    assert not wrong_cases, f"{when}: case statuses (seen, expected): {wrong_cases}"
    _same("case_events", seen.events, want.events, when)


async def test_sigkill_mid_batch_then_restart_leaves_every_row_exactly_once(
    stream: Stream, backend: Backend, web_env: dict[str, str], tmp_path: Path
) -> None:
    """Killed while writing a batch, and again as a batch commits, the read model holds
    exactly what its stored offsets cover (rows and offsets are one transaction);
    restarted, it reads on from there only, and every alert, history entry, fact, case
    and event is there once, with the final statuses, and nothing of the malformed
    records."""
    log = tmp_path / "web.log"
    before: dict[TopicPartition, int] = {}
    for number, (share, instant) in enumerate(KILLS, start=1):
        web = _start(web_env, log)
        try:
            seen_before_kill = await _progress_to(backend, stream, web, share, instant)
        finally:
            kill(web.process)
        await _until_gone(backend)
        left = await backend.snapshot()
        when = f"after kill {number} ({instant}, at {share:.0%} or later)"
        # really mid-stream: past where the previous run started, short of the end
        journal = left.positions.get((stream.journal, 0), 0)
        assert 0 < journal < stream.ends[(stream.journal, 0)], f"{when}: {left.positions}"
        done = sum(left.positions.values())
        assert sum(before.values()) < done < stream.total, f"{when}: {done}/{stream.total}"
        assert done >= sum(seen_before_kill.values()), when  # nothing committed was lost
        _assert_matches(left, stream.expected(left.positions), when)
        print(f"{when}: {done}/{stream.total} records committed, {left.positions}")
        before = left.positions

    # restarted: on to the end, from the stored offsets
    ops_token = TokenStore(Path(web_env["SUPERVISOR_TOKENS_FILE"])).issue("ops", "断电测试")
    web = _start(web_env, log)
    try:
        deadline = time.monotonic() + PROGRESS_TIMEOUT
        while (await backend.committed()) != stream.ends:
            assert web.process.poll() is None, f"the web service died:\n{web.tail()}"
            assert time.monotonic() < deadline, f"not at the end: {await backend.committed()}"
            await asyncio.sleep(0.1)
        final = await backend.snapshot()
        _assert_matches(final, stream.expected(stream.ends), "at the end")

        # it read only what the database did not hold: each record after the stored
        # offsets once (journal and facts: written or malformed, exactly; events: a
        # repeat in the same batch is written once, so at most), none before them
        def read(topic: str) -> float:
            counts = _projected(web.port, ops_token)
            return sum(n for (t, result), n in counts.items() if t == topic and result != "skipped")

        def remaining(topic: str) -> int:
            return sum(n - before.get(tp, 0) for tp, n in stream.ends.items() if tp[0] == topic)

        deadline = time.monotonic() + 15
        while read(stream.journal) != remaining(stream.journal) or read(stream.facts) != remaining(
            stream.facts
        ):
            assert time.monotonic() < deadline, (
                f"read {_projected(web.port, ops_token)}; after the stored offsets: "
                f"{[remaining(t) for t in (stream.journal, stream.facts, stream.events)]}"
            )
            await asyncio.sleep(0.2)
        assert read(stream.events) <= remaining(stream.events)
        assert ("any", "skipped") not in _projected(web.port, ops_token)
    finally:
        terminate(web.process)

    # the whole stream, once: stated plainly as well as by the model above
    assert len(final.alerts) == ALERTS == final.alert_rows
    assert set(final.alerts) == set(stream.alert_offsets)
    refused = sum(1 for c in stream.changes if c.after is None)
    assert refused == ALERTS // 8  # plan 4's acknowledge after the resolution
    assert len(final.history) == len(set(final.history)) == stream.lifecycle_records - refused
    assert final.early == []  # every change sent before its alert was applied to it
    statuses = {s for s, _ in final.alerts.values()}
    assert statuses == {"open", "acknowledged", "resolved", "withdrawn"}
    assert final.alerts[_alert(0)["alert_id"]] == ("open", None)  # its bad change skipped
    assert len(final.facts) == len(set(final.facts)) == len(stream.facts_at)
    assert len(final.cases) == FACT_CASES
    assert len(final.events) == len(set(final.events)) == len(stream.events_at)
    assert not stream.malformed_alert_ids & set(final.alerts)
    assert not stream.malformed_case_ids & (set(final.cases) | {e[0] for e in final.events})
    assert not INVALID_EVENT_IDS & {e[1] for e in final.events}
    async with backend.engine.connect() as connection:
        documents = (await connection.execute(select(case_events.c.document))).scalars().all()
    stored = json.dumps(list(documents), ensure_ascii=False)
    assert not [p for p in PERSONAL if p in stored], "personal data stored unmasked"
