"""The supervision console (监察工作台), end to end: Kafka -> `python -m supervisor.web.server`
-> Chromium, as people at a desk use it.

The real path, as in test_wall.py: fresh topics on the real broker (alerts, case facts,
case events) holding a morning's alerts, a case's facts and its events; the web service as
its own process with its own data directory and tokens file; Debian's chromium through
Playwright, one browser context per person, at 1366x768.

- An inspector (王监察) and the director of 东兰县 (李主任) sign in through the form: no
  token in any address, the session cookie HttpOnly and SameSite=Strict; a bad token is
  refused with the reason in Chinese.
- The inspector searches, opens an alert of 东兰县's township 三石镇: its rule and basis,
  promised and statutory deadlines, the case's masked timeline, its notifications and
  their outcomes, the case's other alert; after a reload everything is still there.
- 督办: the inspector issues an order (5 working days, due "MM月DD日 24:00"); the director
  finds it in their queue and replies (整改情况); the inspector finds the reply in theirs
  and closes it (办结); the order's history shows each step with who and when.
- 申诉: the director appeals an alert; it reaches the inspector's open queues live (the
  socket, no reload); the inspector accepts it (摘牌); a wall page shows the card withdrawn
  within 2 seconds; the director's queue shows the decision.
- 处置 with 已问责 needs the person and the measure: said before anything is sent.
- Several alerts acknowledged at once (签收), each with its result; the list exported.
- The English switch; signing out returns to the form and the API answers 401.
- A director of another county (南丹县) sees neither the alert nor the order, in the lists
  or by their address.
- A page of another origin posting to the API (fetch with credentials, an auto-submitted
  form) changes nothing: the journal and the alert are as before.

Screenshots for people: test-output/console-*.png.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from playwright.async_api import (
    Browser,
    BrowserContext,
    Page,
    Request,
    Response,
    ViewportSize,
    async_playwright,
)

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
COOKIE = "supervisor_session"
#: 东兰县, its township 三石镇 (the case's), and 南丹县 (another county).
COUNTY, TOWNSHIP, OTHER_COUNTY = "451224", "451224103", "451221"
RULES = Path(__file__).resolve().parents[2] / "rules"
#: The case's item in the web service's item catalogue: its step reads by this name.
CATALOGUE = """items:
  - item_code: 451224-SH-0007
    name: 社会团体成立登记
    promised_limit: {value: 5, unit: working_day}
    steps:
      - {step: review, name: 材料审查, limit: {value: 2, unit: working_day}}
"""


def rules_with_catalogue(target: Path) -> Path:
    """The shipped rules with an item catalogue naming the case's handling step."""
    shutil.copytree(RULES, target)
    (target / "catalogue").mkdir()
    (target / "catalogue" / "items.yaml").write_text(CATALOGUE, encoding="utf-8")
    return target


CASE = f"{TOWNSHIP}-2026-0000042"
DUE_AT_MIDNIGHT = re.compile(r"^\d{2}月\d{2}日 24:00$")
WHEN = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}")


def local(moment: datetime) -> str:
    return moment.astimezone(SHANGHAI).isoformat(timespec="seconds")


def midnight(moment: datetime) -> datetime:
    """The local midnight that starts `moment`'s day."""
    return moment.astimezone(SHANGHAI).replace(hour=0, minute=0, second=0, microsecond=0)


def an_alert(
    rule_id: str,
    severity: str,
    case_id: str,
    center_id: str,
    raised_at: datetime,
    title: str,
    message: str,
    **details: str,
) -> dict[str, Any]:
    """An alert as the worker publishes it (contract §3)."""
    return {
        "alert_id": f"{rule_id}:{case_id}",
        "rule_id": rule_id,
        "severity": severity,
        "case_id": case_id,
        "center_id": center_id,
        "raised_at": local(raised_at),
        "title": title,
        "message": message,
        "details": details,
    }


@dataclass(frozen=True)
class Story:
    """The alerts of the morning, by what the test does with each."""

    overdue: dict[str, Any]  # 三石镇's case, overdue: searched, read, 督办
    repeated: dict[str, Any]  # the same case: another alert of it
    appealed: dict[str, Any]  # 东兰县: the director appeals, the inspector accepts
    accountable: dict[str, Any]  # 东兰县's 隘洞镇: resolved 已问责
    bulk: tuple[dict[str, Any], dict[str, Any]]  # acknowledged together
    foreign: dict[str, Any]  # 长乐镇: the target of another origin's page
    elsewhere: dict[str, Any]  # 南丹县: outside 东兰县's director's scope

    def alerts(self) -> list[dict[str, Any]]:
        return [
            self.repeated,
            self.overdue,
            self.appealed,
            self.accountable,
            *self.bulk,
            self.foreign,
            self.elsewhere,
        ]


