"""Figures over a period (绩效考核): per center, or per department, window or staff
member of each center, over local days both included, in the caller's scope."""

from __future__ import annotations

from datetime import date
from typing import Any, Final

from fastapi import HTTPException

from supervisor.auth import Principal
from supervisor.store.queries import Grouping
from supervisor.web.bounds import check_day
from supervisor.web.security import require_center
from supervisor.web.services import Services

#: The longest period the figures answer for, in days, both ends included: ten years,
#: more than any assessment asks for, and a bound on what one request may scan.
STATS_MAX_DAYS: Final = 3_660
#: The field that names a row's group, besides its center.
GROUP_FIELD: Final[dict[str, str]] = {
    "department": "department",
    "window": "window_id",
    "staff": "staff_id",
}


async def figures(
    services: Services, who: Principal, start: date, end: date, center_id: str | None, by: Grouping
) -> list[dict[str, Any]]:
    """One row per center (or per center and group) of the read model's figures for
    `start`..`end`; with `center_id`, that center and those below it. 422 for a period
    out of bounds, 403 for a center outside the caller's scope."""
    check_day(start, "start")
    check_day(end, "end")
    if end < start:
        raise HTTPException(422, "结束时间早于开始时间")
    if (end - start).days + 1 > STATS_MAX_DAYS:
        raise HTTPException(422, f"start..end spans at most {STATS_MAX_DAYS} days (both included)")
    if center_id is not None:
        require_center(who, center_id)
    await services.caught_up()
    read = services.read
    scope = await services.read_state.scope(who, center_id, below=center_id is not None)
    since, until = read.day_range(start, end)
    found = await read.figures(since, until, scope, by=by)
    open_cases = await read.open_cases(scope) if by == "center" else {}
    shown = []
    for counts in found:
        code = str(counts.key[0])
        row: dict[str, Any] = {"center_id": code, "name": services.names.get(code, code)}
        if by != "center":
            row[GROUP_FIELD[by]] = counts.key[1]
        row.update(
            accepted=counts.accepted,
            concluded=counts.concluded,
            on_time=counts.on_time,
            overdue=counts.overdue,
            not_accepted=counts.not_accepted,
            withdrawn=counts.withdrawn,
            on_time_rate=counts.on_time_rate,
            alerts=counts.alerts,
        )
        if by == "center":
            row["open_cases"] = open_cases.get(code, 0)
        shown.append(row)
    return shown
