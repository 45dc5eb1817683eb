"""The same events give the same alerts through Kafka as through `supervisor replay`
(issue 3, item 5): same ids, same `raised_at`, same content.

One realistic event set (simulated stories from many Hechi centers, plus hand-written
cases for the rules the simulator never breaks) goes to a fresh `supervisor worker`
on the real broker, and the same file goes through the real `supervisor replay` command
with `--until` set to the worker's clock start. Every event lies before that moment, and
no deadline falls within an hour after it, so the worker's running clock fires exactly
the deadlines that replay's `--until` fires. The worker is fed twice: in the file's order,
and shuffled across cases (each case's own events in order, as one partition key keeps
them).

Compared is what a consumer of the alerts topic still shows: alerts by alert_id, less
those a resolution (`status: resolved`, after a late event) withdrew; replay prints only
the alerts that stand. Two more cases: a late event within a case, and a worker that
starts behind a backlog (deadlines wait for the backlog to be read: supervisor/worker/gate.py).
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from supervisor.centers import CenterRegistry
from supervisor.core.calendar import WorkCalendar
from supervisor.core.events import InvalidEvent, decode
from supervisor.core.runner import Runner
from supervisor.kafka.admin import ensure_topics
from supervisor.replay import build_engine
from supervisor.settings import Settings
from supervisor.simulate import Catalogue, Scenario
from supervisor.worker.main import topics
from tests.core.factories import event_doc

from .conftest import CLOCK_START, running_worker, worker_env, worker_total
from .kafka_io import alerts_of, collect_until_quiet, produce_pipelined, wait_for

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
CN = ZoneInfo("Asia/Shanghai")
CLOCK = datetime.fromisoformat(CLOCK_START)
#: No deadline may fall in [CLOCK, CLOCK + MARGIN): the worker's clock runs on from CLOCK
#: while the test waits, and a deadline in that window would race the comparison.
MARGIN = timedelta(hours=1)
#: Simulated stories are planned from mid-October on and kept only if they end by then.
STORIES_FROM = datetime(2026, 10, 12, 8, 30, tzinfo=CN)
STORIES_END_BY = datetime(2026, 11, 25, 0, 0, tzinfo=CN)
#: Cases still under way at this moment are cut there (their later events never come).
BACKLOG_AT = datetime(2026, 11, 20, 16, 30, tzinfo=CN)
#: Fields the comparison names (the whole alert, details included, must match too).
FIELDS = ("raised_at", "rule_id", "severity", "case_id", "center_id", "title", "message")

Doc = dict[str, Any]


# -- the event set --------------------------------------------------------------------


def simulated_events(seed: int = 2026, stories: int = 70, backlog: int = 25) -> list[Doc]:
    """Whole stories (normal, late, irregular) started over five weeks, then `backlog`
    cases under way on 20 November cut there, so some are still open, some past their
    deadline. (bench/catch_up_parity.py asks for many more stories.)"""
    scenario = Scenario(
        random.Random(seed),
        CenterRegistry.load(),
        Catalogue.load(),
        late_share=0.2,
        irregular_share=0.45,
        tz=CN,
        is_workday=WorkCalendar("Asia/Shanghai").is_working_day,
    )
    rng = random.Random(seed)
    events: list[Doc] = []
    for _ in range(stories):
        start = STORIES_FROM + timedelta(minutes=rng.randrange(0, 25 * 24 * 60))
        story = scenario.new_story(start)
        if story.times[-1] < STORIES_END_BY:
            events += story.events
    for story in scenario.backlog_stories(BACKLOG_AT, backlog):
        events += story.until(BACKLOG_AT)
    return events


class Case:
    """Writes one hand-made case's events with stable event ids."""

    def __init__(self, serial: int, center: str = "451221") -> None:
        self.case_id = f"{center}-2026-9{serial:06d}"
        self.center = center
        self.docs: list[Doc] = []

    def add(self, kind: str, at: str, **payload: Any) -> Case:
        event_id = f"{self.case_id}/{len(self.docs) + 1}"
        at = f"2026-{at}:00+08:00"
        self.docs.append(
            event_doc(kind, at, self.case_id, self.center, event_id=event_id, **payload)
        )
        return self

    def accepted(self, at: str, value: float = 5, unit: str = "working_day", **more: Any) -> Case:
        payload: dict[str, Any] = {
            "item_code": f"{self.center[:6]}-XK-0042",
            "item_name": "食品经营许可（新办）",
            "promised_limit": {"value": value, "unit": unit},
            "statutory_limit": {"value": 20, "unit": "working_day"},
            "required_steps": ["review"],
            **more,
        }
        return self.add("accepted", at, **payload)

    def decided(self, at: str, outcome: str = "approve", **more: Any) -> Case:
        more.setdefault("legal_basis", "《中华人民共和国行政许可法》第三十八条")
        return self.add("decided", at, outcome=outcome, **more)


