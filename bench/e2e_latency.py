"""End-to-end latency: a case event produced -> its alert received on a WebSocket client.

Run on purpose (not in CI), with a broker (see bench/_common.py):

    .venv/bin/python bench/e2e_latency.py [--rate 1000] [--seconds 20]

One run starts a real `supervisor worker` and a real `supervisor web` on fresh topics,
issues an inspector's token (`supervisor token issue`, SUPERVISOR_TOKENS_FILE in the run's
directory) and opens `/ws/alerts?token=...`. Warm-up: rate x seconds cases get their
`submitted` and `accepted` (fee standard 10 yuan), and the run waits until the worker has
applied them all. Measurement: one `fee_charged` of 50 yuan per case, produced steadily
at `--rate` events/s; each raises `fee.overcharge` at once. Latency = time the alert's
message arrives on the socket - time its event was handed to the producer (one clock:
the same process). Goal (issue 6): p99 < 250 ms at 1,000 events/s.

Baseline, in the same run and process: the same producer at the same rate into a fresh
topic with the same partition count, read by a bare AIOKafkaConsumer; latency = receive
- send. It is the floor any Kafka pipeline pays here (and shows how loaded the machine is).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c
from aiokafka import AIOKafkaConsumer

from supervisor.kafka.admin import ensure_topics
from supervisor.settings import Settings

CN = ZoneInfo("Asia/Shanghai")
CENTER = "451221"


def case_id(run: str, n: int) -> str:
    return f"{CENTER}-2026-{run[:3]}{n:06d}"


def event(case: str, n: int, kind: str, at: datetime, payload: dict[str, Any] | None) -> bytes:
    doc: dict[str, Any] = {
        "schema_version": "1",
        "event_id": f"{case}-{n}",
        "case_id": case,
        "center_id": CENTER,
        "type": kind,
        "occurred_at": at.isoformat(timespec="seconds"),
        "staff_id": "bench-1",
        "department": "南丹县市场监督管理局",
    }
    if payload is not None:
        doc["payload"] = payload
    return json.dumps(doc, ensure_ascii=False).encode()


ACCEPTED = {
    "item_code": "451221-XK-0042",
    "item_name": "食品经营许可（新办）",
    "promised_limit": {"value": 5, "unit": "working_day"},
    "statutory_limit": {"value": 20, "unit": "working_day"},
    "immediate": False,
    "fee_standard": 10,
    "required_steps": ["review"],
}


async def paced(
    server: str,
    topic: str,
    items: list[tuple[str, bytes]],
    rate: float,
    sent: dict[Any, float],
    label: Callable[[str, bytes], Any] = lambda key, value: key,
) -> float:
    """Produce `items` (key, value) steadily at `rate`/s, recording the first send time of
    each item's `label` (by default its key); return the rate achieved."""
    out = c.producer(server, linger_ms=0)
    await out.start()
    loop = asyncio.get_running_loop()
    futures = []
    try:
        began = loop.time()
        for i, (key, value) in enumerate(items):
            due = began + i / rate
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            sent.setdefault(label(key, value), time.time())
            futures.append(await out.send(topic, key=key.encode(), value=value))
        elapsed = loop.time() - began
        await asyncio.gather(*futures)
    finally:
        await out.stop()
    return len(items) / elapsed if elapsed > 0 else float("nan")


async def baseline(
    server: str, run: str, partitions: int, rate: float, count: int
) -> dict[str, Any]:
    topic = f"bench-baseline-{run}"
    await ensure_topics(server, {topic: partitions})
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=server, group_id=f"bench-base-{run}", auto_offset_reset="earliest"
    )
    await consumer.start()
    while not consumer.assignment():
        await consumer.getmany(timeout_ms=200)
    sent: dict[str, float] = {}
    latencies: list[float] = []

    async def read() -> None:
        while len(latencies) < count:
            batches = await consumer.getmany(timeout_ms=500)
            now = time.time()
            for records in batches.values():
                for record in records:
                    latencies.append(now - sent[record.key.decode()])

    reader = asyncio.create_task(read())
    items = [(f"k{n}", b'{"payload":"x"}' + b" " * 400) for n in range(count)]
    achieved = await paced(server, topic, items, rate, sent)
    await asyncio.wait_for(reader, 60)
    await consumer.stop()
    return {"rate": achieved, "latency": c.summary(latencies)}


