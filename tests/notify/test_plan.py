"""The notification decisions: red at once, yellow digests, repeats, escalation up the
hierarchy in office hours, idempotency, and a state that survives JSON. Every time is an
explicit `now`; nothing sleeps.

Calendar used (Hechi's, rules/calendar): 2026-11-23 is a Monday, 11-27 a Friday; office
hours 09:00-12:00 and 13:30-17:30.
"""

from __future__ import annotations

import json

import pytest

from supervisor import orders
from supervisor.notify.plan import NotifyState, record_kind

from .factories import (
    CITY,
    CITY_DIRECTOR,
    COUNTY,
    COUNTY_DIRECTOR,
    TOWNSHIP,
    Run,
    alert,
    change,
    planner,
    sent_to,
    t,
    withdrawal,
)

MON = "2026-11-23"


# -- red at once, yellow in digests -------------------------------------------------------


def test_a_red_alert_goes_out_at_once_to_each_recipient() -> None:
    run = Run()
    red = alert(severity="red", center=TOWNSHIP)
    out = run.apply(red, f"{MON}T10:00:00+08:00")
    aid = red["alert_id"]
    # the city and county directors (routes with below), in the file's order, and the
    # inspection office (red deadline.*)
    assert [n.id for n in out.outbox] == [
        f"{aid}:director-451200:alert:0",
        f"{aid}:director-451221:alert:0",
        f"{aid}:inspection-office:alert:0",
    ]
    first = out.outbox[0]
    assert first.kind == "alert" and first.severity == "red" and first.center_id == TOWNSHIP
    assert first.recipient.channels.webhook is not None
    assert first.alerts[0].alert_id == aid and first.due_at == t(f"{MON}T10:00:00+08:00")


def test_a_red_alert_of_another_rule_skips_the_deadline_route() -> None:
    out = Run().apply(alert(rule="workflow.no_decision"), f"{MON}T10:00:00+08:00")
    assert sent_to(out) == [CITY_DIRECTOR, COUNTY_DIRECTOR]


def test_yellow_alerts_wait_for_one_digest_per_center_and_recipient() -> None:
    run = Run()
    a = alert(1, severity="yellow", rule="deadline.warning")
    b = alert(2, severity="yellow", rule="deadline.warning")
    other = alert(3, severity="yellow", rule="deadline.warning", center="451222")
    assert run.apply(a, f"{MON}T10:00:00+08:00").outbox == []
    assert run.apply(b, f"{MON}T10:10:00+08:00").outbox == []
    assert run.apply(other, f"{MON}T10:20:00+08:00").outbox == []
    assert run.advance(f"{MON}T10:29:59+08:00").outbox == []
    out = run.advance(f"{MON}T10:30:00+08:00")  # 30 minutes after the first one
    assert [n.id for n in out.outbox] == [
        "digest:451221:director-451221:1",
    ]
    for digest in out.outbox:
        assert digest.kind == "digest" and digest.severity == "yellow"
        assert [x.alert_id for x in digest.alerts] == [a["alert_id"], b["alert_id"]]
    out = run.advance(f"{MON}T10:50:00+08:00")
    assert [n.id for n in out.outbox] == [
        "digest:451222:director-451222:1",
    ]
    assert run.advance(f"{MON}T18:00:00+08:00").outbox == []


def test_an_alert_resolved_acknowledged_or_withdrawn_before_its_digest_is_left_out() -> None:
    run = Run()
    kept = alert(1, severity="yellow")
    resolved = alert(2, severity="yellow")
    acked = alert(3, severity="yellow")
    withdrawn = alert(4, severity="yellow")
    for n, record in enumerate([kept, resolved, acked, withdrawn]):
        run.apply(record, f"{MON}T10:0{n}:00+08:00")
    run.apply(
        change(resolved["alert_id"], "resolve", f"{MON}T10:10:00+08:00"), f"{MON}T10:10:00+08:00"
    )
    run.apply(
        change(acked["alert_id"], "acknowledge", f"{MON}T10:11:00+08:00"), f"{MON}T10:11:00+08:00"
    )
    run.apply(withdrawal(withdrawn, f"{MON}T10:12:00+08:00"), f"{MON}T10:12:00+08:00")
    out = run.advance(f"{MON}T10:30:00+08:00")
    assert [(n.recipient.id, [x.alert_id for x in n.alerts]) for n in out.outbox] == [
        (COUNTY_DIRECTOR, [kept["alert_id"]]),
    ]


