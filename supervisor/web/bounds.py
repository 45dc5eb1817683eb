"""The years a date or time given to the API may fall in (a period, a filter, a
silence), checked before anything computes with it.

The service started in the 2020s: a date outside is a typo or a probe, and one near year
9999 overflows the date arithmetic behind the answer.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Final

from fastapi import HTTPException

EARLIEST_YEAR: Final = 2000
LATEST_YEAR: Final = 2100


def check_day(day: date, name: str) -> None:
    """422 unless `day` lies in years EARLIEST_YEAR..LATEST_YEAR."""
    if not EARLIEST_YEAR <= day.year <= LATEST_YEAR:
        raise HTTPException(422, f"{name} must lie in the years {EARLIEST_YEAR}–{LATEST_YEAR}")


def check_moment(moment: datetime, name: str) -> None:
    """422 unless the aware `moment` lies in years EARLIEST_YEAR..LATEST_YEAR (by its own
    offset: the bounds are far from where an offset could overflow anything)."""
    check_day(moment.date(), name)
