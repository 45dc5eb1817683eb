"""Properties of the engine over generated event streams (hypothesis).

Streams are any mix of schema-valid events of up to three cases (two in Guangxi, one a
township center, one in Beijing), in time order, in generation order or shuffled, with
re-deliveries of the same `event_id` and clock ticks between them: what a center that
uploads late, in batches and at least once may send (contract §1). Limits stay within
what the law knows (at most a few months), so every deadline can be placed.

(a) nothing raises and no alert id is raised twice; (b) re-delivery changes nothing, and
neither does rebuilding the state from its JSON (a restart); the arrival order of a case's
events does not change the final judgement; (c) a suspension moves the overdue alert by
exactly the working time suspended.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, MutableMapping
from datetime import datetime, timedelta
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from supervisor.core.alerts import Alert, Resolution
from supervisor.core.calendar import CalendarBook, WorkCalendar
from supervisor.core.engine import Engine
from supervisor.core.events import CaseEvent, from_document
from supervisor.core.rules import RuleBook
from supervisor.core.runner import Runner
from supervisor.core.state import CaseState

from .factories import ROOT, accepted, engine, event, event_doc

CN = ZoneInfo("Asia/Shanghai")
START = datetime(2026, 9, 1, tzinfo=CN)  # Mid-Autumn and National Day inside the window
END = datetime(2027, 1, 31, tzinfo=CN)  # and into the unconfirmed 2027
FAR = datetime(2028, 1, 1, tzinfo=CN)  # past every deadline a stream can set
CASES = (
    ("451221-2026-0000001", "451221"),
    ("451221103-2026-0000002", "451221103"),
    ("110101-2026-0000003", "110101"),
)
SEVERITY = {
    rule["id"]: rule["severity"]
    for rule in yaml.safe_load((ROOT / "rules" / "canonical.yaml").read_text(encoding="utf-8"))[
        "rules"
    ]
}
PROPERTY = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@cache
def regional() -> Engine:
    """The engine as replay and the worker build it. It keeps no case state (the runner
    does), so one serves every example."""
    return Engine(RuleBook.load(ROOT / "rules"), CalendarBook.load(ROOT / "rules" / "calendar"))


@cache
def national() -> Engine:
    return engine()


# -- generated events ---------------------------------------------------------------------

SPAN = int((END - START).total_seconds())
instants = st.integers(0, SPAN).map(lambda s: START + timedelta(seconds=s))
words = st.sampled_from(["", " ", "材料不全", "《中华人民共和国行政许可法》第三十八条"])
steps = st.sampled_from(["review", "site_inspection", "approval"])
money = st.integers(0, 50_000).map(lambda cents: cents / 100)
limits = st.one_of(
    st.fixed_dictionaries(
        {
            "value": st.sampled_from([0.5, 1, 1.25, 3, 5, 20]) | st.integers(1, 60),
            "unit": st.just("working_day"),
        }
    ),
    st.fixed_dictionaries({"value": st.integers(1, 90), "unit": st.just("natural_day")}),
)
PAYLOADS: dict[str, st.SearchStrategy[dict[str, Any]]] = {
    "accepted": st.fixed_dictionaries(
        {"item_code": st.just("451221-XK-0042"), "promised_limit": limits},
        optional={
            "item_name": st.just("食品经营许可（新办）"),
            "statutory_limit": limits,
            "immediate": st.booleans(),
            "fee_standard": money,
            "required_steps": st.lists(steps, max_size=3, unique=True),
        },
    ),
    "not_accepted": st.fixed_dictionaries({}, optional={"reason": words, "legal_basis": words}),
    "supplement_requested": st.fixed_dictionaries(
        {}, optional={"missing_materials": st.lists(st.sampled_from(["营业执照", "身份证明"]))}
    ),
    "step_completed": st.fixed_dictionaries(
        {"step": steps}, optional={"outcome": st.sampled_from(["pass", "fail"])}
    ),
    "suspended": st.fixed_dictionaries(
        {},
        optional={
            "reason_code": st.sampled_from(["hearing", "testing", "expert_review", "other"]),
            "reason": words,
        },
    ),
    "extended": st.fixed_dictionaries(
        {
            "value": st.sampled_from([0.5, 1, 10, 10.5]) | st.integers(1, 30),
            "unit": st.sampled_from(["working_day", "natural_day"]),
        },
        optional={"approved_by": st.sampled_from(["", "局长"]), "reason": words},
    ),
    "fee_charged": st.fixed_dictionaries({"amount": money}, optional={"currency": st.just("CNY")}),
    "decided": st.fixed_dictionaries(
        {"outcome": st.sampled_from(["approve", "deny"])},
        optional={"reason": words, "legal_basis": words},
    ),
    "evaluated": st.fixed_dictionaries({"level": st.integers(1, 5)}, optional={"comment": words}),
}
TYPES = [
    "submitted", "accepted", "not_accepted", "supplement_requested", "supplement_received",
    "step_completed", "suspended", "resumed", "extended", "fee_charged", "decided",
    "concluded", "delivered", "withdrawn", "evaluated", "rectified", "complained",
]  # fmt: skip
# The usual life of a case, in contract order; a story takes any subsequence of it.
LIFE = [
    "submitted", "supplement_requested", "supplement_received", "accepted", "fee_charged",
    "step_completed", "suspended", "resumed", "extended", "step_completed", "decided",
    "concluded", "delivered", "evaluated", "rectified", "complained",
]  # fmt: skip


def stamp(instant: datetime, utc: bool) -> str:
    """RFC 3339, in Beijing time or in UTC: the same instant either way."""
    if utc:
        return instant.astimezone(ZoneInfo("UTC")).isoformat().replace("+00:00", "Z")
    return instant.isoformat()


@st.composite
def one_event(draw: st.DrawFn, kind: str, when: datetime, number: int) -> CaseEvent:
    case_id, center_id = draw(st.sampled_from(CASES))
    payload = draw(PAYLOADS.get(kind, st.just({})))
    doc = event_doc(
        kind,
        stamp(when, draw(st.booleans())),
        case_id=case_id,
        center_id=center_id,
        event_id=f"e{number:03d}",
        **payload,
    )
    return from_document(doc)  # InvalidEvent here would be a bug in this generator


def story(
    draw: st.DrawFn, case: tuple[str, str], first: int, min_gap: int, min_size: int = 0
) -> list[CaseEvent]:
    """A case's usual life: a subsequence of LIFE, in that order, times never decreasing
    (strictly increasing when `min_gap` is 1)."""
    when = draw(instants)
    kinds = sorted(
        draw(st.lists(st.integers(0, len(LIFE) - 1), min_size=min_size, max_size=12, unique=True))
    )
    events = []
    for number, index in enumerate(kinds, start=first):
        when += timedelta(seconds=draw(st.integers(min_gap, 12 * 86400)))
        doc = event_doc(
            LIFE[index],
            stamp(when, draw(st.booleans())),
            case_id=case[0],
            center_id=case[1],
            event_id=f"s{number:03d}",
            **draw(PAYLOADS.get(LIFE[index], st.just({}))),
        )
        events.append(from_document(doc))  # InvalidEvent here would be a generator bug
    return events


def arrival(draw: st.DrawFn, events: list[CaseEvent], order: str) -> list[CaseEvent | datetime]:
    """The events in the order a center's uploads may bring them, some re-delivered, with
    the worker's clock ticking (a datetime) in between."""
    if order == "event time":
        events = sorted(events, key=lambda e: e.occurred_at)
    elif order == "shuffled":
        events = list(draw(st.permutations(events)))
    fed: list[CaseEvent | datetime] = list(events)
    if events:
        for _ in range(draw(st.integers(0, 4))):  # at-least-once delivery
            again = events[draw(st.integers(0, len(events) - 1))]
            fed.insert(draw(st.integers(0, len(fed))), again)
    for _ in range(draw(st.integers(0, 3))):
        fed.insert(draw(st.integers(0, len(fed))), draw(instants))
    return fed


