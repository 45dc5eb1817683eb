"""Backtests: `supervisor replay --report`, a summary of what a replay raised.

An office replays last month's events under the rules in force and under a changed copy
(`--rules DIR`, `--baseline-rules DIR`) and compares: per rule, the alerts raised and the
cases they concern; per center, the cases seen, accepted and concluded, how many were
concluded on time, the cases still open past their promised deadline, and the alerts.

"On time" means a concluded case with no `deadline.overdue` alert: the engine raises that
alert when the promised deadline passes before the case is concluded (at the latest when
the `concluded` event is applied); "open overdue" is a case with that alert that is still
open. With `deadline.overdue` switched off there is nothing to measure: the report shows
"—" and says so instead of calling every case on time.

`build_report` is pure (alerts and final case states in, a `Report` out); `render_text`
and `render_json` turn it into a terminal table or one JSON object.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from supervisor.centers import CenterRegistry
from supervisor.core.alerts import Alert
from supervisor.core.state import CaseState

OVERDUE = "deadline.overdue"


@dataclass(frozen=True)
class RuleLine:
    """One rule's alerts, the distinct cases they concern, and their severities."""

    rule_id: str
    alerts: int
    cases: int
    red: int
    yellow: int


@dataclass(frozen=True)
class Tally:
    """One center's figures (or the total of every center's).

    `on_time` and `open_overdue` are None when `deadline.overdue` is disabled: they
    cannot be measured."""

    cases: int
    accepted: int
    concluded: int
    on_time: int | None
    open_overdue: int | None
    red: int
    yellow: int

    @property
    def on_time_percent(self) -> float | None:
        """Concluded on time / concluded, in percent; None with nothing concluded."""
        if self.on_time is None or self.concluded == 0:
            return None
        return 100.0 * self.on_time / self.concluded


@dataclass(frozen=True)
class CenterLine:
    center_id: str
    name: str | None  # the registry's zh-CN name; None for an unregistered center
    tally: Tally


@dataclass(frozen=True)
class RuleChange:
    """One rule's alerts under the baseline rules and under the rules replayed."""

    rule_id: str
    baseline: int
    current: int

    @property
    def change(self) -> int:
        return self.current - self.baseline


@dataclass(frozen=True)
class Comparison:
    baseline_rules: str
    rules: list[RuleChange]


@dataclass(frozen=True)
class Report:
    rules_dir: str
    clock: datetime | None  # the replay's clock at the end (`--until` or the last event)
    on_time_measured: bool
    rules: list[RuleLine]
    rules_total: RuleLine  # rule_id ""; cases: the distinct cases with any alert
    centers: list[CenterLine]
    totals: Tally
    comparison: Comparison | None = None


def build_report(
    alerts: Iterable[Alert],
    cases: Iterable[CaseState],
    *,
    rules_dir: str,
    clock: datetime | None,
    registry: CenterRegistry | None = None,
    on_time_measured: bool = True,
    baseline: tuple[str, Iterable[Alert]] | None = None,
) -> Report:
    """The summary of one replay: `alerts` it raised, `cases` its final case states.

    `registry` names the centers; `baseline` is (its rules directory, the alerts the same
    input raised under it), for the per-rule comparison."""
    alerts = list(alerts)
    states = list(cases)
    overdue = {a.case_id for a in alerts if a.rule_id == OVERDUE}

    rules = [_rule_line(rule_id, group) for rule_id, group in _group_by_rule(alerts)]
    rules_total = _rule_line("", alerts)

    by_center_states: dict[str, list[CaseState]] = {}
    for state in states:
        by_center_states.setdefault(state.center_id, []).append(state)
    by_center_alerts: dict[str, list[Alert]] = {}
    for alert in alerts:
        by_center_alerts.setdefault(alert.center_id, []).append(alert)
    centers = []
    for center_id in sorted(by_center_states.keys() | by_center_alerts.keys()):
        center = registry.get(center_id) if registry is not None else None
        tally = _tally(
            by_center_states.get(center_id, []),
            by_center_alerts.get(center_id, []),
            overdue,
            on_time_measured,
        )
        centers.append(CenterLine(center_id, center.name if center else None, tally))

    comparison = None
    if baseline is not None:
        baseline_dir, baseline_alerts = baseline
        before = {rule_id: len(group) for rule_id, group in _group_by_rule(baseline_alerts)}
        after = {line.rule_id: line.alerts for line in rules}
        comparison = Comparison(
            baseline_dir,
            [
                RuleChange(rule_id, before.get(rule_id, 0), after.get(rule_id, 0))
                for rule_id in sorted(before.keys() | after.keys())
            ],
        )

    return Report(
        rules_dir=rules_dir,
        clock=clock,
        on_time_measured=on_time_measured,
        rules=rules,
        rules_total=rules_total,
        centers=centers,
        totals=_tally(states, alerts, overdue, on_time_measured),
        comparison=comparison,
    )


def _group_by_rule(alerts: Iterable[Alert]) -> list[tuple[str, list[Alert]]]:
    groups: dict[str, list[Alert]] = {}
    for alert in alerts:
        groups.setdefault(alert.rule_id, []).append(alert)
    return sorted(groups.items(), key=lambda item: item[0])


def _rule_line(rule_id: str, alerts: Sequence[Alert]) -> RuleLine:
    return RuleLine(
        rule_id=rule_id,
        alerts=len(alerts),
        cases=len({a.case_id for a in alerts if a.case_id}),  # center-wide alerts: no case
        red=sum(1 for a in alerts if a.severity == "red"),
        yellow=sum(1 for a in alerts if a.severity == "yellow"),
    )


