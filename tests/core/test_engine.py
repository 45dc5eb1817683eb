"""The canonical rules of issue 2 (and the cheap ones beside them), to the second."""

from __future__ import annotations

from datetime import datetime

from supervisor.core.alerts import Alert
from supervisor.core.events import CaseEvent
from supervisor.core.runner import Runner

from .factories import accepted, engine, event


def run(*events: CaseEvent, until: str | None = None) -> list[Alert]:
    runner = Runner(engine())
    alerts: list[Alert] = []
    for item in events:
        alerts += runner.feed(item)
    if until:
        alerts += runner.advance(datetime.fromisoformat(until))
    return alerts


def raised(alerts: list[Alert]) -> list[tuple[str, str]]:
    return [(a.rule_id, a.raised_at.isoformat()) for a in alerts]


ACCEPTED = "2026-09-30T10:00:00+08:00"  # the contract's worked example


def test_overdue_fires_at_the_deadline_itself() -> None:
    alerts = run(accepted(ACCEPTED, 3), until="2026-10-12T09:00:00+08:00")
    assert ("deadline.overdue", "2026-10-11T00:00:00+08:00") in raised(alerts)
    overdue = next(a for a in alerts if a.rule_id == "deadline.overdue")
    assert overdue.alert_id == "deadline.overdue:451221-2026-0000001"
    assert overdue.severity == "red"
    assert overdue.title == "办件超期"
    assert "2026-10-10 24:00" in overdue.message


def test_concluded_before_the_deadline_is_not_overdue() -> None:
    alerts = run(
        accepted(ACCEPTED, 3),
        event("decided", "2026-10-10T16:00:00+08:00", outcome="approve"),
        event("concluded", "2026-10-10T23:59:59+08:00"),
        until="2026-10-20T00:00:00+08:00",
    )
    assert "deadline.overdue" not in [a.rule_id for a in alerts]


def test_concluded_after_the_deadline_raises_overdue_at_the_deadline() -> None:
    alerts = run(
        accepted(ACCEPTED, 3),
        event("decided", "2026-10-12T09:00:00+08:00", outcome="approve"),
        event("concluded", "2026-10-12T09:05:00+08:00"),
    )
    assert raised(alerts)[:2] == [
        ("deadline.warning", "2026-10-10T09:36:00+08:00"),  # 80% of 72 h = 57.6 h
        ("deadline.overdue", "2026-10-11T00:00:00+08:00"),
    ]


def test_warning_at_80_percent_of_the_promised_working_time() -> None:
    # 5 working days from Mon 2026-11-23: Tue 24 .. Mon 30; 80% = 4 days → 24:00 Fri 27.
    alerts = run(accepted("2026-11-23T10:00:00+08:00", 5), until="2026-11-28T00:00:00+08:00")
    assert raised(alerts) == [("deadline.warning", "2026-11-28T00:00:00+08:00")]
    assert alerts[0].severity == "yellow"


def test_no_warning_a_second_before_80_percent() -> None:
    alerts = run(accepted("2026-11-23T10:00:00+08:00", 5), until="2026-11-27T23:59:59+08:00")
    assert alerts == []


def test_warning_can_be_one_working_day_before(tmp_path: object) -> None:
    from pathlib import Path

    import yaml

    rules = yaml.safe_load((Path(__file__).parents[2] / "rules/canonical.yaml").read_text())
    for rule in rules["rules"]:
        if rule["id"] == "deadline.warning":
            rule["params"] = {"mode": "remaining", "remaining_working_days": 1}
    directory = Path(str(tmp_path))
    (directory / "rules.yaml").write_text(yaml.safe_dump(rules, allow_unicode=True))
    runner = Runner(engine(directory))
    alerts = runner.feed(accepted("2026-11-23T10:00:00+08:00", 5))
    alerts += runner.advance(datetime.fromisoformat("2026-12-01T00:00:00+08:00"))
    # The 5th working day is Mon 30 → warning at its start, 24:00 Fri 27 (weekend skipped).
    assert ("deadline.warning", "2026-11-28T00:00:00+08:00") in raised(alerts)


