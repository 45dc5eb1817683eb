"""The monthly report over a hand-made month (month.py), on SQLite and PostgreSQL: the
county's and the city's PDF, read back with poppler's tools. Each shows Chinese text in an
embedded CJK font (pages rendered to test-output/report/ for people to look at), its
scores, grades and ranks exactly as `assess_period` gives them, the worst overdue cases
masked, the orders with their replies; a county's report names no center outside it."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from supervisor import orders
from supervisor.assessment.periods import period
from supervisor.assessment.run import Assessment, assess_period, assess_trend
from supervisor.assessment.scheme import load_scheme
from supervisor.centers import CenterRegistry
from supervisor.core.calendar import CalendarBook
from supervisor.report import charts
from supervisor.report.gather import gather, rule_titles
from supervisor.report.model import Report
from supervisor.report.pdf import report_pdf
from supervisor.report.render import score
from supervisor.store.db import Database
from supervisor.store.projection import Projection
from supervisor.store.queries import ReadModel
from tests.report.month import CN, DIRECTOR, J2, N1, NAMES, NOW, issued, seed
from tests.report.pdftools import fonts_of, pages_as_png, text_in_order, text_of
from tests.store.test_projection import TOPICS, journal

ROOT = Path(__file__).resolve().parents[2]
SCHEME = load_scheme(ROOT / "rules" / "assessment" / "scheme.yaml")
CALENDARS = CalendarBook.load(ROOT / "rules" / "calendar")
NOVEMBER = period("2026-11")
REGISTRY = CenterRegistry.load()
TITLES = rule_titles(ROOT / "rules")


@pytest.fixture
async def read(database_url: str) -> AsyncIterator[ReadModel]:
    db = Database(database_url)
    await db.upgrade()
    try:
        read = ReadModel(db, "Asia/Shanghai")
        await seed(read)
        yield read
    finally:
        await db.dispose()


def within(scope: str) -> list[str]:
    return sorted(code for code in NAMES if REGISTRY.is_within(code, scope))


async def report_of(read: ReadModel, scope: str) -> Report:
    centers = None if scope == "451200" else within(scope)
    return await gather(
        read,
        SCHEME,
        NOVEMBER,
        CALENDARS,
        scope=scope,
        centers=centers,
        names=NAMES,
        now=NOW,
        rule_titles=TITLES,
    )


def row_of(text: str, name: str) -> str:
    """The one line of the PDF's text that starts a table row with `name` after a rank."""
    rows = [line for line in text.splitlines() if re.match(rf"\s*\d+\s+{re.escape(name)}\s", line)]
    assert len(rows) >= 1, (name, text)
    return rows[0]


def assert_ranked_as_assessed(text: str, result: Assessment) -> None:
    """Every unit's rank, score and grade on its row, as the assessment gives them."""
    assert result.units
    for unit in result.units:
        cells = row_of(text, result.names[unit.key]).split()
        assert cells[0] == str(unit.rank), cells
        assert cells[2] == score(unit.score) and cells[3] == unit.grade, (cells, unit)


def assert_chinese_renders(pdf: bytes, tmp_path: Path, stem: str) -> None:
    fonts = fonts_of(pdf, tmp_path)
    cjk = [font for font in fonts if "CJK" in font.name]
    assert cjk, fonts
    assert all(font.embedded and font.unicode for font in fonts), fonts
    assert {font.name.split("+", 1)[1] for font in cjk} >= {"Noto-Sans-CJK-SC"}, cjk
    pages = pages_as_png(pdf, stem)
    assert pages and all(page.stat().st_size > 5_000 for page in pages), pages


