"""The assessment (绩效考核) over HTTP: a period's scores, grades and ranks per center,
county (a county-level center with its townships), department, window or staff member
in the caller's scope, and their trend over the
periods before it (supervisor/assessment/ does the scoring; this reads the scheme and
the scope)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any, Final

from fastapi import HTTPException

from supervisor.assessment.periods import EARLIEST_YEAR, LATEST_YEAR, Period
from supervisor.assessment.periods import period as parse_period
from supervisor.assessment.run import Assessment, By, as_json, assess_period, assess_trend
from supervisor.assessment.scheme import Scheme, SchemeError, load_scheme
from supervisor.auth import Principal
from supervisor.web.security import require_center
from supervisor.web.services import Services

log = logging.getLogger(__name__)

#: How many periods a trend may cover (two years of months): each is scored on its own.
TREND_MAX: Final = 24
#: A township's division code has nine digits (a county's six).
TOWNSHIP_DIGITS: Final = 9
#: What a ranking by county over part of a county is told (422).
PART_OF_A_COUNTY: Final = "按县区考核须包含整个县区（本级及所辖乡镇），请按服务中心查看"


def whole_counties(by: By, who: Principal, center_id: str | None) -> None:
    """422 for a ranking by county below a county: `center_id` a township, or without it
    a township's director. The county would be scored on that part of it, under the
    county's name. Decided from the request, not from the centers in scope: a township
    seen in events whose county never sent one is no part of a county to refuse."""
    root = center_id if center_id is not None else who.center
    if by == "county" and root is not None and len(root) == TOWNSHIP_DIGITS:
        raise HTTPException(422, PART_OF_A_COUNTY)


async def assessment(
    services: Services, who: Principal, period: str, by: By, center_id: str | None
) -> dict[str, Any]:
    """The assessment of `period` (2026-11, 2026-Q4, 2026) for the units in the caller's
    scope (with `center_id`, that center and those below it). 422 for a period that is
    not one, 403 for a center outside the scope, 503 when the scheme or the rules cannot
    be read (the file is refused with its line: `supervisor rules check`)."""
    when = period_of(period)
    scheme = await _ready(services, who, center_id)
    scope = await services.read_state.scope(who, center_id, below=center_id is not None)
    whole_counties(by, who, center_id)
    calendars = services.order_desk.calendars  # the centers' working days
    result = await assess_period(
        services.read, scheme, when, calendars, by, scope, services.names, now=services.now()
    )
    return as_json(result)


async def assessment_trend(
    services: Services,
    who: Principal,
    period: str,
    months: int,
    by: By,
    center_id: str | None,
) -> dict[str, Any]:
    """The trend of the units in the caller's scope: their score, grade and rank in each
    of the `months` periods of `period`'s length that end with it (`2026-11` and 6: June
    to November; a quarter counts quarters), oldest first. The refusals of `assessment`,
    and 422 for `months` outside 1–TREND_MAX."""
    when = period_of(period)
    if not 1 <= months <= TREND_MAX:
        raise HTTPException(422, f"months: 1 to {TREND_MAX}")
    scheme = await _ready(services, who, center_id)
    scope = await services.read_state.scope(who, center_id, below=center_id is not None)
    whole_counties(by, who, center_id)
    periods = when.trailing(months)
    calendars = services.order_desk.calendars  # the centers' working days
    results = await assess_trend(
        services.read, scheme, periods, calendars, by, scope, services.names, now=services.now()
    )
    return trend_json(scheme, by, periods, results, services.names)


def trend_json(
    scheme: Scheme,
    by: By,
    periods: Sequence[Period],
    results: Sequence[Assessment],
    names: Mapping[str, str],
) -> dict[str, Any]:
    """A trend as the API gives it: the periods, oldest first, and each unit with one point
    a period (`{score, grade, rank}`, null when the unit was not assessed then), the units
    in the order of the last period's ranking, then those it does not have."""
    points: dict[str, list[dict[str, Any] | None]] = {}
    for at, result in enumerate(results):
        for unit in result.units:
            line = points.setdefault(unit.key, [None] * len(results))
            line[at] = {"score": unit.score, "grade": unit.grade, "rank": unit.rank}

    def order(key: str) -> tuple[int, int, float, str]:
        line = points[key]
        last = line[-1]
        if last is not None:
            return (0, int(last["rank"]), 0.0, key)
        latest = next(point for point in reversed(line) if point is not None)
        return (1, 0, -float(latest["score"]), key)

    return {
        "scheme": scheme.name,
        "by": by,
        "period": periods[-1].name if periods else None,
        "grades": [{"name": grade.name, "min": grade.min} for grade in scheme.grades],
        "periods": [
            {
                "period": span.name,
                "period_label": span.label,
                "first_day": span.first.isoformat(),
                "last_day": span.last.isoformat(),
            }
            for span in periods
        ],
        "units": [
            {
                "key": key,
                "center_id": key.split("/", 1)[0],
                "center_name": names.get(key.split("/", 1)[0], ""),
                "group": key.split("/", 1)[1] if "/" in key else None,
                "points": points[key],
            }
            for key in sorted(points, key=order)
        ],
    }


#: What a period may be, said when one is refused (never what was sent).
PERIOD_FORMS: Final = (
    f"考核期（period）应为月份（如 2026-11）、季度（如 2026-Q4）或年份（如 2026），"
    f"年份在 {EARLIEST_YEAR}–{LATEST_YEAR} 之间"
)


def period_of(text: str) -> Period:
    """The period `text` names; 422 saying the forms it may take."""
    try:
        return parse_period(text)
    except ValueError:
        raise HTTPException(422, PERIOD_FORMS) from None


async def _ready(services: Services, who: Principal, center_id: str | None) -> Scheme:
    """The scheme in force, once `center_id` is found in the caller's scope (403) and the
    read model has caught up; 503 when the scheme or the rules cannot be read (the file
    is refused with its line: `supervisor rules check`)."""
    if center_id is not None:
        require_center(who, center_id)
    try:
        scheme = load_scheme(services.settings.rules_dir / "assessment" / "scheme.yaml")
    except (SchemeError, OSError) as exc:
        log.warning("the assessment cannot be scored: %s", exc)
        raise HTTPException(503, "考核评分方案有误，暂不能考核；请运维人员检查") from None
    await services.caught_up()
    return scheme
