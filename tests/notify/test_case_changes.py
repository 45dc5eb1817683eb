"""Contract §6 "Alerts follow their case", as the notifier honours it: the worker's
`case_change` records on the journal. `closed` and `superseded` end what is pending for an
alert still open, acknowledged or appealed (repeats, escalation, its digest entry), as a
resolution does; a resolved or withdrawn alert keeps its status. `concluded_late` stops an
overdue alert's repeats and escalation for good, its status unchanged."""

from __future__ import annotations

from typing import Any

import pytest

from supervisor.notify.plan import record_kind
from supervisor.web.journal import STATUSES, Entry, Journal

from .factories import (
    COUNTY,
    COUNTY_DIRECTOR,
    TOWNSHIP,
    Run,
    alert,
    change,
    planner,
    t,
    withdrawal,
)

MON = "2026-11-23"


def case_change(record: dict[str, Any], what: str, at: str, **extra: Any) -> dict[str, Any]:
    """A case change as the worker publishes it (the project's extension of §6)."""
    made: dict[str, Any] = {
        "kind": "case_change",
        "change": what,
        "alert_id": record["alert_id"],
        "rule_id": record["rule_id"],
        "case_id": record["case_id"],
        "center_id": record["center_id"],
        "at": at,
        "details": {"department": "不动产登记中心"},
    }
    if what == "closed":
        made |= {"status": "closed", "reason": "concluded_in_time"}
    elif what == "superseded":
        made |= {"status": "superseded", "superseded_by": f"deadline.overdue:{record['case_id']}"}
    else:
        made |= {"case_concluded_at": at, "late_working_days": 2.42}
    return made | extra


def warning(n: int = 1, center: str = COUNTY) -> dict[str, Any]:
    return alert(n, severity="yellow", center=center, rule="deadline.warning")


def test_a_case_change_is_read_as_one_not_as_an_alert() -> None:
    """Before: a record with a `status` and no known `kind` was taken for an alert."""
    red = alert()
    for what in ("closed", "superseded", "concluded_late"):
        assert record_kind(case_change(red, what, f"{MON}T10:00:00+08:00")) == "case_change"
    run = Run()
    out = run.apply(
        case_change(red, "concluded_late", f"{MON}T10:00:00+08:00"), f"{MON}T10:00:00+08:00"
    )
    assert out.outbox == [] and out.skipped is None
    assert run.state.alerts == {}  # no alert made of it; kept for its alert
    assert list(run.state.early) == [red["alert_id"]]


def test_a_warning_closed_by_its_case_leaves_the_digest() -> None:
    run = Run()
    closed, kept = warning(1), warning(2)
    run.apply(closed, f"{MON}T09:00:00+08:00")
    run.apply(kept, f"{MON}T09:00:00+08:00")
    out = run.apply(case_change(closed, "closed", f"{MON}T09:10:00+08:00"), f"{MON}T09:10:00+08:00")
    assert out.ignored is None
    assert run.state.alerts[closed["alert_id"]].status == "closed"
    out = run.advance(f"{MON}T09:30:00+08:00")
    assert [(n.recipient.id, [a.alert_id for a in n.alerts]) for n in out.outbox] == [
        (COUNTY_DIRECTOR, [kept["alert_id"]]),
    ]


def test_a_digest_left_empty_by_a_closed_warning_is_not_sent() -> None:
    run = Run()
    only = warning()
    run.apply(only, f"{MON}T09:00:00+08:00")
    # the case concluded at 09:20; the change is read at 09:40, after the digest fell due:
    # what was closed before the digest's time is left out of it all the same
    run.apply(case_change(only, "closed", f"{MON}T09:20:00+08:00"), f"{MON}T09:40:00+08:00")
    assert run.ids() == []
    assert run.plan.next_due(run.state) is None


def test_a_superseded_warning_leaves_the_digest_and_the_red_alert_goes_out() -> None:
    run = Run()
    yellow = warning()
    run.apply(yellow, f"{MON}T09:00:00+08:00")
    red = alert()  # deadline.overdue of the same case
    assert red["case_id"] == yellow["case_id"]
    out = run.apply(red, f"{MON}T09:05:00+08:00")
    assert {n.alerts[0].alert_id for n in out.outbox} == {red["alert_id"]}
    run.apply(case_change(yellow, "superseded", f"{MON}T09:05:00+08:00"), f"{MON}T09:05:01+08:00")
    assert run.state.alerts[yellow["alert_id"]].status == "superseded"
    assert run.advance(f"{MON}T10:00:00+08:00").outbox == []  # no digest for the warning


