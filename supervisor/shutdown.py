"""The deadline every process of the service keeps after being asked to stop.

An orchestrator kills a process its grace period after SIGTERM (30 s in docker compose
and Kubernetes); the deployment promises an exit within 10 s whatever the broker's state.
Each process starts its own clean stop and arms a `ShutdownDeadline`: if the stop still
waits (on a broker that is away) when it expires, the process says so and exits at once.
Nothing is lost by that: what the broker acknowledged is kept, and the rest is read or
derived again at the next start, which is what a crash already relies on.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Callable

#: Seconds from SIGTERM (or SIGINT) to the exit at the latest: under the 10 s the
#: deployment allows, itself well under an orchestrator's grace period (30 s).
SHUTDOWN_DEADLINE_SECONDS = 8.0
#: The exit status of a stop cut short at the deadline: a stop as asked, nothing lost.
FORCED_EXIT_STATUS = 0


class ShutdownDeadline:
    """Exits the process `seconds` after `arm()`, unless it has exited by itself.

    A daemon thread, so it fires even while the event loop waits on the broker (or is
    blocked), and never keeps a process that stopped in time alive. Before exiting it
    logs `message` (formatted with the seconds) on `log` and flushes the log, from yet
    another thread given a second at most: a handler blocked on a full pipe must not
    hold the exit back."""

    def __init__(
        self,
        seconds: float = SHUTDOWN_DEADLINE_SECONDS,
        exit: Callable[[int], object] = os._exit,
        *,
        log: logging.Logger | None = None,
        message: str = "still stopping %.0f s after the signal: exiting now",
    ) -> None:
        self.seconds = seconds
        self._exit = exit
        self._log = log or logging.getLogger(__name__)
        self._message = message
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()

    @property
    def armed(self) -> bool:
        return self._timer is not None

    def arm(self) -> None:
        """Start the countdown (once: a second signal does not restart it)."""
        with self._lock:
            if self._timer is not None:
                return
            self._timer = threading.Timer(self.seconds, self._expire)
            self._timer.daemon = True
            self._timer.start()

    def cancel(self) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()

    def _expire(self) -> None:
        def say() -> None:
            self._log.warning(self._message, self.seconds)
            for handler in logging.getLogger().handlers:
                handler.flush()
            for stream in (sys.stdout, sys.stderr):
                stream.flush()

        talker = threading.Thread(target=say, name="shutdown-deadline-log", daemon=True)
        talker.start()
        talker.join(1.0)
        self._exit(FORCED_EXIT_STATUS)