def the_story(now: datetime) -> Story:
    deadline = midnight(now) - timedelta(days=1)
    return Story(
        overdue=an_alert(
            "deadline.overdue", "red", CASE, TOWNSHIP, deadline, "办件超期",
            "社会团体成立登记已超过承诺时限，仍未办结",
            department="东兰县民政局", item_name="社会团体成立登记",
        ),
        repeated=an_alert(
            "supplement.repeated", "red", CASE, TOWNSHIP, now - timedelta(days=3),
            "多次要求补正材料", "同一办件第二次发出补正告知，违反一次性告知规定",
        ),
        appealed=an_alert(
            "extension.unapproved", "red", f"{COUNTY}-2026-0000101", COUNTY,
            now - timedelta(hours=3), "延期未经批准", "办件延期 5 个工作日，未记录批准人",
        ),
        accountable=an_alert(
            "fee.overcharge", "red", "451224101-2026-0000102", "451224101",
            now - timedelta(hours=2), "违规收费", "累计收费 300.00 元，超过收费标准 200.00 元",
        ),
        bulk=(
            an_alert(
                "suspension.no_reason", "yellow", f"{COUNTY}-2026-0000103", COUNTY,
                now - timedelta(minutes=50), "暂停计时无法定事由", "办件暂停计时未登记特别程序事由",
            ),
            an_alert(
                "evaluation.negative", "yellow", "451224104-2026-0000104", "451224104",
                now - timedelta(minutes=40), "收到差评", "申请人评价“不满意”，需整改回访",
            ),
        ),
        foreign=an_alert(
            "conclusion.too_fast", "yellow", "451224102-2026-0000105", "451224102",
            now - timedelta(minutes=30), "办结过快", "受理后 3 分钟即办结，疑似事后补录",
        ),
        elsewhere=an_alert(
            "deadline.overdue", "red", f"{OTHER_COUNTY}-2026-0000201", OTHER_COUNTY,
            now - timedelta(hours=1), "办件超期", "南丹县办件已超过承诺时限，仍未办结",
        ),
    )  # fmt: skip


def notifier_records(overdue: dict[str, Any], now: datetime) -> list[dict[str, Any]]:
    """What the notifier wrote about the overdue alert: a webhook delivered to the
    director, an email that failed for good, and an escalation to the city."""
    base = {"alert_id": overdue["alert_id"], "notification_kind": "alert", "attempt": 1}
    return [
        {**base, "kind": "delivery", "notification_id": "n-1", "channel": "webhook",
         "recipient_name": "李主任", "outcome": "delivered", "at": local(now - timedelta(hours=20)),
         "error": None, "next_at": None, "dead": False},
        {**base, "kind": "delivery", "notification_id": "n-2", "channel": "email",
         "recipient_name": "东兰县政务服务中心办公室", "outcome": "failed",
         "at": local(now - timedelta(hours=20)), "error": "SMTP 550 mailbox unavailable",
         "next_at": None, "dead": True},
        {"kind": "escalation", "alert_id": overdue["alert_id"], "rule_id": overdue["rule_id"],
         "center_id": TOWNSHIP, "level": 1, "to_center": "451200", "recipient_id": "hc-jc",
         "recipient_name": "河池市电子监察室", "at": local(now - timedelta(hours=4)),
         "waited_working_hours": 8.0, "notification_id": "n-3"},
    ]  # fmt: skip


def case_fact(now: datetime) -> dict[str, Any]:
    """The worker's latest fact of CASE: accepted a week ago, still open; promised and
    statutory deadlines at midnight (the facts of supervisor/worker/facts.py)."""
    accepted = now - timedelta(days=7)
    return {
        "case_id": CASE,
        "center_id": TOWNSHIP,
        "event_type": "supplement_requested",
        "occurred_at": local(now - timedelta(days=3)),
        "status": "open",
        "accepted_at": local(accepted),
        "concluded_at": None,
        "deadline": local(midnight(now) - timedelta(days=1)),
        "statutory_deadline": local(midnight(now) + timedelta(days=20)),
        "on_time": None,
        "department": "东兰县民政局",
        "window_id": "W03",
        "staff_id": "dl-0311",
    }


def case_events(now: datetime) -> list[dict[str, Any]]:
    """CASE's events as the center sent them (the applicant's data in clear: the service
    masks it before it is stored)."""
    common = {
        "schema_version": "1",
        "case_id": CASE,
        "center_id": TOWNSHIP,
        "staff_id": "dl-0311",
        "window_id": "W03",
        "department": "东兰县民政局",
    }

    def event(n: int, type_: str, days_ago: float, **extra: Any) -> dict[str, Any]:
        occurred = local(now - timedelta(days=days_ago))
        return {**common, "event_id": f"dl-{n}", "type": type_, "occurred_at": occurred, **extra}

    return [
        event(1, "submitted", 7.1, applicant={
            "name": "李小梅", "id_number": "452727198805060021", "phone": "13977881234"}),
        event(2, "accepted", 7, payload={
            "item_code": "451224-SH-0007", "item_name": "社会团体成立登记",
            "promised_limit": {"value": 5, "unit": "working_day"},
            "statutory_limit": {"value": 20, "unit": "working_day"},
            "immediate": False, "fee_standard": 0, "required_steps": ["review"]}),
        event(3, "supplement_requested", 5, payload={"missing_materials": ["章程草案"]}),
        event(4, "supplement_requested", 3, payload={"missing_materials": ["验资报告"]}),
    ]  # fmt: skip