def test_closed_on_an_acknowledged_or_appealed_alert_and_no_person_undoes_it() -> None:
    for before in ("acknowledge", "appeal"):
        run = Run()
        yellow = warning()
        run.apply(yellow, f"{MON}T09:00:00+08:00")
        run.apply(
            change(yellow["alert_id"], before, f"{MON}T09:01:00+08:00"), f"{MON}T09:01:00+08:00"
        )
        run.apply(case_change(yellow, "closed", f"{MON}T09:02:00+08:00"), f"{MON}T09:02:00+08:00")
        track = run.state.alerts[yellow["alert_id"]]
        assert track.status == "closed"
        for action in ("resolve", "accept_appeal", "reject_appeal", "acknowledge"):
            out = run.apply(
                change(yellow["alert_id"], action, f"{MON}T09:03:00+08:00"), f"{MON}T09:03:00+08:00"
            )
            assert out.ignored == "no change for an alert that is closed"
        assert run.state.alerts[yellow["alert_id"]].status == "closed"


def test_a_closed_change_after_a_person_resolved_it_changes_nothing() -> None:
    run = Run()
    yellow = warning()
    run.apply(yellow, f"{MON}T09:00:00+08:00")
    run.apply(
        change(yellow["alert_id"], "resolve", f"{MON}T09:05:00+08:00"), f"{MON}T09:05:00+08:00"
    )
    before = run.state.to_json()
    out = run.apply(case_change(yellow, "closed", f"{MON}T09:10:00+08:00"), f"{MON}T09:10:00+08:00")
    assert out.ignored == "no change for an alert that is resolved"
    assert out.outbox == [] and run.state.to_json() == before
    assert run.state.alerts[yellow["alert_id"]].status == "resolved"


def test_a_superseded_change_after_the_worker_withdrew_it_changes_nothing() -> None:
    run = Run()
    yellow = warning()
    run.apply(yellow, f"{MON}T09:00:00+08:00")
    run.apply(withdrawal(yellow, f"{MON}T09:05:00+08:00"), f"{MON}T09:05:00+08:00")
    out = run.apply(
        case_change(yellow, "superseded", f"{MON}T09:10:00+08:00"), f"{MON}T09:10:00+08:00"
    )
    assert out.ignored == "no change for an alert that is withdrawn"
    assert run.state.alerts[yellow["alert_id"]].status == "withdrawn"


def test_a_red_alert_closed_by_its_case_is_neither_repeated_nor_escalated() -> None:
    run = Run(planner(hold_outside_office_hours=False))
    red = alert(center=TOWNSHIP)
    aid = red["alert_id"]
    run.apply(red, f"{MON}T09:00:00+08:00")
    run.apply(case_change(red, "closed", f"{MON}T09:30:00+08:00"), f"{MON}T09:30:00+08:00")
    assert run.advance("2026-11-30T17:00:00+08:00").outbox == []
    # only the first notifications: city and county directors, inspection office
    assert run.ids() == [
        f"{aid}:director-451200:alert:0",
        f"{aid}:director-451221:alert:0",
        f"{aid}:inspection-office:alert:0",
    ]


def test_a_late_concluded_red_alert_gets_no_reminder_nor_escalation_afterwards() -> None:
    run = Run(planner(hold_outside_office_hours=False))
    red = alert(center=TOWNSHIP)
    aid = red["alert_id"]
    run.apply(red, f"{MON}T09:00:00+08:00")
    # the first step fell due at 11:00 and went out; the case is concluded at 11:30
    assert [e.level for e in run.advance(f"{MON}T11:00:00+08:00").escalations] == [1]
    out = run.apply(
        case_change(red, "concluded_late", f"{MON}T11:30:00+08:00"), f"{MON}T11:31:00+08:00"
    )
    assert out.ignored is None and out.outbox == []
    track = run.state.alerts[aid]
    assert track.status == "open"  # still a violation record: a person resolves it
    assert track.concluded_late_at == t(f"{MON}T11:30:00+08:00")
    assert (track.next_repeat, track.next_escalation) == (None, None)
    assert run.plan.next_due(run.state) is None
    later = run.advance("2026-11-27T17:00:00+08:00")
    assert later.outbox == [] and later.escalations == []
    # a person still resolves it as any other alert
    run.apply(change(aid, "resolve", "2026-11-27T17:05:00+08:00"), "2026-11-27T17:05:00+08:00")
    assert run.state.alerts[aid].status == "resolved"
    assert run.advance("2026-12-31T17:00:00+08:00").outbox == []


