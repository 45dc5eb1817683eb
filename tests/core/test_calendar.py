"""The working-day clock of contract §2."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from supervisor.core.calendar import DAY, WorkCalendar, last_confirmed_year

CN = ZoneInfo("Asia/Shanghai")
CAL = WorkCalendar("Asia/Shanghai")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def test_contract_example_national_day_2026_with_make_up_saturday() -> None:
    # Accepted Wed 2026-09-30 10:00, 3 working days: 8, 9 and Sat 10 October count.
    assert CAL.working_deadline(at("2026-09-30T10:00:00+08:00"), 3) == at(
        "2026-10-11T00:00:00+08:00"
    )


@pytest.mark.parametrize(
    "day,working",
    [
        ("2026-10-01", False),  # National Day
        ("2026-10-07", False),  # day off moved from 10-10
        ("2026-10-10", True),  # Saturday, make-up working day
        ("2026-09-20", True),  # Sunday, make-up working day
        ("2026-10-08", True),
        ("2026-11-28", False),  # an ordinary Saturday
        ("2026-11-27", True),  # an ordinary Friday
        ("2026-02-14", True),  # Saturday before Spring Festival, make-up
        ("2026-02-17", False),  # Spring Festival
    ],
)
def test_official_2026_schedule(day: str, working: bool) -> None:
    assert CAL.is_working_day(date.fromisoformat(day)) is working


def test_the_day_of_acceptance_is_not_counted() -> None:
    # Accepted Monday 23:59: one working day is the whole of Tuesday.
    assert CAL.working_deadline(at("2026-11-23T23:59:00+08:00"), 1) == at(
        "2026-11-25T00:00:00+08:00"
    )


def test_a_limit_that_ends_on_friday_ends_at_24_00_friday_not_monday() -> None:
    # Accepted Mon 2026-11-23; 4 working days: 24..27 → 24:00 Friday 27th.
    assert CAL.working_deadline(at("2026-11-23T10:00:00+08:00"), 4) == at(
        "2026-11-28T00:00:00+08:00"
    )


def test_half_a_working_day_is_twelve_hours_of_one() -> None:
    assert CAL.working_deadline(at("2026-11-27T10:00:00+08:00"), 0.5) == at(
        "2026-11-30T12:00:00+08:00"
    )
    assert CAL.working_deadline(at("2026-09-30T10:00:00+08:00"), 1.25) == at(
        "2026-10-09T06:00:00+08:00"
    )


def test_natural_day_limit_ending_on_a_sunday_moves_to_24_00_monday() -> None:
    # Accepted Thu 2026-11-26; 3 calendar days end 24:00 Sun 29th → 24:00 Mon 30th.
    assert CAL.natural_deadline(at("2026-11-26T10:00:00+08:00"), 3) == at(
        "2026-12-01T00:00:00+08:00"
    )


def test_natural_day_limit_ending_on_a_working_day_is_unchanged() -> None:
    assert CAL.natural_deadline(at("2026-11-23T10:00:00+08:00"), 3) == at(
        "2026-11-27T00:00:00+08:00"
    )


def test_a_deadline_crossing_into_an_unconfirmed_year_falls_back_and_says_so() -> None:
    cal = WorkCalendar()
    # Mon 2026-12-28 + 5 working days: 29, 30, 31 Dec; 1 Jan is a statutory holiday;
    # Sat/Sun off (no make-up days known for 2027): Mon 4, Tue 5 Jan → 24:00 Tue.
    assert cal.working_deadline(at("2026-12-28T10:00:00+08:00"), 5) == at(
        "2027-01-06T00:00:00+08:00"
    )
    assert last_confirmed_year() == 2026
    assert cal.unconfirmed_years_seen == {2027}


def test_regional_days_off_and_make_up_days_from_configuration() -> None:
    # Guangxi's 壮族三月三 2026 (taken here as 20-21 April, Mon-Tue) off; Sunday 26 on.
    cal = WorkCalendar(
        extra_days_off=[date(2026, 4, 20), date(2026, 4, 21)],
        extra_working_days=[date(2026, 4, 26)],
    )
    assert not cal.is_working_day(date(2026, 4, 20))
    assert cal.is_working_day(date(2026, 4, 26))
    # Accepted Fri 17 April; 3 working days: Wed 22, Thu 23, Fri 24 → 24:00 Fri.
    assert cal.working_deadline(at("2026-04-17T09:00:00+08:00"), 3) == at(
        "2026-04-25T00:00:00+08:00"
    )


def test_an_offset_other_than_beijing_is_the_same_instant() -> None:
    assert CAL.working_deadline(at("2026-09-30T02:00:00+00:00"), 3) == at(
        "2026-10-11T00:00:00+08:00"
    )


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        CAL.add(datetime(2026, 11, 27, 10), DAY)  # noqa: DTZ001


instants = st.datetimes(
    min_value=datetime(2025, 12, 1),  # noqa: DTZ001
    max_value=datetime(2027, 2, 1),  # noqa: DTZ001
    timezones=st.just(CN),
)
durations = st.floats(min_value=0, max_value=40 * DAY, allow_nan=False)


#: Amounts a person could mean: none, or at least a millisecond. Below float resolution
#: `a + b == a` while `add(add(t, a), b)` still steps from the 24:00 ending a working day
#: to the next working day's 00:00 (same working time, another instant): found by
#: hypothesis at 2026-03-01 00:00, the end of the make-up Saturday.
sensible = st.one_of(st.just(0.0), st.floats(min_value=1e-3, max_value=40 * DAY))


@settings(max_examples=200, deadline=None)
@given(start=instants, a=sensible, b=sensible)
def test_working_time_is_additive(start: datetime, a: float, b: float) -> None:
    assert (
        CAL.add(CAL.add(start, a), b) == CAL.add(start, a + b)
        or abs((CAL.add(CAL.add(start, a), b) - CAL.add(start, a + b)).total_seconds()) < 1e-3
    )


@settings(max_examples=200, deadline=None)
@given(start=instants, a=durations, b=durations)
def test_working_time_is_monotonic(start: datetime, a: float, b: float) -> None:
    lo, hi = sorted((a, b))
    assert CAL.add(start, lo) <= CAL.add(start, hi)


@settings(max_examples=200, deadline=None)
@given(start=instants, seconds=durations)
def test_between_inverts_add(start: datetime, seconds: float) -> None:
    assert CAL.between(start, CAL.add(start, seconds)) == pytest.approx(seconds, abs=1e-3)


@settings(max_examples=100, deadline=None)
@given(start=instants, days=st.integers(min_value=1, max_value=30))
def test_integer_working_limits_end_at_midnight_after_a_working_day(
    start: datetime, days: int
) -> None:
    end = CAL.working_deadline(start, days)
    assert end.timetz().replace(tzinfo=None) == datetime.min.time()
    assert CAL.is_working_day((end - timedelta(seconds=1)).date())


def naive_add(cal: WorkCalendar, start: datetime, seconds: float) -> datetime:
    """The definition, walked a day at a time: the reference for the indexed calendar."""
    cursor, remaining = cal.local(start), seconds
    if remaining == 0:
        return cursor
    day = cursor.date()
    while True:
        day_end = cal.midnight(day + timedelta(days=1))
        if cal.is_working_day(day):
            available = (day_end - cursor).total_seconds()
            if remaining <= available:
                return cursor + timedelta(seconds=remaining)
            remaining -= available
        cursor, day = day_end, day + timedelta(days=1)


@settings(max_examples=300, deadline=None)
@given(start=instants, seconds=durations)
def test_indexed_add_matches_the_day_by_day_definition(start: datetime, seconds: float) -> None:
    got, expected = CAL.add(start, seconds), naive_add(CAL, start, seconds)
    assert abs((got - expected).total_seconds()) < 1e-3


def test_regional_calendars_by_longest_prefix(tmp_path: Path) -> None:
    from supervisor.core.calendar import CalendarBook

    (tmp_path / "r.yaml").write_text(
        "regions:\n"
        "  - {prefix: '45', days_off: [2026-04-20]}\n"
        "  - {prefix: '4512', days_off: [2026-04-21]}\n"
    )
    book = CalendarBook.load(tmp_path)
    assert not book.for_center("451224103").is_working_day(date(2026, 4, 21))
    assert book.for_center("451224103").is_working_day(date(2026, 4, 20))  # 4512 wins
    assert not book.for_center("450100").is_working_day(date(2026, 4, 20))
    assert book.for_center("110101").is_working_day(date(2026, 4, 20))


def test_a_bad_calendar_file_is_refused_with_its_name(tmp_path: Path) -> None:
    from supervisor.core.calendar import CalendarBook

    (tmp_path / "bad.yaml").write_text("regions:\n  - {prefix: '45', holidays: [2026-04-20]}\n")
    with pytest.raises(ValueError, match=r"bad\.yaml.*holidays"):
        CalendarBook.load(tmp_path)


def test_the_shipped_guangxi_calendar_has_sanyuesan_of_2026_and_2027() -> None:
    # 壮族三月三: the 3rd and 4th days of the 3rd lunar month, for the centers under 45 only
    from supervisor.core.calendar import CalendarBook

    book = CalendarBook.load(Path(__file__).resolve().parents[2] / "rules" / "calendar")
    hechi, beijing = book.for_center("451221"), book.for_center("110101")
    for day in (date(2026, 4, 20), date(2027, 4, 9)):  # a Monday, a Friday
        assert not hechi.is_working_day(day)
        assert beijing.is_working_day(day)
