"""The wall, end to end: Kafka -> `python -m supervisor.web.server` -> Chromium.

The real path, nothing faked: a fresh alerts topic (one partition: its offsets are the
journal positions walls resume from) on the real broker, the web service as its own
process configured through the environment like in production (tokens in a file of its
own, `SUPERVISOR_TOKENS_FILE`), Debian's chromium driven by Playwright, the page opened as
`/wall/?token=…` like the demo prints it.

- Alerts published before the server starts come back from the topic (the snapshot); one
  published after the page loaded appears live, red, at the top, flashing.
- A worker's resolution (an alert a late event proved wrong) greys the row as 已撤销 with
  the reason within 2 seconds, without a flash, and takes it out of the counts.
- A change made through the API (acknowledge, resolve, appeal, accept) shows on an open
  wall within 2 seconds, in place, without a flash.
- A director's wall shows only their center and the centers below it.
- After the web service restarts, the page reconnects by itself from the last position
  it has: every alert shown once, the one published while the service was down too.
- A refused token (revoked, or none) stops the page with a clear message, no retries.
- The headline figures (今日受理, 在办件, 按期办结率 today and this month) are the server's
  over case facts read from a fresh facts topic; the red/yellow counts are every open
  alert in scope, not only the ones listed.
- The board shows the city and its counties, each coloured by its worst open alert; a
  click, or the arrow keys and Enter, drill into 东兰县: its townships, and the feed
  narrowed to the county, followed live; Escape or Backspace go back.
- The freshness indicator says how long ago the centers' latest event was: green, amber
  after 10 minutes, red after 30 (a director whose centers went quiet sees it red).
- The sound toggle is off by default, remembered, and beeps once per red alert when on.

The screenshots in test-output/ are for people (wall-board.png and wall-county.png are
the full wall and a county drilled into, at 1920x1080).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import subprocess
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from playwright.async_api import Browser, Page, ViewportSize, async_playwright

from supervisor.auth import TokenStore
from supervisor.centers import CenterRegistry
from supervisor.core.alerts import Resolution
from supervisor.kafka.admin import ensure_topics
from tests.processes import spawn, terminate

pytestmark = [pytest.mark.browser, pytest.mark.integration]

REPO = Path(__file__).resolve().parents[2]
OUTPUT = REPO / "test-output"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
VIEWPORT: ViewportSize = {"width": 1920, "height": 1080}
#: The county whose director's wall is tested, and one of its townships.
COUNTY, TOWNSHIP, OTHER_COUNTY = "451224", "451224103", "451221"
#: The city, and a county whose director's centers last reported 15 minutes ago.
CITY, AMBER_COUNTY = "451200", "451202"
SHANGHAI = ZoneInfo("Asia/Shanghai")
REFUSED_MESSAGE = "令牌无效或已撤销，请联系管理员"
#: Alerts the page keeps (wall.js MAX_ROWS; the server's snapshot holds as many).
MAX_ROWS = 200


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def alert(
    rule_id: str,
    severity: str,
    center_id: str,
    serial: int,
    title: str,
    message: str,
    raised_at: datetime,
) -> dict[str, Any]:
    case_id = f"{center_id}-2026-{serial:07d}"
    return {
        "alert_id": f"{rule_id}:{case_id}",
        "rule_id": rule_id,
        "severity": severity,
        "case_id": case_id,
        "center_id": center_id,
        "raised_at": raised_at.isoformat(),
        "title": title,
        "message": message,
        "details": {},
    }


#: A plausible morning on the wall: (minutes ago, rule, severity, center, serial, title, message).
HISTORY = [
    (95, "deadline.warning", "yellow", "451202", 1201, "办件即将超期",
     "承诺时限已过 80%，距截止还剩 1 个工作日，请督促办理"),
    (71, "supplement.repeated", "red", "451221101", 318, "重复要求补正材料",
     "同一办件第二次发出补正告知，违反一次性告知规定"),
    (52, "evaluation.negative", "yellow", "451203", 877, "收到差评",
     "申请人评价“不满意”，需在 15 个工作日内整改回访"),
    (38, "fee.overcharge", "red", "451200", 45, "超标准收费",
     "累计收费 300.00 元，超过收费标准 200.00 元"),
    (24, "suspension.no_reason", "yellow", "451202103", 96, "暂停计时无理由",
     "办件暂停计时未登记特别程序事由"),
    (9, "extension.unapproved", "red", "451203101", 233, "延期未经批准",
     "办件延期 5 个工作日，未记录批准人"),
]  # fmt: skip


def earlier_alerts(now: datetime) -> list[dict[str, Any]]:
    """The alerts already on the topic before the web service starts."""
    return [
        alert(rule, severity, center, serial, title, message, now - timedelta(minutes=ago))
        for ago, rule, severity, center, serial, title, message in HISTORY
    ]


def resolution(item: dict[str, Any], reason: str, resolved_at: datetime) -> dict[str, Any]:
    """The worker's resolution of `item`, as it publishes it (`Resolution.to_dict()`)."""
    return Resolution(
        alert_id=item["alert_id"],
        rule_id=item["rule_id"],
        case_id=item["case_id"],
        center_id=item["center_id"],
        resolved_at=resolved_at,
        reason=reason,
        details={},
    ).to_dict()


def case_fact(
    center_id: str,
    serial: int,
    event_type: str,
    occurred_at: datetime,
    status: str,
    *,
    accepted_at: datetime | None = None,
    concluded_at: datetime | None = None,
    on_time: bool | None = None,
) -> dict[str, Any]:
    """A case fact as the worker sends it (supervisor/worker/facts.py), in local time."""

    def local(moment: datetime | None) -> str | None:
        return None if moment is None else moment.astimezone(SHANGHAI).isoformat()

    deadline = None if accepted_at is None else accepted_at + timedelta(days=7)
    return {
        "case_id": f"{center_id}-2026-{serial:07d}",
        "center_id": center_id,
        "event_type": event_type,
        "occurred_at": local(occurred_at),
        "status": status,
        "accepted_at": local(accepted_at),
        "concluded_at": local(concluded_at),
        "deadline": local(deadline),
        "on_time": on_time,
    }


def case_facts(now: datetime) -> list[dict[str, Any]]:
    """The facts on the topic before the web service starts: cases accepted this morning
    (still open), one accepted yesterday, cases concluded today (3 on time, 1 overdue) and
    one concluded overdue yesterday. The latest event anywhere is 3 minutes old; in
    东兰县 (COUNTY) 45 minutes; in 金城江区 (AMBER_COUNTY) 15 minutes."""

    def ago(minutes: float) -> datetime:
        return now - timedelta(minutes=minutes)

    def accepted(center: str, serial: int, minutes: float) -> dict[str, Any]:
        return case_fact(center, serial, "accepted", ago(minutes), "open", accepted_at=ago(minutes))

    def concluded(center: str, serial: int, minutes: float, on_time: bool) -> dict[str, Any]:
        return case_fact(
            center,
            serial,
            "concluded",
            ago(minutes),
            "concluded",
            accepted_at=ago(minutes + 3 * 24 * 60),
            concluded_at=ago(minutes),
            on_time=on_time,
        )

    return [
        accepted(COUNTY, 3001, 50),
        accepted(TOWNSHIP, 3002, 45),
        accepted(AMBER_COUNTY, 3003, 15),
        accepted(OTHER_COUNTY, 3004, 3),
        accepted("451203", 3005, 24 * 60 + 30),  # yesterday: open, not accepted today
        concluded(OTHER_COUNTY, 3006, 20, True),
        concluded("451203", 3007, 30, True),
        concluded("451202101", 3008, 25, False),
        concluded(CITY, 3009, 40, True),
        concluded("451203", 3010, 24 * 60 + 60, False),  # yesterday
    ]


