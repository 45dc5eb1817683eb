"""The alert lifecycle (supervisor/lifecycle.py): the one transition table, as a property,
and the web journal and the notifier taking their steps from it."""

from __future__ import annotations

from typing import get_args

from hypothesis import given
from hypothesis import strategies as st

from supervisor import lifecycle
from supervisor.lifecycle import BEFORE_APPEAL, CLOSED_STATUSES, OPEN_STATUSES, Refused, check
from supervisor.notify import plan
from supervisor.web import journal
from supervisor.web.changes import ChangeBody


@given(st.sampled_from(lifecycle.STATUSES), st.sampled_from(lifecycle.ACTIONS))
def test_every_step_leads_somewhere_or_is_refused(status: str, action: str) -> None:
    try:
        target = check(status, action)
    except Refused as refused:
        assert status in str(refused) and action in str(refused)
        return
    assert status in OPEN_STATUSES  # nothing moves a closed alert
    assert target == BEFORE_APPEAL or target in lifecycle.STATUSES
    assert (target == BEFORE_APPEAL) == (action == "reject_appeal")


def test_the_statuses_split_into_open_and_closed() -> None:
    assert set(lifecycle.STATUSES) == OPEN_STATUSES | CLOSED_STATUSES
    assert not OPEN_STATUSES & CLOSED_STATUSES
    assert set(lifecycle.ROLES_FOR) == set(lifecycle.ACTIONS)


def test_a_rejected_appeal_returns_to_where_the_alert_was() -> None:
    for before in ("open", "acknowledged"):
        entries = journal.Journal()
        entries.apply(0, {**_alert(), "alert_id": "a"})
        by = {"name": "李主任", "role": "director"}
        at = "2026-11-28T09:00:00+08:00"
        if before == "acknowledged":
            entries.apply(1, _step("acknowledge", by, at))
        entries.apply(2, {**_step("appeal", by, at), "reason": "数据录入错误"})
        entries.apply(3, _step("reject_appeal", {"name": "王监察", "role": "inspector"}, at))
        entry = entries.get("a")
        assert entry is not None and entry.status == before


def test_the_web_journal_and_the_notifier_share_the_table() -> None:
    assert journal.check is check and journal.Refused is Refused
    assert journal.OPEN_STATUSES is OPEN_STATUSES
    planner = vars(plan)  # the names the notifier's planner decides with
    assert planner["TRANSITIONS"] is lifecycle.TRANSITIONS
    assert planner["OPEN_STATUSES"] is OPEN_STATUSES
    assert planner["CASE_CHANGES"] is lifecycle.CASE_CHANGES


def test_the_api_offers_the_dispositions_of_the_table() -> None:
    """The body of a change spells the dispositions out (for its schema and its 422)."""
    offered, absent = get_args(ChangeBody.model_fields["disposition"].annotation)
    assert absent is type(None)
    assert set(get_args(offered)) == set(lifecycle.DISPOSITIONS)


def _alert() -> dict[str, object]:
    return {
        "rule_id": "deadline.overdue",
        "severity": "red",
        "case_id": "c",
        "center_id": "451224",
        "raised_at": "2026-11-27T00:00:00+08:00",
        "title": "办件超期",
        "message": "m",
        "details": {},
    }


def _step(action: str, by: dict[str, str], at: str) -> dict[str, object]:
    return {"kind": "lifecycle", "alert_id": "a", "action": action, "by": by, "at": at, "note": ""}
