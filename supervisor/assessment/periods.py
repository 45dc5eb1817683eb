"""The periods an assessment covers, as people write them: a month `2026-11`, a quarter
`2026-Q4`, a year `2026`; each with its local days and the period before it (for the
change). Pure."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Final

# ASCII digits only: \d takes ٢٠٢٦ and ２０２６ too
_MONTH: Final = re.compile(r"^([0-9]{4})-([0-9]{2})\Z")
_QUARTER: Final = re.compile(r"^([0-9]{4})-[Qq]([1-4])\Z")
_YEAR: Final = re.compile(r"^([0-9]{4})\Z")
EARLIEST_YEAR: Final = 2000
LATEST_YEAR: Final = 2100


@dataclass(frozen=True)
class Period:
    """A month, a quarter or a year: its name as written and its first and last days."""

    name: str
    first: date
    last: date

    @property
    def label(self) -> str:
        """How a report titles it: 2026年11月, 2026年第四季度, 2026年."""
        if _MONTH.match(self.name):
            return f"{self.first.year}年{self.first.month}月"
        if _QUARTER.match(self.name):
            return f"{self.first.year}年第{'一二三四'[(self.first.month - 1) // 3]}季度"
        return f"{self.first.year}年"

    def before(self) -> Period:
        """The period of the same length just before (2026-10, 2026-Q3, 2025)."""
        day = self.first - timedelta(days=1)
        if _MONTH.match(self.name):
            return period(f"{day.year}-{day.month:02d}")
        if _QUARTER.match(self.name):
            return period(f"{day.year}-Q{(day.month - 1) // 3 + 1}")
        return period(str(day.year))

    def trailing(self, count: int) -> list[Period]:
        """The `count` periods of this length that end with this one, oldest first (fewer
        when the earliest year comes first): a trend's points."""
        found = [self]
        while len(found) < count:
            try:
                found.append(found[-1].before())
            except ValueError:  # before the earliest year
                break
        return found[::-1]


def period(text: str) -> Period:
    """The period `text` names; ValueError saying the forms it may take."""
    text = text.strip()
    if found := _MONTH.match(text):
        year, month = int(found[1]), int(found[2])
        if not 1 <= month <= 12:
            raise ValueError("a month is 01 to 12")
        first = date(_year(year), month, 1)
        following = date(year + (month == 12), month % 12 + 1, 1)
        return Period(text, first, following - timedelta(days=1))
    if found := _QUARTER.match(text):
        year, quarter = _year(int(found[1])), int(found[2])
        first = date(year, 3 * quarter - 2, 1)
        following = date(year + (quarter == 4), (3 * quarter) % 12 + 1, 1)
        return Period(f"{year}-Q{quarter}", first, following - timedelta(days=1))
    if found := _YEAR.match(text):
        year = _year(int(found[1]))
        return Period(text, date(year, 1, 1), date(year, 12, 31))
    raise ValueError("a period is a month (2026-11), a quarter (2026-Q4) or a year (2026)")


def _year(year: int) -> int:
    if not EARLIEST_YEAR <= year <= LATEST_YEAR:
        raise ValueError(f"the year lies in {EARLIEST_YEAR}–{LATEST_YEAR}")
    return year
