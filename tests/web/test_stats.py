"""The wall's headline figures and the per-center statistics, from case facts (pure)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import pytest

from supervisor.web.stats import CenterStats, Freshness, Headline, StatsBook

NANDAN, TIANE, CITY = "451221", "451222", "451202"
COUNTIES = {NANDAN, TIANE}


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def fact(
    case: str,
    center: str,
    event_type: str,
    occurred: str,
    status: str,
    *,
    accepted: str | None = None,
    concluded: str | None = None,
    on_time: bool | None = None,
    deadline: str | None = None,
) -> dict[str, Any]:
    return {
        "case_id": case,
        "center_id": center,
        "event_type": event_type,
        "occurred_at": occurred,
        "status": status,
        "accepted_at": accepted,
        "concluded_at": concluded,
        "deadline": deadline,
        "on_time": on_time,
    }


def accepted(case: str, center: str, when: str) -> dict[str, Any]:
    return fact(case, center, "accepted", when, "open", accepted=when)


def concluded(
    case: str, center: str, acceptance: str | None, when: str, on_time: bool | None
) -> dict[str, Any]:
    return fact(
        case,
        center,
        "concluded",
        when,
        "concluded",
        accepted=acceptance,
        concluded=when,
        on_time=on_time,
    )


ARRIVAL = at("2026-12-01T12:00:00+08:00")


def book_of(*facts: dict[str, Any], **options: Any) -> StatsBook:
    book = StatsBook(**options)
    for item in facts:
        book.add(item, ARRIVAL)
    return book


def story() -> list[dict[str, Any]]:
    """Cases either side of midnight 30 November / 1 December 2026 (local time)."""
    return [
        # n1: accepted 30 Nov 23:59:59, concluded 1 Dec 00:00:01, on time
        accepted("n1", NANDAN, "2026-11-30T23:59:59+08:00"),
        concluded("n1", NANDAN, "2026-11-30T23:59:59+08:00", "2026-12-01T00:00:01+08:00", True),
        # n2: accepted 1 Dec 00:30 local, written in UTC (30 Nov 16:30Z); still open
        accepted("n2", NANDAN, "2026-11-30T16:30:00+00:00"),
        # n3: accepted and concluded overdue on 30 November
        accepted("n3", NANDAN, "2026-11-20T09:00:00+08:00"),
        concluded("n3", NANDAN, "2026-11-20T09:00:00+08:00", "2026-11-30T17:00:00+08:00", False),
        # t1: Tian'e, accepted 1 Dec, concluded overdue 1 Dec
        accepted("t1", TIANE, "2026-12-01T08:00:00+08:00"),
        concluded("t1", TIANE, "2026-12-01T08:00:00+08:00", "2026-12-01T11:00:00+08:00", False),
        # c1: the city, accepted 1 Dec, open
        accepted("c1", CITY, "2026-12-01T09:00:00+08:00"),
        # c2: the city, concluded on time 1 Dec
        accepted("c2", CITY, "2026-11-28T09:00:00+08:00"),
        concluded("c2", CITY, "2026-11-28T09:00:00+08:00", "2026-12-01T10:00:00+08:00", True),
    ]


def test_the_headline_counts_local_days_across_midnight_and_the_month_end() -> None:
    book = book_of(*story())
    today = book.headline(at("2026-12-01T12:00:00+08:00"))
    assert today == Headline(
        day=date(2026, 12, 1),
        accepted_today=3,  # n2 (16:30Z is 00:30 local), t1, c1 (n1 was the day before)
        open_cases=2,  # n2, c1
        concluded_today=3,  # n1, t1, c2
        on_time_today=2,
        overdue_today=1,
        on_time_rate_today=2 / 3,
        concluded_month=3,  # December so far: n3 (30 Nov) is last month
        on_time_month=2,
        overdue_month=1,
        on_time_rate_month=2 / 3,
    )
    # The same instant written in UTC is the same local day.
    assert book.headline(at("2026-12-01T04:00:00+00:00")) == today

    yesterday = book.headline(at("2026-11-30T23:59:59.999999+08:00"))
    assert yesterday.day == date(2026, 11, 30)
    assert (yesterday.accepted_today, yesterday.concluded_today) == (1, 1)  # n1; n3
    assert (yesterday.on_time_rate_today, yesterday.on_time_rate_month) == (0.0, 0.0)
    assert yesterday.concluded_month == 1  # n3 in November
    assert yesterday.open_cases == 2  # open cases are always now's


def test_rates_are_none_when_nothing_was_concluded() -> None:
    book = book_of(accepted("x", NANDAN, "2026-12-01T09:00:00+08:00"))
    figures = book.headline(ARRIVAL)
    assert figures.on_time_rate_today is None and figures.on_time_rate_month is None
    assert figures.to_dict()["on_time_rate_today"] is None
    assert StatsBook().headline(ARRIVAL).to_dict() == {
        "day": "2026-12-01",
        "accepted_today": 0,
        "open_cases": 0,
        "concluded_today": 0,
        "on_time_today": 0,
        "overdue_today": 0,
        "on_time_rate_today": None,
        "concluded_month": 0,
        "on_time_month": 0,
        "overdue_month": 0,
        "on_time_rate_month": None,
    }


def test_per_center_over_a_period_of_local_days() -> None:
    book = book_of(*story())
    november = book.per_center(date(2026, 11, 1), date(2026, 11, 30))
    assert november == {
        CITY: CenterStats(CITY, 1, 0, 0, 0, 0, 0, None),
        NANDAN: CenterStats(NANDAN, 2, 1, 0, 1, 0, 0, 0.0),  # n1, n3 accepted; n3 overdue
    }
    both = book.per_center(date(2026, 11, 30), date(2026, 12, 1))
    assert both[NANDAN] == CenterStats(NANDAN, 2, 2, 1, 1, 0, 0, 0.5)
    assert both[TIANE] == CenterStats(TIANE, 1, 1, 0, 1, 0, 0, 0.0)
    assert both[CITY] == CenterStats(CITY, 1, 1, 1, 0, 0, 0, 1.0)
    assert list(both) == sorted(both)
    assert both[NANDAN].to_dict() == {
        "center_id": NANDAN,
        "accepted": 2,
        "concluded": 2,
        "on_time": 1,
        "overdue": 1,
        "not_accepted": 0,
        "withdrawn": 0,
        "on_time_rate": 0.5,
    }
    assert book.per_center(date(2026, 12, 2), date(2026, 12, 31)) == {}


def test_scope_limits_every_answer() -> None:
    book = book_of(*story())
    figures = book.headline(ARRIVAL, scope=COUNTIES.__contains__)
    assert (figures.accepted_today, figures.open_cases, figures.concluded_today) == (2, 1, 2)
    assert figures.on_time_rate_today == 0.5  # n1 on time, t1 overdue
    assert set(book.per_center(date(2026, 11, 1), date(2026, 12, 31), NANDAN.__eq__)) == {NANDAN}
    assert book.open_cases() == {CITY: 1, NANDAN: 1}
    assert book.open_cases(COUNTIES.__contains__) == {NANDAN: 1}
    assert book.freshness(TIANE.__eq__).last_event_at == at("2026-12-01T11:00:00+08:00")
    assert book.freshness(lambda center: False) == Freshness(None, None)


def test_duplicates_change_nothing() -> None:
    facts = story()
    book = book_of(*facts)
    before = (book.headline(ARRIVAL), book.per_center(date(2026, 11, 1), date(2026, 12, 31)))
    assert all(book.add(item, ARRIVAL) is False for item in facts)
    after = (book.headline(ARRIVAL), book.per_center(date(2026, 11, 1), date(2026, 12, 31)))
    assert after == before


def test_duplicates_beyond_the_recent_keys_are_still_not_counted_twice() -> None:
    """With room for one key only, a re-sent `accepted` of an open case and a re-sent
    `concluded` are recognised by the open set and the remembered closings."""
    book = StatsBook(recent=1)
    open_case = accepted("o", NANDAN, "2026-12-01T08:00:00+08:00")
    done = [
        accepted("d", NANDAN, "2026-12-01T08:00:00+08:00"),
        concluded("d", NANDAN, "2026-12-01T08:00:00+08:00", "2026-12-01T09:00:00+08:00", True),
    ]
    for item in [open_case, *done, open_case, done[1]]:
        book.add(item, ARRIVAL)
    figures = book.headline(ARRIVAL)
    assert (figures.accepted_today, figures.concluded_today, figures.on_time_today) == (2, 1, 1)
    assert figures.open_cases == 1


def test_later_events_of_a_case_keep_it_counted_once() -> None:
    acceptance = "2026-12-01T08:00:00+08:00"
    conclusion = "2026-12-01T09:00:00+08:00"
    book = book_of(
        fact("k", NANDAN, "submitted", "2026-12-01T07:50:00+08:00", "received"),
        accepted("k", NANDAN, acceptance),
        fact("k", NANDAN, "decided", "2026-12-01T08:30:00+08:00", "open", accepted=acceptance),
        concluded("k", NANDAN, acceptance, conclusion, True),
        fact(
            "k",
            NANDAN,
            "delivered",
            "2026-12-01T10:00:00+08:00",
            "concluded",
            accepted=acceptance,
            concluded=conclusion,
            on_time=True,
        ),
        # a second `accepted`, out of order: the case's acceptance stays the first
        fact("k", NANDAN, "accepted", "2026-12-01T11:00:00+08:00", "concluded",
             accepted=acceptance, concluded=conclusion, on_time=True),
    )  # fmt: skip
    figures = book.headline(ARRIVAL)
    assert (figures.accepted_today, figures.concluded_today, figures.on_time_today) == (1, 1, 1)
    assert figures.open_cases == 0
    # A later event of a case concluded before the book's memory: counted back then.
    earlier = "2026-12-01T01:00:00+08:00"
    book.add(
        fact("old", NANDAN, "evaluated", "2026-12-01T11:00:00+08:00", "concluded",
             accepted="2026-11-20T09:00:00+08:00", concluded=earlier, on_time=False),
        ARRIVAL,
    )  # fmt: skip
    assert book.headline(ARRIVAL).concluded_today == 1


def test_a_late_event_that_rejudges_a_concluded_case_moves_its_counts() -> None:
    acceptance = "2026-11-25T09:00:00+08:00"
    book = book_of(
        accepted("late", NANDAN, acceptance),
        concluded("late", NANDAN, acceptance, "2026-12-01T09:00:00+08:00", False),
    )
    assert book.headline(ARRIVAL).overdue_today == 1
    # An approved extension uploaded after the conclusion: on time after all.
    book.add(
        fact(
            "late",
            NANDAN,
            "extended",
            "2026-11-27T09:00:00+08:00",
            "concluded",
            accepted=acceptance,
            concluded="2026-12-01T09:00:00+08:00",
            on_time=True,
        ),
        ARRIVAL,
    )
    figures = book.headline(ARRIVAL)
    assert (figures.concluded_today, figures.on_time_today, figures.overdue_today) == (1, 1, 0)
    # An earlier `concluded` uploaded late: the case was concluded on 30 November.
    book.add(concluded("late", NANDAN, acceptance, "2026-11-30T16:00:00+08:00", True), ARRIVAL)
    assert book.headline(ARRIVAL).concluded_today == 0
    assert book.per_center(date(2026, 11, 30), date(2026, 11, 30))[NANDAN].concluded == 1


def test_a_conclusion_without_acceptance_counts_but_is_not_judged() -> None:
    book = book_of(concluded("na", NANDAN, None, "2026-12-01T09:00:00+08:00", None))
    figures = book.headline(ARRIVAL)
    assert (figures.concluded_today, figures.on_time_rate_today) == (1, None)
    # Its acceptance arrives late: accepted counted, and now judged.
    acceptance = "2026-12-01T08:00:00+08:00"
    book.add(
        fact(
            "na",
            NANDAN,
            "accepted",
            acceptance,
            "concluded",
            accepted=acceptance,
            concluded="2026-12-01T09:00:00+08:00",
            on_time=True,
        ),
        ARRIVAL,
    )
    figures = book.headline(ARRIVAL)
    assert (figures.accepted_today, figures.concluded_today) == (1, 1)
    assert (figures.on_time_today, figures.on_time_rate_today, figures.open_cases) == (1, 1.0, 0)


def test_refusals_and_withdrawals() -> None:
    book = book_of(
        fact("r", NANDAN, "not_accepted", "2026-12-01T09:00:00+08:00", "not_accepted"),
        accepted("w", NANDAN, "2026-12-01T08:00:00+08:00"),
        fact(
            "w",
            NANDAN,
            "withdrawn",
            "2026-12-01T10:00:00+08:00",
            "withdrawn",
            accepted="2026-12-01T08:00:00+08:00",
        ),
        # a second withdrawal of the same case is not another one
        fact("w", NANDAN, "withdrawn", "2026-12-01T11:00:00+08:00", "withdrawn"),
        fact("w", NANDAN, "complained", "2026-12-01T11:30:00+08:00", "withdrawn"),
    )
    stats = book.per_center(date(2026, 12, 1), date(2026, 12, 1))[NANDAN]
    assert (stats.accepted, stats.not_accepted, stats.withdrawn, stats.concluded) == (1, 1, 1, 0)
    assert book.headline(ARRIVAL).open_cases == 0


def test_counts_are_kept_for_a_window_of_days() -> None:
    book = StatsBook(days=3)
    book.add(accepted("a", NANDAN, "2026-11-28T09:00:00+08:00"), ARRIVAL)  # before the window
    book.add(accepted("b", NANDAN, "2026-11-29T09:00:00+08:00"), ARRIVAL)
    book.add(accepted("c", NANDAN, "2026-12-03T09:00:00+08:00"), ARRIVAL)  # 2 days ahead
    assert book.kept_since == date(2026, 11, 29)
    assert book.per_center(date(2026, 1, 1), date(2026, 12, 31))[NANDAN].accepted == 1
    assert book.headline(ARRIVAL).open_cases == 3  # open whatever their day
    # A day later the 29th leaves the window.
    book.add(accepted("d", NANDAN, "2026-12-02T09:00:00+08:00"), ARRIVAL + timedelta(days=1))
    assert book.kept_since == date(2026, 11, 30)
    assert book.per_center(date(2026, 1, 1), date(2026, 12, 31))[NANDAN].accepted == 1  # d


def test_memory_stays_bounded() -> None:
    book = StatsBook(days=2, recent=10)
    start = at("2026-12-01T00:00:00+08:00")
    for n in range(1000):
        when = (start + timedelta(hours=n)).isoformat()
        book.add(accepted(f"m{n}", NANDAN, when), start + timedelta(hours=n))
        book.add(concluded(f"m{n}", NANDAN, when, when, True), start + timedelta(hours=n))
    assert len(book._counts) <= 3
    assert len(book._keys) <= 10 and len(book._key_order) <= 10
    assert len(book._closed) <= 10
    assert len(book._open) == 0


def test_freshness_is_the_latest_event_and_arrival() -> None:
    book = StatsBook()
    book.add(accepted("f1", NANDAN, "2026-12-01T11:00:00+08:00"), ARRIVAL)
    book.add(accepted("f0", NANDAN, "2026-11-30T11:00:00+08:00"), ARRIVAL + timedelta(minutes=5))
    # dated in the future (a center's clock or data error): not a sign of a live center
    book.add(accepted("f2", TIANE, "2026-12-05T11:00:00+08:00"), ARRIVAL)
    assert book.last_event_at(NANDAN) == at("2026-12-01T11:00:00+08:00")
    assert book.last_event_at(TIANE) is None
    assert book.last_event_at(CITY) is None
    fresh = book.freshness()
    assert fresh == Freshness(at("2026-12-01T11:00:00+08:00"), ARRIVAL + timedelta(minutes=5))
    assert fresh.to_dict() == {
        "last_event_at": "2026-12-01T11:00:00+08:00",
        "last_arrival_at": "2026-12-01T12:05:00+08:00",
    }


def test_the_clock_gives_the_arrival_time() -> None:
    book = StatsBook(clock=lambda: ARRIVAL)
    assert book.add(accepted("k", NANDAN, "2026-12-01T09:00:00+08:00"))
    assert book.freshness().last_arrival_at == ARRIVAL


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"case_id": None}, "case_id"),
        ({"status": "lost"}, "status"),
        ({"occurred_at": "yesterday"}, "occurred_at"),
        ({"occurred_at": "2026-12-01T09:00:00"}, "time zone"),
        ({"on_time": "yes"}, "on_time"),
    ],
)
def test_a_document_that_is_not_a_fact_is_refused(change: dict[str, Any], problem: str) -> None:
    book = StatsBook()
    with pytest.raises(ValueError, match=problem):
        book.add({**accepted("x", NANDAN, "2026-12-01T09:00:00+08:00"), **change}, ARRIVAL)
    with pytest.raises(ValueError):
        book.add(accepted("x", NANDAN, "2026-12-01T09:00:00+08:00"), ARRIVAL.replace(tzinfo=None))
    assert book.headline(ARRIVAL).accepted_today == 0
