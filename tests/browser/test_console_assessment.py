"""The console's assessment (绩效考核), end to end: Kafka -> `python -m supervisor.web.server`
-> Chromium, on a small hand-made pair of months.

Case facts of last month (Beijing time) and the month before for four centers of 东兰县
and 南丹县, and three alerts of last month, on fresh topics of the real broker; the web
service as its own process; Debian's chromium through Playwright at 1366x768.

- The inspector opens 绩效考核 from the navigation: last month by default, the ranking
  table's every figure (rank, unit, score, grade, change, each indicator) what
  GET /api/assessment says, the grades colored, the downloads linked with the period.
- The score and trend charts are drawn by ECharts (a canvas each, not blank), from the
  service's own /vendor/ copy: no request of the page goes to another origin, and the
  page's Content-Security-Policy refuses nothing (no error in the console).
- A unit picked in the table: the trend shows it alone; a quarter and by county work.
- The director of 东兰县 sees their county's centers only, in the table and the charts.

Screenshots for people (Chinese, then English): test-output/console-assessment-*.png.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Page, ViewportSize, async_playwright

from supervisor.auth import TokenStore
from supervisor.kafka.admin import ensure_topics
from tests.browser.test_wall import (
    CHROMIUM,
    CHROMIUM_ARGS,
    OUTPUT,
    SHANGHAI,
    free_port,
    publish,
    wait_until,
)
from tests.processes import spawn, terminate

pytestmark = [pytest.mark.browser, pytest.mark.integration]

VIEWPORT: ViewportSize = {"width": 1366, "height": 768}
#: 东兰县, two of its townships, and 南丹县 (another county).
COUNTY, SANSHI, AIDONG, OTHER_COUNTY = "451224", "451224103", "451224101", "451221"
CENTERS = (COUNTY, SANSHI, AIDONG, OTHER_COUNTY)


def month_of(day: date) -> str:
    return f"{day.year}-{day.month:02d}"


def first_of_months_before(today: date, back: int) -> date:
    """The first day of the month `back` months before `today`'s."""
    months = today.year * 12 + today.month - 1 - back
    return date(months // 12, months % 12 + 1, 1)


def at(day: date, hour: int) -> str:
    return datetime(day.year, day.month, day.day, hour, tzinfo=SHANGHAI).isoformat()


def concluded_case(center: str, serial: int, first: date, on_time: bool) -> dict[str, Any]:
    """The worker's last fact of a case accepted on the 10th of `first`'s month and
    concluded on the 14th, by its promised deadline (the 15th) or not (the 12th)."""
    accepted = first + timedelta(days=9)
    deadline = first + timedelta(days=14 if on_time else 11)
    return {
        "case_id": f"{center}-{first.year}-{first.month:02d}{serial:05d}",
        "center_id": center,
        "event_type": "concluded",
        "occurred_at": at(first + timedelta(days=13), 16),
        "status": "concluded",
        "accepted_at": at(accepted, 9),
        "concluded_at": at(first + timedelta(days=13), 16),
        "deadline": at(deadline, 0),
        "statutory_deadline": at(first + timedelta(days=27), 0),
        "on_time": on_time,
        "department": "东兰县民政局" if center.startswith(COUNTY) else "南丹县市场监督管理局",
        "window_id": "W03",
        "staff_id": f"{center[-3:]}-{serial % 2:04d}",
    }


def the_months(today: date) -> tuple[str, list[dict[str, Any]], list[dict[str, Any]]]:
    """Last month's name, the case facts of last month and the month before, and last
    month's alerts: 东兰县 all on time; 三石镇 worse than before; 南丹县 better, with a
    yellow card; 隘洞镇 new last month, with a red card."""
    last = first_of_months_before(today, 1)
    before = first_of_months_before(today, 2)
    plan = {  # center: (on time, late) last month, (on time, late) the month before
        COUNTY: ((4, 0), (3, 1)),
        SANSHI: ((3, 1), (4, 0)),
        OTHER_COUNTY: ((9, 1), (4, 1)),
        AIDONG: ((2, 0), (0, 0)),
    }
    facts = []
    for center, months in plan.items():
        for first, (good, late) in zip((last, before), months, strict=True):
            facts += [concluded_case(center, n, first, True) for n in range(good)]
            facts += [concluded_case(center, 100 + n, first, False) for n in range(late)]
    raised = at(last + timedelta(days=12), 11)

    def alert(rule_id: str, severity: str, center: str, title: str) -> dict[str, Any]:
        case_id = f"{center}-{last.year}-{last.month:02d}00100"
        return {
            "alert_id": f"{rule_id}:{case_id}",
            "rule_id": rule_id,
            "severity": severity,
            "case_id": case_id,
            "center_id": center,
            "raised_at": raised,
            "title": title,
            "message": f"{title}（考核测试）",
            "details": {},
        }

    alerts = [
        alert("suspension.no_reason", "yellow", OTHER_COUNTY, "暂停计时无法定事由"),
        alert("fee.overcharge", "red", AIDONG, "违规收费"),
        alert("deadline.overdue", "red", SANSHI, "办件超期"),
    ]
    return month_of(last), facts, alerts


@dataclass
class AssessmentServer:
    url: str
    month: str  # last month, the view's default
    inspector: str
    director: str  # 李主任, director of COUNTY
    log: Path

    async def api(self, path: str, token: str) -> httpx.Response:
        async with httpx.AsyncClient(base_url=self.url, timeout=30) as client:
            return await client.get(path, headers={"Authorization": f"Bearer {token}"})

    async def assessment(self, token: str, query: str) -> dict[str, Any]:
        response = await self.api(f"/api/assessment?{query}", token)
        assert response.status_code == 200, response.text
        answer: dict[str, Any] = response.json()
        return answer


@pytest.fixture
async def assessment_server(
    kafka_bootstrap: str, topic_name: Callable[..., str], tmp_path: Path
) -> AsyncIterator[AssessmentServer]:
    topics = {name: topic_name(name) for name in ("alerts", "facts", "events")}
    await ensure_topics(kafka_bootstrap, {topic: 1 for topic in topics.values()})
    month, facts, alerts = the_months(datetime.now(SHANGHAI).date())
    await publish(kafka_bootstrap, topics["alerts"], alerts)
    await publish(kafka_bootstrap, topics["facts"], facts, key="case_id")

    tokens = TokenStore(tmp_path / "tokens.json")
    port = free_port()
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "SUPERVISOR_TOPIC_ALERTS": topics["alerts"],
        "SUPERVISOR_TOPIC_FACTS": topics["facts"],
        "SUPERVISOR_TOPIC_EVENTS": topics["events"],
        "SUPERVISOR_TOPIC_DLQ": topic_name("dlq"),
        "SUPERVISOR_APP_ID": topic_name("supervisor-assessment-test"),
        "SUPERVISOR_WEB_HOST": "127.0.0.1",
        "SUPERVISOR_WEB_PORT": str(port),
        "SUPERVISOR_DATA_DIR": str(tmp_path / "data"),
        "SUPERVISOR_TOKENS_FILE": str(tmp_path / "tokens.json"),
    }
    server = AssessmentServer(
        url=f"http://127.0.0.1:{port}",
        month=month,
        inspector=tokens.issue("inspector", "王监察"),
        director=tokens.issue("director", "李主任", center=COUNTY),
        log=tmp_path / "web.log",
    )
    process = spawn(["-m", "supervisor.web.server"], env, server.log)
    try:

        async def ready() -> bool:
            """Every fact and alert is in the read model: the four centers are assessed,
            and the alerts counted."""
            if process.poll() is not None:
                pytest.fail(f"web service exited ({process.returncode}):\n{server.log.read_text()}")
            try:
                found = await server.api("/api/alerts?limit=50", server.inspector)
                said = await server.api(f"/api/assessment?period={month}", server.inspector)
            except httpx.HTTPError:
                return False
            return (
                found.status_code == 200
                and found.json()["total"] == len(alerts)
                and said.status_code == 200
                and {u["center_id"] for u in said.json()["units"]} == set(CENTERS)
            )

        await wait_until(ready, 60, "the web service to read its topics", server.log)
        yield server
    finally:
        await asyncio.to_thread(terminate, process, 15)


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            await chromium.close()


