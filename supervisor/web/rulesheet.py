"""The rules in force as people read them beside an alert: what each rule checks, its
basis in law or policy, and its thresholds (rules/*.yaml), plus the rule a supervision
order's late reply raises (supervisor/orders.py). Read again at most every
RELOAD_SECONDS, so that an edit of rules/ shows without a restart, as the worker reloads
it; read in a worker thread, one reading at a time, and without the item catalogue
(which the sheet does not show, and which takes seconds to validate for a city), so the
event loop never waits for YAML."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any, Final

from supervisor import orders
from supervisor.core.rules import RuleBook

RELOAD_SECONDS: Final = 30.0


class RuleSheet:
    """The rules as the console shows them, read from a rules directory."""

    def __init__(self, directory: Path, clock: Any = time.monotonic) -> None:
        self.directory = directory
        self._clock = clock
        self._read_at = float("-inf")
        self._shown: list[dict[str, Any]] = []
        self._reading = asyncio.Lock()

    async def shown(self) -> list[dict[str, Any]]:
        """The sheet; RuleError when the rules cannot be read (the caller answers 503)."""
        if self._clock() - self._read_at >= RELOAD_SECONDS:
            async with self._reading:  # one reading at a time; the others wait for it
                if self._clock() - self._read_at >= RELOAD_SECONDS:
                    self._shown = await asyncio.to_thread(self._read)
                    self._read_at = self._clock()
        return self._shown

    def _read(self) -> list[dict[str, Any]]:
        book = RuleBook.load(self.directory, catalogue=False)
        return [
            {
                "id": rule.id,
                "severity": rule.spec.severity,
                "title": rule.spec.title,
                "basis": rule.spec.basis,
                "enabled": rule.spec.enabled,
                "thresholds": rule.params.model_dump(mode="json"),
            }
            for rule in book
        ] + [
            {
                "id": orders.RULE_ID,
                "severity": "red",
                "title": orders.RULE_TITLE,
                "basis": orders.RULE_BASIS,
                "enabled": True,
                "thresholds": {"default_days": orders.DEFAULT_DAYS},
            }
        ]