@dataclass
class ConsoleServer:
    """The web service as a real process, with the story on its topics."""

    url: str
    story: Story
    inspector: str  # 王监察
    director: str  # 李主任, director of COUNTY
    other: str  # 赵主任, director of OTHER_COUNTY
    log: Path

    def console(self, hash_: str = "") -> str:
        """The console's address: never a token in it."""
        return f"{self.url}/console/{hash_}"

    def wall(self) -> str:
        return f"{self.url}/wall/?token={quote(self.inspector)}"

    async def api(self, method: str, path: str, token: str, **body: Any) -> httpx.Response:
        """The API as a tool with a Bearer token sees it (to check what the pages did)."""
        async with httpx.AsyncClient(base_url=self.url, timeout=15) as client:
            return await client.request(
                method,
                path,
                json=body or None,
                headers={"Authorization": f"Bearer {token}"},
            )

    async def alert(self, alert_id: str) -> dict[str, Any]:
        response = await self.api("GET", alert_path(alert_id), self.inspector)
        assert response.status_code == 200, response.text
        found: dict[str, Any] = response.json()
        return found


@pytest.fixture
async def console_server(
    kafka_bootstrap: str, topic_name: Callable[..., str], tmp_path: Path
) -> AsyncIterator[ConsoleServer]:
    """The web service on fresh topics holding the story: alerts and the notifier's
    records, CASE's fact and events; its own tokens file with three people's tokens."""
    topics = {name: topic_name(name) for name in ("alerts", "facts", "events")}
    await ensure_topics(kafka_bootstrap, {topic: 1 for topic in topics.values()})
    now = datetime.now(SHANGHAI)
    story = the_story(now)
    await publish(
        kafka_bootstrap, topics["alerts"], [*story.alerts(), *notifier_records(story.overdue, now)]
    )
    await publish(kafka_bootstrap, topics["facts"], [case_fact(now)], key="case_id")
    await publish(kafka_bootstrap, topics["events"], case_events(now), key="case_id")

    tokens = TokenStore(tmp_path / "tokens.json")
    port = free_port()
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "SUPERVISOR_TOPIC_ALERTS": topics["alerts"],
        "SUPERVISOR_TOPIC_FACTS": topics["facts"],
        "SUPERVISOR_TOPIC_EVENTS": topics["events"],
        "SUPERVISOR_TOPIC_DLQ": topic_name("dlq"),
        "SUPERVISOR_APP_ID": topic_name("supervisor-console-test"),
        "SUPERVISOR_WEB_HOST": "127.0.0.1",
        "SUPERVISOR_WEB_PORT": str(port),
        "SUPERVISOR_DATA_DIR": str(tmp_path / "data"),
        "SUPERVISOR_TOKENS_FILE": str(tmp_path / "tokens.json"),
        "SUPERVISOR_RULES_DIR": str(rules_with_catalogue(tmp_path / "rules")),
    }
    server = ConsoleServer(
        url=f"http://127.0.0.1:{port}",
        story=story,
        inspector=tokens.issue("inspector", "王监察"),
        director=tokens.issue("director", "李主任", center=COUNTY),
        other=tokens.issue("director", "赵主任", center=OTHER_COUNTY),
        log=tmp_path / "web.log",
    )
    process = spawn(["-m", "supervisor.web.server"], env, server.log)
    try:

        async def ready() -> bool:
            """Every alert, the notifier's records and the case's events are read."""
            if process.poll() is not None:
                pytest.fail(f"web service exited ({process.returncode}):\n{server.log.read_text()}")
            try:
                found = await server.api("GET", "/api/alerts?limit=500", server.inspector)
                case = await server.api("GET", f"/api/cases/{CASE}", server.inspector)
                overdue = await server.api(
                    "GET", alert_path(story.overdue["alert_id"]), server.inspector
                )
            except httpx.HTTPError:
                return False
            return (
                found.status_code == 200
                and found.json()["total"] == len(story.alerts())
                and case.status_code == 200
                and len(case.json()["timeline"]) == len(case_events(now))
                and overdue.status_code == 200
                and len(overdue.json()["history"]) == 3
            )

        await wait_until(ready, 45, "the web service to read its topics", server.log)
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
    """One person's browser context and page, with what it asked for and what failed."""

    context: BrowserContext
    page: Page
    requests: list[str]
    errors: list[str]


async def new_desk(browser: Browser, server: ConsoleServer) -> Desk:
    context = await browser.new_context(viewport=VIEWPORT, locale="zh-CN")
    requests: list[str] = []
    errors: list[str] = []
    context.on("request", lambda request: requests.append(request.url))
    page = await context.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # Chromium logs every answer that is not 2xx ("Failed to load resource"): expected
    # here (a refused sign-in, a 404 for what is out of scope); anything else is not.
    page.on(
        "console",
        lambda msg: (
            errors.append(f"{msg.type}: {msg.text}")
            if msg.type == "error" and not msg.text.startswith("Failed to load resource")
            else None
        ),
    )
    await page.goto(server.console())
    await page.locator("#signin-form").wait_for(timeout=10_000)
    return Desk(context, page, requests, errors)


async def sign_in(desk: Desk, token: str) -> None:
    """Paste the token into the form and sign in, as a person does."""
    await desk.page.locator("#signin-token").fill(token)
    await desk.page.locator("#signin-token").press("Enter")
    await desk.page.wait_for_selector('body[data-state="signed-in"]', timeout=10_000)


