"""The worker's deadline clock across wall-clock jumps (supervisor/worker/clock.py), with
fake wall and monotonic clocks; and the refusal of events from the future
(supervisor/core/pipeline.py `FutureCheck`)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from prometheus_client import CollectorRegistry

from supervisor.core.pipeline import FutureCheck, process
from supervisor.worker.clock import GuardedClock, jump_counter
from tests.core.factories import engine as make_engine
from tests.core.factories import event_doc

CN = ZoneInfo("Asia/Shanghai")
START = datetime(2026, 11, 27, 9, 0, tzinfo=CN)


class Fake:
    """A wall clock and a monotonic clock that the test moves."""

    def __init__(self) -> None:
        self.mono = 1000.0
        self.offset = START.timestamp() - self.mono  # wall = mono + offset

    def wall(self) -> datetime:
        return datetime.fromtimestamp(self.mono + self.offset, tz=CN)

    def monotonic(self) -> float:
        return self.mono

    def run(self, seconds: float) -> None:
        self.mono += seconds

    def jump(self, seconds: float) -> None:
        self.offset += seconds


@pytest.fixture
def fake() -> Fake:
    return Fake()


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


def clock_of(fake: Fake, registry: CollectorRegistry, confirm: float = 60) -> GuardedClock:
    return GuardedClock(
        fake.wall, fake.monotonic, tolerance=2, confirm=confirm, jumps=jump_counter(registry)
    )


def jumps(registry: CollectorRegistry, direction: str) -> float:
    value = registry.get_sample_value(
        "supervisor_worker_clock_jumps_total", {"direction": direction}
    )
    return value or 0.0


def seconds(a: datetime, b: datetime) -> float:
    return round((a - b).total_seconds(), 3)


def test_it_follows_a_steady_wall_clock_and_slow_drift(
    fake: Fake, registry: CollectorRegistry
) -> None:
    clock = clock_of(fake, registry)
    assert clock() == START
    for _ in range(120):  # two minutes of NTP slewing, 0.5 ms a second
        fake.run(1)
        fake.jump(0.0005)
        assert abs(seconds(clock(), fake.wall())) < 0.001
    fake.jump(1.5)  # a step within the tolerance
    fake.run(1)
    assert seconds(clock(), fake.wall()) == 0
    assert jumps(registry, "forward") == jumps(registry, "backward") == 0
    assert clock.waiting is None


def test_a_forward_jump_waits_for_its_confirmation(fake: Fake, registry: CollectorRegistry) -> None:
    clock = clock_of(fake, registry)
    clock()
    fake.jump(3 * 3600)  # NTP steps three hours forward
    fake.run(1)
    assert clock() == START + timedelta(seconds=1)  # as if nothing happened
    assert jumps(registry, "forward") == 1
    assert clock.waiting == timedelta(hours=3)
    assert clock.latest() == fake.wall()  # events stamped with the new time still pass
    fake.run(59)
    assert clock() == START + timedelta(seconds=60)  # still the monotonic pace
    fake.run(1)
    assert clock() == fake.wall() == START + timedelta(hours=3, seconds=61)  # held: followed
    assert clock.waiting is None
    fake.run(10)
    assert clock() == fake.wall()
    assert jumps(registry, "forward") == 1  # counted once


def test_a_forward_jump_undone_in_time_fires_nothing_early(
    fake: Fake, registry: CollectorRegistry
) -> None:
    clock = clock_of(fake, registry)
    clock()
    fake.jump(86400 * 365)  # a year typed wrong
    for _ in range(30):
        fake.run(1)
        assert clock() < START + timedelta(minutes=1)
    fake.jump(-86400 * 365)  # put right
    fake.run(1)
    assert clock() == fake.wall() == START + timedelta(seconds=31)
    fake.run(120)
    assert clock() == fake.wall()  # the undone jump is not followed later either
    assert jumps(registry, "forward") == 1 and jumps(registry, "backward") == 0


def test_a_backward_jump_never_takes_the_clock_back(
    fake: Fake, registry: CollectorRegistry
) -> None:
    clock = clock_of(fake, registry, confirm=60)
    clock()
    fake.run(100)
    before = clock()
    fake.jump(-600)  # ten minutes back
    readings = []
    for _ in range(900):
        fake.run(1)
        readings.append(clock())
    assert readings == sorted(readings)  # never backwards
    assert jumps(registry, "backward") == 1
    # unconfirmed, it ran on at the monotonic pace; confirmed after 60 s, it stood
    # still until the wall clock caught up with it, and follows the wall clock since
    assert readings[59] == before + timedelta(seconds=60)
    standing = [r for r in readings if r == readings[59]]
    assert len(standing) == 1 + 600  # stood still until the wall clock caught up
    assert readings[-1] == fake.wall()
    assert readings[-1] - before == timedelta(seconds=900 - 600)


def test_a_mistaken_backward_jump_does_not_make_true_events_look_from_the_future(
    fake: Fake, registry: CollectorRegistry
) -> None:
    """Set ten minutes back by mistake: the deadline clock stands still once the jump is
    trusted, but the latest time that may be true (the future check's reference) goes on
    from before the jump, so events stamped by correct clocks are not refused."""
    clock = clock_of(fake, registry, confirm=60)
    clock()
    true_now = fake.wall()
    fake.jump(-600)
    for _ in range(300):  # five minutes on: the jump is trusted, the clock stands still
        fake.run(1)
        clock()
    true_now += timedelta(seconds=300)
    assert clock() == true_now - timedelta(minutes=4)  # ran 60 s unconfirmed, then stood
    assert clock.latest() == true_now


def test_a_second_jump_before_the_first_is_trusted_starts_over(
    fake: Fake, registry: CollectorRegistry
) -> None:
    clock = clock_of(fake, registry)
    clock()
    fake.jump(3600)
    fake.run(50)
    clock()
    fake.jump(3600)  # another hour 50 s later: this one must hold 60 s of its own
    assert clock() == START + timedelta(seconds=50)
    fake.run(30)
    assert clock() == START + timedelta(seconds=80)
    fake.run(30)
    assert clock() == fake.wall() == START + timedelta(hours=2, seconds=110)
    assert jumps(registry, "forward") == 2


def test_the_counter_is_exported_at_zero(registry: CollectorRegistry) -> None:
    jump_counter(registry)
    assert jumps(registry, "forward") == 0.0
    assert (
        registry.get_sample_value("supervisor_worker_clock_jumps_total", {"direction": "backward"})
        == 0.0
    )


# -- events from the future (pipeline) --------------------------------------------------


def accepted_line(at: str) -> str:
    doc = event_doc(
        "accepted",
        at,
        case_id="451221-2026-0000042",
        item_code="451221-XK-0042",
        promised_limit={"value": 1, "unit": "working_day"},
    )
    return json.dumps(doc)


def test_an_event_too_far_ahead_is_refused_with_how_far_and_of_which_clock() -> None:
    engine = make_engine()
    check = FutureCheck(START, timedelta(seconds=300))
    # A year ahead: the engine would fire overdue and statutory overdue at once.
    line = accepted_line("2027-11-29T09:00:00+08:00")
    result = process(engine, line, lambda case: None, check)
    assert result.rejected_future and result.state is None and result.alerts == []
    assert result.rejected == (
        "from the future: occurred_at is 367 d ahead of the "
        "worker's clock (2026-11-27T09:00:00+08:00); at most 5 min ahead is accepted"
    )
    unchecked = process(engine, line, lambda case: None)  # replay: no clock, trusted
    assert unchecked.rejected is None and unchecked.state is not None


def test_an_event_within_the_tolerance_is_applied() -> None:
    engine = make_engine()
    check = FutureCheck(START, timedelta(seconds=300))
    for at in ("2026-11-27T08:00:00+08:00", "2026-11-27T09:05:00+08:00"):
        result = process(engine, accepted_line(at), lambda case: None, check)
        assert result.rejected is None and not result.rejected_future, at
    late = process(engine, accepted_line("2026-11-27T09:05:01+08:00"), lambda case: None, check)
    assert late.rejected is not None and "is 5 min 1 s ahead" in late.rejected


def test_an_earlier_reading_is_checked_again_on_the_clock_before_refusing() -> None:
    engine = make_engine()
    readings = [START + timedelta(minutes=10)]
    check = FutureCheck(START, timedelta(seconds=300), latest=lambda: readings[0])
    # 9 min ahead of the kept reading, within 5 min of the clock now: applied.
    ahead = process(engine, accepted_line("2026-11-27T09:09:00+08:00"), lambda c: None, check)
    assert ahead.rejected is None
    # Beyond it even now: refused, with the fresh reading's time and distance.
    far = process(engine, accepted_line("2026-11-27T09:16:00+08:00"), lambda c: None, check)
    assert far.rejected_future and far.rejected is not None
    assert "is 6 min ahead of the worker's clock (2026-11-27T09:10:00+08:00)" in far.rejected


def test_a_malformed_message_is_not_taken_for_a_future_one() -> None:
    check = FutureCheck(START, timedelta(seconds=300))
    result = process(make_engine(), b"\xff not json", lambda case: None, check)
    assert result.rejected is not None and not result.rejected_future
