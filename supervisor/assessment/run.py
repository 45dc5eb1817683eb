"""One assessment: the read model's counts over a period and the period before, per
center, department, window or staff member, scored by a scheme. The CLI (`supervisor
assess`) and, later, the web service and the report call `assess_period`; `as_text` and
`as_json` say the result."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence, Set
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal, TypeVar, get_args

from supervisor.assessment.loops import (
    APPEAL_MEASURES,
    BAD_LEVEL,
    GOOD_LEVEL,
    LOOP_MEASURES,
    ORDER_MEASURES,
    LoopCounts,
    LoopFact,
    closed_loops,
    order_replies,
)
from supervisor.assessment.measures import measures_of
from supervisor.assessment.periods import Period
from supervisor.assessment.scheme import Scheme
from supervisor.assessment.score import Assessed, Measures, assess
from supervisor.core.calendar import CalendarBook
from supervisor.store.queries import Counts, Grouping, ReadModel

T = TypeVar("T")
Summable = TypeVar("Summable", Counts, LoopCounts)

#: What an assessment ranks: the read model's groupings, or counties (a county-level
#: center with the township centers below it, rolled up into one unit; the city's own
#: center is a unit of its own).
By = Literal[Grouping, "county"]
BYS: Final[tuple[str, ...]] = (*get_args(Grouping), "county")
#: What a unit is called, by grouping (the text and the tables' headers).
BY_ZH: Final[dict[str, str]] = {
    "center": "服务中心",
    "county": "县（市、区）",
    "department": "部门",
    "window": "窗口",
    "staff": "工作人员",
}
#: A unit whose cases name no department, window or staff member.
UNNAMED: Final = "（未注明）"
#: How far before a period its ratings and complaints are read: every one due in the
#: period (15 working days after it, a month and more across a long holiday) is among
#: them.
LOOKBACK: Final = timedelta(days=62)
#: Periods whose measures are read at once (the machines that run it have two cores and
#: more; the database's pool holds five connections).
PARALLEL_READS: Final = 2


@dataclass(frozen=True)
class Assessment:
    """The scored units of one period, highest first."""

    scheme: Scheme
    period: Period
    by: By
    units: list[Assessed]
    names: Mapping[str, str]  # center code -> name


def unit_key(key: tuple[str | None, ...]) -> str:
    """A unit's key: its center's code, and after a `/` its department, window or staff
    member (UNNAMED when its cases name none)."""
    center, *group = key
    return str(center) if not group else f"{center}/{group[0] or UNNAMED}"


def county_of(center: str) -> str:
    """The county-level center a center's figures roll up to: a township's county (the
    first 6 digits of its code, contract §2), a county or the city itself."""
    return center[:6]


async def assess_period(
    read: ReadModel,
    scheme: Scheme,
    when: Period,
    calendars: CalendarBook,
    by: By = "center",
    centers: Sequence[str] | None = None,
    names: Mapping[str, str] | None = None,
    *,
    now: datetime | None = None,
) -> Assessment:
    """The units of `centers` (None: every center) over `when`, scored by `scheme`, with
    their change against the period before, as they stand at `now` (aware; None: the
    clock's now): of a period still in progress, the bad ratings, complaints and replies
    to orders not due yet and not acted on yet are not counted (loops.counted)."""
    return (await assess_trend(read, scheme, [when], calendars, by, centers, names, now=now))[0]


async def assess_trend(
    read: ReadModel,
    scheme: Scheme,
    periods: Sequence[Period],
    calendars: CalendarBook,
    by: By = "center",
    centers: Sequence[str] | None = None,
    names: Mapping[str, str] | None = None,
    *,
    now: datetime | None = None,
) -> list[Assessment]:
    """`assess_period` for each of `periods` (consecutive, oldest first, as
    `Period.trailing` gives them), all at the same `now`, each period's measures read
    once (a trend of six months reads seven, not twelve), PARALLEL_READS periods at a
    time where the database allows it: the database works on one period while Python
    judges the loops of another, and a second core reads its own."""
    spans = list(dict.fromkeys(span for when in periods for span in _with_before(when)))
    gate = asyncio.Semaphore(PARALLEL_READS if read.db.concurrent_reads else 1)
    at = now if now is not None else datetime.now(UTC)

    async def measures(span: Period) -> dict[str, Measures]:
        async with gate:
            return await measures_over(read, scheme, span, calendars, by, centers, now=at)

    measured = dict(zip(spans, await asyncio.gather(*map(measures, spans)), strict=True))
    results = []
    for when in periods:
        earlier = _before(when)
        units = assess(scheme, measured[when], measured[earlier] if earlier else {})
        results.append(Assessment(scheme, when, by, units, dict(names or {})))
    return results


def _before(when: Period) -> Period | None:
    try:
        return when.before()
    except ValueError:  # before the earliest year: nothing to compare with
        return None


def _with_before(when: Period) -> list[Period]:
    earlier = _before(when)
    return [when] if earlier is None else [earlier, when]


async def measures_over(
    read: ReadModel,
    scheme: Scheme,
    span: Period,
    calendars: CalendarBook,
    by: By,
    centers: Sequence[str] | None,
    *,
    now: datetime,
) -> dict[str, Measures]:
    """Each unit's measures over `span` as they stand at `now`: its cases and cards
    counted by the database, its loops judged from their facts only when the scheme
    scores one."""
    since, until = read.day_range(span.first, span.last)
    grouping: Grouping = "center" if by == "county" else by
    counted = {
        unit_key(counts.key): counts
        for counts in await read.figures(since, until, centers, grouping)
    }
    loops = await closed_loops_of(
        read, calendars, since, until, grouping, centers, scheme.measures, now=now
    )
    if by == "county":
        counted = {
            county: _summed(Counts((county,)), each) for county, each in _rolled_up(counted).items()
        }
        loops = {county: _summed(LoopCounts(), each) for county, each in _rolled_up(loops).items()}
    active = {key for key, loop in loops.items() if loop != LoopCounts()}
    return {
        key: measures_of(counted.get(key) or Counts((key,)), loops.get(key))
        for key in sorted(set(counted) | active)
    }


def _rolled_up(by_center: Mapping[str, T]) -> dict[str, list[T]]:
    found: dict[str, list[T]] = {}
    for center, value in by_center.items():
        found.setdefault(county_of(center), []).append(value)
    return found


def _summed(total: Summable, parts: Iterable[Summable]) -> Summable:
    """`total` with every part's counts added in (the numbers, and the by-rule and
    by-severity tallies), the key left as `total`'s."""
    values: dict[str, Any] = {each.name: getattr(total, each.name) for each in fields(total)}
    for part in parts:
        for name, mine in values.items():
            theirs = getattr(part, name)
            if name == "key":
                continue
            if isinstance(mine, dict):
                values[name] = {
                    tally: mine.get(tally, 0) + theirs.get(tally, 0)
                    for tally in mine.keys() | theirs.keys()
                }
            else:
                values[name] = mine + theirs
    return type(total)(**values)


