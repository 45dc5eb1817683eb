"""Alerts over the whole history: the list and its export, one alert with its history,
and the lifecycle's steps (supervisor/lifecycle.py) a person takes on one.

`{alert_id:path}`: an alert id holds a case id, and a case id may hold `/` (sent as it is
or as %2F: the path is matched decoded). Each action route ends with its own fixed
words, none the ending of another, and the id takes the rest: so `…/x/appeal/accept` is
accept_appeal on "x", and the appeal of an alert whose id ends in "/appeal" is
`…/<id>/appeal`. GET has one route only: an id that ends like an action
(".../acknowledge") is read as an id. An alert that does not exist and one outside the
caller's scope get the same 404.
"""

from __future__ import annotations

from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from supervisor.store import export
from supervisor.store.queries import TOTAL_CAP
from supervisor.web.changes import ChangeBody, Outcome, acknowledge_many, change_alert
from supervisor.web.downloads import ExportFormat, download
from supervisor.web.hub import Alert
from supervisor.web.queries import AlertFilters, alert_query, visible_alert
from supervisor.web.security import Viewer
from supervisor.web.services import Wired

router = APIRouter()

#: Alerts one bulk 签收 takes (a page of the console's list is 50).
BULK_MAX: Final = 200


class AlertPage(BaseModel):
    total: int  # matches, counted up to `TOTAL_CAP` (then total_exact is false)
    total_exact: bool
    offset: int
    limit: int
    seq: int  # the journal position the page was taken at
    items: list[dict[str, Any]]


@router.get("/api/alerts", response_model=AlertPage)
async def list_alerts(
    who: Viewer,
    services: Wired,
    filters: Annotated[AlertFilters, Depends()],
    center_id: str | None = None,
    below: Annotated[bool, Query(description="with the centers below center_id")] = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=TOTAL_CAP)] = 0,
) -> AlertPage:
    """Alerts in the caller's scope over the whole history, newest first by
    raised_at (then by journal position: a stable order for paging), filtered; each
    with its status (open, acknowledged, appealed, resolved, withdrawn, closed,
    superseded). `q` is free text over title, message, center and item (every word
    must match)."""
    await services.caught_up()
    # Taken before the search: the page holds at least this position (a record stored
    # meanwhile is in it too, and the socket's copy of it is applied again, harmlessly).
    seq = services.hub.stored
    query = await alert_query(services, who, center_id, below, filters, limit=limit, offset=offset)
    page = await services.read.search(query)
    return AlertPage(
        total=page.total,
        total_exact=page.total_exact,
        offset=offset,
        limit=limit,
        seq=seq,
        items=page.items,
    )


class Acknowledgements(BaseModel):
    """Several alerts to 签收 at once, with one note for all."""

    model_config = ConfigDict(extra="forbid")

    alert_ids: list[Annotated[str, Field(min_length=1, max_length=1000)]] = Field(
        min_length=1, max_length=BULK_MAX
    )
    note: str = Field(default="", max_length=2000)


class Acknowledged(BaseModel):
    acknowledged: int  # how many of `results` were acknowledged
    results: list[Outcome]


@router.post("/api/acknowledgements", response_model=Acknowledged)
async def acknowledge_several(body: Acknowledgements, who: Viewer, services: Wired) -> Acknowledged:
    """签收 up to BULK_MAX alerts at once: one result per distinct id, in the order
    given, each with the code the single 签收 would answer (200, or 404, 403, 409 with
    the reason in Chinese); one refused stops none of the others. Always 200 when the
    request itself is well formed: read `results`."""
    results = await acknowledge_many(services, body.alert_ids, ChangeBody(note=body.note), who)
    return Acknowledged(acknowledged=sum(r.code == 200 for r in results), results=results)


@router.get("/api/export/alerts")
async def export_alerts(
    who: Viewer,
    services: Wired,
    filters: Annotated[AlertFilters, Depends()],
    center_id: str | None = None,
    below: bool = False,
    format: ExportFormat = "csv",
) -> Response:
    """The alerts `/api/alerts` would list with the same filters, as CSV or XLSX with
    Chinese headers (newest first, at most `EXPORT_MAX_ROWS`; the header
    `X-Export-Truncated: true` says when there were more)."""
    await services.caught_up()
    query = await alert_query(services, who, center_id, below, filters, limit=1, offset=0)
    found = await services.read.stream(query, export.EXPORT_MAX_ROWS + 1)
    truncated = len(found) > export.EXPORT_MAX_ROWS
    items = [
        {**alert, "center_name": services.names.get(str(alert["center_id"]), "")}
        for alert in found[: export.EXPORT_MAX_ROWS]
    ]
    return download(export.ALERT_COLUMNS, items, "预警清单", format, truncated)


@router.get("/api/alerts/{alert_id:path}")
async def get_alert(alert_id: str, who: Viewer, services: Wired) -> Alert:
    """One alert with its whole history (who, when, what). The id may contain `/`
    (as it is, or percent-encoded as %2F)."""
    await services.caught_up()
    shown, history = await visible_alert(services.read, alert_id, who)
    return {**shown, "history": history}


@router.post("/api/alerts/{alert_id:path}/acknowledge")
async def acknowledge(
    alert_id: str, who: Viewer, services: Wired, body: ChangeBody | None = None
) -> Alert:
    """签收: the alert is being looked at."""
    return await change_alert(services, alert_id, "acknowledge", body or ChangeBody(), who)


@router.post("/api/alerts/{alert_id:path}/resolve")
async def resolve(alert_id: str, body: ChangeBody, who: Viewer, services: Wired) -> Alert:
    """办结: with a disposition (verified 核实, rectified 整改, false_alarm 误报) and a note."""
    return await change_alert(services, alert_id, "resolve", body, who)


@router.post("/api/alerts/{alert_id:path}/appeal")
async def appeal(alert_id: str, body: ChangeBody, who: Viewer, services: Wired) -> Alert:
    """预警申诉 (directors): wrong data caused the alert; a reason is required."""
    return await change_alert(services, alert_id, "appeal", body, who)


@router.post("/api/alerts/{alert_id:path}/appeal/accept")
async def accept_appeal(
    alert_id: str, who: Viewer, services: Wired, body: ChangeBody | None = None
) -> Alert:
    """Inspectors: the appeal holds, the alert is withdrawn (摘牌)."""
    return await change_alert(services, alert_id, "accept_appeal", body or ChangeBody(), who)


@router.post("/api/alerts/{alert_id:path}/appeal/reject")
async def reject_appeal(
    alert_id: str, who: Viewer, services: Wired, body: ChangeBody | None = None
) -> Alert:
    """Inspectors: the appeal does not hold; the alert goes back to where it was."""
    return await change_alert(services, alert_id, "reject_appeal", body or ChangeBody(), who)
