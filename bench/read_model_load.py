"""The read model with years of history: alert search, figures and start-up at 1M alerts.

Run on purpose (not in CI):

    .venv/bin/python bench/read_model_load.py [--alerts 1000000] [--facts 3000000]
        [--backends postgresql,sqlite] [--runs 50] [--no-like-baseline]

1. Load. Two years of history (ending 2026-12-01) are bulk inserted straight into the
   tables (SQLAlchemy Core `insert(table)` executemany, chunks in one transaction each),
   from the project's own row builders (supervisor/store/rows.py): `alert_row` of an
   `Entry` for every alert, `fact_rows` for every case fact, and each case's row as its
   last fact says. Cases come from Hechi's 69 centers and the catalogue's items and
   departments (≈6 facts a case: submitted, accepted, steps, decided, concluded,
   delivered, evaluated; some refused, withdrawn, or still open at the end); alerts from
   the canonical rules (their titles and messages), each about a case begun in the 10
   days before it, statuses by age (the recent ones mostly open, older ones resolved,
   closed, superseded, withdrawn). Secondary indexes are dropped during the load and
   built after it (the same definitions, supervisor/store/schema.py), then PostgreSQL
   gets `VACUUM ANALYZE` (what autovacuum would do after such a load, so that it does
   not run during the measurements) and SQLite `ANALYZE`. Not loaded: `alert_history`
   (no query below reads it; each row's `state` keeps its last change) and
   `case_events`.
2. Search. `ReadModel.search(AlertQuery(...))` (the page of 50 and the capped total, as
   /api/alerts asks), `--runs` queries of each filter kind with varied values, after one
   unmeasured query: p50 and p95. Goal: p95 < 200 ms.
3. Figures. `figures(since, until, by=...)` of every month of the two years, by center
   and by department, and by center for one county's centers; `headline`. Goal: < 1 s.
4. Start. `ReadModelState.prepare()` (supervisor/web/readmodel.py: migrate, a no-op here,
   load the silences and the newest 20,000 alerts into an AlertHub), with a new
   `Database` each time, on the loaded database and, as the baseline, on an empty one
   (migrated, no rows); also the first start of a new database (migrations run). Goal:
   < 5 s.

A kind that misses its goal is explained: its slowest query's page and count timed
apart and, on PostgreSQL, `EXPLAIN (ANALYZE, BUFFERS)` of both (SQLite: `EXPLAIN QUERY
PLAN`). The free-text kinds (`q:`) are then measured again with the same values and
the `LIKE`s alone (`like_only`, the search before the grams index of
supervisor/store/search.py): their baseline, and a check that both find the same totals.

PostgreSQL is a throwaway 15 cluster (tests/databases.py) with durable settings and
otherwise the defaults (shared_buffers 128 MB, work_mem 4 MB); the database is created
with LC_CTYPE C.UTF-8 and LC_COLLATE C (the grams index does not depend on them).
The grams index is dropped during the load with the other secondary indexes and built
after them (its DDL, search.DDL, which on SQLite fills the FTS table).
SQLite is a file, opened as the web service opens it (WAL, synchronous=NORMAL).
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any, Final

from prometheus_client import CollectorRegistry
from sqlalchemy import Index, Table, func, insert, select, text

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))

import _common as c
from projection_throughput import CN, DURABLE, INSPECTORS, NOTES, AlertMaker

from supervisor.centers import Center, CenterRegistry, region_name
from supervisor.settings import Settings
from supervisor.simulate.catalogue import Item
from supervisor.store import rows, search
from supervisor.store.db import Database
from supervisor.store.projection import Projection, Topics
from supervisor.store.queries import TOTAL_CAP, AlertPage, AlertQuery, Counts, ReadModel, terms
from supervisor.store.schema import (
    alert_search,
    alerts,
    case_facts,
    cases,
    centers_seen,
    positions,
)
from supervisor.web.hub import AlertHub
from supervisor.web.journal import Entry
from supervisor.web.metrics import WebMetrics
from supervisor.web.readmodel import ReadModelState
from tests.databases import PostgresCluster

END: Final = datetime(2026, 12, 1, tzinfo=CN)
DAYS: Final = 730
START: Final = END - timedelta(days=DAYS)
FACTS_PER_CASE: Final = 5.9
SEARCH_GOAL: Final = 0.200
FIGURES_GOAL: Final = 1.0
START_GOAL: Final = 5.0
TABLES: Final = (alerts, case_facts, cases)


# -- the history ---------------------------------------------------------------------------


@dataclass
class History:
    """What the generator made, for the queries' parameters."""

    alerts: int = 0
    facts: int = 0
    cases: int = 0
    departments: set[str] = field(default_factory=set)
    case_ids: list[str] = field(default_factory=list)  # a sample of the alerts' cases
    statuses: dict[str, int] = field(default_factory=dict)