async def screenshot(page: Page, name: str) -> None:
    OUTPUT.mkdir(exist_ok=True)
    await page.screenshot(path=str(OUTPUT / name))


def alert_path(alert_id: str) -> str:
    return f"/api/alerts/{quote(alert_id, safe='')}"


def alert_hash(alert_id: str) -> str:
    return f"#/alert/{quote(alert_id, safe='')}"


async def open_from_queue(page: Page, queue: str, selector: str) -> None:
    """Go to the work queues and follow the item `selector` of `queue`."""
    await page.locator('[data-nav="queue"]').click()
    item = page.locator(f'[data-queue="{queue}"] {selector}')
    await item.wait_for(timeout=10_000)
    await item.locator("a").first.click()


async def take_step(page: Page, action: str, **fields: str) -> None:
    """Open the form of `action` (unless it is open), fill its fields (a select by value)
    and submit it."""
    form = page.locator(f'form[data-form="{action}"]')
    if not await form.is_visible():  # its button opens it (and closes it again)
        await page.locator(f'button[data-action="{action}"]').click()
    await form.wait_for(timeout=5_000)
    for name, value in fields.items():
        control = form.locator(f'[name="{name}"]')
        if await control.evaluate("node => node.tagName") == "SELECT":
            await control.select_option(value)
        else:
            await control.fill(value)
    await form.locator('button[type="submit"]').click()