def crafted_events() -> list[Doc]:
    """Cases for the rules the simulator never breaks, and for the timer paths (open
    cases whose deadlines only the clock fires). Times are local (+08:00)."""
    cases = [
        # workflow.out_of_order: concluded before accepted; a step after concluded;
        # a second accepted.
        Case(1).add("submitted", "11-02T09:00").add("concluded", "11-02T09:30"),
        Case(2)
        .accepted("11-02T10:00")
        .add("step_completed", "11-03T10:00", step="review")
        .decided("11-03T11:00")
        .add("concluded", "11-03T11:30")
        .add("step_completed", "11-03T15:00", step="review")
        .add(
            "accepted",
            "11-04T09:00",
            item_code="X",
            promised_limit={"value": 1, "unit": "working_day"},
        ),
        # supplement.late: told to bring materials 8 working days after submission.
        Case(3)
        .add("submitted", "11-02T09:10")
        .add("supplement_requested", "11-12T10:00", missing_materials=["营业执照"])
        .add("withdrawn", "11-13T10:00"),
        # suspension.too_long (an open case suspended since 13 October, never resumed).
        Case(4, "451202")
        .accepted("10-12T10:00", value=15)
        .add("suspended", "10-13T11:00", reason_code="expert_review", reason="组织专家评审"),
        # suspension.no_reason twice (a second occurrence), resumed, concluded in time.
        Case(5, "451226")
        .accepted("11-02T09:20", value=10)
        .add("suspended", "11-03T09:00")
        .add("resumed", "11-04T09:00")
        .add("suspended", "11-05T09:00", reason="等待相关部门意见")
        .add("resumed", "11-06T09:00")
        .add("step_completed", "11-09T10:00", step="review")
        .decided("11-10T10:00")
        .add("concluded", "11-10T10:30")
        .add("delivered", "11-11T10:00"),
        # extension.repeated (a second one) and an approved one moving the deadline.
        Case(6, "451223")
        .accepted("11-02T10:00", value=3)
        .add("extended", "11-04T09:00", value=3, unit="working_day", approved_by="局长")
        .add("extended", "11-06T09:00", value=2, unit="working_day", approved_by="局长")
        .add("step_completed", "11-09T10:00", step="review")
        .decided("11-10T15:00")
        .add("concluded", "11-10T15:30")
        .add("delivered", "11-11T09:00"),
        # extension.repeated (an approved one longer than 10 working days), left open:
        # overdue and statutory overdue fire from the clock.
        Case(7, "451224")
        .accepted("10-09T10:00", value=5)
        .add("extended", "10-12T10:00", value=15, unit="natural_day", approved_by="县长"),
        # conclusion.too_fast: decided and concluded minutes after acceptance.
        Case(8, "451225")
        .accepted("11-03T10:00", value=5, required_steps=[])
        .decided("11-03T10:03")
        .add("concluded", "11-03T10:05")
        .add("delivered", "11-03T10:10"),
        # rejection.no_reason: refused at the door without a reason.
        Case(9, "451227").add("submitted", "11-04T09:00").add("not_accepted", "11-04T09:20"),
        # rejection.no_reason on a deny decision; delivered afterwards.
        Case(10, "451228")
        .accepted("11-04T10:00")
        .add("step_completed", "11-05T10:00", step="review")
        .decided("11-05T11:00", outcome="deny")
        .add("concluded", "11-05T11:30")
        .add("delivered", "11-06T09:00"),
        # delivery.overdue: approved, concluded, never delivered (fires from the clock).
        Case(11, "451229")
        .accepted("10-19T10:00")
        .add("step_completed", "10-20T10:00", step="review")
        .decided("10-20T15:00")
        .add("concluded", "10-20T15:30"),
        # evaluation.negative twice, evaluation.unrectified for both (the clock's), and a
        # complaint; a fee on a free item (fee.overcharge).
        Case(12, "451281")
        .accepted("10-19T09:00", fee_standard=0)
        .add("fee_charged", "10-19T09:10", amount=30, currency="CNY")
        .add("step_completed", "10-20T10:00", step="review")
        .decided("10-21T10:00")
        .add("concluded", "10-21T10:20")
        .add("delivered", "10-22T09:00")
        .add("evaluated", "10-22T09:05", level=1, comment="态度差")
        .add("complained", "10-22T11:00")
        .add("evaluated", "10-28T09:00", level=2, comment="仍未处理"),
        # A negative evaluation put right in time: only evaluation.negative.
        Case(13, "451281")
        .accepted("11-09T09:00", value=2, unit="natural_day")
        .add("step_completed", "11-09T15:00", step="review")
        .decided("11-10T09:00")
        .add("concluded", "11-10T09:30")
        .add("delivered", "11-10T10:00")
        .add("evaluated", "11-10T10:05", level=2)
        .add("rectified", "11-13T10:00"),
        # A natural-day limit left open; and a center not in the registry.
        Case(14, "451221").accepted("11-10T10:00", value=7, unit="natural_day"),
        Case(15, "451299")
        .accepted("11-16T10:00", value=3)
        .add("fee_charged", "11-16T10:05", amount=5),
        # Concluded after its promised deadline: overdue fires inside apply(), at the
        # deadline; a fraction of a working day as limit.
        Case(16, "451222")
        .accepted("11-16T14:00", value=2.5)
        .add("step_completed", "11-18T10:00", step="review")
        .decided("11-19T16:00")
        .add("concluded", "11-19T16:10")
        .add("delivered", "11-20T09:00"),
    ]
    docs = [doc for case in cases for doc in case.docs]
    # A re-delivered event (the same event_id) changes nothing.
    docs.append(dict(cases[5].docs[1]))
    return docs