class Cases:
    """Every case: when it began, where, which item, who handled it."""

    def __init__(self, maker: AlertMaker, count: int, rng: random.Random) -> None:
        self.maker = maker
        span = DAYS * 86400
        self.starts = sorted(START.timestamp() + rng.random() * span for _ in range(count))
        self.where: list[tuple[int, int]] = []
        for _ in range(count):
            at = rng.choices(range(len(maker.centers)), weights=maker.center_weights)[0]
            self.where.append((at, rng.randrange(len(maker.centers[at][1]))))
        #: each case its own serial (7,919 is prime to 10**7), scattered like real ones
        self.serial = [(n * 7_919 + 1_234_567) % 10**7 for n in range(count)]

    def __len__(self) -> int:
        return len(self.starts)

    def of(self, n: int) -> tuple[str, Center, Item, dict[str, str]]:
        at, item_at = self.where[n]
        center, items = self.maker.centers[at]
        item = items[item_at]
        began = datetime.fromtimestamp(self.starts[n], CN)
        who = {
            "department": item.department_at(center),
            "window_id": f"W{n * 7 % 40 + 1:02d}",
            "staff_id": f"{center.code}-{n * 13 % 30 + 1:03d}",
        }
        return f"{center.code}-{began.year}-{self.serial[n]:07d}", center, item, who

    def near(self, at: float, rng: random.Random) -> int:
        """A case begun in the 10 days before `at`."""
        hi = bisect.bisect_right(self.starts, at)
        lo = bisect.bisect_left(self.starts, at - 10 * 86400)
        return rng.randrange(lo, hi) if hi > lo else max(0, hi - 1)


def iso(at: datetime | None) -> str | None:
    return None if at is None else at.isoformat(timespec="seconds")


def case_facts_of(cases_: Cases, n: int, rng: random.Random) -> list[dict[str, Any]]:
    """The worker's facts of case `n`, up to END (supervisor/worker/facts.py's shape)."""
    case_id, center, item, who = cases_.of(n)
    t = datetime.fromtimestamp(cases_.starts[n], CN)
    limit = item.promised_limit.value
    statutory_limit = item.statutory_limit.value if item.statutory_limit else limit * 2
    fate = rng.random()
    steps: list[tuple[str, str, timedelta]] = [("submitted", "received", timedelta(0))]
    if rng.random() < 0.1:
        steps += [
            ("supplement_requested", "received", timedelta(hours=rng.uniform(1, 30))),
            ("supplemented", "received", timedelta(hours=rng.uniform(4, 72))),
        ]
    if fate < 0.05:
        steps.append(("not_accepted", "not_accepted", timedelta(hours=rng.uniform(1, 30))))
    else:
        steps.append(("accepted", "open", timedelta(hours=rng.uniform(0.1, 30))))
        if fate < 0.08:
            steps.append(("withdrawn", "withdrawn", timedelta(hours=rng.uniform(2, 120))))
        else:
            for _ in range(rng.choice((0, 1, 1, 2))):
                steps.append(("step_completed", "open", timedelta(hours=rng.uniform(2, 48))))
            steps.append(("decided", "open", timedelta(hours=rng.uniform(1, 24))))
            late = rng.random() < 0.08
            days = limit * 1.4 * (rng.uniform(1.05, 1.8) if late else rng.uniform(0.2, 0.95))
            steps.append(("concluded", "concluded", timedelta(days=days)))
            if rng.random() < 0.6:
                steps.append(("delivered", "concluded", timedelta(hours=rng.uniform(1, 72))))
            if rng.random() < 0.4:
                steps.append(("evaluated", "concluded", timedelta(hours=rng.uniform(0.1, 48))))
    facts: list[dict[str, Any]] = []
    accepted: datetime | None = None
    concluded: datetime | None = None
    deadline: datetime | None = None
    statutory: datetime | None = None
    for kind, status, wait in steps:
        t += wait
        if t >= END:
            break
        if kind == "accepted":
            accepted = t
            deadline = (t + timedelta(days=limit * 1.4)).replace(hour=23, minute=59, second=59)
            statutory = t + timedelta(days=statutory_limit * 1.4)
        if kind == "concluded":
            concluded = t
        facts.append(
            {
                "case_id": case_id,
                "center_id": center.code,
                "event_type": kind,
                "occurred_at": iso(t),
                "status": status,
                "accepted_at": iso(accepted),
                "concluded_at": iso(concluded),
                "deadline": iso(deadline),
                "statutory_deadline": iso(statutory),
                "on_time": (concluded <= deadline)
                if concluded is not None and deadline is not None
                else None,
                **who,
            }
        )
    return facts


#: An alert's status by its age: (days at most, {status: weight}).
STATUS_BY_AGE: Final = (
    (3, {"open": 70, "acknowledged": 20, "appealed": 2, "resolved": 5, "closed": 3}),
    (
        30,
        {
            "open": 25,
            "acknowledged": 15,
            "appealed": 2,
            "resolved": 35,
            "closed": 15,
            "superseded": 5,
            "withdrawn": 3,
        },
    ),
    (
        10**6,
        {
            "open": 3,
            "acknowledged": 2,
            "appealed": 0.5,
            "resolved": 60,
            "closed": 22,
            "superseded": 8,
            "withdrawn": 4.5,
        },
    ),
)


