"""How many Kafka records a second the read model's projection writes, per back end.

Run on purpose (not in CI):

    .venv/bin/python bench/projection_throughput.py [--journal 50000] [--cases 60000]
        [--backends postgresql,sqlite] [--no-kafka]

The web service reads the alerts topic (the journal), the case facts and the case events
in batches of up to 5,000 records (supervisor/web/consumer.py `BATCH_RECORDS`) and writes
each batch, with its offsets, in one transaction (`Projection.apply`,
supervisor/store/projection.py). This measures that write, batch after batch, for:

    journal   a realistic journal mix: new alerts mostly (the engine's rules, titles and
              messages, Hechi's 69 centers, the catalogue's items and departments), then
              what happens to earlier alerts, often ones written by an earlier batch (so
              the projection loads them back): the notifier's deliveries and escalations,
              the worker's case changes (closed, superseded, concluded late) and
              withdrawals, people's acknowledgements, resolutions and appeals
    facts     the worker's case facts of the simulator's case stories (the engine run
              over them, `supervisor.worker.facts.fact` per applied event), framed as
              the worker sends them (`framed`: arrays of up to 500 facts, per
              partition); counted, and their rate given, in facts
    events    those stories' case events (validated and masked before they are stored)

Baseline, in the same run: the rate at which the web service *reads* the same records
from a topic. The records are produced to fresh topics of the real local broker (the
journal with one partition, facts and events with the worker's partition count), then
read back by a bare AIOKafkaConsumer with the projection's options (no group, assigned
partitions, `getmany(max_records=5000)`, a `Record` made of each, nothing else): best of
3. `--no-kafka` (or no broker) takes instead the rate of decoding and validating the
journal records (`clean_record(decode_record(...))`), the projection's first step; the
output says which baseline it used. Each back end's rate is printed as a ratio to it.

PostgreSQL is a throwaway 15 cluster (tests/databases.py) with durable settings
(fsync, synchronous_commit and full_page_writes on: the test cluster turns them off),
the database with LC_CTYPE C.UTF-8 (see bench/read_model_load.py);
SQLite is a file in a temporary directory, as the web service opens it (WAL,
synchronous=NORMAL). Goal (the issue): >= 5,000 journal records/s into each back end.
The free-text index (supervisor/store/search.py: a GIN index on PostgreSQL, an FTS5
table kept by triggers on SQLite) is written with the rows, as in the service;
`--without-search-index` drops it after migrating, to see what it costs. `--batch 5`
writes transactions of the size a live service's journal lane writes (a few records
each): their CPU each, and its ratio to an older tree's run alternately (`PYTHONPATH=`
a worktree), is what tells whether a change made them cheaper.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Final
from zoneinfo import ZoneInfo

import orjson
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))

import _common as c

from supervisor.centers import Center, CenterRegistry
from supervisor.core.alerts import Alert, CaseChange, Resolution
from supervisor.notify.plan import Escalation
from supervisor.settings import Settings
from supervisor.simulate import Catalogue
from supervisor.simulate.catalogue import Item
from supervisor.store import search
from supervisor.store.db import Database
from supervisor.store.projection import Projection, Record, Topics
from supervisor.web.consumer import BATCH_RECORDS
from supervisor.web.hub import clean_record, decode_record
from supervisor.web.journal import lifecycle_record
from tests.databases import PostgresCluster

CN: Final = ZoneInfo("Asia/Shanghai")
RULES_FILE: Final = c.ROOT / "rules" / "canonical.yaml"
#: Durable PostgreSQL, as in production (the test cluster's options turn these off; a
#: later `-c` wins).
DURABLE: Final = ("-c fsync=on", "-c synchronous_commit=on", "-c full_page_writes=on")

#: How often each rule fires: weights set by hand (deadline warnings and overdue cases
#: most; center.silent has no case: left out).
RULE_WEIGHTS: Final = {
    "deadline.warning": 30,
    "deadline.overdue": 14,
    "deadline.statutory_overdue": 3,
    "supplement.repeated": 5,
    "supplement.late": 5,
    "suspension.no_reason": 3,
    "suspension.too_long": 3,
    "extension.unapproved": 2,
    "extension.repeated": 2,
    "fee.overcharge": 3,
    "workflow.out_of_order": 3,
    "workflow.no_decision": 2,
    "workflow.step_skipped": 3,
    "conclusion.too_fast": 6,
    "rejection.no_reason": 2,
    "delivery.overdue": 4,
    "evaluation.negative": 4,
    "evaluation.unrectified": 1,
    "catalogue.unknown_item": 1,
    "catalogue.limit_mismatch": 1,
    "stage.overdue": 3,
    "complaint.unanswered": 1,
}
#: Rules that may fire more than once for a case (their ids carry the event).
PER_EVENT: Final = frozenset({"supplement.repeated", "fee.overcharge", "evaluation.negative"})
#: Bigger centers take more cases: the city's and the counties' against a township's.
LEVEL_WEIGHT: Final = {"city": 4.0, "county": 6.0, "township": 1.0}
INSPECTORS: Final = ("韦监察", "覃明", "蓝秀丽", "黄建国", "莫志伟", "陆海燕")
NOTES: Final = (
    "已电话督办，窗口负责人已说明情况。",
    "经核实，系申请人补交材料延误，已督促加快办理。",
    "已约谈窗口工作人员，限期整改。",
    "现场核查属实，已通报所在部门。",
    "",
)
APPEALS: Final = (
    "系统时限计算未扣除法定节假日调休，申请摘牌。",
    "申请人主动撤回申请，非窗口原因。",
)


@dataclass(frozen=True)
class Rule:
    id: str
    severity: str
    title: str
    message: str


class _Blank(dict[str, str]):
    """format_map's fallback for placeholders a made-up alert has no value for."""

    def __missing__(self, key: str) -> str:
        return "2"


