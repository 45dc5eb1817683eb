"""The wall, end to end: Kafka -> `python -m supervisor.web.server` -> Chromium.

The real path, nothing faked: a fresh alerts topic on the real broker, the web service as
its own process configured through the environment like in production, Debian's
chromium driven by Playwright. Alerts published before the server starts must come back
from the topic (the snapshot after a restart); one published after the page loaded must
appear live, red, at the top. A resolution (an alert a late event proved wrong) must grey
the alert's row as 已撤销 with the reason within 2 seconds, without a flash, and take it
out of the counts. The screenshots in test-output/ are for people.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from playwright.async_api import Browser, Page, async_playwright

from supervisor.centers import CenterRegistry
from supervisor.core.alerts import Resolution
from supervisor.kafka.admin import ensure_topics
from tests.processes import spawn, terminate

pytestmark = [pytest.mark.browser, pytest.mark.integration]

REPO = Path(__file__).resolve().parents[2]
OUTPUT = REPO / "test-output"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


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


@dataclass(frozen=True)
class WallServer:
    url: str
    bootstrap: str
    alerts_topic: str


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


async def publish(bootstrap: str, topic: str, alerts: list[dict[str, Any]]) -> None:
    """What the worker does: one UTF-8 JSON alert (or resolution) per message, keyed by
    alert_id."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for item in alerts:
            await producer.send_and_wait(
                topic,
                key=item["alert_id"].encode(),
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


@pytest.fixture
async def wall_server(
    kafka_bootstrap: str,
    topic_name: Callable[..., str],
    tmp_path: Path,
) -> AsyncIterator[WallServer]:
    """A real web service process on a fresh alerts topic that already holds alerts."""
    alerts_topic = topic_name("alerts")
    await ensure_topics(kafka_bootstrap, {alerts_topic: 3})
    await publish(kafka_bootstrap, alerts_topic, earlier_alerts(datetime.now(UTC)))

    port = free_port()
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "SUPERVISOR_TOPIC_ALERTS": alerts_topic,
        "SUPERVISOR_TOPIC_DLQ": topic_name("dlq"),  # absent: the wall must not need it
        "SUPERVISOR_APP_ID": topic_name("supervisor-web-test"),
        "SUPERVISOR_WEB_HOST": "127.0.0.1",
        "SUPERVISOR_WEB_PORT": str(port),
    }
    log = tmp_path / "web.log"
    process = spawn(["-m", "supervisor.web.server"], env, log)
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=url, timeout=2) as client:

            async def consuming() -> bool:
                if process.poll() is not None:
                    pytest.fail(f"web service exited ({process.returncode}):\n{log.read_text()}")
                try:
                    health = (await client.get("/healthz")).json()
                except httpx.HTTPError:
                    return False
                return bool(
                    health["kafka_connected"] and health["topics"][alerts_topic] == "consuming"
                )

            await wait_until(consuming, 30, "the web service to consume the alerts topic", log)
        yield WallServer(url=url, bootstrap=kafka_bootstrap, alerts_topic=alerts_topic)
    finally:
        terminate(process, timeout=15)


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


async def test_the_wall_shows_history_then_a_live_red_alert(
    wall_server: WallServer, browser: Browser
) -> None:
    names = {c.code: c.name for c in CenterRegistry.load().all()}
    page = await browser.new_page(viewport={"width": 1920, "height": 1080}, locale="zh-CN")
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    await page.goto(f"{wall_server.url}/")
    await page.wait_for_selector('body[data-connection="connected"]', timeout=10_000)
    assert await page.title() == "政务服务电子监察 · 实时预警"
    assert await page.locator("#conn-text").inner_text() == "已连接"

    # History: read back from the topic by the freshly started service.
    history = earlier_alerts(datetime.now(UTC))
    await page.wait_for_function(
        f"document.querySelectorAll('[data-alert-id]').length === {len(history)}",
        timeout=10_000,
    )
    newest_first = sorted(history, key=lambda a: a["raised_at"], reverse=True)
    assert await row_texts(page) == [(a["alert_id"], a["severity"]) for a in newest_first]
    assert await page.locator("#count-red").inner_text() == "3"
    assert await page.locator("#count-yellow").inner_text() == "3"

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
    await publish(wall_server.bootstrap, wall_server.alerts_topic, [live])
    selector = f'[data-alert-id="{live["alert_id"]}"]'
    row = page.locator(selector)
    await row.wait_for(timeout=10_000)

    assert await row.get_attribute("data-severity") == "red"
    assert (await row_texts(page))[0] == (live["alert_id"], "red")  # newest first
    assert await row.locator(".alert__center").inner_text() == names["451221"]
    assert await row.locator(".alert__title").inner_text() == "办件超期"
    assert live["case_id"] in await row.locator(".alert__case").inner_text()
    beijing = datetime.fromisoformat(live["raised_at"]).astimezone(ZoneInfo("Asia/Shanghai"))
    assert beijing.strftime("%m-%d %H:%M") in await row.locator(".alert__time").inner_text()
    assert await page.locator("#count-red").inner_text() == "4"
    assert "flash" in (await row.get_attribute("class") or "")

    # Delivered again (at-least-once): still one row.
    await publish(wall_server.bootstrap, wall_server.alerts_topic, [live])
    await asyncio.sleep(1.5)
    assert await page.locator(selector).count() == 1

    OUTPUT.mkdir(exist_ok=True)
    await page.wait_for_timeout(600)  # mid-flash: the screenshot shows the highlight
    await page.screenshot(path=str(OUTPUT / "wall.png"))
    assert errors == []