@dataclass(frozen=True)
class Figures:
    """What the headline should say over the facts of some centers, on `now`'s day."""

    accepted_today: int
    open_cases: int
    rate_today: str
    rate_month: str
    minutes_since_last_event: int


def rate_text(on_time: int, overdue: int) -> str:
    """As the wall shows it: 75%, 66.7%, or — when no case was judged."""
    if not on_time + overdue:
        return "—"
    pct = round(on_time / (on_time + overdue) * 1000) / 10
    return f"{pct:g}%" if pct.is_integer() else f"{pct:.1f}%"


def expected_figures(
    facts: list[dict[str, Any]], now: datetime, scope: str | None = None
) -> Figures:
    """The figures of the facts (one per case) of the centers within `scope` (None: all)."""
    today = now.astimezone(SHANGHAI).date()
    mine = [f for f in facts if scope is None or f["center_id"].startswith(scope)]

    def day(fact: dict[str, Any]) -> Any:
        return datetime.fromisoformat(fact["occurred_at"]).date()

    judged = [f for f in mine if f["event_type"] == "concluded"]
    month = [f for f in judged if day(f) <= today and day(f).replace(day=1) == today.replace(day=1)]
    latest = max(datetime.fromisoformat(f["occurred_at"]) for f in mine)
    return Figures(
        accepted_today=sum(f["event_type"] == "accepted" and day(f) == today for f in mine),
        open_cases=sum(f["status"] == "open" for f in mine),
        rate_today=rate_text(
            sum(f["on_time"] is True and day(f) == today for f in judged),
            sum(f["on_time"] is False and day(f) == today for f in judged),
        ),
        rate_month=rate_text(
            sum(f["on_time"] is True for f in month), sum(f["on_time"] is False for f in month)
        ),
        minutes_since_last_event=int((now - latest).total_seconds() // 60),
    )


async def publish(
    bootstrap: str, topic: str, alerts: list[dict[str, Any]], key: str = "alert_id"
) -> None:
    """What the worker does: one UTF-8 JSON alert (or resolution) per message, keyed by
    alert_id (a case fact: by case_id)."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for item in alerts:
            await producer.send_and_wait(
                topic,
                key=item[key].encode(),
                value=json.dumps(item, ensure_ascii=False).encode(),
            )
    finally:
        await producer.stop()


async def wait_until(
    check: Callable[[], Awaitable[bool]], timeout: float, what: str, log: Path | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.2)
    tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
    pytest.fail(f"timed out after {timeout} s waiting for {what}\n{tail}")


@dataclass
class WallServer:
    """The web service as a real process; `restart()` stops and starts it on its port."""

    url: str
    bootstrap: str
    alerts_topic: str
    facts_topic: str
    facts: list[dict[str, Any]]  # on the facts topic, as of `facts_at`
    facts_at: datetime
    tokens: TokenStore
    # Tokens as `supervisor token issue` prints them, issued before the service starts (it
    # reads the token file again at most once a second: a token issued just now may wait).
    inspector: str  # 王监察
    director: str  # 李主任, director of COUNTY
    spare: str  # 赵监察, an inspector whose token a test revokes
    amber: str  # 周主任, director of AMBER_COUNTY
    env: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def wall(self, token: str | None) -> str:
        """The wall's address as the demo prints it: `/wall/?token=…`."""
        return f"{self.url}/wall/" + ("" if token is None else f"?token={quote(token)}")

    async def publish(self, *items: dict[str, Any]) -> None:
        await publish(self.bootstrap, self.alerts_topic, list(items))

    async def start(self) -> None:
        process = spawn(["-m", "supervisor.web.server"], self.env, self.log)
        self.process = process
        async with httpx.AsyncClient(base_url=self.url, timeout=2) as client:

            async def consuming() -> bool:
                if process.poll() is not None:
                    pytest.fail(
                        f"web service exited ({process.returncode}):\n{self.log.read_text()}"
                    )
                try:
                    health = (
                        await client.get(
                            "/healthz", headers={"Authorization": f"Bearer {self.inspector}"}
                        )
                    ).json()
                except httpx.HTTPError:
                    return False
                topics = health["topics"]
                return bool(
                    health["kafka_connected"]
                    and topics[self.alerts_topic] == "consuming"
                    and topics[self.facts_topic] == "consuming"
                )

            await wait_until(consuming, 30, "the web service to consume its topics", self.log)

    async def stop(self) -> None:
        if self.process is not None:
            await asyncio.to_thread(terminate, self.process, 15)
            self.process = None

    async def act(self, token: str, alert_id: str, action: str, **body: str) -> dict[str, Any]:
        """A lifecycle change through the API, as an inspector's or director's tool does."""
        async with httpx.AsyncClient(base_url=self.url, timeout=15) as client:
            response = await client.post(
                f"/api/alerts/{quote(alert_id, safe=':')}/{action}",
                json=body,
                headers={"Authorization": f"Bearer {token}"},
            )
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result


@pytest.fixture
async def wall_server(
    kafka_bootstrap: str,
    topic_name: Callable[..., str],
    tmp_path: Path,
) -> AsyncIterator[WallServer]:
    """A real web service process on a fresh one-partition alerts topic that already holds
    alerts and a fresh facts topic that holds case facts, with its own token file and an
    inspector's token."""
    alerts_topic = topic_name("alerts")
    facts_topic = topic_name("facts")
    await ensure_topics(kafka_bootstrap, {alerts_topic: 1, facts_topic: 1})
    await publish(kafka_bootstrap, alerts_topic, earlier_alerts(datetime.now(UTC)))
    facts_at = datetime.now(SHANGHAI)
    facts = case_facts(facts_at)
    await publish(kafka_bootstrap, facts_topic, facts, key="case_id")

    tokens_file = tmp_path / "tokens.json"
    tokens = TokenStore(tokens_file)
    port = free_port()
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "SUPERVISOR_TOPIC_ALERTS": alerts_topic,
        "SUPERVISOR_TOPIC_FACTS": facts_topic,
        "SUPERVISOR_TOPIC_DLQ": topic_name("dlq"),  # absent: the wall must not need it
        "SUPERVISOR_TOPIC_EVENTS": topic_name("events"),  # absent too: no worker here
        "SUPERVISOR_APP_ID": topic_name("supervisor-web-test"),
        "SUPERVISOR_WEB_HOST": "127.0.0.1",
        "SUPERVISOR_WEB_PORT": str(port),
        "SUPERVISOR_DATA_DIR": str(tmp_path / "data"),
        "SUPERVISOR_TOKENS_FILE": str(tokens_file),
    }
    server = WallServer(
        url=f"http://127.0.0.1:{port}",
        bootstrap=kafka_bootstrap,
        alerts_topic=alerts_topic,
        facts_topic=facts_topic,
        facts=facts,
        facts_at=facts_at,
        tokens=tokens,
        inspector=tokens.issue("inspector", "王监察"),
        director=tokens.issue("director", "李主任", center=COUNTY),
        spare=tokens.issue("inspector", "赵监察"),
        amber=tokens.issue("director", "周主任", center=AMBER_COUNTY),
        env=env,
        log=tmp_path / "web.log",
    )
    try:
        await server.start()
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            await chromium.close()