def test_a_digest_left_empty_is_not_sent_and_numbers_stay_dense() -> None:
    run = Run()
    a = alert(1, severity="yellow")
    run.apply(a, f"{MON}T10:00:00+08:00")
    run.apply(
        change(a["alert_id"], "acknowledge", f"{MON}T10:05:00+08:00"), f"{MON}T10:05:00+08:00"
    )
    assert run.advance(f"{MON}T11:00:00+08:00").outbox == []
    run.apply(alert(2, severity="yellow"), f"{MON}T11:00:00+08:00")
    assert [n.id for n in run.advance(f"{MON}T11:30:00+08:00").outbox] == [
        "digest:451221:director-451221:1",
    ]
    run.apply(alert(3, severity="yellow"), f"{MON}T11:40:00+08:00")
    assert run.plan.next_due(run.state) == t(f"{MON}T13:30:00+08:00")  # 12:10: lunch, held
    assert [n.id for n in run.advance(f"{MON}T13:30:00+08:00").outbox] == [
        "digest:451221:director-451221:2",
    ]


def test_a_digest_due_at_night_waits_for_office_hours_unless_told_otherwise() -> None:
    friday = "2026-11-27"
    run = Run()
    run.apply(alert(severity="yellow"), f"{friday}T17:20:00+08:00")
    assert run.advance("2026-11-29T23:59:59+08:00").outbox == []  # the weekend
    out = run.advance("2026-11-30T09:00:00+08:00")
    assert [(n.recipient.id, n.due_at) for n in out.outbox] == [
        (COUNTY_DIRECTOR, t("2026-11-30T09:00:00+08:00")),
    ]
    eager = Run(planner(hold_outside_office_hours=False))
    eager.apply(alert(severity="yellow"), f"{friday}T17:20:00+08:00")
    assert [
        (n.recipient.id, n.due_at) for n in eager.advance(f"{friday}T17:50:00+08:00").outbox
    ] == [
        (COUNTY_DIRECTOR, t(f"{friday}T17:50:00+08:00")),
    ]


def test_digest_interval_is_configurable() -> None:
    run = Run(planner(digest_minutes=5))
    run.apply(alert(severity="yellow"), f"{MON}T10:00:00+08:00")
    assert [n.id for n in run.advance(f"{MON}T10:05:00+08:00").outbox] == [
        "digest:451221:director-451221:1",
    ]


# -- repeats -------------------------------------------------------------------------------


def test_an_open_red_alert_is_repeated_every_interval_in_office_hours() -> None:
    run = Run(planner(escalate_after_working_hours=0))
    red = alert(rule="workflow.no_decision")  # to the city and county directors
    aid = red["alert_id"]
    run.apply(red, f"{MON}T09:00:00+08:00")
    assert run.advance(f"{MON}T12:59:59+08:00").outbox == []
    # 09:00 + 240 min = 13:00, in the lunch break: held to 13:30
    assert run.advance(f"{MON}T13:00:00+08:00").outbox == []
    out = run.advance(f"{MON}T13:30:00+08:00")
    # the county director's; the city director had it at once, without reminders
    assert [(n.id, n.kind, n.repeat) for n in out.outbox] == [
        (f"{aid}:director-451221:repeat:1", "repeat", 1),
    ]
    # 13:30 + 4 h = 17:30, office closes: Tuesday 09:00
    assert run.advance(f"{MON}T23:00:00+08:00").outbox == []
    out = run.advance("2026-11-24T09:00:00+08:00")
    assert [n.id for n in out.outbox] == [f"{aid}:director-451221:repeat:2"]


def test_repeats_on_the_clock_and_after_downtime_only_one() -> None:
    run = Run(planner(escalate_after_working_hours=0, hold_outside_office_hours=False))
    red = alert(rule="workflow.no_decision")
    run.apply(red, f"{MON}T09:00:00+08:00")
    out = run.advance(f"{MON}T13:00:00+08:00")
    assert [(n.recipient.id, n.repeat) for n in out.outbox] == [(COUNTY_DIRECTOR, 1)]
    out = run.advance("2026-11-25T09:00:00+08:00")  # the notifier was down for two days
    # one repeat, not a burst
    assert [(n.recipient.id, n.repeat) for n in out.outbox] == [(COUNTY_DIRECTOR, 2)]
    assert run.state.alerts[red["alert_id"]].next_repeat == t("2026-11-25T13:00:00+08:00")


