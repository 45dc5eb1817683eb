"""Shared helpers of the system benchmarks (bench/*.py): broker, processes, metrics, stats.

Run on purpose, never in CI. Every benchmark talks to a real broker: the one named by
KAFKA_BOOTSTRAP_SERVERS, or the project's local broker on SUPERVISOR_KAFKA_PORT (started
with `supervisor kafka start` if it is not running). Each run uses fresh topics and
consumer groups (a random run id), so runs never see each other's messages.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from supervisor.kafka import local
from supervisor.kafka.admin import ensure_topics
from supervisor.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable


def bootstrap() -> str:
    """The broker to use: KAFKA_BOOTSTRAP_SERVERS, or the local one (started if needed)."""
    settings = Settings.from_env()
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        return settings.bootstrap_servers
    return local.start(settings)


def run_id() -> str:
    return uuid.uuid4().hex[:8]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_env(server: str, run: str, home: Path, **extra: str) -> dict[str, str]:
    """Environment of a worker / web process on fresh topics named after `run`."""
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": server,
        "SUPERVISOR_TOPIC_EVENTS": f"bench-events-{run}",
        "SUPERVISOR_TOPIC_ALERTS": f"bench-alerts-{run}",
        "SUPERVISOR_TOPIC_DLQ": f"bench-events-{run}.dlq",
        "SUPERVISOR_TOPIC_FACTS": f"bench-facts-{run}",
        "SUPERVISOR_APP_ID": f"bench-{run}",
        "SUPERVISOR_DATA_DIR": str(home / "data"),
        "SUPERVISOR_WORKER_WEB_PORT": str(free_port()),
        "SUPERVISOR_WEB_PORT": str(free_port()),
        "SUPERVISOR_TOKENS_FILE": str(home / "tokens.json"),
        "SUPERVISOR_RULES_RELOAD_SECONDS": "0",
    }
    env.update(extra)
    return env


def create_topics(env: Mapping[str, str]) -> Settings:
    """The worker's topics, with its partition counts, before anything produces."""
    from supervisor.worker.main import topics

    settings = Settings.from_env(env)
    asyncio.run(ensure_topics(settings.bootstrap_servers, topics(settings)))
    return settings


def spawn(
    args: Sequence[str], env: Mapping[str, str], log: Path, cwd: Path = ROOT
) -> subprocess.Popen[bytes]:
    """`python -m supervisor.cli ARGS` (or `python ARGS` when args[0] ends in .py / is -m),
    in a session of its own, output to `log`; from `cwd` (another checkout: its code)."""
    if args[0] == "-m" or args[0].endswith(".py"):
        command = list(args)
    else:
        command = ["-m", "supervisor.cli", *args]
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        return subprocess.Popen(
            [PYTHON, *command],
            env=dict(env),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=cwd,
        )