def event_set() -> list[Doc]:
    return simulated_events() + crafted_events()


def invalid_line() -> str:
    """Not a valid event: replay reports and skips it, the worker dead-letters it."""
    bad = event_doc(
        "accepted",
        "2026-11-02T09:00:00+08:00",
        "451221-2026-9999999",
        event_id="bad-1",
        item_code="X",
        promised_limit={"value": 3, "unit": "fortnight"},
    )
    return json.dumps(bad, ensure_ascii=False)


def shuffled(docs: Sequence[Doc], seed: int) -> list[Doc]:
    """A random interleaving of the cases' streams: each case's events keep their order."""
    queues: dict[str, list[Doc]] = {}
    for doc in docs:
        queues.setdefault(doc["case_id"], []).append(doc)
    rng = random.Random(seed)
    out: list[Doc] = []
    slots = [case for case, queue in queues.items() for _ in queue]
    rng.shuffle(slots)  # a uniform interleaving: the k-th slot of a case is its k-th event
    position = dict.fromkeys(queues, 0)
    for case in slots:
        out.append(queues[case][position[case]])
        position[case] += 1
    return out


# -- checks of the set itself ---------------------------------------------------------


def reference_timers(docs: Sequence[Doc]) -> tuple[list[str], list[tuple[str, datetime]]]:
    """The rules the in-process engine raises by CLOCK, and the timers still pending."""
    runner = Runner(build_engine(ROOT / "rules", "Asia/Shanghai"))
    raised = []
    for doc in docs:
        try:
            raised += runner.feed(decode(json.dumps(doc)))
        except InvalidEvent:
            continue
    raised += runner.advance(CLOCK)
    pending = [
        (alert, due)
        for state in runner.store.values()
        for alert, due in runner.engine.timers(state).items()
    ]
    return [a.rule_id for a in raised], pending


