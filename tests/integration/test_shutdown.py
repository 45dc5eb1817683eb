"""The worker and the web service exit within 10 s of SIGTERM, whatever the broker's
state, and a stop loses nothing (supervisor/worker/main.py, supervisor/web/server.py).

An orchestrator sends SIGTERM, waits its grace period (30 s for docker compose and
Kubernetes by default), then kills. With the broker unreachable the worker used to take
a minute to stop (Faust's stop waited on the broker), so it was killed every time.

- The broker goes away (a broker of this test's own, stopped while both processes run,
  a wall screen connected): each process exits within 10 s of its SIGTERM.
- The broker is up: each exits within 10 s, the worker cleanly (no forced exit), and an
  event sent just before the SIGTERM raises its alert exactly once (by id), in this run or after
  the restart.
- A stop writes the batch in hand: its events are committed, not judged again.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import websockets
from aiokafka.admin import AIOKafkaAdminClient

from supervisor.auth import TokenStore
from supervisor.kafka import local
from supervisor.kafka.admin import ensure_topics
from supervisor.settings import Settings
from supervisor.worker.main import topics
from tests.core.factories import event_doc
from tests.processes import kill, spawn

from .conftest import (
    CLOCK_START,
    events_consumed,
    free_port,
    wait_ready,
    worker_env,
    worker_total,
)
from .kafka_io import alerts_of, collect, collect_until_quiet, produce, wait_for
from .test_faults import own_broker

pytestmark = pytest.mark.integration

__all__ = ["own_broker"]  # the fixture, shared with test_faults.py

#: The most an orchestrator may wait for an exit here (the brief: 10 s).
LIMIT = 10.0
#: What the worker logs when it had to cut its stop short (worker/main.py).
FORCED = "exiting now"


@contextmanager
def service(args: list[str], env: dict[str, str], log: Path, url: str) -> Iterator[Any]:
    """A process of the project, ready (its `url` answers 200); killed if still there."""
    process = spawn(args, env, log)
    try:
        if not wait_ready(url, process, timeout=90):
            raise AssertionError(f"{args[0]} did not become ready:\n{tail(log)}")
        yield process
    finally:
        kill(process)


def answers(url: str, token: str) -> bool:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def post(url: str, token: str) -> int:
    """POST with an empty body; the status, or 0 when the connection broke off."""
    request = urllib.request.Request(
        url, data=b"", method="POST", headers={"Authorization": f"Bearer {token}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)
    except OSError:
        return 0


def tail(log: Path) -> str:
    return log.read_text(errors="replace")[-4000:]


def stop(processes: dict[str, subprocess.Popen[bytes]]) -> dict[str, float]:
    """SIGTERM to each process at once; seconds until each exited (killed after 30 s, as
    an orchestrator would)."""
    began = {}
    for name, process in processes.items():
        process.send_signal(signal.SIGTERM)
        began[name] = time.monotonic()

    def wait(name: str) -> float:
        process = processes[name]
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            kill(process)
        return time.monotonic() - began[name]

    with ThreadPoolExecutor(len(processes)) as pool:
        return dict(zip(processes, pool.map(wait, processes), strict=True))


def setup(bootstrap: str, tmp_path: Path, **extra: str) -> tuple[dict[str, str], str]:
    """The environment of a worker and a web service on fresh topics, with an inspector's
    token; the topics created."""
    tokens = tmp_path / "tokens.json"
    token = TokenStore(tokens).issue("inspector", "停止测试")
    env = {
        **worker_env(bootstrap, tmp_path, uuid.uuid4().hex[:8]),
        "SUPERVISOR_WEB_PORT": str(free_port()),
        "SUPERVISOR_TOKENS_FILE": str(tokens),
        **extra,
    }
    settings = Settings.from_env(env)
    with ThreadPoolExecutor(1) as pool:
        pool.submit(
            asyncio.run, ensure_topics(settings.bootstrap_servers, topics(settings))
        ).result()
    return env, token


def a_case() -> tuple[str, list[dict[str, Any]]]:
    """A case whose third event raises `supplement.repeated`."""
    case = f"451228-2026-{uuid.uuid4().int % 10**7:07d}"
    docs = [
        event_doc("submitted", "2026-11-27T08:00:00+08:00", case_id=case, center_id="451228"),
        *(
            event_doc(
                "supplement_requested",
                at,
                case_id=case,
                center_id="451228",
                missing_materials=[material],
            )
            for at, material in [
                ("2026-11-27T08:10:00+08:00", "户口簿"),
                ("2026-11-27T08:50:00+08:00", "结婚证"),
            ]
        ),
    ]
    return case, docs


def urls(env: dict[str, str]) -> tuple[str, str]:
    settings = Settings.from_env(env)
    return (
        f"http://127.0.0.1:{settings.worker_web_port}/healthz",
        f"http://127.0.0.1:{settings.web_port}/healthz",
    )


async def test_both_stop_within_10_s_with_the_broker_gone(
    own_broker: Settings, tmp_path: Path
) -> None:
    bootstrap = own_broker.bootstrap_servers
    env, token = setup(
        bootstrap,
        tmp_path,
        SUPERVISOR_KAFKA_PORT=str(own_broker.kafka_port),
        SUPERVISOR_KAFKA_HOME=str(own_broker.kafka_home),
    )
    settings = Settings.from_env(env)
    worker_url, web_url = urls(env)
    worker_log, web_log = tmp_path / "worker.log", tmp_path / "web.log"
    worker_args = ["worker", "--clock-start", CLOCK_START]
    with (
        service(worker_args, env, worker_log, worker_url) as worker,
        service(["web"], env, web_log, web_url) as web,
    ):
        case, docs = a_case()
        await produce(bootstrap, settings.topic_events, [(case, d) for d in docs])
        assert await wait_for(lambda: events_consumed(settings.worker_web_port) >= 3, 60)
        alert = f"http://127.0.0.1:{settings.web_port}/api/alerts/supplement.repeated:{case}"
        assert await wait_for(lambda: answers(alert, token), 30), "the web has no alert"
        wall = f"ws://127.0.0.1:{settings.web_port}/ws/alerts?token={token}"
        async with websockets.connect(wall) as socket:  # a wall screen, open at the stop
            await asyncio.wait_for(socket.recv(), 10)  # its snapshot
            assert await asyncio.to_thread(local.stop, own_broker), "its broker was not running"
            await asyncio.sleep(8)  # both lose the broker (heartbeats, fetches fail)
            # an inspector acknowledges meanwhile: the write waits for the broker
            pending = asyncio.create_task(asyncio.to_thread(post, f"{alert}/acknowledge", token))
            await asyncio.sleep(1)
            assert worker.poll() is None and web.poll() is None and not pending.done()
            took = await asyncio.to_thread(stop, {"worker": worker, "web": web})
            answer = await pending
    print(
        f"broker gone: worker exited in {took['worker']:.1f} s (status {worker.returncode}, "
        f"forced: {FORCED in worker_log.read_text()}), web in {took['web']:.1f} s (status "
        f"{web.returncode}, forced: {FORCED in web_log.read_text()}); the acknowledgement in "
        f"flight got {answer}"
    )
    assert took["worker"] < LIMIT, tail(worker_log)
    assert took["web"] < LIMIT, tail(web_log)
    assert answer != 200, "acknowledged without a broker?"  # the client is told it failed
    assert worker.returncode in (0, -signal.SIGTERM), tail(worker_log)
    assert web.returncode in (0, -signal.SIGTERM), tail(web_log)


async def test_with_the_broker_up_both_stop_within_10_s_and_nothing_is_lost(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    env, _ = setup(kafka_bootstrap, tmp_path)
    settings = Settings.from_env(env)
    worker_url, web_url = urls(env)
    worker_args = ["worker", "--clock-start", CLOCK_START]
    case, docs = a_case()
    first_log, web_log = tmp_path / "worker-1.log", tmp_path / "web.log"
    with (
        service(worker_args, env, first_log, worker_url) as worker,
        service(["web"], env, web_log, web_url) as web,
    ):
        await produce(kafka_bootstrap, settings.topic_events, [(case, d) for d in docs[:2]])
        assert await wait_for(lambda: events_consumed(settings.worker_web_port) >= 2, 60)
        # the alert-raising event, and at once the SIGTERM: judged before the stop, or
        # read again after the restart
        await produce(kafka_bootstrap, settings.topic_events, [(case, docs[2])])
        took = await asyncio.to_thread(stop, {"worker": worker, "web": web})
    print(
        f"broker up: worker exited in {took['worker']:.1f} s (status {worker.returncode}), "
        f"web in {took['web']:.1f} s (status {web.returncode})"
    )
    assert took["worker"] < LIMIT, tail(first_log)
    assert took["web"] < LIMIT, tail(web_log)
    assert FORCED not in first_log.read_text(), f"not a clean stop:\n{tail(first_log)}"
    assert worker.returncode == 0, tail(first_log)

    with service(worker_args, env, tmp_path / "worker-2.log", worker_url):
        await collect(
            kafka_bootstrap,
            settings.topic_alerts,
            lambda rs: any(a.get("case_id") == case for a in alerts_of(rs)),
            timeout=60,
        )
        records = await collect_until_quiet(
            kafka_bootstrap, settings.topic_alerts, not_before=time.monotonic() + 5, quiet=4
        )
    mine = [a for a in alerts_of(records) if a.get("case_id") == case]
    # Exactly one alert to a reader that de-duplicates by id, as every reader here does:
    # a copy the worker sends again after its restart (its outbox listed it as not yet
    # acknowledged when it stopped) is allowed, with the same content (docs/operations.md,
    # "Delivery guarantees").
    assert {a["alert_id"] for a in mine} == {f"supplement.repeated:{case}"}, mine
    assert all(a == mine[0] for a in mine), mine


async def committed_events(bootstrap: str, settings: Settings) -> int:
    """How many events of the events topic the worker's group has committed, in all."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(settings.app_id)
    finally:
        await admin.close()
    return sum(o.offset for tp, o in offsets.items() if tp.topic == settings.topic_events)