async def row_texts(page: Page) -> list[tuple[str, str]]:
    rows = page.locator("[data-alert-id]")
    return [
        (
            await rows.nth(i).get_attribute("data-alert-id") or "",
            await rows.nth(i).get_attribute("data-severity") or "",
        )
        for i in range(await rows.count())
    ]


async def row_ids(page: Page) -> list[str]:
    ids: list[str] = await page.locator("[data-alert-id]").evaluate_all(
        "rows => rows.map(row => row.dataset.alertId)"
    )
    return ids


async def new_wall(
    browser: Browser, address: str, errors: list[str], sockets: list[str] | None = None
) -> Page:
    """A wall page at `address` (not waited for); page errors and socket URLs recorded."""
    page = await browser.new_page(viewport=VIEWPORT, locale="zh-CN")
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on(
        "console",
        lambda msg: (
            errors.append("CSP: " + msg.text)
            if "Content Security Policy" in msg.text or "Content-Security-Policy" in msg.text
            else None
        ),
    )
    if sockets is not None:
        page.on("websocket", lambda ws: sockets.append(ws.url))
    await page.goto(address)
    return page


async def open_wall(
    browser: Browser,
    address: str,
    rows: int,
    errors: list[str],
    sockets: list[str] | None = None,
) -> Page:
    """A wall page, connected and showing `rows` alerts."""
    page = await new_wall(browser, address, errors, sockets)
    await page.wait_for_selector('body[data-connection="connected"]', timeout=10_000)
    await page.wait_for_function(
        f"() => document.querySelectorAll('[data-alert-id]').length === {rows}", timeout=10_000
    )
    return page


async def counts(page: Page) -> tuple[str, str]:
    """The open red and yellow alerts in the header, once they are the server's (fetched
    after the last socket message; or cleared when the token was refused)."""
    await page.wait_for_selector(
        'body[data-figures="synced"], body[data-figures="cleared"]', timeout=10_000
    )
    return (
        await page.locator("#count-red").inner_text(),
        await page.locator("#count-yellow").inner_text(),
    )


async def screenshot(page: Page, name: str) -> None:
    OUTPUT.mkdir(exist_ok=True)
    await page.screenshot(path=str(OUTPUT / name))


def live_alert(center_id: str, serial: int, severity: str = "red", **extra: Any) -> dict[str, Any]:
    return {
        **alert(
            "deadline.overdue" if severity == "red" else "deadline.warning",
            severity,
            center_id,
            serial,
            "办件超期" if severity == "red" else "办件即将超期",
            "已超过承诺时限 3 个工作日，仍未办结",
            datetime.now(UTC),
        ),
        **extra,
    }


async def test_the_wall_shows_history_then_a_live_red_alert(
    wall_server: WallServer, browser: Browser
) -> None:
    names = {c.code: c.name for c in CenterRegistry.load().all()}
    errors: list[str] = []
    page = await new_wall(browser, wall_server.wall(wall_server.inspector), errors)
    await page.wait_for_selector('body[data-connection="connected"]', timeout=10_000)
    assert await page.title() == "政务服务电子监察 · 实时预警"
    assert await page.locator("#conn-text").inner_text() == "已连接"
    # The token left the address bar (and the history) for this tab's sessionStorage.
    assert "token" not in page.url and page.url.endswith("/wall/")
    stored = await page.evaluate("sessionStorage.getItem('supervisor.wall.token')")
    assert stored == wall_server.inspector
    viewer = page.locator("#viewer")
    await viewer.wait_for(timeout=5_000)
    assert await viewer.inner_text() == "王监察 · 纪检监察"

    # History: read back from the topic by the freshly started service.
    history = earlier_alerts(datetime.now(UTC))
    await page.wait_for_function(
        f"() => document.querySelectorAll('[data-alert-id]').length === {len(history)}",
        timeout=10_000,
    )
    newest_first = sorted(history, key=lambda a: a["raised_at"], reverse=True)
    assert await row_texts(page) == [(a["alert_id"], a["severity"]) for a in newest_first]
    assert await counts(page) == ("3", "3")

    # Live: published only now, after the page loaded and connected.
    live = alert(
        "deadline.overdue",
        "red",
        "451221",
        1234,
        "办件超期",
        "已超过承诺时限 5 个工作日，仍未办结",
        datetime.now(UTC),
    )
    await wall_server.publish(live)
    selector = f'[data-alert-id="{live["alert_id"]}"]'
    row = page.locator(selector)
    await row.wait_for(timeout=2_000)  # within 2 s of its publication

    assert await row.get_attribute("data-severity") == "red"
    assert await row.get_attribute("data-status") == "open"
    assert (await row_texts(page))[0] == (live["alert_id"], "red")  # newest first
    assert await row.locator(".alert__center").inner_text() == names["451221"]
    assert await row.locator(".alert__title").inner_text() == "办件超期"
    assert live["case_id"] in await row.locator(".alert__case").inner_text()
    beijing = datetime.fromisoformat(live["raised_at"]).astimezone(ZoneInfo("Asia/Shanghai"))
    assert beijing.strftime("%m-%d %H:%M") in await row.locator(".alert__time").inner_text()
    assert await counts(page) == ("4", "3")
    assert "flash" in (await row.get_attribute("class") or "")

    # Delivered again (at-least-once): still one row.
    await wall_server.publish(live)
    await asyncio.sleep(1.5)
    assert await page.locator(selector).count() == 1

    await page.wait_for_timeout(600)  # mid-flash: the screenshot shows the highlight
    await screenshot(page, "wall.png")

    # The English switch; a reload keeps the token (sessionStorage) and the language.
    await page.locator("#lang").click()
    assert await page.locator("h1").inner_text() == "Service Center Supervision"
    await page.reload()
    await page.wait_for_selector('body[data-connection="connected"]', timeout=10_000)
    await page.wait_for_function(
        f"() => document.querySelectorAll('[data-alert-id]').length === {len(history) + 1}",
        timeout=10_000,
    )
    assert await page.locator("#conn-text").inner_text() == "Connected"
    assert errors == []


