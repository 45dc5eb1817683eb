"""Downloads for inspectors: an alert list or per-center figures as CSV or XLSX, with
Chinese headers, that open in Excel and WPS with correct Chinese text.

The web routes fetch what the API would show (alerts as `Entry.view()` gives them,
per-center figures as the statistics give them) and hand the rows here; this module only
turns rows into bytes, so it is pure and needs no database, web framework or clock.

- CSV is UTF-8 with a byte-order mark (without it Excel reads the text in the local code
  page, GBK on a Chinese Windows, and shows mojibake), RFC 4180 quoting by the `csv`
  module, streamed in chunks so a long list never sits in memory as one string. Excel
  still guesses the type of a CSV field when it opens one (an id like "010203" loses its
  leading zero): XLSX is the format that keeps every cell as written.
- XLSX is written by openpyxl in write-only mode: numbers stay numbers, times stay the text
  the alert carries (with its UTC offset, which an Excel date could not keep), the header
  row is bold and frozen, the columns are wide enough for their Chinese headers.

Both defend against spreadsheet formula injection (OWASP "CSV injection"): a center may
send any text, and a cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return
would run as a formula when an inspector opens the file; such a text is written with a
leading `'`. Numbers are never touched. Characters an XLSX file cannot hold (XML 1.0 has
no control characters but tab, newline and carriage return, no lone surrogates, no
U+FFFE/U+FFFF) are removed from every text, in both formats, so that a hostile text never
makes a download fail or a file that Excel refuses to open.
"""

from __future__ import annotations

import csv
import io
import math
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any, Final
from urllib.parse import quote

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

EXPORT_MAX_ROWS: Final = 100_000
"""Rows of one download at most. A download is bounded like every other answer of the
service: one request must not hold a worker, the database and the memory for an unbounded
time, and 100,000 alerts are already more than anyone reads in a spreadsheet (XLSX holds
1,048,576 rows; Excel slows down long before). The route that exports asks for one row
more than this, writes this many, and says in its answer that the list was cut."""

CSV_CHUNK_ROWS: Final = 500
"""How many rows one streamed CSV chunk holds: few enough to start the download at once,
many enough that the per-chunk overhead does not matter."""

FORMATS: Final = ("csv", "xlsx")
"""The download formats, as they appear in a URL (`?format=xlsx`) and in a file name."""

_CONTENT_TYPES: Final = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}

_FORMULA_START: Final = ("=", "+", "-", "@", "\t", "\r")
"""What makes a spreadsheet treat a text cell as a formula (OWASP, "CSV Injection")."""

_ILLEGAL: Final = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
"""What XML 1.0, and so XLSX, cannot hold. openpyxl raises IllegalCharacterError for the
control characters and writes a file it cannot read back for the others."""

_XLSX_TEXT_MAX: Final = 32_767
"""The longest text one Excel cell holds; a longer one makes Excel report a damaged file."""

_SHEET_NAME_BAD: Final = re.compile(r"[\[\]:*?/\\\x00-\x1f]")
_FILE_NAME_BAD: Final = re.compile(r'[\\/:*?"<>|\x00-\x1f\x7f]')

SEVERITY_ZH: Final = {"red": "红牌", "yellow": "黄牌"}
"""An alert's severity as inspectors call it (contract §3: red is a violation)."""

STATUS_ZH: Final = {
    "open": "待签收",
    "acknowledged": "已签收",
    "appealed": "申诉中",
    "resolved": "已办结",
    "withdrawn": "已撤销",
    "closed": "已关闭",
    "superseded": "已转红牌",
}
"""An alert's status (the journal's lifecycle and contract §6) in Chinese, in the words
of the wall and the console."""
DELISTED_ZH: Final = "已摘牌"
"""A withdrawn alert whose last step was an appeal upheld (摘牌), not the system's
withdrawal after a late event: the wall and the console tell the two apart."""

DISPOSITION_ZH: Final = {
    "verified": "已核实",
    "rectified": "已整改",
    "held_accountable": "已问责",
    "false_alarm": "误报",
}
"""How a resolved alert was disposed of, in Chinese."""

Row = Mapping[str, Any]
"""One row of a download: what the API returns for one alert or one center."""


@dataclass(frozen=True)
class Column:
    """One column of a download: the row key it shows (for the routes and the tests), its
    Chinese header, how it takes its value from a row, and its width in Excel character
    units (None: wide enough for the header)."""

    key: str
    header: str
    value: Callable[[Row], object]
    width: float | None = None


def _field(key: str) -> Callable[[Row], object]:
    """A row's top-level field as it is."""

    def value(row: Row) -> object:
        return row.get(key)

    return value