async def test_the_county_report_shows_its_centers_as_assessed(
    read: ReadModel, tmp_path: Path, database_url: str
) -> None:
    report = await report_of(read, "451202")
    assessed = await assess_period(
        read, SCHEME, NOVEMBER, CALENDARS, "center", within("451202"), NAMES
    )
    assert report.ranking == assessed and report.grades is None and not report.city
    assert [(u.key, u.score, u.grade, u.rank) for u in assessed.units] == [
        ("451202101", 100.0, "优秀", 1),
        # 金城江区's own center: 1 of 2 on time (40 of 80 points), its one order replied
        # in time (20 of 20), a red and a yellow card in 4 handled: 60 - 30 - 10
        ("451202", 20.0, "不合格", 2),
    ]
    trend = await assess_trend(
        read, SCHEME, NOVEMBER.trailing(6), CALENDARS, "center", within("451202"), NAMES
    )
    assert report.trend == trend and len(trend) == 6
    h = report.headline
    assert (h.accepted, h.concluded, h.on_time, h.overdue, h.red, h.yellow) == (4, 3, 2, 1, 1, 1)
    assert [(r.rule_id, r.title, r.raised) for r in report.rules] == [
        ("deadline.overdue", "办件超期", 1),
        ("deadline.warning", "办件即将超期", 1),
    ]
    # j3 is open past 11-05 24:00 at the month's end: 17 working days; J2 was concluded
    # 11-20 16:00 against 11-06 24:00: 9 working days and 16 hours
    assert [(c.case_id, c.status, c.late_days) for c in report.worst] == [
        ("j3", "open", 17.0),
        (J2, "concluded", 9.67),
    ]
    assert report.worst[1].applicant == "李*梅"
    assert report.worst[1].item_name == "食品经营许可（新办）"
    [order] = report.orders
    assert order.order_id == "DB-JCJ" and [r.note for r in order.replies] == [
        "已约谈窗口人员，已办结，电话 138****1111"
    ]
    summary = report.order_summary
    assert (summary.issued, summary.replied, summary.closed, summary.overdue) == (1, 1, 0, 0)

    pdf = report_pdf(report)
    assert pdf.startswith(b"%PDF-")
    kind = "sqlite" if database_url.startswith("sqlite") else "postgresql"
    assert_chinese_renders(pdf, tmp_path, f"county-451202-{kind}")
    text = text_of(pdf)
    assert "金城江区政务服务电子监察通报" in text and "2026年11月" in text
    assert_ranked_as_assessed(text, assessed)
    for shown in ("优秀", "不合格", "办件超期", "李*梅", "138****1111", "DB-JCJ", "食品经营许可"):
        assert shown in text, shown
    for hidden in ("南丹", N1, "DB-ND", "李小梅", "13800001111", "河池市政务服务中心"):
        assert hidden not in text, hidden  # outside the county, or personal


async def test_the_city_report_ranks_the_counties_and_grades_every_center(
    read: ReadModel, tmp_path: Path, database_url: str
) -> None:
    report = await report_of(read, "451200")
    by_county = await assess_period(read, SCHEME, NOVEMBER, CALENDARS, "county", None, NAMES)
    by_center = await assess_period(read, SCHEME, NOVEMBER, CALENDARS, "center", None, NAMES)
    assert report.city and report.ranking == by_county and report.grades == by_center
    # 金城江区 with its township: j1, d1 on time, J2 late: 2/3 (53.33 of 80 points); its
    # one order replied in time (20 of 20); a red card and a yellow one in 5 cases
    # handled (20 per 100): 73.33 - 30 - 10 = 33.3
    assert [(u.key, u.score, u.rank) for u in by_county.units] == [
        ("451200", 100.0, 1),
        ("451202", 33.3, 2),
        ("451221", 0.0, 3),
    ]
    assert [r.order_id for r in report.orders] == ["DB-JCJ", "DB-ND"]
    assert report.order_summary.overdue == 1 and report.orders[1].overdue
    assert report.worst[0].case_id == N1  # 17 working days late, concluded

    pdf = report_pdf(report)
    kind = "sqlite" if database_url.startswith("sqlite") else "postgresql"
    assert_chinese_renders(pdf, tmp_path, f"city-{kind}")
    text = text_of(pdf)
    assert "河池市政务服务电子监察通报" in text
    ranking, _, grades = text.partition("各服务中心考核等级")
    assert_ranked_as_assessed(ranking, by_county)
    assert_ranked_as_assessed(grades, by_center)
    for shown in ("南丹县政务服务中心", "金城江区东江镇便民服务中心", "逾期未回复", "DB-ND"):
        assert shown in text, shown