def test_suspension_moves_the_deadline_by_the_working_time_suspended() -> None:
    # Accepted Mon 23; 3 working days → 24:00 Thu 26. Suspended Wed 25 12:00 → Mon 30
    # 12:00: suspended working time = 12h (Wed) + Thu 26 + Fri 27 + 12h (Mon) = 3 days,
    # the weekend not counted. Deadline moves to 24:00 Thu 26 + 3 working days = 24:00 Tue 1 Dec.
    alerts = run(
        accepted("2026-11-23T10:00:00+08:00", 3, statutory=None),
        event(
            "suspended", "2026-11-25T12:00:00+08:00", reason_code="inspection", reason="现场核查"
        ),
        event("resumed", "2026-11-30T12:00:00+08:00"),
        until="2026-12-02T01:00:00+08:00",
    )
    assert ("deadline.overdue", "2026-12-02T00:00:00+08:00") in raised(alerts)


def test_no_deadline_fires_while_suspended() -> None:
    alerts = run(
        accepted("2026-11-23T10:00:00+08:00", 3, statutory=None),
        event("suspended", "2026-11-24T09:00:00+08:00", reason_code="testing"),
        until="2026-12-04T00:00:00+08:00",
    )
    assert [a.rule_id for a in alerts] == []


def test_approved_extension_moves_both_deadlines_unapproved_moves_none() -> None:
    approved = run(
        accepted(ACCEPTED, 3),
        event(
            "extended",
            "2026-10-09T09:00:00+08:00",
            value=2,
            unit="working_day",
            approved_by="局长",
            reason="需补充核查",
        ),
        until="2026-10-15T00:00:00+08:00",
    )
    # 24:00 Sat 10 Oct + 2 working days (Sunday off): Mon 12, Tue 13 → 24:00 Tue.
    assert ("deadline.overdue", "2026-10-14T00:00:00+08:00") in raised(approved)
    unapproved = run(
        accepted(ACCEPTED, 3),
        event("extended", "2026-10-09T09:00:00+08:00", value=2, unit="working_day"),
        until="2026-10-14T00:00:00+08:00",
    )
    assert ("deadline.overdue", "2026-10-11T00:00:00+08:00") in raised(unapproved)
    assert ("extension.unapproved", "2026-10-09T09:00:00+08:00") in raised(unapproved)


def test_statutory_overdue() -> None:
    alerts = run(
        accepted("2026-11-02T10:00:00+08:00", 5, statutory=(20, "working_day")),
        until="2026-12-01T00:00:00+08:00",
    )
    # Tue 3 Nov + 20 working days → Mon 30 Nov → 24:00.
    assert ("deadline.statutory_overdue", "2026-12-01T00:00:00+08:00") in raised(alerts)


def test_workflow_no_decision_on_a_non_immediate_case() -> None:
    alerts = run(accepted(ACCEPTED, 3), event("concluded", "2026-10-08T10:00:00+08:00"))
    assert ("workflow.no_decision", "2026-10-08T10:00:00+08:00") in raised(alerts)


def test_immediate_case_concluded_without_decision_is_fine() -> None:
    alerts = run(accepted(ACCEPTED, 1, immediate=True), event("concluded", ACCEPTED))
    assert alerts == []


def test_fee_overcharge_above_the_standard_and_on_a_free_item() -> None:
    over = run(
        accepted(ACCEPTED, 3, fee_standard=20),
        event("fee_charged", "2026-09-30T10:05:00+08:00", amount=15),
        event("fee_charged", "2026-09-30T10:06:00+08:00", amount=10),
    )
    assert raised(over) == [("fee.overcharge", "2026-09-30T10:06:00+08:00")]
    exact = run(
        accepted(ACCEPTED, 3, fee_standard=20),
        event("fee_charged", "2026-09-30T10:05:00+08:00", amount=20),
    )
    assert exact == []
    free = run(accepted(ACCEPTED, 3), event("fee_charged", "2026-09-30T10:05:00+08:00", amount=1))
    assert [a.rule_id for a in free] == ["fee.overcharge"]


