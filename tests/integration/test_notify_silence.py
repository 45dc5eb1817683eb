"""Silences end to end on the real broker (issue 5 §4): an inspector creates a silence
through a real `supervisor web` process, the notifier (a real `supervisor notify`) holds
back the red alerts of that center while it holds (they are still in the journal and on
the wall), and notifies again once it has expired, or once it is lifted early.

Both processes run on the real clock (no `--clock-start`: the web service's clock and the
notifier's must agree on when a silence holds), and the silence is made short instead."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from supervisor.auth import TokenStore
from tests.processes import spawn, terminate

from .conftest import free_port, wait_ready
from .kafka_io import collect, produce, wait_for
from .test_notify import OTHER, TOWNSHIP, Setup, _ensure, make_setup, metrics_text, receiver
from .test_notify import smtp_server as smtp

pytestmark = pytest.mark.integration

#: How long the first silence lasts: ample for an alert to be read by the notifier while
#: it holds, short enough to wait for its end.
SILENCE_SECONDS = 20


def red(center: str) -> dict[str, Any]:
    """A fresh red alert of `center` (a unique case each time)."""
    n = uuid.uuid4().int % 10**7
    case_id = f"{center[:6]}-2026-{n:07d}"
    return {
        "alert_id": f"deadline.overdue:{case_id}",
        "rule_id": "deadline.overdue",
        "severity": "red",
        "case_id": case_id,
        "center_id": center,
        "raised_at": datetime.now(ZoneInfo("Asia/Shanghai")).isoformat(timespec="seconds"),
        "title": "办件超期",
        "message": f"办件 {case_id} 已超过承诺时限，尚未办结。",
        "details": {},
    }


def key(alert: dict[str, Any], recipient: str) -> str:
    return f"{alert['alert_id']}:{recipient}:alert:0"


@asynccontextmanager
async def web_service(setup: Setup, tmp: Path) -> AsyncIterator[httpx.AsyncClient]:
    """A real `supervisor web` on the same journal, and a client with an inspector's token."""
    tokens = tmp / "tokens.json"
    token = TokenStore(tokens).issue("inspector", "王监察")
    port = free_port()
    env = {**setup.env, "SUPERVISOR_WEB_PORT": str(port), "SUPERVISOR_TOKENS_FILE": str(tokens)}
    log = tmp / "web.log"
    process = spawn(["web"], env, log)
    base = f"http://127.0.0.1:{port}"
    try:
        ready = await asyncio.to_thread(wait_ready, f"{base}/healthz", process, 60)
        assert ready, log.read_text()[-3000:]
        async with httpx.AsyncClient(
            base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=20
        ) as client:

            async def consuming() -> bool:
                health = (await client.get("/healthz")).json()
                return bool(health["topics"].get(setup.settings.topic_alerts) == "consuming")

            deadline = time.monotonic() + 30
            while not await consuming():
                assert time.monotonic() < deadline, log.read_text()[-3000:]
                await asyncio.sleep(0.3)
            yield client
    finally:
        terminate(process, timeout=20)


def start_notifier(setup: Setup) -> Any:
    """`supervisor notify` on the real clock (the web service's)."""
    process = spawn(["notify"], setup.env, setup.log)
    url = f"http://127.0.0.1:{setup.settings.notify_port}/healthz"
    if not wait_ready(url, process, timeout=60):
        terminate(process)
        raise AssertionError(f"the notifier did not become ready:\n{setup.log.read_text()[-3000:]}")
    return process


