"""Live reload of the rules (supervisor/worker/reload.py), without Kafka.

The watcher runs on a copy of rules/: an unchanged directory reloads nothing; a valid
change builds an engine with the new thresholds; a broken one is refused once, with the
file and line, and the engine in force stays; the next change is tried again.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from supervisor.core.engine import Engine
from supervisor.core.rules import RepeatedParams
from supervisor.settings import PROJECT_ROOT, Settings
from supervisor.worker.app import create_app
from supervisor.worker.metrics import WorkerMetrics
from supervisor.worker.reload import RulesWatcher, enabled_rules, load_engine

ZONE = "Asia/Shanghai"
RULE = "supplement.repeated"


class Harness:
    """A watcher on a copy of rules/, the engine it would put in force, and its metrics."""

    def __init__(self, rules: Path) -> None:
        self.rules = rules
        self.canonical = rules / "canonical.yaml"
        self.registry = CollectorRegistry()
        self.metrics = WorkerMetrics.create(self.registry)
        self.engine = load_engine(rules, ZONE, lambda code: code)
        self.installed: list[Engine] = []
        self.watcher = RulesWatcher(rules, ZONE, lambda code: code, self.metrics)

    async def install(self, engine: Engine) -> None:
        self.engine = engine
        self.installed.append(engine)

    async def poll(self) -> str | None:
        return await self.watcher.poll(self.install)

    def reloads(self, result: str) -> float:
        value = self.registry.get_sample_value("supervisor_rule_reloads_total", {"result": result})
        assert value is not None
        return value

    def gauge(self, name: str) -> float:
        value = self.registry.get_sample_value(name)
        assert value is not None
        return value

    def max_requests(self) -> int:
        rule = self.engine.rules.get(RULE)
        assert rule is not None
        assert isinstance(rule.params, RepeatedParams)
        return rule.params.max_requests

    def edit(self, old: str, new: str) -> None:
        text = self.canonical.read_text(encoding="utf-8")
        assert text.count(old) == 1, old
        self.canonical.write_text(text.replace(old, new), encoding="utf-8")


@pytest.fixture
def harness(tmp_path: Path) -> Harness:
    rules = tmp_path / "rules"
    shutil.copytree(PROJECT_ROOT / "rules", rules)
    return Harness(rules)


REPEATED = "  - id: supplement.repeated\n"
THRESHOLD = "      max_requests: 1\n"


async def test_an_unchanged_directory_reloads_nothing(harness: Harness) -> None:
    for _ in range(3):
        assert await harness.poll() is None
    assert harness.installed == []
    assert harness.reloads("applied") == harness.reloads("refused") == 0


async def test_a_valid_change_puts_new_thresholds_in_force(harness: Harness) -> None:
    assert harness.max_requests() == 1
    enabled = enabled_rules(harness.engine)
    harness.edit(THRESHOLD, "      max_requests: 2\n")
    harness.edit(
        "  - id: fee.overcharge\n    severity: red\n",
        "  - id: fee.overcharge\n    enabled: false\n    severity: red\n",
    )
    assert await harness.poll() == "applied"
    assert len(harness.installed) == 1
    assert harness.max_requests() == 2
    assert harness.engine.rules.get("fee.overcharge") is None  # switched off
    assert harness.reloads("applied") == 1 and harness.reloads("refused") == 0
    assert harness.gauge("supervisor_rules_loaded") == enabled - 1
    assert harness.gauge("supervisor_rules_last_reload_timestamp_seconds") > 0
    assert await harness.poll() is None  # seen once, loaded once


async def test_a_broken_change_is_refused_once_and_the_last_good_rules_stay(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    harness.edit(THRESHOLD, "      max_requests: 2\n")
    assert await harness.poll() == "applied"
    good = harness.engine
    loaded = harness.gauge("supervisor_rules_loaded")

    harness.edit(REPEATED, REPEATED + "    colour: red\n")
    lines = harness.canonical.read_text(encoding="utf-8").splitlines()
    line = lines.index("    colour: red") + 1
    with caplog.at_level(logging.WARNING, logger="supervisor.worker.reload"):
        assert await harness.poll() == "refused"
        assert await harness.poll() is None  # the same broken files are not tried again
        assert await harness.poll() is None
    assert harness.engine is good and harness.max_requests() == 2
    assert harness.reloads("refused") == 1 and harness.reloads("applied") == 1
    assert harness.gauge("supervisor_rules_loaded") == loaded
    (record,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert f"canonical.yaml:{line}:" in record.getMessage()
    assert "colour" in record.getMessage()
    assert getattr(record, "result", None) == "refused"

    harness.edit("    colour: red\n", "")  # the fix (with a new threshold, to tell them apart)
    harness.edit("      max_requests: 2\n", "      max_requests: 3\n")
    assert await harness.poll() == "applied"
    assert harness.max_requests() == 3
    assert harness.reloads("applied") == 2 and harness.reloads("refused") == 1
    assert harness.watcher.last_error is None


async def test_a_file_caught_half_written_loads_at_the_next_poll(harness: Harness) -> None:
    whole = harness.canonical.read_text(encoding="utf-8").replace(
        THRESHOLD, "      max_requests: 4\n"
    )
    harness.canonical.write_text(whole[: len(whole) // 2], encoding="utf-8")
    assert await harness.poll() == "refused"
    harness.canonical.write_text(whole, encoding="utf-8")
    assert await harness.poll() == "applied"
    assert harness.max_requests() == 4


@pytest.mark.parametrize(
    ("old", "new", "named"),
    [
        (
            "    name: 广西壮族自治区\n",
            "    name: 广西壮族自治区\n    colour: red\n",
            "regions.yaml",
        ),
        # an impossible date fails inside the YAML parser; the calendar names the file
        ("- 2026-04-20", "- 2026-04-31", "regions.yaml: not a valid date: day is out of range"),
    ],
)
async def test_a_broken_calendar_is_refused_with_where_it_is(
    harness: Harness, caplog: pytest.LogCaptureFixture, old: str, new: str, named: str
) -> None:
    regions = harness.rules / "calendar" / "regions.yaml"
    text = regions.read_text(encoding="utf-8")
    assert text.count(old) == 1
    regions.write_text(text.replace(old, new), encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="supervisor.worker.reload"):
        assert await harness.poll() == "refused"
    assert named in caplog.text
    assert harness.installed == []


async def test_undoing_a_broken_edit_exactly_reloads_nothing(harness: Harness) -> None:
    original = harness.canonical.read_bytes()
    stat = harness.canonical.stat()
    harness.edit(REPEATED, REPEATED + "    colour: red\n")
    assert await harness.poll() == "refused"
    harness.canonical.write_bytes(original)
    os.utime(harness.canonical, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert await harness.poll() is None  # those are the rules in force
    assert harness.installed == [] and harness.reloads("applied") == 0


def worker_settings(tmp_path: Path, reload_seconds: str) -> Settings:
    rules = tmp_path / "rules"
    if not rules.exists():
        shutil.copytree(PROJECT_ROOT / "rules", rules)
    env = {
        "SUPERVISOR_RULES_DIR": str(rules),
        "SUPERVISOR_DATA_DIR": str(tmp_path / "data"),
        "SUPERVISOR_STORE": "memory://",
        "SUPERVISOR_RULES_RELOAD_SECONDS": reload_seconds,
    }
    return Settings.from_env(env)


def test_the_setting_defaults_to_two_seconds_and_zero_disables_it(tmp_path: Path) -> None:
    assert Settings.from_env({}).rules_reload_seconds == 2.0
    assert create_app(worker_settings(tmp_path, "0")).watcher is None
    worker = create_app(worker_settings(tmp_path, "1.5"))
    assert worker.watcher is not None
    assert worker.registry.get_sample_value("supervisor_rules_loaded") == enabled_rules(
        worker.engine
    )


async def test_the_worker_swaps_its_engine_only_between_two_messages(tmp_path: Path) -> None:
    settings = worker_settings(tmp_path, "2")
    worker = create_app(settings)
    old = worker.engine
    new = load_engine(settings.rules_dir, ZONE, old.center_name)
    reindexed: list[Engine] = []

    async def reindex() -> int:
        reindexed.append(worker.engine)
        return 0

    worker.reindex = reindex

    async with worker.busy:  # what the agent holds while it handles one message
        swap = asyncio.create_task(worker.use_engine(new))
        await asyncio.sleep(0.05)
        assert worker.engine is old and not swap.done()
    await swap
    assert worker.engine is new
    assert reindexed == [new]  # deadlines indexed again under the new engine
