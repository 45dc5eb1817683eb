"""The report's data (`Report`) and the pure steps that shape it from what the read model
gives: the headline figures summed over the centers, the alerts by rule, the worst
overdue cases ranked by how late they are (in working days of their center's calendar),
and the supervision orders with their replies, every free text masked.

No I/O and no clock: `gather.py` reads, this module decides what is shown, so each step
is tested on plain values. Scores, grades and ranks are not here but in the
`Assessment`s the report carries, as `supervisor.assessment.run` computed them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Final

from supervisor import orders
from supervisor.assessment.periods import Period
from supervisor.assessment.run import Assessment
from supervisor.centers import level_of, region_name
from supervisor.core.calendar import CalendarBook
from supervisor.core.raising import working_days_to_the_hundredth
from supervisor.masking import mask_applicant, mask_text
from supervisor.store.queries import Counts

#: How many overdue cases a report lists at most: the worst, by working days late.
WORST_CASES: Final = 10
#: How many supervision orders a report lists at most (the count says how many in all).
LISTED_ORDERS: Final = 30
#: How many months (quarters, years) the trend of scores shows, the report's included.
TREND_PERIODS: Final = 6


@dataclass(frozen=True)
class Headline:
    """The period's figures over every center of the report: cases accepted, concluded
    (on time, overdue), refused and withdrawn, and the cards raised, of which
    `red_withdrawn` and `yellow_withdrawn` were withdrawn since and cost no center
    anything in the assessment: `red_delisted` and `yellow_delisted` on an appeal upheld
    (摘牌), the rest by the system when a late event proved them wrong (系统撤销)."""

    accepted: int = 0
    concluded: int = 0
    on_time: int = 0
    overdue: int = 0
    not_accepted: int = 0
    withdrawn: int = 0
    red: int = 0
    yellow: int = 0
    red_withdrawn: int = 0
    yellow_withdrawn: int = 0
    red_delisted: int = 0
    yellow_delisted: int = 0

    @property
    def on_time_rate(self) -> float | None:
        """On time among the concluded cases judged against a deadline; None for none."""
        judged = self.on_time + self.overdue
        return self.on_time / judged if judged else None

    @property
    def red_withdrawn_by_system(self) -> int:
        """Red cards the system withdrew (a late event proved them wrong)."""
        return self.red_withdrawn - self.red_delisted

    @property
    def yellow_withdrawn_by_system(self) -> int:
        """Yellow cards the system withdrew (a late event proved them wrong)."""
        return self.yellow_withdrawn - self.yellow_delisted


@dataclass(frozen=True)
class RuleCount:
    """Alerts a rule raised in the period: its id, its title as people read it, how many."""

    rule_id: str
    title: str
    raised: int


@dataclass(frozen=True)
class OverdueCase:
    """One case handled late, as a report may show it: no personal data but the
    applicant's masked name."""

    case_id: str
    center_id: str
    center_name: str
    department: str
    item_name: str
    applicant: str  # masked (张*丰), or empty
    status: str  # concluded (late) or open (still being handled past its deadline)
    accepted_at: datetime | None
    deadline: datetime
    concluded_at: datetime | None
    late_days: float  # working days past the deadline, at conclusion or at the period's end


@dataclass(frozen=True)
class Reply:
    """A center's reply to an order: when, and what it says (masked)."""

    at: datetime
    note: str


@dataclass(frozen=True)
class OrderLine:
    """One supervision order (督办单) of the period as the report lists it."""

    order_id: str
    center_id: str
    center_name: str
    case_id: str
    requirement: str  # masked
    issued_at: datetime
    due_at: datetime
    status: str
    status_text: str
    replies: tuple[Reply, ...]
    overdue: bool  # a reply is owed and its due time has passed
    replied_late: bool = False  # a reply came after the due time it answered