async def test_a_silence_holds_then_expires_and_lifting_early_re_enables(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    setup = make_setup(kafka_bootstrap, tmp_path)
    bootstrap, journal = setup.settings.bootstrap_servers, setup.settings.topic_alerts
    await asyncio.to_thread(_ensure, setup)
    with smtp(setup.settings.smtp_port):
        async with receiver(setup.http_port) as hooks, web_service(setup, tmp_path) as api:
            process = await asyncio.to_thread(start_notifier, setup)
            try:
                # an inspector silences the township's center for a short while
                until = datetime.now(ZoneInfo("Asia/Shanghai")) + timedelta(seconds=SILENCE_SECONDS)
                response = await api.post(
                    "/api/silences",
                    json={
                        "center_id": TOWNSHIP,
                        "until": until.isoformat(),
                        "reason": "大厂镇中心迁移业务系统",
                    },
                )
                assert response.status_code == 201, response.text
                silence = response.json()
                assert silence["status"] == "active"
                assert silence["audit"][0]["by"]["name"] == "王监察"

                # while it holds: the township's red alert is recorded, not sent; another
                # center's (read after it, in the journal's order) is sent
                held, other = red(TOWNSHIP), red(OTHER)
                await produce(bootstrap, journal, [(a["alert_id"], a) for a in (held, other)])
                assert await wait_for(lambda: key(other, "director-other") in hooks.stored, 15)
                assert datetime.now(ZoneInfo("Asia/Shanghai")) < until, "too slow to test"
                await asyncio.sleep(1)
                assert not any(held["alert_id"] in k for _, k, _ in hooks.posts)
                assert 'supervisor_notify_suppressed_total{kind="alert"} 1.0' in metrics_text(setup)
                shown = await api.get(f"/api/alerts/{held['alert_id']}")
                assert shown.status_code == 200 and shown.json()["status"] == "open"
                records = await collect(
                    bootstrap,
                    journal,
                    lambda rs: any(held["alert_id"].encode() in (r.value or b"") for r in rs),
                    timeout=10,
                )
                kinds = [json.loads(r.value).get("kind", "alert") for r in records]
                assert kinds[:2] == ["silence", "alert"], kinds

                # after it expired (by time): the township's next red alert is sent
                left = (until - datetime.now(ZoneInfo("Asia/Shanghai"))).total_seconds()
                await asyncio.sleep(max(0.0, left) + 0.5)
                listed = (await api.get("/api/silences", params={"state": "expired"})).json()
                assert [s["id"] for s in listed["items"]] == [silence["id"]]
                after = red(TOWNSHIP)
                await produce(bootstrap, journal, [(after["alert_id"], after)])
                assert await wait_for(lambda: key(after, "director-township") in hooks.stored, 15)
                assert hooks.stored[key(after, "director-township")]["path"] == "/township"

                # a second silence, lifted early: held while it holds, sent once lifted
                response = await api.post(
                    "/api/silences",
                    json={
                        "center_id": TOWNSHIP,
                        "until": (until + timedelta(hours=4)).isoformat(),
                        "reason": "再次迁移",
                    },
                )
                assert response.status_code == 201, response.text
                second = response.json()
                muted, control = red(TOWNSHIP), red(OTHER)
                await produce(bootstrap, journal, [(a["alert_id"], a) for a in (muted, control)])
                assert await wait_for(lambda: key(control, "director-other") in hooks.stored, 15)
                response = await api.post(
                    f"/api/silences/{second['id']}/lift", json={"reason": "迁移提前完成"}
                )
                assert response.status_code == 200, response.text
                lifted = response.json()
                assert lifted["status"] == "lifted"
                assert [s["action"] for s in lifted["audit"]] == ["create", "lift"]
                again = await api.post(
                    f"/api/silences/{second['id']}/lift", json={"reason": "再次"}
                )
                assert again.status_code == 409
                resumed = red(TOWNSHIP)
                await produce(bootstrap, journal, [(resumed["alert_id"], resumed)])
                assert await wait_for(lambda: key(resumed, "director-township") in hooks.stored, 15)
                await asyncio.sleep(1)
                sent = {k for _, k, _ in hooks.posts}
                assert not any(held["alert_id"] in k for k in sent), "silenced, never sent"
                assert not any(muted["alert_id"] in k for k in sent), "silenced, never sent"
                assert max(hooks.delivered().values()) == 1
                assert hooks.bad_signatures == 0
            finally:
                terminate(process)