def test_a_month_with_nothing_still_makes_a_report(tmp_path: Path) -> None:
    """No unit, no alert, no order: each section says so, the PDF is made."""
    from supervisor.report.model import Headline, OrderSummary

    empty = Assessment(SCHEME, NOVEMBER, "center", [], NAMES)
    report = Report(
        scope="451202",
        scope_name=NAMES["451202"],
        city=False,
        period=NOVEMBER,
        generated_at=NOW,
        headline=Headline(),
        ranking=empty,
        grades=None,
        trend=[empty],
        rules=[],
        worst=[],
        orders=[],
        order_summary=OrderSummary(),
    )
    assert charts.trend_svg(report.trend) is None and charts.rules_svg([]) is None
    text = text_of(report_pdf(report))
    for said in ("本期没有可考核的单位", "本期没有预警", "本期没有超期办件", "本期下发督办单 0 件"):
        assert said in text, said


def test_the_headline_says_how_many_cards_were_withdrawn(tmp_path: Path) -> None:
    """Cards withdrawn cost nothing in the assessment: the headline counts them among the
    cards raised and says how many, those withdrawn on an appeal upheld (摘牌) apart
    from those the system withdrew when a late event proved them wrong (系统撤销)."""
    from supervisor.report.model import Headline, OrderSummary, headline_of
    from supervisor.store.queries import Counts

    counted = [
        Counts(
            ("451202",),
            severities={"red": 3, "yellow": 1},
            withdrawn_cards={"red": 2, "yellow": 1},
            delisted_cards={"red": 1},
        ),
        Counts(("451202101",), severities={"red": 1}),
    ]
    headline = headline_of(counted)
    assert (headline.red, headline.red_withdrawn, headline.red_delisted) == (4, 2, 1)
    assert (headline.yellow, headline.yellow_withdrawn, headline.yellow_delisted) == (1, 1, 0)
    assert (headline.red_withdrawn_by_system, headline.yellow_withdrawn_by_system) == (1, 1)
    empty = Assessment(SCHEME, NOVEMBER, "center", [], NAMES)
    report = Report(
        scope="451202",
        scope_name=NAMES["451202"],
        city=False,
        period=NOVEMBER,
        generated_at=NOW,
        headline=headline,
        ranking=empty,
        grades=None,
        trend=[empty],
        rules=[],
        worst=[],
        orders=[],
        order_summary=OrderSummary(),
    )
    text = re.sub(r"\s+", "", text_in_order(report_pdf(report)))
    assert "红牌预警4件（其中摘牌1件，系统撤销1件）" in text
    assert "黄牌预警1件（其中系统撤销1件）" in text
    assert "二者均不计入考核" in text
    assert Headline().red_withdrawn == 0


async def nandan_on_december_8(read: ReadModel, records: list[dict[str, Any]]) -> Report:
    """南丹县's report for November, made on 8 December at 09:00, with `records` added to
    the month's journal."""
    await Projection(read.db, TOPICS, center_names=NAMES).apply(journal(*records, start=100))
    return await gather(
        read,
        SCHEME,
        NOVEMBER,
        CALENDARS,
        scope="451221",
        centers=within("451221"),
        names=NAMES,
        now=datetime(2026, 12, 8, 9, 0, tzinfo=CN),
        rule_titles=TITLES,
    )


