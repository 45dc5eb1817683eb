"""The retry policy (issue 5 item 5): backoff bounds, full jitter, attempts and time budget,
Retry-After, and the attempt records shared by the channels."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from supervisor.notify.retry import Attempt, Delivery, Outcome, RetryPolicy

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=timezone(timedelta(hours=8)))


class Fixed:
    """A random source that always says `value`."""

    def __init__(self, value: float) -> None:
        self.value = value

    def random(self) -> float:
        return self.value


def test_ceiling_doubles_from_base_up_to_cap() -> None:
    policy = RetryPolicy(base=5, factor=2, cap=60, max_attempts=10)
    assert [policy.ceiling(n) for n in range(1, 7)] == [5, 10, 20, 40, 60, 60]
    assert policy.ceiling(10_000) == 60  # no overflow for absurd attempt numbers
    assert RetryPolicy(base=3, factor=1, cap=10).ceiling(50) == 3


def test_defaults_give_hours_of_retries_within_the_budget() -> None:
    policy = RetryPolicy()
    longest = sum(policy.ceiling(n) for n in range(1, policy.max_attempts))
    assert timedelta(hours=2) < timedelta(seconds=longest) < policy.budget


@given(
    attempt=st.integers(min_value=1, max_value=200),
    draw=st.floats(min_value=0, max_value=1, exclude_max=True),
)
def test_full_jitter_stays_between_zero_and_the_ceiling(attempt: int, draw: float) -> None:
    policy = RetryPolicy(base=2, factor=3, cap=900, max_attempts=1000, budget=timedelta(days=30))
    delay = policy.delay(attempt, Fixed(draw))
    assert 0 <= delay < policy.ceiling(attempt)
    due = policy.next_attempt(attempt, T0, Fixed(draw))
    assert due is not None
    # (a datetime keeps microseconds: the wait may round up to the ceiling itself)
    assert T0 <= due <= T0 + timedelta(seconds=policy.ceiling(attempt))


def test_jitter_spreads_over_the_whole_range() -> None:
    """Full jitter: draws cover [0, ceiling), not a band near the ceiling."""
    policy = RetryPolicy(base=10, factor=2, cap=10)
    rng = random.Random(5)
    delays = [policy.delay(3, rng) for _ in range(2000)]
    assert all(0 <= d < 10 for d in delays)
    assert min(delays) < 0.5 and max(delays) > 9.5
    assert 4.5 < sum(delays) / len(delays) < 5.5
    # the extremes of the injected source map to the extremes of the range
    assert policy.delay(1, Fixed(0.0)) == 0.0
    assert policy.delay(1, Fixed(0.5)) == 5.0


def test_the_injected_source_makes_it_repeatable() -> None:
    policy = RetryPolicy()
    first = [policy.next_attempt(n, T0, random.Random(42)) for n in range(1, 8)]
    again = [policy.next_attempt(n, T0, random.Random(42)) for n in range(1, 8)]
    assert first == again


def test_max_attempts_ends_the_retries() -> None:
    policy = RetryPolicy(base=1, cap=1, max_attempts=3, budget=timedelta(days=1))
    assert policy.next_attempt(1, T0, Fixed(0.5)) == T0 + timedelta(seconds=0.5)
    assert policy.next_attempt(2, T0, Fixed(0.5)) is not None
    assert policy.next_attempt(3, T0, Fixed(0.5)) is None  # three made: dead letter
    assert RetryPolicy(max_attempts=1).next_attempt(1, T0, Fixed(0.0)) is None


def test_time_budget_counts_from_the_first_attempt() -> None:
    policy = RetryPolicy(base=60, cap=60, max_attempts=100, budget=timedelta(minutes=10))
    now = T0 + timedelta(minutes=9, seconds=30)
    # 30 s left: a 20 s wait fits, a 40 s wait does not
    assert policy.next_attempt(5, now, Fixed(1 / 3), first_at=T0) == now + timedelta(seconds=20)
    assert policy.next_attempt(5, now, Fixed(2 / 3), first_at=T0) is None
    assert policy.next_attempt(5, T0 + timedelta(minutes=11), Fixed(0.0), first_at=T0) is None
    # a zero budget allows the first attempt only
    zero = RetryPolicy(budget=timedelta(0))
    assert zero.next_attempt(1, T0, Fixed(0.5), first_at=T0) is None


def test_retry_after_is_a_lower_bound_on_the_wait() -> None:
    policy = RetryPolicy(base=1, cap=1, max_attempts=10, budget=timedelta(hours=1))
    assert policy.next_attempt(1, T0, Fixed(0.5), retry_after=120) == T0 + timedelta(minutes=2)
    # a shorter Retry-After than the drawn wait changes nothing
    assert policy.next_attempt(1, T0, Fixed(0.5), retry_after=0.1) == T0 + timedelta(seconds=0.5)
    # a Retry-After beyond the budget: no next attempt (a dead letter, ops can replay it)
    assert policy.next_attempt(1, T0, Fixed(0.5), first_at=T0, retry_after=7200) is None


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError):
        RetryPolicy(base=0)
    with pytest.raises(ValueError):
        RetryPolicy(base=10, cap=5)
    with pytest.raises(ValueError):
        RetryPolicy(factor=0.5)
    with pytest.raises(ValueError):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError):
        RetryPolicy(budget=timedelta(seconds=-1))
    with pytest.raises(ValueError):
        RetryPolicy().next_attempt(0, T0, Fixed(0.5))


def _delivery(outcome: Outcome, **kwargs: object) -> Delivery:
    return Delivery(channel="webhook", outcome=outcome, at=T0, **kwargs)  # type: ignore[arg-type]


def test_record_of_a_delivered_attempt_has_no_next() -> None:
    attempt = RetryPolicy().record(1, _delivery(Outcome.DELIVERED, status=204), Fixed(0.5))
    assert attempt == Attempt(1, T0, Outcome.DELIVERED, None, None, 204, "webhook")
    assert attempt.final and not attempt.dead


def test_record_of_a_permanent_failure_is_a_dead_letter_at_once() -> None:
    delivery = _delivery(Outcome.FAILED, status=400, error="HTTP 400 Bad Request")
    attempt = RetryPolicy().record(1, delivery, Fixed(0.5))
    assert attempt.next_at is None and attempt.dead
    assert attempt.error == "HTTP 400 Bad Request"


def test_record_of_a_retryable_failure_schedules_the_next() -> None:
    policy = RetryPolicy(base=10, cap=10, max_attempts=2)
    delivery = _delivery(Outcome.RETRY, status=503, elapsed=2.0)
    first = policy.record(1, delivery, Fixed(0.5), first_at=T0)
    # the wait counts from the end of the attempt (2 s) and is 5 s
    assert first.next_at == T0 + timedelta(seconds=7)
    assert not first.final and not first.dead
    second = policy.record(2, delivery, Fixed(0.5), first_at=T0)
    assert second.next_at is None and second.dead  # budget of two attempts spent
    honoured = policy.record(1, _delivery(Outcome.RETRY, status=429, retry_after=60), Fixed(0.5))
    assert honoured.next_at == T0 + timedelta(seconds=60)


def test_attempt_round_trips_through_json() -> None:
    for attempt in (
        Attempt(
            3,
            T0,
            Outcome.RETRY,
            "HTTP 503 Service Unavailable",
            T0 + timedelta(seconds=9),
            503,
            "webhook",
        ),
        Attempt(1, T0.astimezone(UTC), Outcome.DELIVERED, channel="email"),
        Attempt(16, T0, Outcome.RETRY, "ConnectError", None, None, "webhook"),
    ):
        data = attempt.as_dict()
        assert data["outcome"] == attempt.outcome.value
        assert Attempt.from_dict(data) == attempt
        assert Attempt.from_dict(data).at.utcoffset() == attempt.at.utcoffset()