def _tally(
    states: Sequence[CaseState], alerts: Sequence[Alert], overdue: set[str], measured: bool
) -> Tally:
    concluded = [s for s in states if s.concluded_at is not None]
    return Tally(
        cases=len(states),
        accepted=sum(1 for s in states if s.accepted_at is not None),
        concluded=len(concluded),
        on_time=sum(1 for s in concluded if s.case_id not in overdue) if measured else None,
        open_overdue=(
            sum(1 for s in states if s.status == "open" and s.case_id in overdue)
            if measured
            else None
        ),
        red=sum(1 for a in alerts if a.severity == "red"),
        yellow=sum(1 for a in alerts if a.severity == "yellow"),
    )


# -- JSON ------------------------------------------------------------------------------


def to_dict(report: Report) -> dict[str, Any]:
    document: dict[str, Any] = {
        "rules_dir": report.rules_dir,
        "clock": report.clock.isoformat(timespec="seconds") if report.clock else None,
        "on_time_measured": report.on_time_measured,
        "rules": [_rule_dict(line) for line in report.rules],
        "rules_total": {k: v for k, v in _rule_dict(report.rules_total).items() if k != "rule_id"},
        "centers": [
            {"center_id": c.center_id, "name": c.name, **_tally_dict(c.tally)}
            for c in report.centers
        ],
        "totals": _tally_dict(report.totals),
    }
    if report.comparison is not None:
        document["comparison"] = {
            "baseline_rules": report.comparison.baseline_rules,
            "rules": [
                {
                    "rule_id": c.rule_id,
                    "baseline": c.baseline,
                    "current": c.current,
                    "change": c.change,
                }
                for c in report.comparison.rules
            ],
        }
    return document


def render_json(report: Report) -> str:
    """The report as one JSON object on one line (so it can follow the alert lines)."""
    return json.dumps(to_dict(report), ensure_ascii=False) + "\n"


def _rule_dict(line: RuleLine) -> dict[str, Any]:
    return {
        "rule_id": line.rule_id,
        "alerts": line.alerts,
        "cases": line.cases,
        "red": line.red,
        "yellow": line.yellow,
    }


def _tally_dict(tally: Tally) -> dict[str, Any]:
    percent = tally.on_time_percent
    return {
        "cases": tally.cases,
        "accepted": tally.accepted,
        "concluded": tally.concluded,
        "on_time": tally.on_time,
        "on_time_percent": None if percent is None else round(percent, 1),
        "open_overdue": tally.open_overdue,
        "red": tally.red,
        "yellow": tally.yellow,
    }


# -- text ------------------------------------------------------------------------------

NONE = "—"
TOTAL = "合计 (total)"


def render_text(report: Report) -> str:
    """Aligned tables for a terminal: zh-CN headers with English in parentheses."""
    clock = report.clock.isoformat(timespec="seconds") if report.clock else NONE
    out = [
        "回测报告 (backtest report)",
        f"规则目录 (rules): {report.rules_dir}",
        f"时钟 (clock): {clock}",
        "",
        "按规则 (by rule)",
        *_table(
            ["规则 (rule)", "告警 (alerts)", "办件 (cases)", "红 (red)", "黄 (yellow)"],
            [
                [line.rule_id or TOTAL, line.alerts, line.cases, line.red, line.yellow]
                for line in [*report.rules, report.rules_total]
            ],
        ),
        "",
        "按中心 (by center)",
        *_table(
            [
                "中心 (center)",
                "办件 (cases)",
                "受理 (accepted)",
                "办结 (concluded)",
                "按时办结 (on time)",
                "按时率 (on-time rate)",
                "超期未结 (open overdue)",
                "红 (red)",
                "黄 (yellow)",
                "名称 (name)",
            ],
            [
                [
                    center.center_id,
                    *_tally_cells(center.tally),
                    center.name or "未登记 (unregistered)",
                ]
                for center in report.centers
            ]
            + [[TOTAL, *_tally_cells(report.totals), ""]],
            left=(0, 9),
        ),
    ]
    if not report.on_time_measured:
        out += [
            "",
            f"注 (note): 本规则目录未启用 {OVERDUE}，无法统计按时办结与超期未结"
            f" ({OVERDUE} is disabled in these rules:"
            " on-time and overdue figures are not measured)",
        ]
    if report.comparison is not None:
        out += [
            "",
            "规则对比 (rules compared)",
            f"基准 (baseline): {report.comparison.baseline_rules}",
            f"现行 (current): {report.rules_dir}",
            *_table(
                ["规则 (rule)", "基准 (baseline)", "现行 (current)", "变化 (change)"],
                [
                    [c.rule_id, c.baseline, c.current, f"{c.change:+d}" if c.change else "0"]
                    for c in report.comparison.rules
                ],
            ),
        ]
    return "\n".join(out) + "\n"


def _tally_cells(tally: Tally) -> list[object]:
    percent = tally.on_time_percent
    return [
        tally.cases,
        tally.accepted,
        tally.concluded,
        NONE if tally.on_time is None else tally.on_time,
        NONE if percent is None else f"{percent:.1f}%",
        NONE if tally.open_overdue is None else tally.open_overdue,
        tally.red,
        tally.yellow,
    ]


def _table(headers: list[str], rows: list[list[object]], left: Sequence[int] = (0,)) -> list[str]:
    """Columns padded by display width (a CJK character takes two); numbers right-aligned,
    the columns in `left` left-aligned."""
    cells = [headers, *[[str(cell) for cell in row] for row in rows]]
    widths = [max(_width(row[i]) for row in cells) for i in range(len(headers))]
    lines = []
    for row in cells:
        padded = [_pad(cell, widths[i], right=i not in left) for i, cell in enumerate(row)]
        lines.append("  ".join(padded).rstrip())
    return lines


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, width: int, *, right: bool) -> str:
    fill = " " * (width - _width(text))
    return fill + text if right else text + fill