def entry_of(alert: dict[str, Any], seq: int, raised: datetime, rng: random.Random) -> Entry:
    """The alert as it stands after its history (a status drawn by its age)."""
    age = (END - raised).days
    weights = next(w for days, w in STATUS_BY_AGE if age <= days)
    status = rng.choices(list(weights), weights=list(weights.values()))[0]
    if alert["severity"] == "red" and status in ("closed", "superseded"):
        status = "resolved"  # the case closes or supersedes warnings
    entry = Entry(alert=alert, seq=seq, updated_seq=seq, raised=raised.timestamp())
    if alert["rule_id"] == "deadline.overdue" and age > 5 and rng.random() < 0.4:
        entry.concluded_late = {
            "case_concluded_at": iso(raised + timedelta(days=rng.randint(1, 5))),
            "late_working_days": float(rng.randint(1, 5)),
        }
    if alert["severity"] == "red" and rng.random() < 0.1:
        entry.escalation_level = 1
    if status == "open":
        return entry
    updated = seq + rng.randrange(1, 20_000)
    at = iso(raised + timedelta(hours=rng.uniform(0.5, 96)))
    by = {"name": rng.choice(INSPECTORS), "role": "inspector"}
    change: dict[str, Any] = {"seq": updated, "status": status, "at": at}
    if status == "acknowledged":
        change.update(action="acknowledge", by=by, note=rng.choice(NOTES))
    elif status == "resolved":
        entry.disposition = rng.choice(("verified", "rectified", "rectified", "false_alarm"))
        change.update(
            action="resolve", by=by, note=rng.choice(NOTES), disposition=entry.disposition
        )
    elif status == "appealed":
        change.update(
            action="appeal",
            by={"name": "覃主任", "role": "director"},
            reason="系统时限计算未扣除法定节假日调休，申请摘牌。",
        )
    elif status == "withdrawn":
        entry.resolution = {
            "alert_id": alert["alert_id"],
            "status": "resolved",
            "rule_id": alert["rule_id"],
            "case_id": alert["case_id"],
            "center_id": alert["center_id"],
            "resolved_at": at,
            "reason": "迟到事件：办结按事件时间补入后重新研判，该预警不再成立，予以撤销。",
            "details": {"late_event_type": "concluded"},
        }
        change.update(
            action="system_withdraw", by={"name": "系统", "role": "system"}, reason="late"
        )
    elif status == "closed":
        change.update(
            action="case_closed", by={"name": "系统", "role": "system"}, reason="concluded_in_time"
        )
    else:
        change.update(
            action="superseded",
            by={"name": "系统", "role": "system"},
            superseded_by=f"deadline.overdue:{alert['case_id']}",
        )
    entry.status = status
    entry.updated_seq = updated
    entry.history = [change]
    return entry


# -- loading -------------------------------------------------------------------------------


@dataclass
class Backend:
    name: str
    url: str
    db: Database
    seconds: dict[str, float] = field(default_factory=dict)  # load steps

    def add(self, step: str, seconds: float) -> None:
        self.seconds[step] = self.seconds.get(step, 0.0) + seconds


def secondary(table: Table) -> list[Index]:
    return sorted(table.indexes, key=lambda i: str(i.name))


async def drop_indexes(backend: Backend) -> None:
    async with backend.db.engine.begin() as connection:
        for statement in search.DROP[backend.db.dialect]:
            await connection.execute(text(statement))
        for table in TABLES:
            for index in secondary(table):
                await connection.run_sync(lambda sync, i=index: i.drop(sync))  # type: ignore[misc]


async def build_indexes(backend: Backend) -> None:
    for table in TABLES:
        for index in secondary(table):
            began = time.perf_counter()
            async with backend.db.engine.begin() as connection:
                await connection.run_sync(lambda sync, i=index: i.create(sync))  # type: ignore[misc]
            backend.add("indexes", time.perf_counter() - began)
    began = time.perf_counter()
    async with backend.db.engine.begin() as connection:
        if backend.db.dialect == "postgresql":
            await connection.execute(text("SET LOCAL maintenance_work_mem = '256MB'"))
        for statement in search.DDL[backend.db.dialect]:
            await connection.execute(text(statement))
    backend.add("search index", time.perf_counter() - began)


async def put(backend: Backend, table: Table, made: Sequence[dict[str, Any]]) -> None:
    if not made:
        return
    began = time.perf_counter()
    async with backend.db.engine.begin() as connection:
        await connection.execute(insert(table), list(made))
    backend.add(table.name, time.perf_counter() - began)


