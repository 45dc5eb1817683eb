"""What the web service's in-memory alert journal costs as it fills up.

Run on purpose: `.venv/bin/python bench/web_journal.py [--alerts 100000]`. The web
service keeps up to 100,000 alerts (`Journal.keep`) and answers from memory: the list
API (`/api/alerts`), the snapshot every WebSocket client gets on connect, the headline
metrics. Each figure is printed for a small journal (1,000 alerts) and a full one, and as
the ratio full/small measured in the same run, because absolute times on this shared
machine are noisy and the growth is what tells whether a call scans everything:

    apply      journal records applied per second (the consumer's cost per alert)
    list       /api/alerts' selection: every match counted (the page's total), newest
               first, no filter
    center     the same for one county and the centers below it
    recent     the newest 50 (what the wall and `recent()` ask: stops at its limit)
    snapshot   the message a connecting wall receives (its newest 200 alerts, encoded)
    memory     bytes per alert kept (tracemalloc), alert records as the worker writes them
"""

from __future__ import annotations

import argparse
import gc
import random
import time
import tracemalloc
from collections.abc import Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from supervisor.centers import CenterRegistry
from supervisor.web.hub import AlertHub

CN = ZoneInfo("Asia/Shanghai")
RULES = [
    ("deadline.overdue", "red", "办件超期"),
    ("deadline.warning", "yellow", "办件即将超期"),
    ("supplement.repeated", "red", "多次要求补正材料"),
    ("conclusion.too_fast", "yellow", "办结过快"),
    ("fee.overcharge", "red", "超标准收费"),
]


def alerts(count: int, seed: int = 3) -> list[dict[str, object]]:
    rng = random.Random(seed)
    codes = [c.code for c in CenterRegistry.load().all()]
    start = datetime(2026, 1, 1, 9, tzinfo=CN)
    made: list[dict[str, object]] = []
    for n in range(count):
        rule, severity, title = rng.choice(RULES)
        center = rng.choice(codes)
        case = f"{center}-2026-{n:07d}"
        made.append(
            {
                "alert_id": f"{rule}:{case}",
                "rule_id": rule,
                "severity": severity,
                "case_id": case,
                "center_id": center,
                "raised_at": (start + timedelta(minutes=5 * n)).isoformat(),
                "title": title,
                "message": f"办件 {case} 已超过承诺时限 3 个工作日，请及时督办。",
                "details": {"deadline": start.isoformat(), "limit_days": 5},
            }
        )
    # Arrival fully shuffled: the worst case for the sorted index (live alerts arrive
    # nearly in raised_at order, and are appended at its end).
    rng.shuffle(made)
    return made


def best(fn: Callable[[], object], repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        fn()
        times.append(time.perf_counter() - began)
    return min(times)


def measure(count: int) -> dict[str, float]:
    records = alerts(count)
    registry = CenterRegistry.load()
    county = next(c.code for c in registry.all() if c.level == "county")
    below = lambda code: registry.is_within(code, county)  # noqa: E731

    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    hub = AlertHub(capacity=200, keep=max(count, 100_000))
    began = time.perf_counter()
    for seq, record in enumerate(records):
        hub.journal.apply(seq, record)
    applied = time.perf_counter() - began
    memory = (tracemalloc.get_traced_memory()[0] - before) / count
    tracemalloc.stop()

    return {
        "apply": count / applied,
        "list": best(lambda: len(hub.journal.select())),
        "center": best(lambda: len(hub.journal.select(centers=below))),
        "recent": best(lambda: hub.recent(limit=50)),
        "snapshot": best(hub.snapshot),
        "memory": memory,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--alerts", type=int, default=100_000)
    parser.add_argument("--small", type=int, default=1_000)
    args = parser.parse_args()
    small = measure(args.small)
    full = measure(args.alerts)
    print(f"journal of {args.small:,} vs {args.alerts:,} alerts (best of 5)")
    print(f"  apply     {small['apply']:>12,.0f} /s   {full['apply']:>12,.0f} /s")
    for key in ("list", "center", "recent", "snapshot"):
        ratio = full[key] / small[key]
        print(
            f"  {key:<9} {small[key] * 1000:>10.2f} ms   {full[key] * 1000:>10.2f} ms"
            f"   x{ratio:,.1f} for x{args.alerts / args.small:,.0f} the alerts"
        )
    print(f"  memory    {small['memory']:>10,.0f} B/alert {full['memory']:>8,.0f} B/alert")


if __name__ == "__main__":
    main()
