"""The read model's queries, on SQLite and on a real PostgreSQL: alert search (filters,
free text, scope, stable paging), one alert and one case, and the figures by center,
department and period, counted by hand."""

from __future__ import annotations

import json
import random
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text

from supervisor.store.db import Database
from supervisor.store.projection import Projection, Record
from supervisor.store.queries import AlertQuery, Counts, ReadModel
from supervisor.web.journal import lifecycle_record
from tests.store.test_projection import BY, TOPICS, fact, journal
from tests.web.test_hub import make_alert

NOW = datetime.fromisoformat("2026-11-27T12:00:00+08:00")


@pytest.fixture
async def read(database_url: str) -> AsyncIterator[ReadModel]:
    db = Database(database_url)
    await db.upgrade()
    try:
        yield ReadModel(db, "Asia/Shanghai")
    finally:
        await db.dispose()


async def project(read: ReadModel, *records: Record) -> None:
    names = {"451221": "南丹县政务服务中心", "451224": "东兰县政务服务中心"}
    await Projection(read.db, TOPICS, center_names=names).apply(list(records))


def facts(*documents: dict[str, Any], partition: int = 0) -> list[Record]:
    return [
        Record("facts", partition, n, json.dumps(d, ensure_ascii=False).encode(), None)
        for n, d in enumerate(documents)
    ]


async def test_search_filters_pages_stably_and_counts(read: ReadModel) -> None:
    alerts = [
        make_alert(
            n, center_id="451221" if n % 2 else "451224", raised_at="2026-11-20T10:00:00+08:00"
        )
        for n in range(1, 8)
    ]
    alerts.append(
        {
            **make_alert(9, severity="yellow", rule_id="deadline.warning"),
            "details": {"department": "东兰县民政局", "item_name": "社会团体成立登记"},
        }
    )
    await project(read, *journal(*alerts))
    everything = await read.search(AlertQuery(limit=3))
    assert everything.total == 8 and everything.total_exact
    pages = [await read.search(AlertQuery(limit=3, offset=o)) for o in (0, 3, 6)]
    ids = [a["alert_id"] for page in pages for a in page.items]
    assert len(ids) == len(set(ids)) == 8  # no row twice, none skipped, though raised_at ties
    assert (await read.search(AlertQuery(centers=["451224"]))).total == 3
    assert (await read.search(AlertQuery(centers=[]))).total == 0
    assert (await read.search(AlertQuery(severity="yellow"))).total == 1
    assert (await read.search(AlertQuery(department="东兰县民政局"))).total == 1
    assert (await read.search(AlertQuery(case_id=alerts[0]["case_id"]))).total == 1
    assert (await read.search(AlertQuery(text="东兰县"))).total == 3  # the center's name
    assert (await read.search(AlertQuery(text="社会团体 成立"))).total == 1  # the item, both words
    assert (await read.search(AlertQuery(text="100%_"))).total == 0  # wildcards are text
    since = datetime.fromisoformat("2026-11-20T10:00:00+08:00")
    assert (await read.search(AlertQuery(since=since))).total == 7
    assert (await read.search(AlertQuery(until=since))).total == 1


async def test_one_alert_with_its_history_and_one_case_with_its_timeline(read: ReadModel) -> None:
    alert = {**make_alert(1), "case_id": "451221-2026-0001234"}
    alert["alert_id"] = f"deadline.overdue:{alert['case_id']}"
    await project(
        read,
        *journal(alert, lifecycle_record(alert["alert_id"], "acknowledge", by=BY, at=NOW)),
        *facts(
            fact(
                "451221-2026-0001234",
                "accepted",
                "2026-11-16T10:00:00+08:00",
                "open",
                accepted_at="2026-11-16T10:00:00+08:00",
                deadline="2026-11-24T00:00:00+08:00",
            )
        ),
        Record(
            "events",
            0,
            0,
            json.dumps(
                {
                    "schema_version": "1",
                    "event_id": "e1",
                    "case_id": "451221-2026-0001234",
                    "center_id": "451221",
                    "type": "submitted",
                    "occurred_at": "2026-11-16T09:02:11+08:00",
                    "applicant": {"name": "李小梅", "phone": "13977881234"},
                },
                ensure_ascii=False,
            ).encode(),
        ),
    )
    found = await read.alert(alert["alert_id"])
    assert found is not None
    shown, history = found
    assert shown["status"] == "acknowledged" and [h["action"] for h in history] == ["acknowledge"]
    assert await read.alert("nope") is None
    case = await read.case("451221-2026-0001234")
    assert case is not None and case["deadline"] == "2026-11-24T00:00:00+08:00"
    assert [e["type"] for e in case["timeline"]] == ["submitted"]
    assert case["timeline"][0]["applicant"] == {"name": "李*梅", "phone": "139****1234"}
    assert case["last_event_at"] == "2026-11-16T10:00:00+08:00"  # the fact's: later
    assert await read.case("unknown") is None