async def test_a_case_shows_once_with_its_worst_open_alert(
    wall_server: WallServer, browser: Browser
) -> None:
    """Contract §6: the case's warning, superseded by its red alert, is no longer open and
    no longer a row of its own; the red alert's row says the case has one more alert. A
    warning closed by a conclusion in time leaves the open counts."""
    errors: list[str] = []
    history = earlier_alerts(datetime.now(UTC))
    page = await open_wall(browser, wall_server.wall(wall_server.inspector), len(history), errors)
    assert await counts(page) == ("3", "3")

    warning = live_alert("451221", 4001, severity="yellow")
    await wall_server.publish(warning)
    await page.locator(f'[data-alert-id="{warning["alert_id"]}"]').wait_for(timeout=2_000)
    assert await counts(page) == ("3", "4")

    overdue = live_alert("451221", 4001)  # the same case, now overdue
    superseded = {
        "kind": "case_change",
        "change": "superseded",
        "status": "superseded",
        "alert_id": warning["alert_id"],
        "rule_id": "deadline.warning",
        "case_id": warning["case_id"],
        "center_id": "451221",
        "at": overdue["raised_at"],
        "superseded_by": overdue["alert_id"],
        "details": {},
    }
    await wall_server.publish(overdue, superseded)
    row = page.locator(f'[data-alert-id="{overdue["alert_id"]}"]')
    await row.wait_for(timeout=2_000)
    await page.wait_for_function(
        f"() => !document.querySelector('[data-alert-id=\"{warning['alert_id']}\"]')",
        timeout=2_000,
    )
    assert await row.get_attribute("data-case-alerts") == "2"
    assert await row.locator(".alert__more").inner_text() == "该办件另有 1 条"
    assert await counts(page) == ("4", "3")  # the superseded warning is not open

    # Another case's warning, closed by its conclusion in time: its row stays, closed.
    other = live_alert("451221", 4002, severity="yellow")
    closed = {
        **superseded,
        "change": "closed",
        "status": "closed",
        "alert_id": other["alert_id"],
        "case_id": other["case_id"],
        "reason": "concluded_in_time",
    }
    del closed["superseded_by"]
    await wall_server.publish(other, closed)
    closed_row = page.locator(f'[data-alert-id="{other["alert_id"]}"][data-status="closed"]')
    await closed_row.wait_for(timeout=2_000)
    assert await closed_row.locator(".alert__tag").inner_text() == "已按期办结"
    assert await counts(page) == ("4", "3")
    await screenshot(page, "wall-case-once.png")
    assert errors == []


async def test_the_wall_withdraws_a_resolved_alert(
    wall_server: WallServer, browser: Browser
) -> None:
    names = {c.code: c.name for c in CenterRegistry.load().all()}
    errors: list[str] = []
    history = earlier_alerts(datetime.now(UTC))
    address = wall_server.wall(wall_server.inspector)
    page = await open_wall(browser, address, len(history), errors)
    assert await counts(page) == ("3", "3")

    now = datetime.now(UTC)
    live = alert(
        "deadline.overdue",
        "red",
        "451221",
        4321,
        "办件超期",
        "已超过承诺时限，仍未办结",
        now,
    )
    # center.silent concerns a whole center: no case id.
    silent = {
        **alert(
            "center.silent",
            "yellow",
            "451202",
            0,
            "中心数据中断",
            "自 09:00 起已连续 2 个办公小时未上报任何办件数据。",
            now - timedelta(minutes=2),
        ),
        "alert_id": "center.silent:451202:20261120T090000",
        "case_id": "",
    }
    await wall_server.publish(live, silent)
    live_row = page.locator(f'[data-alert-id="{live["alert_id"]}"]')
    silent_row = page.locator(f'[data-alert-id="{silent["alert_id"]}"]')
    await live_row.wait_for(timeout=10_000)
    await silent_row.wait_for(timeout=10_000)
    assert await live_row.get_attribute("data-status") == "open"
    assert "flash" in (await live_row.get_attribute("class") or "")
    assert await silent_row.locator(".alert__case").inner_text() == "全中心"
    assert await silent_row.locator(".alert__center").inner_text() == names["451202"]
    assert await counts(page) == ("4", "4")
    assert await page.locator(".alert__withdrawn").count() == 0

    # The late `concluded` proves the live alert wrong: withdrawn within 2 seconds.
    reason = (
        "迟到事件：办结（发生于 11-20 15:00）按事件时间补入后重新研判，该预警不再成立，予以撤销。"
    )
    withdrawn = resolution(live, reason, datetime.now(UTC))
    await wall_server.publish(withdrawn)
    await page.locator(f'[data-alert-id="{live["alert_id"]}"][data-status="withdrawn"]').wait_for(
        timeout=2_000
    )
    assert await live_row.locator(".alert__withdrawn").inner_text() == "已撤销"
    assert reason in await live_row.locator(".alert__reason").inner_text()
    assert reason in (await live_row.get_attribute("title") or "")  # on hover too
    classes = await live_row.get_attribute("class") or ""
    assert "alert--withdrawn" in classes and "alert--closed" in classes
    assert "flash" not in classes  # a change never flashes
    decoration = await live_row.locator(".alert__title").evaluate(
        "node => getComputedStyle(node).textDecorationLine"
    )
    assert "line-through" in decoration
    assert (await row_texts(page))[0] == (live["alert_id"], "red")  # it stays, in its place
    assert await counts(page) == ("3", "4")  # no longer an open red alert

    # The center-level alert resolved too; a repeated resolution changes nothing.
    await wall_server.publish(
        resolution(silent, "迟到数据：该中心在 09:40 有办件事件。", now), withdrawn
    )
    await page.locator(f'[data-alert-id="{silent["alert_id"]}"][data-status="withdrawn"]').wait_for(
        timeout=2_000
    )
    assert await counts(page) == ("3", "3")

    # A resolution read before its alert: the alert appears already withdrawn, no flash.
    early = alert(
        "fee.overcharge",
        "red",
        "451203",
        77,
        "超标准收费",
        "累计收费超过收费标准",
        now - timedelta(minutes=1),
    )
    await wall_server.publish(resolution(early, "迟到事件：退费", now), early)
    early_row = page.locator(f'[data-alert-id="{early["alert_id"]}"]')
    await early_row.wait_for(timeout=10_000)
    assert await early_row.get_attribute("data-status") == "withdrawn"
    assert "flash" not in (await early_row.get_attribute("class") or "")
    assert await counts(page) == ("3", "3")
    assert await page.locator(".alert__withdrawn").count() == 3
    assert "其中已撤销 3 条" in await page.locator("#foot-shown").inner_text()

    await screenshot(page, "wall-resolved.png")

    # A wall that (re)connects shows the same thing, from the snapshot.
    again = await open_wall(browser, address, len(history) + 3, errors)
    assert await row_texts(again) == await row_texts(page)
    resolved_ids = {live["alert_id"], silent["alert_id"], early["alert_id"]}
    statuses = again.locator("[data-alert-id]")
    for i in range(await statuses.count()):
        row = statuses.nth(i)
        expected = (
            "withdrawn" if await row.get_attribute("data-alert-id") in resolved_ids else "open"
        )
        assert await row.get_attribute("data-status") == expected
    assert (
        reason
        in await again.locator(f'[data-alert-id="{live["alert_id"]}"] .alert__reason').inner_text()
    )
    assert await counts(again) == ("3", "3")
    assert errors == []


