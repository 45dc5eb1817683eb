"""`supervisor rules check`: a broken rule file is refused with its file, line and problem."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]

GOOD_ENTRY = """\
rules:
  - id: fee.overcharge
    severity: red
    title: 违规收费
    message: "{case_id} 收费超标"
"""

LOCAL_ENTRY = """\
rules:
  - id: local.twice
    kind: count
    severity: red
    title: 重复收费
    message: "{case_id} 收费 {count} 次"
    params:
      event: fee_charged
      max: 1
"""


def check(directory: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "supervisor.cli", "rules", "check", str(directory)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )


def test_the_shipped_rules_pass() -> None:
    result = check(ROOT / "rules")
    assert result.returncode == 0, result.stderr
    assert "23 rules, 23 enabled; no item catalogue" in result.stdout


@pytest.mark.parametrize(
    "text,expected",
    [
        (
            GOOD_ENTRY + "    colour: red\n",
            "r.yaml:6: rules[0] (fee.overcharge): colour: Extra inputs are not permitted",
        ),
        (
            GOOD_ENTRY.replace("severity: red", "severity: orange"),
            "r.yaml:3: rules[0] (fee.overcharge): severity: Input should be 'yellow' or 'red'",
        ),
        (
            GOOD_ENTRY.replace("fee.overcharge", "fee.too_cheap"),
            "r.yaml:2: rules[0] (fee.too_cheap): id: unknown rule id 'fee.too_cheap'",
        ),
        (
            GOOD_ENTRY + "    params: {minutes: 10}\n",
            "r.yaml:6: rules[0] (fee.overcharge): params.minutes: Extra inputs are not permitted",
        ),
        (
            GOOD_ENTRY.replace("fee.overcharge", "conclusion.too_fast")
            + "    params: {minutes: soon}\n",
            "r.yaml:6: rules[0] (conclusion.too_fast): params.minutes: Input should be a valid",
        ),
        (
            "rules:\n  - id: fee.overcharge\n    severity: red\n",
            "r.yaml:2: rules[0] (fee.overcharge): title: Field required",
        ),
        ("rules: [\n", "r.yaml:2:1: not valid YAML: expected the node content"),
        (
            LOCAL_ENTRY.replace("kind: count", "kind: ratio"),
            "r.yaml:3: rules[0] (local.twice): kind: unknown rule kind 'ratio'; known: builtin,"
            " count, threshold, sequence, deadline, absence",
        ),
        (
            LOCAL_ENTRY.replace("max: 1", "max: 1\n      where: {payload.amont: 5}"),
            "r.yaml:10: rules[0] (local.twice): params.where: unknown field 'payload.amont' of"
            " fee_charged events; known: center_id, department, staff_id, window_id,"
            " payload.amount, payload.currency",
        ),
        (
            LOCAL_ENTRY.replace("kind: count", "kind: threshold").replace(
                "max: 1", "field: payload.fee\n      above: 5"
            ),
            "r.yaml:9: rules[0] (local.twice): params.field: unknown field 'payload.fee'",
        ),
        (
            LOCAL_ENTRY.replace("event: fee_charged", "event: paid"),
            "r.yaml:8: rules[0] (local.twice): params.event: Input should be 'submitted',",
        ),
        (
            LOCAL_ENTRY.replace("local.twice", "fee.overcharge"),
            "r.yaml:2: rules[0] (fee.overcharge): id: 'fee.overcharge' is a canonical rule",
        ),
        (
            LOCAL_ENTRY.replace("    kind: count\n", ""),
            "r.yaml:2: rules[0] (local.twice): id: unknown rule id 'local.twice'; the engine"
            " evaluates deadline.warning,",
        ),
        (
            LOCAL_ENTRY.replace("max: 1", "max: 1\n      where: {payload.amount: '100'}"),
            "r.yaml:10: rules[0] (local.twice): params.where: payload.amount of fee_charged"
            " events can never be '100'",
        ),
        (
            LOCAL_ENTRY.replace("event: fee_charged", "event: decided").replace(
                "max: 1", "max: 1\n      where: {payload.outcome: denied}"
            ),
            "params.where: payload.outcome of decided events can never be 'denied'; allowed:"
            " 'approve', 'deny'",
        ),
        (
            LOCAL_ENTRY.replace("kind: count", "kind: threshold")
            .replace("event: fee_charged", "event: decided")
            .replace("max: 1", "field: payload.reason\n      above: 5"),
            "r.yaml:9: rules[0] (local.twice): params.field: payload.reason of decided events"
            " is not a number",
        ),
        (
            LOCAL_ENTRY.replace("kind: count", "kind: deadline").replace(
                "      event: fee_charged\n      max: 1\n",
                "      start: step_completed\n      stop: [step_completed, concluded]\n"
                "      limit: {value: 1}\n",
            ),
            "r.yaml:9: rules[0] (local.twice): params.stop: the start event step_completed"
            " cannot also stop it",
        ),
    ],
    ids=[
        "unknown key",
        "wrong value",
        "unknown rule",
        "unknown threshold",
        "wrong type",
        "missing key",
        "not yaml",
        "unknown kind",
        "unknown field in where",
        "unknown threshold field",
        "unknown event type",
        "kind on a canonical id",
        "own rule without a kind",
        "where value of the wrong type",
        "where value not allowed",
        "threshold on a text field",
        "deadline stopped by its start",
    ],
)
def test_each_error_names_file_line_and_problem(tmp_path: Path, text: str, expected: str) -> None:
    (tmp_path / "r.yaml").write_text(text, encoding="utf-8")
    result = check(tmp_path)
    assert result.returncode == 1
    assert expected in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_the_example_local_rules_pass(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "rules", tmp_path / "rules")
    shutil.copy(ROOT / "rules/examples/local-rules.yaml", tmp_path / "rules" / "local.yaml")
    result = check(tmp_path / "rules")
    assert result.returncode == 0, result.stderr
    assert "28 rules, 28 enabled" in result.stdout


def test_the_example_catalogue_passes(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "rules", tmp_path / "rules")
    (tmp_path / "rules" / "catalogue").mkdir()
    shutil.copy(ROOT / "rules/examples/catalogue.yaml", tmp_path / "rules/catalogue/items.yaml")
    result = check(tmp_path / "rules")
    assert result.returncode == 0, result.stderr
    assert "item catalogue of 3 items" in result.stdout


def test_a_bad_catalogue_is_refused_with_file_and_line(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "rules", tmp_path / "rules")
    (tmp_path / "rules" / "catalogue").mkdir()
    (tmp_path / "rules/catalogue/items.yaml").write_text(
        "items:\n  - item_code: X\n    name: 某事项\n"
        "    promised_limit: {value: -1, unit: working_day}\n",
        encoding="utf-8",
    )
    result = check(tmp_path / "rules")
    assert result.returncode == 1
    assert "items.yaml:4: items[0] (X): promised_limit.value" in result.stderr


def test_a_bad_assessment_scheme_is_refused_with_file_and_line(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "rules", tmp_path / "rules")
    scheme = tmp_path / "rules" / "assessment" / "scheme.yaml"
    text = scheme.read_text(encoding="utf-8").replace("measure: red_per_100", "measure: reds")
    scheme.write_text(text, encoding="utf-8")
    result = check(tmp_path / "rules")
    assert result.returncode == 1
    line = text.splitlines().index("    measure: reds") + 1
    red = [
        i for i, one in enumerate(yaml.safe_load(text)["indicators"]) if one["id"] == "red_cards"
    ]
    where = f"scheme.yaml:{line}: indicators.{red[0]}: measure: 'reds' is not one of"
    assert where in result.stderr


def test_a_bad_calendar_file_is_refused_too(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "rules", tmp_path / "rules")
    (tmp_path / "rules" / "calendar" / "regions.yaml").write_text(
        "regions:\n  - {prefix: '45', days_off: [not-a-date]}\n", encoding="utf-8"
    )
    result = check(tmp_path / "rules")
    assert result.returncode == 1
    assert "regions.yaml: regions.0.days_off.0" in result.stderr


def test_an_impossible_date_in_a_calendar_file_names_the_file(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "rules", tmp_path / "rules")
    (tmp_path / "rules" / "calendar" / "regions.yaml").write_text(
        "regions:\n  - {prefix: '45', days_off: [2026-04-31]}\n", encoding="utf-8"
    )
    result = check(tmp_path / "rules")
    assert result.returncode == 1
    assert "regions.yaml: not a valid date: day is out of range for month" in result.stderr


def test_a_broken_routing_file_is_refused_with_its_line(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "rules", tmp_path / "rules")
    routing = tmp_path / "rules" / "notify" / "routing.yaml"
    text = routing.read_text(encoding="utf-8")
    routing.write_text(
        text.replace("settings:\n", "settings:\n  colour: red\n", 1), encoding="utf-8"
    )
    result = check(tmp_path / "rules")
    assert result.returncode == 1
    assert "routing.yaml:" in result.stderr and "colour" in result.stderr, result.stderr
