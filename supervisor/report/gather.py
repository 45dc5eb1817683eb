"""A report's data read from the read model, for the CLI (`supervisor report`) and the web
service (`GET /api/report`): the one part of the report that reads the database.

What each figure comes from: the headline and the alerts by rule from
`ReadModel.figures` (the same counts the statistics API gives); the ranking, the grades
and the trend from `assess_period` and `assess_trend` (the same scores `supervisor assess`
gives, never recomputed); the worst overdue cases and the orders of the period from the
report's queries (queries.py); the orders of earlier periods still owing a reply past
their due time, from `ReadModel.count_orders`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path

from supervisor import orders
from supervisor.assessment.periods import Period
from supervisor.assessment.run import By, assess_period, assess_trend
from supervisor.assessment.scheme import Scheme
from supervisor.core.calendar import CalendarBook
from supervisor.report import queries
from supervisor.report.model import (
    LISTED_ORDERS,
    TREND_PERIODS,
    WORST_CASES,
    Report,
    headline_of,
    is_city,
    order_lines,
    order_summary,
    rules_of,
    with_details,
    worst_cases,
)
from supervisor.store.queries import ReadModel


async def gather(
    read: ReadModel,
    scheme: Scheme,
    when: Period,
    calendars: CalendarBook,
    *,
    scope: str,
    centers: Sequence[str] | None,
    names: Mapping[str, str],
    now: datetime,
    rule_titles: Mapping[str, str] | None = None,
) -> Report:
    """The report of `scope` (a center's code; the city's for the city's report) for
    `when`, over `centers` (the codes the caller may see within the scope, resolved as
    for every figure; None: every center), read at `now` (aware).

    The city's report ranks the counties (each with its townships, `by="county"`) and
    grades every center besides; another center's ranks its own centers."""
    city = is_city(scope)
    since, until = read.day_range(when.first, when.last)
    end = min(until, now)  # an open case's lateness: at the period's end, or now within it
    counts = await read.figures(since, until, centers, "center")
    by: By = "county" if city else "center"
    trend = await assess_trend(
        read, scheme, when.trailing(TREND_PERIODS), calendars, by, centers, names, now=now
    )
    ranking = trend[-1]  # the same as assess_period(when, by): its last period
    grades = (
        await assess_period(read, scheme, when, calendars, "center", centers, names, now=now)
        if city
        else None
    )
    late = await queries.late_cases(read, since, until, end, centers)
    worst = worst_cases(late, calendars, end, names, WORST_CASES)
    worst = with_details(worst, await queries.case_details(read, [c.case_id for c in worst]))
    lines = order_lines(await queries.period_orders(read, since, until, centers), names, now)
    owing = await read.count_orders(
        centers, statuses=sorted(orders.AWAITING_REPLY), due_before=now, issued_before=since
    )
    return Report(
        scope=scope,
        scope_name=names.get(scope, scope),
        city=city,
        period=when,
        generated_at=now,
        headline=headline_of(counts),
        ranking=ranking,
        grades=grades,
        trend=trend,
        rules=rules_of(counts, rule_titles or {}),
        worst=worst,
        orders=lines[:LISTED_ORDERS],
        order_summary=order_summary(lines, owing),
    )


def rule_titles(rules_dir: Path) -> dict[str, str]:
    """Each rule's title as people read it (the rules in force, and the late reply to an
    order), to name the alerts by rule; empty when the rules cannot be read (the chart
    then shows the rules' ids: a report is not refused for it)."""
    from supervisor.core.rules import RuleBook, RuleError

    try:
        book = RuleBook.load(rules_dir)
    except (RuleError, ValueError, OSError):
        return {orders.RULE_ID: orders.RULE_TITLE}
    return {rule.id: rule.spec.title for rule in book} | {orders.RULE_ID: orders.RULE_TITLE}