async def test_lifecycle_changes_made_through_the_api_show_live(
    wall_server: WallServer, browser: Browser
) -> None:
    errors: list[str] = []
    history = earlier_alerts(datetime.now(UTC))
    appealed = live_alert(TOWNSHIP, 501)  # red, for the county's director to appeal
    delisted = live_alert(COUNTY, 502, severity="yellow")  # appealed, and the appeal accepted
    await wall_server.publish(appealed, delisted)
    page = await open_wall(
        browser, wall_server.wall(wall_server.inspector), len(history) + 2, errors
    )
    assert await counts(page) == ("4", "4")
    director = wall_server.director
    inspector = wall_server.inspector
    by_rule = {item["rule_id"]: item for item in history}
    acknowledged = by_rule["fee.overcharge"]  # red
    resolved = by_rule["deadline.warning"]  # yellow

    def row(item: dict[str, Any], status: str = "") -> Any:
        state = f'[data-status="{status}"]' if status else ""
        return page.locator(f'[data-alert-id="{item["alert_id"]}"]{state}')

    # 签收: on the open wall within 2 seconds of the API's answer, in place, no flash.
    await wall_server.act(
        inspector, acknowledged["alert_id"], "acknowledge", note="已转承办科室核查"
    )
    await row(acknowledged, "acknowledged").wait_for(timeout=2_000)
    assert await row(acknowledged).locator(".alert__tag").inner_text() == "已签收"
    change = await row(acknowledged).locator(".alert__change").inner_text()
    assert "王监察（纪检监察）" in change and "已转承办科室核查" in change
    assert "flash" not in (await row(acknowledged).get_attribute("class") or "")
    assert await counts(page) == ("4", "4")  # acknowledged: still open business

    # 办结（整改）: greyed, out of the counts.
    await wall_server.act(
        inspector, resolved["alert_id"], "resolve", disposition="rectified", note="已督促整改"
    )
    await row(resolved, "resolved").wait_for(timeout=2_000)
    assert await row(resolved).locator(".alert__tag").inner_text() == "已办结（整改）"
    assert "alert--closed" in (await row(resolved).get_attribute("class") or "")
    assert await counts(page) == ("4", "3")

    # 申诉中 (the director's appeal), then 已摘牌 (an inspector accepts another appeal).
    await wall_server.act(director, appealed["alert_id"], "appeal", reason="系统数据错误，已补录")
    await row(appealed, "appealed").wait_for(timeout=2_000)
    assert await row(appealed).locator(".alert__tag").inner_text() == "申诉中"
    assert "系统数据错误，已补录" in await row(appealed).locator(".alert__change").inner_text()
    await wall_server.act(director, delisted["alert_id"], "appeal", reason="办件已撤回")
    await wall_server.act(inspector, delisted["alert_id"], "appeal/accept", note="申诉成立")
    await row(delisted, "withdrawn").wait_for(timeout=2_000)
    assert await row(delisted).locator(".alert__tag").inner_text() == "已摘牌"
    assert "申诉成立" in await row(delisted).locator(".alert__change").inner_text()
    assert await counts(page) == ("4", "2")  # an appeal pending still counts; delisted not
    footer = await page.locator("#foot-shown").inner_text()
    assert all(
        part in footer for part in ("已签收 1 条", "申诉中 1 条", "已办结 1 条", "已摘牌 1 条")
    )
    assert "已撤销" not in footer  # 摘牌 is an appeal upheld, not the system's withdrawal

    # The notifier's escalation (written to the journal): said in words, status unchanged.
    escalated = by_rule["supplement.repeated"]  # red, in a township of OTHER_COUNTY
    await wall_server.publish(
        {
            "kind": "escalation",
            "alert_id": escalated["alert_id"],
            "rule_id": escalated["rule_id"],
            "center_id": escalated["center_id"],
            "level": 1,
            "to_center": OTHER_COUNTY,
            "recipient_id": f"director-{OTHER_COUNTY}",
            "recipient_name": "南丹县中心负责人",
            "at": datetime.now(SHANGHAI).isoformat(),
            "waited_working_hours": 2.0,
            "notification_id": f"{escalated['alert_id']}:director-{OTHER_COUNTY}:escalation:1",
        }
    )
    line = row(escalated).locator(".alert__change")
    await line.wait_for(timeout=2_000)
    assert "系统" in await line.inner_text()
    assert "升级督办（第 1 级）：南丹县政务服务中心 南丹县中心负责人" in await line.inner_text()
    assert await row(escalated).get_attribute("data-status") == "open"
    assert await counts(page) == ("4", "2")

    # No change flashed; the rows kept their places; each alert is shown once.
    assert await page.locator(".flash").count() == 0
    ids = await row_ids(page)
    assert len(ids) == len(set(ids)) == len(history) + 2
    await screenshot(page, "wall-lifecycle.png")
    assert errors == []


async def test_a_directors_wall_shows_only_their_centers(
    wall_server: WallServer, browser: Browser
) -> None:
    names = {c.code: c.name for c in CenterRegistry.load().all()}
    errors: list[str] = []
    history = earlier_alerts(datetime.now(UTC))  # none of them in the county
    mine = wall_server.wall(wall_server.director)
    page = await open_wall(browser, mine, 0, errors)
    viewer = page.locator("#viewer")
    await viewer.wait_for(timeout=5_000)
    # the center by its short name (东兰县), the whole line read, not cut; the full name
    # in its tooltip
    assert names[COUNTY].startswith("东兰县") and names[COUNTY] != "东兰县"
    assert await viewer.inner_text() == "李主任 · 中心负责人 · 东兰县"
    assert await viewer.evaluate("node => node.scrollWidth <= node.clientWidth")
    assert await viewer.get_attribute("title") == f"李主任 · 中心负责人 · {names[COUNTY]}"
    assert await page.locator("#empty").is_visible()
    inspector = await open_wall(
        browser, wall_server.wall(wall_server.inspector), len(history), errors
    )

    other = live_alert(OTHER_COUNTY, 601)
    township = live_alert(TOWNSHIP, 602)
    county = live_alert(COUNTY, 603, severity="yellow")
    await wall_server.publish(other, township, county)
    for item in (other, township, county):  # the inspector sees all three
        await inspector.locator(f'[data-alert-id="{item["alert_id"]}"]').wait_for(timeout=5_000)
    for item in (township, county):
        await page.locator(f'[data-alert-id="{item["alert_id"]}"]').wait_for(timeout=5_000)
    await asyncio.sleep(0.5)
    assert sorted(await row_ids(page)) == sorted([township["alert_id"], county["alert_id"]])
    centers = await page.locator("[data-alert-id]").evaluate_all(
        "rows => rows.map(row => row.dataset.centerId)"
    )
    assert sorted(centers) == [COUNTY, TOWNSHIP]
    assert await page.locator(f'[data-center-id="{OTHER_COUNTY}"]').count() == 0
    assert await counts(page) == ("1", "1")
    assert await page.locator(".alert__center").all_inner_texts() == [
        names[COUNTY],  # the newest first
        names[TOWNSHIP],
    ]
    await screenshot(page, "wall-director.png")
    assert errors == []


