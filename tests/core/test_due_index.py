"""The due index pops the cases due, in order of due time then case id, however often
their due times moved; entries left behind by moves are dropped as they pile up."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from supervisor.core import runner as runner_module
from supervisor.core.runner import DueIndex

CN = ZoneInfo("Asia/Shanghai")
START = datetime(2026, 9, 1, tzinfo=CN)


def test_the_index_pops_what_the_latest_schedule_says_in_order() -> None:
    rng = random.Random(3)
    index, latest = DueIndex(), dict[str, datetime]()
    for step in range(30_000):
        case_id = f"451221-2026-{rng.randrange(500):07d}"
        due = None if rng.random() < 0.1 else START + timedelta(hours=rng.randrange(2000))
        index.schedule(case_id, due)
        if due is None:
            latest.pop(case_id, None)
        else:
            latest[case_id] = due
        if due is not None:  # after a move, stale entries are within the bound
            assert len(index._heap) <= 2 * len(latest) + runner_module._SLACK
        if step % 5000 == 4999:
            now = START + timedelta(hours=rng.randrange(2000))
            expected = sorted((when, case) for case, when in latest.items() if when <= now)
            assert index.pop_due(now) == [case for _, case in expected]
            for _, case in expected:
                del latest[case]
            assert len(index) == len(latest)
            assert index.peek() == min(latest.values(), default=None)
    assert len(index._heap) < 30_000 // 4


def test_a_case_moved_back_to_an_earlier_due_time_is_popped_once() -> None:
    index = DueIndex()
    first, second = START + timedelta(days=1), START + timedelta(days=2)
    for due in (first, second, first):
        index.schedule("451221-2026-0000001", due)
    index._compact()
    assert index.pop_due(second) == ["451221-2026-0000001"]
    assert index.pop_due(second) == [] and index.peek() is None