async def test_the_headline_says_how_many_replies_came_late(read: ReadModel) -> None:
    """南丹县's report, read on 12-08: DB-ND (due 11-19) was never replied; DB-LATE, due
    11-27 24:00, was replied on 12-07, late. The headline and the orders' section say
    that one of the replies came late, and the order's row says 逾期回复."""
    late = [
        issued("DB-LATE", "451221", N1, datetime(2026, 11, 20, 10, 0, tzinfo=CN),
               datetime(2026, 11, 28, 0, 0, tzinfo=CN)),
        orders.step_record(
            "DB-LATE", "reply", center_id="451221", note="已整改", by=DIRECTOR,
            at=datetime(2026, 12, 7, 16, 0, tzinfo=CN),
        ),
    ]  # fmt: skip
    report = await nandan_on_december_8(read, late)
    summary = report.order_summary
    assert (summary.issued, summary.replied, summary.overdue) == (2, 1, 1)
    assert summary.replied_late == 1
    assert [(line.order_id, line.replied_late) for line in report.orders] == [
        ("DB-ND", False),
        ("DB-LATE", True),
    ]
    text = text_in_order(report_pdf(report))
    flat = re.sub(r"\s+", "", text)
    assert "督办单2件（已回复1，其中逾期1；逾期未回复1）" in flat
    assert (
        "本期下发督办单2件，已回复1件（其中逾期回复1件），已办结0件，截至生成时逾期未回复1件。"
        in flat
    )
    row = re.sub(r"\s+", "", text.split("DB-LATE", 1)[1])
    assert "已回复，待审核逾期回复" in row.split("已整改", 1)[0]  # the status, then the reply


async def test_the_orders_are_counted_all_and_those_owed_from_before_apart(
    read: ReadModel,
) -> None:
    """南丹县's report for November, read on 12-08, with 35 more orders of November
    (more than the report lists; the last 20 of them replied; due 12-21), one of October
    still owing its reply (due 10-20) and one of December already late (due 12-04): the
    figures count every November order, not only the listed ones; the October one is
    counted apart, as owed from before; the December one is not this report's."""
    more = []
    for n in range(35):
        order_id = f"DB-NOV-{n:02d}"
        more.append(
            issued(order_id, "451221", N1, datetime(2026, 11, 21, 9, n, tzinfo=CN),
                   datetime(2026, 12, 21, 0, 0, tzinfo=CN))
        )  # fmt: skip
        if n >= 15:  # the last 20: some beyond the listed 30
            more.append(
                orders.step_record(
                    order_id, "reply", center_id="451221", note="已整改", by=DIRECTOR,
                    at=datetime(2026, 12, 1, 10, 0, tzinfo=CN),
                )
            )  # fmt: skip
    more.append(
        issued("DB-OCT", "451221", N1, datetime(2026, 10, 12, 10, 0, tzinfo=CN),
               datetime(2026, 10, 20, 0, 0, tzinfo=CN))
    )  # fmt: skip
    more.append(
        issued("DB-DEC", "451221", N1, datetime(2026, 12, 1, 10, 0, tzinfo=CN),
               datetime(2026, 12, 4, 0, 0, tzinfo=CN))
    )  # fmt: skip
    report = await nandan_on_december_8(read, more)
    summary = report.order_summary
    # DB-ND (never replied, due 11-19) and the 35: 20 replied, 15 not due until 12-21
    assert (summary.issued, summary.replied, summary.overdue, summary.owing) == (36, 20, 1, 1)
    assert len(report.orders) == 30 and "DB-OCT" not in [o.order_id for o in report.orders]
    flat = re.sub(r"\s+", "", text_in_order(report_pdf(report)))
    assert "督办单36件（已回复20；逾期未回复1）" in flat
    owed = "已办结0件，截至生成时逾期未回复1件；往期下发的督办单另有1件截至生成时逾期未回复。"
    assert owed in flat
    assert "仅列出最早下发的30件" in flat
