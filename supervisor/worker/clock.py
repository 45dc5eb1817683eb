"""The worker's deadline clock: the wall clock, checked against the monotonic clock.

Why: deadlines fire by the worker's clock, and the wall clock can jump: NTP stepping a
clock that drifted, an operator's `date -s` with a typo, a virtual machine restored from
a snapshot or resumed after a suspension. A jump forward fires, at once, every deadline
up to the new time: alerts with deterministic ids that no later event takes back, on the
wall and in the directors' mail, although a wrong time is usually put right within
minutes. A jump back would run the clock backwards: the engine keeps the deadlines it
already fired, but the settle and tick logic and every `raised_at`-to-now latency assume
a clock that only moves on.

How: each reading takes the wall clock and the monotonic clock together. While the wall
clock runs normally their difference (the offset) stays put; NTP slewing moves it by
milliseconds a minute, which is followed (each reading within `tolerance` of the trusted
offset becomes the trusted offset). A change of more than `tolerance` is a jump: it is
logged and counted (`supervisor_worker_clock_jumps_total{direction}`), and not trusted
yet: the clock runs on from the trusted offset at the monotonic clock's pace, as if the
jump had not happened.

- A jump undone within the confirmation period (the time source put itself right)
  changes nothing; it is logged as undone.
- A jump that holds for `confirm` seconds (the new offset stays within `tolerance` of
  itself) is taken as the truth. Forward, the clock moves to the new time, and the
  deadlines up to it fire then: late by the confirmation period, which is nothing next
  to limits counted in working days, and never wrongly on a mistaken time that was
  corrected in time.
- Backward, the clock never goes back: it stands still until the wall clock has caught
  up with the last time it gave, then follows it again.

So a forward jump waits, a backward one is absorbed, and the clock's readings never
decrease (also within the tolerance: readings are clamped to the last one).

The worker judges "events from the future" (pipeline `FutureCheck`) against `latest()`,
the later of this clock and the wall clock's own reading: while a forward jump waits for
its confirmation, events that centers stamp with the new (maybe right) time are not
refused for it; only the deadlines wait.

Pure apart from `time.monotonic` as the default and the optional Prometheus counter:
tests pass fake clocks (tests/test_worker_clock.py).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from prometheus_client import CollectorRegistry, Counter

log = logging.getLogger("supervisor.worker.clock")

#: A change of the wall-minus-monotonic offset larger than this is a jump (seconds).
#: NTP slews at most 0.5 ms a second; two readings a second apart never come near.
JUMP_TOLERANCE = 2.0
#: How long a jump must hold before the deadline clock follows it (seconds).
CONFIRM_SECONDS = 60.0


def jump_counter(registry: CollectorRegistry) -> Counter:
    """`supervisor_worker_clock_jumps_total{direction}`, both directions exported from 0."""
    counter = Counter(
        "supervisor_worker_clock_jumps",
        "Jumps of the wall clock against the monotonic clock larger than the tolerance, by "
        "direction (forward, backward); the deadline clock follows a jump only once it has "
        "held for the confirmation period, and never goes back.",
        ["direction"],
        registry=registry,
    )
    for direction in ("forward", "backward"):
        counter.labels(direction)
    return counter


@dataclass(frozen=True)
class _Pending:
    offset: float  # wall - monotonic after the jump, seconds
    since: float  # monotonic time the jump was first seen


class GuardedClock:
    """A `Clock` (call it for the time) that follows `wall` except across a jump.

    `wall` gives aware datetimes (the worker's zone); readings come back in the zone of
    the latest wall reading."""

    def __init__(
        self,
        wall: Callable[[], datetime],
        monotonic: Callable[[], float] = time.monotonic,
        *,
        tolerance: float = JUMP_TOLERANCE,
        confirm: float = CONFIRM_SECONDS,
        jumps: Counter | None = None,
    ) -> None:
        self._wall = wall
        self._monotonic = monotonic
        self._tolerance = tolerance
        self._confirm = confirm
        self._jumps = jumps
        self._trusted: float | None = None  # trusted offset, seconds
        self._pending: _Pending | None = None
        self._last: datetime | None = None  # the last reading given
        self._last_wall: datetime | None = None
        self._highest: float | None = None  # the largest offset ever trusted
        self._last_mono = 0.0

    def __call__(self) -> datetime:
        wall, mono = self._wall(), self._monotonic()
        self._last_wall = wall
        offset = wall.timestamp() - mono
        if self._trusted is None:
            self._trusted = offset
        change = offset - self._trusted
        if abs(change) <= self._tolerance:
            if self._pending is not None:
                log.warning(
                    "the wall clock's jump of %+.1f s was undone before it was trusted; "
                    "the deadline clock did not follow it",
                    self._pending.offset - self._trusted,
                )
                self._pending = None
            self._trusted = offset  # slow drift (NTP slewing): followed
        elif self._pending is None or abs(offset - self._pending.offset) > self._tolerance:
            self._seen(change, offset, mono, wall)
        elif mono - self._pending.since >= self._confirm:
            log.warning(
                "the wall clock's jump of %+.1f s held for %.0f s: the deadline clock follows it%s",
                change,
                self._confirm,
                "" if change > 0 else " (standing still until the wall clock catches up)",
            )
            self._trusted, self._pending = offset, None
        if self._highest is None or self._trusted > self._highest:
            self._highest = self._trusted
        self._last_mono = mono
        reading = datetime.fromtimestamp(mono + self._trusted, tz=wall.tzinfo)
        if self._last is not None and reading < self._last:
            reading = self._last  # never backwards
        self._last = reading
        return reading

    def _seen(self, change: float, offset: float, mono: float, wall: datetime) -> None:
        """A new jump (or a second one before the first was trusted)."""
        direction = "forward" if change > 0 else "backward"
        if self._jumps is not None:
            self._jumps.labels(direction).inc()
        trusted = self._trusted if self._trusted is not None else offset
        log.warning(
            "the wall clock jumped %s by %.1f s (now %s, the deadline clock %s): not trusted "
            "until it has held for %.0f s",
            direction,
            abs(change),
            wall.isoformat(timespec="seconds"),
            datetime.fromtimestamp(mono + trusted, tz=wall.tzinfo).isoformat(timespec="seconds"),
            self._confirm,
        )
        self._pending = _Pending(offset, mono)

    def latest(self) -> datetime:
        """The latest time that may be true: a fresh reading, the wall clock's own when
        later (a forward jump waiting for its confirmation), or the time before a
        backward jump carried on by the monotonic clock (the jump may have been the
        mistake: events stamped by correct clocks must not look as if from the future
        while the deadline clock stands still)."""
        reading = self()
        candidates = [reading]
        if self._last_wall is not None:
            candidates.append(self._last_wall)
        if self._highest is not None:
            carried = self._last_mono + self._highest
            candidates.append(datetime.fromtimestamp(carried, tz=reading.tzinfo))
        return max(candidates)

    @property
    def waiting(self) -> timedelta | None:
        """The size of a jump seen and not yet trusted (None: none)."""
        if self._pending is None or self._trusted is None:
            return None
        return timedelta(seconds=self._pending.offset - self._trusted)