def test_concluded_late_read_late_still_stops_the_step_due_after_it() -> None:
    """Concluded at 10:30, read at 11:05 (the notifier was down): the 11:00 step was not
    due when the case concluded, so it never goes out; what fell due before it did."""
    run = Run()
    red = alert(center=TOWNSHIP)
    run.apply(red, f"{MON}T09:00:00+08:00")
    out = run.apply(
        case_change(red, "concluded_late", f"{MON}T10:30:00+08:00"), f"{MON}T11:05:00+08:00"
    )
    assert out.escalations == [] and out.outbox == []
    assert run.advance(f"{MON}T17:00:00+08:00").escalations == []


def test_a_rejected_appeal_does_not_restart_the_clocks_of_a_late_concluded_alert() -> None:
    run = Run()
    red = alert(center=TOWNSHIP)
    aid = red["alert_id"]
    run.apply(red, f"{MON}T09:00:00+08:00")
    run.apply(change(aid, "appeal", f"{MON}T09:10:00+08:00"), f"{MON}T09:10:00+08:00")
    run.apply(case_change(red, "concluded_late", f"{MON}T09:20:00+08:00"), f"{MON}T09:20:00+08:00")
    assert run.state.alerts[aid].status == "appealed"
    run.apply(change(aid, "reject_appeal", f"{MON}T09:30:00+08:00"), f"{MON}T09:30:00+08:00")
    assert run.state.alerts[aid].status == "open"
    out = run.advance("2026-12-31T17:00:00+08:00")
    assert out.outbox == [] and out.escalations == []


def test_concluded_late_read_before_its_alert_still_notifies_once_but_never_again() -> None:
    run = Run(planner(hold_outside_office_hours=False))
    red = alert(center=TOWNSHIP)
    run.apply(case_change(red, "concluded_late", f"{MON}T09:00:00+08:00"), f"{MON}T09:00:00+08:00")
    out = run.apply(red, f"{MON}T09:01:00+08:00")
    assert {n.kind for n in out.outbox} == {"alert"}  # the violation is made known once
    assert run.state.early == {}
    assert run.advance("2026-12-31T17:00:00+08:00").outbox == []


def test_a_case_change_read_twice_changes_nothing() -> None:
    for what, rule in (("closed", "warning"), ("superseded", "warning"), ("concluded_late", "red")):
        run = Run()
        record = warning() if rule == "warning" else alert()
        run.apply(record, f"{MON}T09:00:00+08:00")
        made = case_change(record, what, f"{MON}T09:10:00+08:00")
        run.apply(made, f"{MON}T09:10:00+08:00")
        before = run.state.to_json()
        again = run.apply(made, f"{MON}T09:10:00+08:00")
        assert again.ignored is not None and again.outbox == [], what
        assert run.state.to_json() == before, what


def test_a_case_change_that_is_not_one_is_skipped() -> None:
    red = alert()
    bad = [
        case_change(red, "reopened", f"{MON}T09:10:00+08:00"),  # no such change
        {k: v for k, v in case_change(red, "closed", "x").items() if k != "at"},  # no time
        case_change(red, "closed", "9999-12-31T23:59:59+08:00"),  # out of range
        case_change(red, "closed", f"{MON}T09:10:00"),  # no offset
        case_change(red, "closed", f"{MON}T09:10:00+08:00", alert_id=["x"]),
    ]
    for n, record in enumerate(bad):
        run = Run()
        run.apply(red, f"{MON}T09:00:00+08:00", seq=0)
        out = run.apply(record, f"{MON}T09:20:00+08:00", seq=1)
        assert out.skipped == "invalid", n
        assert out.state.head == 1 and out.state.alerts[red["alert_id"]].status == "open", n


@pytest.mark.parametrize("status", STATUSES)
@pytest.mark.parametrize("what", ["closed", "superseded"])
def test_the_case_changes_take_the_statuses_the_journal_gives(status: str, what: str) -> None:
    """The notifier's status after a case change is the wall's (supervisor/web/journal.py,
    not imported by the planner: it pulls in FastAPI)."""
    yellow = warning()
    record = case_change(yellow, what, f"{MON}T09:10:00+08:00")
    entry = Entry(alert=yellow, seq=0, status=status)
    changed = Journal._case_change(entry, 1, record) is not None
    run = Run()
    run.apply(yellow, f"{MON}T09:00:00+08:00")
    run.state.alerts[yellow["alert_id"]].status = status
    out = run.apply(record, f"{MON}T09:10:00+08:00")
    assert (out.ignored is None) == changed
    assert run.state.alerts[yellow["alert_id"]].status == entry.status
