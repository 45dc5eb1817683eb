"""`supervisor notify` on the real broker, with a real webhook receiver (aiohttp) and a real
SMTP server (aiosmtpd) started here; alerts produced straight to a fresh journal."""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiosmtpd.controller import Controller

from supervisor.notify.webhook import verify_signature
from supervisor.settings import Settings
from tests.processes import spawn, terminate

from .conftest import free_port, wait_ready
from .kafka_io import collect, produce, wait_for

pytestmark = pytest.mark.integration

CLOCK_START = "2026-11-27T09:00:00+08:00"  # a working Friday, office hours
TOWNSHIP = "451221101"
COUNTY = "451221"
OTHER = "451222"
SECRET = "s3cret-for-tests"

ROUTING = """
settings:
  digest_minutes: 0.1
  repeat_minutes: {repeat}
  escalate_after_working_hours: {escalate}
  hold_outside_office_hours: false
recipients:
  - id: director-township
    name: 大厂镇便民服务中心主任
    role: director
    center: "{township}"
    channels:
      webhook: {{url: "http://127.0.0.1:{port}/township", secret_env: NOTIFY_TEST_SECRET}}
      email: {{address: township@example.org}}
  - id: director-county
    name: 南丹县政务服务中心主任
    role: director
    center: "{county}"
    channels:
      webhook: {{url: "http://127.0.0.1:{port}/county", secret_env: NOTIFY_TEST_SECRET}}
  - id: director-other
    name: 天峨县政务服务中心主任
    role: director
    center: "{other}"
    channels:
      webhook: {{url: "http://127.0.0.1:{port}/other", secret_env: NOTIFY_TEST_SECRET}}
directors:
  "{township}": director-township
  "{county}": director-county
  "{other}": director-other
routes:
  - name: 大厂镇红色
    centers: ["{township}"]
    severity: red
    to: [director-township]
  - name: 大厂镇黄色
    centers: ["{township}"]
    severity: yellow
    to: [director-township]
  - name: 天峨县
    centers: ["{other}"]
    below: true
    to: [director-other]
"""


@dataclass
class Receiver:
    """A webhook receiver: stores each key once, answers 503 while `down`."""

    down: bool = False
    refuse: bool = False  # answer 400: a failure that will not pass (a dead letter at once)
    posts: list[tuple[str, str, int]] = field(default_factory=list)  # path, key, status
    stored: dict[str, dict[str, Any]] = field(default_factory=dict)
    bad_signatures: int = 0

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        key = request.headers.get("Idempotency-Key", "")
        if self.down:
            self.posts.append((request.path, key, 503))
            return web.Response(status=503)
        if self.refuse:
            self.posts.append((request.path, key, 400))
            return web.Response(status=400)
        ok = verify_signature(
            SECRET.encode(),
            request.headers.get("X-Supervisor-Timestamp", ""),
            body,
            request.headers.get("X-Supervisor-Signature", ""),
            now=time.time(),
        )
        if not ok:
            self.bad_signatures += 1
            self.posts.append((request.path, key, 401))
            return web.Response(status=401)
        self.posts.append((request.path, key, 200))
        self.stored.setdefault(key, {"path": request.path, **json.loads(body)})
        return web.Response(status=200)

    def delivered(self) -> Counter[str]:
        """Keys answered 2xx, with how many times."""
        return Counter(key for _, key, status in self.posts if status == 200)


