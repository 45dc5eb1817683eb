"""The names people read for a case's handling steps (审查, 现场核查…), from the item
catalogue in the rules directory (contract §8), for the case's timeline in the console.

Centers report a step by its code (`step_completed`'s `step`, `accepted`'s
`required_steps`: `review`, `site_inspection`); the catalogue gives each item's steps a
name. Read again at most every RELOAD_SECONDS, so an edit of the catalogue shows without
a restart, as the worker reloads it. A catalogue that cannot be read names no step (the
timeline then shows the codes, as without a catalogue): a case is never refused for it,
and the error is logged once per reading.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Final

from supervisor.core.catalogue import Catalogue, CatalogueError

RELOAD_SECONDS: Final = 30.0

log = logging.getLogger("supervisor.web")


class StepNames:
    """Each catalogued item's step names by step code, read from `rules_dir/catalogue`."""

    def __init__(self, rules_dir: Path, clock: Callable[[], float] = time.monotonic) -> None:
        self.directory = rules_dir / "catalogue"
        self._clock = clock
        self._read_at = float("-inf")
        self._catalogue: Catalogue | None = None

    def of(self, item_code: object) -> dict[str, str]:
        """The step names of the item `item_code` (empty for an unknown item, or none)."""
        if self._clock() - self._read_at >= RELOAD_SECONDS:
            self._read_at = self._clock()
            try:
                self._catalogue = Catalogue.load(self.directory)
            except (CatalogueError, OSError) as exc:
                log.warning("the item catalogue cannot be read, steps shown by code: %s", exc)
                self._catalogue = None
        if self._catalogue is None or not isinstance(item_code, str):
            return {}
        item = self._catalogue.get(item_code)
        if item is None:
            return {}
        return {step.step: step.name for step in item.steps if step.name}


def item_code_of(timeline: Sequence[Mapping[str, object]]) -> object:
    """The item code of a case's timeline: its latest `accepted` event's."""
    for event in reversed(timeline):
        payload = event.get("payload")
        if event.get("type") == "accepted" and isinstance(payload, Mapping):
            return payload.get("item_code")
    return None
