"""The worker's log lines for the alerts it raises, bounded per second.

Why: one colourised INFO line per alert took 8% of the worker's CPU at 1,000 alerts a
second (py-spy, bench/e2e_latency.py), and 14% during a storm of deadlines: a log is for
people, who cannot read more than a few lines a second anyway. Each alert gets its line
up to `per_second` lines in a second; beyond that, the alerts are counted by rule and
one line says how many were not logged one by one, when the next second begins (or at
the next alert after it). Every alert is on the alerts topic and counted in the metrics
regardless (`supervisor_worker_alerts_raised_total`).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable

from supervisor.core.alerts import Alert

#: Alerts logged one by one in a second, at most.
PER_SECOND = 20


class AlertLog:
    def __init__(
        self,
        log: logging.Logger,
        per_second: int = PER_SECOND,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._log = log
        self._per_second = per_second
        self._clock = clock
        self._second = -1.0
        self._logged = 0
        self._unlogged: Counter[str] = Counter()

    def raised(self, alerts: Iterable[Alert]) -> None:
        for alert in alerts:
            self._roll()
            if self._logged < self._per_second:
                self._logged += 1
                self._log.info(
                    "alert %s %s %s", alert.severity, alert.alert_id, alert.raised_at.isoformat()
                )
            else:
                self._unlogged[alert.rule_id] += 1

    def flush(self) -> None:
        """The count of the second that ended (a timer calls this, so a burst's count is
        not held back until the next alert)."""
        self._roll()

    def _roll(self) -> None:
        second = float(int(self._clock()))
        if second == self._second:
            return
        if self._unlogged:
            self._log.info(
                "%d more alerts raised (%s), not logged one by one (more than %d a second)",
                sum(self._unlogged.values()),
                ", ".join(f"{rule} {count}" for rule, count in sorted(self._unlogged.items())),
                self._per_second,
            )
            self._unlogged.clear()
        self._second = second
        self._logged = 0
