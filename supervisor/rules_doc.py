"""The inspectors' page of the rules in force, generated from the rule files.

`supervisor rules doc > rules/README.md` writes it; tests/test_rules_doc.py fails when the
committed page no longer matches the rules, so the page never drifts from what runs.
"""

from __future__ import annotations

from pathlib import Path

from supervisor.core.rules import RuleBook

SEVERITY_ZH = {"red": "红牌（超期/违规）", "yellow": "黄牌（预警）"}


def render(rules_dir: Path) -> str:
    book = RuleBook.load(rules_dir)
    lines = [
        "# 监察规则 — the supervision rules in force",
        "",
        "Generated from the rule files in this folder by `supervisor rules doc`; edit the",
        "YAML, then regenerate. Message placeholders: `{center_name}`, `{case_id}`,",
        "`{item_name}`, `{item_code}`, `{promised_limit}`, `{statutory_limit}`, `{deadline}`,",
        "and per rule `{count}`, `{charged}`, `{fee_standard}`, `{extension}`, `{state}`,",
        "`{event_type}`, `{missing_steps}`, `{minutes}`, `{decision}`, `{level}`,",
        "`{working_days}`, `{limit_kind}`, `{declared_limit}`, `{declared_deadline}`,",
        "`{catalogue_limit}`, `{catalogue_deadline}`, `{step}`, `{step_name}`, `{step_limit}`,",
        "`{complaint_number}`. Applicants' personal data is never available to a message.",
        "Every alert's details also say who handled the case: `department`, `window_id`,",
        "`staff_id` (the event's own, or for a deadline the case's latest known).",
        "",
        "The item catalogue (事项库) is `catalogue/*.yaml` in this folder (the format, with",
        "an example, in `examples/catalogue.yaml`). Without it `catalogue.unknown_item`,",
        "`catalogue.limit_mismatch`, `stage.overdue` and `complaint.unanswered` are",
        "silent, as the contract says (§8).",
        "",
        "How the monthly assessment (绩效考核) scores each center, department, window and",
        "staff member is `assessment/scheme.yaml`: indicators, weights, deductions and",
        "grades, its format in its comments; `supervisor rules check` checks it too.",
        "",
        "An office's own rules need no Python: one of the kinds count, threshold, sequence,",
        "deadline, absence, in YAML (examples in `examples/local-rules.yaml`; the kinds and",
        "their placeholders are described in the project docs, docs/rules.md).",
        "",
        "| 规则 rule_id | 类型 kind | 级别 severity | 名称 title | 依据 basis | 阈值 thresholds"
        " | 启用 |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for rule in book:
        spec = rule.spec
        params = (
            ", ".join(f"{k}={v}" for k, v in rule.params.model_dump(mode="json").items()) or "—"
        )
        lines.append(
            f"| `{spec.id}` | {spec.kind} | {SEVERITY_ZH[spec.severity]} | {spec.title} "
            f"| {spec.basis or '—'} "
            f"| {params} | {'是' if spec.enabled else '否'} |"
        )
    return "\n".join(lines) + "\n"