@st.composite
def streams(draw: st.DrawFn) -> list[CaseEvent | datetime]:
    """Stories of cases (two may share a case) plus anything, any time, for any case."""
    events: list[CaseEvent] = []
    for _ in range(draw(st.integers(0, 3))):
        events += story(draw, draw(st.sampled_from(CASES)), len(events), min_gap=0)
    for number in range(draw(st.integers(0, 15))):
        events.append(draw(one_event(draw(st.sampled_from(TYPES)), draw(instants), number)))
    order = draw(st.sampled_from(["event time", "as generated", "shuffled"]))
    return arrival(draw, events, order)


@st.composite
def orderings(draw: st.DrawFn) -> tuple[list[CaseEvent], list[CaseEvent | datetime]]:
    """Stories of distinct cases, no two events of a case at the same second: the events
    in event time, and the same events as they may arrive."""
    events: list[CaseEvent] = []
    cases = draw(st.permutations(CASES))[: draw(st.integers(1, len(CASES)))]
    for case in cases:
        events += story(draw, case, len(events), min_gap=1, min_size=4)
    in_time = sorted(events, key=lambda e: e.occurred_at)
    return in_time, arrival(draw, events, "shuffled")


Step = tuple[str, Alert | Resolution]


def drive(runner: Runner, fed: list[CaseEvent | datetime]) -> list[Step]:
    """Feed and tick, then advance far: every alert raised and every alert resolved, in
    the order the runner produced them."""
    steps: list[Step] = []
    for item in [*fed, FAR]:
        before = len(runner.resolved)
        raised = runner.advance(item) if isinstance(item, datetime) else runner.feed(item)
        steps += [("resolved", r) for r in runner.resolved[before:]]
        steps += [("raised", a) for a in raised]
    return steps