# -- the two paths --------------------------------------------------------------------


@dataclass
class Output:
    """What one path said: alerts and resolutions (an alert a late event proved wrong,
    `status: resolved`), each by alert_id as consumers de-duplicate them."""

    alerts: dict[str, Doc] = field(default_factory=dict)
    resolutions: dict[str, Doc] = field(default_factory=dict)
    #: what cases did to their alerts (contract §6), by alert id and change: replay prints
    #: alerts only, so these are kept apart, checked only for being published consistently
    changes: dict[str, Doc] = field(default_factory=dict)
    records: int = 0
    #: through Kafka: the seconds from the worker's start (with `backlog`, the backlog
    #: already produced) until it had consumed every event, start-up included
    consumed_seconds: float = 0.0

    @classmethod
    def of(cls, documents: Sequence[Doc], where: str) -> Output:
        out = cls(records=len(documents))
        for document in documents:
            if document.get("kind") == "case_change":
                key = f"{document['alert_id']} {document['change']}"
                seen = out.changes.setdefault(key, document)
                assert seen == document, f"{where}: {key} published twice, changed"
                continue
            kind = out.resolutions if document.get("status") == "resolved" else out.alerts
            seen = kind.setdefault(document["alert_id"], document)
            # The worker may publish an id twice after a crash, never with another content.
            assert seen == document, f"{where}: {document['alert_id']} published twice, changed"
        return out

    @property
    def standing(self) -> dict[str, Doc]:
        """The alerts a consumer still shows: raised and not resolved."""
        return {i: a for i, a in self.alerts.items() if i not in self.resolutions}


async def through_kafka(
    bootstrap: str,
    home: Path,
    lines: Sequence[str],
    label: str,
    *,
    backlog: bool = False,
    wait: float = 180,
    every: float = 0.2,
    **env_overrides: str,
) -> Output:
    """A dedicated fresh worker fed `lines`, keyed by case_id (`backlog`: all on the
    topic before the worker starts); what its alerts topic holds once quiet.

    The lines go out at full speed (each partition in order), so each case's events reach
    the broker well within the worker's settle period: a case whose events arrive
    further apart than that is judged in between, by design, and may differ. `wait`: the
    seconds the worker has to consume them all, looked at every `every` seconds (each look
    reads the worker's /metrics page, which costs it CPU)."""
    home.mkdir()
    env = {**worker_env(bootstrap, home, f"parity-{uuid.uuid4().hex[:8]}"), **env_overrides}
    settings = Settings.from_env(env)
    messages = [(_key(line), line.encode()) for line in lines]
    began = time.monotonic()
    if backlog:
        await ensure_topics(settings.bootstrap_servers, topics(settings))
        await produce_pipelined(settings.bootstrap_servers, settings.topic_events, messages)
    with running_worker(env, home / "worker.log") as worker:
        if not backlog:
            began = time.monotonic()
            await produce_pipelined(worker.bootstrap, worker.events, messages)
        produced = time.monotonic() - began
        counters = [
            f"supervisor_worker_events_{name}_total"
            for name in ("consumed", "duplicate", "rejected")
        ]

        def all_seen() -> bool:
            return worker_total(worker.web_port, *counters) >= len(lines)

        assert await wait_for(all_seen, wait, every), (
            f"{label}: the worker did not consume every event"
        )
        seen = time.monotonic() - began
        # A case's passed deadlines wait until it has been quiet for the settle period:
        # wait for that, then until the alerts topic stays quiet.
        records = await collect_until_quiet(
            worker.bootstrap,
            worker.alerts,
            not_before=time.monotonic() + settings.settle_seconds + 1,
            quiet=5,
        )
    output = Output.of(alerts_of(records), label)
    output.consumed_seconds = seen - produced if backlog else seen
    print(
        f"{label}: {len(lines)} messages produced in {produced:.1f}s, all consumed after "
        f"{seen:.1f}s; {output.records} records on the alerts topic: {len(output.alerts)} "
        f"alert ids, {len(output.resolutions)} resolutions"
    )
    return output


