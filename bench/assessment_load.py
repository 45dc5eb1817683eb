"""The monthly assessment at Hechi's scale: `assess_period` for a month of ≥ 300,000 cases.

Run on purpose (not in CI):

    .venv/bin/python bench/assessment_load.py [--cases 300000] [--backends postgresql,sqlite]
        [--runs 3]

1. Load. Two months (October and November 2026) of `--cases` cases each, from Hechi's 69
   centers and the catalogue's items, departments, windows and staff
   (projection_throughput.AlertMaker), bulk inserted as read_model_load.py does (the
   project's row builders, secondary indexes built after the load, then VACUUM ANALYZE /
   ANALYZE). Each case: accepted in its month, concluded 1-20 days later (92 % by its
   deadline), rated after it in 40 % (5: 70 %, 4: 18 %, 3: 6 %, 2: 4 %, 1: 2 %), a bad
   rating put right in 75 % (most within 15 working days), a complaint in 1 % (answered
   in 85 %); cards: a red `deadline.overdue` for each case concluded late, a yellow
   `deadline.warning` for 8 % of the cases, a red of another rule for 2 %; each card
   acknowledged, 3 % appealed (upheld in 40 %: withdrawn); a supervision order on 30 % of
   the late cases' red cards (replied 1-10 days after, due in 7; sent back in 20 %).
2. Measure, `--runs` times each after one unmeasured run: `assess_period` of November
   (both months read: the period and the one before) by center, by county, by department and by
   staff member, with the shipped scheme and a scheme that also scores the ratings,
   complaints, replies to orders and appeals; **baseline**: `ReadModel.figures` of
   November by center (the counts the assessment starts from). Goal: < 5 s on each database.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Final

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))

import _common as c
from projection_throughput import CN, DURABLE, AlertMaker, Rule
from read_model_load import Backend, analyze, build_indexes, drop_indexes, entry_of, put

from supervisor.assessment.periods import period
from supervisor.assessment.run import LOOKBACK, assess_period
from supervisor.assessment.scheme import Scheme, load_scheme
from supervisor.core.calendar import CalendarBook
from supervisor.orders import Order
from supervisor.store import rows
from supervisor.store.db import Database
from supervisor.store.queries import ReadModel
from supervisor.store.schema import alert_history, alert_search, alerts, case_facts, cases, orders
from tests.databases import PostgresCluster

ROOT: Final = Path(__file__).resolve().parents[1]
MONTHS: Final = ((2026, 10), (2026, 11))
GOAL: Final = 5.0
LEVELS: Final = {5: 70, 4: 18, 3: 6, 2: 4, 1: 2}
#: Of the cards, those appealed; of the late cases' red cards, those ordered (督办).
APPEALED: Final = 0.03
ORDERED: Final = 0.3
#: A scheme that scores every measure (the shipped one scores cases and cards only).
EVERYTHING: Final = """name: 全部指标
indicators:
  - {id: on_time, name: 按期办结率, measure: on_time_rate, weight: 40}
  - {id: rated, name: 评价率, measure: evaluation_rate, weight: 10}
  - {id: good, name: 好评率, measure: good_rate, weight: 10}
  - {id: bad, name: 差评率, measure: bad_rate, weight: 10, better: lower}
  - {id: rectified, name: 差评按期整改率, measure: bad_rectified_rate, weight: 15}
  - {id: answered, name: 投诉按期答复率, measure: complaint_answered_rate, weight: 5}
  - {id: replied, name: 督办单按期回复率, measure: order_reply_rate, weight: 5}
  - {id: upheld, name: 申诉成立率, measure: appeal_upheld_rate, weight: 5}
  - {id: red, name: 红牌扣分, measure: red_per_100, deduct: {points: 2, max: 30}}
  - {id: yellow, name: 黄牌扣分, measure: yellow_per_100, deduct: {points: 0.5, max: 10}}
grades:
  - {name: 优秀, min: 90}
  - {name: 良好, min: 80}
  - {name: 合格, min: 60}
  - {name: 不合格, min: 0}
