"""The garbage collector's policy (supervisor/collector.py): what start-up loaded is
frozen, and young collections are rarer than CPython's default."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from supervisor import collector


@pytest.fixture
def restored() -> Iterator[None]:
    """The test process's own collector, as it was."""
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


@pytest.mark.usefixtures("restored")
def test_tune_freezes_what_was_loaded_and_collects_young_objects_less_often() -> None:
    gc.unfreeze()
    collector.tune()
    assert gc.get_freeze_count() > 0  # what the process had loaded: never walked again
    assert gc.get_threshold() == (collector.YOUNG, collector.MIDDLE, collector.FULL)
    assert collector.YOUNG > 700  # CPython's default, a collection every few events


@pytest.mark.usefixtures("restored")
def test_cycles_are_still_collected_after_tuning() -> None:
    collector.tune()

    class Node:
        other: object = None

    first, second = Node(), Node()
    first.other, second.other = second, first
    del first, second
    assert gc.collect() >= 2  # the cycle, found by an explicit or a later collection
