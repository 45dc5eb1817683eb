"""A real `supervisor worker` process on the real broker, with fresh topics per run."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from supervisor.settings import Settings
from supervisor.worker.main import create_topics
from tests.processes import spawn, terminate

#: The worker's clock starts here (a working Friday) and then runs in real time, so the
#: deadlines in these tests fall at known instants whatever day the suite runs.
CLOCK_START = "2026-11-27T09:00:00+08:00"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class RunningWorker:
    bootstrap: str
    events: str
    alerts: str
    dlq: str
    web_port: int
    env: dict[str, str]
    log: Path
    started_monotonic: float
    facts: str = ""
    process: subprocess.Popen[bytes] | None = None  # for a test that kills it


def wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float) -> bool:
    """Poll a readiness URL until it answers 200, the process dies, or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.3)
    return False


def events_consumed(port: int) -> float:
    """The worker's `supervisor_worker_events_consumed_total`, all types (0 while it does
    not answer)."""
    return worker_total(port, "supervisor_worker_events_consumed_total")


def worker_total(port: int, *names: str) -> float:
    """The sum of a worker's metrics `names` over their labels, read from one page (0
    while it does not answer). A page cost the worker about 20 ms of CPU in the catch-up
    benchmark (bench/RESULTS.md): a harness that polls reads one page a look."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
            text = response.read().decode()
    except OSError:
        return 0.0
    total = 0.0
    for name in names:
        pattern = rf"^{re.escape(name)}(?:\{{[^}}]*\}})? (\S+)$"
        total += sum(float(v) for v in re.findall(pattern, text, re.M))
    return total


def worker_env(kafka_bootstrap: str, home: Path, run: str) -> dict[str, str]:
    return {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "SUPERVISOR_TOPIC_EVENTS": f"case-events-{run}",
        "SUPERVISOR_TOPIC_ALERTS": f"alerts-{run}",
        "SUPERVISOR_TOPIC_DLQ": f"case-events-{run}.dlq",
        "SUPERVISOR_TOPIC_FACTS": f"case-facts-{run}",
        "SUPERVISOR_APP_ID": f"supervisor-test-{run}",
        "SUPERVISOR_DATA_DIR": str(home / "data"),
        "SUPERVISOR_WORKER_WEB_PORT": str(free_port()),
        "SUPERVISOR_TICK_SECONDS": "0.5",
        "SUPERVISOR_SETTLE_SECONDS": "2",
        "SUPERVISOR_PARTITIONS": "3",
    }


@contextmanager
def running_worker(env: dict[str, str], log: Path) -> Iterator[RunningWorker]:
    """A `supervisor worker` process; topics are created first, so no producer in the test
    can auto-create them with the broker's default partition count."""
    settings = Settings.from_env(env)
    with ThreadPoolExecutor(1) as pool:  # callable from async tests too (own event loop)
        pool.submit(asyncio.run, create_topics(settings)).result()
    started = time.monotonic()
    process = spawn(["worker", "--clock-start", CLOCK_START], env, log)
    port = settings.worker_web_port
    if not wait_ready(f"http://127.0.0.1:{port}/healthz", process, timeout=90):
        terminate(process)
        raise AssertionError(f"the worker did not become ready:\n{log.read_text()[-3000:]}")
    try:
        yield RunningWorker(
            bootstrap=settings.bootstrap_servers,
            events=settings.topic_events,
            alerts=settings.topic_alerts,
            dlq=settings.topic_dlq,
            web_port=settings.worker_web_port,
            env=env,
            log=log,
            started_monotonic=started,
            facts=settings.topic_facts,
            process=process,
        )
    finally:
        terminate(process)
        if process.returncode not in (0, -signal.SIGTERM):
            print(log.read_text(errors="replace")[-4000:])


@pytest.fixture(scope="session")
def worker(
    kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningWorker]:
    home = tmp_path_factory.mktemp("worker")
    env = worker_env(kafka_bootstrap, home, uuid.uuid4().hex[:8])
    with running_worker(env, home / "worker.log") as running:
        yield running