def _who(key: str) -> Callable[[Row], object]:
    """Who handled the case (department, window, staff member): the alert's `details`
    carry them (contract §7); a row that has them at the top level works too."""

    def value(row: Row) -> object:
        details = row.get("details")
        found = details.get(key) if isinstance(details, Mapping) else None
        return found if found is not None else row.get(key)

    return value


def _named(key: str, names: Mapping[str, str]) -> Callable[[Row], object]:
    """A code field shown by its Chinese name; a code without a name stays as it is, so a
    status added later is still shown, in English, rather than lost."""

    def value(row: Row) -> object:
        code = row.get(key)
        return names.get(code, code) if isinstance(code, str) else code

    return value


def _alert_count(rule_id: str) -> Callable[[Row], object]:
    """A center's count of alerts of one rule (`row["alerts"][rule_id]`, 0 when absent)."""

    def value(row: Row) -> object:
        counts = row.get("alerts")
        return counts.get(rule_id, 0) if isinstance(counts, Mapping) else 0

    return value


def _status(row: Row) -> object:
    """The alert's status in Chinese (`STATUS_ZH`), 已摘牌 for an appeal upheld."""
    last = row.get("last_change")
    upheld = isinstance(last, Mapping) and last.get("action") == "accept_appeal"
    if row.get("status") == "withdrawn" and upheld:
        return DELISTED_ZH
    return _named("status", STATUS_ZH)(row)


def _accountability(row: Row, key: str) -> object:
    """Of an alert resolved 已问责, who was held to account or the measure taken, as its
    resolution says (a resolved alert's last step); empty otherwise."""
    last = row.get("last_change")
    if row.get("disposition") != "held_accountable" or not isinstance(last, Mapping):
        return ""
    said = last.get("accountability")
    return str(said.get(key) or "") if isinstance(said, Mapping) else ""


def _percent(row: Row) -> object:
    """The on-time rate (a share 0..1, or None when no case was judged) as a percentage
    with one decimal, which is how the wall and the reports show it; empty when None."""
    rate = row.get("on_time_rate")
    if isinstance(rate, bool) or not isinstance(rate, int | float):
        return None
    return round(rate * 100, 1)


ALERT_COLUMNS: Final[tuple[Column, ...]] = (
    Column("alert_id", "预警编号", _field("alert_id"), 36),
    Column("rule_id", "规则", _field("rule_id"), 26),
    Column("severity", "等级", _named("severity", SEVERITY_ZH), 8),
    Column("center_id", "中心编码", _field("center_id"), 12),
    Column("center_name", "中心名称", lambda row: row.get("center_name") or "", 24),
    Column("case_id", "办件编号", _field("case_id"), 22),
    Column("department", "部门", _who("department"), 20),
    Column("window_id", "窗口", _who("window_id"), 10),
    Column("staff_id", "工作人员", _who("staff_id"), 12),
    Column("title", "标题", _field("title"), 20),
    Column("message", "内容", _field("message"), 60),
    Column("raised_at", "预警时间", _field("raised_at"), 26),
    Column("status", "状态", _status, 10),
    Column("disposition", "处置", _named("disposition", DISPOSITION_ZH), 10),
    Column("case_concluded_at", "办结时间", _field("case_concluded_at"), 26),
    Column("late_working_days", "超期工作日", _field("late_working_days"), 12),
    Column("accountable_person", "被问责人", lambda row: _accountability(row, "person"), 16),
    Column("accountable_measure", "问责措施", lambda row: _accountability(row, "measure"), 30),
)
"""The columns of an alert list: the contract's alert (§3), who handled the case (§7)
and the alert's state as the API shows it (`Entry.view()`: status, disposition, and for a
case concluded late its conclusion and lateness, §6), and for 问责 who was held to
account and the measure taken."""


def center_columns(rule_ids: Sequence[str]) -> tuple[Column, ...]:
    """The columns of the per-center figures (the statistics' counts, the center's name and
    open cases) and then one column per rule id, "预警:<rule_id>", with that rule's alert
    count; the route passes the rules it counts so every export has the same columns."""
    fixed = (
        Column("center_id", "中心编码", _field("center_id"), 12),
        Column("name", "中心名称", _field("name"), 24),
        Column("accepted", "受理", _field("accepted"), 8),
        Column("concluded", "办结", _field("concluded"), 8),
        Column("on_time", "按期办结", _field("on_time"), 10),
        Column("overdue", "超期办结", _field("overdue"), 10),
        Column("on_time_rate", "按期办结率(%)", _percent, 14),
        Column("not_accepted", "不予受理", _field("not_accepted"), 10),
        Column("withdrawn", "撤回", _field("withdrawn"), 8),
        Column("open_cases", "在办", _field("open_cases"), 8),
    )
    per_rule = tuple(
        Column(f"alerts.{rule_id}", f"预警:{rule_id}", _alert_count(rule_id))
        for rule_id in rule_ids
    )
    return fixed + per_rule