def test_acknowledging_stops_repeats_and_max_repeats_caps_them() -> None:
    run = Run(planner(escalate_after_working_hours=0, hold_outside_office_hours=False))
    red = alert(rule="workflow.no_decision")
    run.apply(red, f"{MON}T09:00:00+08:00")
    run.advance(f"{MON}T13:00:00+08:00")
    run.apply(
        change(red["alert_id"], "acknowledge", f"{MON}T13:05:00+08:00"), f"{MON}T13:05:00+08:00"
    )
    assert run.advance("2026-11-30T09:00:00+08:00").outbox == []
    capped = Run(
        planner(escalate_after_working_hours=0, max_repeats=2, hold_outside_office_hours=False)
    )
    capped.apply(red, f"{MON}T09:00:00+08:00")
    for hour in range(13, 24, 4):
        capped.advance(f"{MON}T{hour:02d}:00:00+08:00")
    capped.advance("2026-11-30T09:00:00+08:00")
    aid = red["alert_id"]
    assert [i for i in capped.ids() if ":repeat:" in i] == [
        f"{aid}:director-451221:repeat:1",
        f"{aid}:director-451221:repeat:2",
    ]
    assert capped.plan.next_due(capped.state) is None


def test_a_route_that_says_repeat_false_gets_no_reminders() -> None:
    """The shipped city route of every red alert of the city says `repeat: false`: the
    city director has a county's red alert at once and no reminder of it (the county's
    director has those); the city center's own red alerts, by a route without it, are
    repeated to them."""
    run = Run(planner(escalate_after_working_hours=0, hold_outside_office_hours=False))
    county, city = (
        alert(1, rule="workflow.no_decision"),
        alert(2, center=CITY, rule="workflow.no_decision"),
    )
    first = run.apply(county, f"{MON}T09:00:00+08:00")
    assert sent_to(first) == [CITY_DIRECTOR, COUNTY_DIRECTOR]
    assert sent_to(run.apply(city, f"{MON}T09:00:00+08:00")) == [CITY_DIRECTOR]
    repeats = run.advance(f"{MON}T13:00:00+08:00")
    assert sorted(n.id for n in repeats.outbox) == [
        f"{city['alert_id']}:director-451200:repeat:1",
        f"{county['alert_id']}:director-451221:repeat:1",
    ]


def test_a_red_alert_only_a_no_repeat_route_covers_is_still_reminded() -> None:
    """A township of a county with no route of its own (451299101: in no registry) is
    covered by the city's red route alone, which says `repeat: false`; no one else would
    remind anyone of it, so its recipients are reminded after all."""
    run = Run(planner(escalate_after_working_hours=0, hold_outside_office_hours=False))
    stray = alert(3, center="451299101", rule="workflow.no_decision")
    assert sent_to(run.apply(stray, f"{MON}T09:00:00+08:00")) == [CITY_DIRECTOR]
    repeats = run.advance(f"{MON}T13:00:00+08:00")
    assert [n.id for n in repeats.outbox] == [f"{stray['alert_id']}:director-451200:repeat:1"]


def test_yellow_alerts_are_not_repeated() -> None:
    run = Run()
    run.apply(alert(severity="yellow"), f"{MON}T09:00:00+08:00")
    run.advance(f"{MON}T09:30:00+08:00")
    run.advance("2026-11-30T17:00:00+08:00")
    assert run.ids() == ["digest:451221:director-451221:1"]


# -- escalation ----------------------------------------------------------------------------