class AlertMaker:
    """Alerts as the engine writes them (contract §3): the canonical rules' titles and
    messages, Hechi's centers, the catalogue's items and departments, windows, staff."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        registry = CenterRegistry.load()
        catalogue = Catalogue.load()
        self.registry = registry
        self.centers: list[tuple[Center, tuple[Item, ...]]] = [
            (center, catalogue.offered_at(center))
            for center in registry.all()
            if catalogue.offered_at(center)
        ]
        self.center_weights = [LEVEL_WEIGHT[center.level] for center, _ in self.centers]
        loaded = yaml.safe_load(RULES_FILE.read_text(encoding="utf-8"))["rules"]
        by_id = {r["id"]: Rule(r["id"], r["severity"], r["title"], r["message"]) for r in loaded}
        self.rules = [by_id[name] for name in RULE_WEIGHTS]
        self.rule_weights = list(RULE_WEIGHTS.values())
        self.names = {center.code: center.name for center in registry.all()}

    def center(self) -> tuple[Center, tuple[Item, ...]]:
        return self.rng.choices(self.centers, weights=self.center_weights)[0]

    def rule(self) -> Rule:
        return self.rng.choices(self.rules, weights=self.rule_weights)[0]

    def handled(self, center: Center, item: Item) -> dict[str, str]:
        """Who handled a case of `item` at `center` (contract §7)."""
        return {
            "department": item.department_at(center),
            "window_id": f"W{self.rng.randrange(1, 41):02d}",
            "staff_id": f"{center.code}-{self.rng.randrange(1, 31):03d}",
        }

    def alert(
        self,
        rule: Rule,
        case_id: str,
        center: Center,
        item: Item,
        raised_at: datetime,
        who: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """One alert of `rule` for the case, as `Alert.to_dict()` writes it."""
        rng = self.rng
        promised = f"{item.promised_limit.value}个工作日"
        statutory = (
            f"{item.statutory_limit.value}个工作日" if item.statutory_limit else "20个工作日"
        )
        values = _Blank(
            center_name=center.name,
            case_id=case_id,
            item_name=item.item_name,
            item_code=item.item_code,
            promised_limit=promised,
            statutory_limit=statutory,
            deadline=f"{raised_at:%Y-%m-%d %H:%M}",
            count=str(rng.randint(2, 4)),
            working_days=str(rng.randint(2, 9)),
            charged=str(rng.choice((50, 80, 120, 200))),
            fee_standard="0",
        )
        details: dict[str, Any] = {
            "center_name": center.name,
            "item_name": item.item_name,
            "item_code": item.item_code,
            "promised_limit": promised,
            "statutory_limit": statutory,
            **(who or self.handled(center, item)),
        }
        occurrence = f"{case_id}-e{rng.randrange(1, 12)}" if rule.id in PER_EVENT else None
        return Alert(
            alert_id=f"{rule.id}:{case_id}" + (f":{occurrence}" if occurrence else ""),
            rule_id=rule.id,
            severity=rule.severity,
            case_id=case_id,
            center_id=center.code,
            raised_at=raised_at,
            title=rule.title,
            message=rule.message.format_map(values),
            details=details,
        ).to_dict()


def case_id(center: Center, year: int, serial: int) -> str:
    return f"{center.code}-{year}-{serial:07d}"


# -- the journal ---------------------------------------------------------------------------

#: The journal's mix: what each record is, by share.
MIX: Final = {
    "alert": 0.60,
    "case_change": 0.13,
    "delivery": 0.12,
    "lifecycle": 0.10,
    "escalation": 0.03,
    "resolution": 0.02,
}
#: How far back (in alerts) each kind of follow-up reaches: a delivery follows its alert
#: within seconds, a person or a case within days (3,000 new alerts a batch: most of a
#: person's changes are about an alert an earlier batch wrote).
REACH: Final = {
    "delivery": 300,
    "escalation": 3_000,
    "case_change": 9_000,
    "lifecycle": 9_000,
    "resolution": 9_000,
}


@dataclass
class Made:
    alert: dict[str, Any]
    status: str = "open"


def journal_records(count: int, seed: int) -> tuple[list[bytes], dict[str, int]]:
    """`count` alerts-topic values of the mix (MIX) and the count of each kind."""
    rng = random.Random(seed)
    maker = AlertMaker(rng)
    made: list[Made] = []
    values: list[bytes] = []
    kinds = dict.fromkeys(MIX, 0)
    clock = datetime(2026, 11, 2, 8, 30, tzinfo=CN)
    serial = 0
    while len(values) < count:
        clock += timedelta(seconds=rng.randrange(1, 40))
        kind = rng.choices(list(MIX), weights=list(MIX.values()))[0] if made else "alert"
        if kind == "alert":
            center, items = maker.center()
            serial += 1
            record = maker.alert(
                maker.rule(), case_id(center, 2026, serial), center, rng.choice(items), clock
            )
            made.append(Made(record))
            values.append(orjson.dumps(record))
            kinds[kind] += 1
            continue
        target = made[-rng.randint(1, min(len(made), REACH[kind]))]
        change = follow_up(kind, target, clock, rng)
        if change is None:  # not a change that alert can take: a delivery instead
            kind, change = "delivery", follow_up("delivery", target, clock, rng)
        assert change is not None
        values.append(orjson.dumps(change))
        kinds[kind] += 1
    return values, kinds


def follow_up(kind: str, target: Made, at: datetime, rng: random.Random) -> dict[str, Any] | None:
    """A record about `target` (its status moved as the journal will move it), or None."""
    alert = target.alert
    alert_id = str(alert["alert_id"])
    stamp = at.isoformat(timespec="seconds")
    if kind == "delivery":
        attempt = 1 if rng.random() < 0.9 else 2
        failed = rng.random() < 0.05
        return {
            "kind": "delivery",
            "alert_id": alert_id,
            "notification_id": f"n-{rng.getrandbits(48):012x}",
            "notification_kind": "alert",
            "channel": rng.choice(("wecom", "sms", "email")),
            "recipient_name": rng.choice(INSPECTORS),
            "attempt": attempt,
            "outcome": "failed" if failed else "sent",
            "at": stamp,
            "error": "timeout" if failed else None,
            "next_at": (at + timedelta(minutes=2)).isoformat(timespec="seconds")
            if failed
            else None,
            "dead": False,
        }
    if kind == "escalation":
        level = rng.randint(1, 2)
        return Escalation(
            alert_id=alert_id,
            rule_id=str(alert["rule_id"]),
            center_id=str(alert["center_id"]),
            level=level,
            to_center=str(alert["center_id"])[:6],
            recipient_id=f"d-{level}",
            recipient_name="河池市政务服务监督管理办公室",
            at=at,
            waited_working_hours=4.0 * level,
            notification_id=f"n-{rng.getrandbits(48):012x}",
        ).to_record()
    common: dict[str, Any] = {
        "alert_id": alert_id,
        "rule_id": str(alert["rule_id"]),
        "case_id": str(alert["case_id"]),
        "center_id": str(alert["center_id"]),
    }
    if kind == "resolution":
        if target.status == "withdrawn":
            return None
        target.status = "withdrawn"
        return Resolution(
            **common,
            resolved_at=at,
            reason="迟到事件：办结按事件时间补入后重新研判，该预警不再成立，予以撤销。",
            details={"late_event_type": "concluded"},
        ).to_dict()
    if kind == "case_change":
        if alert["rule_id"] == "deadline.overdue":
            return CaseChange(
                **common,
                change="concluded_late",
                at=at,
                case_concluded_at=at,
                late_working_days=float(rng.randint(1, 6)),
            ).to_dict()
        if target.status not in ("open", "acknowledged", "appealed"):
            return None
        if alert["severity"] == "yellow" and rng.random() < 0.3:
            target.status = "superseded"
            return CaseChange(
                **common,
                change="superseded",
                at=at,
                superseded_by=f"deadline.overdue:{alert['case_id']}",
            ).to_dict()
        target.status = "closed"
        return CaseChange(**common, change="closed", at=at, reason="concluded_in_time").to_dict()
    # lifecycle: what the web service writes for a person
    by = {"name": rng.choice(INSPECTORS), "role": "inspector"}
    note = rng.choice(NOTES)
    if target.status == "open" and rng.random() < 0.5:
        target.status = "acknowledged"
        return lifecycle_record(alert_id, "acknowledge", by=by, at=at, note=note)
    if target.status in ("open", "acknowledged") and rng.random() < 0.9:
        target.status = "resolved"
        return lifecycle_record(
            alert_id,
            "resolve",
            by=by,
            at=at,
            note=note or "已整改",
            disposition=rng.choice(("verified", "rectified", "false_alarm")),
        )
    if target.status in ("open", "acknowledged"):
        target.status = "appealed"
        director = {"name": "覃主任", "role": "director"}
        return lifecycle_record(alert_id, "appeal", by=director, at=at, reason=rng.choice(APPEALS))
    if target.status == "appealed":
        if rng.random() < 0.5:
            target.status = "withdrawn"
            return lifecycle_record(alert_id, "accept_appeal", by=by, at=at, note=note)
        target.status = "open"
        return lifecycle_record(alert_id, "reject_appeal", by=by, at=at, note=note)
    return None


# -- case facts and events -----------------------------------------------------------------


def case_streams(cases: int, seed: int) -> tuple[list[tuple[bytes, bytes]], list[bytes]]:
    """The events (key, value) of `cases` simulator stories begun over the last 60 days,
    in time order, and the worker's fact of each event the engine applied."""
    from supervisor.core.events import decode
    from supervisor.core.runner import Runner
    from supervisor.replay import build_engine
    from supervisor.simulate import Scenario
    from supervisor.simulate.producer import encode
    from supervisor.simulate.scenario import SHANGHAI
    from supervisor.worker.facts import fact

    rng = random.Random(seed)
    scenario = Scenario(rng, CenterRegistry.load(), Catalogue.load())
    now = datetime.now(SHANGHAI) - timedelta(minutes=1)
    timed: list[tuple[datetime, int, dict[str, object]]] = []
    for _ in range(cases):
        story = scenario.new_story(now - timedelta(minutes=rng.randrange(60 * 24 * 60)))
        for at, told in zip(story.times, story.events, strict=True):
            if at <= now:
                timed.append((at, len(timed), told))
    timed.sort(key=lambda item: item[:2])
    engine = build_engine(c.ROOT / "rules", "Asia/Shanghai")
    runner = Runner(engine)
    events: list[tuple[bytes, bytes]] = []
    facts: list[bytes] = []
    for _, _, story_event in timed:
        key, value = encode(story_event)
        events.append((key, value))
        event = decode(value)
        before = runner.duplicates
        runner.feed(event)
        if runner.duplicates == before:
            facts.append(orjson.dumps(fact(engine, event, runner.store[event.case_id])))
    return events, facts


