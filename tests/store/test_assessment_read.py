"""The assessment over the read model, on SQLite and PostgreSQL: a month and the month
before projected from facts and alerts, scored per center and per department by the
shipped scheme, every figure worked out by hand; and `supervisor assess` printing it."""

from __future__ import annotations

import asyncio
import json
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import column, insert, select, table
from typer.testing import CliRunner

from supervisor import orders
from supervisor.assessment.periods import period
from supervisor.assessment.run import as_json, as_text, assess_period, assess_trend
from supervisor.assessment.scheme import load_scheme
from supervisor.cli import app
from supervisor.core.calendar import CalendarBook
from supervisor.report.model import headline_of
from supervisor.store import rows
from supervisor.store.db import Database
from supervisor.store.queries import ReadModel
from supervisor.store.schema import case_facts
from supervisor.web.journal import lifecycle_record
from tests.store.migrating import downgrade_to, upgrade_to
from tests.store.test_projection import fact, journal
from tests.store.test_queries import facts, project, read  # noqa: F401 (a fixture)
from tests.web.test_hub import make_alert, make_resolution

ROOT = Path(__file__).resolve().parents[2]
SCHEME = load_scheme(ROOT / "rules" / "assessment" / "scheme.yaml")
CALENDARS = CalendarBook.load(ROOT / "rules" / "calendar")
CIVIL = "南丹县民政局"
MARKET = "南丹县市场监督管理局"


def case(
    case_id: str,
    accepted: str,
    concluded: str | None = None,
    on_time: bool | None = None,
    center: str = "451221",
    department: str = CIVIL,
) -> list[dict[str, Any]]:
    at = f"2026-{accepted}T09:00:00+08:00"
    told: dict[str, Any] = {"center_id": center, "department": department, "accepted_at": at}
    documents = [fact(case_id, "accepted", at, "open", **told)]
    if concluded is not None:
        done = f"2026-{concluded}T16:00:00+08:00"
        documents.append(
            fact(
                case_id, "concluded", done, "concluded", concluded_at=done, on_time=on_time, **told
            )
        )
    return documents


def card(n: int, rule: str, severity: str, raised: str, department: str) -> dict[str, Any]:
    alert = make_alert(
        n, severity=severity, rule_id=rule, raised_at=f"2026-{raised}T10:00:00+08:00"
    )
    return {**alert, "details": {"department": department}}


async def seed(read: ReadModel, *more: dict[str, Any]) -> None:  # noqa: F811 (the fixture's name)
    """November: 南丹县 (451221) accepts c1-c4; c1 and c3 concluded on time, c2 late,
    c4 open; a red card (民政局) and a yellow one (市场监管局). 东兰县 (451224): c5
    concluded on time. October: 南丹县 c0 concluded on time."""
    documents = [
        *case("c0", "10-10", "10-12", True),
        *case("c1", "11-02", "11-05", True),
        *case("c2", "11-03", "11-20", False),
        *case("c3", "11-10", "11-12", True, department=MARKET),
        *case("c4", "11-15", department=MARKET),
        *case("c5", "11-04", "11-06", True, center="451224", department="东兰县民政局"),
        *more,
    ]
    alerts = journal(
        card(1, "deadline.overdue", "red", "11-10", CIVIL),
        card(2, "deadline.warning", "yellow", "11-20", MARKET),
    )
    await project(read, *facts(*documents), *alerts)