async def test_a_case_and_its_center_were_last_seen_at_their_latest_event(
    read: ReadModel,
) -> None:
    """A step that changes no figure sends no fact (supervisor/worker/facts.py): the
    case's last event and its center's come from the events as well."""
    case_id = "451221-2026-0001235"
    step = {
        "schema_version": "1",
        "event_id": "e2",
        "case_id": case_id,
        "center_id": "451221",
        "type": "step_completed",
        "occurred_at": "2026-11-16T15:30:00+08:00",
        "payload": {"step": "审查"},
    }
    arrived = int(datetime(2026, 11, 16, 7, 31, tzinfo=UTC).timestamp() * 1000)
    await project(
        read,
        *facts(
            fact(
                case_id,
                "accepted",
                "2026-11-16T10:00:00+08:00",
                "open",
                accepted_at="2026-11-16T10:00:00+08:00",
            )
        ),
        Record("events", 0, 0, json.dumps(step, ensure_ascii=False).encode(), arrived),
    )
    case = await read.case(case_id)
    assert case is not None and case["last_event_at"] == "2026-11-16T15:30:00+08:00"
    event_at, arrival_at = (await read.last_seen())["451221"]
    assert event_at == datetime(2026, 11, 16, 7, 30, tzinfo=UTC)
    assert arrival_at == datetime(2026, 11, 16, 7, 31, tzinfo=UTC)


async def test_figures_by_center_department_and_period(read: ReadModel) -> None:
    """Counted by hand: in 451221 c1 accepted 11-26 and concluded on time 11-27, c2
    accepted 11-27 and open, c3 accepted 11-20 and concluded late 11-27, c4 refused
    11-27; in 451224 c5 accepted 11-27 and withdrawn 11-27."""
    a = "2026-11-26T09:00:00+08:00"
    documents = [
        fact("c1", "accepted", a, "open", accepted_at=a),
        fact(
            "c1",
            "concluded",
            "2026-11-27T10:00:00+08:00",
            "concluded",
            accepted_at=a,
            concluded_at="2026-11-27T10:00:00+08:00",
            on_time=True,
        ),
        fact(
            "c2",
            "accepted",
            "2026-11-27T09:00:00+08:00",
            "open",
            accepted_at="2026-11-27T09:00:00+08:00",
            department="南丹县民政局",
        ),
        fact(
            "c3",
            "concluded",
            "2026-11-27T11:00:00+08:00",
            "concluded",
            accepted_at="2026-11-20T09:00:00+08:00",
            concluded_at="2026-11-27T11:00:00+08:00",
            on_time=False,
        ),
        fact("c4", "not_accepted", "2026-11-27T09:30:00+08:00", "not_accepted"),
        fact(
            "c5",
            "accepted",
            "2026-11-27T08:00:00+08:00",
            "open",
            center_id="451224",
            accepted_at="2026-11-27T08:00:00+08:00",
        ),
        fact(
            "c5",
            "withdrawn",
            "2026-11-27T08:30:00+08:00",
            "withdrawn",
            center_id="451224",
            accepted_at="2026-11-27T08:00:00+08:00",
        ),
    ]
    await project(
        read, *facts(*documents), *journal(make_alert(1, raised_at="2026-11-27T01:00:00+08:00"))
    )
    since, until = read.day_range(date(2026, 11, 27), date(2026, 11, 27))
    by_center = {c.key: c for c in await read.figures(since, until)}
    nandan = by_center[("451221",)]
    assert (nandan.accepted, nandan.concluded, nandan.on_time, nandan.overdue) == (1, 2, 1, 1)
    assert nandan.not_accepted == 1 and nandan.on_time_rate == 0.5
    assert nandan.alerts == {"deadline.overdue": 1}
    donglan = by_center[("451224",)]
    assert (donglan.accepted, donglan.withdrawn, donglan.concluded) == (1, 1, 0)
    week = {
        c.key: c
        for c in await read.figures(*read.day_range(date(2026, 11, 20), date(2026, 11, 27)))
    }
    assert week[("451221",)].accepted == 3
    scoped = await read.figures(since, until, ["451224"])
    assert [c.key for c in scoped] == [("451224",)]
    departments = {c.key: c for c in await read.figures(since, until, by="department")}
    assert departments[("451221", "南丹县民政局")].accepted == 1
    assert departments[("451221", "南丹县市场监督管理局")].concluded == 2
    headline = await read.headline(NOW)
    assert headline["accepted_today"] == 2 and headline["open_cases"] == 1
    assert headline["concluded_today"] == 2 and headline["on_time_rate_today"] == 0.5
    assert headline["concluded_month"] == 2
    assert await read.open_cases() == {"451221": 1}
    assert await read.open_alerts() == {"451221": {"red": 1, "yellow": 0}}
    last = await read.last_seen()
    assert last["451224"][0] == datetime(2026, 11, 27, 0, 30, tzinfo=UTC)