async def closed_loops_of(
    read: ReadModel,
    calendars: CalendarBook,
    since: datetime,
    until: datetime,
    by: Grouping,
    centers: Sequence[str] | None,
    measures: Set[str],
    *,
    now: datetime,
) -> dict[str, LoopCounts]:
    """Each unit's loops over [since, until) as they stand at `now`, of those that
    `measures` need (the rest is not read): the ratings given counted by the database,
    and the bad ratings and complaints due judged from their facts (loops.py), read from
    LOOKBACK before the period, bad ratings only; the replies to supervision orders due;
    the appeals decided."""
    loops: dict[str, LoopCounts] = {}
    if measures & LOOP_MEASURES:
        loops = await _ratings_and_complaints(read, calendars, since, until, by, centers, now)
    if measures & ORDER_MEASURES:
        due = await read.orders_due(since, until, centers, by)
        for unit, counted in order_replies(
            ((unit_key(key), order) for key, order in due), since, until, now=now
        ).items():
            loop = loops.setdefault(unit, LoopCounts())
            loop.order_replies_due = counted.order_replies_due
            loop.order_replies_in_time = counted.order_replies_in_time
    if measures & APPEAL_MEASURES:
        for key, (decided, upheld) in (
            await read.appeal_decisions(since, until, centers, by)
        ).items():
            loop = loops.setdefault(unit_key(key), LoopCounts())
            loop.appeals_decided, loop.appeals_upheld = decided, upheld
    return loops