async def measure(
    server: str,
    settings: Settings,
    ws_url: str,
    run: str,
    rate: float,
    count: int,
    handled: Callable[[], float],
    cpu: Callable[[], float],
) -> dict[str, Any]:
    from websockets.asyncio.client import connect

    now = datetime.now(CN)
    accepted_at = now - timedelta(minutes=10)
    warm = []
    for n in range(count):
        case = case_id(run, n)
        warm.append(
            (case.encode(), event(case, 0, "submitted", accepted_at - timedelta(minutes=5), None))
        )
        warm.append((case.encode(), event(case, 1, "accepted", accepted_at, ACCEPTED)))
    began = time.perf_counter()
    await c.produce_all(server, settings.topic_events, warm)
    while handled() < len(warm):
        await asyncio.sleep(0.5)
    print(
        f"warm-up: {len(warm)} events applied in {time.perf_counter() - began:.1f} s; "
        f"worker CPU {cpu() / len(warm) * 1000:.3f} ms an event"
    )
    cpu_before = cpu()

    sent: dict[str, float] = {}
    latencies: list[float] = []
    other: dict[str, int] = {}
    async with connect(ws_url, max_queue=None) as socket:
        first = json.loads(await socket.recv())
        assert first["type"] == "snapshot", first

        async def read() -> None:
            while len(latencies) < count:
                message = json.loads(await socket.recv())
                at = time.time()
                alert = message.get("alert") or {}
                if message.get("type") == "alert" and alert.get("rule_id") == "fee.overcharge":
                    latencies.append(at - sent[alert["case_id"]])
                else:
                    rule = f"{message.get('type')}:{alert.get('rule_id')}"
                    other[rule] = other.get(rule, 0) + 1

        reader = asyncio.create_task(read())
        charged = now - timedelta(seconds=2)
        items = [
            (case, event(case, 2, "fee_charged", charged, {"amount": 50, "currency": "CNY"}))
            for case in (case_id(run, n) for n in range(count))
        ]
        achieved = await paced(server, settings.topic_events, items, rate, sent)
        try:
            await asyncio.wait_for(reader, 120)
        except TimeoutError:
            print(f"only {len(latencies)} of {count} alerts arrived within 2 minutes")
    # (includes the worker's own timers and metrics over the run: a slight overestimate)
    cpu_ms = (cpu() - cpu_before) / count * 1000
    print(f"worker CPU per alert-raising event: {cpu_ms:.3f} ms")
    return {
        "rate": achieved,
        "latency": c.summary(latencies),
        "other_messages": other,
        "worker_cpu_ms_per_event": cpu_ms,
    }


def raised_by(case: str, at: str) -> tuple[str, float]:
    """What ties an alert to the event that raised it: its case and its `raised_at`, the
    event time at which the condition became true (contract section 3), as an instant."""
    return case, datetime.fromisoformat(at).timestamp()