@dataclass
class Desk:
    page: Page
    requests: list[str]
    errors: list[str]


async def signed_in(browser: Browser, server: AssessmentServer, token: str) -> Desk:
    """A browser context of its own, signed in through the form with `token`; every
    request it makes and every error its page reports (a refused script or style among
    them) are kept."""
    context = await browser.new_context(viewport=VIEWPORT, locale="zh-CN")
    requests: list[str] = []
    errors: list[str] = []
    context.on("request", lambda request: requests.append(request.url))
    page = await context.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    await page.goto(f"{server.url}/console/")
    await page.locator("#signin-token").fill(token)
    await page.locator("#signin-token").press("Enter")
    await page.wait_for_selector('body[data-state="signed-in"]', timeout=10_000)
    errors.clear()  # the 401 of GET /api/session before signing in is as it should be
    return Desk(page, requests, errors)


async def shown(page: Page) -> None:
    """Wait for the assessment to be drawn: table and charts."""
    await page.wait_for_selector('.assess[data-state="ready"]', timeout=20_000)


async def table_rows(page: Page) -> list[dict[str, Any]]:
    """The ranking table as shown: each row's key and the text of each column."""
    rows: list[dict[str, Any]] = await page.locator("#ranking tbody tr").evaluate_all(
        """rows => rows.map(row => ({
            key: row.dataset.key,
            cells: Object.fromEntries([...row.querySelectorAll('[data-col]')]
                .map(cell => [cell.dataset.col, cell.innerText.trim()])),
            tone: row.querySelector('.grade').className,
        }))"""
    )
    return rows