async def analyze(backend: Backend) -> None:
    began = time.perf_counter()
    if backend.db.dialect == "postgresql":
        async with backend.db.engine.connect() as connection:
            auto = await connection.execution_options(isolation_level="AUTOCOMMIT")
            await auto.execute(text("VACUUM ANALYZE"))
    else:
        async with backend.db.engine.begin() as connection:
            await connection.execute(text("ANALYZE"))
    backend.add("analyze", time.perf_counter() - began)


async def load(
    backends: list[Backend], n_alerts: int, n_facts: int, seed: int, topic: str
) -> History:
    """Generate the history once and insert each chunk into every back end."""
    rng = random.Random(seed)
    maker = AlertMaker(rng)
    history = History()
    generated = 0.0
    began = time.perf_counter()
    everything = Cases(maker, max(1, round(n_facts / FACTS_PER_CASE)), rng)
    generated += time.perf_counter() - began
    for backend in backends:
        await drop_indexes(backend)

    # cases and their facts, in the order the cases began
    chunk = 5_000
    for first in range(0, len(everything), chunk):
        began = time.perf_counter()
        fact_rows: list[dict[str, Any]] = []
        case_rows: list[dict[str, Any]] = []
        for n in range(first, min(first + chunk, len(everything))):
            last = None
            for document in case_facts_of(everything, n, rng):
                made = rows.fact_rows(document)
                fact_rows.append(made.fact)
                last = made.case
            if last is not None:
                case_rows.append(last)
        generated += time.perf_counter() - began
        history.facts += len(fact_rows)
        history.cases += len(case_rows)
        for backend in backends:
            await put(backend, case_facts, fact_rows)
            await put(backend, cases, case_rows)
        if first // chunk % 20 == 0:
            print(f"  facts {history.facts:>9,}  cases {history.cases:>8,}")

    # alerts, in the order they were raised (their journal positions)
    span = DAYS * 86400
    times = sorted(START.timestamp() + rng.random() * span for _ in range(n_alerts))
    seen: set[str] = set()
    names = {center.code: center.name for center in maker.registry.all()}
    chunk = 20_000
    seq = 0
    for first in range(0, len(times), chunk):
        began = time.perf_counter()
        alert_rows: list[dict[str, Any]] = []
        for stamp in times[first : first + chunk]:
            seq += rng.randint(1, 3)  # the journal's other records between alerts
            raised = datetime.fromtimestamp(stamp, CN)
            while True:  # an alert id is raised once: another rule or case if taken
                case_n = everything.near(stamp, rng)
                case_id, center, item, who = everything.of(case_n)
                alert = maker.alert(maker.rule(), case_id, center, item, raised, who)
                if alert["alert_id"] not in seen:
                    break
            seen.add(alert["alert_id"])
            entry = entry_of(alert, seq, raised, rng)
            alert_rows.append(rows.alert_row(entry, names[center.code]))
            history.statuses[entry.status] = history.statuses.get(entry.status, 0) + 1
            history.departments.add(who["department"])
            if rng.random() < 0.002:
                history.case_ids.append(case_id)
        generated += time.perf_counter() - began
        history.alerts += len(alert_rows)
        search_rows = [rows.search_row(r) for r in alert_rows]
        for backend in backends:
            await put(backend, alerts, alert_rows)
            await put(backend, alert_search, search_rows)
        if first // chunk % 10 == 0:
            print(f"  alerts {history.alerts:>9,}")

    seen_rows = [
        {
            "center_id": center.code,
            "last_event_at": rows.utc(END - timedelta(minutes=5)),
            "last_arrival_at": rows.utc(END - timedelta(minutes=4)),
        }
        for center, _ in maker.centers
    ]
    position = [{"topic": topic, "partition": 0, "next_offset": seq + 50}]
    for backend in backends:
        await put(backend, centers_seen, seen_rows)
        await put(backend, positions, position)
        await build_indexes(backend)
        await analyze(backend)
        backend.seconds["generate (shared)"] = generated
    return history


# -- measuring -----------------------------------------------------------------------------


@dataclass
class Timed:
    kind: str
    seconds: list[float]
    slowest: Any  # the parameters of the slowest run
    totals: list[int]
    goal: float

    @property
    def p50(self) -> float:
        return c.percentile(self.seconds, 50)

    @property
    def p95(self) -> float:
        return c.percentile(self.seconds, 95)

    @property
    def met(self) -> bool:
        return self.p95 < self.goal


QueryMaker = Callable[[random.Random], AlertQuery]