async def test_the_desk_from_search_to_supervision(
    console_server: ConsoleServer, browser: Browser
) -> None:
    server, story = console_server, console_server.story
    inspector = await new_desk(browser, server)
    director = await new_desk(browser, server)
    page = inspector.page

    # -- signing in through the form ------------------------------------------------------
    assert await page.title() == "政务服务电子监察 · 监察工作台"
    await screenshot(page, "console-signin.png")
    await page.locator("#signin-token").fill("svt_000000000000.not-a-secret")
    await page.locator("#signin-button").click()
    error = page.locator("#signin-error")
    await error.wait_for(timeout=5_000)
    assert await error.inner_text() == "令牌无效、已过期或已吊销"
    await page.locator("#signin-token").fill("")
    await page.locator("#signin-button").click()
    assert await error.inner_text() == "请粘贴访问令牌"

    await sign_in(inspector, server.inspector)
    await sign_in(director, server.director)
    assert await page.locator("#who").inner_text() == "王监察 · 纪检监察"
    director_is = "李主任 · 中心负责人 · 东兰县政务服务中心"
    assert await director.page.locator("#who").inner_text() == director_is
    for desk in (inspector, director):
        cookies = [c for c in await desk.context.cookies() if c["name"] == COOKIE]
        assert len(cookies) == 1
        assert cookies[0]["httpOnly"] is True and cookies[0]["sameSite"] == "Strict"
        assert desk.page.url.endswith("/console/#/queue")
    # The landing screen is the person's queues.
    await page.locator('[data-queue="appeals_to_review"]').wait_for(timeout=10_000)
    queues = director.page.locator("[data-queue]")
    await queues.first.wait_for(timeout=10_000)
    assert await queues.evaluate_all("nodes => nodes.map(n => n.dataset.queue)") == [
        "alerts_to_acknowledge",
        "orders_to_answer",
        "appeals_decided",
    ]
    in_scope = [a for a in story.alerts() if a["center_id"].startswith(COUNTY)]
    await director.page.wait_for_selector(
        f'[data-queue="alerts_to_acknowledge"][data-total="{len(in_scope)}"]', timeout=5_000
    )
    await screenshot(director.page, "console-queue-director.png")

    # -- the inspector searches and reads an alert of 东兰县's township --------------------
    await page.locator('[data-nav="alerts"]').click()
    await page.locator(f'tr[data-alert-id="{story.elsewhere["alert_id"]}"]').wait_for()
    await screenshot(page, "console-alerts.png")
    # the rule filter lists the rules by their titles, once they are read
    overdue_rule = page.locator('#filter-rule_id option[value="deadline.overdue"]')
    await overdue_rule.wait_for(state="attached", timeout=10_000)
    assert await overdue_rule.inner_text() == "办件超期"
    assert "[object" not in await page.locator("#filter-rule_id").inner_html()
    await page.locator("#filter-q").fill("三石镇 超期")
    await page.locator("#filter-q").press("Enter")
    await page.locator("#results-summary", has_text="共 1 条").wait_for(timeout=10_000)
    overdue_row = page.locator(f'tr[data-alert-id="{story.overdue["alert_id"]}"]')
    assert await page.locator("tbody tr").count() == 1  # 南丹县's 办件超期 is not 三石镇's
    assert "q=" in page.url and "token" not in page.url
    assert await overdue_row.locator("td").nth(3).inner_text() == "东兰县三石镇便民服务中心"

    # The download is the list shown, with Chinese headers.
    async with page.expect_download() as download_info:
        await page.locator('[data-export="csv"]').click()
    download = await download_info.value
    exported = Path(await download.path()).read_text(encoding="utf-8-sig")
    assert exported.splitlines()[0].startswith("预警编号,规则,等级")
    assert story.overdue["alert_id"] in exported and story.elsewhere["alert_id"] not in exported

    await page.reload()  # the search is in the address
    await page.locator("#results-summary", has_text="共 1 条").wait_for(timeout=10_000)
    assert await page.locator("#filter-q").input_value() == "三石镇 超期"
    await overdue_row.locator("a").click()
    detail = page.locator(f'.alert-detail[data-alert-id="{story.overdue["alert_id"]}"]')
    await detail.wait_for(timeout=10_000)

    async def read_the_alert() -> None:
        assert await detail.locator(".view__title").inner_text() == "办件超期"
        assert await detail.locator(".message").first.inner_text() == story.overdue["message"]
        rule = await detail.locator('.rule__title[data-rule="deadline.overdue"]').inner_text()
        assert "办件超期" in rule
        limits = await detail.locator(".facts--limits").inner_text()
        assert "政务服务中心承诺时限管理规定" in await detail.inner_text()
        deadline = midnight(datetime.now(SHANGHAI)) - timedelta(days=2)
        assert f"承诺时限\n{deadline:%Y-%m-%d} 24:00" in limits
        assert "法定时限" in limits and "东兰县民政局 · W03 · dl-0311" in limits
        timeline = detail.locator(".timeline__item")
        assert await timeline.count() == 4
        assert await timeline.locator(".timeline__what").all_inner_texts() == [
            "收件", "受理", "补正告知", "补正告知",
        ]  # fmt: skip
        events = await detail.locator(".timeline").inner_text()
        assert "李*梅" in events and "139****1234" in events and "李小梅" not in events
        assert "需补正材料：验资报告" in events and "承诺时限：5 个工作日" in events
        assert "规定环节：材料审查" in events  # the step by its name in the item catalogue
        sent = await detail.locator('.history__item[data-action="notify"]').all_inner_texts()
        assert any("接口推送 → 李主任：已送达" in line for line in sent)
        assert any("发送失败" in line for line in sent)
        # the mail server's own words, folded away for whoever asks (an inspector here)
        failed = detail.locator('.history__item[data-action="notify"][data-outcome="failed"]')
        assert "SMTP 550" in (await failed.locator("details").text_content() or "")
        escalated = await detail.locator('.history__item[data-action="escalate"]').inner_text()
        assert "升级至第 1 级：河池市政务服务中心" in escalated
        other = detail.locator(f'.links [data-alert-id="{story.repeated["alert_id"]}"]')
        assert "多次要求补正材料" in await other.inner_text()

    await read_the_alert()
    await screenshot(page, "console-alert.png")
    # A reload keeps the session (the cookie) and the screen (the hash).
    await page.reload()
    await detail.wait_for(timeout=10_000)
    await page.wait_for_selector(".timeline__item")
    await read_the_alert()

    # -- 督办: issued, answered, closed ----------------------------------------------------
    await director.page.locator('[data-nav="queue"]').click()  # the director waits there
    await director.page.locator('[data-queue="orders_to_answer"]').wait_for(timeout=10_000)
    await page.locator('button[data-action="issue"]').click()
    issue = page.locator('form[data-form="issue"]')
    assert await issue.locator('[name="days"]').input_value() == "5"
    # on this alert by default, or on its whole case
    assert await issue.locator('[name="subject"]').input_value() == "alert"
    subjects = await issue.locator('[name="subject"] option').all_inner_texts()
    assert subjects[0] == "本条预警" and subjects[1].startswith("整个办件 ")
    await issue.locator('[name="requirement"]').fill("请核实超期原因，约谈窗口人员并整改")
    await issue.locator('button[type="submit"]').click()
    order_detail = page.locator(".order-detail")
    await order_detail.wait_for(timeout=10_000)
    order_id = await order_detail.get_attribute("data-order-id") or ""
    assert order_id.startswith("DB") and page.url.endswith(f"#/orders/{order_id}")
    assert await page.locator("#order-status-text").inner_text() == "已下发，待回复"
    assert DUE_AT_MIDNIGHT.match(await page.locator("#order-due").inner_text())
    assert "回复时限\n5 个工作日" in await order_detail.inner_text()

    # The order reaches the director's open queue live (the socket; the queue's own
    # refresh is every 30 s), and the list of orders waiting for a reply holds it.
    waiting = director.page.locator(f'[data-queue="orders_to_answer"] [data-order-id="{order_id}"]')
    await waiting.wait_for(timeout=5_000)
    await director.page.goto(server.console("#/orders?status=awaiting"))
    listed = director.page.locator(f'tr[data-order-id="{order_id}"]')
    await listed.wait_for(timeout=10_000)
    assert await director.page.locator("#order-status").input_value() == "awaiting"
    assert await director.page.locator(".results__summary").inner_text() == "共 1 份督办单"
    await screenshot(director.page, "console-orders.png")
    await listed.locator("a").click()
    await director.page.locator(f'.order-detail[data-order-id="{order_id}"]').wait_for()
    await take_step(director.page, "reply")  # nothing said yet
    reply_error = director.page.locator('form[data-form="reply"] .form-error')
    assert await reply_error.inner_text() == "请填写整改情况"
    await screenshot(director.page, "console-reply.png")
    await take_step(director.page, "reply", note="已约谈窗口人员，补正材料一次性告知清单已完善")
    await director.page.wait_for_selector('.order-detail[data-status="replied"]', timeout=10_000)
    assert await director.page.locator("#order-status-text").inner_text() == "已回复，待审核"
    assert await director.page.locator('button[data-action="reply"]').count() == 0

    # The inspector, still on the order, sees the reply come in without a reload.
    await page.wait_for_selector('.order-detail[data-status="replied"]', timeout=5_000)
    assert "已约谈窗口人员" in await page.locator("#order-steps").inner_text()
    await open_from_queue(page, "replies_to_check", f'[data-order-id="{order_id}"]')
    await page.locator(f'.order-detail[data-order-id="{order_id}"]').wait_for()
    assert await page.locator("#order-status-text").inner_text() == "已回复，待审核"
    await take_step(page, "close", note="整改到位，予以办结")
    await page.wait_for_selector('.order-detail[data-status="closed"]', timeout=10_000)
    assert await page.locator("#order-status-text").inner_text() == "已办结"
    steps = page.locator("#order-steps .history__item")
    assert await steps.evaluate_all("nodes => nodes.map(n => n.dataset.action)") == [
        "issue", "reply", "close",
    ]  # fmt: skip
    said = await steps.all_inner_texts()
    for text, who, what in zip(
        said,
        ("王监察（纪检监察）", "李主任（中心负责人）", "王监察（纪检监察）"),
        ("下发督办单", "回复整改情况", "办结"),
        strict=True,
    ):
        assert who in text and what in text and WHEN.search(text), text
    assert "已约谈窗口人员" in said[1] and "回复期限：" in said[0]
    await screenshot(page, "console-order.png")

    # -- 申诉 and 摘牌, seen on the wall -----------------------------------------------------
    wall_context = await browser.new_context(viewport={"width": 1920, "height": 1080})
    walls = [await wall_context.new_page() for _ in range(2)]  # every open wall
    for wall in walls:
        await wall.goto(server.wall())
        await wall.locator(f'[data-alert-id="{story.appealed["alert_id"]}"]').wait_for(
            timeout=10_000
        )

    appealed_selector = f'[data-alert-id="{story.appealed["alert_id"]}"]'
    await page.locator('[data-nav="queue"]').click()  # the inspector's queues stay open
    await page.locator('[data-queue="appeals_to_review"][data-total="0"]').wait_for()
    await open_from_queue(director.page, "alerts_to_acknowledge", appealed_selector)
    await director.page.locator(f".alert-detail{appealed_selector}").wait_for()
    assert await director.page.locator('button[data-action="accept_appeal"]').count() == 0
    await take_step(director.page, "appeal")
    assert (
        await director.page.locator('form[data-form="appeal"] .form-error').inner_text()
        == "请填写申诉理由"
    )
    await take_step(director.page, "appeal", reason="延期已经县民政局局长批准，系统漏录批准人")
    await director.page.wait_for_selector('.alert-detail[data-status="appealed"]', timeout=10_000)
    assert await director.page.locator(".alert-detail .view__head .tag").inner_text() == "申诉中"

    # The appeal reaches the inspector's open queues live (the socket), no reload.
    to_review = page.locator(f'[data-queue="appeals_to_review"] {appealed_selector}')
    await to_review.wait_for(timeout=5_000)
    await screenshot(page, "console-queue-inspector.png")
    await to_review.locator("a").click()
    await page.locator(f'.alert-detail{appealed_selector}[data-status="appealed"]').wait_for()
    await take_step(page, "accept_appeal", note="批准记录属实，同意摘牌")
    await page.wait_for_selector('.alert-detail[data-status="withdrawn"]', timeout=10_000)
    for wall in walls:  # within 2 s of the answer, on each
        await wall.locator(f'{appealed_selector}[data-status="withdrawn"]').wait_for(timeout=2_000)
    assert await page.locator(".alert-detail .view__head .tag").inner_text() == "已摘牌"
    history = await page.locator(".history__item").all_inner_texts()
    assert any("李主任（中心负责人）" in entry and "系统漏录批准人" in entry for entry in history)
    assert any("同意申诉，摘牌" in entry and "王监察（纪检监察）" in entry for entry in history)
    await wall_context.close()

    await director.page.locator('[data-nav="queue"]').click()
    decided = director.page.locator(f'[data-queue="appeals_decided"] {appealed_selector}')
    await decided.wait_for(timeout=10_000)
    assert "申诉已同意，预警已摘牌" in await decided.inner_text()

    # -- 处置 已问责 needs who and which measure ------------------------------------------------
    await page.goto(server.console(alert_hash(story.accountable["alert_id"])))
    await page.locator(".alert-detail").wait_for(timeout=10_000)
    resolve = page.locator('form[data-form="resolve"]')
    await take_step(page, "resolve", disposition="held_accountable")
    person = resolve.locator('[name="person"]')
    assert await person.is_visible() and await resolve.locator('[name="measure"]').is_visible()
    assert await resolve.locator(".form-error").inner_text() == "请填写被问责人"
    assert await person.get_attribute("aria-invalid") == "true"
    assert await page.evaluate("document.activeElement.name") == "person"
    await screenshot(page, "console-resolve-error.png")
    await person.fill("张某某（收费窗口）")
    await resolve.locator('button[type="submit"]').click()
    assert await resolve.locator(".form-error").inner_text() == "请填写问责措施"
    await resolve.locator('[name="measure"]').fill("诫勉谈话，退还多收费用")
    await resolve.locator('[name="note"]').fill("经核实多收 100 元")
    await resolve.locator('button[type="submit"]').click()
    await page.wait_for_selector('.alert-detail[data-status="resolved"]', timeout=10_000)
    assert await page.locator(".alert-detail .view__head .tag").inner_text() == "已办结（已问责）"
    resolved = await page.locator('.history__item[data-action="resolve"]').all_inner_texts()
    assert len(resolved) == 1  # the refused attempts sent nothing
    assert "被问责人：张某某（收费窗口）；问责措施：诫勉谈话，退还多收费用" in resolved[0]
    assert (await server.alert(story.accountable["alert_id"]))["disposition"] == "held_accountable"

    # -- several acknowledged at once ------------------------------------------------------
    dpage = director.page
    await dpage.locator('[data-nav="alerts"]').click()
    await dpage.locator("#filter-status").select_option("open")
    await dpage.locator('.filters button[type="submit"]').click()
    for item in story.bulk:
        box = dpage.locator(f'tr[data-alert-id="{item["alert_id"]}"] input[type="checkbox"]')
        await box.check()
    assert await dpage.locator("#bulk-ack").inner_text() == "签收所选（2）"
    await dpage.locator("#bulk-ack").click()
    results = dpage.locator('#bulk-results li[data-result="ok"]')
    await dpage.wait_for_function(
        "() => document.querySelectorAll('#bulk-results li[data-result=\"ok\"]').length === 2",
        timeout=15_000,
    )
    assert all(text.endswith("已签收") for text in await results.all_inner_texts())
    summary = await dpage.locator(".bulk-results__summary").inner_text()
    assert summary == "签收完成：成功 2 条，失败 0 条"
    for item in story.bulk:  # no longer open: gone from the list of open alerts
        await dpage.locator(f'tr[data-alert-id="{item["alert_id"]}"]').wait_for(state="detached")
        assert (await server.alert(item["alert_id"]))["status"] == "acknowledged"
    await screenshot(dpage, "console-bulk.png")

    # -- English, then signing out ---------------------------------------------------------
    await page.locator('[data-nav="orders"]').click()
    await page.locator(f'tr[data-order-id="{order_id}"]').wait_for(timeout=10_000)
    await page.locator("#lang").click()
    assert await page.locator('[data-nav="alerts"]').inner_text() == "Alerts"
    assert await page.locator(".view__title").inner_text() == "Supervision orders"
    await page.locator(f'tr[data-order-id="{order_id}"]').wait_for(timeout=10_000)
    assert await page.locator("#sign-out").inner_text() == "Sign out"
    row_status = page.locator(f'tr[data-order-id="{order_id}"] .tag').first
    assert await row_status.inner_text() == "Closed"
    await screenshot(page, "console-english.png")
    await page.reload()
    await page.wait_for_selector('body[data-state="signed-in"]', timeout=10_000)
    assert await page.locator(".view__title").inner_text() == "Supervision orders"
    await page.locator("#lang").click()
    assert await page.locator(".view__title").inner_text() == "督办单"

    await page.locator("#sign-out").click()
    await page.wait_for_selector('body[data-state="signed-out"]', timeout=5_000)
    assert await page.locator("#signin-form").is_visible()
    assert await page.locator("#signin-message").inner_text() == "您已退出登录。"
    assert await page.locator("#view").inner_text() == ""
    session = await inspector.context.request.get(f"{server.url}/api/session")
    assert session.status == 401
    assert [c for c in await inspector.context.cookies() if c["name"] == COOKIE] == []

    # No token in any address the pages asked for.
    for desk, token in ((inspector, server.inspector), (director, server.director)):
        secret = token.split(".", 1)[1]
        assert not [url for url in desk.requests if secret in url or "token=" in url]
        assert desk.errors == []