def expected_rows(answer: dict[str, Any]) -> list[dict[str, Any]]:
    """The table's rows as GET /api/assessment's figures say them (scores to one
    decimal, changes with their arrow, rates as percentages with their points)."""

    def change(value: float | None) -> str:
        if value is None:
            return "—"
        if value == 0:
            return "持平"
        return f"{'↑' if value > 0 else '↓'} {abs(value):.1f}"

    def part(one: dict[str, Any]) -> str:
        if one["deducted"] is not None:
            return f"-{one['deducted']:g}" if one["deducted"] else "0"
        if one["value"] is None:
            return "—"
        return f"{one['value'] * 100:.1f}%（{one['points']:g}分）"

    return [
        {
            "key": unit["key"],
            "cells": {
                "rank": str(unit["rank"]),
                "unit": unit["center_name"] or unit["center_id"],
                "score": f"{unit['score']:.1f}",
                "grade": unit["grade"],
                "change": change(unit["change"]),
                **{one["id"]: part(one) for one in unit["indicators"]},
            },
        }
        for unit in answer["units"]
    ]


async def canvas_inked(page: Page, selector: str) -> int:
    """How many pixels of the chart's canvas are drawn (not transparent)."""
    count: int = await page.locator(f"{selector} canvas").first.evaluate(
        """canvas => {
            const { width, height } = canvas;
            const data = canvas.getContext('2d').getImageData(0, 0, width, height).data;
            let inked = 0;
            for (let i = 3; i < data.length; i += 4) if (data[i] > 0) inked += 1;
            return inked;
        }"""
    )
    return count


async def screenshot(page: Page, name: str) -> None:
    OUTPUT.mkdir(exist_ok=True)
    await page.screenshot(path=str(OUTPUT / name), full_page=True)