async def test_the_wall_reconnects_after_a_restart_and_shows_every_alert_once(
    wall_server: WallServer, browser: Browser
) -> None:
    errors: list[str] = []
    sockets: list[str] = []
    history = earlier_alerts(datetime.now(UTC))
    page = await open_wall(
        browser, wall_server.wall(wall_server.inspector), len(history), errors, sockets
    )
    before = live_alert("451202", 701, severity="yellow")
    await wall_server.publish(before)
    await page.locator(f'[data-alert-id="{before["alert_id"]}"]').wait_for(timeout=5_000)
    # Changed before the restart: shown once after it, as it stands.
    acked = history[0]
    await wall_server.act(wall_server.inspector, acked["alert_id"], "acknowledge")
    await page.locator(
        f'[data-alert-id="{acked["alert_id"]}"][data-status="acknowledged"]'
    ).wait_for(timeout=2_000)
    assert len(sockets) == 1

    await wall_server.stop()
    await page.wait_for_selector('body[data-connection="reconnecting"]', timeout=10_000)
    assert await page.locator("#conn-text").inner_text() == "重新连接中…"
    while_down = live_alert("451221", 702)  # red
    await wall_server.publish(while_down)
    await wall_server.start()
    after = live_alert("451203", 703)
    await wall_server.publish(after)

    for item in (while_down, after):
        await page.locator(f'[data-alert-id="{item["alert_id"]}"]').wait_for(timeout=40_000)
    assert await page.locator("#conn-text").inner_text() == "已连接"
    await asyncio.sleep(1.5)  # anything shown twice would be there by now
    ids = await row_ids(page)
    expected = {a["alert_id"] for a in [*history, before, while_down, after]}
    assert Counter(ids) == Counter(expected), "every alert exactly once"
    acked_row = page.locator(f'[data-alert-id="{acked["alert_id"]}"]')
    assert await acked_row.get_attribute("data-status") == "acknowledged"
    # It resumed from its position, not from a fresh snapshot.
    assert len(sockets) >= 2 and all("after=" in url for url in sockets[1:])
    assert await counts(page) == ("5", "4")
    await screenshot(page, "wall-restart.png")
    assert errors == []


async def test_a_refused_token_stops_the_wall_with_a_message(
    wall_server: WallServer, browser: Browser
) -> None:
    errors: list[str] = []
    sockets: list[str] = []
    history = earlier_alerts(datetime.now(UTC))
    revoked = wall_server.spare
    page = await open_wall(browser, wall_server.wall(revoked), len(history), errors, sockets)

    # Revoked while the wall is open; the service restarts, the page reconnects: refused.
    wall_server.tokens.revoke(revoked)
    await wall_server.stop()
    await wall_server.start()
    await page.wait_for_selector('body[data-connection="refused"]', timeout=40_000)
    notice = page.locator("#notice")
    assert await notice.is_visible()
    assert await page.locator("#notice-title").inner_text() == REFUSED_MESSAGE
    assert await page.locator("#conn-text").inner_text() == "未授权"
    assert await page.locator("[data-alert-id]").count() == 0  # nothing it may not see
    assert await counts(page) == ("0", "0")
    tried = len(sockets)
    await asyncio.sleep(4)  # a retrying page would have tried twice by now
    assert len(sockets) == tried
    await screenshot(page, "wall-refused.png")

    # Opened with a revoked token: the same message at once, and no retry either.
    again_sockets: list[str] = []
    again = await new_wall(browser, wall_server.wall(revoked), errors, again_sockets)
    await again.wait_for_selector('body[data-connection="refused"]', timeout=10_000)
    assert await again.locator("#notice-title").inner_text() == REFUSED_MESSAGE
    await asyncio.sleep(3)
    assert len(again_sockets) <= 1

    # No token at all: told how to open the wall, never connects.
    bare = await new_wall(browser, wall_server.wall(None), errors, again_sockets)
    await bare.wait_for_selector('body[data-refused="missing"]', timeout=5_000)
    assert await bare.locator("#notice-title").inner_text() == "缺少访问令牌"
    assert len(again_sockets) <= 1
    assert errors == []


async def test_the_wall_keeps_a_bounded_list(wall_server: WallServer, browser: Browser) -> None:
    """More alerts than the page keeps (200): the newest 200 are shown; a change to one
    that fell off the list does not bring it back."""
    errors: list[str] = []
    history = earlier_alerts(datetime.now(UTC))
    page = await open_wall(browser, wall_server.wall(wall_server.inspector), len(history), errors)
    start = datetime.now(UTC)
    flood = [
        alert(
            "deadline.warning",
            "yellow",
            "451202",
            9000 + n,
            "办件即将超期",
            "承诺时限已过 80%",
            start + timedelta(seconds=n),
        )
        for n in range(MAX_ROWS)
    ]
    await wall_server.publish(*flood)
    newest = page.locator(f'[data-alert-id="{flood[-1]["alert_id"]}"]')
    await newest.wait_for(timeout=10_000)
    await page.wait_for_function(
        f"() => document.querySelectorAll('[data-alert-id]').length === {MAX_ROWS}", timeout=5_000
    )
    ids = await row_ids(page)
    assert ids == [a["alert_id"] for a in reversed(flood)]  # every history alert fell off
    await wall_server.act(wall_server.inspector, history[0]["alert_id"], "acknowledge")
    await asyncio.sleep(1)
    assert await row_ids(page) == ids
    # The header counts every open alert in scope, not only the ones the list keeps.
    assert await counts(page) == ("3", str(3 + MAX_ROWS))
    assert f"显示最近 {MAX_ROWS} 条" in await page.locator("#foot-shown").inner_text()
    assert errors == []


def tile(page: Page, code: str) -> Any:
    return page.locator(f'.tile[data-code="{code}"]')


async def tile_codes(page: Page, selector: str) -> list[str]:
    codes: list[str] = await page.locator(selector).evaluate_all(
        "tiles => tiles.map(tile => tile.dataset.code)"
    )
    return codes


async def active_code(page: Page) -> str | None:
    code: str | None = await page.evaluate(
        "document.activeElement ? document.activeElement.dataset.code || null : null"
    )
    return code


async def wait_text(page: Page, selector: str, text: str, timeout: float = 15_000) -> None:
    """Wait until `selector`'s text is `text` (figures come from 5-second polls)."""
    await page.wait_for_function(
        "([selector, text]) => document.querySelector(selector)?.textContent.trim() === text",
        arg=[selector, text],
        timeout=timeout,
    )