async def test_another_county_sees_nothing_of_it(
    console_server: ConsoleServer, browser: Browser
) -> None:
    server, story = console_server, console_server.story
    issued = await server.api(
        "POST",
        "/api/orders",
        server.inspector,
        alert_id=story.overdue["alert_id"],
        requirement="请核实超期原因并整改",
    )
    assert issued.status_code == 201, issued.text
    order_id = issued.json()["order_id"]

    desk = await new_desk(browser, server)
    page = desk.page
    await sign_in(desk, server.other)
    assert await page.locator("#who").inner_text() == "赵主任 · 中心负责人 · 南丹县政务服务中心"
    to_acknowledge = page.locator('[data-queue="alerts_to_acknowledge"]')
    await to_acknowledge.wait_for(timeout=10_000)
    assert await to_acknowledge.get_attribute("data-total") == "1"
    assert await page.locator(f'[data-alert-id="{story.elsewhere["alert_id"]}"]').count() == 1
    orders = page.locator('[data-queue="orders_to_answer"]')
    assert await orders.get_attribute("data-total") == "0"

    # The list: their own alert only, whatever is searched.
    await page.locator('[data-nav="alerts"]').click()
    await page.locator(f'tr[data-alert-id="{story.elsewhere["alert_id"]}"]').wait_for(
        timeout=10_000
    )
    assert await page.locator("tbody tr").count() == 1
    await page.locator("#filter-q").fill("三石镇")
    await page.locator("#filter-q").press("Enter")
    await page.locator(".results .empty").wait_for(timeout=10_000)
    assert await page.locator(".results .empty").inner_text() == "没有符合条件的预警"
    assert await page.locator("#results-summary").inner_text() == "共 0 条"

    # By address: not found, the same as an alert or order that does not exist.
    await page.goto(server.console(alert_hash(story.overdue["alert_id"])))
    missing = page.locator('[data-missing="alert"]')
    await missing.wait_for(timeout=10_000)
    assert "未找到这条预警，或它不在您的职责范围内" in await missing.inner_text()
    await screenshot(page, "console-other-county.png")
    await page.goto(server.console(f"#/orders/{order_id}"))
    await page.locator('[data-missing="order"]').wait_for(timeout=10_000)
    await page.locator('[data-nav="orders"]').click()
    await page.locator(".results .empty").wait_for(timeout=10_000)
    assert await page.locator(f'[data-order-id="{order_id}"]').count() == 0
    assert desk.errors == []