async def test_a_month_per_center_and_per_department_as_by_hand(read: ReadModel) -> None:  # noqa: F811
    await seed(read)
    names = {"451221": "南丹县政务服务中心", "451224": "东兰县政务服务中心"}
    by_center = await assess_period(read, SCHEME, period("2026-11"), CALENDARS, names=names)
    # 451224: 1/1 on time, no card: 100. 451221: 2/3 on time = 66.67 points; 4 handled,
    # 1 red = 25 per 100 -> 2 × 25 = 50, capped at 30; 1 yellow = 25 -> 12.5, capped at
    # 10: 26.7. October 451221: 100, so -73.3.
    assert [(u.key, u.score, u.grade, u.rank, u.change) for u in by_center.units] == [
        ("451224", 100.0, "优秀", 1, None),
        ("451221", 26.7, "不合格", 2, -73.3),
    ]
    shown = as_json(by_center)
    assert shown["period_label"] == "2026年11月" and shown["last_day"] == "2026-11-30"
    nandan = shown["units"][1]
    assert nandan["center_name"] == "南丹县政务服务中心" and nandan["group"] is None
    assert [(i["id"], i["points"], i["deducted"]) for i in nandan["indicators"]] == [
        ("on_time", 66.67, None),
        ("order_replies", None, None),  # no reply due: scored on the on-time rate alone
        ("red_cards", None, 30.0),
        ("yellow_cards", None, 10.0),
    ]
    # Per department within 南丹县: 民政局 c1 on time, c2 late: 50; its red card: 2 per
    # 100 × 50 = 100, capped at 30: 20. 市场监管局 c3 on time: 100; its yellow card, 1 of
    # 2 handled = 50 per 100: 25, capped at 10: 90.
    by_department = await assess_period(
        read, SCHEME, period("2026-11"), CALENDARS, "department", ["451221"], names
    )
    assert [(u.key, u.score, u.grade, u.rank) for u in by_department.units] == [
        (f"451221/{MARKET}", 90.0, "优秀", 1),
        (f"451221/{CIVIL}", 20.0, "不合格", 2),
    ]
    text = as_text(by_department)
    assert text.splitlines()[0] == f"{SCHEME.name} · 2026年11月 · 按部门"
    assert f"南丹县政务服务中心 {MARKET}" in text.splitlines()[2]
    assert [u.key for u in (await assess_period(
        read, SCHEME, period("2026-11"), CALENDARS, centers=["451224"]
    )).units] == ["451224"]  # fmt: skip


async def test_counties_roll_up_their_townships_and_a_trend_reads_each_month_once(
    read: ReadModel,  # noqa: F811
) -> None:
    township = "451221101"  # 南丹县 大厂镇: c6 concluded late
    await seed(read, *case("c6", "11-05", "11-25", False, center=township))
    county = await assess_period(read, SCHEME, period("2026-11"), CALENDARS, "county")
    # 南丹县 with its township: 2 of 4 on time: 50; 5 handled, 1 red = 20 per 100 -> 40,
    # capped at 30; 1 yellow = 20 per 100 -> 10: 10.0. October: c0 on time, 100.
    assert [(u.key, u.score, u.rank, u.change) for u in county.units] == [
        ("451224", 100.0, 1, None),
        ("451221", 10.0, 2, -90.0),
    ]
    assert as_text(county).splitlines()[0].endswith("按县（市、区）")
    by_center = await assess_period(read, SCHEME, period("2026-11"), CALENDARS)
    assert {u.key for u in by_center.units} == {"451224", "451221", township}

    october, november = await assess_trend(
        read, SCHEME, period("2026-11").trailing(2), CALENDARS, "county"
    )
    assert (october.period.name, november.period.name) == ("2026-10", "2026-11")
    assert [(u.key, u.score) for u in october.units] == [("451221", 100.0)]
    assert november.units == county.units  # the same as the month alone


