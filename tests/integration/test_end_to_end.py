"""Contract events from a plain producer reach a WebSocket client as alerts: broker,
`supervisor worker` and `supervisor web`, all real processes."""

from __future__ import annotations

import asyncio
import json
import re
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import websockets

from supervisor.auth import TokenStore
from tests.core.factories import event_doc
from tests.processes import spawn, terminate

from .conftest import RunningWorker, free_port
from .kafka_io import produce, wait_for

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class Web:
    base: str
    token: str  # an inspector's
    ops_token: str  # /metrics is for the ops role only

    def get(self, path: str) -> Any:
        token = self.ops_token if path == "/metrics" else self.token
        request = urllib.request.Request(
            f"http://{self.base}{path}", headers={"Authorization": f"Bearer {token}"}
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            body = response.read()
        return body.decode() if path == "/metrics" else json.loads(body)


@pytest.fixture(scope="module")
def web(worker: RunningWorker) -> Iterator[Web]:
    port = free_port()
    tokens = worker.log.with_name("web-tokens.json")
    store = TokenStore(tokens)
    token = store.issue("inspector", "端到端测试")
    ops_token = store.issue("ops", "端到端测试")
    env = {**worker.env, "SUPERVISOR_WEB_PORT": str(port), "SUPERVISOR_TOKENS_FILE": str(tokens)}
    log = worker.log.with_name("web.log")
    process = spawn(["web"], env, log)
    base = f"127.0.0.1:{port}"
    try:
        assert asyncio.run(wait_for(lambda: _answers(f"http://{base}/healthz"), 30)), (
            log.read_text()
        )
        yield Web(base, token, ops_token)
    finally:
        terminate(process, timeout=20)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


async def test_events_become_alerts_on_a_websocket(worker: RunningWorker, web: Web) -> None:
    case = f"451227-2026-{uuid.uuid4().int % 10**7:07d}"
    received: list[dict[str, Any]] = []
    async with websockets.connect(f"ws://{web.base}/ws/alerts?token={web.token}") as socket:
        snapshot = json.loads(await asyncio.wait_for(socket.recv(), 10))
        assert snapshot["type"] == "snapshot"
        await produce(
            worker.bootstrap,
            worker.events,
            [
                (
                    case,
                    event_doc(
                        "accepted",
                        "2026-11-27T08:40:00+08:00",
                        case_id=case,
                        center_id="451227",
                        item_code="451227-XK-0001",
                        promised_limit={"value": 1, "unit": "working_day"},
                    ),
                ),
                (
                    case,
                    event_doc(
                        "concluded", "2026-11-27T08:41:00+08:00", case_id=case, center_id="451227"
                    ),
                ),
            ],
        )
        async with asyncio.timeout(60):
            while {a["rule_id"] for a in received} < {
                "workflow.no_decision",
                "conclusion.too_fast",
            }:
                message = json.loads(await socket.recv())
                if message["type"] == "alert" and message["alert"]["case_id"] == case:
                    received.append(message["alert"])
    by_rule = {a["rule_id"]: a for a in received}
    assert by_rule["workflow.no_decision"]["severity"] == "red"
    assert by_rule["workflow.no_decision"]["raised_at"] == "2026-11-27T08:41:00+08:00"
    assert by_rule["conclusion.too_fast"]["severity"] == "yellow"
    assert len(received) == 2  # each once
    listed = web.get("/api/alerts?center_id=451227&limit=500")
    ids = {a["alert_id"] for a in listed["items"]}
    assert f"workflow.no_decision:{case}" in ids
    one = web.get(f"/api/alerts/workflow.no_decision:{case}")
    assert one["status"] == "open" and one["history"] == []
    # The read model holds the case too: its facts and its events, from their topics.
    async with asyncio.timeout(20):
        while True:
            try:
                shown = web.get(f"/api/cases/{case}")
            except urllib.error.HTTPError:  # 404 until the case's rows are projected
                shown = {}
            if shown.get("status") == "concluded" and len(shown.get("timeline", [])) == 2:
                break
            await asyncio.sleep(0.3)
    assert [event["type"] for event in shown["timeline"]] == ["accepted", "concluded"]
    assert shown["accepted_at"] == "2026-11-27T08:40:00+08:00"
    assert {a["rule_id"] for a in shown["alerts"]} == {
        "workflow.no_decision",
        "conclusion.too_fast",
    }


async def test_both_processes_expose_metrics(worker: RunningWorker, web: Web) -> None:
    web_metrics = web.get("/metrics")
    assert "supervisor_web_websocket_clients" in web_metrics
    assert "supervisor_web_alerts_received_total" in web_metrics
    with urllib.request.urlopen(f"http://127.0.0.1:{worker.web_port}/metrics") as response:
        worker_metrics = response.read().decode()
    assert "supervisor_worker_events_consumed_total" in worker_metrics
    assert "supervisor_worker_alert_latency_seconds_bucket" in worker_metrics
    assert "supervisor_worker_alerts_raised_total{" in worker_metrics
    # the alerts of the test above, by registered center; the lag of each owned partition
    assert re.search(r'supervisor_worker_alerts_raised_total\{center_id="451227",', worker_metrics)
    lag = r"^supervisor_worker_consumer_lag\{[^}]*\} (\S+)$"
    for _ in range(60):  # measured every LAG_SECONDS (5 s), the first time 5 s after start
        if re.search(lag, worker_metrics, re.M):
            break
        await asyncio.sleep(0.5)
        with urllib.request.urlopen(f"http://127.0.0.1:{worker.web_port}/metrics") as response:
            worker_metrics = response.read().decode()
    lags = re.findall(lag, worker_metrics, re.M)
    assert len(lags) == 3 and all(float(v) >= 0 for v in lags)  # SUPERVISOR_PARTITIONS=3
    assert "supervisor_worker_partitions_assigned 3.0" in worker_metrics
    open_red = r'supervisor_web_open_alerts\{severity="red"\} [1-9]'
    for _ in range(30):  # counted in the read model a second after the projection wrote
        if re.search(open_red, web_metrics):
            break
        await asyncio.sleep(0.5)
        web_metrics = web.get("/metrics")
    assert re.search(open_red, web_metrics)


async def test_alerts_follow_their_case_on_the_api(worker: RunningWorker, web: Web) -> None:
    """Contract §6 through the real worker and web service: a warning closed by a
    conclusion in time; a warning superseded by the red alert, which stays open when the
    case is concluded late, annotated with how late."""
    in_time = f"451227-2026-{uuid.uuid4().int % 10**7:07d}"
    late = f"451227-2026-{uuid.uuid4().int % 10**7:07d}"

    def story(case: str, *steps: tuple[str, str]) -> list[tuple[str, dict[str, Any]]]:
        # 1 working day from Monday 23 November: the deadline is Tuesday 24:00, the
        # warning (80 %) Tuesday 19:12 (before the worker's clock starts: CLOCK_START)
        accepted = event_doc(
            "accepted",
            "2026-11-23T08:00:00+08:00",
            case_id=case,
            center_id="451227",
            item_code="451227-XK-0001",
            promised_limit={"value": 1, "unit": "working_day"},
        )
        accepted["department"] = "天峨县市场监督管理局"
        documents = [accepted]
        for kind, when in steps:
            payload = {"step_completed": {"step": "review"}, "decided": {"outcome": "approve"}}.get(
                kind, {}
            )
            documents.append(event_doc(kind, when, case_id=case, center_id="451227", **payload))
        return [(case, document) for document in documents]

    await produce(
        worker.bootstrap,
        worker.events,
        [
            *story(
                in_time,
                ("step_completed", "2026-11-24T20:00:00+08:00"),
                ("decided", "2026-11-24T20:30:00+08:00"),
                ("concluded", "2026-11-24T21:00:00+08:00"),
            ),
            *story(
                late,
                ("step_completed", "2026-11-25T01:00:00+08:00"),
                ("concluded", "2026-11-26T12:00:00+08:00"),
            ),
        ],
    )

    def status(alert_id: str) -> dict[str, Any] | None:
        try:
            answer: dict[str, Any] = web.get(f"/api/alerts/{alert_id}")
        except OSError:  # 404 until the web service has read it
            return None
        return answer

    def settled() -> bool:
        closed = status(f"deadline.warning:{in_time}")
        overdue = status(f"deadline.overdue:{late}")
        return (
            closed is not None
            and closed["status"] == "closed"
            and overdue is not None
            and "late_working_days" in overdue
        )

    assert await wait_for(settled, 60)
    closed = status(f"deadline.warning:{in_time}")
    assert closed is not None
    assert closed["history"][-1]["reason"] == "concluded_in_time"
    assert closed["details"]["department"] == "天峨县市场监督管理局"
    superseded = status(f"deadline.warning:{late}")
    assert superseded is not None and superseded["status"] == "superseded"
    overdue = status(f"deadline.overdue:{late}")
    assert overdue is not None and overdue["status"] == "open"
    assert overdue["case_concluded_at"] == "2026-11-26T12:00:00+08:00"
    assert overdue["late_working_days"] == 1.5
    assert status(f"deadline.overdue:{in_time}") is None  # never raised
