"""An assessment (绩效考核) as files to hand on: a workbook (`as_xlsx`) to sort and sum in
Excel or WPS, and a PDF of the ranking (`as_pdf`) to print or publish. The CLI (`supervisor
assess --format xlsx|pdf`) and the API (`GET /api/assessment/export`) give them.

The workbook has the ranking's columns, as `supervisor assess` prints them (排名, 单位,
得分, 等级, 较上期), the unit's codes beside, and then one column per indicator of the
scheme, holding the points the unit earned by it (a deduction as a negative number); an
indicator without data for a unit leaves its cell empty. Numbers stay numbers; texts go
through `supervisor.store.export`, which keeps a hostile name from running as a formula.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

from supervisor.assessment.run import BY_ZH, Assessment, as_json
from supervisor.store import export

XLSX_MEDIA_TYPE: Final = export.content_type("xlsx")
PDF_MEDIA_TYPE: Final = "application/pdf"


def _indicator(position: int) -> Any:
    """The points a unit earned by its `position`-th indicator (negative: deducted)."""

    def value(row: Mapping[str, Any]) -> float | None:
        part = row["indicators"][position]
        if part["deducted"] is not None:
            return -float(part["deducted"]) if part["deducted"] else 0.0
        return None if part["points"] is None else float(part["points"])

    return value


def columns(result: Assessment) -> tuple[export.Column, ...]:
    """The workbook's columns for `result`: the ranking's, then one per indicator."""
    unit = BY_ZH[result.by]
    fixed = (
        export.Column("rank", "排名", lambda row: row["rank"], 6),
        export.Column("name", unit, lambda row: row["name"], 28),
        export.Column("center_id", "中心编码", lambda row: row["center_id"], 12),
        export.Column("group", "分组", lambda row: row["group"], 20),
        export.Column("score", "得分", lambda row: row["score"], 8),
        export.Column("grade", "等级", lambda row: row["grade"], 8),
        export.Column("change", "较上期", lambda row: row["change"], 8),
    )
    parts = tuple(
        export.Column(f"indicators.{indicator.id}", indicator.name, _indicator(i))
        for i, indicator in enumerate(result.scheme.indicators)
    )
    return fixed + parts


def rows(result: Assessment) -> list[dict[str, Any]]:
    """The workbook's rows: the units as the API gives them (`as_json`), each with the
    name the ranking shows (its center's, and its group after it)."""
    shown = []
    for unit in as_json(result)["units"]:
        name = unit["center_name"] or unit["center_id"]
        shown.append({**unit, "name": f"{name} {unit['group']}" if unit["group"] else name})
    return shown


def stem(result: Assessment) -> str:
    """The file name's stem: 绩效考核_2026-11_按服务中心."""
    return f"绩效考核_{result.period.name}_按{BY_ZH[result.by]}"


def as_xlsx(result: Assessment) -> bytes:
    """The assessment as a workbook of one sheet (see the module's docstring)."""
    return export.to_xlsx(columns(result), rows(result), sheet=stem(result))


def as_pdf(result: Assessment, generated_at: datetime | None = None) -> bytes:
    """The ranking as a PDF (landscape A4, Chinese fonts embedded), dated `generated_at`
    (default: now, in the machine's zone). CPU-bound: a server calls it in a thread."""
    from supervisor.report.pdf import ranking_pdf

    return ranking_pdf(result, generated_at or datetime.now(UTC).astimezone())