async def _ratings_and_complaints(
    read: ReadModel,
    calendars: CalendarBook,
    since: datetime,
    until: datetime,
    by: Grouping,
    centers: Sequence[str] | None,
    now: datetime,
) -> dict[str, LoopCounts]:
    facts = [
        LoopFact(unit_key(key), case_id, center_id, event_type, at, level)
        for key, case_id, center_id, event_type, at, level in await read.loop_facts(
            since - LOOKBACK, until, centers, by, ratings_at_most=BAD_LEVEL
        )
    ]
    loops = closed_loops(facts, calendars, since, until, now=now)
    rated = await read.rating_counts(since, until, centers, by, GOOD_LEVEL, BAD_LEVEL)
    for key, (given, good, bad) in rated.items():
        loop = loops.setdefault(unit_key(key), LoopCounts())
        loop.evaluated, loop.good, loop.bad = given, good, bad
    return loops


def as_json(result: Assessment) -> dict[str, Any]:
    """The assessment as the API and `--format json` give it."""
    return {
        "scheme": result.scheme.name,
        "period": result.period.name,
        "period_label": result.period.label,
        "first_day": result.period.first.isoformat(),
        "last_day": result.period.last.isoformat(),
        "by": result.by,
        "units": [
            {
                "rank": unit.rank,
                "key": unit.key,
                "center_id": unit.key.split("/", 1)[0],
                "center_name": result.names.get(unit.key.split("/", 1)[0], ""),
                "group": unit.key.split("/", 1)[1] if "/" in unit.key else None,
                "score": unit.score,
                "grade": unit.grade,
                "change": unit.change,
                "indicators": [
                    {
                        "id": part.id,
                        "name": part.name,
                        "value": part.value,
                        "points": part.points,
                        "deducted": part.deducted,
                    }
                    for part in unit.indicators
                ],
            }
            for unit in result.units
        ],
    }


def as_text(result: Assessment) -> str:
    """The ranking as a plain table (Chinese headers), one unit a line."""
    heads = ["排名", BY_ZH[result.by], "得分", "等级", "较上期"] + [
        indicator.name for indicator in result.scheme.indicators
    ]
    rows = [heads]
    for unit in result.units:
        center, _, group = unit.key.partition("/")
        name = result.names.get(center, center)
        shown = f"{name} {group}" if group else name
        change = "—" if unit.change is None else f"{unit.change:+.1f}"
        parts = [_part(part.value, part.points, part.deducted) for part in unit.indicators]
        rows.append([str(unit.rank), shown, f"{unit.score:.1f}", unit.grade, change, *parts])
    title = f"{result.scheme.name} · {result.period.label} · 按{BY_ZH[result.by]}"
    if not result.units:
        return f"{title}\n（本期没有可考核的单位）\n"
    widths = [max(_width(row[i]) for row in rows) for i in range(len(heads))]
    lines = [_line(row, widths) for row in rows]
    return "\n".join([title, *lines]) + "\n"


def _line(cells: Sequence[str], widths: Sequence[int]) -> str:
    padded = (
        cell + " " * (width - _width(cell)) for cell, width in zip(cells, widths, strict=True)
    )
    return "  ".join(padded).rstrip()


def _part(value: float | None, points: float | None, deducted: float | None) -> str:
    if deducted is not None:
        return f"-{deducted:g}" if deducted else "0"
    if value is None:
        return "—"
    return f"{value:.1%}（{points:g}分）" if points is not None else f"{value:.1%}"


def _width(text: str) -> int:
    """Columns a text takes in a terminal: a Chinese character takes two."""
    return sum(2 if ord(char) > 0x2E80 else 1 for char in text)