def test_escalation_after_two_office_hours_across_a_weekend_and_lunch() -> None:
    """Friday 17:00 -> 0.5 h on Friday, 1.5 h on Monday: 10:30 to the county; then 1.5 h to
    12:00 and 0.5 h after lunch: 14:00 to the city."""
    run = Run()
    red = alert(center=TOWNSHIP)
    aid = red["alert_id"]
    run.apply(red, "2026-11-27T17:00:00+08:00")
    assert run.advance("2026-11-30T10:29:59+08:00").escalations == []
    out = run.advance("2026-11-30T10:30:00+08:00")
    assert [(e.level, e.to_center, e.recipient_id) for e in out.escalations] == [
        (1, COUNTY, "director-451221")
    ]
    step = [n for n in out.outbox if n.kind == "escalation"]
    assert [n.id for n in step] == [f"{aid}:director-451221:escalation:1"]
    assert step[0].escalation is not None and step[0].escalation.at == t(
        "2026-11-30T10:30:00+08:00"
    )
    assert step[0].waited_working_hours == 2
    record = out.escalations[0].to_record()
    assert record["kind"] == "escalation" and record_kind(record) == "escalation"
    assert record["at"] == "2026-11-30T10:30:00+08:00" and record["level"] == 1
    assert run.advance("2026-11-30T13:59:59+08:00").escalations == []
    out = run.advance("2026-11-30T14:00:00+08:00")
    assert [(e.level, e.to_center, e.recipient_id) for e in out.escalations] == [
        (2, CITY, "director-451200")
    ]
    track = run.state.alerts[aid]
    assert [(s.level, s.center_id) for s in track.steps] == [(1, COUNTY), (2, CITY)]
    assert track.next_escalation is None  # the city is the top
    assert run.advance("2026-12-31T17:00:00+08:00").escalations == []


def test_escalation_counts_the_centers_regional_holidays() -> None:
    """壮族三月三 (Mon 2026-04-20) is a day off in Guangxi: Friday 17:00 -> Tuesday 10:30."""
    run = Run()
    run.apply(alert(center=COUNTY), "2026-04-17T17:00:00+08:00")
    assert run.advance("2026-04-20T17:00:00+08:00").escalations == []
    out = run.advance("2026-04-21T10:30:00+08:00")
    assert [(e.level, e.to_center, e.at) for e in out.escalations] == [
        (1, CITY, t("2026-04-21T10:30:00+08:00"))
    ]


def test_a_township_with_its_own_director_climbs_township_county_city() -> None:
    run = Run()
    red = alert(center="451221100")  # 城关镇 has its own director
    aid = red["alert_id"]
    out = run.apply(red, f"{MON}T09:00:00+08:00")
    assert sorted(sent_to(out)) == [
        "director-451200",
        "director-451221",
        "director-451221100",
        "inspection-office",
    ]
    run.advance(f"{MON}T17:30:00+08:00")
    assert [(s.level, s.center_id, s.recipient_id) for s in run.state.alerts[aid].steps] == [
        (1, COUNTY, "director-451221"),
        (2, CITY, "director-451200"),
    ]
    # the escalation chain does not look at the routes: the county and city directors had
    # the alert at once (routes with below) and are sent each step all the same, as a
    # separate 升级督办 (escalated) message; only the directors above the township are
    # in the chain, its own director is not
    assert [i for i in run.ids() if ":escalation:" in i] == [
        f"{aid}:director-451221:escalation:1",
        f"{aid}:director-451200:escalation:2",
    ]


def test_a_county_alert_goes_to_the_city_and_a_city_alert_nowhere() -> None:
    run = Run()
    county, city = alert(1, center=COUNTY), alert(2, center=CITY)
    run.apply(county, f"{MON}T09:00:00+08:00")
    run.apply(city, f"{MON}T09:00:00+08:00")
    out = run.advance(f"{MON}T17:30:00+08:00")
    assert [(e.alert_id, e.to_center) for e in out.escalations] == [(county["alert_id"], CITY)]
    assert run.state.alerts[city["alert_id"]].next_escalation is None


def test_acknowledging_stops_escalation_at_any_step() -> None:
    run = Run()
    red = alert(center=TOWNSHIP)
    run.apply(red, f"{MON}T09:00:00+08:00")
    run.apply(
        change(red["alert_id"], "acknowledge", f"{MON}T10:59:00+08:00"), f"{MON}T10:59:00+08:00"
    )
    assert run.advance("2026-12-31T17:00:00+08:00").escalations == []
    later = Run()
    later.apply(red, f"{MON}T09:00:00+08:00")
    assert len(later.advance(f"{MON}T11:00:00+08:00").escalations) == 1
    later.apply(
        change(red["alert_id"], "acknowledge", f"{MON}T11:10:00+08:00"), f"{MON}T11:10:00+08:00"
    )
    assert later.advance("2026-11-27T17:00:00+08:00").escalations == []
    assert len(later.state.alerts[red["alert_id"]].steps) == 1
    assert later.advance("2026-12-31T17:00:00+08:00").escalations == []