async def test_a_stop_writes_the_batch_in_hand_so_its_events_are_not_judged_again(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    """Batches wait ten minutes here, so only the stop itself can write the one in hand:
    its events are committed, and the next start has nothing to judge again."""
    env, _ = setup(kafka_bootstrap, tmp_path, SUPERVISOR_BATCH_SECONDS="600")
    settings = Settings.from_env(env)
    worker_url, _ = urls(env)
    worker_args = ["worker", "--clock-start", CLOCK_START]
    case, docs = a_case()
    log = tmp_path / "worker-1.log"
    with service(worker_args, env, log, worker_url) as worker:
        await produce(kafka_bootstrap, settings.topic_events, [(case, d) for d in docs])
        assert await wait_for(lambda: events_consumed(settings.worker_web_port) >= 3, 60)
        assert await committed_events(kafka_bootstrap, settings) == 0  # the batch in hand
        took = await asyncio.to_thread(stop, {"worker": worker})
    assert took["worker"] < LIMIT and worker.returncode == 0, tail(log)
    assert FORCED not in log.read_text(), tail(log)
    assert "wrote the batch in hand of partitions" in log.read_text(), tail(log)
    assert await committed_events(kafka_bootstrap, settings) == 3

    alerts = await collect_until_quiet(
        kafka_bootstrap, settings.topic_alerts, not_before=time.monotonic(), quiet=2
    )
    assert [a["alert_id"] for a in alerts_of(alerts)] == [f"supplement.repeated:{case}"]
    with service(worker_args, env, tmp_path / "worker-2.log", worker_url):
        await asyncio.sleep(3)  # ticks and timers run: nothing left to read
        # events read again would count as duplicates (their states were written)
        port = settings.worker_web_port
        assert events_consumed(port) == 0
        assert worker_total(port, "supervisor_worker_events_duplicate_total") == 0