def safe_text(text: str) -> str:
    """A text as a cell may hold it: without the characters XLSX cannot hold, and with a
    leading `'` when it would otherwise start a formula (checked after the removal, so a
    control character cannot hide a `=`)."""
    cleaned = _ILLEGAL.sub("", text)
    return "'" + cleaned if cleaned.startswith(_FORMULA_START) else cleaned


def cell_value(value: object) -> str | int | float | Decimal:
    """A row's value as one cell: a number as it is (a finite one: Excel has no NaN), a
    yes/no as 是/否, a time as its ISO text (Excel times have no UTC offset), nothing as
    an empty cell, anything else as safe text."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else ""
    if isinstance(value, Decimal):
        return value if value.is_finite() else ""
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return safe_text(value if isinstance(value, str) else str(value))


def to_csv(columns: Sequence[Column], rows: Iterable[Row]) -> Iterator[bytes]:
    """The rows as CSV, streamed in chunks of `CSV_CHUNK_ROWS` rows: the first chunk starts
    with the UTF-8 byte-order mark and the header row; lines end in CRLF (RFC 4180)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    buffer.write("\ufeff")
    writer.writerow([safe_text(column.header) for column in columns])
    pending = 0
    for row in rows:
        writer.writerow([cell_value(column.value(row)) for column in columns])
        pending += 1
        if pending >= CSV_CHUNK_ROWS:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
            pending = 0
    if buffer.tell():
        yield buffer.getvalue().encode("utf-8")


def to_xlsx(columns: Sequence[Column], rows: Iterable[Row], *, sheet: str) -> bytes:
    """The rows as a workbook of one sheet named after `sheet` (made a valid sheet name):
    a bold, frozen header row, then one row per row, written as the rows come."""
    book = Workbook(write_only=True)
    table = book.create_sheet(sheet_name(sheet))
    for index, column in enumerate(columns, start=1):
        table.column_dimensions[get_column_letter(index)].width = _width(column)
    table.freeze_panes = "A2"
    bold = Font(bold=True)
    header = []
    for column in columns:
        head = WriteOnlyCell(table, value=safe_text(column.header))
        head.font = bold
        header.append(head)
    table.append(header)
    for row in rows:
        table.append([_xlsx_value(cell_value(column.value(row))) for column in columns])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _xlsx_value(value: str | int | float | Decimal) -> str | int | float | Decimal:
    """A cell value as XLSX holds it: a line break is Excel's "\\n" (XML reads a bare
    carriage return as a newline anyway, so this only makes it explicit), and a text is
    cut to what one Excel cell holds."""
    if not isinstance(value, str):
        return value
    return value.replace("\r\n", "\n").replace("\r", "\n")[:_XLSX_TEXT_MAX]


def _width(column: Column) -> float:
    """A column's width: the one it names, else its header's width plus a margin."""
    if column.width is not None:
        return column.width
    return max(8, min(60, _display_width(column.header) + 2))


def _display_width(text: str) -> int:
    """How many character units a text takes in Excel: a Chinese character takes two."""
    return sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in text)


def sheet_name(name: str) -> str:
    """A valid sheet name from any text: without `[]:*?/\\` and control characters, not
    starting or ending with `'`, at most 31 characters, not Excel's reserved "History"."""
    cleaned = _ILLEGAL.sub("", _SHEET_NAME_BAD.sub("_", name)).strip("'")[:31].strip("'")
    if not cleaned:
        return "Sheet1"
    return cleaned + "_" if cleaned.casefold() == "history" else cleaned


def _format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}: one of {', '.join(FORMATS)}")
    return fmt


def content_type(fmt: str) -> str:
    """The media type of a download: CSV says its charset, XLSX is the OOXML type."""
    return _CONTENT_TYPES[_format(fmt)]


def filename(stem: str, fmt: str) -> str:
    """A download's file name, e.g. "预警清单-2026-10-11.xlsx": the stem without what a
    file name on Windows may not hold (`\\/:*?"<>|`, control characters), and the format's
    extension."""
    cleaned = _ILLEGAL.sub("", _FILE_NAME_BAD.sub("_", stem)).strip(" .")
    return f"{cleaned or 'export'}.{_format(fmt)}"


def content_disposition(stem: str, fmt: str) -> str:
    """The `Content-Disposition` of a download (RFC 6266): an ASCII `filename` for old
    clients and `filename*=UTF-8''...` (RFC 5987) with the Chinese name for the rest."""
    name = filename(stem, fmt)
    ascii_stem = re.sub(r"[^A-Za-z0-9._-]+", "_", name.removesuffix(f".{fmt}")).strip("_.-")
    return (
        f'attachment; filename="{ascii_stem or "export"}.{fmt}"; '
        f"filename*=UTF-8''{quote(name, safe='')}"
    )
