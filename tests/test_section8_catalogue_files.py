"""The item catalogue as a file in the rules folder (contract §8): live reload as the rules
(supervisor/worker/reload.py, the watcher the worker polls), and `supervisor rules check`.

A catalogue added, changed or removed in `rules/catalogue/` is put in force at the next
poll, and open cases are judged by it (their stage timers move); a bad catalogue is
refused with its file and line, logged once, and the catalogue in force stays; the fix is
put in force. `supervisor rules check` refuses each kind of bad catalogue with file:line.
"""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from supervisor.core.engine import Engine
from supervisor.core.runner import Runner
from supervisor.core.state import CaseState
from supervisor.settings import PROJECT_ROOT
from supervisor.worker.metrics import WorkerMetrics
from supervisor.worker.reload import RulesWatcher, load_engine
from tests.core.factories import event

ZONE = "Asia/Shanghai"
CASE = "451221-2026-0000801"
CODE = "451221-S8-0001"
CATALOGUE = f"""\
items:
  - item_code: {CODE}
    name: 食品经营许可（新办）
    promised_limit: {{value: 5, unit: working_day}}
    steps:
      - {{step: review, name: 审查, limit: {{value: 1, unit: working_day}}}}
      - {{step: approval, name: 审批, limit: {{value: 3, unit: working_day}}}}
"""
#: The review step's limit, as written above (on line 6 of the file, the first step's).
REVIEW = "limit: {value: 1, unit: working_day}}"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def line_of(text: str, needle: str) -> int:
    [number] = [n for n, line in enumerate(text.splitlines(), 1) if needle in line]
    return number


class Watched:
    """A copy of rules/ (without a catalogue), the watcher on it, the engine in force."""

    def __init__(self, rules: Path) -> None:
        self.rules = rules
        self.registry = CollectorRegistry()
        self.engine = load_engine(rules, ZONE, lambda code: code)
        self.installed: list[Engine] = []
        self.watcher = RulesWatcher(
            rules, ZONE, lambda code: code, WorkerMetrics.create(self.registry)
        )

    async def install(self, engine: Engine) -> None:
        self.engine = engine
        self.installed.append(engine)

    async def poll(self) -> str | None:
        return await self.watcher.poll(self.install)

    def write(self, name: str, text: str) -> Path:
        folder = self.rules / "catalogue"
        folder.mkdir(exist_ok=True)
        path = folder / name
        path.write_text(text, encoding="utf-8")
        return path

    def reloads(self, result: str) -> float:
        value = self.registry.get_sample_value("supervisor_rule_reloads_total", {"result": result})
        assert value is not None
        return value


@pytest.fixture
def watched(tmp_path: Path) -> Watched:
    rules = tmp_path / "rules"
    shutil.copytree(PROJECT_ROOT / "rules", rules, ignore=shutil.ignore_patterns("catalogue"))
    return Watched(rules)


def open_case(engine: Engine) -> CaseState:
    """Accepted Friday 20 November 10:00, the catalogued item (the contract's stage
    example: a 1-working-day review ends Monday 10:00)."""
    runner = Runner(engine)
    runner.feed(
        event(
            "accepted",
            "2026-11-20T10:00:00+08:00",
            case_id=CASE,
            item_code=CODE,
            promised_limit={"value": 5, "unit": "working_day"},
        )
    )
    return runner.store[CASE]


def stage_timers(engine: Engine, state: CaseState) -> dict[str, datetime]:
    return {k: v for k, v in engine.timers(state).items() if k.startswith("stage.overdue:")}


def unknown_item_fires(engine: Engine) -> bool:
    accepted = event(
        "accepted",
        "2026-11-20T10:00:00+08:00",
        case_id="451221-2026-0000802",
        item_code="451221-XX-9999",
        promised_limit={"value": 5, "unit": "working_day"},
    )
    return any(a.rule_id == "catalogue.unknown_item" for a in engine.apply(None, accepted).alerts)


