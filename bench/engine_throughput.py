"""How many case events per second the pure engine handles on this machine.

Run on purpose: `.venv/bin/python bench/engine_throughput.py [--cases N]`. Prints events/s
for three stages over the same input, and each as a ratio to the first (parsing the JSON
alone), because absolute numbers on these shared machines are noisy and ratios are not:

    parse     json.loads of each line (the floor any Python consumer pays)
    decode    parse + validation into a CaseEvent (what the DLQ decision costs)
    engine    decode + Runner.feed: dedupe, state, rules, deadlines (the worker's work
              minus Kafka and the table's serialisation)
    +state    engine + the JSON round trip of the case state the Faust table does
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from supervisor.core.calendar import WorkCalendar
from supervisor.core.engine import Engine
from supervisor.core.events import decode
from supervisor.core.rules import RuleBook
from supervisor.core.runner import Runner
from supervisor.core.state import CaseState

ROOT = Path(__file__).resolve().parents[1]
CN = ZoneInfo("Asia/Shanghai")


def make_lines(cases: int, seed: int = 7) -> list[str]:
    """Typical case stories (≈8 events each), interleaved across cases in time order."""
    rng = random.Random(seed)
    start = datetime(2026, 9, 1, 9, tzinfo=CN)
    events: list[tuple[datetime, dict[str, object]]] = []
    for n in range(cases):
        case, center = f"451221-2026-{n:07d}", rng.choice(["451200", "451221", "451224103"])
        t = start + timedelta(minutes=rng.randrange(0, 60 * 24 * 60))
        steps: list[tuple[str, dict[str, object]]] = [
            ("submitted", {}),
            (
                "accepted",
                {
                    "item_code": "X",
                    "item_name": "许可",
                    "fee_standard": 0,
                    "promised_limit": {"value": rng.choice([3, 5, 10]), "unit": "working_day"},
                    "statutory_limit": {"value": 20, "unit": "working_day"},
                    "required_steps": ["review"],
                },
            ),
            ("step_completed", {"step": "review"}),
            ("decided", {"outcome": "approve", "legal_basis": "行政许可法"}),
            ("concluded", {}),
            ("delivered", {}),
            ("evaluated", {"level": rng.randint(1, 5)}),
        ]
        if rng.random() < 0.1:
            steps.insert(1, ("supplement_requested", {"missing_materials": ["a"]}))
        for i, (kind, payload) in enumerate(steps):
            t += timedelta(hours=rng.randrange(1, 30))
            doc: dict[str, object] = {
                "schema_version": "1",
                "event_id": f"{case}-{i}",
                "case_id": case,
                "center_id": center,
                "type": kind,
                "occurred_at": t.isoformat(timespec="seconds"),
            }
            if payload:
                doc["payload"] = payload
            events.append((t, doc))
    events.sort(key=lambda pair: pair[0])
    return [json.dumps(doc, ensure_ascii=False) for _, doc in events]


def engine() -> Engine:
    return Engine(RuleBook.load(ROOT / "rules"), WorkCalendar("Asia/Shanghai"))


def timed(work: Callable[[], object], repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        began = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - began)
    return best


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=5000)
    args = parser.parse_args()
    lines = make_lines(args.cases)

    def parse() -> None:
        for line in lines:
            json.loads(line)

    def decode_all() -> None:
        for line in lines:
            decode(line)

    def run_engine() -> None:
        runner = Runner(engine())
        for line in lines:
            runner.feed(decode(line))

    def run_engine_with_state() -> None:
        runner = Runner(engine())
        for line in lines:
            event = decode(line)
            runner.feed(event)
            state = runner.store[event.case_id]
            runner.store[event.case_id] = CaseState.from_json(
                json.loads(json.dumps(state.to_json()))
            )

    results = [
        ("parse", timed(parse)),
        ("decode", timed(decode_all)),
        ("engine", timed(run_engine)),
        ("+state", timed(run_engine_with_state)),
    ]
    base = results[0][1]
    print(f"{len(lines)} events, {args.cases} cases (best of 3)")
    for name, seconds in results:
        print(
            f"  {name:<8} {len(lines) / seconds:>10,.0f} events/s"
            f"   x{seconds / base:6.1f} the parse time"
        )


if __name__ == "__main__":
    main()