def terminate(process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def wait_http(
    url: str,
    process: subprocess.Popen[bytes] | None,
    timeout: float = 120,
    headers: Mapping[str, str] | None = None,
) -> None:
    """Poll `url` until it answers 200; raise if the process dies or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{url}: the process exited with {process.returncode}")
        try:
            request = urllib.request.Request(url, headers=dict(headers or {}))
            with urllib.request.urlopen(request, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer 200 within {timeout:.0f} s")


def fetch_text(url: str, headers: Mapping[str, str] | None = None) -> str:
    request = urllib.request.Request(url, headers=dict(headers or {}))
    with urllib.request.urlopen(request, timeout=5) as response:
        return str(response.read().decode())


_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)$")


def metric_sum(text: str, name: str, labels: Mapping[str, str] | None = None) -> float:
    """Sum of the samples called `name` (labels matching `labels`) in Prometheus text."""
    total = 0.0
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match is None or match.group(1) != name:
            continue
        if labels:
            found = dict(re.findall(r'(\w+)="([^"]*)"', match.group(2) or ""))
            if any(found.get(k) != v for k, v in labels.items()):
                continue
        total += float(match.group(3))
    return total


def histogram_quantile(text: str, name: str, q: float) -> float | None:
    """The `q` quantile of the histogram `name` in Prometheus text, interpolated within
    its bucket as Prometheus's histogram_quantile does (None: no observation)."""
    buckets: list[tuple[float, float]] = []
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match is None or match.group(1) != f"{name}_bucket":
            continue
        bound = dict(re.findall(r'(\w+)="([^"]*)"', match.group(2) or "")).get("le", "+Inf")
        buckets.append((float(bound), float(match.group(3))))
    buckets.sort()
    if not buckets or buckets[-1][1] == 0:
        return None
    rank = q * buckets[-1][1]
    lower, below = 0.0, 0.0
    for upper, count in buckets:
        if count >= rank:
            if upper == float("inf"):
                return lower
            return lower + (upper - lower) * (rank - below) / max(count - below, 1e-9)
        lower, below = upper, count
    return lower


def worker_handled(text: str) -> float:
    """Messages of the events topic the worker is done with: consumed+rejected+duplicates."""
    return (
        metric_sum(text, "supervisor_worker_events_consumed_total")
        + metric_sum(text, "supervisor_worker_events_rejected_total")
        + metric_sum(text, "supervisor_worker_events_duplicate_total")
    )


def issue_token(env: Mapping[str, str], role: str = "inspector") -> str:
    out = subprocess.run(
        [PYTHON, "-m", "supervisor.cli", "token", "issue", "--role", role, "--name", "bench"],
        env=dict(env),
        capture_output=True,
        check=True,
        cwd=ROOT,
    )
    return out.stdout.decode().strip().splitlines()[-1]


def producer(server: str, **options: Any) -> AIOKafkaProducer:
    config: dict[str, Any] = {"acks": "all", "linger_ms": 5, "max_batch_size": 262144}
    config.update(options)
    return AIOKafkaProducer(bootstrap_servers=server, **config)


async def produce_all(
    server: str, topic: str, messages: Iterable[tuple[bytes | None, bytes]], chunk: int = 5000
) -> int:
    """Send every (key, value) and wait until the broker has them all; return the count."""
    sent = 0
    out = producer(server, linger_ms=20)
    await out.start()
    try:
        futures = []
        for key, value in messages:
            futures.append(await out.send(topic, value=value, key=key))
            if len(futures) >= chunk:
                await asyncio.gather(*futures)
                sent += len(futures)
                futures = []
        await asyncio.gather(*futures)
        sent += len(futures)
    finally:
        await out.stop()
    return sent


async def end_offsets(server: str, topic: str) -> dict[int, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=server, group_id=None)
    await consumer.start()
    try:
        parts = consumer.partitions_for_topic(topic) or set()
        if not parts:
            await consumer._client.force_metadata_update()
            parts = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        ends = await consumer.end_offsets(tps)
        return {tp.partition: ends[tp] for tp in tps}
    finally:
        await consumer.stop()


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of `values`; nan when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def summary(values: Sequence[float], unit: float = 1000.0) -> dict[str, float]:
    """count, p50, p90, p99, max (times `unit`: ms by default)."""
    return {
        "count": len(values),
        "p50": percentile(values, 50) * unit,
        "p90": percentile(values, 90) * unit,
        "p99": percentile(values, 99) * unit,
        "max": (max(values) * unit) if values else math.nan,
    }


def fmt(stats: Mapping[str, float], unit: str = "ms") -> str:
    return (
        f"n={int(stats['count'])} p50={stats['p50']:.1f}{unit} p90={stats['p90']:.1f}{unit} "
        f"p99={stats['p99']:.1f}{unit} max={stats['max']:.1f}{unit}"
    )


def save(name: str, result: Mapping[str, Any]) -> Path:
    """Write a run's figures as JSON under bench/results/ (not committed) and return it."""
    folder = ROOT / "bench" / "results"
    folder.mkdir(exist_ok=True)
    path = folder / f"{name}-{time.strftime('%Y%m%dT%H%M%S')}.json"
    path.write_text(json.dumps(result, indent=2, ensure_ascii=False, default=str))
    return path


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (from /proc): a per-event cost
    that other work on the machine changes much less than a wall-clock rate."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load_average() -> str:
    with open("/proc/loadavg") as handle:
        return " ".join(handle.read().split()[:3])


sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]  # progress as it comes
