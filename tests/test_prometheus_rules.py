"""The Prometheus configuration and alerting rules, checked and tested with promtool.

`promtool` is Debian's `prometheus` package (scripts/bootstrap installs it), the same
tool the upstream project ships: `check rules` parses dashboards/prometheus/alerts.yml
(PromQL, durations, templates), `check config` the scrape configuration with the rules
it loads, and `test rules` evaluates the rules on synthetic series
(tests/fixtures/prometheus/alerts_test.yml: each alert fires, and stays quiet, when it
should; annotations_test.yml: the rendered summaries). The names the rules use are
checked against the code in tests/test_compose.py and against a real scrape in
tests/integration/test_prometheus_scrape.py.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
PROMETHEUS_DIR = ROOT / "dashboards" / "prometheus"
CONFIG = PROMETHEUS_DIR / "prometheus.yml"
ALERTS = PROMETHEUS_DIR / "alerts.yml"
FIXTURES = ROOT / "tests" / "fixtures" / "prometheus"


@pytest.fixture(scope="module")
def promtool() -> str:
    found = shutil.which("promtool") or "/usr/bin/promtool"
    if not Path(found).is_file():
        pytest.fail("promtool is missing: run scripts/bootstrap (Debian's prometheus)")
    return found


def run(promtool: str, *args: str, cwd: Path | None = None) -> str:
    result = subprocess.run(
        [promtool, *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    return output


def rules_keeping(annotations: set[str]) -> dict[str, Any]:
    """alerts.yml with only the given annotations on each rule."""
    config = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))
    for group in config["groups"]:
        for rule in group["rules"]:
            kept = {k: v for k, v in rule.get("annotations", {}).items() if k in annotations}
            rule.pop("annotations", None)
            if kept:
                rule["annotations"] = kept
    assert isinstance(config, dict)
    return config


def alert_names() -> set[str]:
    config = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))
    return {rule["alert"] for group in config["groups"] for rule in group["rules"]}


def test_the_rules_are_valid(promtool: str) -> None:
    output = run(promtool, "check", "rules", str(ALERTS))
    assert f"SUCCESS: {len(alert_names())} rules found" in output


def test_the_configuration_is_valid_with_its_rules(promtool: str, tmp_path: Path) -> None:
    # As the compose file mounts it: the directory, and an ops token in the secrets file.
    run(promtool, "check", "config", "--syntax-only", str(CONFIG))
    config = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    token = tmp_path / "prometheus-web-token"
    token.write_text("svt_0123456789ab.not-a-real-secret\n", encoding="utf-8")
    for job in config["scrape_configs"]:
        if "authorization" in job:
            job["authorization"]["credentials_file"] = str(token)
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
    for name in config["rule_files"]:
        shutil.copy(PROMETHEUS_DIR / name, tmp_path / name)
    output = run(promtool, "check", "config", str(tmp_path / "prometheus.yml"))
    assert "SUCCESS: 1 rule files found" in output
    assert f"SUCCESS: {len(alert_names())} rules found" in output


def alerts_in(test_file: Path) -> set[str]:
    tests = yaml.safe_load(test_file.read_text(encoding="utf-8"))["tests"]
    return {case["alertname"] for test in tests for case in test.get("alert_rule_test", [])}


def fired_and_quiet(test_file: Path) -> tuple[set[str], set[str]]:
    fired: set[str] = set()
    quiet: set[str] = set()
    for test in yaml.safe_load(test_file.read_text(encoding="utf-8"))["tests"]:
        for case in test.get("alert_rule_test", []):
            (fired if case.get("exp_alerts") else quiet).add(case["alertname"])
    return fired, quiet


def test_each_alert_fires_and_stays_quiet_as_intended(promtool: str, tmp_path: Path) -> None:
    test_file = FIXTURES / "alerts_test.yml"
    fired, quiet = fired_and_quiet(test_file)
    assert fired == alert_names(), f"never shown firing: {sorted(alert_names() - fired)}"
    assert quiet == alert_names(), f"never shown quiet: {sorted(alert_names() - quiet)}"
    (tmp_path / "alerts.yml").write_text(
        yaml.safe_dump(rules_keeping(set()), allow_unicode=True), encoding="utf-8"
    )
    shutil.copy(test_file, tmp_path / test_file.name)
    output = run(promtool, "test", "rules", test_file.name, cwd=tmp_path)
    assert "SUCCESS" in output


def test_the_summaries_render_in_both_languages(promtool: str, tmp_path: Path) -> None:
    test_file = FIXTURES / "annotations_test.yml"
    assert alerts_in(test_file) <= alert_names()
    (tmp_path / "alerts.yml").write_text(
        yaml.safe_dump(rules_keeping({"summary", "summary_zh"}), allow_unicode=True),
        encoding="utf-8",
    )
    shutil.copy(test_file, tmp_path / test_file.name)
    output = run(promtool, "test", "rules", test_file.name, cwd=tmp_path)
    assert "SUCCESS" in output


def test_a_broken_expectation_fails(promtool: str, tmp_path: Path) -> None:
    """The harness itself: promtool's failure is seen (an alert expected where none fires)."""
    (tmp_path / "alerts.yml").write_text(
        yaml.safe_dump(rules_keeping(set()), allow_unicode=True), encoding="utf-8"
    )
    broken = {
        "rule_files": ["alerts.yml"],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    {"series": 'up{job="supervisor-worker", instance="w1"}', "values": "1x10"}
                ],
                "alert_rule_test": [
                    {
                        "eval_time": "5m",
                        "alertname": "SupervisorWorkerDown",
                        "exp_alerts": [{"exp_labels": {"severity": "critical"}}],
                    }
                ],
            }
        ],
    }
    (tmp_path / "broken_test.yml").write_text(yaml.safe_dump(broken), encoding="utf-8")
    result = subprocess.run(
        [promtool, "test", "rules", "broken_test.yml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0 and "FAILED" in result.stdout + result.stderr


def test_promtool_check_metrics_reports_problems(promtool: str) -> None:
    """What tests/integration/test_prometheus_scrape.py relies on: this promtool lints an
    exposition (a counter without `_total`, a metric without help) and says so."""
    bad = (
        "# HELP foo A counter.\n# TYPE foo counter\nfoo 1\n"
        "# TYPE bar_seconds gauge\nbar_seconds 2\n"
    )
    result = subprocess.run(
        [promtool, "check", "metrics"],
        input=bad,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert 'counter metrics should have "_total" suffix' in output
    assert "no help text" in output