def test_supplement_repeated_on_the_second_request() -> None:
    alerts = run(
        event("submitted", "2026-11-16T09:00:00+08:00"),
        event("supplement_requested", "2026-11-16T09:10:00+08:00", missing_materials=["a"]),
        event("supplement_received", "2026-11-17T09:00:00+08:00"),
        event("supplement_requested", "2026-11-17T09:30:00+08:00", missing_materials=["b"]),
    )
    assert raised(alerts) == [("supplement.repeated", "2026-11-17T09:30:00+08:00")]
    assert alerts[0].severity == "red"
    assert "行政许可法" in alerts[0].details["basis"]


def test_one_supplement_request_is_fine() -> None:
    assert (
        run(
            event("submitted", "2026-11-16T09:00:00+08:00"),
            event("supplement_requested", "2026-11-16T09:10:00+08:00"),
        )
        == []
    )


def test_a_redelivered_event_changes_nothing() -> None:
    first = event("supplement_requested", "2026-11-16T09:10:00+08:00", event_id="same")
    second = event("supplement_requested", "2026-11-17T09:10:00+08:00", event_id="other")
    runner = Runner(engine())
    alerts = runner.feed(first) + runner.feed(first) + runner.feed(second) + runner.feed(second)
    assert [a.rule_id for a in alerts] == ["supplement.repeated"]
    assert runner.duplicates == 2


def test_the_same_events_give_the_same_alert_ids_in_a_fresh_engine() -> None:
    events = [
        accepted(ACCEPTED, 3, fee_standard=0),
        event("fee_charged", "2026-10-08T09:00:00+08:00", amount=5),
        event("concluded", "2026-10-12T09:00:00+08:00"),
    ]
    first = [a.to_dict() for a in run(*events)]
    again = [a.to_dict() for a in run(*events)]
    assert first == again
    assert len({a["alert_id"] for a in first}) == len(first)


def test_out_of_order_event_is_flagged_once_per_event() -> None:
    alerts = run(
        accepted(ACCEPTED, 3),
        event("decided", "2026-10-08T09:00:00+08:00", outcome="approve"),
        event("concluded", "2026-10-08T10:00:00+08:00"),
        event("step_completed", "2026-10-08T11:00:00+08:00", step="review", event_id="late-step"),
    )
    assert [a.alert_id for a in alerts] == ["workflow.out_of_order:451221-2026-0000001:late-step"]


def test_a_conclusion_before_acceptance_is_flagged_and_the_case_still_supervised() -> None:
    """Contract §4's own example of an event out of order: `concluded` before
    `accepted`. It is flagged and not applied, so the acceptance after it starts the case
    and its deadline runs; a second conclusion is flagged and moves nothing."""
    alerts = run(
        event("submitted", "2026-10-08T08:00:00+08:00"),
        event("concluded", "2026-10-08T08:30:00+08:00", event_id="stray"),
        accepted("2026-10-08T09:00:00+08:00", 1, statutory=None),
        event("concluded", "2026-10-12T10:00:00+08:00", event_id="late-end"),
        event("concluded", "2026-10-13T10:00:00+08:00", event_id="again"),
        until="2026-10-14T00:00:00+08:00",
    )
    case = "451221-2026-0000001"
    assert [a.alert_id for a in alerts if a.rule_id == "workflow.out_of_order"] == [
        f"workflow.out_of_order:{case}:stray",
        f"workflow.out_of_order:{case}:again",
    ]
    # 1 working day from Thursday 8 October (Saturday 10 is a make-up working day)
    [overdue] = [a for a in alerts if a.rule_id == "deadline.overdue"]
    assert overdue.raised_at == datetime.fromisoformat("2026-10-10T00:00:00+08:00")