class ForeignSite:
    """A page of another origin (a tiny http.server on a port of its own) that tries to
    make the signed-in browser change things in the console's API: a fetch with the
    browser's credentials (a "simple" request: no preflight stops it) and an
    auto-submitted form."""

    def __init__(self, target: str, alert_id: str) -> None:
        path = f"/api/alerts/{quote(alert_id, safe='')}"
        order = json.dumps({"alert_id": alert_id, "requirement": "伪造的督办"})
        page = f"""<!doctype html><html><head><meta charset="utf-8">
<link rel="icon" href="data:,"></head><body>
<form id="forged" method="post" enctype="text/plain" action="{target}{path}/resolve">
<input name='{{"disposition":"false_alarm","note":"' value='"}}'>
</form>
<script>
const send = (url, body) => fetch(url, {{method: "POST", credentials: "include",
  headers: {{"Content-Type": "text/plain"}}, body}}).catch(() => null);
addEventListener("load", () => send("{target}{path}/acknowledge", "{{}}")
  .then(() => send("{target}/api/orders", {json.dumps(order)}))
  .then(() => setTimeout(() => document.getElementById("forged").submit(), 500)));
</script></body></html>"""
        body = page.encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        # Chromium keeps spare connections open: never wait for their threads at the end.
        self.server.daemon_threads = True
        self.server.block_on_close = False
        self.port = self.server.server_address[1]

    def __enter__(self) -> ForeignSite:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def foreign_site(console_server: ConsoleServer) -> Iterator[ForeignSite]:
    with ForeignSite(console_server.url, console_server.story.foreign["alert_id"]) as site:
        yield site