def query_kinds(
    history: History, registry: CenterRegistry, read: ReadModel
) -> dict[str, QueryMaker]:
    centers = [center.code for center in registry.all()]
    counties = [center.code for center in registry.all() if center.level == "county"]
    below = {
        county: [county, *(child.code for child in registry.children(county))]
        for county in counties
    }
    short_places = [
        region_name(center.name)
        if center.parent is None or center.level == "county"
        else region_name(center.name)[len(region_name(registry.name(center.parent))) :]
        for center in registry.all()
        if center.level != "city"
    ]
    items = _item_words()
    #: two-character words as people type them: the start of a place's or an item's name
    pairs = sorted({w[:2] for w in [*short_places, *items] if len(w) >= 2})
    departments = sorted(history.departments)
    rules = _rule_ids()
    statuses = ["open", "acknowledged", "appealed", "resolved", "withdrawn", "closed", "superseded"]

    def month(rng: random.Random) -> tuple[datetime, datetime]:
        first = date(START.year, START.month, 1)
        k = rng.randrange(1, 24)
        y, m = divmod(first.month - 1 + k, 12)
        lo = date(first.year + y, m + 1, 1)
        y2, m2 = divmod(lo.month, 12)
        hi = date(lo.year + y2, m2 + 1, 1) - timedelta(days=1)
        return read.day_range(lo, hi)

    def with_month(rng: random.Random, **filters: Any) -> AlertQuery:
        since, until = month(rng)
        return AlertQuery(since=since, until=until, **filters)

    return {
        "newest page, no filter": lambda r: AlertQuery(offset=r.choice(range(0, 500, 50))),
        "center": lambda r: AlertQuery(centers=[r.choice(centers)]),
        "center + below (county, 6-7 codes)": lambda r: AlertQuery(
            centers=below[r.choice(counties)]
        ),
        "severity": lambda r: AlertQuery(severity=r.choice(("red", "yellow"))),
        "rule": lambda r: AlertQuery(rule_id=r.choice(rules)),
        "status": lambda r: AlertQuery(status=r.choice(statuses)),
        "case_id": lambda r: AlertQuery(case_id=r.choice(history.case_ids)),
        "department": lambda r: AlertQuery(department=r.choice(departments)),
        "q: center name": lambda r: AlertQuery(text=r.choice(short_places)),
        "q: item name": lambda r: AlertQuery(text=r.choice(items)),
        "q: two characters": lambda r: AlertQuery(text=r.choice(pairs)),
        "q: center name + item name": lambda r: AlertQuery(
            text=f"{r.choice(short_places)} {r.choice(items)}"
        ),
        "a month": lambda r: with_month(r),
        "center + severity + month": lambda r: with_month(
            r, centers=[r.choice(centers)], severity=r.choice(("red", "yellow"))
        ),
        "county + status": lambda r: AlertQuery(
            centers=below[r.choice(counties)], status=r.choice(statuses)
        ),
        "rule + month": lambda r: with_month(r, rule_id=r.choice(rules)),
        "department + status": lambda r: AlertQuery(
            department=r.choice(departments), status=r.choice(statuses)
        ),
        "county + q: item name": lambda r: AlertQuery(
            centers=below[r.choice(counties)], text=r.choice(items)
        ),
        "director scope: city (69 codes)": lambda r: AlertQuery(
            centers=centers, offset=r.choice(range(0, 200, 50))
        ),
        "director scope: county + open": lambda r: AlertQuery(
            centers=below[r.choice(counties)], status="open"
        ),
    }


def _rule_ids() -> list[str]:
    from projection_throughput import RULE_WEIGHTS

    return list(RULE_WEIGHTS)


def _item_words() -> list[str]:
    """What people type to find an item: its name up to the first bracket."""
    from supervisor.simulate import Catalogue

    return sorted({item.item_name.split("（")[0] for item in Catalogue.load()})


async def time_searches(
    read: ReadModel,
    kinds: dict[str, QueryMaker],
    runs: int,
    seed: int,
    search: Callable[[AlertQuery], Awaitable[AlertPage]] | None = None,
    goal: float = SEARCH_GOAL,
) -> list[Timed]:
    """`runs` searches of each kind (after one unmeasured), each kind's values drawn from
    its own seeded generator: the same queries in every run and after a fix."""
    search = search or read.search
    timed: list[Timed] = []
    for kind, make in kinds.items():
        rng = random.Random(f"{seed}-{kind}")
        await search(make(rng))  # unmeasured
        seconds: list[float] = []
        totals: list[int] = []
        slowest: tuple[float, AlertQuery | None] = (-1.0, None)
        for _ in range(runs):
            query = make(rng)
            began = time.perf_counter()
            page = await search(query)
            took = time.perf_counter() - began
            seconds.append(took)
            totals.append(page.total)
            if took > slowest[0]:
                slowest = (took, query)
        result = Timed(kind, seconds, slowest[1], totals, goal)
        timed.append(result)
        print(
            f"    {kind:<36} p50 {result.p50 * 1000:8.1f} ms  p95 {result.p95 * 1000:8.1f} ms"
            f"  total median {statistics.median(totals):>7,.0f}"
        )
    return timed


