"""What a worker costs while no event comes: its CPU a second, idle, beside another tree's.

Run on purpose (not in CI), with a broker (see bench/_common.py):

    .venv/bin/python bench/worker_idle.py [--seconds 30] [--rounds 2] [--baseline-tree DIR]

Why: a worker runs all night and all weekend over quiet topics, so what it spends on
nothing (its timers, its fetches that come back empty, its metrics) is paid for hours.
Each round starts the real `supervisor worker` on fresh, empty topics, waits until its
/metrics answers and `--settle` seconds more (start-up and the group join are not
counted), then reads its CPU time (user + system, /proc) over `--seconds`. With
`--baseline-tree` (e.g. a git worktree of an earlier commit) the rounds alternate
between the two trees, this one first, so both columns come from the same minutes.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c


def idle_cpu(tree: Path, server: str, seconds: float, settle: float) -> float:
    """Milliseconds of CPU a second that the worker of checkout `tree` spends idle."""
    run = c.run_id()
    home = Path(tempfile.mkdtemp(prefix=f"bench-idle-{run}-"))
    env = c.run_env(server, run, home)
    settings = c.create_topics(env)
    process = c.spawn(["worker"], env, home / "worker.log", cwd=tree)
    try:
        c.wait_http(f"http://127.0.0.1:{settings.worker_web_port}/metrics", process)
        time.sleep(settle)
        before = c.cpu_seconds(process.pid)
        time.sleep(seconds)
        if process.poll() is not None:
            raise RuntimeError(f"the worker exited with {process.returncode}; see {home}")
        return (c.cpu_seconds(process.pid) - before) / seconds * 1000
    finally:
        c.terminate(process, timeout=15)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--settle", type=float, default=15.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--baseline-tree", type=Path, default=None)
    args = parser.parse_args()

    server = c.bootstrap()
    trees = [("this tree", c.ROOT)]
    if args.baseline_tree is not None:
        trees.append(("baseline", args.baseline_tree.resolve()))
    print(f"load {c.load_average()}")
    for round_ in range(1, args.rounds + 1):
        for label, tree in trees:
            cost = idle_cpu(tree, server, args.seconds, args.settle)
            print(f"round {round_}  {label:<10} {cost:6.1f} ms CPU a second idle ({tree})")


if __name__ == "__main__":
    main()