def test_decided_before_required_steps_is_step_skipped() -> None:
    alerts = run(
        accepted(ACCEPTED, 3, required_steps=["review", "site_inspection"]),
        event("step_completed", "2026-10-08T09:00:00+08:00", step="review"),
        event("decided", "2026-10-08T10:00:00+08:00", outcome="approve"),
    )
    assert raised(alerts) == [("workflow.step_skipped", "2026-10-08T10:00:00+08:00")]
    assert "site_inspection" in alerts[0].message


def test_deny_without_reason_and_not_accepted_without_reason() -> None:
    deny = run(accepted(ACCEPTED, 3), event("decided", "2026-10-08T10:00:00+08:00", outcome="deny"))
    assert [a.rule_id for a in deny] == ["rejection.no_reason"]
    refused = run(event("not_accepted", "2026-10-08T10:00:00+08:00"))
    assert [a.rule_id for a in refused] == ["rejection.no_reason"]
    with_reason = run(event("not_accepted", "2026-10-08T10:00:00+08:00", reason="材料不全"))
    assert with_reason == []


def test_negative_evaluation_and_its_rectification_deadline() -> None:
    alerts = run(
        accepted(ACCEPTED, 3, immediate=True),
        event("concluded", "2026-09-30T10:30:00+08:00"),
        event("evaluated", "2026-09-30T11:00:00+08:00", level=2),
        until="2026-11-01T00:00:00+08:00",
    )
    # 15 working days after 30 Sep: 8, 9, 10 (Sat), 12..16, 19..23, 26, 27 Oct → 24:00 27th.
    assert raised(alerts) == [
        ("evaluation.negative", "2026-09-30T11:00:00+08:00"),
        ("evaluation.unrectified", "2026-10-28T00:00:00+08:00"),
    ]


def test_conclusion_too_fast() -> None:
    alerts = run(
        accepted(ACCEPTED, 3),
        event("decided", "2026-09-30T10:04:00+08:00", outcome="approve"),
        event("concluded", "2026-09-30T10:09:59+08:00"),
    )
    assert [a.rule_id for a in alerts] == ["conclusion.too_fast"]
    slow_enough = run(
        accepted(ACCEPTED, 3),
        event("decided", "2026-09-30T10:04:00+08:00", outcome="approve"),
        event("concluded", "2026-09-30T10:10:00+08:00"),
    )
    assert slow_enough == []


def test_alert_text_never_carries_applicant_data() -> None:
    from .factories import event_doc

    doc = event_doc(
        "accepted", ACCEPTED, item_code="X", promised_limit={"value": 1, "unit": "working_day"}
    )
    doc["applicant"] = {"name": "李小梅", "id_number": "452727198805060021", "phone": "13977881234"}
    from supervisor.core.events import from_document

    alerts = run(from_document(doc), event("concluded", "2026-10-12T09:00:00+08:00"))
    text = repr([a.to_dict() for a in alerts])
    assert alerts
    for secret in ("李小梅", "452727198805060021", "13977881234"):
        assert secret not in text


def test_each_bad_rating_has_its_own_alerts_and_deadline() -> None:
    case = "451221-2026-0000001"
    alerts = run(
        accepted(ACCEPTED, 3, immediate=True),
        event("concluded", "2026-09-30T10:30:00+08:00"),
        event("evaluated", "2026-11-03T10:00:00+08:00", level=1),
        event("rectified", "2026-11-04T10:00:00+08:00"),
        event("evaluated", "2026-11-05T10:00:00+08:00", level=2),
        until="2026-12-31T00:00:00+08:00",
    )
    # The second bad rating (Thu 5 Nov) is never put right: 15 working days → 24:00 Thu 26.
    assert [(a.alert_id, a.raised_at.isoformat()) for a in alerts] == [
        (f"evaluation.negative:{case}", "2026-11-03T10:00:00+08:00"),
        (f"evaluation.negative:{case}:2", "2026-11-05T10:00:00+08:00"),
        (f"evaluation.unrectified:{case}:2", "2026-11-27T00:00:00+08:00"),
    ]