def _key(line: str) -> str:
    return str(json.loads(line)["case_id"])


def through_replay(path: Path, timeout: float = 300) -> tuple[Output, str]:
    """The real command, `supervisor replay FILE --until <the worker's clock start>`."""
    command = Path(sys.executable).with_name("supervisor")
    result = subprocess.run(
        [str(command), "replay", str(path), "--until", CLOCK_START],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    documents = [json.loads(line) for line in result.stdout.splitlines()]
    return Output.of(documents, "replay"), result.stderr


def write_lines(path: Path, lines: Sequence[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def differences(kafka: dict[str, Doc], replay: dict[str, Doc]) -> list[str]:
    """Every id on one side only, and every field that differs on an id of both."""
    problems = [
        f"only through Kafka: {i} at {kafka[i]['raised_at']}" for i in kafka.keys() - replay.keys()
    ]
    problems += [
        f"only in replay: {i} at {replay[i]['raised_at']}" for i in replay.keys() - kafka.keys()
    ]
    for ident in kafka.keys() & replay.keys():
        ours, theirs = kafka[ident], replay[ident]
        named = [f for f in FIELDS if ours[f] != theirs[f]]
        other = sorted(f for f in ours.keys() | theirs.keys() if ours.get(f) != theirs.get(f))
        problems += [
            f"{ident}: {name} is {ours.get(name)!r} through Kafka, {theirs.get(name)!r} in replay"
            for name in named or other
        ]
    return sorted(problems)


def assert_same_alerts(found: Output, expected: Output) -> None:
    """The same alert ids as `expected` (replay), none withdrawn, every field equal."""
    missing = sorted(expected.alerts.keys() - found.alerts.keys())
    extra = sorted(found.alerts.keys() - expected.alerts.keys())
    assert not missing and not extra, f"missing {missing}\nextra {extra}"
    assert not found.resolutions, f"alerts withdrawn: {sorted(found.resolutions)}"
    problems = differences(found.alerts, expected.alerts)
    assert not problems, "\n".join(problems)


def summary(alerts: dict[str, Doc]) -> str:
    per_rule = Counter(a["rule_id"] for a in alerts.values())
    width = max(map(len, per_rule), default=0)
    return "\n".join(f"  {rule:<{width}}  {count:3d}" for rule, count in sorted(per_rule.items()))


def assert_same(kafka: Output, replay: Output, label: str) -> None:
    found = differences(kafka.standing, replay.standing)
    assert not found, f"{label}: {len(found)} differences\n" + "\n".join(found)


# -- the tests ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def events() -> list[Doc]:
    return event_set()


def test_the_event_set_is_realistic_and_clear_of_the_clock(events: list[Doc]) -> None:
    """The preconditions of the comparison, checked in-process (no broker)."""
    cases = {d["case_id"] for d in events}
    centers = {d["center_id"] for d in events}
    assert len(events) >= 300 and len(cases) >= 80 and len(centers) >= 10
    latest = max(datetime.fromisoformat(d["occurred_at"]) for d in events)
    assert latest < CLOCK, f"an event at {latest} is not before the worker's clock"
    first, ids = [], set()  # without the re-sent event
    for doc in events:
        if doc["event_id"] not in ids:
            ids.add(doc["event_id"])
            first.append(doc)
    for case in cases:  # in event-time order within each case: late events are tested below
        times = [datetime.fromisoformat(d["occurred_at"]) for d in first if d["case_id"] == case]
        assert times == sorted(times), case
    rules, pending = reference_timers(events)
    assert len(set(rules)) >= 10, Counter(rules)
    racing = [(i, due) for i, due in pending if due < CLOCK + MARGIN]
    assert not racing, f"deadlines racing the worker's clock: {racing}"


async def test_kafka_and_replay_give_the_same_alerts(
    events: list[Doc], kafka_bootstrap: str, tmp_path: Path
) -> None:
    lines = [json.dumps(d, ensure_ascii=False) for d in events]
    bad_at = len(lines) // 2
    lines.insert(bad_at, invalid_line())
    replayed, stderr = through_replay(write_lines(tmp_path / "events.jsonl", lines))
    assert f"line {bad_at + 1}: " in stderr, stderr
    rules = {a["rule_id"] for a in replayed.alerts.values()}
    print(
        f"replay: {len(replayed.alerts)} alerts of {len(rules)} rules\n{summary(replayed.alerts)}"
    )
    assert len(rules) >= 10

    in_order = await through_kafka(kafka_bootstrap, tmp_path / "in-order", lines, "in order")
    assert_same(in_order, replayed, "in order")
    assert not in_order.resolutions, "an alert was raised and then withdrawn"

    mixed = shuffled(events, seed=11)
    assert [d["event_id"] for d in mixed] != [d["event_id"] for d in events]
    mixed_lines = [json.dumps(d, ensure_ascii=False) for d in mixed]
    across = await through_kafka(kafka_bootstrap, tmp_path / "shuffled", mixed_lines, "shuffled")
    assert_same(across, replayed, "shuffled")
    assert not across.resolutions, "an alert was raised and then withdrawn"


async def test_a_late_event_within_a_case_gives_the_same_alerts(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    """The decision is uploaded after the conclusion it preceded (contract §1: events of
    one case may arrive late). In event-time order the case had a decision: replay prints
    no `workflow.no_decision`; the worker raised it on `concluded` and must resolve it
    (the alert a consumer still shows is what counts)."""
    case = (
        Case(50, "451221")
        .accepted("11-02T10:00", required_steps=[])
        .add("concluded", "11-04T16:00")
        .add("delivered", "11-05T09:00")
        .decided("11-04T15:00")
    )
    lines = [json.dumps(d, ensure_ascii=False) for d in case.docs]
    replayed, _ = through_replay(write_lines(tmp_path / "late.jsonl", lines))
    kafka = await through_kafka(kafka_bootstrap, tmp_path / "late", lines, "late event")
    assert_same(kafka, replayed, "late event")
    assert set(kafka.resolutions) <= set(kafka.alerts), "a resolution of an unknown alert"


BACKLOG_FILLER = 10_000  #: more than the agent's stream buffer (4096) takes in at once


async def test_a_worker_behind_a_backlog_gives_the_same_alerts(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    """A worker starts (after downtime) behind a backlog: a case's `accepted`, then ten
    thousand other messages, then the case's approved extension and conclusion. The
    case is overdue at its extended deadline, 24 November; it must not be judged before
    its extension is read (replay: overdue at 2026-11-24T00:00)."""
    case = (
        Case(60, "451225101")
        .accepted("11-16T10:00", value=3, required_steps=[])
        .add("extended", "11-18T09:00", value=2, unit="working_day", approved_by="镇长")
        .decided("11-25T09:00")
        .add("concluded", "11-25T09:30")
    )
    own = [json.dumps(d, ensure_ascii=False) for d in case.docs]
    filler = [
        json.dumps(Case(100_000 + n, "451221").add("submitted", "11-20T09:00").docs[0])
        for n in range(BACKLOG_FILLER)
    ]
    lines = [own[0], *filler, *own[1:]]
    replayed, _ = through_replay(write_lines(tmp_path / "backlog.jsonl", lines))
    assert replayed.alerts[f"deadline.overdue:{case.case_id}"]["raised_at"] == (
        "2026-11-24T00:00:00+08:00"
    )
    kafka = await through_kafka(
        kafka_bootstrap,
        tmp_path / "backlog",
        lines,
        "backlog",
        backlog=True,
        SUPERVISOR_PARTITIONS="1",  # the case and the backlog on one partition
        SUPERVISOR_SETTLE_SECONDS="1",
    )
    assert_same(kafka, replayed, "backlog")