async def open_wall(browser: Browser, url: str, rows: int, errors: list[str]) -> Page:
    """A wall page, connected and showing `rows` alerts."""
    page = await browser.new_page(viewport={"width": 1920, "height": 1080}, locale="zh-CN")
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await page.goto(f"{url}/")
    await page.wait_for_selector('body[data-connection="connected"]', timeout=10_000)
    await page.wait_for_function(
        f"document.querySelectorAll('[data-alert-id]').length === {rows}", timeout=10_000
    )
    return page


async def counts(page: Page) -> tuple[str, str]:
    return (
        await page.locator("#count-red").inner_text(),
        await page.locator("#count-yellow").inner_text(),
    )


async def test_the_wall_withdraws_a_resolved_alert(
    wall_server: WallServer, browser: Browser
) -> None:
    names = {c.code: c.name for c in CenterRegistry.load().all()}
    errors: list[str] = []
    history = earlier_alerts(datetime.now(UTC))
    page = await open_wall(browser, wall_server.url, len(history), errors)
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
    await publish(wall_server.bootstrap, wall_server.alerts_topic, [live, silent])
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
    await publish(wall_server.bootstrap, wall_server.alerts_topic, [withdrawn])
    await page.locator(f'[data-alert-id="{live["alert_id"]}"][data-status="resolved"]').wait_for(
        timeout=2_000
    )
    assert await live_row.locator(".alert__withdrawn").inner_text() == "已撤销"
    assert reason in await live_row.locator(".alert__reason").inner_text()
    assert reason in (await live_row.get_attribute("title") or "")  # on hover too
    classes = await live_row.get_attribute("class") or ""
    assert "alert--resolved" in classes
    assert "flash" not in classes  # a resolution never flashes
    decoration = await live_row.locator(".alert__title").evaluate(
        "node => getComputedStyle(node).textDecorationLine"
    )
    assert "line-through" in decoration
    assert (await row_texts(page))[0] == (live["alert_id"], "red")  # it stays, in its place
    assert await counts(page) == ("3", "4")  # no longer an open red alert

    # The center-level alert resolved too; a repeated resolution changes nothing.
    await publish(
        wall_server.bootstrap,
        wall_server.alerts_topic,
        [resolution(silent, "迟到数据：该中心在 09:40 有办件事件。", now), withdrawn],
    )
    await page.locator(f'[data-alert-id="{silent["alert_id"]}"][data-status="resolved"]').wait_for(
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
    await publish(
        wall_server.bootstrap,
        wall_server.alerts_topic,
        [resolution(early, "迟到事件：退费", now), early],
    )
    early_row = page.locator(f'[data-alert-id="{early["alert_id"]}"]')
    await early_row.wait_for(timeout=10_000)
    assert await early_row.get_attribute("data-status") == "resolved"
    assert "flash" not in (await early_row.get_attribute("class") or "")
    assert await counts(page) == ("3", "3")
    assert await page.locator(".alert__withdrawn").count() == 3
    assert "其中已撤销 3 条" in await page.locator("#foot-shown").inner_text()

    OUTPUT.mkdir(exist_ok=True)
    await page.screenshot(path=str(OUTPUT / "wall-resolved.png"))

    # A wall that (re)connects shows the same thing, from the snapshot.
    again = await open_wall(browser, wall_server.url, len(history) + 3, errors)
    assert await row_texts(again) == await row_texts(page)
    resolved_ids = {live["alert_id"], silent["alert_id"], early["alert_id"]}
    statuses = again.locator("[data-alert-id]")
    for i in range(await statuses.count()):
        row = statuses.nth(i)
        expected = (
            "resolved" if await row.get_attribute("data-alert-id") in resolved_ids else "open"
        )
        assert await row.get_attribute("data-status") == expected
    assert (
        reason
        in await again.locator(f'[data-alert-id="{live["alert_id"]}"] .alert__reason').inner_text()
    )
    assert await counts(again) == ("3", "3")
    assert errors == []