def test_a_second_unapproved_extension_is_a_second_alert() -> None:
    alerts = run(
        accepted(ACCEPTED, 3),
        event("extended", "2026-10-08T09:00:00+08:00", value=1, unit="working_day"),
        event("extended", "2026-10-09T09:00:00+08:00", value=1, unit="working_day"),
    )
    ids = [a.alert_id for a in alerts if a.rule_id == "extension.unapproved"]
    assert ids == [
        "extension.unapproved:451221-2026-0000001",
        "extension.unapproved:451221-2026-0000001:2",
    ]


def test_each_suspension_stretch_is_judged_on_its_own() -> None:
    alerts = run(
        accepted("2026-11-02T10:00:00+08:00", 5, statutory=None),
        event("suspended", "2026-11-03T10:00:00+08:00", reason_code="testing"),
        event("resumed", "2026-11-04T10:00:00+08:00"),
        event("suspended", "2026-11-05T10:00:00+08:00"),  # no reason, and never resumed
        until="2027-01-31T00:00:00+08:00",
    )
    by_id = {a.alert_id: a.raised_at.isoformat() for a in alerts}
    case = "451221-2026-0000001"
    assert by_id[f"suspension.no_reason:{case}"] == "2026-11-05T10:00:00+08:00"
    # 30 working days of suspension from Thu 5 Nov 10:00 → Thu 17 Dec 10:00.
    assert by_id[f"suspension.too_long:{case}:2"] == "2026-12-17T10:00:00+08:00"
    assert f"suspension.too_long:{case}" not in by_id  # the first stretch was one day


def test_reasons_are_checked_whatever_the_state() -> None:
    early = run(event("suspended", "2026-11-03T10:00:00+08:00"))
    assert sorted(a.rule_id for a in early) == ["suspension.no_reason", "workflow.out_of_order"]
    late_refusal = run(accepted(ACCEPTED, 3), event("not_accepted", "2026-10-08T10:00:00+08:00"))
    assert sorted(a.rule_id for a in late_refusal) == [
        "rejection.no_reason",
        "workflow.out_of_order",
    ]


# -- contract §2's time rules where suspensions, extensions and ties meet --------------


def test_a_natural_day_extension_moves_the_deadline_it_finds_suspensions_included() -> None:
    # 2 working days from Mon 21 Sep: 24:00 Wed 23. Suspended Tue 22 10:00 to Thu 24
    # 10:00 (two working days): 24:00 Mon 28 (Fri 25 is Mid-Autumn, then the weekend).
    # Extended by 3 calendar days after that: 24:00 Thu 1 Oct, a holiday, so 24:00 of the
    # next working day, Thu 8 Oct. Counted from the deadline before the suspension
    # instead, the 3 days ended on 30 Sep, and the case was overdue 8 days early.
    alerts = run(
        accepted("2026-09-21T10:00:00+08:00", 2, statutory=(2, "working_day")),
        event("suspended", "2026-09-22T10:00:00+08:00", reason_code="inspection"),
        event("resumed", "2026-09-24T10:00:00+08:00"),
        event(
            "extended",
            "2026-09-25T09:00:00+08:00",
            value=3,
            unit="natural_day",
            approved_by="局长",
            reason="需补充现场核查",
        ),
        until="2026-10-31T00:00:00+08:00",
    )
    assert ("deadline.overdue", "2026-10-09T00:00:00+08:00") in raised(alerts)
    assert ("deadline.statutory_overdue", "2026-10-09T00:00:00+08:00") in raised(alerts)


def test_time_suspended_on_the_day_of_acceptance_moves_the_deadline_too() -> None:
    # The limit's clock starts at 24:00 of the day of acceptance, but the deadline moves by
    # every working second suspended (contract §2): 4 hours on Mon 2 Nov.
    alerts = run(
        accepted("2026-11-02T10:00:00+08:00", 2, statutory=None),
        event("suspended", "2026-11-02T11:00:00+08:00", reason_code="hearing"),
        event("resumed", "2026-11-02T15:00:00+08:00"),
        until="2026-11-30T00:00:00+08:00",
    )
    assert ("deadline.overdue", "2026-11-05T04:00:00+08:00") in raised(alerts)