# -- (a) nothing raises, every alert is well formed and raised once ----------------------


@PROPERTY
@given(fed=streams())
def test_any_stream_runs_and_no_alert_is_raised_twice(fed: list[CaseEvent | datetime]) -> None:
    runner = Runner(regional())
    steps = drive(runner, fed)
    assert runner.errors == []
    raised: set[str] = set()
    resolved: set[str] = set()
    for _, item in steps:
        if isinstance(item, Resolution):
            # only an alert that was raised, and is still standing, can be resolved
            assert item.alert_id in raised and item.alert_id not in resolved
            resolved.add(item.alert_id)
            continue
        assert item.alert_id not in raised, f"{item.alert_id} raised twice"
        raised.add(item.alert_id)
        assert item.severity == SEVERITY[item.rule_id]
        assert item.alert_id.startswith(f"{item.rule_id}:{item.case_id}")
        assert item.center_id == dict(CASES)[item.case_id]
        assert item.raised_at.utcoffset() == timedelta(hours=8)  # Beijing time
        assert item.raised_at <= FAR
    for state in runner.store.values():  # advance() left nothing overdue behind
        due = regional().next_due(state)
        assert due is None or due > FAR


# -- (b) re-delivery and restarts change nothing -----------------------------------------


@PROPERTY
@given(fed=streams())
def test_feeding_the_same_events_again_raises_nothing_new(fed: list[CaseEvent | datetime]) -> None:
    runner = Runner(regional())
    drive(runner, fed)
    resolved = len(runner.resolved)
    again: list[Alert] = []
    for item in fed:
        if isinstance(item, CaseEvent):
            again += runner.feed(item)
    assert again == []
    assert runner.advance(FAR) == []
    assert len(runner.resolved) == resolved


@PROPERTY
@given(fed=streams())
def test_each_event_delivered_twice_gives_the_alerts_of_one_delivery(
    fed: list[CaseEvent | datetime],
) -> None:
    doubled: list[CaseEvent | datetime] = []
    for item in fed:
        doubled += [item, item] if isinstance(item, CaseEvent) else [item]
    once = drive(Runner(regional()), fed)
    twice = drive(Runner(regional()), doubled)
    assert [(kind, item.to_dict()) for kind, item in twice] == [
        (kind, item.to_dict()) for kind, item in once
    ]


class JsonStore(MutableMapping[str, CaseState]):
    """A store that keeps only each case's JSON, as the worker's changelog table does: a
    state read back is rebuilt from it, as after a restart."""

    def __init__(self) -> None:
        self._data: dict[str, dict[str, Any]] = {}

    def __getitem__(self, key: str) -> CaseState:
        return CaseState.from_json(self._data[key])

    def __setitem__(self, key: str, value: CaseState) -> None:
        self._data[key] = value.to_json()

    def __delitem__(self, key: str) -> None:
        del self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)