@dataclass(frozen=True)
class OrderSummary:
    """The orders issued in the period in numbers: issued, replied to (at least once; of
    them, `replied_late`: a reply came after its due time), closed, and `overdue`: those
    still owing a reply past their due time when the report is made. `owing`: the
    orders of the scope issued before the period still owing one then."""

    issued: int = 0
    replied: int = 0
    closed: int = 0
    overdue: int = 0
    replied_late: int = 0
    owing: int = 0


@dataclass(frozen=True)
class Report:
    """Everything one monthly report shows, for one scope (a county and its townships,
    or the city), read at one instant."""

    scope: str  # the center whose report it is (the city's code for the city)
    scope_name: str
    city: bool  # the city's report: counties ranked, every center graded
    period: Period
    generated_at: datetime
    headline: Headline
    ranking: Assessment  # by county for the city, by center for a county
    grades: Assessment | None  # every center's grade (the city's report), else None
    trend: list[Assessment]  # the ranking's units over the last periods, oldest first
    rules: list[RuleCount]
    worst: list[OverdueCase]
    orders: list[OrderLine]
    order_summary: OrderSummary

    @property
    def place(self) -> str:
        """The place the report is about: 河池市, 金城江区."""
        return region_name(self.scope_name)

    @property
    def title(self) -> str:
        """The report's title, as printed on its first page."""
        return f"{self.place}政务服务电子监察通报"


def is_city(scope: str | None) -> bool:
    """Whether a report for `scope` is the city's (no scope, or a city's code): counties
    are then ranked as units (each with its townships) and every center graded besides."""
    return scope is None or level_of(scope) == "city"


def headline_of(counts: Iterable[Counts]) -> Headline:
    """The figures of every group summed into the report's headline."""
    total = [0] * 6
    red = yellow = red_withdrawn = yellow_withdrawn = red_delisted = yellow_delisted = 0
    for each in counts:
        for i, value in enumerate(
            (
                each.accepted,
                each.concluded,
                each.on_time,
                each.overdue,
                each.not_accepted,
                each.withdrawn,
            )
        ):
            total[i] += value
        red += each.severities.get("red", 0)
        yellow += each.severities.get("yellow", 0)
        red_withdrawn += each.withdrawn_cards.get("red", 0)
        yellow_withdrawn += each.withdrawn_cards.get("yellow", 0)
        red_delisted += each.delisted_cards.get("red", 0)
        yellow_delisted += each.delisted_cards.get("yellow", 0)
    accepted, concluded, on_time, overdue, not_accepted, withdrawn = total
    return Headline(
        accepted,
        concluded,
        on_time,
        overdue,
        not_accepted,
        withdrawn,
        red,
        yellow,
        red_withdrawn,
        yellow_withdrawn,
        red_delisted,
        yellow_delisted,
    )


def rules_of(counts: Iterable[Counts], titles: Mapping[str, str]) -> list[RuleCount]:
    """The alerts raised by rule over every group, the most first (then by id), each
    with its title where the rules know it (else its id)."""
    raised: dict[str, int] = {}
    for each in counts:
        for rule_id, n in each.alerts.items():
            raised[rule_id] = raised.get(rule_id, 0) + n
    ranked = sorted(raised.items(), key=lambda item: (-item[1], item[0]))
    return [RuleCount(rule_id, titles.get(rule_id, rule_id), n) for rule_id, n in ranked if n]


def late_working_days(
    calendars: CalendarBook, center_id: str, deadline: datetime, end: datetime
) -> float:
    """Working days of the center's calendar from its deadline to `end` (aware times),
    to two decimals, as the engine counts the lateness of an alert."""
    return working_days_to_the_hundredth(calendars.for_center(center_id).between(deadline, end))


@dataclass(frozen=True)
class LateCase:
    """A case the read model counts as late in the period, before it is ranked: from the
    `cases` table (aware times) and its events (masked when stored)."""

    case_id: str
    center_id: str
    status: str
    department: str | None
    accepted_at: datetime | None
    deadline: datetime
    concluded_at: datetime | None


