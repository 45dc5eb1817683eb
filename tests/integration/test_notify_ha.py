"""Several `supervisor notify` processes on the real broker, one active (service.py: the
consumer group on the control topic), a real webhook receiver and a real SMTP server
that count every notification they take by its idempotency key (the webhook's
`Idempotency-Key`, the email's `Message-ID`).

- The active notifier is SIGKILLed mid-stream: the standby takes over within 15 s, from
  the saved position, and every key reaches each channel exactly once. The channels
  refuse (503, SMTP 451) around the kill: an attempt answered while its sender dies
  cannot be told from one never made, and would be made again (at-least-once, by design);
  what is checked is that nothing is lost and nothing else is sent twice.
- The killed one comes back as a standby (the active one keeps its place); the active one
  stopped with SIGTERM hands over at once.
- An active notifier paused (SIGSTOP) long enough to lose its place, then resumed, sends
  nothing more: its lease has expired, and the group refuses to renew it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from supervisor.notify.email import message_id_for
from supervisor.settings import Settings
from tests.processes import kill, terminate

from .conftest import free_port
from .kafka_io import produce, produce_paced, wait_for
from .test_notify import (
    TOWNSHIP,
    Mailbox,
    Receiver,
    Setup,
    _ensure,
    alert,
    make_setup,
    receiver,
    start_notifier,
)

pytestmark = pytest.mark.integration

#: What the issue asks of a takeover after the active notifier died.
TAKEOVER_LIMIT = 15.0


class CountingMailbox(Mailbox):
    """An SMTP server that answers 451 (try later) while `down`."""

    def __init__(self) -> None:
        super().__init__()
        self.down = False

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.down:
            return "451 4.3.0 not now"
        return await super().handle_DATA(server, session, envelope)

    def delivered(self) -> Counter[str]:
        return Counter(str(m["Message-ID"]) for m in self.messages)


@contextmanager
def counting_smtp(port: int) -> Iterator[CountingMailbox]:
    mailbox = CountingMailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield mailbox
    finally:
        controller.stop()


@dataclass
class Running:
    """One notifier process and where it answers."""

    process: subprocess.Popen[bytes]
    setup: Setup
    name: str

    def health(self) -> dict[str, Any]:
        """Its /healthz body ({} while it does not answer)."""
        url = f"http://127.0.0.1:{self.setup.settings.notify_port}/healthz"
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                return dict(json.loads(response.read()))
        except urllib.error.HTTPError as error:
            return dict(json.loads(error.read() or b"{}"))
        except OSError:
            return {}

    def active(self) -> bool:
        return bool(self.health().get("active"))

    def metric(self, name: str) -> float:
        url = f"http://127.0.0.1:{self.setup.settings.notify_port}/metrics"
        with urllib.request.urlopen(url, timeout=2) as response:
            text = response.read().decode()
        return sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith(name) and not line.startswith("#")
        )

    def sent(self) -> float:
        """Attempts it made, whatever their outcome."""
        return self.metric("supervisor_notify_notifications_sent_total") + self.metric(
            "supervisor_notify_notifications_failed_total"
        )


def another(setup: Setup, name: str) -> Setup:
    """The same deployment (topics, group, routing, channels), another process: its own
    port and log."""
    port = free_port()
    env = {**setup.env, "SUPERVISOR_NOTIFY_PORT": str(port)}
    return replace(setup, env=env, settings=Settings.from_env(env), log=setup.log.with_name(name))


def start(setup: Setup, name: str) -> Running:
    return Running(start_notifier(setup), setup, name)


@asynccontextmanager
async def deployment(
    kafka_bootstrap: str, tmp: Path
) -> AsyncIterator[tuple[Setup, Receiver, CountingMailbox]]:
    setup = make_setup(kafka_bootstrap, tmp)
    await asyncio.to_thread(_ensure, setup)
    with counting_smtp(setup.settings.smtp_port) as mailbox:
        async with receiver(setup.http_port) as hooks:
            yield setup, hooks, mailbox


def expected(alerts: list[dict[str, Any]], setup: Setup) -> tuple[set[str], set[str]]:
    """The webhook keys and the Message-IDs the alerts must reach the township with."""
    ids = [f"{a['alert_id']}:director-township:alert:0" for a in alerts]
    return set(ids), {message_id_for(i, setup.settings.smtp_sender) for i in ids}


async def exactly_once(
    hooks: Receiver, mailbox: CountingMailbox, keys: set[str], mails: set[str]
) -> None:
    """Every key taken (2xx, 250) exactly once by each channel, and nothing else."""
    assert await wait_for(lambda: keys <= set(hooks.delivered()), 60), sorted(
        keys - set(hooks.delivered())
    )[:5]
    assert await wait_for(lambda: mails <= set(mailbox.delivered()), 60), sorted(
        mails - set(mailbox.delivered())
    )[:5]
    await asyncio.sleep(3)  # time for a second delivery, if one were to come
    webhook, email = hooks.delivered(), mailbox.delivered()
    assert set(webhook) == keys and max(webhook.values()) == 1, webhook.most_common(3)
    assert set(email) == mails and max(email.values()) == 1, email.most_common(3)
    assert hooks.bad_signatures == 0


async def until_active(candidates: list[Running], timeout: float) -> Running | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for running in candidates:
            if running.active():
                return running
        await asyncio.sleep(0.1)
    return None


async def test_the_standby_takes_over_a_killed_active_notifier_and_nothing_is_sent_twice(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    async with deployment(kafka_bootstrap, tmp_path) as (setup, hooks, mailbox):
        first = start(setup, "first")
        second: Running | None = None
        third: Running | None = None
        try:
            assert first.active(), first.health()
            second = start(another(setup, "second.log"), "second")
            assert second.health()["role"] == "standby", second.health()
            # the group rebalanced: the active one gave up its role, and got it back
            assert await until_active([first, second], 10) is first, "the newcomer took over"
            alerts = [alert(700 + n, TOWNSHIP, "red") for n in range(60)]
            batches = [[(a["alert_id"], json.dumps(a).encode())] for a in alerts]
            killed_at = 0.0
            takeover = 0.0

            async def around_the_kill(number: int) -> None:
                nonlocal killed_at, takeover
                if number != 20:
                    return
                # a third of the stream is out; the channels refuse for a moment
                keys, _ = expected(alerts[:20], setup)
                assert await wait_for(lambda: keys <= set(hooks.delivered()), 30)
                assert second is not None and second.sent() == 0, "the standby sent"
                hooks.down = mailbox.down = True
                await asyncio.sleep(1.0)
                kill(first.process)
                killed_at = time.monotonic()
                hooks.down = mailbox.down = False
                # the stream goes on while nobody is active; the standby takes over
                found = await until_active([second], TAKEOVER_LIMIT + 10)
                assert found is second, "no takeover"
                takeover = time.monotonic() - killed_at

            await produce_paced(
                setup.settings.bootstrap_servers,
                setup.settings.topic_alerts,
                batches,
                interval=0.1,
                before=around_the_kill,
            )
            print(f"takeover after SIGKILL: {takeover:.1f} s")
            assert 0 < takeover < TAKEOVER_LIMIT, takeover
            keys, mails = expected(alerts, setup)
            await exactly_once(hooks, mailbox, keys, mails)
            # the killed one comes back: it stands by, the active one keeps its place
            third = start(replace(first.setup, log=tmp_path / "third.log"), "third")
            assert third.health()["role"] == "standby", third.health()
            assert await until_active([second, third], 10) is second
            more = [alert(800 + n, TOWNSHIP, "red") for n in range(10)]
            await produce(
                setup.settings.bootstrap_servers,
                setup.settings.topic_alerts,
                [(a["alert_id"], a) for a in more],
            )
            keys, mails = expected([*alerts, *more], setup)
            await exactly_once(hooks, mailbox, keys, mails)
            assert third.sent() == 0
            # a SIGTERM hands over at once (the notifier leaves the group)
            stopped = time.monotonic()
            terminate(second.process)
            assert second.process.returncode == 0
            assert time.monotonic() - stopped < 10
            assert await until_active([third], TAKEOVER_LIMIT) is third
            handover = time.monotonic() - stopped
            print(f"handover after SIGTERM: {handover:.1f} s")
            last = [alert(900 + n, TOWNSHIP, "red") for n in range(10)]
            await produce(
                setup.settings.bootstrap_servers,
                setup.settings.topic_alerts,
                [(a["alert_id"], a) for a in last],
            )
            keys, mails = expected([*alerts, *more, *last], setup)
            await exactly_once(hooks, mailbox, keys, mails)
            assert handover < 6, "a stopped notifier's successor waited for the session"
            logs = "".join(r.setup.log.read_text(errors="replace") for r in (first, second, third))
            assert "replay of" not in logs
        finally:
            for running in (first, second, third):
                if running is not None:
                    terminate(running.process)


async def test_a_paused_active_notifier_that_lost_its_place_sends_nothing_when_it_resumes(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    async with deployment(kafka_bootstrap, tmp_path) as (setup, hooks, mailbox):
        first = start(setup, "first")
        second = start(another(setup, "second.log"), "second")
        try:
            assert await until_active([first, second], 10) is first
            bootstrap, journal = setup.settings.bootstrap_servers, setup.settings.topic_alerts
            # deliveries pending on the first one: the channels refuse, it retries
            hooks.down = mailbox.down = True
            waiting = [alert(1000 + n, TOWNSHIP, "red") for n in range(10)]
            await produce(bootstrap, journal, [(a["alert_id"], a) for a in waiting])
            assert await wait_for(lambda: len(hooks.posts) >= 10, 20)
            os.killpg(first.process.pid, signal.SIGSTOP)
            paused = time.monotonic()
            try:
                assert await until_active([second], TAKEOVER_LIMIT + 10) is second
                print(f"takeover from a paused notifier: {time.monotonic() - paused:.1f} s")
                more = [alert(1100 + n, TOWNSHIP, "red") for n in range(5)]
                await produce(bootstrap, journal, [(a["alert_id"], a) for a in more])
                await asyncio.sleep(2)
            finally:
                os.killpg(first.process.pid, signal.SIGCONT)
            # back, with due deliveries and a journal to read: it finds its lease expired,
            # is refused, and gives up its role; the channels still refuse, so an attempt
            # that had passed its check before the pause (the window) cannot be counted
            # (its attempts in flight end first: they are drained before it stands by)
            assert await wait_for(lambda: first.health().get("role") == "standby", 20), (
                first.health()
            )
            attempts = first.sent()
            await asyncio.sleep(3)
            assert first.sent() == attempts, "the resumed notifier went on sending"
            assert first.health().get("role") == "standby" and second.active()
            hooks.down = mailbox.down = False
            keys, mails = expected([*waiting, *more], setup)
            await exactly_once(hooks, mailbox, keys, mails)
            assert first.sent() == attempts and second.active()
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(first.process.pid, signal.SIGCONT)
            terminate(first.process)
            terminate(second.process)