async def test_the_headline_shows_todays_figures(wall_server: WallServer, browser: Browser) -> None:
    errors: list[str] = []
    history = earlier_alerts(datetime.now(UTC))
    page = await open_wall(browser, wall_server.wall(wall_server.inspector), len(history), errors)
    everyone = expected_figures(wall_server.facts, wall_server.facts_at)
    assert everyone.accepted_today >= 1  # not a vacuous check
    # The cases concluded "today" were 20-40 minutes ago: in the first 40 minutes of a
    # Beijing day they fall on the day before, and today's rate is rightly "—".
    midnight = wall_server.facts_at.replace(hour=0, minute=0, second=0, microsecond=0)
    if wall_server.facts_at - midnight >= timedelta(minutes=41):
        assert everyone.rate_today != "—"
    # Read by the service from the facts topic, counted in Beijing days.
    await wait_text(page, "#fig-accepted", str(everyone.accepted_today))
    assert await page.locator("#fig-open").inner_text() == str(everyone.open_cases)
    assert await page.locator("#rate-today").inner_text() == everyone.rate_today
    assert await page.locator("#rate-month").inner_text() == everyone.rate_month
    assert "按期" in (await page.locator(".rate").first.get_attribute("title") or "")
    # Open alerts: every open one in scope (the service's count), kept live by the socket.
    assert await counts(page) == ("3", "3")
    await wall_server.publish(live_alert("451222", 901))
    await page.locator("#count-red", has_text="4").wait_for(timeout=2_000)  # before a poll
    assert await counts(page) == ("4", "3")
    labels = page.locator(".figures [data-i18n]")
    assert await labels.all_inner_texts() == [
        "今日受理",
        "在办件",
        "红牌",
        "未办结",
        "黄牌",
        "未办结",
        "按期办结率",
        "今日",
        "本月",
    ]

    # Every new label switches to English too.
    await page.locator("#lang").click()
    assert await labels.all_inner_texts() == [
        "Accepted today",
        "Open cases",
        "Red",
        "open",
        "Yellow",
        "open",
        "On-time rate",
        "Today",
        "Month",
    ]
    assert await page.locator("#feed-title").inner_text() == "Alerts · all centers"
    assert await page.locator("#centers-title").inner_text() == "Centers (counties incl. townships)"
    assert "Enter" in await page.locator(".foot__keys").inner_text()
    assert await page.locator("#fresh-text").inner_text() != ""
    assert re.search("[\u4e00-\u9fff]", await page.locator(".figures").inner_text()) is None
    await screenshot(page, "wall-english.png")
    await page.locator("#lang").click()

    # A director: the figures of their county and its townships only; no case judged yet.
    mine = expected_figures(wall_server.facts, wall_server.facts_at, COUNTY)
    director = await open_wall(browser, wall_server.wall(wall_server.director), 0, errors)
    await wait_text(director, "#fig-accepted", str(mine.accepted_today))
    assert await director.locator("#fig-open").inner_text() == str(mine.open_cases)
    assert mine.rate_today == mine.rate_month == "—"
    assert await director.locator("#rate-today").inner_text() == "—"
    assert await director.locator("#rate-month").inner_text() == "—"
    assert await counts(director) == ("0", "0")
    assert errors == []


async def test_the_board_drills_into_a_county(wall_server: WallServer, browser: Browser) -> None:
    registry = CenterRegistry.load()
    counties = [c.code for c in registry.children(CITY)]
    townships = [c.code for c in registry.children(COUNTY)]
    errors: list[str] = []
    history = earlier_alerts(datetime.now(UTC))
    township_red = live_alert(TOWNSHIP, 801)
    county_yellow = live_alert(COUNTY, 802, severity="yellow")
    await wall_server.publish(township_red, county_yellow)
    page = await open_wall(
        browser, wall_server.wall(wall_server.inspector), len(history) + 2, errors
    )
    await page.wait_for_selector('body[data-board="synced"]', timeout=15_000)

    # The city (its own center) above its eleven counties; no township tile yet.
    assert await tile_codes(page, "#focus .tile") == [CITY]
    assert await tile_codes(page, "#tiles .tile") == counties and len(counties) == 11
    assert await page.locator('.tile[data-level="township"]').count() == 0
    assert await tile(page, CITY).get_attribute("data-worst") == "red"  # 超标准收费
    # A county counts its townships in: 东兰县 is red for its township's red alert.
    county = tile(page, COUNTY)
    assert await county.get_attribute("data-worst") == "red"
    assert (await county.get_attribute("data-red"), await county.get_attribute("data-yellow")) == (
        "1",
        "1",
    )
    assert await county.locator(".tile__name").inner_text() == "东兰县"
    assert await county.get_attribute("title") == "东兰县政务服务中心：按 Enter 或点击进入"
    luocheng = tile(page, "451225")  # 罗城仫佬族自治县: as it is usually called, whole
    assert await luocheng.locator(".tile__name").inner_text() == "罗城县"
    assert await county.locator(".tile__dot--red").count() == 1  # which township
    assert await tile(page, "451222").get_attribute("data-worst") == "none"
    assert await tile(page, "451202").get_attribute("data-worst") == "yellow"
    # Open cases from the facts: 东兰县 and its township each have one.
    assert await county.get_attribute("data-open-cases") == "2"
    await screenshot(page, "wall-board.png")

    # A click drills into the county: its own tile, its townships, its alerts only.
    await county.click()
    await page.wait_for_selector(f'body[data-view="{COUNTY}"]', timeout=2_000)
    assert await tile_codes(page, "#focus .tile") == [COUNTY]
    own = tile(page, COUNTY)
    assert await own.get_attribute("data-worst") == "yellow"  # its own: the yellow one
    assert await own.get_attribute("data-open-cases") == "1"
    assert await tile_codes(page, "#tiles .tile") == townships
    assert await tile(page, TOWNSHIP).get_attribute("data-worst") == "red"
    quiet = [code for code in townships if code != TOWNSHIP]
    for code in quiet:
        assert await tile(page, code).get_attribute("data-worst") == "none"
    await page.wait_for_function(
        "() => document.querySelectorAll('[data-alert-id]').length === 2", timeout=5_000
    )
    assert await row_ids(page) == [county_yellow["alert_id"], township_red["alert_id"]]
    assert await page.locator("#feed-title").inner_text() == "预警动态 · 东兰县（含乡镇）"
    assert await page.locator("#back").is_visible()

    # Live while drilled in: a red alert in another of its townships shows in the feed and
    # turns that tile red within 2 seconds (no poll in between); one elsewhere does not.
    inside = live_alert(quiet[0], 803)
    outside = live_alert(OTHER_COUNTY, 804)
    await wall_server.publish(outside, inside)
    await page.locator(f'[data-alert-id="{inside["alert_id"]}"]').wait_for(timeout=2_000)
    await page.locator(f'.tile[data-code="{quiet[0]}"][data-worst="red"]').wait_for(timeout=2_000)
    assert "flash" in (
        await page.locator(f'[data-alert-id="{inside["alert_id"]}"]').get_attribute("class") or ""
    )
    assert await page.locator(f'[data-alert-id="{outside["alert_id"]}"]').count() == 0
    assert await row_ids(page) == [
        inside["alert_id"],
        county_yellow["alert_id"],
        township_red["alert_id"],
    ]
    await page.wait_for_timeout(500)  # mid-flash
    await screenshot(page, "wall-county.png")

    # Escape: back to the city; the whole feed again, 东兰县 now with two red alerts.
    await page.keyboard.press("Escape")
    await page.wait_for_selector('body[data-view="top"]', timeout=2_000)
    assert await tile_codes(page, "#tiles .tile") == counties
    assert len(await row_ids(page)) == len(history) + 4
    assert await tile(page, COUNTY).get_attribute("data-red") == "2"
    assert await tile(page, OTHER_COUNTY).get_attribute("data-worst") == "red"

    # The keyboard: arrows to 东兰县 (the tile chosen is outlined), Enter, Backspace.
    for _ in range(len(counties) + 1):
        if await active_code(page) == COUNTY:
            break
        await page.keyboard.press("ArrowRight")
    assert await active_code(page) == COUNTY
    assert "is-selected" in (await tile(page, COUNTY).get_attribute("class") or "")
    above = await tile(page, COUNTY).bounding_box()
    await page.keyboard.press("ArrowDown")
    below = await active_code(page)
    assert below in counties and below != COUNTY
    below_box = await tile(page, below).bounding_box()
    assert above is not None and below_box is not None and below_box["y"] > above["y"]
    await page.keyboard.press("ArrowUp")
    assert await active_code(page) == COUNTY
    await page.keyboard.press("Enter")
    await page.wait_for_selector(f'body[data-view="{COUNTY}"]', timeout=2_000)
    assert await active_code(page) == townships[0]  # the first township is chosen
    await page.wait_for_function(
        "() => document.querySelectorAll('[data-alert-id]').length === 3", timeout=5_000
    )
    await page.keyboard.press("Backspace")
    await page.wait_for_selector('body[data-view="top"]', timeout=2_000)
    assert await active_code(page) == COUNTY  # back where it came from
    await page.keyboard.press("Enter")
    await page.wait_for_selector(f'body[data-view="{COUNTY}"]', timeout=2_000)
    await page.locator("#back").click()
    await page.wait_for_selector('body[data-view="top"]', timeout=2_000)
    assert errors == []


