"""Deadline lateness: 100,000 deadlines falling due within one minute, alert time - deadline.

Run on purpose (not in CI), with a broker (see bench/_common.py):

    .venv/bin/python bench/deadline_lateness.py [--cases 100000] [--window 60]

One run, fresh topics, a real worker process (`bench/_worker.py`: the worker exactly as
`supervisor worker --clock-start` runs it, except that its clock is held at the start
instant until the benchmark releases it, then runs in real time; so loading the cases
takes what it takes and no deadline falls due meanwhile, and wall time maps back to the
worker's clock exactly: worker time = start + (wall time - release)).

- Cases: each gets `submitted` and `accepted` on Wednesday 2026-11-25 10:00 with a
  promised limit of 1 + k/86400 working days: the day of acceptance is not counted, so
  the deadline is Thursday 24:00 (Friday 00:00) + k seconds; k spreads the cases evenly
  over `--window` seconds (about 1,667 deadlines a second for 100,000 in a minute).
  `deadline.warning` is switched off in a copy of the rules (it would fall on Thursday
  19:12, before the clock starts, and fire 100,000 times during the load instead);
  every other rule is on.
- Baseline, same run: one case alone whose deadline falls `--lead`/2 seconds before the
  storm (the lateness of a single deadline: tick interval + one pass of the pipeline).
- Lateness of an alert = (its Kafka timestamp, the worker's producer's create time,
  mapped to the worker's clock) - its `raised_at` (the deadline). Also reported with the
  time a bare consumer received it instead of the Kafka timestamp.

Goal (issue 6): p99 < 1 s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c
from aiokafka import AIOKafkaConsumer

from supervisor.settings import Settings

CN = ZoneInfo("Asia/Shanghai")
CENTER = "451221"
ACCEPTED_AT = datetime(2026, 11, 25, 10, 0, tzinfo=CN)  # a Wednesday; Thu and Fri work
STORM = datetime(2026, 11, 27, 0, 0, tzinfo=CN)  # Thursday 24:00: the 1st working day ends


def rules_without_warning(home: Path) -> Path:
    target = home / "rules"
    shutil.copytree(c.ROOT / "rules", target)
    canonical = target / "canonical.yaml"
    text = canonical.read_text()
    marker = "  - id: deadline.warning\n"
    assert marker in text
    canonical.write_text(text.replace(marker, marker + "    enabled: false\n", 1))
    return target


def case_events(case: str, limit_days: float) -> list[tuple[bytes, bytes]]:
    base: dict[str, Any] = {
        "schema_version": "1",
        "case_id": case,
        "center_id": CENTER,
        "staff_id": "bench-1",
        "department": "南丹县市场监督管理局",
    }
    submitted = {
        **base,
        "event_id": f"{case}-0",
        "type": "submitted",
        "occurred_at": (ACCEPTED_AT - timedelta(minutes=10)).isoformat(),
    }
    accepted = {
        **base,
        "event_id": f"{case}-1",
        "type": "accepted",
        "occurred_at": ACCEPTED_AT.isoformat(),
        "payload": {
            "item_code": "451221-XK-0042",
            "item_name": "食品经营许可（新办）",
            "promised_limit": {"value": limit_days, "unit": "working_day"},
            "statutory_limit": {"value": 20, "unit": "working_day"},
            "immediate": False,
            "fee_standard": 0,
            "required_steps": ["review"],
        },
    }
    key = case.encode()
    return [(key, json.dumps(doc, ensure_ascii=False).encode()) for doc in (submitted, accepted)]


async def collect(
    server: str, topic: str, expected: int, stop_at: float
) -> list[tuple[dict[str, Any], float, float]]:
    """(alert, Kafka timestamp, receive time) of each deadline.overdue alert."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=server, group_id=None, auto_offset_reset="earliest"
    )
    await consumer.start()
    got: list[tuple[dict[str, Any], float, float]] = []
    try:
        while len(got) < expected and time.time() < stop_at:
            batches = await consumer.getmany(timeout_ms=500)
            now = time.time()
            for records in batches.values():
                for record in records:
                    alert = json.loads(record.value)
                    if alert.get("rule_id") == "deadline.overdue":
                        got.append((alert, record.timestamp / 1000, now))
    finally:
        await consumer.stop()
    return got


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--window", type=int, default=60, help="seconds the deadlines span")
    parser.add_argument("--lead", type=int, default=30, help="seconds from release to storm")
    parser.add_argument(
        "--tick", type=float, default=None, help="SUPERVISOR_TICK_SECONDS (default: the setting's)"
    )
    args = parser.parse_args()

    server = c.bootstrap()
    run = c.run_id()
    home = Path(tempfile.mkdtemp(prefix=f"bench-deadlines-{run}-"))
    env = c.run_env(
        server,
        run,
        home,
        SUPERVISOR_RULES_DIR=str(rules_without_warning(home)),
    )
    if args.tick is not None:
        env["SUPERVISOR_TICK_SECONDS"] = str(args.tick)
    settings: Settings = c.create_topics(env)
    args.tick = settings.tick_seconds
    start = STORM - timedelta(seconds=args.lead)
    messages: list[tuple[bytes, bytes]] = []
    baseline_case = f"{CENTER}-2026-B{run[:6]}"
    messages += case_events(baseline_case, 1 - (args.lead / 2) / 86400)
    for n in range(args.cases):
        offset = (args.window * n) // args.cases  # whole seconds: raised_at is to the second
        messages += case_events(f"{CENTER}-2026-{n:07d}", 1 + offset / 86400)
    began = time.perf_counter()
    asyncio.run(c.produce_all(server, settings.topic_events, messages))
    print(
        f"run {run}: {len(messages)} events produced in {time.perf_counter() - began:.1f} s; "
        f"load {c.load_average()}; logs in {home}"
    )

    release_file = home / "release"
    worker = c.spawn(
        [str(c.ROOT / "bench" / "_worker.py"), start.isoformat(), str(release_file)],
        env,
        home / "worker.log",
    )
    try:
        metrics = f"http://127.0.0.1:{settings.worker_web_port}/metrics"
        c.wait_http(f"http://127.0.0.1:{settings.worker_web_port}/healthz", worker, timeout=300)
        began = time.perf_counter()
        handled = 0.0
        while handled < len(messages):
            if worker.poll() is not None:
                raise RuntimeError(f"the worker exited; see {home / 'worker.log'}")
            time.sleep(2)
            handled = c.worker_handled(c.fetch_text(metrics))
        load_seconds = time.perf_counter() - began
        print(
            f"loaded: {len(messages)} events applied in {load_seconds:.1f} s "
            f"({len(messages) / load_seconds:.0f}/s), clock held at {start.isoformat()}"
        )
        release = time.time() + 1.0
        release_file.write_text(repr(release))
        expected = args.cases + 1
        stop_at = release + args.lead + args.window + 600
        alerts = asyncio.run(collect(server, settings.topic_alerts, expected, stop_at))
    finally:
        c.terminate(worker)

    def lateness(alert: dict[str, Any], wall: float) -> float:
        worker_time = start + timedelta(seconds=wall - release)
        return (worker_time - datetime.fromisoformat(alert["raised_at"])).total_seconds()

    base = [
        (lateness(a, ts), lateness(a, rx)) for a, ts, rx in alerts if a["case_id"] == baseline_case
    ]
    storm = [
        (lateness(a, ts), lateness(a, rx)) for a, ts, rx in alerts if a["case_id"] != baseline_case
    ]
    print(
        f"alerts received: {len(storm)} of {args.cases} storm deadlines, {len(base)} of 1 baseline"
    )
    by_ts = c.summary([x for x, _ in storm])
    by_rx = c.summary([y for _, y in storm])
    if base:
        print(
            f"baseline (one deadline alone): {base[0][0] * 1000:.0f} ms "
            f"(received {base[0][1] * 1000:.0f} ms); tick interval {args.tick * 1000:.0f} ms"
        )
    print(f"storm, by Kafka timestamp: {c.fmt(by_ts)}")
    print(f"storm, by receive time:    {c.fmt(by_rx)}")
    if storm:
        last_alert = max(ts for a, ts, _ in alerts)
        span = last_alert - (release + args.lead)
        print(
            f"alerts published over {span:.1f} s for a {args.window} s window "
            f"({len(storm) / max(span, 1e-9):.0f} alerts/s)"
        )
    p99 = by_ts["p99"]
    verdict = "met" if len(storm) == args.cases and p99 < 1000 else "MISSED"
    print(
        f"p99 {p99:.0f} ms (goal < 1000 ms: {verdict})"
        + (f"; x{p99 / (base[0][0] * 1000):.1f} the single deadline's lateness" if base else "")
    )
    path = c.save(
        "deadline_lateness",
        {
            "run": run,
            "cases": args.cases,
            "window": args.window,
            "tick": args.tick,
            "load_seconds": load_seconds,
            "baseline": base,
            "storm_by_timestamp": by_ts,
            "storm_by_receive": by_rx,
        },
    )
    print(f"figures saved in {path}")


if __name__ == "__main__":
    main()