@asynccontextmanager
async def receiver(port: int) -> AsyncIterator[Receiver]:
    state = Receiver()
    app = web.Application()
    app.router.add_post("/{path}", state.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield state
    finally:
        await runner.cleanup()


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append(message)
        return "250 OK"


@contextmanager
def smtp_server(port: int) -> Iterator[Mailbox]:
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield mailbox
    finally:
        controller.stop()


@dataclass
class Setup:
    env: dict[str, str]
    settings: Settings
    log: Path
    http_port: int


def make_setup(kafka_bootstrap: str, tmp: Path, *, escalate: float = 0, repeat: float = 0) -> Setup:
    run = uuid.uuid4().hex[:8]
    http_port, smtp_port = free_port(), free_port()
    routing = tmp / "routing.yaml"
    routing.write_text(
        ROUTING.format(
            escalate=escalate,
            repeat=repeat,
            township=TOWNSHIP,
            county=COUNTY,
            other=OTHER,
            port=http_port,
        ),
        encoding="utf-8",
    )
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "SUPERVISOR_TOPIC_ALERTS": f"alerts-{run}",
        "SUPERVISOR_APP_ID": f"supervisor-test-{run}",
        "SUPERVISOR_DATA_DIR": str(tmp / "data"),  # the web service's read model, this run's
        "SUPERVISOR_NOTIFY_ROUTING": str(routing),
        "SUPERVISOR_NOTIFY_PORT": str(free_port()),
        "SUPERVISOR_NOTIFY_TICK_SECONDS": "0.2",
        "SUPERVISOR_NOTIFY_TIMEOUT_SECONDS": "3",
        "SUPERVISOR_NOTIFY_RETRY_BASE_SECONDS": "0.5",
        "SUPERVISOR_NOTIFY_RETRY_CAP_SECONDS": "1",
        "SUPERVISOR_NOTIFY_RETRY_MAX_ATTEMPTS": "40",
        "SUPERVISOR_SMTP_HOST": "127.0.0.1",
        "SUPERVISOR_SMTP_PORT": str(smtp_port),
        "SUPERVISOR_SMTP_SENDER": "电子监察 <alerts@example.org>",
        "NOTIFY_TEST_SECRET": SECRET,
    }
    return Setup(env, Settings.from_env(env), tmp / "notify.log", http_port)


def start_notifier(setup: Setup) -> subprocess.Popen[bytes]:
    process = spawn(["notify", "--clock-start", CLOCK_START], setup.env, setup.log)
    url = f"http://127.0.0.1:{setup.settings.notify_port}/healthz"
    if not wait_ready(url, process, timeout=60):
        terminate(process)
        raise AssertionError(f"the notifier did not become ready:\n{setup.log.read_text()[-3000:]}")
    return process


def alert(n: int, center: str, severity: str) -> dict[str, Any]:
    case_id = f"{center[:6]}-2026-{n:07d}"
    rule = "deadline.overdue" if severity == "red" else "deadline.warning"
    return {
        "alert_id": f"{rule}:{case_id}",
        "rule_id": rule,
        "severity": severity,
        "case_id": case_id,
        "center_id": center,
        "raised_at": "2026-11-27T08:59:00+08:00",
        "title": "办件超期" if severity == "red" else "办件即将到期",
        "message": f"办件 {case_id} 已超过承诺时限，尚未办结。",
        "details": {},
    }


def metrics_text(setup: Setup) -> str:
    url = f"http://127.0.0.1:{setup.settings.notify_port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as response:
        return str(response.read().decode())


