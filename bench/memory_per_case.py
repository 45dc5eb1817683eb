"""What a worker keeps per open case, with many cases open (issue 6: under 1 KB each).

Run on purpose: `.venv/bin/python bench/memory_per_case.py [--cases 1000000]`. Open cases
(accepted, not concluded) with the simulator's realistic stories (its catalogue of items,
Hechi's centers, departments, staff and windows, applicants, supplements, steps, fees,
suspensions, extensions) go through the engine; then it measures:

(a) the worker's Python memory per open case: the `DueIndex` entry of each case with a
    pending deadline (supervisor/core/runner.py) and, briefly, its `touched` entry
    (supervisor/worker/case_store.py `CaseStore.keep`), each built with case ids of its
    own as the worker's are (decoded from each message). Measured twice in this
    process: with tracemalloc (exact Python allocations) and as growth of the resident
    set (what the kernel sees), each against a baseline built the same way in the same
    run: a dict of the same number of bare keys (fresh case id strings, value None).
(b) the stored case state: the bytes of `CaseState.to_json()` as the Faust table encodes
    it (faust.utils.json, the `json` value serializer; it uses orjson when installed),
    plus its key; and the on-disk size of a RocksDB holding them (rocksdict opened with
    the options of Faust's `rocksdb://` store), after a flush and a full compaction.

Stories are planned by the simulator for a pool of cases (--pool) and reused with new
case and event ids, so a million cases do not wait on the simulator; every case still
goes through `from_document` and `Engine.apply` on its own. Run with a small --cases
first: a million takes minutes and about 2 GB.
"""

from __future__ import annotations

import argparse
import gc
import json
import pickle
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from supervisor.centers import CenterRegistry
from supervisor.core.calendar import CalendarBook
from supervisor.core.engine import Engine
from supervisor.core.events import from_document
from supervisor.core.rules import RuleBook
from supervisor.core.runner import DueIndex
from supervisor.core.state import CaseState
from supervisor.simulate.catalogue import Catalogue
from supervisor.simulate.scenario import Scenario

ROOT = Path(__file__).resolve().parents[1]
CN = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 20, 10, tzinfo=CN)


def rss() -> int:
    """Resident set size of this process, bytes."""
    with open("/proc/self/statm") as status:
        return int(status.read().split()[1]) * 4096


def story_pool(size: int, seed: int) -> list[list[dict[str, Any]]]:
    """Past events of `size` cases open at NOW, as the simulator plans them."""
    scenario = Scenario(random.Random(seed), CenterRegistry.load(), Catalogue.load())
    stories = scenario.backlog_stories(NOW, size)
    return [[dict(event) for event in story.until(NOW)] for story in stories]


def case_ids(count: int, pool: list[list[dict[str, Any]]]) -> list[str]:
    return [f"{pool[n % len(pool)][0]['center_id']}-2026-{n:07d}" for n in range(count)]


def table_codec(stdlib: bool = False) -> tuple[str, Callable[[Any], bytes]]:
    """How the worker's table encodes a value (Faust's `json` codec), and its name; with
    `stdlib`, as that codec does without orjson installed (before issue 6)."""
    from faust.utils import json as faust_json

    if stdlib:
        return "json (Faust's codec without orjson)", lambda value: json.dumps(
            value, separators=(",", ":")
        ).encode()

    def dumps(value: Any) -> bytes:
        body = faust_json.dumps(value)
        return body if isinstance(body, bytes) else body.encode()

    # The orjson module faust.utils.json imported, or None without it: not in its __all__.
    uses_orjson = faust_json.orjson is not None  # type: ignore[attr-defined]
    return ("orjson" if uses_orjson else "json"), dumps


def open_store(path: Path) -> Any:
    from faust.stores.rocksdb import RocksDBOptions

    return RocksDBOptions().open(path)


def directory_size(path: Path) -> int:
    return sum(item.stat().st_size for item in path.rglob("*") if item.is_file())


def measure(build: Callable[[], object]) -> tuple[int, object]:
    """Bytes traced by tracemalloc while `build` runs (what it still holds at the end)."""
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    made = build()
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return after - before, made


def builders(ids: list[str], dues: list[datetime | None]) -> dict[str, Callable[[], object]]:
    """The structures of (a), each built with case id strings of its own."""

    def fresh_keys() -> list[str]:
        return [case_id.encode().decode() for case_id in ids]

    def bare() -> dict[str, None]:
        return dict.fromkeys(fresh_keys())

    def index() -> DueIndex:
        built = DueIndex()
        for case_id, due in zip(fresh_keys(), dues, strict=True):
            built.schedule(case_id, due)
        return built

    def touched() -> dict[str, float]:
        return {case_id: time.monotonic() for case_id in fresh_keys()}

    return {"bare keys": bare, "DueIndex": index, "touched": touched}


