"""`supervisor rules check`: a broken rule file is refused with its file, line and problem."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

GOOD_ENTRY = """\
rules:
  - id: fee.overcharge
    severity: red
    title: 违规收费
    message: "{case_id} 收费超标"
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
    assert "18 rules, 18 enabled" in result.stdout


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
        ("rules: [\n", "r.yaml: not valid YAML"),
    ],
    ids=[
        "unknown key",
        "wrong value",
        "unknown rule",
        "unknown threshold",
        "wrong type",
        "missing key",
        "not yaml",
    ],
)
def test_each_error_names_file_line_and_problem(tmp_path: Path, text: str, expected: str) -> None:
    (tmp_path / "r.yaml").write_text(text, encoding="utf-8")
    result = check(tmp_path)
    assert result.returncode == 1
    assert expected in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_a_bad_calendar_file_is_refused_too(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "rules", tmp_path / "rules")
    (tmp_path / "rules" / "calendar" / "regions.yaml").write_text(
        "regions:\n  - {prefix: '45', days_off: [not-a-date]}\n", encoding="utf-8"
    )
    result = check(tmp_path / "rules")
    assert result.returncode == 1
    assert "regions.yaml: regions.0.days_off.0" in result.stderr