def worst_cases(
    candidates: Iterable[LateCase],
    calendars: CalendarBook,
    end: datetime,
    names: Mapping[str, str],
    limit: int = WORST_CASES,
) -> list[OverdueCase]:
    """The `limit` cases latest past their deadline, in working days: a concluded case
    at its conclusion, an open one at `end` (the period's end, or now within it); the
    latest first, then by case id. Their items and applicants come after (`with_details`):
    only the few shown are read."""
    shown: list[OverdueCase] = []
    for case in candidates:
        until = case.concluded_at if case.concluded_at is not None else end
        late = late_working_days(calendars, case.center_id, case.deadline, until)
        if late <= 0:
            continue
        shown.append(
            OverdueCase(
                case_id=case.case_id,
                center_id=case.center_id,
                center_name=names.get(case.center_id, case.center_id),
                department=mask_text(case.department or ""),
                item_name="",
                applicant="",
                status=case.status,
                accepted_at=case.accepted_at,
                deadline=case.deadline,
                concluded_at=case.concluded_at,
                late_days=late,
            )
        )
    shown.sort(key=lambda case: (-case.late_days, case.case_id))
    return shown[:limit]


def with_details(
    cases: Iterable[OverdueCase], details: Mapping[str, Mapping[str, Any]]
) -> list[OverdueCase]:
    """The cases with their item's name and their applicant's name from `details` (the
    events as stored, masked when they came; masked again here, which changes nothing
    masked already, in case a row was stored before masking)."""
    filled = []
    for case in cases:
        told = details.get(case.case_id, {})
        name = str(told.get("applicant") or "")
        masked = mask_applicant({"name": name}) if name else None
        filled.append(
            replace(
                case,
                item_name=mask_text(str(told.get("item_name") or "")),
                applicant=str(masked["name"]) if masked else "",
            )
        )
    return filled


def order_lines(
    found: Iterable[orders.Order], names: Mapping[str, str], now: datetime
) -> list[OrderLine]:
    """The orders as the report lists them, in the order given: each with its center's
    name, its requirement and every reply (masked), whether a reply is overdue now, and
    whether one came after the due time it answered (`orders.rounds`)."""
    return [
        OrderLine(
            order_id=order.order_id,
            center_id=order.center_id,
            center_name=names.get(order.center_id, order.center_id),
            case_id=order.case_id,
            requirement=mask_text(order.requirement, keep=(order.case_id,)),
            issued_at=order.issued_at,
            due_at=order.due_at,
            status=order.status,
            status_text=order.view()["status_text"],
            replies=tuple(_replies(order.history, order.case_id)),
            overdue=order.overdue(now),
            replied_late=any(
                replied is not None and replied > due for due, replied in orders.rounds(order)
            ),
        )
        for order in found
    ]


def _replies(history: Sequence[Mapping[str, Any]], case_id: str) -> list[Reply]:
    replies = []
    for step in history:
        if step.get("action") != "reply":
            continue
        try:
            at = datetime.fromisoformat(str(step.get("at")))
        except ValueError:
            continue
        replies.append(Reply(at, mask_text(str(step.get("note") or ""), keep=(case_id,))))
    return replies


def order_summary(lines: Sequence[OrderLine], owing: int) -> OrderSummary:
    """The period's orders (`lines`: every one issued in it, not only those the report
    lists) in numbers, and `owing` (those of earlier periods, counted by the database)."""
    return OrderSummary(
        issued=len(lines),
        replied=sum(1 for line in lines if line.replies),
        closed=sum(1 for line in lines if line.status == "closed"),
        overdue=sum(1 for line in lines if line.overdue),
        replied_late=sum(1 for line in lines if line.replies and line.replied_late),
        owing=owing,
    )


def center_grades(grades: Assessment) -> list[tuple[str, str, float, str, int]]:
    """Every center's (code, name, score, grade, rank) of an assessment by center."""
    return [
        (unit.key, grades.names.get(unit.key, unit.key), unit.score, unit.grade, unit.rank)
        for unit in grades.units
    ]