# -- reading a topic (the baseline) --------------------------------------------------------


async def produce(
    server: str, topic: str, partitions: int, messages: list[tuple[bytes | None, bytes]]
) -> None:
    from supervisor.kafka.admin import ensure_topics

    await ensure_topics(server, {topic: partitions})
    sent = await c.produce_all(server, topic, messages)
    assert sent == len(messages)


async def read_topic(server: str, topic: str, expected: int) -> tuple[float, list[Record]]:
    """Seconds to read every record of `topic` as the projection's consumer does (a
    `Record` of each, nothing else), and the records."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(
        bootstrap_servers=server,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=4 * 1024 * 1024,
    )
    await consumer.start()
    try:
        parts = consumer.partitions_for_topic(topic) or set()
        if not parts:
            await consumer._client.force_metadata_update()
            parts = consumer.partitions_for_topic(topic) or set()
        partitions = [TopicPartition(topic, p) for p in sorted(parts)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        records: list[Record] = []
        began = time.perf_counter()
        while len(records) < expected:
            batches = await consumer.getmany(timeout_ms=1000, max_records=BATCH_RECORDS)
            records.extend(
                Record(tp.topic, tp.partition, r.offset, r.value, r.timestamp)
                for tp, found in batches.items()
                for r in found
            )
        return time.perf_counter() - began, records
    finally:
        await consumer.stop()


def framed(facts: Sequence[bytes], partitions: int) -> list[tuple[bytes, bytes]]:
    """The facts as the worker sends them: per partition of their case, in order, in
    frames (JSON arrays) keyed by the partition's number. Full frames (`FRAME_FACTS`
    facts or `FRAME_BYTES`, what a frame holds before it is sent early): a backlog's
    size; live, a batch of two seconds makes smaller ones."""
    from supervisor.worker.facts import FRAME_BYTES, FRAME_FACTS, frame_of
    from supervisor.worker.ticks import partition_of

    frames: list[tuple[bytes, bytes]] = []
    waiting: dict[int, list[bytes]] = {}
    sizes: dict[int, int] = {}
    for value in facts:
        partition = partition_of(orjson.loads(value)["case_id"], partitions)
        frame = waiting.setdefault(partition, [])
        size = sizes.get(partition, 0)
        if frame and (len(frame) >= FRAME_FACTS or size + len(value) > FRAME_BYTES):
            frames.append((str(partition).encode(), frame_of(frame)))
            frame = waiting[partition] = []
            size = 0
        frame.append(value)
        sizes[partition] = size + len(value)
    frames.extend((str(p).encode(), frame_of(frame)) for p, frame in sorted(waiting.items()))
    return frames


def by_partition(records: Sequence[Record]) -> list[Record]:
    """Each partition's records in offset order, partitions interleaved as getmany hands
    them over (a batch takes from every partition)."""
    return sorted(records, key=lambda r: (r.offset, r.partition))


def local_records(topic: str, values: Sequence[bytes], partitions: int = 1) -> list[Record]:
    """Records as a topic of `partitions` would number them (without a broker)."""
    now = int(time.time() * 1000)
    return [
        Record(topic, n % partitions, n // partitions, value, now) for n, value in enumerate(values)
    ]


def keyed_records(topic: str, frames: Sequence[tuple[bytes, bytes]]) -> list[Record]:
    """Frames as their partition (their key) would number them (without a broker), the
    partitions interleaved."""
    now = int(time.time() * 1000)
    offsets: dict[int, int] = {}
    records = []
    for key, value in frames:
        partition = int(key)
        offsets[partition] = offsets.get(partition, -1) + 1
        records.append(Record(topic, partition, offsets[partition], value, now))
    return by_partition(records)


def decode_rate(values: Sequence[bytes], repeat: int = 3) -> float:
    """Journal records decoded and validated per second (the projection's first step)."""
    best = float("inf")
    for _ in range(repeat):
        began = time.perf_counter()
        for value in values:
            clean_record(decode_record(value))
        best = min(best, time.perf_counter() - began)
    return len(values) / best


# -- writing -------------------------------------------------------------------------------


@dataclass
class Written:
    records: int
    seconds: float
    batches: list[float]
    cpu: float  # this process's CPU seconds meanwhile (the projection's Python side)

    @property
    def rate(self) -> float:
        return self.records / self.seconds


async def project(
    db: Database,
    topics: Topics,
    names: dict[str, str],
    records: Sequence[Record],
    size: int = BATCH_RECORDS,
    count: int | None = None,
) -> Written:
    """Apply `records` in batches of `size`, each as the feed hands it over. `count`: what
    the rate counts (the facts of framed records), the records by default."""
    projection = Projection(db, topics, center_names=names)
    times: list[float] = []
    cpu = time.process_time()
    began = time.perf_counter()
    for start in range(0, len(records), size):
        batch = list(records[start : start + size])
        at = time.perf_counter()
        outcome = await projection.apply(batch)
        times.append(time.perf_counter() - at)
        if outcome.malformed:
            raise RuntimeError(f"malformed records: {outcome.malformed[:3]}")
    total = len(records) if count is None else count
    return Written(total, time.perf_counter() - began, times, time.process_time() - cpu)


async def run_backend(
    url: str,
    topics: Topics,
    names: dict[str, str],
    streams: dict[str, list[Record]],
    search_index: bool = True,
    size: int = BATCH_RECORDS,
    counts: dict[str, int] | None = None,
) -> dict[str, Written]:
    from sqlalchemy import text

    db = Database(url)
    try:
        await db.upgrade()
        if not search_index:
            async with db.engine.begin() as connection:
                for ddl in search.DROP[db.dialect]:
                    await connection.execute(text(ddl))
        return {
            name: await project(db, topics, names, records, size, (counts or {}).get(name))
            for name, records in streams.items()
        }
    finally:
        await db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--journal", type=int, default=50_000, help="journal records")
    parser.add_argument(
        "--cases", type=int, default=8_000, help="simulator stories (~7 events and facts each)"
    )
    parser.add_argument("--backends", default="postgresql,sqlite")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--batch",
        type=int,
        default=BATCH_RECORDS,
        help="records a transaction, at least 1 (default: the most the feed takes at once; "
        "a live service's journal lane writes a few at a time; facts are counted in frames)",
    )
    parser.add_argument("--no-kafka", action="store_true", help="baseline: decode+validate")
    parser.add_argument("--goal", type=float, default=5_000, help="journal records/s")
    parser.add_argument(
        "--without-search-index",
        dest="search_index",
        action="store_false",
        help="drop the free-text index after migrating (what it costs the writes)",
    )
    args = parser.parse_args()
    if args.batch < 1:
        parser.error("--batch must be at least 1")

    began = time.perf_counter()
    values, kinds = journal_records(args.journal, args.seed)
    events, facts = case_streams(args.cases, args.seed)
    mix = ", ".join(f"{k} {n / len(values):.0%}" for k, n in kinds.items())
    print(
        f"made {len(values):,} journal records ({mix}), {len(facts):,} facts, "
        f"{len(events):,} events in {time.perf_counter() - began:.0f} s; "
        f"load average {c.load_average()}"
    )
    run = c.run_id()
    topics = Topics(
        f"bench-proj-alerts-{run}", f"bench-proj-facts-{run}", f"bench-proj-events-{run}"
    )
    partitions = Settings.from_env().partitions
    baseline_kind = "decode+validate"
    read: dict[str, float] = {}
    streams: dict[str, list[Record]]
    if not args.no_kafka:
        try:
            server = c.bootstrap()
        except Exception as exc:  # no broker: the other baseline
            print(f"no broker ({type(exc).__name__}: {exc}); baseline: decode+validate")
            server = ""
    frames = framed(facts, partitions)
    if args.no_kafka or not server:
        streams = {
            "journal": local_records(topics.alerts, values),
            "facts": keyed_records(topics.facts, frames),
            "events": local_records(topics.events, [v for _, v in events], partitions),
        }
    else:
        baseline_kind = "topic read"
        fact_messages: list[tuple[bytes | None, bytes]] = list(frames)
        asyncio.run(produce(server, topics.alerts, 1, [(None, v) for v in values]))
        asyncio.run(produce(server, topics.facts, partitions, fact_messages))
        asyncio.run(produce(server, topics.events, partitions, list(events)))
        streams = {}
        for name, topic, expected, count in (
            ("journal", topics.alerts, len(values), len(values)),
            ("facts", topics.facts, len(frames), len(facts)),  # facts a second
            ("events", topics.events, len(events), len(events)),
        ):
            best = float("inf")
            for _ in range(3):
                seconds, records = asyncio.run(read_topic(server, topic, expected))
                best = min(best, seconds)
            read[name] = count / best
            streams[name] = records
        print(f"topics on {server}: {topics.alerts} (1 partition), facts and events ({partitions})")
    decoded = decode_rate(values)
    baseline = read if read else {"journal": decoded, "facts": decoded, "events": decoded}
    print(f"journal decode+validate: {decoded:,.0f} records/s")
    if read:
        print(
            "topic read (bare consumer, best of 3): "
            + ", ".join(f"{k} {v:,.0f}/s" for k, v in read.items())
        )

    maker_names = {center.code: center.name for center in CenterRegistry.load().all()}
    results: dict[str, dict[str, Written]] = {}

    def write(url: str) -> dict[str, Written]:
        counts = {"facts": len(facts)}  # the rate of facts, not of their frames
        return asyncio.run(
            run_backend(url, topics, maker_names, streams, args.search_index, args.batch, counts)
        )

    for backend in args.backends.split(","):
        with tempfile.TemporaryDirectory(prefix="bench-proj-") as home:
            if backend == "postgresql":
                cluster = PostgresCluster(extra_options=DURABLE)
                cluster.start()
                try:
                    # the ctype of production's image (en_US.utf8), not the test cluster's C
                    cluster.execute(
                        "CREATE DATABASE projection TEMPLATE template0 ENCODING 'UTF8' "
                        "LC_COLLATE 'C' LC_CTYPE 'C.UTF-8'"
                    )
                    results[backend] = write(cluster.database_url("projection"))
                finally:
                    cluster.stop()
            elif backend == "sqlite":
                results[backend] = write(f"sqlite:///{home}/supervisor.db")
            else:
                raise SystemExit(f"unknown back end {backend!r}")
        print(f"{backend}: done (load average {c.load_average()})")

    print(f"\nrecords/s written by Projection.apply, batches of {args.batch:,}")
    if not args.search_index:
        print("without the free-text index (--without-search-index)")
    print(f"baseline: {baseline_kind} of the same records")
    header = f"  {'stream':<8} {'baseline':>12}"
    for backend in results:
        header += f" {backend:>12} {'x base':>7} {'batch p50/max':>15}"
    print(header)
    for name in streams:
        line = f"  {name:<8} {baseline[name]:>10,.0f}/s"
        for written in results.values():
            w = written[name]
            ratio = w.rate / baseline[name]
            spread = f"{c.percentile(w.batches, 50):.2f}/{max(w.batches):.2f} s"
            line += f" {w.rate:>10,.0f}/s {ratio:>7.3f} {spread:>15}"
        print(line)
    print(
        "this process's CPU time / wall time while writing (PostgreSQL: the rest is the "
        "server; SQLite runs in this process, in aiosqlite's thread)"
    )
    for backend, written in results.items():
        shares = ", ".join(f"{n} {w.cpu / w.seconds:.0%}" for n, w in written.items())
        print(f"  {backend}: {shares}")
    print("this process's CPU time per transaction")
    for backend, written in results.items():
        each = ", ".join(
            f"{n} {w.cpu / max(1, len(w.batches)) * 1000:.2f} ms" for n, w in written.items()
        )
        print(f"  {backend}: {each}")
    for backend, written in results.items():
        rate = written["journal"].rate
        verdict = "met" if rate >= args.goal else "MISSED"
        print(
            f"goal >= {args.goal:,.0f} journal records/s into {backend}: {verdict} "
            f"({rate:,.0f}/s: x{rate / baseline['journal']:.3f} the {baseline_kind} rate, "
            f"where the goal is x{args.goal / baseline['journal']:.3f})"
        )
    c.save(
        "projection_throughput",
        {
            "journal": len(values),
            "mix": kinds,
            "facts": len(facts),
            "events": len(events),
            "baseline": baseline_kind,
            "search_index": args.search_index,
            "batch": args.batch,
            "baseline_rates": baseline,
            "decode_rate": decoded,
            "load_average": c.load_average(),
            "results": {
                b: {
                    n: {"rate": w.rate, "seconds": w.seconds, "batches": w.batches, "cpu": w.cpu}
                    for n, w in r.items()
                }
                for b, r in results.items()
            },
        },
    )


if __name__ == "__main__":
    main()
