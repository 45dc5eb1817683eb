"""How many case events per second the pure engine handles on this machine.

Run on purpose: `.venv/bin/python bench/engine_throughput.py [--cases N] [--repeat N]`.
Prints events/s for each stage over the same input, and each as a ratio to the first
(parsing the JSON alone), because absolute numbers on these shared machines are noisy
and ratios are not:

    parse          json.loads of each line (the floor any Python consumer pays)
    decode         parse + validation into a CaseEvent (what the DLQ decision costs)
    engine         Runner.feed alone on events decoded beforehand: dedupe, state, rules,
                   deadlines. The goal (issue 6: 50,000 events/s on one core) is this.
    decode+engine  decode + Runner.feed (the worker's work minus Kafka and the table)
    +state         decode+engine + the round trip of the case state the Faust table does
                   per event (CaseState.to_json, its JSON codec's dumps and loads,
                   CaseState.from_json)

To compare with another commit in the same run, check it out in a separate worktree and
run this file there too (`git worktree add /tmp/engine-base <commit>`, then
`PYTHONPATH=/tmp/engine-base .venv/bin/python /tmp/engine-base/bench/engine_throughput.py`).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from faust.utils import json as table_json  # the worker's table codec (orjson if installed)

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


def timed(work: Callable[[], object]) -> float:
    """CPU seconds this process spent on `work`: time waiting for a core that another
    process holds (this machine is shared) is not counted, as wall time would."""
    began = time.process_time()
    work()
    return time.process_time() - began


def stages(lines: list[str]) -> dict[str, Callable[[], object]]:
    """The stages, each a function over the whole input (fresh engine and runner each run:
    the calendar's memo starts empty, as in a worker that just started)."""
    events = [decode(line) for line in lines]
    # The input is the benchmark's, not the engine's (a worker holds one message at a
    # time): out of the garbage collector's sight, so its collections cost what they
    # would cost the engine alone (the cases' states, each stage's own garbage).
    gc.collect()
    gc.freeze()

    def parse() -> None:
        for line in lines:
            json.loads(line)

    def decode_all() -> None:
        for line in lines:
            decode(line)

    def feed_only() -> None:
        runner = Runner(engine())
        for event in events:
            runner.feed(event)

    def decode_and_feed() -> None:
        runner = Runner(engine())
        for line in lines:
            runner.feed(decode(line))

    def with_state() -> None:
        runner = Runner(engine())
        for line in lines:
            event = decode(line)
            runner.feed(event)
            state = runner.store[event.case_id]
            runner.store[event.case_id] = CaseState.from_json(
                table_json.loads(table_json.dumps(state.to_json()))
            )

    return {
        "parse": parse,
        "decode": decode_all,
        "engine": feed_only,
        "decode+engine": decode_and_feed,
        "+state": with_state,
    }


def run_rounds(lines: list[str], repeat: int) -> dict[str, float]:
    """Best CPU seconds of each stage. Rounds: every stage once per round, so noise from
    other processes on the machine falls on all stages alike."""
    work = stages(lines)
    best = dict.fromkeys(work, float("inf"))
    for _ in range(repeat):
        for name, run in work.items():
            best[name] = min(best[name], timed(run))
    return best


def in_tree(tree: Path, cases: int) -> dict[str, float]:
    """One round of this file's stages run with the `supervisor` package of another work
    tree (this file and its input stay the same), in a process of its own."""
    out = subprocess.run(
        [sys.executable, __file__, "--cases", str(cases), "--repeat", "1", "--json"],
        env={**os.environ, "PYTHONPATH": str(tree)},
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    seconds: dict[str, float] = json.loads(out.splitlines()[-1])
    return seconds


def report(best: dict[str, float], events: int, goal: float) -> None:
    base = best["parse"]
    for name, seconds in best.items():
        rate = events / seconds
        mark = ""
        if name in ("engine", "decode+engine", "+state"):
            mark = "  meets the goal" if rate >= goal else "  misses the goal"
        print(
            f"  {name:<14} {rate:>10,.0f} events/s   x{seconds / base:6.1f} the parse time"
            f"   {seconds / events * 1e6:7.1f} µs/event{mark}"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=5, help="best of N (default 5)")
    parser.add_argument(
        "--goal", type=float, default=50_000, help="events/s the engine stage should reach"
    )
    parser.add_argument(
        "--compare",
        type=Path,
        metavar="TREE",
        help="also run the stages with the supervisor package of another work tree "
        "(e.g. `git worktree add /tmp/engine-base <commit>`), round by round with this one",
    )
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    lines = make_lines(args.cases)
    if args.json:
        print(json.dumps(run_rounds(lines, args.repeat)))
        return
    if args.compare is None:
        best = run_rounds(lines, args.repeat)
    else:
        here = Path(__file__).resolve().parents[1]
        best = {}
        before: dict[str, float] = {}
        for _ in range(args.repeat):
            for tree, kept in ((here, best), (args.compare, before)):
                for name, seconds in in_tree(tree, args.cases).items():
                    kept[name] = min(kept.get(name, float("inf")), seconds)
    print(
        f"{len(lines)} events, {args.cases} cases "
        f"(CPU time of this process, best of {args.repeat} rounds)"
    )
    report(best, len(lines), args.goal)
    if args.compare is not None:
        print(f"the same stages with {args.compare} (rounds alternating with the above):")
        report(before, len(lines), args.goal)
        print("  this tree against it (its time / this time; parse is the same code in both):")
        for name in best:
            print(f"  {name:<14} x{before[name] / best[name]:5.2f}")
    print(
        f"goal: {args.goal:,.0f} events/s for the engine on one core = "
        f"{len(lines) / args.goal / best['parse']:.1f}x the parse time on this machine now"
    )


if __name__ == "__main__":
    main()
