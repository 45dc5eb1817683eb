"""The figures: the wall's headline and board (supervisor/web/board.py), and figures over
a period per center or group, with their export (supervisor/web/figures.py)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import Response

from supervisor.assessment.run import By
from supervisor.store import export
from supervisor.store.queries import Grouping
from supervisor.web import board as wall
from supervisor.web.assessing import TREND_MAX, assessment, assessment_trend
from supervisor.web.downloads import ExportFormat, download
from supervisor.web.figures import figures
from supervisor.web.security import Viewer
from supervisor.web.services import Wired

router = APIRouter()


@router.get("/api/stats/headline")
async def headline(who: Viewer, services: Wired) -> dict[str, Any]:
    """The wall's headline figures in the caller's scope: cases accepted today, open
    cases, on-time rate today and this month, open alerts by severity, and how
    fresh the data from the centers is."""
    await services.caught_up()
    return await wall.headline(services, who)


@router.get("/api/board")
async def board(who: Viewer, services: Wired) -> list[dict[str, Any]]:
    """Every center in the caller's scope, city → counties → townships, with its open
    alerts by severity, its worst open alert, open cases and last event time."""
    await services.caught_up()
    return await wall.board_tiles(services, who)


@router.get("/api/stats/centers")
async def center_statistics(
    who: Viewer, services: Wired, start: date, end: date, center_id: str | None = None
) -> list[dict[str, Any]]:
    """绩效考核: per center over the local days `start`..`end` (both included, years
    2000–2100, at most ten years): cases accepted, concluded, on time, overdue,
    on-time rate, refused, withdrawn, open now, and alerts raised by rule. With
    `center_id`, that center and those below it."""
    return await figures(services, who, start, end, center_id, "center")


@router.get("/api/stats/figures")
async def grouped_statistics(
    who: Viewer,
    services: Wired,
    start: date,
    end: date,
    by: Grouping = "center",
    center_id: str | None = None,
) -> list[dict[str, Any]]:
    """The same figures per center, department, window or staff member (contract
    §7: who handled each case, as its latest fact says)."""
    return await figures(services, who, start, end, center_id, by)


@router.get("/api/assessment")
async def assessed(
    who: Viewer,
    services: Wired,
    period: Annotated[str, Query(max_length=16)],
    by: By = "center",
    center_id: str | None = None,
) -> dict[str, Any]:
    """绩效考核: each center (county, department, window, staff member; `by=county`: a
    county-level center with the townships below it, as one) in the caller's scope
    scored by rules/assessment/scheme.yaml for `period` (a month 2026-11, a quarter
    2026-Q4, a year 2026), graded and ranked, with its change against the period before
    and each indicator's part. With `center_id`, that center and those below it."""
    return await assessment(services, who, period, by, center_id)


@router.get("/api/assessment/trend")
async def assessed_trend(
    who: Viewer,
    services: Wired,
    period: Annotated[str, Query(max_length=16)],
    months: Annotated[int, Query(ge=1, le=TREND_MAX)] = 6,
    by: By = "center",
    center_id: Annotated[str | None, Query(max_length=32)] = None,
) -> dict[str, Any]:
    """绩效考核的趋势: each unit's score, grade and rank in the `months` periods (1–24)
    of `period`'s length that end with it, oldest first (`period=2026-11&months=6`: June
    to November; a quarter counts quarters, a year years), in the caller's scope as
    `/api/assessment`. Each unit has one point a period, null when it was not assessed
    then; the units come in the order of the last period's ranking."""
    return await assessment_trend(services, who, period, months, by, center_id)


@router.get("/api/export/centers")
async def export_centers(
    who: Viewer,
    services: Wired,
    start: date,
    end: date,
    center_id: str | None = None,
    format: ExportFormat = "csv",
) -> Response:
    """`/api/stats/centers` as CSV or XLSX with Chinese headers, one column per rule."""
    rows = await figures(services, who, start, end, center_id, "center")
    rule_ids = sorted({rule for row in rows for rule in row["alerts"]})
    stem = f"中心统计_{start.isoformat()}_{end.isoformat()}"
    return download(export.center_columns(rule_ids), rows, stem, format, False)