def test_supervisor_assess_prints_the_ranking(tmp_path: Path, monkeypatch: Any) -> None:
    async def seeded() -> None:
        database = Database(f"sqlite:///{tmp_path / 'supervisor.db'}")
        await database.upgrade()
        try:
            await seed(ReadModel(database, "Asia/Shanghai"))
        finally:
            await database.dispose()

    asyncio.run(seeded())  # the command runs its own loop: this test has none
    monkeypatch.setenv("SUPERVISOR_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("SUPERVISOR_DATABASE_URL", raising=False)
    runner = CliRunner()
    answer = runner.invoke(app, ["assess", "--period", "2026-11", "--format", "json"])
    assert answer.exit_code == 0, answer.output
    ranked = json.loads(answer.output)["units"]
    assert [(u["center_id"], u["score"], u["grade"], u["rank"]) for u in ranked] == [
        ("451224", 100.0, "优秀", 1),
        ("451221", 26.7, "不合格", 2),
    ]
    scoped = runner.invoke(app, ["assess", "--period", "2026-11", "--scope", "451221"])
    assert scoped.exit_code == 0, scoped.output
    assert "南丹县政务服务中心" in scoped.output and "东兰县" not in scoped.output
    refused = runner.invoke(app, ["assess", "--period", "2026-13"])
    assert refused.exit_code == 1 and "a month is 01 to 12" in refused.output


async def test_ratings_and_complaints_are_read_and_scored(
    read: ReadModel,  # noqa: F811 (the fixture)
    tmp_path: Path,
) -> None:
    """The rating's level read back from the fact's JSON (on each database), and a scheme
    that scores the loops: c1 rated 1 on 11-02 and put right 11-20 (due 11-23 24:00: in
    time); c2 rated 5; c3 complained 11-02, answered 12-01 (late)."""
    told = {"department": CIVIL, "accepted_at": "2026-10-26T09:00:00+08:00"}
    documents = [
        *case("c1", "10-26", "10-28", True),
        fact("c1", "evaluated", "2026-11-02T10:00:00+08:00", "concluded", level=1, **told),
        fact("c1", "rectified", "2026-11-20T10:00:00+08:00", "concluded", **told),
        fact("c2", "evaluated", "2026-11-03T10:00:00+08:00", "concluded", level=5, **told),
        fact("c3", "complained", "2026-11-02T10:00:00+08:00", "concluded", **told),
        fact("c3", "complaint_answered", "2026-12-01T10:00:00+08:00", "concluded", **told),
    ]
    await project(read, *facts(*documents))
    since, until = read.day_range(period("2026-11").first, period("2026-11").last)
    rows = await read.loop_facts(since, until)
    assert sorted((r[1], r[3], r[5]) for r in rows) == [
        ("c1", "evaluated", 1),
        ("c1", "rectified", None),
        ("c2", "evaluated", 5),
        ("c3", "complained", None),
    ]
    scheme_file = tmp_path / "scheme.yaml"
    scheme_file.write_text(
        """name: 好差评与投诉
indicators:
  - {id: good, name: 好评率, measure: good_rate, weight: 40}
  - {id: rectified, name: 差评按期整改率, measure: bad_rectified_rate, weight: 30}
  - {id: answered, name: 投诉按期答复率, measure: complaint_answered_rate, weight: 30}
grades:
  - {name: 合格, min: 60}
  - {name: 不合格, min: 0}
""",
        encoding="utf-8",
    )
    result = await assess_period(read, load_scheme(scheme_file), period("2026-11"), CALENDARS)
    # 1 good of 2 ratings: 20 of 40; the bad one put right in time: 30; the complaint
    # answered late: 0. 50, 不合格.
    [unit] = result.units
    assert (unit.key, unit.score, unit.grade) == ("451221", 50.0, "不合格")
    assert [(i.id, i.value, i.points) for i in unit.indicators] == [
        ("good", 0.5, 20.0),
        ("rectified", 1.0, 30.0),
        ("answered", 0.0, 0.0),
    ]


async def test_the_levels_of_an_older_database_are_copied_from_the_facts(
    database_url: str,
) -> None:
    """A database from before the level column: its ratings' levels are copied from the
    facts' JSON by the migration, and the way back drops the column."""
    db = Database(database_url)
    try:
        async with db.engine.begin() as connection:
            await connection.run_sync(upgrade_to, "0004")
        documents = [
            fact("c1", "evaluated", "2026-11-02T10:00:00+08:00", "concluded", level=2),
            fact("c1", "rectified", "2026-11-03T10:00:00+08:00", "concluded"),
        ]
        before = table(
            "case_facts", *(column(c.name, c.type) for c in case_facts.c if c.name != "level")
        )
        async with db.engine.begin() as connection:
            await connection.execute(
                insert(before),
                [
                    {k: v for k, v in rows.fact_rows(d).fact.items() if k != "level"}
                    for d in documents
                ],
            )
        await db.upgrade()
        async with db.engine.connect() as connection:
            found = (
                await connection.execute(select(case_facts.c.event_type, case_facts.c.level))
            ).all()
        assert sorted((kind, level) for kind, level in found) == [
            ("evaluated", 2),
            ("rectified", None),
        ]
        async with db.engine.begin() as connection:
            await connection.run_sync(downgrade_to, "0004")
    finally:
        await db.dispose()


INSPECTOR = {"name": "王监察", "role": "inspector", "id": "svt_aaaaaaaaaaaa"}
DIRECTOR = {"name": "李主任", "role": "director", "id": "svt_bbbbbbbbbbbb"}


def order_step(
    order_id: str,
    action: orders.Action,
    at: str,
    due: str | None = None,
    case_id: str = "",
    center: str = "451221",
) -> dict[str, Any]:
    when = datetime.fromisoformat(f"2026-{at}T10:00:00+08:00")
    due_at = datetime.fromisoformat(f"2026-{due}T00:00:00+08:00") if due else None
    if action == "issue":
        assert due_at is not None
        return orders.issue_record(
            order_id,
            center_id=center,
            case_id=case_id,
            alert_id=None,
            requirement="请核实并整改",
            days=5,
            due_at=due_at,
            by=INSPECTOR,
            at=when,
        )
    who = DIRECTOR if action == "reply" else INSPECTOR
    more = {"due_at": due_at} if due_at else {}
    return orders.step_record(
        order_id, action, center_id=center, note="已办", by=who, at=when, **more
    )


def appeal(alert_id: str, decision: str, decided: str) -> list[dict[str, Any]]:
    asked = datetime.fromisoformat("2026-11-12T09:00:00+08:00")
    return [
        lifecycle_record(alert_id, "appeal", by=DIRECTOR, at=asked, reason="系统时限有误"),
        lifecycle_record(
            alert_id,
            decision,  # type: ignore[arg-type]
            by=INSPECTOR,
            at=datetime.fromisoformat(f"2026-{decided}T15:00:00+08:00"),
            note="经核实",
        ),
    ]


async def test_replies_to_orders_and_appeals_decided_are_scored(
    read: ReadModel,  # noqa: F811 (the fixture)
    tmp_path: Path,
) -> None:
    """On the month of `seed`: order DB-1 on c1 (民政局) due 11-10 00:00, replied 11-06
    (in time), sent back due 11-20, replied 11-25 (late); DB-2 on c3 (市场监管局) due in
    December; DB-3 on c5 (东兰县) due in October. The red card (民政局) appealed and
    upheld 11-15: withdrawn, no card; the yellow one (市场监管局) appealed, rejected."""
    await seed(read)
    red, yellow = "deadline.overdue:451221-2026-0000001", "deadline.warning:451221-2026-0000002"
    records = [
        order_step("DB-1", "issue", "11-02", "11-10", case_id="c1"),
        order_step("DB-1", "reply", "11-06"),
        order_step("DB-1", "return", "11-07", "11-20"),
        order_step("DB-1", "reply", "11-25"),
        order_step("DB-2", "issue", "11-25", "12-02", case_id="c3"),
        order_step("DB-3", "issue", "10-20", "10-27", case_id="c5", center="451224"),
        *appeal(red, "accept_appeal", "11-15"),
        *appeal(yellow, "reject_appeal", "11-22"),
    ]
    await project(read, *journal(*records, start=2))
    assert (await read.alert_status(red) or ("",))[0] == "withdrawn"
    scheme_file = tmp_path / "scheme.yaml"
    scheme_file.write_text(
        """name: 督办与申诉
indicators:
  - {id: on_time, name: 按期办结率, measure: on_time_rate, weight: 40}
  - {id: replied, name: 督办单按期回复率, measure: order_reply_rate, weight: 30}
  - {id: upheld, name: 申诉成立率, measure: appeal_upheld_rate, weight: 30}
  - {id: red, name: 红牌扣分, measure: red_per_100, deduct: {points: 2, max: 30}}
  - {id: yellow, name: 黄牌扣分, measure: yellow_per_100, deduct: {points: 0.5, max: 10}}
grades:
  - {name: 合格, min: 60}
  - {name: 不合格, min: 0}
""",
        encoding="utf-8",
    )
    scheme = load_scheme(scheme_file)
    november = period("2026-11")
    by_center = await assess_period(read, scheme, november, CALENDARS)
    # 451221: on time 2/3 -> 26.67; replies 1 of 2 due -> 15; appeals 1 upheld of 2 ->
    # 15; the red card withdrawn: no deduction; 1 yellow in 4 handled -> 12.5, capped
    # at 10: 46.7. 451224: on time only (no order due, no appeal): 100.
    assert [(u.key, u.score) for u in by_center.units] == [("451224", 100.0), ("451221", 46.7)]
    values = {p.id: p.value for p in by_center.units[1].indicators}
    assert values == {"on_time": 2 / 3, "replied": 0.5, "upheld": 0.5, "red": 0.0, "yellow": 25.0}
    by_department = await assess_period(read, scheme, november, CALENDARS, "department")
    # 民政局: c1 on time, c2 late -> 20; DB-1 1 of 2 -> 15; its appeal upheld -> 30: 65.
    # 市场监管局: c3 on time -> 40 of the 70 judged (no reply due), scaled: 57.14; its
    # yellow card, 1 in 2 handled -> 25, capped at 10: 47.1.
    assert [(u.key, u.score) for u in by_department.units] == [
        ("451224/东兰县民政局", 100.0),
        (f"451221/{CIVIL}", 65.0),
        (f"451221/{MARKET}", 47.1),
    ]
    # October: 南丹县 c0 on time, no reply due: 100; 东兰县 no case, DB-3's reply due
    # 10-27 and never given: 0.
    october = await assess_period(read, scheme, period("2026-10"), CALENDARS, "county")
    assert [(u.key, u.score) for u in october.units] == [("451221", 100.0), ("451224", 0.0)]


async def test_a_card_proved_wrong_is_no_card_and_only_an_appeal_upheld_is_delisted(
    read: ReadModel,  # noqa: F811 (the fixture)
) -> None:
    """On the month of `seed`: the red card (民政局) withdrawn by the system, a late event
    having proved it wrong (系统撤销); the yellow one (市场监管局) appealed and upheld
    (摘牌). Neither costs 南丹县 anything; the figures tell the two apart, and the
    report's headline calls only the second 摘牌."""
    await seed(read)
    red, yellow = "deadline.overdue:451221-2026-0000001", "deadline.warning:451221-2026-0000002"
    proved_wrong = make_resolution(make_alert(1), resolved_at="2026-11-12T09:30:00+08:00")
    await project(read, *journal(proved_wrong, *appeal(yellow, "accept_appeal", "11-25"), start=2))
    assert (await read.alert_status(red) or ("",))[0] == "withdrawn"
    assert (await read.alert_status(yellow) or ("",))[0] == "withdrawn"
    since, until = read.day_range(date(2026, 11, 1), date(2026, 11, 30))
    nandan = next(c for c in await read.figures(since, until) if c.key == ("451221",))
    assert nandan.severities == {"red": 1, "yellow": 1}
    assert nandan.withdrawn_cards == {"red": 1, "yellow": 1}
    assert nandan.delisted_cards == {"yellow": 1}
    headline = headline_of([nandan])
    assert (headline.red_delisted, headline.red_withdrawn_by_system) == (0, 1)
    assert (headline.yellow_delisted, headline.yellow_withdrawn_by_system) == (1, 0)
    # 2/3 on time -> 66.67 points over the 100 of on_time; no card: nothing deducted
    by_center = await assess_period(read, SCHEME, period("2026-11"), CALENDARS)
    assert [(u.key, u.score) for u in by_center.units] == [("451224", 100.0), ("451221", 66.7)]


async def test_a_month_in_progress_is_assessed_as_it_stands_now(
    read: ReadModel,  # noqa: F811 (the fixture)
    tmp_path: Path,
) -> None:
    """December, assessed at 12-07 10:00: DB-4 was replied in time (due 12-04 24:00),
    DB-5 is due 12-11 24:00 and not replied yet: one reply due, in time (100%), not one
    of two. Once December is over, DB-5's reply never given is late (50%); the trend
    judges every period at the same instant."""
    await seed(read)
    records = [
        order_step("DB-4", "issue", "11-27", "12-05", case_id="c1"),
        order_step("DB-4", "reply", "12-03"),
        order_step("DB-5", "issue", "12-04", "12-12", case_id="c1"),
    ]
    await project(read, *journal(*records, start=2))
    scheme_file = tmp_path / "scheme.yaml"
    scheme_file.write_text(
        """name: 督办
indicators:
  - {id: replied, name: 督办单按期回复率, measure: order_reply_rate, weight: 100}
grades:
  - {name: 合格, min: 0}
""",
        encoding="utf-8",
    )
    scheme = load_scheme(scheme_file)
    december = period("2026-12")
    mid = datetime.fromisoformat("2026-12-07T10:00:00+08:00")
    now = await assess_period(read, scheme, december, CALENDARS, now=mid)
    assert [(u.key, u.indicators[0].value) for u in now.units] == [("451221", 1.0)]
    [trend] = await assess_trend(read, scheme, [december], CALENDARS, now=mid)
    assert trend == now
    over = datetime.fromisoformat("2027-01-01T00:00:00+08:00")
    later = await assess_period(read, scheme, december, CALENDARS, now=over)
    assert [(u.key, u.indicators[0].value) for u in later.units] == [("451221", 0.5)]