async def measure_mix(
    server: str,
    settings: Settings,
    ws_url: str,
    rate: float,
    count: int,
    seed: int,
    handled: Callable[[], float],
    cpu: Callable[[], float],
) -> dict[str, Any]:
    """The realistic mix of bench/pipeline_throughput.py, produced at `rate` from the
    first event on (no warm-up: cases begin as the stream goes). Measured: the alerts an
    event raised, i.e. whose (case_id, raised_at) is an event's (case_id, occurred_at),
    from that event's first send to the alert on the socket. Not measured, only counted:
    deadline alerts (raised_at is the deadline; their lateness is
    bench/deadline_lateness.py's), fired by the timer or inside a later event."""
    from pipeline_throughput import event_mix, realistic_events
    from websockets.asyncio.client import connect

    items = [(key.decode(), value) for key, value in realistic_events(count, seed)]
    print("mix:", event_mix([(key.encode(), value) for key, value in items]))

    def label(key: str, value: bytes) -> tuple[str, float]:
        return raised_by(key, json.loads(value)["occurred_at"])

    sent: dict[Any, float] = {}
    latencies: list[float] = []
    by_rule: dict[str, list[float]] = {}
    timeline: list[tuple[float, float]] = []  # (sent, latency)
    others: dict[str, int] = {}
    cpu_before = cpu()
    async with connect(ws_url, max_queue=None) as socket:
        first = json.loads(await socket.recv())
        assert first["type"] == "snapshot", first
        producing = True

        async def read() -> None:
            quiet_since = None
            while True:
                try:
                    message = json.loads(await asyncio.wait_for(socket.recv(), 1.0))
                except TimeoutError:
                    message = {}
                at = time.time()
                alert = message.get("alert") or {}
                if message.get("type") == "alert":
                    tied = sent.get(raised_by(alert["case_id"], alert["raised_at"]))
                    if tied is not None:
                        latencies.append(at - tied)
                        by_rule.setdefault(alert["rule_id"], []).append(at - tied)
                        timeline.append((tied, at - tied))
                    else:
                        others[alert["rule_id"]] = others.get(alert["rule_id"], 0) + 1
                # done once every event is applied and the socket has been quiet for 3 s
                # (the worker's /metrics is read only then: a page costs it ~20 ms)
                if producing or message:
                    quiet_since = None
                elif quiet_since is None:
                    quiet_since = at if handled() >= len(items) else None
                elif at - quiet_since >= 3:
                    return

        reader = asyncio.create_task(read())
        achieved = await paced(server, settings.topic_events, items, rate, sent, label)
        producing = False
        await asyncio.wait_for(reader, 300)
    cpu_ms = (cpu() - cpu_before) / len(items) * 1000
    print(f"worker CPU per event of the mix: {cpu_ms:.3f} ms")
    for rule, values in sorted(by_rule.items()):
        print(f"  {rule}: {c.fmt(c.summary(values))}")
    if timeline:  # where in the run the latency builds up: the worst of each 5 s
        start = min(sent.values())
        worst: dict[int, float] = {}
        for at, latency in timeline:
            window = int((at - start) // 5)
            worst[window] = max(worst.get(window, 0.0), latency)
        print(
            "  worst latency per 5 s of sending: "
            + " ".join(f"{w * 5}s:{worst[w] * 1000:.0f}ms" for w in sorted(worst))
        )
    return {
        "rate": achieved,
        "latency": c.summary(latencies),
        "other_messages": {f"alert:{rule}": n for rule, n in sorted(others.items())},
        "worker_cpu_ms_per_event": cpu_ms,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument(
        "--mix",
        choices=["overcharge", "realistic"],
        default="overcharge",
        help="overcharge: every event raises an alert (the worst case); realistic: the "
        "simulator's mix, about 4%% of events raise one",
    )
    parser.add_argument("--seed", type=int, default=7, help="of the realistic mix")
    parser.add_argument(
        "--workers", type=int, default=1, help="workers in the consumer group (scale-out)"
    )
    args = parser.parse_args()
    count = int(args.rate * args.seconds)

    server = c.bootstrap()
    run = c.run_id()
    home = Path(tempfile.mkdtemp(prefix=f"bench-e2e-{run}-"))
    env = c.run_env(server, run, home)
    settings = c.create_topics(env)
    token = c.issue_token(env)
    ops_token = c.issue_token(env, "ops")  # for the web service's /metrics
    # one consumer group; each worker with its own web port and state directory
    ports = [settings.worker_web_port] + [c.free_port() for _ in range(args.workers - 1)]
    workers = [
        c.spawn(
            ["worker"],
            {
                **env,
                "SUPERVISOR_WORKER_WEB_PORT": str(port),
                "SUPERVISOR_DATA_DIR": str(home / f"data-{n}"),
            },
            home / f"worker-{n}.log",
        )
        for n, port in enumerate(ports)
    ]
    web = c.spawn(["web"], env, home / "web.log")
    try:
        for port, worker in zip(ports, workers, strict=True):
            c.wait_http(f"http://127.0.0.1:{port}/healthz", worker)
        c.wait_http(f"http://127.0.0.1:{settings.web_port}/healthz", web)
        print(
            f"run {run}: {len(workers)} worker(s) and web ready; load {c.load_average()}; "
            f"logs in {home}"
        )

        def handled() -> float:
            return sum(
                c.worker_handled(c.fetch_text(f"http://127.0.0.1:{port}/metrics")) for port in ports
            )

        base = asyncio.run(baseline(server, run, settings.partitions, args.rate, count))
        print(
            f"baseline (produce -> bare aiokafka consumer) at {base['rate']:.0f}/s: "
            f"{c.fmt(base['latency'])}"
        )
        ws_url = f"ws://127.0.0.1:{settings.web_port}/ws/alerts?token={token}"
        began_cpu = sum(c.cpu_seconds(worker.pid) for worker in workers)

        def cpu() -> float:  # the workers' CPU seconds since the warm-up began
            return sum(c.cpu_seconds(worker.pid) for worker in workers) - began_cpu

        web_began = c.cpu_seconds(web.pid)
        if args.mix == "realistic":
            full = asyncio.run(
                measure_mix(server, settings, ws_url, args.rate, count, args.seed, handled, cpu)
            )
        else:
            full = asyncio.run(
                measure(server, settings, ws_url, run, args.rate, count, handled, cpu)
            )
        # the web service's share of the two cores: it projects the events, facts and alerts
        full["web_cpu_ms_per_event"] = (c.cpu_seconds(web.pid) - web_began) / count * 1000
        print(f"web service CPU per event: {full['web_cpu_ms_per_event']:.3f} ms")
        # the worker's part: event's Kafka timestamp -> its alert acknowledged (histogram)
        texts = [c.fetch_text(f"http://127.0.0.1:{port}/metrics") for port in ports]
        name = "supervisor_worker_ingest_to_alert_seconds"
        worker_part = {
            f"p{round(q * 100)}": [c.histogram_quantile(t, name, q) for t in texts]
            for q in (0.5, 0.99)
        }
        full["worker_ingest_to_alert_s"] = worker_part
        print(f"worker's part (event -> alert acknowledged, its histogram): {worker_part}")
        # the web service's part: the alert's Kafka timestamp -> pushed to the sockets
        web_text = c.fetch_text(
            f"http://127.0.0.1:{settings.web_port}/metrics",
            {"Authorization": f"Bearer {ops_token}"},
        )
        name = "supervisor_web_alert_push_delay_seconds"
        web_part = {
            f"p{round(q * 100)}": c.histogram_quantile(web_text, name, q) for q in (0.5, 0.99)
        }
        full["web_alert_to_push_s"] = web_part
        print(f"web service's part (alert produced -> pushed, its histogram): {web_part}")
        print(f"event -> alert on the WebSocket at {full['rate']:.0f}/s: {c.fmt(full['latency'])}")
        if full["other_messages"]:
            print(f"  other messages on the socket: {full['other_messages']}")
        p99 = full["latency"]["p99"]
        ratio = p99 / base["latency"]["p99"]
        print(
            f"p99 {p99:.1f} ms (goal < 250 ms: {'met' if p99 < 250 else 'MISSED'}); "
            f"x{ratio:.1f} the baseline's p99, "
            f"p50 x{full['latency']['p50'] / base['latency']['p50']:.1f} the baseline's p50"
        )
        path = c.save(
            "e2e_latency",
            {
                "run": run,
                "rate": args.rate,
                "mix": args.mix,
                "workers": args.workers,
                "count": count,
                "baseline": base,
                "full": full,
            },
        )
        print(f"figures saved in {path}")
    finally:
        c.terminate(web)
        for worker in workers:
            c.terminate(worker)


if __name__ == "__main__":
    main()
