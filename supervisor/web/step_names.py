"""The names people read for a case's handling steps (审查, 现场核查…), from the item
catalogue in the rules directory (contract §8), for the case's timeline in the console.

Centers report a step by its code (`step_completed`'s `step`, `accepted`'s
`required_steps`: `review`, `site_inspection`); the catalogue gives each item's steps a
name. Its files are looked at again at most every RELOAD_SECONDS and read again only when
one changed, in a worker thread (a city's catalogue takes seconds to validate, which the
event loop must not wait for), so an edit shows without a restart, as the worker reloads
it. A catalogue that cannot be read names no step (the timeline then shows the codes, as
without a catalogue): a case is never refused for it, and the error is logged once per
change of the files.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Final

from supervisor.core.catalogue import Catalogue, CatalogueError

RELOAD_SECONDS: Final = 30.0

log = logging.getLogger("supervisor.web")

#: The catalogue files as last seen: (name, size, modification time) of each.
Seen = tuple[tuple[str, int, int], ...]


class StepNames:
    """Each catalogued item's step names by step code, read from `rules_dir/catalogue`."""

    def __init__(self, rules_dir: Path, clock: Callable[[], float] = time.monotonic) -> None:
        self.directory = rules_dir / "catalogue"
        self._clock = clock
        self._looked_at = float("-inf")
        self._seen: Seen | None = None
        self._catalogue: Catalogue | None = None
        self._reading = asyncio.Lock()

    async def of(self, item_code: object) -> dict[str, str]:
        """The step names of the item `item_code` (empty for an unknown item, or none)."""
        if self._clock() - self._looked_at >= RELOAD_SECONDS:
            async with self._reading:  # one reading at a time; the others wait for it
                if self._clock() - self._looked_at >= RELOAD_SECONDS:
                    await self._refresh()
        catalogue = self._catalogue
        if catalogue is None or not isinstance(item_code, str):
            return {}
        item = catalogue.get(item_code)
        if item is None:
            return {}
        return {step.step: step.name for step in item.steps if step.name}

    async def _refresh(self) -> None:
        seen = await asyncio.to_thread(self._files)
        if seen != self._seen:
            try:
                self._catalogue = await asyncio.to_thread(Catalogue.load, self.directory)
            except (CatalogueError, OSError, ValueError) as exc:  # ValueError: not UTF-8
                log.warning("the item catalogue cannot be read, steps shown by code: %s", exc)
                self._catalogue = None
            self._seen = seen
        self._looked_at = self._clock()

    def _files(self) -> Seen:
        try:
            found = sorted(self.directory.glob("*.y*ml"))
            return tuple(
                (path.name, stat.st_size, stat.st_mtime_ns)
                for path in found
                for stat in (path.stat(),)
            )
        except OSError:
            return ()


def item_code_of(timeline: Sequence[Mapping[str, object]]) -> object:
    """The item code of a case's timeline: its first `accepted` event's (a second one is
    out of order, and the engine ignores it)."""
    for event in timeline:
        payload = event.get("payload")
        if event.get("type") == "accepted" and isinstance(payload, Mapping):
            return payload.get("item_code")
    return None
