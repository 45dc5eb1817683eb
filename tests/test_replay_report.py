"""`supervisor replay --report` (backtests), run as the real command on a small story.

Four accepted cases with a promised limit of 3 working days (accepted Monday 2 November
2026 09:00, due Thursday 5 November 24:00), and one that is only submitted:

- 451221 (南丹): A concluded in time and delivered; B concluded late (10 November) and
  delivered; C never concluded. 3 cases, 2 concluded, 1 on time: 50.0%, 1 open overdue.
- 451224103 (东兰县三石镇): D never concluded and charged a fee on a free item.
- 451299 (not in the registry): E submitted only.
"""

from __future__ import annotations

import json
import shutil
import unicodedata
from pathlib import Path
from typing import Any

import yaml

from tests.core.factories import event_doc
from tests.test_replay import replay

ROOT = Path(__file__).resolve().parents[1]
UNTIL = "2026-11-30T00:00:00+08:00"
NANDAN, SANSHI, UNREGISTERED = "451221", "451224103", "451299"


def accepted(case: str, center: str, **payload: Any) -> dict[str, Any]:
    return event_doc(
        "accepted",
        "2026-11-02T09:00:00+08:00",
        case_id=case,
        center_id=center,
        item_code="X",
        item_name="食品经营许可",
        promised_limit={"value": 3, "unit": "working_day"},
        **payload,
    )


def handled(case: str, day: int) -> list[dict[str, Any]]:
    """Decided on `day` November at 15:00, concluded at 16:00, delivered the next morning."""
    return [
        event_doc("decided", f"2026-11-{day:02d}T15:00:00+08:00", case_id=case, outcome="approve"),
        event_doc("concluded", f"2026-11-{day:02d}T16:00:00+08:00", case_id=case),
        event_doc("delivered", f"2026-11-{day + 1:02d}T09:00:00+08:00", case_id=case),
    ]


def story() -> str:
    a, b, c = (f"{NANDAN}-2026-000000{n}" for n in (1, 2, 3))
    d, e = f"{SANSHI}-2026-0000004", f"{UNREGISTERED}-2026-0000005"
    documents = [
        accepted(a, NANDAN),
        accepted(b, NANDAN),
        accepted(c, NANDAN),
        accepted(d, SANSHI, fee_standard=0),
        event_doc("submitted", "2026-11-02T10:00:00+08:00", case_id=e, center_id=UNREGISTERED),
        event_doc(
            "fee_charged", "2026-11-03T09:00:00+08:00", case_id=d, center_id=SANSHI, amount=5
        ),
        *handled(a, 3),  # in time: due 5 November 24:00
        *handled(b, 10),  # late
    ]
    return "".join(json.dumps(d, ensure_ascii=False) + "\n" for d in documents)


def events_file(tmp_path: Path, text: str | None = None) -> str:
    path = tmp_path / "events.jsonl"
    path.write_text(story() if text is None else text, encoding="utf-8")
    return str(path)


def rules_copy(tmp_path: Path, disabled: str) -> Path:
    """rules/ copied, with one rule switched off (`enabled: false`)."""
    rules = tmp_path / f"rules-without-{disabled}"
    shutil.copytree(ROOT / "rules", rules)
    path = rules / "canonical.yaml"
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    for rule in document["rules"]:
        if rule["id"] == disabled:
            rule["enabled"] = False
    path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    return rules


def json_report(*args: str, stdin: str | None = None) -> dict[str, Any]:
    result = replay(*args, "--report-only", "--report-format", "json", stdin=stdin)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("\n") == 1, result.stdout  # one JSON object, one line
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def per_rule(report: dict[str, Any]) -> dict[str, int]:
    return {line["rule_id"]: line["alerts"] for line in report["rules"]}


def table_row(text: str, first: str) -> list[str]:
    rows = [line.split() for line in text.splitlines() if line.startswith(first + " ")]
    assert len(rows) == 1, text
    return rows[0]


