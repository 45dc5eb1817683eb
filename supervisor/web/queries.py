"""The alerts a caller asks for, turned into a read-model query within their scope.

A director only ever sees the centers of their scope (their center and those below it);
one alert or case outside it gets the same 404 as one that does not exist, so that no
answer says which ids exist elsewhere.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import HTTPException
from pydantic import BaseModel, Field

from supervisor.auth import Principal, Role
from supervisor.store.queries import AlertQuery, ReadModel
from supervisor.web.bounds import check_moment
from supervisor.web.hub import Alert
from supervisor.web.services import Services
from supervisor.web.step_names import item_code_of

#: The statuses `GET /api/alerts?status=` filters on: journal.STATUSES, spelt out for
#: the OpenAPI schema and the 422 of an unknown one (a test checks they agree).
AlertStatus = Literal[
    "open", "acknowledged", "appealed", "resolved", "withdrawn", "closed", "superseded"
]


class AlertFilters(BaseModel):
    """The filters `/api/alerts` and its export share (query parameters)."""

    severity: Literal["yellow", "red"] | None = None
    rule_id: str | None = Field(default=None, max_length=128)
    status: AlertStatus | None = None
    disposition: Literal["verified", "rectified", "held_accountable", "false_alarm"] | None = Field(
        default=None, description="how a resolved alert was disposed of: 问责 and so on"
    )
    case_id: str | None = Field(default=None, max_length=128)
    department: str | None = Field(default=None, max_length=128)
    q: str | None = Field(default=None, max_length=400, description="free text")
    since: datetime | None = None
    until: datetime | None = None


async def alert_query(
    services: Services,
    who: Principal,
    center_id: str | None,
    below: bool,
    filters: AlertFilters,
    *,
    limit: int,
    offset: int,
) -> AlertQuery:
    """The query for `filters` within the caller's scope: 422 for a time without a UTC
    offset or outside the years, 403 for a center outside the scope."""
    for moment, name in ((filters.since, "since"), (filters.until, "until")):
        if moment is None:
            continue
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise HTTPException(422, f"{name} needs a UTC offset, e.g. +08:00")
        check_moment(moment, name)
    if center_id is not None and not who.may_see(center_id):
        # with `below`, a center above one's own is fine: only one's own part shows
        above_own = (
            below and who.center is not None and services.centers.is_within(who.center, center_id)
        )
        if not above_own:
            raise HTTPException(403, "此中心不在您的职责范围内")
    return AlertQuery(
        centers=await services.read_state.scope(who, center_id, below=below),
        severity=filters.severity,
        rule_id=filters.rule_id,
        status=filters.status,
        disposition=filters.disposition,
        case_id=filters.case_id,
        department=filters.department,
        text=filters.q,
        since=filters.since,
        until=filters.until,
        limit=limit,
        offset=offset,
    )


async def visible_alert(
    read: ReadModel, alert_id: str, who: Principal
) -> tuple[Alert, list[dict[str, Any]]]:
    """The alert as shown and its history, if it exists and is in the caller's scope;
    else 404, the same answer for both, so that a director cannot learn which alert ids
    exist outside their scope (a 403 would say "it exists, elsewhere").

    A director sees that each notification was sent or failed, not the channel's
    technical answer (`error`): it names another recipient's webhook, a secret not set,
    a mail server's reply, which are the operators' to read (they are in the journal)."""
    found = await read.alert(alert_id)
    if found is None or not who.may_see(str(found[0]["center_id"])):
        raise HTTPException(404, "没有这条预警")
    if who.role is not Role.director:
        return found
    shown, history = found
    return shown, [_without_error(change) for change in history]


def _without_error(change: dict[str, Any]) -> dict[str, Any]:
    if change.get("action") != "notify" or "error" not in change:
        return change
    return {key: value for key, value in change.items() if key != "error"}


async def visible_case(services: Services, case_id: str, who: Principal) -> dict[str, Any]:
    """One case with every alert of it in the caller's scope, and the names of its item's
    handling steps by code (`step_names`, from the item catalogue: empty without one);
    404 for a case outside the scope as for an unknown one."""
    found = await services.read.case(case_id)
    if found is None or not who.may_see(str(found["center_id"])):
        raise HTTPException(404, "没有这个办件")
    found["step_names"] = await services.step_names.of(item_code_of(found["timeline"]))
    query = AlertQuery(centers=await services.read_state.scope(who), case_id=case_id, limit=500)
    found["alerts"] = (await services.read.search(query)).items
    return found