def test_a_natural_day_limit_warns_at_80_percent_of_its_calendar_days() -> None:
    # 10 calendar days from Mon 28 Sep: 24:00 Thu 8 Oct; 8 of them have elapsed at 24:00
    # Tue 6 Oct, in the National Day holidays (a calendar limit runs through them).
    alerts = run(
        accepted("2026-09-28T10:00:00+08:00", 10, "natural_day", statutory=None),
        until="2026-10-31T00:00:00+08:00",
    )
    assert raised(alerts) == [
        ("deadline.warning", "2026-10-07T00:00:00+08:00"),
        ("deadline.overdue", "2026-10-09T00:00:00+08:00"),
    ]


def test_events_of_the_same_second_are_judged_in_a_cases_order_whatever_came_first() -> None:
    # A center stamped the acceptance and the suspension alike and sent the suspension
    # first: judged after the acceptance, it stops the clock, and the workflow.out_of_order
    # raised when it came alone is resolved as wrong. 5 working days suspended (Mon 2
    # 10:00 to Mon 9 10:00) move 24:00 Wed 4 to 24:00 Wed 11, in either order of arrival.
    at = "2026-11-02T10:00:00+08:00"
    accept = accepted(at, 2, statutory=None, event_id="tie-1")
    suspend = event("suspended", at, reason_code="inspection", event_id="tie-2")
    resume = event("resumed", "2026-11-09T10:00:00+08:00", event_id="tie-3")
    for story in ([suspend, accept, resume], [accept, suspend, resume]):
        runner = Runner(engine())
        alerts: list[Alert] = []
        for item in story:
            alerts += runner.feed(item)
        alerts += runner.advance(datetime.fromisoformat("2026-11-30T00:00:00+08:00"))
        wrong = {resolution.alert_id for resolution in runner.resolved}
        standing = [a for a in alerts if a.alert_id not in wrong]
        assert raised(standing) == [
            ("deadline.warning", "2026-11-11T14:24:00+08:00"),
            ("deadline.overdue", "2026-11-12T00:00:00+08:00"),
        ]


def test_a_step_stamped_with_its_decision_is_no_step_skipped_whatever_came_first() -> None:
    at = "2026-11-03T10:00:00+08:00"
    accept = accepted("2026-11-02T10:00:00+08:00", 5, required_steps=["审查"])
    step = event("step_completed", at, step="审查", outcome="pass", event_id="s-1")
    decide = event("decided", at, outcome="approve", event_id="d-1")
    for story in ([accept, decide, step], [accept, step, decide]):
        runner = Runner(engine())
        alerts: list[Alert] = []
        for item in story:
            alerts += runner.feed(item)
        wrong = {resolution.alert_id for resolution in runner.resolved}
        assert [a.rule_id for a in alerts if a.alert_id not in wrong] == []


def test_a_natural_day_warning_comes_before_its_deadline_whatever_moved_it() -> None:
    # 1 calendar day from Fri 23 Jan (24:00 Sat 24, a day off: 24:00 Mon 26); suspended
    # Sun 25 14:17 to Tue 27 16:17 (Mon 26 and 16h17 of Tue: 40h17 of working time);
    # then 5 more calendar days. The warning falls a fifth of the limit's calendar span
    # before the deadline as it stands, never after it.
    alerts = run(
        accepted("2026-01-23T12:17:00+08:00", 1, "natural_day", statutory=None),
        event("suspended", "2026-01-25T14:17:00+08:00", reason_code="inspection"),
        event("resumed", "2026-01-27T16:17:00+08:00"),
        event(
            "extended",
            "2026-01-27T17:17:00+08:00",
            value=5,
            unit="natural_day",
            approved_by="局长",
            reason="补充材料",
        ),
        until="2026-02-10T00:00:00+08:00",
    )
    shown = dict(raised(alerts))
    assert shown["deadline.overdue"] == "2026-02-02T16:17:00+08:00"
    assert shown["deadline.warning"] < shown["deadline.overdue"]