def width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def test_text_report_follows_the_alerts_unchanged_with_exact_figures(tmp_path: Path) -> None:
    events = events_file(tmp_path)
    plain = replay(events, "--until", UNTIL)
    reported = replay(events, "--until", UNTIL, "--report")
    assert plain.returncode == 0 and reported.returncode == 0, reported.stderr

    # The alert lines are exactly those printed without --report; the report follows.
    assert len(plain.stdout.splitlines()) == 7
    assert reported.stdout.startswith(plain.stdout)
    text = reported.stdout[len(plain.stdout) :]
    assert text.startswith("\n回测报告 (backtest report)\n")
    assert f"时钟 (clock): {UNTIL}" in text

    # Per rule: alerts, distinct cases, red, yellow.
    assert table_row(text, "deadline.overdue") == ["deadline.overdue", "3", "3", "3", "0"]
    assert table_row(text, "deadline.warning") == ["deadline.warning", "3", "3", "0", "3"]
    assert table_row(text, "fee.overcharge") == ["fee.overcharge", "1", "1", "1", "0"]
    assert "delivery.overdue" not in text

    # Per center: cases, accepted, concluded, on time, rate, open overdue, red, yellow, name.
    assert table_row(text, NANDAN) == [
        *(NANDAN, "3", "3", "2", "1", "50.0%", "1", "2", "2"),
        "南丹县政务服务中心",
    ]
    assert table_row(text, SANSHI) == [
        *(SANSHI, "1", "1", "0", "0", "—", "1", "2", "1"),
        "东兰县三石镇便民服务中心",
    ]
    assert table_row(text, UNREGISTERED) == [
        *(UNREGISTERED, "1", "0", "0", "0", "—", "0", "0", "0"),
        "未登记",
        "(unregistered)",
    ]
    totals = [line.split() for line in text.splitlines() if line.startswith("合计 (total)")]
    assert totals == [
        ["合计", "(total)", "7", "3", "4", "3"],  # by rule: 7 alerts on cases B, C and D
        ["合计", "(total)", "5", "4", "2", "1", "50.0%", "2", "4", "3"],  # by center
    ]

    # The per-rule table is aligned for a terminal: every line has the same display width
    # (its last column is right-aligned), counting a CJK character as two columns.
    lines = text.splitlines()
    start = lines.index("按规则 (by rule)") + 1
    table = lines[start : lines.index("", start)]
    assert len(table) == 5
    assert len({width(line) for line in table}) == 1, table


def test_json_report_only(tmp_path: Path) -> None:
    report = json_report(events_file(tmp_path), "--until", UNTIL)
    assert set(report) == {
        "rules_dir",
        "clock",
        "on_time_measured",
        "rules",
        "rules_total",
        "centers",
        "totals",
    }
    assert report["clock"] == UNTIL and report["on_time_measured"] is True
    assert report["rules"] == [
        {"rule_id": "deadline.overdue", "alerts": 3, "cases": 3, "red": 3, "yellow": 0},
        {"rule_id": "deadline.warning", "alerts": 3, "cases": 3, "red": 0, "yellow": 3},
        {"rule_id": "fee.overcharge", "alerts": 1, "cases": 1, "red": 1, "yellow": 0},
    ]
    assert report["rules_total"] == {"alerts": 7, "cases": 3, "red": 4, "yellow": 3}
    assert report["centers"] == [
        {
            "center_id": NANDAN,
            "name": "南丹县政务服务中心",
            "cases": 3,
            "accepted": 3,
            "concluded": 2,
            "on_time": 1,
            "on_time_percent": 50.0,
            "open_overdue": 1,
            "red": 2,
            "yellow": 2,
        },
        {
            "center_id": SANSHI,
            "name": "东兰县三石镇便民服务中心",
            "cases": 1,
            "accepted": 1,
            "concluded": 0,
            "on_time": 0,
            "on_time_percent": None,
            "open_overdue": 1,
            "red": 2,
            "yellow": 1,
        },
        {
            "center_id": UNREGISTERED,
            "name": None,
            "cases": 1,
            "accepted": 0,
            "concluded": 0,
            "on_time": 0,
            "on_time_percent": None,
            "open_overdue": 0,
            "red": 0,
            "yellow": 0,
        },
    ]
    assert report["totals"] == {
        "cases": 5,
        "accepted": 4,
        "concluded": 2,
        "on_time": 1,
        "on_time_percent": 50.0,
        "open_overdue": 2,
        "red": 4,
        "yellow": 3,
    }


def test_the_clock_decides_what_is_overdue(tmp_path: Path) -> None:
    """Without --until the clock stops at the last event (11 November): the deadlines of
    5 November have passed, so the figures are those of the full month."""
    report = json_report(events_file(tmp_path))
    assert report["clock"] == "2026-11-11T09:00:00+08:00"
    assert per_rule(report) == {"deadline.overdue": 3, "deadline.warning": 3, "fee.overcharge": 1}
    early = json_report(events_file(tmp_path), "--until", "2026-11-03T12:00:00+08:00")
    # --until cannot move the clock back: same figures.
    assert early == report


def test_report_only_prints_no_alert_line(tmp_path: Path) -> None:
    result = replay(events_file(tmp_path), "--until", UNTIL, "--report-only")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("回测报告 (backtest report)\n")
    assert "alert_id" not in result.stdout
    assert not any(line.startswith("{") for line in result.stdout.splitlines())
    assert table_row(result.stdout, NANDAN)[5] == "50.0%"


