"""The rules in force as people read them beside an alert: what each rule checks, its
basis in law or policy, and its thresholds (rules/*.yaml), plus the rule a supervision
order's late reply raises (supervisor/orders.py). Read again at most every
RELOAD_SECONDS, so that an edit of rules/ shows without a restart, as the worker reloads
it."""

from __future__ import annotations

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

    def shown(self) -> list[dict[str, Any]]:
        if self._clock() - self._read_at >= RELOAD_SECONDS:
            book = RuleBook.load(self.directory)  # RuleError: the caller answers 503
            self._shown = [
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
            self._read_at = self._clock()
        return self._shown
