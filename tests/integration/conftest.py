"""A real `supervisor worker` process on the real broker, with fresh topics per run."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from supervisor.kafka.admin import ensure_topics
from supervisor.settings import Settings
from supervisor.worker.main import topics

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


@pytest.fixture(scope="session")
def worker(
    kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningWorker]:
    run = uuid.uuid4().hex[:8]
    home = tmp_path_factory.mktemp("worker")
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "SUPERVISOR_TOPIC_EVENTS": f"case-events-{run}",
        "SUPERVISOR_TOPIC_ALERTS": f"alerts-{run}",
        "SUPERVISOR_TOPIC_DLQ": f"case-events-{run}.dlq",
        "SUPERVISOR_APP_ID": f"supervisor-test-{run}",
        "SUPERVISOR_DATA_DIR": str(home / "data"),
        "SUPERVISOR_WORKER_WEB_PORT": str(free_port()),
        "SUPERVISOR_TICK_SECONDS": "0.5",
        "SUPERVISOR_PARTITIONS": "3",
    }
    settings = Settings.from_env(env)
    asyncio.run(ensure_topics(kafka_bootstrap, topics(settings)))  # before any producer
    log = home / "worker.log"
    started = time.monotonic()
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "supervisor.cli", "worker", "--clock-start", CLOCK_START],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    running = RunningWorker(
        bootstrap=kafka_bootstrap,
        events=env["SUPERVISOR_TOPIC_EVENTS"],
        alerts=env["SUPERVISOR_TOPIC_ALERTS"],
        dlq=env["SUPERVISOR_TOPIC_DLQ"],
        web_port=int(env["SUPERVISOR_WORKER_WEB_PORT"]),
        env=env,
        log=log,
        started_monotonic=started,
    )
    try:
        yield running
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        if process.returncode not in (0, -signal.SIGTERM):
            print(log.read_text(errors="replace")[-4000:])