async def time_figures(read: ReadModel, registry: CenterRegistry) -> list[Timed]:
    months: list[tuple[datetime, datetime]] = []
    first = date(START.year, START.month, 1)
    for k in range(1, 24):
        y, m = divmod(first.month - 1 + k, 12)
        lo = date(first.year + y, m + 1, 1)
        y2, m2 = divmod(lo.month, 12)
        months.append(read.day_range(lo, date(lo.year + y2, m2 + 1, 1) - timedelta(days=1)))
    county = next(center.code for center in registry.all() if center.level == "county")
    scope = [county, *(child.code for child in registry.children(county))]
    timed: list[Timed] = []
    runs: list[tuple[str, Callable[[datetime, datetime], Awaitable[list[Counts]]]]] = [
        ("figures: a month by center", lambda lo, hi: read.figures(lo, hi, None, "center")),
        ("figures: a month by department", lambda lo, hi: read.figures(lo, hi, None, "department")),
        ("figures: a county's month by center", lambda lo, hi: read.figures(lo, hi, scope)),
    ]
    for kind, run in runs:
        await run(*months[-1])
        seconds: list[float] = []
        groups: list[int] = []
        for lo, hi in months:
            began = time.perf_counter()
            found = await run(lo, hi)
            seconds.append(time.perf_counter() - began)
            groups.append(len(found))
        result = Timed(kind, seconds, months[seconds.index(max(seconds))], groups, FIGURES_GOAL)
        timed.append(result)
        print(
            f"    {kind:<36} p50 {result.p50 * 1000:8.1f} ms  p95 {result.p95 * 1000:8.1f} ms"
            f"  max {max(seconds) * 1000:8.1f} ms  groups {statistics.median(groups):,.0f}"
        )
    seconds = []
    for day in range(10):
        began = time.perf_counter()
        await read.headline(END - timedelta(days=day * 30, hours=3))
        seconds.append(time.perf_counter() - began)
    result = Timed("headline (a day and its month)", seconds, None, [], FIGURES_GOAL)
    timed.append(result)
    print(f"    {result.kind:<36} p50 {result.p50 * 1000:8.1f} ms  p95 {result.p95 * 1000:8.1f} ms")
    return timed


async def start_once(url: str) -> tuple[float, int]:
    """Seconds `ReadModelState.prepare()` takes with a new Database, and the alerts loaded."""
    settings = Settings.from_env()
    db = Database(url)
    hub = AlertHub(settings.wall_recent)
    state = ReadModelState(
        settings,
        db,
        ReadModel(db, settings.timezone),
        Projection(db, Topics(settings.topic_alerts, settings.topic_facts, settings.topic_events)),
        hub,
        WebMetrics(CollectorRegistry()),
        CenterRegistry.load(),
        lambda: END,
    )
    try:
        began = time.perf_counter()
        await state.prepare()
        return time.perf_counter() - began, len(hub)
    finally:
        await db.dispose()


async def time_start(url: str, runs: int = 5) -> tuple[list[float], int]:
    seconds: list[float] = []
    loaded = 0
    for _ in range(runs):
        took, loaded = await start_once(url)
        seconds.append(took)
    return seconds, loaded


# -- explaining a miss ---------------------------------------------------------------------


async def explain(
    backend: Backend, read: ReadModel, result: Timed, lines: int = 18
) -> dict[str, Any]:
    query: AlertQuery = result.slowest
    # as search() asks: free text's matches (their keys) or a count, then the page
    text_search = bool(terms(query.text))
    counted = read.matches_select(query) if text_search else read.count_select(query)
    async with backend.db.engine.connect() as connection:
        answer = await connection.execute(counted)
        keys = answer.all() if text_search else []
        dense = read.is_dense(len(keys) if text_search else int(answer.scalar() or 0))
    page = read.page_select(query, dense=dense)
    if text_search and not dense:  # the newest of the keys, read by id (ReadModel._rows_of)
        newest = sorted(keys, key=lambda k: (k.raised_at, k.seq), reverse=True)
        chosen = [k.alert_id for k in newest[query.offset : query.offset + query.limit]]
        page = select(alerts).where(alerts.c.alert_id.in_(chosen))
    found: dict[str, Any] = {"query": repr(query), "dense": dense}
    print(
        f"\n  {backend.name}: {result.kind} missed (p95 {result.p95 * 1000:.0f} ms); "
        f"slowest: {query}{' (dense: the page walks the newest alerts)' if dense else ''}"
    )
    async with backend.db.engine.connect() as connection:
        for name, statement in (("page", page), ("count", counted)):
            if name == "page" and dense:  # as search() asks it (the dense path)
                await read.db.walk_in_order(connection)
            began = time.perf_counter()
            await connection.execute(statement)
            took = time.perf_counter() - began
            if backend.db.dialect == "postgresql":  # the statement as sent, parameters bound
                compiled = statement.compile(
                    dialect=connection.dialect, compile_kwargs={"render_postcompile": True}
                )
                values = tuple(compiled.params[k] for k in compiled.positiontup or ())
                explained = await connection.exec_driver_sql(
                    "EXPLAIN (ANALYZE, BUFFERS) " + str(compiled), values
                )
                plan = [str(row[0]) for row in explained]
            else:
                literal = statement.compile(
                    dialect=connection.dialect, compile_kwargs={"literal_binds": True}
                )
                explained = await connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {literal}")
                plan = [" | ".join(str(v) for v in row) for row in explained]
            found[name] = {"seconds": took, "plan": plan}
            print(f"    {name}: {took * 1000:.0f} ms")
            for line in plan[:lines]:
                print(f"      {line}")
            if len(plan) > lines:
                print(f"      ... ({len(plan) - lines} more lines)")
    return found