async def test_a_directors_board_is_their_county(wall_server: WallServer, browser: Browser) -> None:
    registry = CenterRegistry.load()
    errors: list[str] = []
    await wall_server.publish(live_alert(TOWNSHIP, 811))
    page = await open_wall(browser, wall_server.wall(wall_server.director), 1, errors)
    await page.wait_for_selector('body[data-board="synced"]', timeout=15_000)
    # Their county on top, its townships below; no city, no other county; nothing above.
    assert await tile_codes(page, "#focus .tile") == [COUNTY]
    assert await tile_codes(page, "#tiles .tile") == [c.code for c in registry.children(COUNTY)]
    assert (
        await page.locator(f'.tile[data-code="{CITY}"], .tile[data-code="{OTHER_COUNTY}"]').count()
        == 0
    )
    assert await tile(page, TOWNSHIP).get_attribute("data-worst") == "red"
    assert await page.locator("#centers-title").inner_text() == "东兰县 · 各乡镇"
    assert await page.locator("#feed-title").inner_text() == "预警动态 · 东兰县（含乡镇）"
    await screenshot(page, "wall-director-board.png")
    await page.keyboard.press("Escape")  # already at the top of their scope
    assert await page.locator("body").get_attribute("data-view") == "top"
    assert not await page.locator("#back").is_visible()
    assert errors == []


async def test_the_freshness_indicator_ages_with_the_data(
    wall_server: WallServer, browser: Browser
) -> None:
    errors: list[str] = []
    history = earlier_alerts(datetime.now(UTC))
    fresh = re.compile(r"^最近数据：(\d+) 分钟前$")

    async def freshness(page: Page) -> tuple[str, int, str]:
        await page.wait_for_function(
            "() => document.querySelector('#fresh').dataset.freshness !== 'unknown'", timeout=15_000
        )
        text = await page.locator("#fresh-text").inner_text()
        found = fresh.match(text)
        assert found, text
        return (
            text,
            int(found.group(1)),
            await page.locator("#fresh").get_attribute("data-freshness") or "",
        )

    def close_to(minutes: int, expected: int) -> bool:
        return expected <= minutes <= expected + 2  # the test's own minutes pass too

    # Everything: the latest event was 3 minutes ago: green.
    page = await open_wall(browser, wall_server.wall(wall_server.inspector), len(history), errors)
    everyone = expected_figures(wall_server.facts, wall_server.facts_at)
    _, minutes, state = await freshness(page)
    assert close_to(minutes, everyone.minutes_since_last_event) and state == "ok"
    # Each alert's age in the feed (updated every 30 s).
    ages = await page.locator(".alert__age").all_inner_texts()
    assert ages[0] in ("9 分钟前", "10 分钟前") and ages[-1] == "1 小时前"
    await page.locator("#lang").click()
    assert re.match(r"^Latest data: \d+ min ago$", await page.locator("#fresh-text").inner_text())
    await page.locator("#lang").click()

    # 金城江区's director: 15 minutes without data: amber.
    amber = await new_wall(browser, wall_server.wall(wall_server.amber), errors)
    _, minutes, state = await freshness(amber)
    expected = expected_figures(wall_server.facts, wall_server.facts_at, AMBER_COUNTY)
    assert close_to(minutes, expected.minutes_since_last_event) and state == "warn"

    # 东兰县's director: 45 minutes without data: red, so a quiet wall is not taken for calm.
    stale = await new_wall(browser, wall_server.wall(wall_server.director), errors)
    _, minutes, state = await freshness(stale)
    expected = expected_figures(wall_server.facts, wall_server.facts_at, COUNTY)
    assert close_to(minutes, expected.minutes_since_last_event) and state == "stale"
    background = await stale.locator("#fresh").evaluate(
        "node => getComputedStyle(node).backgroundColor"
    )
    assert background == "rgb(255, 77, 79)"

    # A fact arrives from the county: fresh again within a poll.
    now = datetime.now(SHANGHAI)
    await publish(
        wall_server.bootstrap,
        wall_server.facts_topic,
        [case_fact(TOWNSHIP, 3100, "accepted", now, "open", accepted_at=now)],
        key="case_id",
    )
    await stale.wait_for_selector('#fresh[data-freshness="ok"]', timeout=15_000)
    assert await stale.locator("#fresh-text").inner_text() in (
        "最近数据：刚刚",
        "最近数据：1 分钟前",
    )
    assert errors == []


async def test_the_sound_is_off_until_switched_on(
    wall_server: WallServer, browser: Browser
) -> None:
    errors: list[str] = []
    history = earlier_alerts(datetime.now(UTC))
    page = await open_wall(browser, wall_server.wall(wall_server.inspector), len(history), errors)
    sound = page.locator("#sound")
    assert await sound.is_visible()
    assert await sound.get_attribute("aria-pressed") == "false"
    assert await sound.get_attribute("data-sound") == "off"
    assert await sound.locator(".sound__slash").is_visible()  # a bell struck through
    assert await sound.get_attribute("aria-label") == "声音提醒：关（点击开启）"
    assert await page.evaluate("localStorage.getItem('supervisor.wall.sound')") is None
    first = live_alert("451222", 851)
    await wall_server.publish(first)  # off: no beep
    await page.locator(f'[data-alert-id="{first["alert_id"]}"]').wait_for(timeout=2_000)
    assert await sound.get_attribute("data-beeps") == "0"

    # The click is the user gesture the browser needs: the sound is on and remembered.
    await sound.click()
    await page.wait_for_selector('#sound[data-sound="on"]', timeout=5_000)
    assert await sound.get_attribute("aria-pressed") == "true"
    assert not await sound.locator(".sound__slash").is_visible()
    assert await page.evaluate("localStorage.getItem('supervisor.wall.sound')") == "on"
    red = live_alert("451222", 852)
    yellow = live_alert("451222", 853, severity="yellow")
    await wall_server.publish(red, yellow)
    await page.locator(f'[data-alert-id="{yellow["alert_id"]}"]').wait_for(timeout=2_000)
    await page.wait_for_selector('#sound[data-beeps="1"]', timeout=2_000)  # the red one only

    # After a reload it is still on; it can play once the page had a click or key.
    await page.reload()
    await page.wait_for_selector('body[data-connection="connected"]', timeout=10_000)
    assert await sound.get_attribute("aria-pressed") == "true"
    assert await sound.get_attribute("data-sound") in ("on", "blocked")
    await page.mouse.click(400, 900)
    await page.wait_for_selector('#sound[data-sound="on"]', timeout=5_000)
    await sound.click()
    assert await sound.get_attribute("data-sound") == "off"
    assert await page.evaluate("localStorage.getItem('supervisor.wall.sound')") == "off"
    assert errors == []