def test_an_acknowledgement_read_after_the_step_fell_due_does_not_hide_it() -> None:
    run = Run()
    red = alert(center=TOWNSHIP)
    run.apply(red, f"{MON}T09:00:00+08:00")
    # no timer ran at 11:00; the acknowledgement is read at 11:05
    out = run.apply(
        change(red["alert_id"], "acknowledge", f"{MON}T11:05:00+08:00"), f"{MON}T11:05:00+08:00"
    )
    assert [e.level for e in out.escalations] == [1]
    assert run.state.alerts[red["alert_id"]].status == "acknowledged"


def test_an_acknowledgement_made_in_time_but_read_late_still_stops_escalation() -> None:
    """Acknowledged at 10:30, read at 11:05 (the notifier was down): the 11:00 step was
    not due when the alert was acknowledged, so it never goes out."""
    run = Run()
    red = alert(center=TOWNSHIP)
    run.apply(red, f"{MON}T09:00:00+08:00")
    out = run.apply(
        change(red["alert_id"], "acknowledge", f"{MON}T10:30:00+08:00"), f"{MON}T11:05:00+08:00"
    )
    assert out.escalations == [] and out.outbox == []
    assert run.advance(f"{MON}T17:00:00+08:00").escalations == []


def test_a_yellow_alert_resolved_before_its_digest_but_read_after_is_left_out() -> None:
    run = Run()
    first, second = (
        alert(center=TOWNSHIP, severity="yellow"),
        alert(center=TOWNSHIP, severity="yellow", n=2),
    )
    run.apply(first, f"{MON}T09:00:00+08:00")
    run.apply(second, f"{MON}T09:05:00+08:00")
    # resolved at 09:10, before the 09:30 digest; read at 09:40
    out = run.apply(
        change(first["alert_id"], "resolve", f"{MON}T09:10:00+08:00"), f"{MON}T09:40:00+08:00"
    )
    later = run.advance(f"{MON}T09:40:00+08:00")
    digested = [
        (n.recipient.id, [a.alert_id for a in n.alerts]) for n in [*out.outbox, *later.outbox]
    ]
    # the digests went out, without the first
    assert digested == [
        (COUNTY_DIRECTOR, [second["alert_id"]]),
    ]


def test_resolution_and_withdrawal_stop_escalation() -> None:
    for stop in ("resolve", "withdraw"):
        run = Run()
        red = alert(center=TOWNSHIP)
        run.apply(red, f"{MON}T09:00:00+08:00")
        record = (
            change(red["alert_id"], "resolve", f"{MON}T10:00:00+08:00")
            if stop == "resolve"
            else withdrawal(red, f"{MON}T10:00:00+08:00")
        )
        run.apply(record, f"{MON}T10:00:00+08:00")
        assert run.advance("2026-11-27T17:00:00+08:00").outbox == []
        assert run.state.alerts[red["alert_id"]].closed_at == t(f"{MON}T10:00:00+08:00")
        assert run.advance("2026-12-31T17:00:00+08:00").outbox == []


def test_an_appeal_pauses_and_a_rejected_appeal_restarts_the_clocks() -> None:
    run = Run()
    red = alert(center=TOWNSHIP)
    aid = red["alert_id"]
    run.apply(red, f"{MON}T09:00:00+08:00")
    run.apply(change(aid, "appeal", f"{MON}T10:00:00+08:00"), f"{MON}T10:00:00+08:00")
    assert run.advance(f"{MON}T17:30:00+08:00").outbox == []
    run.apply(
        change(aid, "reject_appeal", "2026-11-24T09:00:00+08:00"), "2026-11-24T09:00:00+08:00"
    )
    assert run.state.alerts[aid].status == "open"
    assert run.advance("2026-11-24T10:59:59+08:00").escalations == []
    assert [e.level for e in run.advance("2026-11-24T11:00:00+08:00").escalations] == [1]
    # an appeal accepted: withdrawn, everything stops
    run.apply(change(aid, "appeal", "2026-11-24T11:10:00+08:00"), "2026-11-24T11:10:00+08:00")
    run.apply(
        change(aid, "accept_appeal", "2026-11-24T11:20:00+08:00"), "2026-11-24T11:20:00+08:00"
    )
    assert run.state.alerts[aid].status == "withdrawn"
    assert run.advance("2026-12-31T17:00:00+08:00").outbox == []


