"""Downloads for inspectors (supervisor/store/export.py): CSV and XLSX read back as Excel
and WPS would read them, with the Chinese headers and values, numbers as numbers, formula
injection neutralized and hostile control characters harmless."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import unquote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook

from supervisor.store.export import (
    ALERT_COLUMNS,
    CSV_CHUNK_ROWS,
    EXPORT_MAX_ROWS,
    Column,
    cell_value,
    center_columns,
    content_disposition,
    content_type,
    filename,
    safe_text,
    sheet_name,
    to_csv,
    to_xlsx,
)

ALERT: dict[str, Any] = {
    "alert_id": "deadline.overdue:HC-2026-000123",
    "rule_id": "deadline.overdue",
    "severity": "red",
    "case_id": "HC-2026-000123",
    "center_id": "451202",
    "center_name": "柳州市政务服务中心",
    "raised_at": "2026-10-11T00:00:00+08:00",
    "title": "办件超期",
    "message": "办件 HC-2026-000123（社会团体成立登记）已超过承诺时限。",
    "details": {
        "department": "柳州市民政局",
        "window_id": "W07",
        "staff_id": "S0042",
        "item_code": "000123",
        "deadline": "2026-10-11T00:00:00+08:00",
    },
    "seq": 17,
    "status": "resolved",
    "updated_seq": 21,
    "disposition": "rectified",
    "case_concluded_at": "2026-10-14T16:30:00+08:00",
    "late_working_days": 2.69,
}

ALERT_HEADERS = [
    "预警编号",
    "规则",
    "等级",
    "中心编码",
    "中心名称",
    "办件编号",
    "部门",
    "窗口",
    "工作人员",
    "标题",
    "内容",
    "预警时间",
    "状态",
    "处置",
    "办结时间",
    "超期工作日",
    "被问责人",
    "问责措施",
]

ALERT_VALUES: list[object] = [
    "deadline.overdue:HC-2026-000123",
    "deadline.overdue",
    "红牌",
    "451202",
    "柳州市政务服务中心",
    "HC-2026-000123",
    "柳州市民政局",
    "W07",
    "S0042",
    "办件超期",
    "办件 HC-2026-000123（社会团体成立登记）已超过承诺时限。",
    "2026-10-11T00:00:00+08:00",
    "已办结",
    "已整改",
    "2026-10-14T16:30:00+08:00",
    2.69,
    "",  # resolved as 已整改: nobody held to account
    "",
]

CENTER: dict[str, Any] = {
    "center_id": "451221",
    "name": "南丹县政务服务中心",
    "accepted": 120,
    "concluded": 100,
    "on_time": 87,
    "overdue": 13,
    "on_time_rate": 0.87,
    "not_accepted": 4,
    "withdrawn": 2,
    "open_cases": 18,
    "alerts": {"deadline.overdue": 13, "deadline.warning": 5},
}

RULES = ["deadline.warning", "deadline.overdue", "fee.overcharge"]

CENTER_HEADERS = [
    "中心编码",
    "中心名称",
    "受理",
    "办结",
    "按期办结",
    "超期办结",
    "按期办结率(%)",
    "不予受理",
    "撤回",
    "在办",
    "预警:deadline.warning",
    "预警:deadline.overdue",
    "预警:fee.overcharge",
]


def csv_rows(columns: Sequence[Column], rows: Iterable[Mapping[str, Any]]) -> list[list[str]]:
    """A CSV download read back as Excel reads it: UTF-8 with its BOM, RFC 4180."""
    data = b"".join(to_csv(columns, rows))
    assert data.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def xlsx_rows(data: bytes) -> list[list[object]]:
    """An XLSX download read back, an empty cell as ""."""
    sheet = load_workbook(io.BytesIO(data)).worksheets[0]
    return [["" if v is None else v for v in row] for row in sheet.iter_rows(values_only=True)]


# -- CSV -------------------------------------------------------------------------------


def test_csv_has_the_chinese_headers_and_values() -> None:
    rows = csv_rows(ALERT_COLUMNS, [ALERT])
    assert rows == [ALERT_HEADERS, [str(v) for v in ALERT_VALUES]]


def test_csv_is_streamed_in_chunks_and_only_the_first_has_the_bom() -> None:
    alerts = [{**ALERT, "alert_id": f"a{n}"} for n in range(CSV_CHUNK_ROWS * 2 + 1)]
    chunks = list(to_csv(ALERT_COLUMNS, alerts))
    assert len(chunks) == 3
    assert chunks[0].startswith("\ufeff预警编号,".encode())
    assert not any(b"\xef\xbb\xbf" in chunk for chunk in chunks[1:])
    rows = csv_rows(ALERT_COLUMNS, alerts)
    assert [row[0] for row in rows[1:]] == [f"a{n}" for n in range(len(alerts))]


def test_csv_of_no_rows_is_the_header() -> None:
    assert csv_rows(ALERT_COLUMNS, []) == [ALERT_HEADERS]
    assert b"".join(to_csv(ALERT_COLUMNS, [])).endswith(b"\r\n")


def test_csv_quotes_commas_quotes_and_newlines() -> None:
    alert = {**ALERT, "message": '第一行,"引号"\r\n第二行'}
    assert csv_rows(ALERT_COLUMNS, [alert])[1][10] == '第一行,"引号"\r\n第二行'


def test_alert_without_optional_fields_gives_empty_cells() -> None:
    alert = {
        key: ALERT[key]
        for key in ("alert_id", "rule_id", "severity", "case_id", "center_id", "raised_at")
    }
    alert.update(status="open", title="t", message="m", details={})
    row = csv_rows(ALERT_COLUMNS, [alert])[1]
    assert row[4] == "" and row[6:9] == ["", "", ""]
    assert row[12:] == ["待签收", "", "", "", "", ""]


def test_who_handled_it_comes_from_the_details_else_the_top_level() -> None:
    alert = {**ALERT, "details": {"window_id": "W01"}, "department": "民政局", "staff_id": "S9"}
    assert csv_rows(ALERT_COLUMNS, [alert])[1][6:9] == ["民政局", "W01", "S9"]


@pytest.mark.parametrize(
    ("status", "zh"),
    [
        ("open", "待签收"),
        ("acknowledged", "已签收"),
        ("appealed", "申诉中"),
        ("resolved", "已办结"),
        ("withdrawn", "已撤销"),
        ("closed", "已关闭"),
        ("superseded", "已转红牌"),
        ("something_new", "something_new"),
    ],
)
def test_statuses_are_shown_in_chinese(status: str, zh: str) -> None:
    assert csv_rows(ALERT_COLUMNS, [{**ALERT, "status": status}])[1][12] == zh


def test_a_withdrawal_on_appeal_is_shown_as_delisted_as_the_console_does() -> None:
    upheld = {**ALERT, "status": "withdrawn", "last_change": {"action": "accept_appeal"}}
    by_system = {**ALERT, "status": "withdrawn", "last_change": {"action": "system_withdraw"}}
    rows = csv_rows(ALERT_COLUMNS, [upheld, by_system])
    assert [row[12] for row in rows[1:]] == ["已摘牌", "已撤销"]


@pytest.mark.parametrize(
    ("disposition", "zh"),
    [("verified", "已核实"), ("rectified", "已整改"), ("false_alarm", "误报")],
)
def test_dispositions_are_shown_in_chinese(disposition: str, zh: str) -> None:
    assert csv_rows(ALERT_COLUMNS, [{**ALERT, "disposition": disposition}])[1][13] == zh


def test_who_was_held_to_account_and_how_is_in_the_export() -> None:
    said = {"person": "窗口人员甲", "measure": "诫勉谈话"}
    accountable = {
        **ALERT,
        "status": "resolved",
        "disposition": "held_accountable",
        "last_change": {"action": "resolve", "accountability": said},
    }
    header, row = csv_rows(ALERT_COLUMNS, [accountable])
    assert header[-2:] == ["被问责人", "问责措施"] and row[-2:] == ["窗口人员甲", "诫勉谈话"]
    verified = {**accountable, "disposition": "verified"}
    assert csv_rows(ALERT_COLUMNS, [verified])[1][-2:] == ["", ""]


def test_center_figures_in_csv() -> None:
    rows = csv_rows(center_columns(RULES), [CENTER, {**CENTER, "on_time_rate": None}])
    assert rows[0] == CENTER_HEADERS
    assert rows[1][:7] == ["451221", "南丹县政务服务中心", "120", "100", "87", "13", "87.0"]
    assert rows[1][7:] == ["4", "2", "18", "5", "13", "0"]
    assert rows[2][6] == ""


# -- XLSX ------------------------------------------------------------------------------


def test_xlsx_has_the_headers_and_values_and_keeps_numbers_numbers() -> None:
    data = to_xlsx(ALERT_COLUMNS, [ALERT], sheet="预警清单")
    book = load_workbook(io.BytesIO(data))
    sheet = book.worksheets[0]
    assert sheet.title == "预警清单"
    assert xlsx_rows(data) == [ALERT_HEADERS, ALERT_VALUES]
    late = sheet.cell(row=2, column=16)
    assert late.data_type == "n" and late.value == 2.69
    raised = sheet.cell(row=2, column=12)  # a time stays the text the alert carries
    assert raised.data_type == "s" and raised.value == "2026-10-11T00:00:00+08:00"
    assert sheet.cell(row=2, column=4).value == "451202"  # an id stays text


def test_xlsx_header_is_bold_and_frozen_and_columns_are_wide_enough() -> None:
    sheet = load_workbook(io.BytesIO(to_xlsx(center_columns(RULES), [CENTER], sheet="s")))
    table = sheet.worksheets[0]
    assert table.freeze_panes == "A2"
    assert all(cell.font.bold for cell in table[1])
    assert not any(cell.font.bold for cell in table[2])
    assert table.column_dimensions["B"].width == 24
    # a per-rule column is sized for its header: "预警:" is 2 × 2 + 1 units wide
    assert table.column_dimensions["K"].width == len("deadline.warning") + 5 + 2


def test_center_figures_in_xlsx_are_numbers() -> None:
    data = to_xlsx(center_columns(RULES), [CENTER, {**CENTER, "on_time_rate": None}], sheet="s")
    rows = xlsx_rows(data)
    assert rows[0] == CENTER_HEADERS
    assert rows[1] == ["451221", "南丹县政务服务中心", 120, 100, 87, 13, 87.0, 4, 2, 18, 5, 13, 0]
    assert rows[2][6] == ""


def test_xlsx_of_no_rows_is_the_header() -> None:
    assert xlsx_rows(to_xlsx(ALERT_COLUMNS, [], sheet="预警")) == [ALERT_HEADERS]


@pytest.mark.parametrize(
    ("given_name", "expected"),
    [
        ("预警清单", "预警清单"),
        ("a/b:c[1]*?", "a_b_c_1___"),
        ("", "Sheet1"),
        ("'''", "Sheet1"),
        ("history", "history_"),
        ("长" * 40, "长" * 31),
    ],
)
def test_sheet_names_are_made_valid(given_name: str, expected: str) -> None:
    assert sheet_name(given_name) == expected
    data = to_xlsx(ALERT_COLUMNS, [ALERT], sheet=given_name)
    assert load_workbook(io.BytesIO(data)).worksheets[0].title == expected


# -- hostile text ----------------------------------------------------------------------

FORMULAS = ['=HYPERLINK("http://x","y")', "+1+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1"]


@pytest.mark.parametrize("formula", FORMULAS)
def test_formula_injection_is_neutralized_in_csv(formula: str) -> None:
    alert = {**ALERT, "title": formula, "details": {"department": formula}}
    row = csv_rows(ALERT_COLUMNS, [alert])[1]
    assert row[9] == "'" + formula
    assert row[6] == "'" + formula


@pytest.mark.parametrize("formula", FORMULAS)
def test_formula_injection_is_neutralized_in_xlsx(formula: str) -> None:
    alert = {**ALERT, "title": formula, "center_name": formula}
    data = to_xlsx(ALERT_COLUMNS, [alert], sheet="s")
    sheet = load_workbook(io.BytesIO(data)).worksheets[0]
    for column in (5, 10):
        cell = sheet.cell(row=2, column=column)
        assert cell.data_type == "s"
        assert cell.value == "'" + formula.replace("\r", "\n")  # a line break in a cell


def test_a_control_character_cannot_hide_a_formula() -> None:
    assert safe_text("\x00=1+1") == "'=1+1"


def test_numbers_are_not_touched_by_the_injection_rule() -> None:
    row = {**CENTER, "accepted": -3, "overdue": 0}
    assert csv_rows(center_columns([]), [row])[1][2] == "-3"
    assert xlsx_rows(to_xlsx(center_columns([]), [row], sheet="s"))[1][2] == -3
    assert cell_value(-1.5) == -1.5
    assert cell_value("-1.5") == "'-1.5"  # a text that looks like a number is still text


def test_illegal_control_characters_do_not_crash_and_are_removed() -> None:
    hostile = "办件\x00超\x01期\x0b\x0c\x1f\ud800\ufffe\uffff\t保留\n换行"
    alert = {**ALERT, "message": hostile, "details": {"department": "\x08民政局"}}
    expected = "办件超期\t保留\n换行"
    assert csv_rows(ALERT_COLUMNS, [alert])[1][10] == expected
    rows = xlsx_rows(to_xlsx(ALERT_COLUMNS, [alert], sheet="\x00预警\x07"))
    assert rows[1][10] == expected
    assert rows[1][6] == "民政局"


def test_odd_values_become_cells() -> None:
    assert cell_value(None) == ""
    assert cell_value(True) == "是"
    assert cell_value(float("nan")) == ""
    assert cell_value(float("inf")) == ""
    assert cell_value(["=a"]) == "['=a']"
    alert = {**ALERT, "late_working_days": float("nan"), "details": {"window_id": 7}}
    rows = xlsx_rows(to_xlsx(ALERT_COLUMNS, [alert], sheet="s"))
    assert rows[1][15] == "" and rows[1][7] == 7


def test_line_breaks_in_xlsx_are_excel_line_breaks() -> None:
    alert = {**ALERT, "message": "一\r\n二\r三\n四"}
    assert xlsx_rows(to_xlsx(ALERT_COLUMNS, [alert], sheet="s"))[1][10] == "一\n二\n三\n四"


def test_a_text_longer_than_a_cell_holds_is_cut_in_xlsx() -> None:
    alert = {**ALERT, "message": "长" * 40_000}
    rows = xlsx_rows(to_xlsx(ALERT_COLUMNS, [alert], sheet="s"))
    assert rows[1][10] == "长" * 32_767


TEXT = st.text(st.characters(codec="utf-8"), max_size=60)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(TEXT, TEXT), max_size=5))
def test_any_text_round_trips_through_csv(values: list[tuple[str, str]]) -> None:
    columns = (
        Column("a", "甲", lambda row: row["a"]),
        Column("b", "乙", lambda row: row["b"]),
    )
    rows = [{"a": a, "b": b} for a, b in values]
    back = csv_rows(columns, rows)
    assert back[0] == ["甲", "乙"]
    assert back[1:] == [[safe_text(a), safe_text(b)] for a, b in values]
    for a, b in values:  # the rule itself: no text cell starts a formula
        for text in (safe_text(a), safe_text(b)):
            assert not text.startswith(("=", "+", "-", "@", "\t", "\r"))


@settings(max_examples=50, deadline=None)
@given(st.lists(st.text(max_size=40), min_size=1, max_size=3))
def test_any_text_makes_a_readable_xlsx(values: list[str]) -> None:
    columns = (Column("a", "甲", lambda row: row["a"]),)
    data = to_xlsx(columns, [{"a": v} for v in values], sheet="s")
    expected = [safe_text(v).replace("\r\n", "\n").replace("\r", "\n") for v in values]
    assert xlsx_rows(data)[1:] == [[text] for text in expected]


# -- HTTP helpers ----------------------------------------------------------------------


def test_content_types() -> None:
    assert content_type("csv") == "text/csv; charset=utf-8"
    assert (
        content_type("xlsx") == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    with pytest.raises(ValueError, match="unknown export format"):
        content_type("xls")


def test_file_names() -> None:
    assert filename("预警清单-2026-10-11", "xlsx") == "预警清单-2026-10-11.xlsx"
    assert filename('a/b\\c:"d"\r\n', "csv") == "a_b_c__d___.csv"
    assert filename("", "csv") == "export.csv"
    with pytest.raises(ValueError):
        filename("x", "pdf")


def test_content_disposition_has_an_ascii_fallback_and_the_utf8_name() -> None:
    header = content_disposition("预警清单-451202", "xlsx")
    assert header.isascii()
    assert header.startswith('attachment; filename="451202.xlsx"; ')
    encoded = header.split("filename*=UTF-8''", 1)[1]
    assert unquote(encoded) == "预警清单-451202.xlsx"
    assert content_disposition("预警", "csv").startswith('attachment; filename="export.csv"')


def test_content_disposition_cannot_be_used_to_inject_headers() -> None:
    header = content_disposition('x"; filename=evil.exe\r\nSet-Cookie: a=b', "csv")
    assert "\r" not in header and "\n" not in header
    fallback = header.split(";")[1]
    assert fallback.count('"') == 2


def test_the_export_bound() -> None:
    assert EXPORT_MAX_ROWS == 100_000