async def like_only(read: ReadModel, query: AlertQuery) -> AlertPage:
    """The search as it was before the grams index (the baseline of the free-text kinds):
    the page and the capped count with the `LIKE`s alone."""
    page = read.alert_select(query, indexed=False).limit(query.limit).offset(query.offset)
    counted = select(func.count()).select_from(
        read.alert_select(query, indexed=False)
        .with_only_columns(alerts.c.alert_id)
        .order_by(None)
        .limit(TOTAL_CAP + 1)
        .subquery()
    )
    async with read.db.engine.connect() as connection:
        found = (await connection.execute(page)).all()
        total = int(await connection.scalar(counted) or 0)
    return AlertPage(
        items=[rows.view(r._mapping) for r in found],
        total=min(total, TOTAL_CAP),
        total_exact=total <= TOTAL_CAP,
    )


# -- the run -------------------------------------------------------------------------------


async def measure(
    backend: Backend,
    history: History,
    runs: int,
    seed: int,
    like_baseline: bool,
    empty_url: str,
    goal: float = SEARCH_GOAL,
) -> dict[str, Any]:
    registry = CenterRegistry.load()
    read = ReadModel(backend.db, "Asia/Shanghai")
    kinds = query_kinds(history, registry, read)
    print(f"\n  {backend.name}: alert search, {runs} queries a kind")
    searches = await time_searches(read, kinds, runs, seed, goal=goal)
    print(f"  {backend.name}: figures (every month of two years)")
    figures = await time_figures(read, registry)
    print(f"  {backend.name}: start (ReadModelState.prepare, 5 times each)")
    first_start, _ = await start_once(empty_url)
    empty, _ = await time_start(empty_url)
    loaded, in_hub = await time_start(backend.url)
    print(
        f"    first start, new database (migrations): {first_start:.2f} s; empty, migrated: "
        f"p50 {statistics.median(empty):.3f} s; loaded: p50 {statistics.median(loaded):.2f} s "
        f"max {max(loaded):.2f} s ({in_hub:,} alerts into the hub)"
    )
    explained = {}
    for result in [*searches, *figures]:
        if not result.met and result.slowest is not None and isinstance(result.slowest, AlertQuery):
            explained[result.kind] = await explain(backend, read, result)
    fixed: list[Timed] = []  # here: the free-text kinds with the LIKEs alone (the baseline)
    if like_baseline:
        print(f"  {backend.name}: the free-text kinds again, LIKE alone (no index)")
        text_kinds = {k: kinds[k] for k in kinds if "q:" in k}
        fixed = await time_searches(read, text_kinds, runs, seed, partial(like_only, read), goal)
        indexed = {r.kind: r.totals for r in searches}
        same = all(f.totals == indexed[f.kind] for f in fixed)
        print(
            f"    the same totals with and without the index, query by query: "
            f"{'yes' if same else 'NO'}"
        )
    return {
        "searches": searches,
        "figures": figures,
        "start": {"first": first_start, "empty": empty, "loaded": loaded, "in_hub": in_hub},
        "explained": explained,
        "fixed": fixed,
    }


async def table_sizes(backend: Backend) -> str:
    async with backend.db.engine.connect() as connection:
        if backend.db.dialect == "postgresql":
            total = await connection.scalar(text("SELECT pg_database_size(current_database())"))
            heap = await connection.scalar(text("SELECT pg_total_relation_size('alerts')"))
            return (
                f"database {int(total or 0) / 2**30:.2f} GiB "
                f"(alerts with indexes {int(heap or 0) / 2**30:.2f} GiB)"
            )
    path = Path(str(backend.db.engine.url.database))
    return f"file {path.stat().st_size / 2**30:.2f} GiB"