@PROPERTY
@given(fed=streams())
def test_state_rebuilt_from_json_gives_the_same_alerts(fed: list[CaseEvent | datetime]) -> None:
    in_memory = drive(Runner(regional()), fed)
    from_json = drive(Runner(regional(), JsonStore()), fed)
    assert [(kind, item.to_dict()) for kind, item in from_json] == [
        (kind, item.to_dict()) for kind, item in in_memory
    ]


# -- late events are judged in their place in event time ----------------------------------


def standing(steps: list[Step]) -> set[tuple[str, str]]:
    """The alerts raised and not resolved, by id without its revision (`:r2`, a
    re-raised alert's new id) and with their `raised_at`."""
    resolved = {item.alert_id for kind, item in steps if kind == "resolved"}
    return {
        (re.sub(r":r[0-9]+$", "", item.alert_id), item.raised_at.isoformat())
        for kind, item in steps
        if isinstance(item, Alert) and item.alert_id not in resolved
    }


# Found by this property: an approved extension uploaded after the clock passed the
# extended deadline too (see tests/core/test_rule_library.py for the plain case).
LATE = (
    accepted("2026-09-30T10:00:00+08:00", 3, statutory=None, event_id="late-1"),
    event(
        "extended",
        "2026-10-09T09:00:00+08:00",
        value=2,
        unit="working_day",
        approved_by="局长",
        event_id="late-2",
    ),
)


@PROPERTY
@example(streams=([*LATE], [LATE[0], datetime(2026, 10, 20, tzinfo=CN), LATE[1]]))
@given(streams=orderings())
def test_the_arrival_order_does_not_change_the_judgement(
    streams: tuple[list[CaseEvent], list[CaseEvent | datetime]],
) -> None:
    in_time, arrived = streams
    assert standing(drive(Runner(regional()), arrived)) == standing(
        drive(Runner(regional()), list(in_time))
    )


# -- (c) a suspension moves the deadline by exactly the working time suspended -------------

CAL = WorkCalendar("Asia/Shanghai")  # the national calendar of factories.engine()
ACCEPT_FROM = datetime(2026, 1, 5, tzinfo=CN)  # Spring Festival, Labour Day, National Day
ACCEPT_SPAN = int((datetime(2026, 12, 15, tzinfo=CN) - ACCEPT_FROM).total_seconds())
accepted_times = st.integers(0, ACCEPT_SPAN).map(lambda s: ACCEPT_FROM + timedelta(seconds=s))
promised = st.one_of(
    st.tuples(
        st.sampled_from([0.5, 1, 1.25, 3, 5, 20]) | st.integers(1, 30), st.just("working_day")
    ),
    st.tuples(st.integers(1, 30), st.just("natural_day")),
)


def overdue_at(events: list[CaseEvent]) -> datetime:
    runner = Runner(national())
    for item in events:
        runner.feed(item)
    alerts = [a for a in runner.advance(FAR) if a.rule_id == "deadline.overdue"]
    assert len(alerts) == 1
    return alerts[0].raised_at


@PROPERTY
@given(
    accepted_at=accepted_times,
    limit=promised,
    stretches=st.lists(
        st.tuples(st.floats(0, 0.999), st.integers(1, 40 * 86400)), min_size=1, max_size=2
    ),
)
def test_a_suspension_moves_the_overdue_alert_by_the_working_time_suspended(
    accepted_at: datetime, limit: tuple[float, str], stretches: list[tuple[float, int]]
) -> None:
    base = [accepted(accepted_at.isoformat(), limit[0], limit[1], statutory=None)]
    without = overdue_at(base)

    # Each stretch starts somewhere before the deadline as it then stands (after the
    # previous stretch ended), at a whole second, and lasts up to 40 calendar days.
    events = list(base)
    expected, suspended, cursor = without, 0.0, accepted_at
    for share, length in stretches:
        room = int((expected - cursor).total_seconds())
        if room <= 0:
            break
        begin = cursor + timedelta(seconds=int(share * room))
        end = begin + timedelta(seconds=length)
        # every working second suspended, the day of acceptance's too (contract §2)
        stretch = CAL.between(begin, end)
        events += [
            event("suspended", begin.isoformat(), reason_code="testing"),
            event("resumed", end.isoformat()),
        ]
        suspended += stretch
        expected = CAL.add(without, suspended)
        cursor = end

    assert overdue_at(events) == expected
    assert CAL.between(without, expected) == suspended