def test_escalation_off_and_configurable_delay() -> None:
    off = Run(planner(escalate_after_working_hours=0))
    off.apply(alert(center=TOWNSHIP), f"{MON}T09:00:00+08:00")
    assert off.advance("2026-12-31T17:00:00+08:00").escalations == []
    quick = Run(planner(escalate_after_working_hours=0.5))
    quick.apply(alert(center=TOWNSHIP), f"{MON}T11:45:00+08:00")
    assert [e.at for e in quick.advance(f"{MON}T14:00:00+08:00").escalations] == [
        t(f"{MON}T13:45:00+08:00")  # 15 min before lunch, 15 after
    ]


def test_an_escalation_read_back_from_the_journal_changes_nothing() -> None:
    run = Run()
    red = alert(center=TOWNSHIP)
    run.apply(red, f"{MON}T09:00:00+08:00")
    out = run.advance(f"{MON}T11:00:00+08:00")
    before = run.state.to_json()
    back = run.apply(out.escalations[0].to_record(), f"{MON}T11:00:01+08:00")
    assert back.outbox == [] and run.state.to_json() == before


def test_an_escalation_written_by_another_notifier_is_taken_as_done() -> None:
    first, second = Run(), Run()
    red = alert(center=TOWNSHIP)
    first.apply(red, f"{MON}T09:00:00+08:00")
    second.apply(red, f"{MON}T09:00:00+08:00")
    record = first.advance(f"{MON}T11:00:00+08:00").escalations[0].to_record()
    second.apply(record, f"{MON}T10:59:00+08:00")  # read before its own timer
    assert second.advance(f"{MON}T11:00:00+08:00").escalations == []
    assert [e.level for e in second.advance(f"{MON}T14:30:00+08:00").escalations] == [2]


# -- the journal's order, idempotency, JSON ------------------------------------------------


def test_a_change_read_before_its_alert_is_applied_when_the_alert_comes() -> None:
    run = Run()
    red = alert()
    run.apply(
        change(red["alert_id"], "acknowledge", f"{MON}T09:00:00+08:00"), f"{MON}T09:00:00+08:00"
    )
    out = run.apply(red, f"{MON}T09:00:01+08:00")
    assert out.outbox == []  # already acknowledged: nothing to send
    assert run.state.alerts[red["alert_id"]].status == "acknowledged"
    assert run.state.early == {}


def test_the_same_record_twice_changes_nothing() -> None:
    red, yellow = alert(1), alert(2, severity="yellow")
    records = [
        red,
        yellow,
        change(red["alert_id"], "acknowledge", f"{MON}T09:10:00+08:00"),
        change(yellow["alert_id"], "resolve", f"{MON}T09:11:00+08:00"),
        withdrawal(red, f"{MON}T09:12:00+08:00"),
    ]
    run = Run()
    for n, record in enumerate(records):
        at = f"{MON}T09:{10 + n:02d}:00+08:00"
        first = run.apply(record, at)
        state = run.state.to_json()
        again = run.apply(record, at)
        assert again.outbox == [] and again.escalations == [] and again.ignored
        assert run.state.to_json() == state
        assert first.state is not again.state


def test_a_position_already_applied_is_skipped() -> None:
    run = Run()
    red = alert()
    run.apply(red, f"{MON}T09:00:00+08:00", seq=7)
    ack = change(red["alert_id"], "acknowledge", f"{MON}T09:01:00+08:00")
    out = run.apply(ack, f"{MON}T09:01:00+08:00", seq=7)  # a replayed offset
    assert out.ignored == "position 7 already applied"
    assert run.state.alerts[red["alert_id"]].status == "open"
    run.apply(ack, f"{MON}T09:01:00+08:00", seq=8)
    assert run.state.alerts[red["alert_id"]].status == "acknowledged" and run.state.head == 8


def test_apply_and_advance_leave_the_given_state_alone() -> None:
    run = Run()
    run.apply(alert(severity="yellow"), f"{MON}T09:00:00+08:00")
    before = run.state.to_json()
    plan = run.plan
    plan.advance(run.state, t(f"{MON}T12:00:00+08:00"))
    plan.apply(run.state, alert(2), t(f"{MON}T12:00:00+08:00"))
    assert run.state.to_json() == before