async def test_the_inspector_reads_the_ranking_and_its_charts(
    assessment_server: AssessmentServer, browser: Browser
) -> None:
    server = assessment_server
    desk = await signed_in(browser, server, server.inspector)
    page = desk.page
    await page.locator('[data-nav="assessment"]').click()
    await shown(page)
    assert page.url.endswith("/console/#/assessment")
    assert await page.locator(".view__title").inner_text() == "绩效考核"
    # last month by default (Beijing time), by center, every center in scope
    year, month = server.month.split("-")
    assert await page.locator("#assess-kind").input_value() == "month"
    assert await page.locator("#assess-year").input_value() == year
    assert await page.locator("#assess-part").input_value() == str(int(month))
    assert await page.locator("#assess-by").input_value() == "center"

    answer = await server.assessment(server.inspector, f"period={server.month}")
    assert {u["center_id"] for u in answer["units"]} == set(CENTERS)
    rows = await table_rows(page)
    assert [{"key": r["key"], "cells": r["cells"]} for r in rows] == expected_rows(answer)
    # each grade in its color: the scheme's best green, its worst red
    tones = {r["cells"]["grade"]: r["tone"].split()[-1] for r in rows}
    assert tones.get("优秀", "grade--excellent") == "grade--excellent"
    assert tones.get("合格", "grade--pass") == "grade--pass"
    assert len({r["cells"]["change"][0] for r in rows} & {"↑", "↓", "—"}) >= 2
    heading = await page.locator("#ranking-title").inner_text()
    assert answer["scheme"] in heading and answer["period_label"] in heading

    # the downloads name the period (the center when one is chosen)
    links = await page.locator("[data-download]").evaluate_all(
        "links => links.map(a => [a.dataset.download, a.textContent, a.getAttribute('href')])"
    )
    assert [(key, text) for key, text, _ in links] == [
        ("xlsx", "导出Excel"),
        ("pdf", "导出PDF"),
        ("report", "月度通报PDF"),
    ]
    assert all(f"period={server.month}" in href for _, _, href in links)
    assert links[2][2].startswith("/api/report?")

    # the charts: ECharts' canvases, drawn
    for chart in ("#score-chart", "#trend-chart"):
        assert await page.locator(chart).get_attribute("data-drawn") == "true"
        assert await canvas_inked(page, chart) > 2_000, chart
    trend = await server.api(f"/api/assessment/trend?period={server.month}", server.inspector)
    trend_units = [u["key"] for u in trend.json()["units"]][:5]
    legend = await page.locator("#trend-chart").get_attribute("aria-label") or ""
    assert all(
        next(u["center_name"] for u in answer["units"] if u["key"] == key) in legend
        for key in trend_units
    )
    assert await page.evaluate("typeof echarts.version") == "string"
    await screenshot(page, "console-assessment.png")

    # a unit picked in the table: the trend shows it alone
    picked = rows[-1]
    await page.locator(f'#ranking tr[data-key="{picked["key"]}"] a').click()
    await page.wait_for_selector(f'#ranking tr.is-chosen[data-key="{picked["key"]}"]')
    which = page.locator(".assess__which")
    await which.filter(has_text=picked["cells"]["unit"]).wait_for(timeout=5_000)
    assert await page.locator(".assess__trend tbody tr").count() == 1
    assert await canvas_inked(page, "#trend-chart") > 1_000
    await screenshot(page, "console-assessment-unit.png")

    # a quarter, by county: the API's figures again
    await page.locator("#assess-kind").select_option("quarter")
    await page.locator("#assess-by").select_option("county")
    await page.locator(".assess form button[type=submit]").click()
    await page.wait_for_function("location.hash.includes('by=county')")
    await shown(page)
    quarter = await page.locator("#assess-year").input_value()
    part = await page.locator("#assess-part").input_value()
    counties = await server.assessment(server.inspector, f"period={quarter}-Q{part}&by=county")
    assert [r["cells"]["score"] for r in await table_rows(page)] == [
        f"{u['score']:.1f}" for u in counties["units"]
    ]
    assert {u["key"] for u in counties["units"]} == {COUNTY, OTHER_COUNTY}
    assert await page.locator('[data-download="report"]').count() == 0  # monthly only

    # in English, the same figures
    await page.locator("#lang").click()
    await shown(page)
    assert await page.locator(".view__title").inner_text() == "Assessment"
    await screenshot(page, "console-assessment-en.png")

    assert not desk.errors, desk.errors
    elsewhere = [url for url in desk.requests if not url.startswith(f"{server.url}/")]
    assert not elsewhere, elsewhere
    assert any(url.endswith("/vendor/echarts/echarts.min.js") for url in desk.requests)


async def test_a_director_sees_their_county_only(
    assessment_server: AssessmentServer, browser: Browser
) -> None:
    server = assessment_server
    desk = await signed_in(browser, server, server.director)
    page = desk.page
    await page.goto(f"{server.url}/console/#/assessment?period={server.month}&by=center")
    await shown(page)
    answer = await server.assessment(server.director, f"period={server.month}")
    assert {u["center_id"] for u in answer["units"]} == {COUNTY, SANSHI, AIDONG}
    rows = await table_rows(page)
    assert [{"key": r["key"], "cells": r["cells"]} for r in rows] == expected_rows(answer)
    assert OTHER_COUNTY not in await page.locator(".assess").inner_text()
    legend = await page.locator("#trend-chart").get_attribute("aria-label") or ""
    assert "南丹" not in legend and "东兰县政务服务中心" in legend
    for chart in ("#score-chart", "#trend-chart"):
        assert await canvas_inked(page, chart) > 1_000, chart
    await screenshot(page, "console-assessment-director.png")
    # another county's center, by its address: refused, nothing of it shown or offered
    await page.goto(f"{server.url}/console/#/assessment?period={server.month}&center_id=451221")
    await page.wait_for_selector('.assess[data-state="failed"]', timeout=10_000)
    assert "不在您的职责范围内" in await page.locator(".assess .failure").inner_text()
    assert await page.locator("[data-download]").count() == 0
    assert await page.locator(".assess__charts").is_hidden()
    # the refusal is the only error the page reports (Chromium logs the 403)
    assert all("403" in error for error in desk.errors), desk.errors
    assert not [url for url in desk.requests if not url.startswith(f"{server.url}/")]