async def test_a_catalogue_is_put_in_force_changed_refused_and_removed_live(
    watched: Watched, caplog: pytest.LogCaptureFixture
) -> None:
    # no catalogue: its rules are silent, no stage timer
    assert watched.engine.rules.catalogue is None
    state = open_case(watched.engine)
    assert stage_timers(watched.engine, state) == {} and not unknown_item_fires(watched.engine)

    # added: in force at the next poll; the open case's first stage is timed from
    # acceptance (the next waits for its step to be completed)
    path = watched.write("items.yaml", CATALOGUE)
    assert await watched.poll() == "applied"
    assert watched.engine.rules.catalogue is not None and CODE in watched.engine.rules.catalogue
    assert unknown_item_fires(watched.engine)
    assert stage_timers(watched.engine, state) == {
        f"stage.overdue:{CASE}:review": at("2026-11-23T10:00:00+08:00"),
    }
    assert await watched.poll() is None  # seen once, loaded once

    # changed: review takes 2 working days now; the same case state is judged by it
    path.write_text(CATALOGUE.replace(REVIEW, REVIEW.replace("1", "2")), encoding="utf-8")
    assert await watched.poll() == "applied"
    good = watched.engine
    assert stage_timers(good, state)[f"stage.overdue:{CASE}:review"] == at(
        "2026-11-24T10:00:00+08:00"
    )
    # ...and fires there, under the engine in force
    fired = good.advance(state, at("2026-11-24T10:00:00+08:00")).alerts
    assert [(a.alert_id, a.raised_at) for a in fired if a.rule_id == "stage.overdue"] == [
        (f"stage.overdue:{CASE}:review", at("2026-11-24T10:00:00+08:00"))
    ]

    # refused: a bad unit, named with its file and line; the last good catalogue stays
    broken = CATALOGUE.replace(REVIEW, "limit: {value: 2, unit: week}}")
    path.write_text(broken, encoding="utf-8")
    line = line_of(broken, "unit: week")
    with caplog.at_level(logging.WARNING, logger="supervisor.worker.reload"):
        assert await watched.poll() == "refused"
        assert await watched.poll() is None  # the same broken files are not tried again
    assert watched.engine is good
    assert stage_timers(watched.engine, state)[f"stage.overdue:{CASE}:review"] == at(
        "2026-11-24T10:00:00+08:00"
    )
    [record] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert f"items.yaml:{line}: items[0] ({CODE}): steps.0.limit.unit" in record.getMessage()
    assert watched.watcher.last_error is not None and "items.yaml:" in watched.watcher.last_error

    # refused: an item catalogued twice across two files names both places
    path.write_text(CATALOGUE, encoding="utf-8")
    more = watched.write(
        "more.yaml",
        f"items:\n  - item_code: {CODE}\n    name: 重复\n"
        "    promised_limit: {value: 3, unit: working_day}\n",
    )
    assert await watched.poll() == "refused"
    assert watched.engine is good
    assert f"more.yaml:2: item '{CODE}' is already catalogued (items.yaml:2)" in (
        watched.watcher.last_error or ""
    )

    # the fix: in force (review back to 1 working day)
    more.unlink()
    assert await watched.poll() == "applied"
    assert stage_timers(watched.engine, state)[f"stage.overdue:{CASE}:review"] == at(
        "2026-11-23T10:00:00+08:00"
    )

    # removed: the catalogue's rules are silent again
    shutil.rmtree(watched.rules / "catalogue")
    assert await watched.poll() == "applied"
    assert watched.engine.rules.catalogue is None
    assert stage_timers(watched.engine, state) == {} and not unknown_item_fires(watched.engine)
    assert watched.reloads("applied") == 4 and watched.reloads("refused") == 2


# -- supervisor rules check -------------------------------------------------------------


def check(directory: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "supervisor.cli", "rules", "check", str(directory)],
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        timeout=60,
        check=False,
    )


BAD_CATALOGUES = [
    # (what is wrong, the file's text, the text on the line refused, what is said)
    (
        "unknown key",
        CATALOGUE.replace(
            "    name: 食品经营许可（新办）\n", "    name: 食品经营许可（新办）\n    colour: red\n"
        ),
        "colour: red",
        f"items[0] ({CODE}): colour: Extra inputs are not permitted",
    ),
    (
        "step listed twice",  # the line of the steps list
        CATALOGUE.replace("{step: approval", "{step: review"),
        "{step: review, name: 审查",
        f"items[0] ({CODE}): steps: step 'review' is listed twice",
    ),
    (
        "a natural-day step of no length",
        CATALOGUE.replace("{value: 3, unit: working_day}}", "{value: 0, unit: natural_day}}"),
        "{value: 0, unit: natural_day}",
        f"items[0] ({CODE}): steps.1.limit.value",
    ),
    (
        "fee standard below zero",
        CATALOGUE.replace("    steps:\n", "    fee_standard: -5\n    steps:\n"),
        "fee_standard: -5",
        f"items[0] ({CODE}): fee_standard",
    ),
    (
        "items not a list",
        "items:\n  item_code: X\n",
        "item_code: X",
        "'items' must be a list",
    ),
    (
        "not YAML",  # the line where the parser found the problem
        CATALOGUE.replace("    steps:\n", "    steps: [\n"),
        "{step: review, name: 审查",
        "not valid YAML",
    ),
]


@pytest.mark.parametrize(
    ("text", "needle", "said"),
    [case[1:] for case in BAD_CATALOGUES],
    ids=[case[0] for case in BAD_CATALOGUES],
)
def test_rules_check_refuses_a_bad_catalogue_with_file_and_line(
    tmp_path: Path, text: str, needle: str, said: str
) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(PROJECT_ROOT / "rules", rules, ignore=shutil.ignore_patterns("catalogue"))
    (rules / "catalogue").mkdir()
    (rules / "catalogue" / "items.yaml").write_text(text, encoding="utf-8")
    result = check(rules)
    assert result.returncode == 1, result.stdout
    line = line_of(text, needle)
    # file:line, and the column too where the parser found the problem
    assert re.search(rf"items\.yaml:{line}:(\d+:)? ", result.stderr), result.stderr
    assert said in result.stderr, result.stderr


def test_rules_check_counts_a_good_catalogue(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(PROJECT_ROOT / "rules", rules, ignore=shutil.ignore_patterns("catalogue"))
    (rules / "catalogue").mkdir()
    (rules / "catalogue" / "items.yaml").write_text(CATALOGUE, encoding="utf-8")
    result = check(rules)
    assert result.returncode == 0, result.stderr
    assert "item catalogue of 1 items" in result.stdout
