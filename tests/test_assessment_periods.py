"""The periods an assessment covers, as people write them: months, quarters and years,
their days, the period before and a trend's trailing periods."""

from __future__ import annotations

from datetime import date
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from supervisor.assessment.periods import EARLIEST_YEAR, LATEST_YEAR, period


@pytest.mark.parametrize(
    ("text", "name", "first", "last", "label", "before"),
    [
        ("2026-11", "2026-11", date(2026, 11, 1), date(2026, 11, 30), "2026年11月", "2026-10"),
        ("2026-01", "2026-01", date(2026, 1, 1), date(2026, 1, 31), "2026年1月", "2025-12"),
        ("2028-02", "2028-02", date(2028, 2, 1), date(2028, 2, 29), "2028年2月", "2028-01"),
        ("2026-q4", "2026-Q4", date(2026, 10, 1), date(2026, 12, 31), "2026年第四季度", "2026-Q3"),
        ("2026-Q1", "2026-Q1", date(2026, 1, 1), date(2026, 3, 31), "2026年第一季度", "2025-Q4"),
        (" 2026 ", "2026", date(2026, 1, 1), date(2026, 12, 31), "2026年", "2025"),
    ],
)
def test_a_period_its_days_label_and_the_one_before(
    text: str, name: str, first: date, last: date, label: str, before: str
) -> None:
    found = period(text)
    assert (found.name, found.first, found.last, found.label) == (name, first, last, label)
    assert found.before().name == before


@pytest.mark.parametrize(
    "text",
    [
        "2026-13", "2026-00", "2026-Q5", "1999", "2101-01", "11/2026",
        "٢٠٢٦-١١", "２０２６-Q4", "২০২৬", "2026-1１",  # digits of other scripts
    ],
)  # fmt: skip
def test_what_is_not_a_period_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"a month|the year lies|a period is"):
        period(text)


def test_trailing_periods_end_with_this_one_and_stop_at_the_earliest_year() -> None:
    assert [p.name for p in period("2026-02").trailing(3)] == ["2025-12", "2026-01", "2026-02"]
    assert [p.name for p in period("2026-Q1").trailing(2)] == ["2025-Q4", "2026-Q1"]
    assert [p.name for p in period(f"{EARLIEST_YEAR}-02").trailing(6)] == [
        f"{EARLIEST_YEAR}-01",
        f"{EARLIEST_YEAR}-02",
    ]


@given(
    st.integers(EARLIEST_YEAR + 1, LATEST_YEAR),
    st.integers(1, 12),
    st.integers(1, 30),
)
def test_trailing_months_are_consecutive_and_leave_no_day_out(
    year: int, month: int, count: int
) -> None:
    months = period(f"{year}-{month:02d}").trailing(count)
    assert len(months) == count or months[0].first.year == EARLIEST_YEAR
    for earlier, later in pairwise(months):
        assert (later.first - earlier.last).days == 1