def test_json_report_after_the_alerts_is_the_last_line(tmp_path: Path) -> None:
    events = events_file(tmp_path)
    plain = replay(events, "--until", UNTIL)
    result = replay(events, "--until", UNTIL, "--report", "--report-format", "json")
    assert result.returncode == 0, result.stderr
    *alert_lines, last = result.stdout.splitlines()
    assert "\n".join(alert_lines) + "\n" == plain.stdout
    assert json.loads(last)["totals"]["on_time_percent"] == 50.0


def test_a_changed_rules_copy_changes_the_per_rule_counts(tmp_path: Path) -> None:
    events = events_file(tmp_path)
    before = json_report(events, "--until", UNTIL)
    after = json_report(
        events, "--until", UNTIL, "--rules", str(rules_copy(tmp_path, "fee.overcharge"))
    )
    assert per_rule(before) == {"deadline.overdue": 3, "deadline.warning": 3, "fee.overcharge": 1}
    assert per_rule(after) == {"deadline.overdue": 3, "deadline.warning": 3}
    sanshi = next(c for c in after["centers"] if c["center_id"] == SANSHI)
    assert (sanshi["red"], sanshi["yellow"]) == (1, 1)


def test_baseline_rules_compares_per_rule(tmp_path: Path) -> None:
    changed = rules_copy(tmp_path, "fee.overcharge")
    report = json_report(
        events_file(tmp_path),
        "--until",
        UNTIL,
        "--rules",
        str(changed),
        "--baseline-rules",
        str(ROOT / "rules"),
    )
    assert report["rules_dir"] == str(changed)
    assert report["comparison"] == {
        "baseline_rules": str(ROOT / "rules"),
        "rules": [
            {"rule_id": "deadline.overdue", "baseline": 3, "current": 3, "change": 0},
            {"rule_id": "deadline.warning", "baseline": 3, "current": 3, "change": 0},
            {"rule_id": "fee.overcharge", "baseline": 1, "current": 0, "change": -1},
        ],
    }
    text = replay(
        events_file(tmp_path),
        "--until",
        UNTIL,
        "--rules",
        str(changed),
        "--baseline-rules",
        str(ROOT / "rules"),
        "--report-only",
    ).stdout
    assert "规则对比 (rules compared)" in text
    assert table_row(text, "fee.overcharge") == ["fee.overcharge", "1", "0", "-1"]


def test_baseline_from_standard_input_replays_it_twice_and_reports_bad_lines_once() -> None:
    text = story() + "{not json\n"
    report = json_report("-", "--until", UNTIL, "--baseline-rules", str(ROOT / "rules"), stdin=text)
    assert [(c["baseline"], c["current"]) for c in report["comparison"]["rules"]] == [
        (3, 3),
        (3, 3),
        (1, 1),
    ]
    result = replay("-", "--baseline-rules", str(ROOT / "rules"), "--report-only", stdin=text)
    assert result.returncode == 0
    assert result.stderr.count("line 13: not JSON") == 1, result.stderr


def test_without_deadline_overdue_on_time_is_not_measured(tmp_path: Path) -> None:
    rules = str(rules_copy(tmp_path, "deadline.overdue"))
    report = json_report(events_file(tmp_path), "--until", UNTIL, "--rules", rules)
    assert report["on_time_measured"] is False
    assert report["totals"]["concluded"] == 2
    assert report["totals"]["on_time"] is None and report["totals"]["on_time_percent"] is None
    assert report["totals"]["open_overdue"] is None
    text = replay(events_file(tmp_path), "--until", UNTIL, "--rules", rules, "--report-only")
    row = table_row(text.stdout, NANDAN)
    assert row[4:7] == ["—", "—", "—"]  # on time, rate, open overdue: not 100%
    assert "deadline.overdue is disabled in these rules" in text.stdout


def test_report_options_need_report(tmp_path: Path) -> None:
    for option in (["--report-format", "json"], ["--baseline-rules", str(ROOT / "rules")]):
        result = replay(events_file(tmp_path), *option)
        assert result.returncode == 2
        assert "needs --report or --report-only" in result.stderr
        assert result.stdout == ""
    bad = replay(events_file(tmp_path), "--report", "--report-format", "xml")
    assert bad.returncode == 2 and "--report-format" in bad.stderr
    missing = replay(events_file(tmp_path), "--report", "--baseline-rules", str(tmp_path))
    assert missing.returncode == 2 and "rules refused" in missing.stderr
    assert missing.stdout == ""  # nothing printed before the rules were refused


def test_empty_input_gives_an_empty_report() -> None:
    report = json_report("-", stdin="")
    assert report["clock"] is None and report["rules"] == [] and report["centers"] == []
    assert report["totals"]["cases"] == 0 and report["totals"]["on_time_percent"] is None