async def test_a_late_fact_re_judges_its_case_in_the_figures(read: ReadModel) -> None:
    """An approved extension uploaded after the conclusion moves the deadline: the
    case's latest fact says on time, and the figures follow it (nothing counted twice)."""
    accepted = "2026-11-20T09:00:00+08:00"
    concluded = "2026-11-27T10:00:00+08:00"
    late = fact(
        "c1",
        "concluded",
        concluded,
        "concluded",
        accepted_at=accepted,
        concluded_at=concluded,
        on_time=False,
    )
    extended = {
        **late,
        "event_type": "extended",
        "occurred_at": "2026-11-24T09:00:00+08:00",
        "on_time": True,
    }
    await project(read, *facts(late))
    since, until = read.day_range(date(2026, 11, 27), date(2026, 11, 27))
    (before,) = await read.figures(since, until)
    assert (before.on_time, before.overdue) == (0, 1)
    await Projection(read.db, TOPICS).apply(
        [Record("facts", 0, 1, json.dumps(extended, ensure_ascii=False).encode())]
    )
    (after,) = await read.figures(since, until)
    assert (after.concluded, after.on_time, after.overdue) == (1, 1, 0)


async def test_the_figures_per_center_read_from_the_indexes_count_as_the_one_pass(
    read: ReadModel,
) -> None:
    """Per center, the figures are read in three parts from the indexes by time
    (accepted; concluded; refused and withdrawn); per department, in one pass over the
    cases. Both count a random mix of 400 cases over three months as the cases' own
    last facts say, and each center's figures are its departments' added up."""
    rng = random.Random(7)
    zone = ZoneInfo("Asia/Shanghai")
    start = datetime(2026, 10, 15, tzinfo=zone)
    documents: list[dict[str, Any]] = []
    last: dict[str, dict[str, Any]] = {}
    for n in range(400):
        accepted = start + timedelta(hours=rng.uniform(0, 24 * 60))
        ended = accepted + timedelta(hours=rng.uniform(1, 24 * 20))
        told = {
            "center_id": rng.choice(["451221", "451224", "451221101"]),
            "department": rng.choice(["民政局", "市场监督管理局", None]),
            "accepted_at": accepted.isoformat(),
        }
        case_id = f"m{n}"
        documents.append(fact(case_id, "accepted", accepted.isoformat(), "open", **told))
        ending = rng.choice(["open", "concluded", "concluded", "not_accepted", "withdrawn"])
        if ending == "concluded":
            documents.append(
                fact(
                    case_id,
                    "concluded",
                    ended.isoformat(),
                    "concluded",
                    concluded_at=ended.isoformat(),
                    on_time=rng.random() < 0.8,
                    **told,
                )
            )
        elif ending != "open":
            documents.append(fact(case_id, ending, ended.isoformat(), ending, **told))
        last[case_id] = documents[-1]
    await project(read, *facts(*documents))
    since, until = read.day_range(date(2026, 11, 1), date(2026, 11, 30))

    def within(at: str | None) -> bool:
        return at is not None and since <= datetime.fromisoformat(at) < until

    expected: dict[str, list[int]] = {}
    for one in last.values():
        status = one["status"]
        concluded = status == "concluded" and within(one["concluded_at"])
        closed = status in ("not_accepted", "withdrawn") and within(one["occurred_at"])
        if not (within(one["accepted_at"]) or concluded or closed):
            continue
        tally = expected.setdefault(one["center_id"], [0] * 6)
        tally[0] += within(one["accepted_at"])
        tally[1] += concluded
        tally[2] += concluded and one["on_time"] is True
        tally[3] += concluded and one["on_time"] is False
        tally[4] += closed and status == "not_accepted"
        tally[5] += closed and status == "withdrawn"

    def numbers(counts: Counts) -> list[int]:
        return [
            counts.accepted,
            counts.concluded,
            counts.on_time,
            counts.overdue,
            counts.not_accepted,
            counts.withdrawn,
        ]

    by_center = {c.key[0]: numbers(c) for c in await read.figures(since, until)}
    assert by_center == expected and len(expected) == 3
    added: dict[str | None, list[int]] = {}
    for part in await read.figures(since, until, by="department"):
        total = added.setdefault(part.key[0], [0] * 6)
        total[:] = [a + b for a, b in zip(total, numbers(part), strict=True)]
    assert added == expected
    scoped = await read.figures(since, until, ["451224"])
    assert [(c.key[0], numbers(c)) for c in scoped] == [("451224", expected["451224"])]


async def test_each_database_is_set_up_as_db_py_says(read: ReadModel) -> None:
    """PostgreSQL plans every statement for its values (a generic plan of the month's
    loop facts, chosen from a prepared statement's sixth run, took ten times as long);
    SQLite writes ahead (the projection writes while the API reads)."""
    async with read.db.engine.connect() as connection:
        if read.db.dialect == "postgresql":
            setting = await connection.scalar(text("SHOW plan_cache_mode"))
            assert setting == "force_custom_plan"
        else:
            assert await connection.scalar(text("PRAGMA journal_mode")) == "wal"