"""


def iso(at: datetime | None) -> str | None:
    return None if at is None else at.isoformat(timespec="seconds")


def one_case(
    maker: AlertMaker,
    rules_by_id: dict[str, Rule],
    rng: random.Random,
    n: int,
    year: int,
    month: int,
) -> tuple[list[dict[str, Any]], list[tuple[Rule, datetime]], tuple[str, Any, Any, dict[str, str]]]:
    """The facts of one case and the cards it raises (rule, when)."""
    center, items = maker.center()
    item = rng.choice(items)
    who = maker.handled(center, item)
    first = datetime(year, month, 1, tzinfo=CN)
    accepted = first + timedelta(seconds=rng.uniform(0, 28 * 86400))
    case_id = f"{center.code}-{year}-{month:02d}{n:05d}"
    deadline = (accepted + timedelta(days=max(1, item.promised_limit.value) * 1.4)).replace(
        hour=23, minute=59, second=59
    )
    late = rng.random() < 0.08
    concluded = (
        deadline + timedelta(days=rng.uniform(0.5, 6))
        if late
        else accepted + timedelta(seconds=rng.uniform(3600, (deadline - accepted).total_seconds()))
    )
    base = {"case_id": case_id, "center_id": center.code, **who}

    def fact(kind: str, at: datetime, status: str, **more: Any) -> dict[str, Any]:
        return {
            **base,
            "event_type": kind,
            "occurred_at": iso(at),
            "status": status,
            "accepted_at": iso(accepted),
            "concluded_at": iso(concluded) if status == "concluded" else None,
            "deadline": iso(deadline),
            "statutory_deadline": None,
            "on_time": (not late) if status == "concluded" else None,
            **more,
        }

    facts = [fact("accepted", accepted, "open"), fact("concluded", concluded, "concluded")]
    cards: list[tuple[Rule, datetime]] = []
    if late:
        cards.append((rules_by_id["deadline.overdue"], deadline))
    if rng.random() < 0.08:
        cards.append((rules_by_id["deadline.warning"], deadline - timedelta(days=1)))
    if rng.random() < 0.02:
        cards.append((rules_by_id["supplement.repeated"], accepted + timedelta(days=1)))
    if rng.random() < 0.4:
        rated = concluded + timedelta(hours=rng.uniform(1, 72))
        level = rng.choices(list(LEVELS), weights=list(LEVELS.values()))[0]
        facts.append(fact("evaluated", rated, "concluded", level=level))
        if level <= 2 and rng.random() < 0.75:
            facts.append(fact("rectified", rated + timedelta(days=rng.uniform(1, 25)), "concluded"))
    if rng.random() < 0.01:
        complained = concluded + timedelta(days=rng.uniform(0.5, 10))
        facts.append(fact("complained", complained, "concluded"))
        if rng.random() < 0.85:
            answered = complained + timedelta(days=rng.uniform(1, 25))
            facts.append(fact("complaint_answered", answered, "concluded"))
    return facts, cards, (case_id, center, item, who)


def history_of(row: dict[str, Any], raised: datetime, rng: random.Random) -> list[dict[str, Any]]:
    """An alert's history: acknowledged two hours after it was raised; APPEALED of the
    cards appealed, the appeal upheld (the card withdrawn) in 40 %, else rejected."""
    inspector = {"name": "王监察", "role": "inspector"}
    base = row["seq"] * 4
    steps = [{"seq": base, "action": "acknowledge", "at": iso(raised + timedelta(hours=2))}]
    if rng.random() < APPEALED:
        upheld = rng.random() < 0.4
        steps += [
            {"seq": base + 1, "action": "appeal", "at": iso(raised + timedelta(days=1))},
            {
                "seq": base + 2,
                "action": "accept_appeal" if upheld else "reject_appeal",
                "at": iso(raised + timedelta(days=rng.uniform(2, 8))),
                "by": inspector,
            },
        ]
        if upheld:
            row["status"] = "withdrawn"
    return [rows.history_row(row["alert_id"], step) for step in steps]


def order_of(order_id: str, row: dict[str, Any], raised: datetime, rng: random.Random) -> Any:
    """A supervision order on a late case: issued a day after its card, a reply due 7
    days later, given 1-10 days after issue; sent back in 20 %, replied again."""
    issued = raised + timedelta(days=1)
    due = issued + timedelta(days=7)
    history: list[dict[str, Any]] = [
        {"seq": row["seq"] * 4, "action": "issue", "at": iso(issued), "due_at": iso(due)}
    ]
    replied = issued + timedelta(days=rng.uniform(1, 10))
    history.append({"seq": row["seq"] * 4 + 1, "action": "reply", "at": iso(replied)})
    if rng.random() < 0.2:
        due = replied + timedelta(days=7)
        again = replied + timedelta(days=rng.uniform(1, 10))
        history += [
            {"seq": row["seq"] * 4 + 2, "action": "return", "at": iso(replied), "due_at": iso(due)},
            {"seq": row["seq"] * 4 + 3, "action": "reply", "at": iso(again)},
        ]
    order = Order(
        order_id=order_id,
        center_id=row["center_id"],
        case_id=row["case_id"],
        alert_id=row["alert_id"],
        requirement="请核实超期原因并整改",
        days=5,
        issued_at=issued,
        due_at=due,
        status="replied",
        round=1 + (len(history) > 2),
        history=history,
    )
    return rows.order_row(order)


async def load(backends: list[Backend], per_month: int, seed: int) -> dict[str, int]:
    rng = random.Random(seed)
    maker = AlertMaker(rng)
    rules_by_id = {rule.id: rule for rule in maker.rules}
    for backend in backends:
        await drop_indexes(backend)
    made = {"cases": 0, "facts": 0, "alerts": 0, "history": 0, "orders": 0}
    seq = 0
    chunk = 10_000
    for year, month in MONTHS:
        for first in range(0, per_month, chunk):
            fact_rows: list[dict[str, Any]] = []
            case_rows: list[dict[str, Any]] = []
            alert_rows: list[dict[str, Any]] = []
            history_rows: list[dict[str, Any]] = []
            order_rows: list[dict[str, Any]] = []
            for n in range(first, min(first + chunk, per_month)):
                documents, cards, (case_id, center, item, who) = one_case(
                    maker, rules_by_id, rng, n, year, month
                )
                last = None
                for document in documents:
                    built = rows.fact_rows(document)
                    fact_rows.append(built.fact)
                    last = built.case
                assert last is not None
                case_rows.append(last)
                for number, (rule, raised) in enumerate(cards):
                    seq += 1
                    alert = maker.alert(rule, case_id, center, item, raised, who)
                    alert["alert_id"] = f"{alert['alert_id']}:{number}"
                    row = rows.alert_row(entry_of(alert, seq, raised, rng), center.name)
                    history_rows += history_of(row, raised, rng)
                    alert_rows.append(row)
                    if rule.id == "deadline.overdue" and rng.random() < ORDERED:
                        order_rows.append(order_of(f"DB-{seq}", row, raised, rng))
            made["cases"] += len(case_rows)
            made["facts"] += len(fact_rows)
            made["alerts"] += len(alert_rows)
            made["history"] += len(history_rows)
            made["orders"] += len(order_rows)
            search_rows = [rows.search_row(r) for r in alert_rows]
            for backend in backends:
                await put(backend, case_facts, fact_rows)
                await put(backend, cases, case_rows)
                await put(backend, alerts, alert_rows)
                await put(backend, alert_search, search_rows)
                await put(backend, alert_history, history_rows)
                await put(backend, orders, order_rows)
        print(f"  {year}-{month:02d}: {made}")
    for backend in backends:
        await build_indexes(backend)
        await analyze(backend)
    return made


async def timed(runs: int, call: Any) -> list[float]:
    await call()  # unmeasured: the caches warm
    seconds = []
    for _ in range(runs):
        began = time.perf_counter()
        await call()
        seconds.append(time.perf_counter() - began)
    return seconds


async def measure(backend: Backend, runs: int, schemes: dict[str, Scheme]) -> dict[str, Any]:
    read = ReadModel(backend.db, "Asia/Shanghai")
    calendars = CalendarBook.load(ROOT / "rules" / "calendar")
    november = period("2026-11")
    since, until = read.day_range(november.first, november.last)
    results: dict[str, Any] = {}
    baseline = await timed(runs, lambda: read.figures(since, until))
    results["baseline: figures of the month by center"] = baseline
    lookback = since - LOOKBACK
    parts = {  # what one month of the every-measure assessment by center reads
        "part: loop facts (bad ratings, complaints)": lambda: read.loop_facts(
            lookback, until, ratings_at_most=2
        ),
        "part: rating counts": lambda: read.rating_counts(since, until),
        "part: orders due": lambda: read.orders_due(since, until),
        "part: appeals decided": lambda: read.appeal_decisions(since, until),
    }
    for name, call in parts.items():
        results[name] = await timed(runs, call)
    for scheme_name, scheme in schemes.items():
        for by in ("center", "county", "department", "staff"):
            units: list[int] = []

            async def once(scheme: Scheme = scheme, by: str = by, units: list[int] = units) -> None:
                result = await assess_period(read, scheme, november, calendars, by)  # type: ignore[arg-type]
                units[:] = [len(result.units)]

            seconds = await timed(runs, once)
            results[f"assess by {by}, {scheme_name} ({units[0]} units)"] = seconds
    return results


async def run(args: argparse.Namespace) -> None:
    began = time.perf_counter()
    cluster: PostgresCluster | None = None
    home = Path(tempfile.mkdtemp(prefix="bench-assessment-"))
    backends: list[Backend] = []
    try:
        for name in args.backends.split(","):
            if name == "postgresql":
                cluster = PostgresCluster(extra_options=DURABLE)
                cluster.start()
                cluster.execute(
                    "CREATE DATABASE months TEMPLATE template0 ENCODING 'UTF8' "
                    "LC_COLLATE 'C' LC_CTYPE 'C.UTF-8'"
                )
                url = cluster.database_url("months")
            elif name == "sqlite":
                url = f"sqlite:///{home}/supervisor.db"
            else:
                raise SystemExit(f"unknown back end {name!r}")
            db = Database(url)
            await db.upgrade()
            backends.append(Backend(name, url, db))
        print(
            f"loading {len(MONTHS)} months of {args.cases:,} cases into "
            f"{', '.join(b.name for b in backends)} (load average {c.load_average()})"
        )
        made = await load(backends, args.cases, args.seed)
        for backend in backends:
            steps = ", ".join(f"{k} {v:.0f} s" for k, v in backend.seconds.items())
            print(f"  {backend.name}: {steps}")
        everything = home / "everything.yaml"
        everything.write_text(EVERYTHING, encoding="utf-8")
        schemes = {
            "shipped scheme": load_scheme(ROOT / "rules" / "assessment" / "scheme.yaml"),
            "every measure": load_scheme(everything),
        }
        results: dict[str, dict[str, Any]] = {}
        for backend in backends:
            print(f"\n{backend.name} (load average {c.load_average()})")
            results[backend.name] = await measure(backend, args.runs, schemes)
            base = statistics.median(
                results[backend.name]["baseline: figures of the month by center"]
            )
            for kind, seconds in results[backend.name].items():
                median = statistics.median(seconds)
                verdict = (
                    ""
                    if kind.startswith(("baseline", "part"))
                    else ("  met" if max(seconds) < GOAL else "  MISSED")
                )
                print(
                    f"  {kind:<58} median {median:6.2f} s  max {max(seconds):6.2f} s"
                    f"  x{median / base:5.1f} baseline{verdict}"
                )
        c.save(
            "assessment_load",
            {
                "made": made,
                "load_seconds": {b.name: b.seconds for b in backends},
                "results": results,
                "load_average": c.load_average(),
            },
        )
        print(f"\nran {time.perf_counter() - began:.0f} s; load average {c.load_average()}")
    finally:
        for backend in backends:
            await backend.db.dispose()
        if cluster is not None:
            cluster.stop()
        import shutil

        shutil.rmtree(home, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=300_000, help="cases a month")
    parser.add_argument("--backends", default="postgresql,sqlite")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=17)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