async def test_a_page_of_another_origin_changes_nothing(
    console_server: ConsoleServer, browser: Browser, foreign_site: ForeignSite
) -> None:
    server, target = console_server, console_server.story.foreign["alert_id"]
    desk = await new_desk(browser, server)
    await sign_in(desk, server.inspector)

    async def journal_position() -> int:
        health = await server.api("GET", "/healthz", server.inspector)
        position: int = health.json()["journal_position"]
        return position

    before = await server.alert(target)
    position = await journal_position()
    # Another port of the same host (same site: the browser sends the SameSite=Strict
    # cookie, and the Origin check and the CSRF value must refuse it), then another host
    # name (another site: no cookie at all).
    for host in ("127.0.0.1", "localhost"):
        # a new tab of the signed-in browser (left open: closing a tab that a form has
        # just navigated can hang)
        page = await desk.context.new_page()
        sent: list[str] = []  # what the foreign page made the browser send to the service
        answers: list[int] = []  # the answers the browser got (a fetch refused by CORS
        # still went out, but its answer is not reported: the form's is)

        def sending(request: Request, sent: list[str] = sent) -> None:
            if request.url.startswith(server.url) and request.method == "POST":
                sent.append(request.url)

        def answered(response: Response, answers: list[int] = answers) -> None:
            if response.url.startswith(server.url):
                answers.append(response.status)

        page.on("request", sending)
        page.on("response", answered)
        async with page.expect_response(lambda r: r.url.endswith("/resolve"), timeout=10_000):
            # "commit": the page's own form navigates away from it half a second after
            await page.goto(f"http://{host}:{foreign_site.port}/forged.html", wait_until="commit")
        assert len(sent) == 3, sent  # acknowledge, the order, the form
        # the same site sends the cookie: refused by the Origin check (403); another
        # site's request has no cookie at all (401)
        assert answers == [403 if host == "127.0.0.1" else 401], answers

    after = await server.alert(target)
    assert after["status"] == before["status"] == "open"
    assert after.get("history", []) == before.get("history", []) == []
    orders = await server.api(
        "GET", f"/api/orders?alert_id={quote(target, safe='')}", server.inspector
    )
    assert orders.json() == []
    assert await journal_position() == position
    # The console itself, signed in all along, still acts (its requests carry the CSRF value).
    await desk.page.goto(server.console(alert_hash(target)))
    await take_step(desk.page, "acknowledge")
    await desk.page.wait_for_selector('.alert-detail[data-status="acknowledged"]', timeout=10_000)
    assert desk.errors == []
