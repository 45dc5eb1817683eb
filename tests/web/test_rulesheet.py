"""The rule sheet beside an alert (supervisor/web/rulesheet.py): read from the rules
directory in a worker thread, again after RELOAD_SECONDS, and without the item catalogue,
which it does not show (a city's takes seconds to validate: the event loop would stop)."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest

from supervisor.core.rules import RuleBook, RuleError
from supervisor.web import rulesheet
from supervisor.web.rulesheet import RuleSheet

RULES = Path(__file__).resolve().parents[2] / "rules"


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def rules_dir(tmp_path: Path) -> Path:
    target = tmp_path / "rules"
    target.mkdir()
    for path in RULES.glob("*.yaml"):
        shutil.copy(path, target / path.name)
    return target


async def test_the_sheet_is_read_off_the_loop_and_again_after_the_reload_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = rules_dir(tmp_path)
    readers: list[threading.Thread] = []
    load = RuleBook.load

    def spying(path: Path, *, catalogue: bool = True) -> RuleBook:
        readers.append(threading.current_thread())
        return load(path, catalogue=catalogue)

    monkeypatch.setattr(RuleBook, "load", spying)
    clock = Clock()
    sheet = RuleSheet(directory, clock=clock)
    first = await sheet.shown()
    assert {"deadline.overdue", "supervision.reply_overdue"} <= {rule["id"] for rule in first}
    clock.now = rulesheet.RELOAD_SECONDS - 1
    assert await sheet.shown() == first  # not read again yet
    assert len(readers) == 1
    assert readers[0] is not threading.current_thread()  # a worker thread read it

    (directory / "canonical.yaml").write_text("rules: [", encoding="utf-8")
    clock.now = rulesheet.RELOAD_SECONDS
    with pytest.raises(RuleError):
        await sheet.shown()
    assert len(readers) == 2


async def test_a_catalogue_that_cannot_be_read_does_not_stop_the_sheet(tmp_path: Path) -> None:
    directory = rules_dir(tmp_path)
    (directory / "catalogue").mkdir()
    (directory / "catalogue" / "items.yaml").write_text("items: [{code: 1", encoding="utf-8")
    with pytest.raises(RuleError):
        RuleBook.load(directory)  # the worker would refuse it …
    shown = await RuleSheet(directory).shown()  # … the sheet does not read it
    assert "deadline.overdue" in {rule["id"] for rule in shown}
