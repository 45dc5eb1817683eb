"""A worker catching up a large backlog raises what `supervisor replay` raises.

Run on purpose (not in CI), with a broker (see bench/_common.py):

    .venv/bin/python bench/catch_up_parity.py [--stories 15000] [--seed 7]

125,000 stories make about a million events.

The simulator's stories of Hechi's centers (normal, late and irregular), planned over
five weeks before the worker's clock start by tests/integration/test_replay_parity.py,
every event before that clock, cases whose deadline would fall within an hour after it
left out (their timers would race the comparison). All of it is produced to a fresh
topic before a fresh worker starts (a backlog), and the same events go through the real
`supervisor replay --until <clock start>`. Compared: the alerts a consumer of the alerts
topic still shows against replay's, by id and field by field; and the catch-up rate (the
events over the time from the worker's start to its last one consumed, start-up
included).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import _common as c

from tests.integration import test_replay_parity as parity


def clear_of_the_clock(events: list[dict[str, object]]) -> list[dict[str, object]]:
    """Without the cases that have a deadline within MARGIN after the clock start."""
    _, pending = parity.reference_timers(events)
    racing = {
        ident.split(":", 1)[1] for ident, due in pending if due < parity.CLOCK + parity.MARGIN
    }
    return [e for e in events if e["case_id"] not in racing]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stories", type=int, default=15_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    server = c.bootstrap()
    events = clear_of_the_clock(parity.simulated_events(args.seed, args.stories, backlog=0))
    lines = [json.dumps(e, ensure_ascii=False) for e in events]
    home = Path(tempfile.mkdtemp(prefix="bench-catch-up-"))
    print(f"{len(lines):,} events of {len({e['case_id'] for e in events}):,} cases; {home}")
    began = time.perf_counter()
    # Neither replay nor the worker is slower than 1,000 events/s: a wait beyond that is a hang.
    wait = max(180.0, len(lines) / 1_000)
    replayed, _ = parity.through_replay(parity.write_lines(home / "events.jsonl", lines), wait)
    replay_seconds = time.perf_counter() - began
    print(f"replay: {replay_seconds:.1f} s, {len(replayed.standing):,} alerts")
    began = time.perf_counter()
    kafka = asyncio.run(
        # Looked at once a second: every look reads the worker's /metrics page, and five
        # looks a second of three pages each took a quarter of its CPU (bench/RESULTS.md).
        parity.through_kafka(
            server, home / "worker", lines, "catch-up", backlog=True, wait=wait, every=1.0
        )
    )
    print(f"worker: {time.perf_counter() - began:.1f} s in all (backlog produced first)")
    replay_rate = len(lines) / replay_seconds
    worker_rate = len(lines) / kafka.consumed_seconds
    print(
        f"catch-up {worker_rate:,.0f} events/s (the worker's start to its last event "
        f"consumed), replay {replay_rate:,.0f} events/s (the command's start to its end): "
        f"worker / replay {worker_rate / replay_rate:.2f}"
    )
    problems = parity.differences(kafka.standing, replayed.standing)
    print(f"{len(kafka.standing):,} alerts standing on the topic, {len(problems)} differences")
    for problem in problems[:20]:
        print("  " + problem)
    c.save(
        "catch_up_parity",
        {
            "events": len(lines),
            "alerts": len(replayed.standing),
            "differences": len(problems),
            "replay_events_per_second": round(replay_rate),
            "catch_up_events_per_second": round(worker_rate),
            "records": kafka.records,
        },
    )


if __name__ == "__main__":
    main()