async def test_routing_digest_and_escalation(kafka_bootstrap: str, tmp_path: Path) -> None:
    setup = make_setup(kafka_bootstrap, tmp_path, escalate=0.002)  # 7.2 s of office time
    bootstrap, journal = setup.settings.bootstrap_servers, setup.settings.topic_alerts
    with smtp_server(setup.settings.smtp_port) as mailbox:
        async with receiver(setup.http_port) as hooks:
            # history before the first start is not notified
            old = alert(1, TOWNSHIP, "red")
            await asyncio.to_thread(_ensure, setup)
            await produce(bootstrap, journal, [(old["alert_id"], old)])
            process = start_notifier(setup)
            try:
                red, acked = alert(2, TOWNSHIP, "red"), alert(3, TOWNSHIP, "red")
                yellow_a, yellow_b = alert(4, TOWNSHIP, "yellow"), alert(5, TOWNSHIP, "yellow")
                other = alert(6, OTHER, "red")
                started = time.monotonic()
                await produce(
                    bootstrap,
                    journal,
                    [(a["alert_id"], a) for a in (red, acked, yellow_a, yellow_b, other)],
                )
                ack = {
                    "kind": "lifecycle",
                    "alert_id": acked["alert_id"],
                    "action": "acknowledge",
                    "by": {"name": "李主任", "role": "director"},
                    "at": "2026-11-27T09:00:05+08:00",
                }
                resolve_b = {
                    "kind": "lifecycle",
                    "alert_id": yellow_b["alert_id"],
                    "action": "resolve",
                    "disposition": "rectified",
                    "by": {"name": "李主任", "role": "director"},
                    "at": "2026-11-27T09:00:05+08:00",
                }
                await produce(
                    bootstrap,
                    journal,
                    [(acked["alert_id"], ack), (yellow_b["alert_id"], resolve_b)],
                )
                red_key = f"{red['alert_id']}:director-township:alert:0"
                assert await wait_for(lambda: red_key in hooks.stored, 20)
                assert time.monotonic() - started < 5, "a red alert goes out at once"
                assert hooks.stored[red_key]["path"] == "/township"
                other_key = f"{other['alert_id']}:director-other:alert:0"
                assert await wait_for(lambda: other_key in hooks.stored, 10)
                assert hooks.stored[other_key]["path"] == "/other"
                # the digest: yellow_a only (yellow_b was resolved before it was due)
                assert await wait_for(lambda: len(mailbox.messages) >= 3, 30)
                assert time.monotonic() - started >= 5, "the digest waits its interval"
                digest_key = f"digest:{TOWNSHIP}:director-township:1"
                assert await wait_for(lambda: digest_key in hooks.stored, 10)
                digest = hooks.stored[digest_key]
                assert [a["alert_id"] for a in digest["alerts"]] == [yellow_a["alert_id"]]
                subjects = [str(m["Subject"]) for m in mailbox.messages]
                assert any("汇总" in s for s in subjects), subjects
                # escalation: the unacknowledged red climbs to the county; the acked does not
                esc_key = f"{red['alert_id']}:director-county:escalation:1"
                assert await wait_for(lambda: esc_key in hooks.stored, 30)
                assert hooks.stored[esc_key]["path"] == "/county"
                await asyncio.sleep(3)
                keys = set(hooks.stored)
                assert not any(acked["alert_id"] in k and "escalation" in k for k in keys)
                assert not any(old["alert_id"] in k for k in keys), "history was notified"
                records = await collect(
                    bootstrap,
                    journal,
                    lambda rs: any(b'"kind":"escalation"' in (r.value or b"") for r in rs),
                    timeout=20,
                )
                steps = [json.loads(r.value) for r in records if b'"kind":"escalation"' in r.value]
                assert [(s["alert_id"], s["level"], s["to_center"]) for s in steps] == [
                    (red["alert_id"], 1, COUNTY)
                ]
                assert hooks.bad_signatures == 0
                assert max(hooks.delivered().values()) == 1
                text = metrics_text(setup)
                assert 'supervisor_notify_notifications_sent_total{channel="webhook"}' in text
                assert "supervisor_notify_escalations_total 1.0" in text
            finally:
                terminate(process)


def _ensure(setup: Setup) -> None:
    from supervisor.notify.service import ensure_notify_topics

    asyncio.run(ensure_notify_topics(setup.settings))


