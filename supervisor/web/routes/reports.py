"""The monthly report (月度电子监察通报) and the assessment's files over HTTP:

- `GET /api/report?period=2026-11[&center_id=451202]`: the report as a PDF attachment, of
  the center given (a county and its townships; the city's code: the city), else of the
  caller's own: a director's center, the city for an inspector;
- `GET /api/assessment/export?period=&by=&center_id=&format=xlsx|pdf`: the assessment of
  `GET /api/assessment` as a workbook or a PDF of its ranking.

Scope as everywhere: a director gets only their center and those below it, in every
figure, file and report (403 for a center outside it); 422 for a period that is not one,
and for a report's `center_id` that is not a center's code (6 or 9 digits, as
`supervisor report --scope` requires; a well-formed code the registry does not know is
reported on, as by the CLI: events of unregistered centers are supervised too); 503 in
Chinese when the scheme cannot be read or no font can show Chinese. A PDF takes a
core for a second or so: it is made in a worker thread, never on the event loop that
serves the wall, and one file at a time (`Services.files`); the requests waiting for their turn
wait on the loop, holding no thread, and at most FILES_WAITING of them (503 in Chinese
beyond: a burst of report requests must not keep everything else waiting).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Annotated, Any, Final, Literal
from urllib.parse import quote

from anyio import to_thread
from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import Response

from supervisor.assessment.exports import PDF_MEDIA_TYPE, XLSX_MEDIA_TYPE, as_pdf, as_xlsx, stem
from supervisor.assessment.periods import Period
from supervisor.assessment.run import Assessment, By, assess_period
from supervisor.assessment.scheme import Scheme, SchemeError, load_scheme
from supervisor.auth import Principal, Role
from supervisor.centers import is_valid_code
from supervisor.report.charts import NoChineseFont
from supervisor.report.gather import gather
from supervisor.report.model import is_city
from supervisor.report.pdf import report_pdf
from supervisor.web.assessing import period_of, whole_counties
from supervisor.web.security import NOT_A_CENTER, Viewer, require_center
from supervisor.web.services import Services, Wired

log = logging.getLogger(__name__)
router = APIRouter()

#: What the caller is told when the scheme cannot be read (the log says why).
NO_SCHEME: Final = "考核评分方案有误，暂不能考核；请运维人员检查"
#: What the caller is told when a report's `center_id` is not a center's code.
#: What the caller is told when no font on the server can show Chinese.
NO_FONT: Final = "服务器缺少中文字体，暂不能生成文件；请运维人员安装 fonts-noto-cjk"
_FILE_NAME_BAD: Final = re.compile(r'[\\/:*?"<>|\x00-\x1f\x7f]')

#: What the caller is told when too many files are being made already.
TOO_MANY_FILES: Final = "正在生成的文件较多，请稍后再试"
#: How many requests may wait for their turn to have a file made (Services.files).
FILES_WAITING: Final = 8

Period_ = Annotated[str, Query(max_length=16, description="2026-11, 2026-Q4 or 2026")]
CenterId = Annotated[str | None, Query(max_length=16)]


def attachment(name: str) -> str:
    """The `Content-Disposition` of a file with a Chinese name (RFC 6266): an ASCII
    `filename` for old clients, `filename*=UTF-8''…` (RFC 5987) for the rest."""
    cleaned = _FILE_NAME_BAD.sub("_", name).strip(" .") or "download"
    stem_, dot, extension = cleaned.rpartition(".")
    ascii_stem = re.sub(r"[^A-Za-z0-9._-]+", "_", stem_ if dot else cleaned).strip("_.-")
    ascii_name = f"{ascii_stem or 'download'}{dot}{extension if dot else ''}"
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(cleaned, safe='')}"


def _file(body: bytes, media_type: str, name: str) -> Response:
    headers = {"Content-Disposition": attachment(name), "Cache-Control": "no-store"}
    return Response(body, media_type=media_type, headers=headers)


def _scheme(services: Services) -> Scheme:
    try:
        return load_scheme(services.settings.rules_dir / "assessment" / "scheme.yaml")
    except (SchemeError, OSError) as exc:
        log.warning("the assessment cannot be scored: %s", exc)
        raise HTTPException(503, NO_SCHEME) from None


def _room(services: Services) -> None:
    """503 when FILES_WAITING requests wait for their turn to have a file made already:
    checked before a report's figures are read too, so a burst is refused before it
    costs the database anything."""
    files = services.files
    if files.borrowed_tokens >= files.total_tokens and (
        files.statistics().tasks_waiting >= FILES_WAITING
    ):
        raise HTTPException(503, TOO_MANY_FILES, headers={"Retry-After": "10"})


async def _made(services: Services, make: Callable[..., bytes], *args: Any) -> bytes:
    """A file made in a worker thread, one at a time (`Services.files`); 503 when
    FILES_WAITING requests wait for their turn already (`_room`)."""
    _room(services)
    return await to_thread.run_sync(make, *args, limiter=services.files)


async def _pdf_of(services: Services, make: Callable[..., bytes], *args: Any) -> bytes:
    """A PDF made in a worker thread (`_made`); 503 when no font can show Chinese."""
    try:
        return await _made(services, make, *args)
    except NoChineseFont as exc:
        log.error("no PDF: %s", exc)
        raise HTTPException(503, NO_FONT) from None


def _city(services: Services) -> str:
    return next(c.code for c in services.read_state.registry.all() if c.parent is None)


@router.get("/api/report", response_class=Response)
async def monthly_report(
    who: Viewer, services: Wired, period: Period_, center_id: CenterId = None
) -> Response:
    """月度电子监察通报 as a PDF: headline figures, the assessment's ranking (the city's:
    counties, each with its townships, and every center's grade), trends, alerts by rule,
    the worst overdue cases (masked), supervision orders and their replies. Of
    `center_id` and the centers below it (the city's code: the city; 422 unless it is 6
    or 9 digits); without it, of the caller's own center (an inspector's: the city)."""
    when = period_of(period)
    if center_id is None:
        place = who.center if who.role is Role.director and who.center else _city(services)
    elif is_valid_code(center_id):
        place = center_id
    else:
        raise HTTPException(422, NOT_A_CENTER)
    require_center(who, place)
    _room(services)
    scheme = _scheme(services)
    await services.caught_up()
    city = is_city(place)
    scope = await services.read_state.scope(who, None if city else place, below=not city)
    names = dict(services.names)
    names.setdefault(place, services.read_state.registry.name(place))
    try:
        titles = {rule["id"]: rule["title"] for rule in await services.rule_sheet.shown()}
    except Exception:  # rules that cannot be read: the chart shows the rules' ids
        titles = {}
    made = await gather(
        services.read,
        scheme,
        when,
        services.order_desk.calendars,
        scope=place,
        centers=scope,
        names=names,
        now=services.now(),
        rule_titles=titles,
    )
    pdf = await _pdf_of(services, report_pdf, made)
    return _file(pdf, PDF_MEDIA_TYPE, f"电子监察通报_{when.name}_{place}.pdf")


async def _assessed(
    services: Services, who: Principal, when: Period, by: By, center_id: str | None
) -> Assessment:
    """The assessment `GET /api/assessment` gives, as the object the files are made of."""
    if center_id is not None:
        require_center(who, center_id)
    scheme = _scheme(services)
    await services.caught_up()
    scope = await services.read_state.scope(who, center_id, below=center_id is not None)
    whole_counties(by, who, center_id)
    calendars = services.order_desk.calendars
    return await assess_period(
        services.read, scheme, when, calendars, by, scope, services.names, now=services.now()
    )


@router.get("/api/assessment/export", response_class=Response)
async def export_assessment(
    who: Viewer,
    services: Wired,
    period: Period_,
    by: By = "center",
    center_id: CenterId = None,
    format: Literal["xlsx", "pdf"] = "xlsx",
) -> Response:
    """绩效考核 as a file: a workbook (the ranking's columns and one per indicator, the
    points earned or deducted) or a PDF of the ranking, in the caller's scope; with
    `center_id`, that center and those below it."""
    when = period_of(period)
    _room(services)
    result = await _assessed(services, who, when, by, center_id)
    name = f"{stem(result)}{f'_{center_id}' if center_id else ''}.{format}"
    if format == "xlsx":
        return _file(await _made(services, as_xlsx, result), XLSX_MEDIA_TYPE, name)
    return _file(await _pdf_of(services, as_pdf, result, services.now()), PDF_MEDIA_TYPE, name)