def test_the_state_survives_a_json_round_trip_mid_flight() -> None:
    straight, restarted = Run(), Run()
    records = [
        (alert(1, center=TOWNSHIP), f"{MON}T09:00:00+08:00"),
        (alert(2, severity="yellow"), f"{MON}T09:05:00+08:00"),
        (alert(3, severity="yellow", center=TOWNSHIP), f"{MON}T09:06:00+08:00"),
    ]
    for record, at in records:
        straight.apply(record, at)
        restarted.apply(record, at)
    text = json.dumps(restarted.state.to_json(), ensure_ascii=False)
    restarted.state = NotifyState.from_json(json.loads(text))
    assert restarted.state == straight.state
    for at in (f"{MON}T09:35:00+08:00", f"{MON}T11:00:00+08:00", "2026-11-30T17:30:00+08:00"):
        a, b = straight.advance(at), restarted.advance(at)
        assert [n.to_json() for n in a.outbox] == [n.to_json() for n in b.outbox]
        assert [e.to_record() for e in a.escalations] == [e.to_record() for e in b.escalations]
    assert straight.state.to_json() == restarted.state.to_json()
    assert len(set(straight.ids())) == len(straight.ids()) > 5


def test_next_due_tells_the_timer_when_to_wake() -> None:
    run = Run()
    assert run.plan.next_due(run.state) is None
    run.apply(alert(severity="yellow"), f"{MON}T09:00:00+08:00")
    assert run.plan.next_due(run.state) == t(f"{MON}T09:30:00+08:00")
    run.apply(alert(2), f"{MON}T09:10:00+08:00")
    assert run.plan.next_due(run.state) == t(f"{MON}T09:30:00+08:00")
    run.advance(f"{MON}T09:30:00+08:00")
    assert run.plan.next_due(run.state) == t(f"{MON}T11:10:00+08:00")  # the escalation


def test_alerts_done_with_are_forgotten_after_keep_closed_days() -> None:
    run = Run()
    red, yellow = alert(1), alert(2, severity="yellow")
    run.apply(red, f"{MON}T09:00:00+08:00")
    run.apply(yellow, f"{MON}T09:00:00+08:00")
    run.apply(change(red["alert_id"], "resolve", f"{MON}T09:10:00+08:00"), f"{MON}T09:10:00+08:00")
    run.advance(f"{MON}T09:30:00+08:00")
    run.advance("2026-11-30T09:09:59+08:00")
    assert set(run.state.alerts) == {red["alert_id"], yellow["alert_id"]}
    run.advance("2026-11-30T09:30:00+08:00")
    assert run.state.alerts == {}


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        planner().advance(NotifyState(), t("2026-11-23T09:00:00"))


def test_a_malformed_record_is_ignored_not_fatal() -> None:
    out = Run().apply({"hello": "world"}, f"{MON}T09:00:00+08:00", seq=3)
    assert out.outbox == [] and out.skipped == "invalid" and out.state.head == 3
    assert out.ignored is not None and out.ignored.startswith("alert: alert_id: Field required")


def test_a_late_reply_to_a_supervision_order_escalates_like_any_red_alert() -> None:
    """`supervision.reply_overdue`, raised by the web service, is notified at once and
    escalated up the hierarchy in office hours, as a red alert of the rule book is."""
    due = t("2026-11-27T17:00:00+08:00")  # a Friday
    issued = orders.issue_record(
        "DB20261120-ABCDEF",
        center_id=TOWNSHIP,
        case_id=f"{TOWNSHIP}-2026-0000042",
        alert_id=None,
        requirement="请核实超期原因并整改",
        days=5,
        due_at=due,
        by={"name": "王监察", "role": "inspector"},
        at=t("2026-11-20T10:00:00+08:00"),
    )
    red = orders.overdue_alert(orders.apply(None, issued, 1), "南丹县大厂镇")
    run = Run()
    out = run.apply(red, "2026-11-27T17:00:00+08:00")
    assert "director-451221" in [n.recipient.id for n in out.outbox if n.kind == "alert"]
    assert run.advance("2026-11-30T10:29:59+08:00").escalations == []
    escalated = run.advance("2026-11-30T10:30:00+08:00").escalations
    assert [(e.alert_id, e.level, e.to_center) for e in escalated] == [(red["alert_id"], 1, COUNTY)]