async def test_receiver_down_then_up_and_a_killed_notifier(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    setup = make_setup(kafka_bootstrap, tmp_path)
    bootstrap, journal = setup.settings.bootstrap_servers, setup.settings.topic_alerts
    with smtp_server(setup.settings.smtp_port):
        async with receiver(setup.http_port) as hooks:
            hooks.down = True
            process = start_notifier(setup)
            try:
                first = [alert(100 + n, TOWNSHIP, "red") for n in range(10)]
                await produce(bootstrap, journal, [(a["alert_id"], a) for a in first])
                # the receiver refuses for a while: attempts are retried
                assert await wait_for(
                    lambda: sum(1 for _, _, s in hooks.posts if s == 503) >= 20, 30
                )
                hooks.down = False
                expected = {f"{a['alert_id']}:director-township:alert:0" for a in first}
                assert await wait_for(lambda: expected <= set(hooks.stored), 30)
                await asyncio.sleep(2)
                assert set(hooks.delivered()) == expected
                assert max(hooks.delivered().values()) == 1, hooks.delivered()
                assert "supervisor_notify_notifications_retried_total" in metrics_text(setup)
                # killed mid-delivery: the receiver is down again, alerts pending, SIGKILL
                hooks.down = True
                second = [alert(200 + n, TOWNSHIP, "red") for n in range(10)]
                await produce(bootstrap, journal, [(a["alert_id"], a) for a in second])
                assert await wait_for(
                    lambda: any(k.startswith(second[-1]["alert_id"]) for _, k, _ in hooks.posts),
                    30,
                )
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
                third = [alert(300 + n, TOWNSHIP, "red") for n in range(5)]
                await produce(bootstrap, journal, [(a["alert_id"], a) for a in third])
                hooks.down = False
                process = start_notifier(setup)
                expected |= {
                    f"{a['alert_id']}:director-township:alert:0" for a in [*second, *third]
                }
                assert await wait_for(lambda: expected <= set(hooks.stored), 40)
                await asyncio.sleep(3)
                assert set(hooks.delivered()) == expected
                assert max(hooks.delivered().values()) == 1, hooks.delivered()
                assert hooks.bad_signatures == 0
            finally:
                terminate(process)


def cli(setup: Setup, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "supervisor.cli", "notify", *args],
        env=setup.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_a_dead_letter_is_listed_and_replayed(kafka_bootstrap: str, tmp_path: Path) -> None:
    """A gateway that refuses (400) makes a dead letter at once; ops list it, the gateway
    is fixed, and the replayed notification is delivered once, under the same key."""
    setup = make_setup(kafka_bootstrap, tmp_path)
    bootstrap, journal = setup.settings.bootstrap_servers, setup.settings.topic_alerts
    with smtp_server(setup.settings.smtp_port):
        async with receiver(setup.http_port) as hooks:
            hooks.refuse = True
            process = start_notifier(setup)
            try:
                red = alert(400, TOWNSHIP, "red")
                await produce(bootstrap, journal, [(red["alert_id"], red)])
                key = f"{red['alert_id']}:director-township:alert:0"

                def listed() -> list[dict[str, Any]]:
                    result = cli(setup, "dead-letters", "--json")
                    assert result.returncode == 0, result.stderr
                    return [json.loads(line) for line in result.stdout.splitlines() if line]

                assert await wait_for(lambda: any(key in json.dumps(x) for x in listed()), 30)
                assert "supervisor_notify_dead_letters_total" in metrics_text(setup)
                hooks.refuse = False
                replayed = cli(setup, "replay-dead-letter", key)
                assert replayed.returncode == 0, replayed.stderr
                assert await wait_for(lambda: key in hooks.stored, 30)
                await asyncio.sleep(2)
                assert hooks.delivered()[key] == 1
                # every attempt is in the alert's history (the journal)
                records = await collect(
                    bootstrap,
                    journal,
                    lambda rs: sum(1 for r in rs if b'"kind":"delivery"' in (r.value or b"")) >= 2,
                )
                attempts = [
                    json.loads(r.value)
                    for r in records
                    if r.value
                    and json.loads(r.value).get("kind") == "delivery"
                    and json.loads(r.value)["channel"] == "webhook"
                ]
                assert [(a["alert_id"], a["outcome"]) for a in attempts] == [
                    (red["alert_id"], "failed"),
                    (red["alert_id"], "delivered"),
                ]
            finally:
                terminate(process)


def skipped_counts(setup: Setup) -> dict[tuple[str, str], float]:
    """supervisor_notify_records_skipped_total by (source, reason), from /metrics."""
    counts: dict[tuple[str, str], float] = {}
    for line in metrics_text(setup).splitlines():
        if line.startswith("supervisor_notify_records_skipped_total{"):
            labels, value = line.rsplit(" ", 1)
            pairs = dict(p.split("=", 1) for p in labels[labels.index("{") + 1 : -1].split(","))
            counts[(pairs["source"].strip('"'), pairs["reason"].strip('"'))] = float(value)
    return counts


async def test_a_late_concluded_overdue_alert_is_neither_repeated_nor_escalated(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    """Contract §6: an overdue alert whose case the worker reports `concluded_late` gets
    no reminder and no escalation any more. Another overdue alert, published with it and
    left open, is repeated and escalated meanwhile: the notifier's clock (`--clock-start`,
    then real time) has passed both the repeat and the escalation time."""
    setup = make_setup(kafka_bootstrap, tmp_path, escalate=0.002, repeat=0.05)  # 7.2 s, 3 s
    bootstrap, journal = setup.settings.bootstrap_servers, setup.settings.topic_alerts
    with smtp_server(setup.settings.smtp_port):
        async with receiver(setup.http_port) as hooks:
            process = start_notifier(setup)
            try:
                late, left = alert(500, TOWNSHIP, "red"), alert(501, TOWNSHIP, "red")
                concluded = {
                    "kind": "case_change",
                    "change": "concluded_late",
                    "alert_id": late["alert_id"],
                    "rule_id": late["rule_id"],
                    "case_id": late["case_id"],
                    "center_id": late["center_id"],
                    "at": CLOCK_START,
                    "case_concluded_at": CLOCK_START,
                    "late_working_days": 2.42,
                    "details": {},
                }
                await produce(
                    bootstrap,
                    journal,
                    [
                        (late["alert_id"], late),
                        (left["alert_id"], left),
                        (late["alert_id"], concluded),
                    ],
                )
                first = f"{late['alert_id']}:director-township:alert:0"
                assert await wait_for(lambda: first in hooks.stored, 20)  # told once
                climbed = f"{left['alert_id']}:director-county:escalation:1"
                repeated = f"{left['alert_id']}:director-township:repeat:2"
                assert await wait_for(lambda: {climbed, repeated} <= set(hooks.stored), 40)
                await asyncio.sleep(1)
                about_late = {k for _, k, _ in hooks.posts if k.startswith(late["alert_id"])}
                assert about_late == {first}, about_late
                records = await collect(
                    bootstrap,
                    journal,
                    lambda rs: any(b'"kind":"escalation"' in (r.value or b"") for r in rs),
                    timeout=20,
                )
                steps = [json.loads(r.value) for r in records if b'"kind":"escalation"' in r.value]
                assert {s["alert_id"] for s in steps} == {left["alert_id"]}
                assert set(skipped_counts(setup).values()) == {0.0}, "a record was skipped"
            finally:
                terminate(process)


async def test_records_nobody_should_write_are_skipped_also_after_a_restart(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    """Records as an attacker able to write the journal would shape them. Before, the
    silence in year 9999 (which the web service let an inspector create) stopped the
    notifier at its next record, and again at every restart; the deep JSON and the
    escalation in year 9999 stopped it at once."""
    setup = make_setup(kafka_bootstrap, tmp_path)
    bootstrap, journal = setup.settings.bootstrap_servers, setup.settings.topic_alerts
    target = alert(600, TOWNSHIP, "red")
    silence = {
        "kind": "silence",
        "action": "create",
        "silence_id": "sil-9999",
        "silence": {
            "id": "sil-9999",
            "center_id": OTHER,
            "below": False,
            "rule": None,
            "case_id": None,
            "starts_at": "9999-12-01T00:00:00+08:00",
            "ends_at": "9999-12-31T23:59:59+08:00",
            "reason": "迁移",
            "created_by": {"name": "王监察", "role": "inspector"},
            "created_at": CLOCK_START,
        },
        "by": {"name": "王监察", "role": "inspector"},
        "at": CLOCK_START,
        "reason": "迁移",
    }
    escalation = {
        "kind": "escalation",
        "alert_id": target["alert_id"],
        "level": 1,
        "to_center": COUNTY,
        "recipient_id": "director-county",
        "at": "9999-12-31T23:00:00+08:00",
        "notification_id": "x",
    }
    hostile: list[tuple[str, bytes | dict[str, Any]]] = [
        ("a", b"not json"),
        ("b", b"[" * 100_000 + b"]" * 100_000),
        ("c", silence),
        (target["alert_id"], target),
        (target["alert_id"], escalation),
        ("d", {"kind": "mystery", "alert_id": "d"}),
        ("e", {**alert(601, TOWNSHIP, "red"), "alert_id": "x" * 10_000}),
    ]
    with smtp_server(setup.settings.smtp_port):
        async with receiver(setup.http_port) as hooks:
            process = start_notifier(setup)
            try:
                after = alert(602, TOWNSHIP, "red")
                await produce(bootstrap, journal, [*hostile, (after["alert_id"], after)])
                key = f"{after['alert_id']}:director-township:alert:0"
                assert await wait_for(lambda: key in hooks.stored, 20)
                assert await wait_for(
                    lambda: skipped_counts(setup).get(("journal", "invalid")) == 3, 10
                )
                counts = skipped_counts(setup)
                assert counts[("journal", "malformed")] == 2
                assert counts[("journal", "unknown_kind")] == 1
                log = setup.log.read_text(encoding="utf-8")
                assert f"{journal} partition 0 offset 1: malformed (JSON nested too deep)" in log
                assert "9999-12" not in log and "x" * 300 not in log  # never the value
                terminate(process)
                process = start_notifier(setup)  # the same journal, the saved position
                again = alert(603, OTHER, "red")  # the center the silence named
                await produce(bootstrap, journal, [(again["alert_id"], again)])
                key = f"{again['alert_id']}:director-other:alert:0"
                assert await wait_for(lambda: key in hooks.stored, 20)
                assert process.poll() is None
            finally:
                terminate(process)