def report(results: dict[str, dict[str, Any]], history: History) -> None:
    """The tables: each figure in ms and as a ratio to the same run's baseline (search and
    figures: the p50 of a case_id search, an indexed point lookup with its round trips;
    start: the start on an empty database)."""
    names = list(results)
    print(
        f"\nalert search at {history.alerts:,} alerts / {history.facts:,} facts / "
        f"{history.cases:,} cases: p50 / p95 ms, (x p50 of case_id); goal p95 < 200 ms"
    )
    print(f"  {'filter':<38}" + "".join(f"{n:>32}" for n in names))
    base = {
        name: next(t.p50 for t in r["searches"] if t.kind == "case_id")
        for name, r in results.items()
    }
    fixed = {name: {t.kind: t for t in r["fixed"]} for name, r in results.items()}

    def cell(t: Timed, name: str) -> str:
        mark = "" if t.met else " !"  # p95 (figures: every one) within the goal
        if t.kind.startswith(("figures", "headline")):
            mark = "" if max(t.seconds) < t.goal else " !"
        return f"{t.p50 * 1000:>9.1f} / {t.p95 * 1000:>7.1f} (x{t.p50 / base[name]:>6.1f}){mark:2}"

    for i, t0 in enumerate(results[names[0]]["searches"]):
        print(f"  {t0.kind:<38}" + "".join(cell(results[n]["searches"][i], n) for n in names))
    for name in names:
        for kind, t in fixed[name].items():
            print(f"  {name}, LIKE alone (before the index): {kind:<30} {cell(t, name)}")
    print("figures, every month of two years: p50 / p95 ms (x p50 of case_id); goal < 1 s")
    for i, t0 in enumerate(results[names[0]]["figures"]):
        print(f"  {t0.kind:<38}" + "".join(cell(results[n]["figures"][i], n) for n in names))
    print("start to ready (ReadModelState.prepare, 5 starts; goal < 5 s)")
    for name in names:
        s = results[name]["start"]
        empty = statistics.median(s["empty"])
        loaded = statistics.median(s["loaded"])
        print(
            f"  {name:<12} loaded p50 {loaded:.2f} s (max {max(s['loaded']):.2f}), empty p50 "
            f"{empty:.3f} s: x{loaded / empty:.0f}; "
            f"first start of a new database {s['first']:.2f} s"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--alerts", type=int, default=1_000_000)
    parser.add_argument("--facts", type=int, default=3_000_000)
    parser.add_argument("--backends", default="postgresql,sqlite")
    parser.add_argument("--runs", type=int, default=50, help="queries of each kind")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument(
        "--no-like-baseline",
        dest="like_baseline",
        action="store_false",
        help="skip the free-text kinds without the index (minutes at 1M alerts)",
    )
    parser.add_argument("--search-goal", type=float, default=SEARCH_GOAL * 1000, help="ms")
    args = parser.parse_args()
    asyncio.run(run(args))


async def run(args: argparse.Namespace) -> None:
    began = time.perf_counter()
    settings = Settings.from_env()
    cluster: PostgresCluster | None = None
    home = Path(tempfile.mkdtemp(prefix="bench-readmodel-"))
    backends: list[Backend] = []
    empty_urls: dict[str, str] = {}
    try:
        for name in args.backends.split(","):
            if name == "postgresql":
                cluster = PostgresCluster(extra_options=DURABLE)
                cluster.start()
                for database in ("history", "empty"):
                    cluster.execute(
                        f"CREATE DATABASE {database} TEMPLATE template0 ENCODING 'UTF8' "
                        "LC_COLLATE 'C' LC_CTYPE 'C.UTF-8'"
                    )
                url = cluster.database_url("history")
                empty_urls[name] = cluster.database_url("empty")
            elif name == "sqlite":
                url = f"sqlite:///{home}/supervisor.db"
                empty_urls[name] = f"sqlite:///{home}/empty.db"
            else:
                raise SystemExit(f"unknown back end {name!r}")
            db = Database(url)
            await db.upgrade()
            backends.append(Backend(name, url, db))
        print(
            f"loading {args.alerts:,} alerts and {args.facts:,} facts into "
            f"{', '.join(b.name for b in backends)} (load average {c.load_average()})"
        )
        history = await load(backends, args.alerts, args.facts, args.seed, settings.topic_alerts)
        for backend in backends:
            steps = ", ".join(f"{k} {v:.0f} s" for k, v in backend.seconds.items())
            print(f"  {backend.name}: {steps}; {await table_sizes(backend)}")
        print(f"  statuses: {history.statuses}")
        results: dict[str, dict[str, Any]] = {}
        for backend in backends:
            print(f"\n{backend.name} (load average {c.load_average()})")
            results[backend.name] = await measure(
                backend,
                history,
                args.runs,
                args.seed,
                args.like_baseline,
                empty_urls[backend.name],
                args.search_goal / 1000,
            )
        report(results, history)
        c.save(
            "read_model_load",
            {
                "alerts": history.alerts,
                "facts": history.facts,
                "cases": history.cases,
                "load_seconds": {b.name: b.seconds for b in backends},
                "results": {
                    name: {
                        "searches": {
                            t.kind: {"p50": t.p50, "p95": t.p95, "totals": t.totals}
                            for t in r["searches"]
                        },
                        "figures": {
                            t.kind: {"p50": t.p50, "p95": t.p95, "max": max(t.seconds)}
                            for t in r["figures"]
                        },
                        "start": r["start"],
                        "explained": r["explained"],
                        "fixed": {t.kind: {"p50": t.p50, "p95": t.p95} for t in r["fixed"]},
                    }
                    for name, r in results.items()
                },
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


if __name__ == "__main__":
    main()
