"""The names of a case's handling steps, read from the item catalogue (web/step_names.py):
by item, read again after a while, and none (the codes shown) when the catalogue is
missing or cannot be read."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import pytest

from supervisor.core.catalogue import Catalogue
from supervisor.web.step_names import RELOAD_SECONDS, StepNames, item_code_of

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = (ROOT / "rules" / "examples" / "catalogue.yaml").read_text(encoding="utf-8")


class Clock:
    def __init__(self) -> None:
        self.at = 0.0

    def __call__(self) -> float:
        return self.at


def rules_with(tmp_path: Path, text: str | None) -> Path:
    if text is not None:
        (tmp_path / "catalogue").mkdir()
        (tmp_path / "catalogue" / "items.yaml").write_text(text, encoding="utf-8")
    return tmp_path


async def test_each_item_names_its_own_steps(tmp_path: Path) -> None:
    names = StepNames(rules_with(tmp_path, EXAMPLE))
    assert await names.of("451221-XK-0042") == {
        "review": "审查",
        "site_inspection": "现场核查",
        "approval": "审批",
    }
    assert (await names.of("451224-GG-0007"))["review"] == "受理审查"
    assert await names.of("451221-XX-9999") == {} and await names.of(None) == {}


async def test_without_a_catalogue_no_step_is_named(tmp_path: Path) -> None:
    assert await StepNames(rules_with(tmp_path, None)).of("451221-XK-0042") == {}


@pytest.mark.parametrize("broken", [b"items: [oops", b"items:\n  - item_code: \xff\n"])
async def test_a_catalogue_that_cannot_be_read_names_none_and_says_why(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, broken: bytes
) -> None:
    """Not YAML, or not UTF-8 at all: no step named, the case still shown."""
    rules = rules_with(tmp_path, "")
    (rules / "catalogue" / "items.yaml").write_bytes(broken)
    with caplog.at_level(logging.WARNING, logger="supervisor.web"):
        names = StepNames(rules)
        assert await names.of("451221-XK-0042") == {}
    assert "the item catalogue cannot be read" in caplog.text


async def test_an_edit_of_the_catalogue_shows_after_the_reload_interval(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Clock()
    rules = rules_with(tmp_path, EXAMPLE)
    names = StepNames(rules, clock)
    assert (await names.of("451221-XK-0042"))["review"] == "审查"
    (rules / "catalogue" / "items.yaml").write_text(
        EXAMPLE.replace("name: 审查,", "name: 材料审查,"), encoding="utf-8"
    )
    clock.at = RELOAD_SECONDS - 1
    assert (await names.of("451221-XK-0042"))["review"] == "审查"
    clock.at = RELOAD_SECONDS
    assert (await names.of("451221-XK-0042"))["review"] == "材料审查"
    # files unchanged: looked at again, not read again
    loads = []
    monkeypatch.setattr(Catalogue, "load", classmethod(lambda cls, d: loads.append(d)))
    clock.at = 3 * RELOAD_SECONDS
    assert (await names.of("451221-XK-0042"))["review"] == "材料审查" and loads == []


def test_a_case_is_of_the_item_its_first_acceptance_names() -> None:
    timeline: list[Mapping[str, object]] = [
        {"type": "submitted", "payload": {}},
        {"type": "accepted", "payload": {"item_code": "A"}},
        {"type": "accepted", "payload": {"item_code": "B"}},  # a second: the engine ignores it
        {"type": "concluded"},
    ]
    assert item_code_of(timeline) == "A"
    assert item_code_of([{"type": "submitted", "payload": {}}]) is None
    odd: list[Mapping[str, object]] = [{"type": "accepted", "payload": "not a mapping"}]
    assert item_code_of(odd) is None
