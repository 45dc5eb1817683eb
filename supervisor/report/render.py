"""The report, or one assessment's ranking, as HTML for the PDF: Jinja2 templates shipped
beside this module (`report.html.j2`, `ranking.html.j2`, their macros and `report.css`),
every value escaped (a center may send any text: a department's name is not markup).

Pure: data and the charts' SVG in, an HTML string out. The numbers are written by the
functions below, which say them as `supervisor assess` does (a score to one decimal, a
change with its sign, a rate as a percentage), so that a report and the assessment read
the same.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from datetime import datetime, tzinfo
from functools import cache
from importlib.resources import files
from typing import Any, Final

from jinja2 import Environment, FunctionLoader, StrictUndefined, select_autoescape

from supervisor.assessment.run import BY_ZH, Assessment
from supervisor.assessment.scheme import Scheme
from supervisor.assessment.score import Assessed, IndicatorResult
from supervisor.centers import region_name
from supervisor.orders import shown_due
from supervisor.report.model import Report, center_grades

#: The templates' and the style sheet's folder: this package.
_PACKAGE: Final = "supervisor.report"
#: What a case's status is called in the list of overdue cases.
CASE_STATUS_ZH: Final = {"concluded": "超期办结", "open": "超期未办结"}


def score(value: float) -> str:
    """A score as the assessment prints it: one decimal (96.5, 100.0)."""
    return f"{value:.1f}"


def change(value: float | None) -> str:
    """The change against the period before: signed, one decimal; — when not assessed then."""
    return "—" if value is None else f"{value:+.1f}"


def percent(rate: float | None) -> str:
    """A rate as a percentage with one decimal; — without data."""
    return "—" if rate is None else f"{rate:.1%}"


def part(result: IndicatorResult) -> str:
    """One indicator's part as `supervisor assess` prints it: the rate and the points
    earned, or the points deducted (0 for none), — without data."""
    if result.deducted is not None:
        return f"-{result.deducted:g}" if result.deducted else "0"
    if result.value is None:
        return "—"
    if result.points is None:
        return f"{result.value:.1%}"
    return f"{result.value:.1%}（{result.points:g}分）"


def unit_name(result: Assessment, unit: Assessed) -> str:
    """A unit as the ranking names it: its center's name, and its department, window or
    staff member after it."""
    center, _, group = unit.key.partition("/")
    name = result.names.get(center, center)
    return f"{name} {group}" if group else name


def grade_class(grade: str, scheme: Scheme) -> str:
    """The style class of a grade: g0 for the best, g1 the next … by the scheme's order."""
    names = [each.name for each in scheme.grades]
    return f"g{names.index(grade)}" if grade in names else "g-unknown"


def local(moment: datetime | None, zone: tzinfo, pattern: str = "%Y-%m-%d %H:%M") -> str:
    """An instant in the report's time zone; — for none."""
    return "—" if moment is None else moment.astimezone(zone).strftime(pattern)


def due(moment: datetime, zone: tzinfo) -> str:
    """A deadline as people say it: 24:00 of its day rather than 00:00 of the next."""
    return shown_due(moment.astimezone(zone))


def svg_source(svg: str | None) -> str | None:
    """An SVG as an image's `src`: a data URI, so the PDF fetches nothing."""
    if svg is None:
        return None
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode("ascii")


def _template(name: str) -> str:
    return (files(_PACKAGE) / name).read_text(encoding="utf-8")


@cache
def environment() -> Environment:
    """The templates' environment: every value escaped, an unknown name an error."""
    env = Environment(
        loader=FunctionLoader(_template),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        score=score,
        change=change,
        percent=percent,
        part=part,
        local=local,
        due=due,
    )
    env.globals.update(
        BY_ZH=BY_ZH,
        CASE_STATUS_ZH=CASE_STATUS_ZH,
        unit_name=unit_name,
        grade_class=grade_class,
        place=region_name,
    )
    return env


def style() -> str:
    """The style sheet of every page (A4, the CJK fonts, the tables)."""
    return _template("report.css")


def report_html(report: Report, charts: Mapping[str, str | None]) -> str:
    """The whole report as one HTML document; `charts` are the SVGs of `trend` and
    `rules` (None: that chart is left out, with a line saying there was nothing)."""
    context: dict[str, Any] = {
        "report": report,
        "zone": report.generated_at.tzinfo,
        "style": style(),
        "trend_src": svg_source(charts.get("trend")),
        "rules_src": svg_source(charts.get("rules")),
        "grades": center_grades(report.grades) if report.grades is not None else [],
    }
    return environment().get_template("report.html.j2").render(context)


def ranking_html(result: Assessment, generated_at: datetime) -> str:
    """One assessment's ranking as an HTML document of its own (the `pdf` export of
    `supervisor assess` and of the API)."""
    context = {
        "result": result,
        "zone": generated_at.tzinfo,
        "generated_at": generated_at,
        "style": style(),
    }
    return environment().get_template("ranking.html.j2").render(context)
