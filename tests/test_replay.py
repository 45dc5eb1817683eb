"""`supervisor replay` exactly as contract §5, run as the real command."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from tests.core.factories import event_doc

ROOT = Path(__file__).resolve().parents[1]
CASE = "451221-2026-0000777"


def replay(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "supervisor.cli", "replay", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )


def lines(*documents: dict[str, Any] | str) -> str:
    return "".join(
        (d if isinstance(d, str) else json.dumps(d, ensure_ascii=False)) + "\n" for d in documents
    )


def story() -> list[dict[str, Any]]:
    """A case accepted on the contract's worked example day with 3 working days."""
    return [
        event_doc("submitted", "2026-09-30T09:50:00+08:00", case_id=CASE),
        event_doc(
            "accepted",
            "2026-09-30T10:00:00+08:00",
            case_id=CASE,
            item_code="X",
            item_name="食品经营许可",
            promised_limit={"value": 3, "unit": "working_day"},
            fee_standard=0,
        ),
        event_doc("fee_charged", "2026-10-08T09:00:00+08:00", case_id=CASE, amount=30),
    ]


def alerts(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines()]


def test_replay_prints_alerts_in_raised_at_order_with_the_clock_at_the_last_event(
    tmp_path: Path,
) -> None:
    events = tmp_path / "events.jsonl"
    events.write_text(lines(*story()), encoding="utf-8")
    result = replay(str(events))
    assert result.returncode == 0, result.stderr
    # The clock stops at the last event (8 Oct 09:00): the overdue deadline has not passed.
    assert [(a["rule_id"], a["raised_at"]) for a in alerts(result.stdout)] == [
        ("fee.overcharge", "2026-10-08T09:00:00+08:00"),
    ]


def test_until_fires_every_deadline_that_passed(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    events.write_text(lines(*story()), encoding="utf-8")
    result = replay(str(events), "--until", "2026-12-01T00:00:00+08:00")
    assert result.returncode == 0, result.stderr
    got = alerts(result.stdout)
    assert [(a["rule_id"], a["raised_at"]) for a in got] == [
        ("fee.overcharge", "2026-10-08T09:00:00+08:00"),
        ("deadline.warning", "2026-10-10T09:36:00+08:00"),
        ("deadline.overdue", "2026-10-11T00:00:00+08:00"),
    ]
    overdue = got[-1]
    assert overdue["alert_id"] == f"deadline.overdue:{CASE}"
    assert set(overdue) == {
        "alert_id",
        "rule_id",
        "severity",
        "case_id",
        "center_id",
        "raised_at",
        "title",
        "message",
        "details",
    }
    assert overdue["severity"] == "red" and overdue["center_id"] == "451221"
    assert "南丹" in overdue["message"]  # the center's name, from the registry


def test_standard_input_and_bad_lines_reported_with_their_number() -> None:
    text = lines(story()[0], "{not json", {"schema_version": "1"}, *story()[1:])
    result = replay("-", stdin=text)
    assert result.returncode == 0
    errors = result.stderr.splitlines()
    assert any(e.startswith("line 2: not JSON") for e in errors), errors
    assert any(e.startswith("line 3: ") and "event_id" in e for e in errors), errors
    assert [a["rule_id"] for a in alerts(result.stdout)] == ["fee.overcharge"]


def test_the_same_input_gives_the_same_output() -> None:
    text = lines(*story())
    first = replay("-", "--until", "2026-12-01T00:00:00+08:00", stdin=text)
    second = replay("-", "--until", "2026-12-01T00:00:00+08:00", stdin=text)
    assert first.stdout == second.stdout and first.stdout


def test_rules_dir_changes_thresholds(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", rules)
    document = yaml.safe_load((rules / "canonical.yaml").read_text(encoding="utf-8"))
    document["rules"] = [r for r in document["rules"] if r["id"] != "fee.overcharge"]
    (rules / "canonical.yaml").write_text(yaml.safe_dump(document, allow_unicode=True))
    result = replay("-", "--rules", str(rules), stdin=lines(*story()))
    assert result.returncode == 0, result.stderr
    assert alerts(result.stdout) == []


def test_contract_examples_replay_cleanly() -> None:
    result = replay(
        str(ROOT / "tests/fixtures/contract-examples.jsonl"), "--until", "2026-12-31T00:00:00+08:00"
    )
    assert result.returncode == 0
    assert "line" not in result.stderr
    # The three example cases are handled by the book: concluded in time, refused with a
    # reason, withdrawn; nothing fires.
    assert alerts(result.stdout) == []


def test_a_bad_until_is_refused_clearly() -> None:
    result = replay("-", "--until", "tomorrow", stdin="")
    assert result.returncode != 0
    assert "--until" in result.stderr
