"""Live reload of the rules: a changed `rules/` directory is put in force without a restart.

Every `SUPERVISOR_RULES_RELOAD_SECONDS` the worker's timer asks `RulesWatcher.poll()`,
which fingerprints the directory (path, size, mtime and content hash of every YAML file in
it, `calendar/` included) and, when the fingerprint changed, loads the rule book and the
calendar book again:

- loaded: a new `Engine` is built and handed to `install` (the worker swaps it in between
  two messages and re-indexes its cases' deadlines under the new thresholds); counted as
  `supervisor_rule_reloads_total{result="applied"}`;
- refused (a rule or calendar file that does not load: the error names the file and, for
  rule files, the line): the engine in force stays, one warning is logged, and
  `{result="refused"}` counts it. The same broken fingerprint is not tried again, so a
  broken file logs once, not at every poll; any further change of the directory is tried.

A file caught half written fails once, and its complete version (another fingerprint) is
loaded at the next poll. Alerts already raised are never raised again by a new engine:
their ids are deterministic and each case keeps the ids it fired (`CaseState.fired`).
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from supervisor.core.calendar import CalendarBook
from supervisor.core.engine import Engine
from supervisor.core.rules import RuleBook
from supervisor.worker.metrics import WorkerMetrics

log = logging.getLogger("supervisor.worker.reload")

CenterName = Callable[[str], str]
Install = Callable[[Engine], Awaitable[None]]

#: The files whose change triggers a reload: every rule and calendar file, at any depth.
PATTERNS = ("**/*.yaml", "**/*.yml")


def load_engine(rules_dir: Path, timezone: str, center_name: CenterName) -> Engine:
    """The engine of the rules in `rules_dir` (and `rules_dir/calendar`): what the worker
    starts with and what a reload builds. Raises RuleError or ValueError on a bad file."""
    rules = RuleBook.load(rules_dir)
    calendars = CalendarBook.load(Path(rules_dir) / "calendar", timezone)  # names the file
    return Engine(rules, calendars, center_name)


def fingerprint(rules_dir: Path) -> str:
    """A digest of the directory's YAML files: relative path, size, mtime (ns) and content.

    Raises OSError when a file vanishes or cannot be read while it is looked at (an editor
    replacing it): the caller looks again at the next poll."""
    directory = Path(rules_dir)
    files = sorted({path for pattern in PATTERNS for path in directory.glob(pattern)})
    digest = hashlib.sha256()
    for path in files:
        if not path.is_file():
            continue
        stat = path.stat()
        content = hashlib.sha256(path.read_bytes()).hexdigest()
        name = path.relative_to(directory).as_posix()
        digest.update(f"{name}\0{stat.st_size}\0{stat.st_mtime_ns}\0{content}\n".encode())
    return digest.hexdigest()


def enabled_rules(engine: Engine) -> int:
    return sum(1 for rule in engine.rules if rule.spec.enabled)


class RulesWatcher:
    """Watches one rules directory on behalf of one worker (see the module's docstring).

    `seen` is the fingerprint of the rules in force at start, taken *before* they were
    loaded, so a change made while they were loading is picked up at the first poll
    (default: the directory as it is now).
    """

    def __init__(
        self,
        rules_dir: Path,
        timezone: str,
        center_name: CenterName,
        metrics: WorkerMetrics,
        seen: str | None = None,
    ) -> None:
        self.rules_dir = Path(rules_dir)
        self.timezone = timezone
        self.center_name = center_name
        self.metrics = metrics
        self.in_force = fingerprint(self.rules_dir) if seen is None else seen
        self.last_seen = self.in_force  # the last fingerprint judged, good or refused
        self.last_error: str | None = None

    async def poll(self, install: Install) -> str | None:
        """Look at the directory once: "applied", "refused", or None (nothing new to try)."""
        try:
            current = fingerprint(self.rules_dir)
        except OSError as exc:  # a file replaced while we looked: look again next time
            log.debug("rules directory not readable just now (%s); will look again", exc)
            return None
        if current == self.last_seen:
            return None
        self.last_seen = current
        if current == self.in_force:  # back to the rules in force (a broken edit undone)
            log.info("rules directory is back to the rules in force; nothing to reload")
            self.last_error = None
            return None
        started = time.monotonic()
        try:
            engine = load_engine(self.rules_dir, self.timezone, self.center_name)
        except Exception as exc:  # RuleError, ValueError, OSError; any other is refused too
            self._refused(exc)
            return "refused"
        await install(engine)
        self.in_force = current
        self.last_error = None
        count = enabled_rules(engine)
        self.metrics.rule_reloads.labels("applied").inc()
        self.metrics.rules_loaded.set(count)
        self.metrics.rules_reloaded_at.set(time.time())
        log.info(
            "rules reloaded from %s: %d rules enabled, in force after %.0f ms",
            self.rules_dir,
            count,
            (time.monotonic() - started) * 1000,
            extra={
                "event": "rules_reload",
                "result": "applied",
                "rules_dir": str(self.rules_dir),
                "rules_enabled": count,
            },
        )
        return "applied"

    def _refused(self, exc: Exception) -> None:
        error = str(exc) if isinstance(exc, ValueError | OSError) else repr(exc)
        self.last_error = error
        self.metrics.rule_reloads.labels("refused").inc()
        log.warning(
            "rules reload refused, the last good rules stay in force: %s",
            error,
            extra={
                "event": "rules_reload",
                "result": "refused",
                "rules_dir": str(self.rules_dir),
                "error": error,
            },
        )


def install(
    app: Any,
    watcher: RulesWatcher,
    use_engine: Callable[[Engine], Awaitable[None]],
    every: float,
) -> None:
    """Look for changed rules every `every` seconds and put them in force with
    `use_engine` (between two messages: `Worker.use_engine`)."""

    @app.timer(interval=every)
    async def reload_rules() -> None:
        """Put a changed rules directory in force (see supervisor/worker/reload.py)."""
        if app.rebalancing:
            return  # the table is being handed over: look again at the next poll
        try:
            await watcher.poll(use_engine)
        except Exception:  # a bug here must not stop the timer, nor the worker
            log.exception("rules reload failed; the rules in force stay")