def rss_in_fresh_process(ids: list[str], dues: list[datetime | None]) -> dict[str, int]:
    """Growth of the resident set as each structure is built, one on top of the other, in
    a new process that holds nothing else (here, memory freed by the engine's work would
    be reused and hide the growth)."""
    with tempfile.NamedTemporaryFile(suffix=".pickle") as file:
        pickle.dump((ids, dues), file)
        file.flush()
        out = subprocess.run(
            [sys.executable, __file__, "--rss-child", file.name],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    grown: dict[str, int] = json.loads(out)
    return grown


def rss_child(path: str) -> None:
    with open(path, "rb") as file:
        ids, dues = pickle.load(file)
    grown, held = {}, []
    for name, build in builders(ids, dues).items():
        gc.collect()
        before = rss()
        held.append(build())
        grown[name] = rss() - before
    print(json.dumps(grown))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--pool", type=int, default=5_000, help="stories planned by the simulator")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--no-rocksdb", action="store_true", help="skip the on-disk figure")
    parser.add_argument(
        "--stdlib-json",
        action="store_true",
        help="encode as Faust does without orjson (the figure before orjson was a dependency)",
    )
    parser.add_argument("--rss-child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rss_child:
        rss_child(args.rss_child)
        return

    began = time.monotonic()
    pool = story_pool(args.pool, args.seed)
    engine = Engine(
        RuleBook.load(ROOT / "rules"),
        CalendarBook.load(ROOT / "rules" / "calendar"),
        CenterRegistry.load().name,
    )
    codec, dumps = table_codec(args.stdlib_json)
    workdir = Path(tempfile.mkdtemp(prefix="memory-per-case-"))
    store = None if args.no_rocksdb else open_store(workdir / "cases")
    ids = case_ids(args.cases, pool)
    dues: list[datetime | None] = []
    sizes: list[int] = []
    events = 0
    rng = random.Random(args.seed)
    for n, case_id in enumerate(ids):
        state: CaseState | None = None
        for document in pool[n % len(pool)]:
            fresh = {**document, "case_id": case_id, "event_id": f"{rng.getrandbits(128):032x}"}
            state = engine.apply(state, from_document(fresh)).state
            events += 1
        assert state is not None and state.status == "open"
        dues.append(engine.next_due(state))
        key = json.dumps(case_id).encode()
        value = dumps(state.to_json())
        sizes.append(len(key) + len(value))
        if store is not None:
            store.put(key, value)
        if n and n % 200_000 == 0:
            print(f"  … {n:,} cases ({time.monotonic() - began:.0f} s)", flush=True)
    on_disk = None
    if store is not None:
        store.flush()
        store.compact_range(None, None)
        store.close()
        on_disk = directory_size(workdir / "cases")
    shutil.rmtree(workdir, ignore_errors=True)
    pending = sum(due is not None for due in dues)
    print(
        f"{args.cases:,} open cases ({events:,} events, {pending:,} with a pending deadline), "
        f"stories from a pool of {len(pool):,}, {time.monotonic() - began:.0f} s"
    )

    # (a) in Python memory: the index and touched entries, each with its own key strings
    traced = {name: measure(build)[0] for name, build in builders(ids, dues).items()}
    grown = rss_in_fresh_process(ids, dues)

    per = args.cases
    print("(a) Python memory per open case (bytes; goal: under 1,024 in all)")
    print(f"  {'':<24} {'tracemalloc':>12} {'RSS growth':>12} {'× bare keys':>12}")
    for name in ("bare keys", "DueIndex", "touched"):
        print(
            f"  {name:<24} {traced[name] / per:>12,.0f} {grown[name] / per:>12,.0f}"
            f" {traced[name] / traced['bare keys']:>12.2f}"
        )
    both = traced["DueIndex"] + traced["touched"]
    print(
        f"  {'DueIndex + touched':<24} {both / per:>12,.0f}"
        f" {(grown['DueIndex'] + grown['touched']) / per:>12,.0f}"
        f" {both / traced['bare keys']:>12.2f}"
    )
    distinct = {id(due): due for due in dues if due is not None}
    print(
        f"  + the due instants the index holds: {len(distinct):,} distinct objects for "
        f"{pending:,} cases, "
        f"{sum(map(sys.getsizeof, distinct.values())) / per:,.1f} B per case (the "
        "engine's calendar memo gives every case accepted on one day with one limit the "
        "same object; not counted above, as they existed before)"
    )
    print(f"(b) stored case state per open case (key + value as the table encodes it: {codec})")
    print(
        f"  mean {statistics.fmean(sizes):,.0f} B, median {statistics.median(sizes):,.0f}, "
        f"p95 {sorted(sizes)[int(len(sizes) * 0.95)]:,}, max {max(sizes):,}"
    )
    if on_disk is not None:
        print(
            f"  RocksDB on disk (Faust's options, flushed and compacted): "
            f"{on_disk / per:,.0f} B per case ({on_disk / 2**20:,.1f} MiB in all)"
        )


if __name__ == "__main__":
    main()
