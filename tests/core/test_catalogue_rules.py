"""Contract §8: the item catalogue, stage limits and complaints, each rule's firing case
and its near miss to the second, over weekends, holidays, a make-up working day and a
suspension inside a stage. Then the catalogue file: refused with its file and line.

2026 calendar facts used (State Council schedule): National Day 1-7 October off,
Saturday 10 October a make-up working day; 21-22 and 28-29 November are weekends.
"""

from __future__ import annotations

import shutil
import textwrap
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from supervisor.core.alerts import Alert
from supervisor.core.calendar import WorkCalendar
from supervisor.core.catalogue import Catalogue, CatalogueError
from supervisor.core.engine import Engine
from supervisor.core.events import CaseEvent
from supervisor.core.rules import RuleBook, RuleError
from supervisor.core.runner import Runner

from .factories import ROOT, accepted, event

CASE = "451221-2026-0000001"
CODE = "451221-XK-0042"

CATALOGUE = f"""\
items:
  - item_code: {CODE}
    name: 食品经营许可（新办）
    department: 南丹县市场监督管理局
    promised_limit: {{value: 5, unit: working_day}}
    statutory_limit: {{value: 20, unit: working_day}}
    fee_standard: 0
    steps:
      - {{step: review, name: 审查, limit: {{value: 1, unit: working_day}}}}
      - {{step: site_inspection, name: 现场核查, limit: {{value: 2, unit: natural_day}}}}
      - {{step: approval, name: 审批, limit: {{value: 1, unit: working_day}}}}
"""


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def rules_with_catalogue(folder: Path, text: str = CATALOGUE) -> Path:
    shutil.copytree(ROOT / "rules", folder, ignore=shutil.ignore_patterns("catalogue"))
    (folder / "catalogue").mkdir(exist_ok=True)
    (folder / "catalogue" / "items.yaml").write_text(text, encoding="utf-8")
    return folder


@cache
def catalogued() -> Engine:
    folder = Path(__file__).resolve().parent / ".catalogue-rules"
    if folder.exists():
        shutil.rmtree(folder)
    try:
        book = RuleBook.load(rules_with_catalogue(folder))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return Engine(book, WorkCalendar("Asia/Shanghai"))


@cache
def plain() -> Engine:
    return Engine(RuleBook.load(ROOT / "rules"), WorkCalendar("Asia/Shanghai"))


def run(*events: CaseEvent, until: str | None = None, eng: Engine | None = None) -> list[Alert]:
    runner = Runner(eng or catalogued())
    alerts: list[Alert] = []
    for item in events:
        alerts += runner.feed(item)
    if until:
        alerts += runner.advance(at(until))
    return alerts


def of(alerts: list[Alert], rule_id: str) -> list[Alert]:
    return [alert for alert in alerts if alert.rule_id == rule_id]


def stage(alerts: list[Alert], step: str) -> list[Alert]:
    """The `stage.overdue` alerts of one step."""
    return [a for a in of(alerts, "stage.overdue") if a.alert_id.endswith(f":{step}")]


def take(when: str, **kwargs: Any) -> CaseEvent:
    """Acceptance of the catalogued item (by default with the catalogue's own limits)."""
    return accepted(when, **kwargs)


# -- catalogue.unknown_item --------------------------------------------------------------


def test_an_item_not_in_the_catalogue_fires_at_acceptance() -> None:
    unknown = event(
        "accepted",
        "2026-11-23T10:00:00+08:00",
        item_code="451221-XK-9999",
        promised_limit={"value": 5, "unit": "working_day"},
    )
    [alert] = of(run(unknown), "catalogue.unknown_item")
    assert alert.alert_id == f"catalogue.unknown_item:{CASE}"
    assert alert.severity == "yellow"
    assert alert.raised_at == at("2026-11-23T10:00:00+08:00")


def test_a_catalogued_item_is_known() -> None:
    assert of(run(take("2026-11-23T10:00:00+08:00")), "catalogue.unknown_item") == []


def test_without_a_catalogue_the_catalogue_rules_are_silent() -> None:
    unknown = event(
        "accepted",
        "2026-11-23T10:00:00+08:00",
        item_code="451221-XK-9999",
        promised_limit={"value": 50, "unit": "working_day"},
    )
    alerts = run(unknown, until="2027-03-01T00:00:00+08:00", eng=plain())
    assert {a.rule_id for a in alerts} & {
        "catalogue.unknown_item",
        "catalogue.limit_mismatch",
        "stage.overdue",
    } == set()


# -- catalogue.limit_mismatch ------------------------------------------------------------


def test_a_promised_limit_longer_than_the_catalogues_fires() -> None:
    [alert] = of(run(take("2026-11-23T10:00:00+08:00", value=6)), "catalogue.limit_mismatch")
    assert alert.alert_id == f"catalogue.limit_mismatch:{CASE}"
    assert alert.severity == "red"
    assert alert.raised_at == at("2026-11-23T10:00:00+08:00")
    assert alert.details["limit"] == "promised"
    assert alert.details["declared_deadline"] == "2026-12-01 24:00"
    assert alert.details["catalogue_deadline"] == "2026-11-30 24:00"


def test_a_natural_day_limit_that_ends_on_the_same_instant_is_no_mismatch() -> None:
    # Monday + 7 calendar days ends Monday 30 November 24:00, as 5 working days do.
    alerts = run(take("2026-11-23T10:00:00+08:00", value=7, unit="natural_day"))
    assert of(alerts, "catalogue.limit_mismatch") == []
    # one calendar day more ends a day later: later than the catalogue's
    [alert] = of(
        run(take("2026-11-23T10:00:00+08:00", value=8, unit="natural_day", case_id="C2")),
        "catalogue.limit_mismatch",
    )
    assert alert.raised_at == at("2026-11-23T10:00:00+08:00")


def test_a_statutory_limit_longer_than_the_catalogues_fires() -> None:
    alerts = run(take("2026-11-23T10:00:00+08:00", statutory=(21, "working_day")))
    [alert] = of(alerts, "catalogue.limit_mismatch")
    assert alert.details["limit"] == "statutory"
    assert (
        of(run(take("2026-11-23T10:00:00+08:00", case_id="C3")), "catalogue.limit_mismatch") == []
    )


# -- stage.overdue -----------------------------------------------------------------------


def test_the_contracts_stage_example_friday_to_monday() -> None:
    """A 1-working-day stage that starts on a Friday at 10:00 ends on the next working
    day at 10:00."""
    start = take("2026-11-20T10:00:00+08:00")
    [alert] = stage(run(start, until="2026-11-23T10:00:00+08:00"), "review")
    assert alert.alert_id == f"stage.overdue:{CASE}:review"
    assert alert.severity == "yellow"
    assert alert.raised_at == at("2026-11-23T10:00:00+08:00")
    assert alert.details["step"] == "review"
    assert "审查" in alert.message
    early = run(take("2026-11-20T10:00:00+08:00"), until="2026-11-23T09:59:59+08:00")
    assert stage(early, "review") == []


def test_a_step_completed_on_the_last_second_is_in_time() -> None:
    done = event("step_completed", "2026-11-23T10:00:00+08:00", step="review")
    assert stage(run(take("2026-11-20T10:00:00+08:00"), done), "review") == []
    late = event("step_completed", "2026-11-23T10:00:01+08:00", step="review")
    [alert] = stage(run(take("2026-11-20T10:00:00+08:00"), late), "review")
    assert alert.raised_at == at("2026-11-23T10:00:00+08:00")


def test_a_stage_over_national_day() -> None:
    # Wednesday 30 September 10:00: 14 hours left that day, then 1-7 October off,
    # Thursday 8 October is the next working day: 10 hours more.
    [alert] = stage(
        run(take("2026-09-30T10:00:00+08:00"), until="2026-10-09T00:00:00+08:00"), "review"
    )
    assert alert.raised_at == at("2026-10-08T10:00:00+08:00")


def test_a_stage_ends_on_a_make_up_working_day() -> None:
    # Friday 9 October 10:00: Saturday 10 October is a make-up working day.
    [alert] = stage(
        run(take("2026-10-09T10:00:00+08:00"), until="2026-10-12T00:00:00+08:00"), "review"
    )
    assert alert.raised_at == at("2026-10-10T10:00:00+08:00")


def test_suspended_time_inside_a_stage_is_not_counted() -> None:
    # Monday 23 November 09:00; suspended 15:00 to Tuesday 11:00: 20 working hours.
    # The stage would end Tuesday 09:00; it ends 20 working hours later, Wednesday 05:00.
    events = [
        take("2026-11-23T09:00:00+08:00"),
        event("suspended", "2026-11-23T15:00:00+08:00", reason_code="inspection"),
        event("resumed", "2026-11-24T11:00:00+08:00"),
    ]
    [alert] = stage(run(*events, until="2026-11-25T05:00:00+08:00"), "review")
    assert alert.raised_at == at("2026-11-25T05:00:00+08:00")
    assert stage(run(*events, until="2026-11-25T04:59:59+08:00"), "review") == []
    # closed with review never completed: site inspection ran from acceptance (2 natural
    # days: Wednesday 09:00), plus the 20 hours of calendar time suspended: Thursday 05:00
    closed = run(*events, event("withdrawn", "2026-11-27T09:00:00+08:00"))
    [site] = stage(closed, "site_inspection")
    assert site.raised_at == at("2026-11-26T05:00:00+08:00")


def test_no_stage_fires_while_the_case_is_suspended() -> None:
    events = [
        take("2026-11-23T09:00:00+08:00"),
        event("suspended", "2026-11-23T15:00:00+08:00", reason_code="inspection"),
    ]
    assert of(run(*events, until="2026-11-27T00:00:00+08:00"), "stage.overdue") == []


def test_the_next_stage_starts_when_the_step_before_is_completed() -> None:
    # review completed Tuesday 14:00; site inspection has 2 natural days: Thursday 14:00.
    events = [
        take("2026-11-23T09:00:00+08:00"),
        event("step_completed", "2026-11-24T14:00:00+08:00", step="review"),
    ]
    site = stage(run(*events, until="2026-11-26T14:00:00+08:00"), "site_inspection")
    assert [a.raised_at for a in site] == [at("2026-11-26T14:00:00+08:00")]
    assert stage(run(*events, until="2026-11-26T13:59:59+08:00"), "site_inspection") == []


def test_no_stage_runs_before_the_step_before_it_is_completed() -> None:
    # Each step completed within its own stage, each stage from the completion before it:
    # review Monday 09:00 -> Tuesday 09:00 (done 08:00), site inspection 2 natural days
    # (done Wednesday 20:00), approval 1 working day (done Thursday 15:00). Approval's
    # limit from acceptance passed on Tuesday, while the step before it was under way.
    events = [
        take("2026-11-23T09:00:00+08:00"),
        event("step_completed", "2026-11-24T08:00:00+08:00", step="review"),
        event("step_completed", "2026-11-25T20:00:00+08:00", step="site_inspection"),
        event("step_completed", "2026-11-26T15:00:00+08:00", step="approval"),
    ]
    assert of(run(*events, until="2026-12-31T00:00:00+08:00"), "stage.overdue") == []


def test_a_stage_whose_step_before_is_never_completed_starts_at_acceptance() -> None:
    # Approval (1 working day, after site inspection) completed Wednesday with neither
    # review nor site inspection completed. That tells nothing yet: a step before it may
    # still be completed, and then starts the stage after it; so site inspection and
    # approval wait (review's own stage ends Tuesday 09:00). Once the case is concluded,
    # they were never completed: both ran from acceptance, Monday 09:00, and are raised
    # at their instants.
    events = [
        take("2026-11-23T09:00:00+08:00"),
        event("step_completed", "2026-11-25T10:00:00+08:00", step="approval"),
    ]
    waiting = run(*events, until="2026-11-26T09:00:00+08:00")
    assert [a.alert_id for a in of(waiting, "stage.overdue")] == [f"stage.overdue:{CASE}:review"]
    closed = [*events, event("concluded", "2026-11-26T09:00:00+08:00")]
    alerts = run(*closed, until="2026-11-26T09:00:00+08:00")
    assert {a.alert_id.rsplit(":", 1)[1]: a.raised_at for a in of(alerts, "stage.overdue")} == {
        "review": at("2026-11-24T09:00:00+08:00"),
        "site_inspection": at("2026-11-25T09:00:00+08:00"),  # 2 calendar days
        "approval": at("2026-11-24T09:00:00+08:00"),
    }


def by(who: str, item: CaseEvent) -> CaseEvent:
    """`item` handled by department D<who>, window W<who>, staff s<who>."""
    return item.model_copy(
        update={"department": f"D{who}", "window_id": f"W{who}", "staff_id": f"s{who}"}
    )


def test_a_stage_found_late_says_who_handled_the_case_at_its_instant() -> None:
    # Contract §7: a deadline's details carry who handled the case, the latest known. The
    # stages after a step never completed are found at the close (Thursday), but their
    # limits were reached Tuesday and Wednesday 09:00, when A had handled the case; B's
    # step came Wednesday 10:00 and C concluded it: they are not whom the alerts name.
    events = [
        by("A", take("2026-11-23T09:00:00+08:00")),
        by("B", event("step_completed", "2026-11-25T10:00:00+08:00", step="approval")),
        by("C", event("concluded", "2026-11-26T09:00:00+08:00")),
    ]
    alerts = of(run(*events, until="2026-11-26T09:00:00+08:00"), "stage.overdue")
    named = {
        a.alert_id.rsplit(":", 1)[1]: (a.details["department"], a.details["staff_id"])
        for a in alerts
    }
    assert named == {
        "review": ("DA", "sA"),
        "site_inspection": ("DA", "sA"),
        "approval": ("DA", "sA"),
    }


def test_a_step_completed_after_the_one_after_it_starts_that_ones_stage() -> None:
    # §8: "each next one starts when the step before it is completed". Review in time
    # (Monday 15:00), approval completed Wednesday 10:00, then site inspection Wednesday
    # 10:05 (in time: 2 calendar days from review). Approval's stage starts at 10:05, and
    # approval was done before it: in time. Not judged from acceptance because approval
    # came first (it would have ended Tuesday 09:00).
    events = [
        take("2026-11-23T09:00:00+08:00"),
        event("step_completed", "2026-11-23T15:00:00+08:00", step="review"),
        event("step_completed", "2026-11-25T10:00:00+08:00", step="approval"),
        event("step_completed", "2026-11-25T10:05:00+08:00", step="site_inspection"),
        event("concluded", "2026-11-25T11:00:00+08:00"),
    ]
    for until in ("2026-11-25T10:00:00+08:00", "2026-11-25T12:00:00+08:00"):
        shown = [e for e in events if e.occurred_at <= at(until)]
        assert of(run(*shown, until=until), "stage.overdue") == [], until
    runner = Runner(catalogued())
    for item in events[:4]:  # replay's input ends with the case still open
        runner.feed(item)
    assert (
        of(runner.advance(at("2026-11-30T00:00:00+08:00")) + runner.finish(), "stage.overdue") == []
    )


def test_at_the_end_of_replays_input_a_step_never_completed_is_never_completed() -> None:
    # Accepted Monday 09:00, review completed Monday 20:00, nothing after: site inspection
    # (2 natural days) from then, Wednesday 20:00; approval's step before it is never
    # completed in the input, so approval runs from acceptance: Tuesday 09:00. The live
    # worker (no `finish`) cannot know that yet: approval waits for site inspection.
    events = [
        take("2026-11-23T09:00:00+08:00"),
        event("step_completed", "2026-11-23T20:00:00+08:00", step="review"),
    ]
    runner = Runner(catalogued())
    for item in events:
        runner.feed(item)
    live = of(runner.advance(at("2026-12-31T00:00:00+08:00")), "stage.overdue")
    assert [(a.alert_id, a.raised_at) for a in live] == [
        (f"stage.overdue:{CASE}:site_inspection", at("2026-11-25T20:00:00+08:00"))
    ]
    ended = runner.finish()
    assert [(a.alert_id, a.raised_at) for a in ended] == [
        (f"stage.overdue:{CASE}:approval", at("2026-11-24T09:00:00+08:00"))
    ]
    assert runner.finish() == []  # once
    # a case concluded, withdrawn or not accepted is not open: nothing more at its end
    for last in ("concluded", "withdrawn"):
        closed = Runner(catalogued())
        for item in [*events, event(last, "2026-11-23T21:00:00+08:00")]:
            closed.feed(item)
        closed.advance(at("2026-12-31T00:00:00+08:00"))
        assert of(closed.finish(), "stage.overdue") == []


def test_at_the_end_of_replays_input_a_case_still_suspended_reaches_no_stage_limit() -> None:
    # Accepted Monday 09:00, suspended at 10:00 and never resumed: one hour of review ran,
    # and no stage's clock runs while suspended, so nothing is late however far the input
    # ends. A stage whose limit was reached before the suspension still fires at its end.
    quiet = Runner(catalogued())
    quiet.feed(take("2026-11-23T09:00:00+08:00"))
    quiet.feed(event("suspended", "2026-11-23T10:00:00+08:00", reason_code="expert_review"))
    assert of(quiet.advance(at("2026-12-31T00:00:00+08:00")), "stage.overdue") == []
    assert of(quiet.finish(), "stage.overdue") == []
    late = Runner(catalogued())
    fired = [
        *late.feed(take("2026-11-23T09:00:00+08:00")),
        *late.feed(event("step_completed", "2026-11-23T20:00:00+08:00", step="review")),
        *late.feed(event("suspended", "2026-11-26T10:00:00+08:00", reason_code="expert_review")),
        *late.advance(at("2026-12-31T00:00:00+08:00")),
        *late.finish(),
    ]
    # site inspection: 2 natural days from Monday 20:00; approval from acceptance (its
    # step before is never completed), 1 working day: Tuesday 09:00 (before the stretch)
    assert sorted((a.alert_id, a.raised_at) for a in of(fired, "stage.overdue")) == [
        (f"stage.overdue:{CASE}:approval", at("2026-11-24T09:00:00+08:00")),
        (f"stage.overdue:{CASE}:site_inspection", at("2026-11-25T20:00:00+08:00")),
    ]


def test_no_stage_fires_for_a_concluded_or_withdrawn_case() -> None:
    for last in ("concluded", "withdrawn"):
        events = [take("2026-11-23T09:00:00+08:00"), event(last, "2026-11-23T10:00:00+08:00")]
        assert of(run(*events, until="2026-12-31T00:00:00+08:00"), "stage.overdue") == []


def test_a_stage_fires_once_per_step() -> None:
    runner = Runner(catalogued())
    runner.feed(take("2026-11-20T10:00:00+08:00"))
    first = of(runner.advance(at("2026-11-23T10:00:00+08:00")), "stage.overdue")
    again = of(runner.advance(at("2026-11-30T10:00:00+08:00")), "stage.overdue")
    assert f"stage.overdue:{CASE}:review" in [a.alert_id for a in first]
    assert f"stage.overdue:{CASE}:review" not in [a.alert_id for a in again]


# -- complaint.unanswered ----------------------------------------------------------------

COMPLAINED = "2026-11-25T08:30:00+08:00"
# The day of the complaint is not counted: Thursday 26 November is the first of the 15
# working days, Wednesday 16 December the 15th; the limit ends at its 24:00.
ANSWER_DUE = "2026-12-17T00:00:00+08:00"


def complaint_case(*later: CaseEvent) -> list[CaseEvent]:
    return [
        take("2026-11-23T09:00:00+08:00"),
        event("concluded", "2026-11-24T09:00:00+08:00"),
        event("complained", COMPLAINED),
        *later,
    ]


def test_a_complaint_not_answered_in_15_working_days_fires() -> None:
    [alert] = of(run(*complaint_case(), until=ANSWER_DUE), "complaint.unanswered")
    assert alert.alert_id == f"complaint.unanswered:{CASE}"
    assert alert.severity == "red"
    assert alert.raised_at == at(ANSWER_DUE)
    assert alert.details["complaint_number"] == 1


def test_a_complaint_answered_on_the_last_second_is_in_time() -> None:
    answer = event("complaint_answered", "2026-12-16T23:59:59+08:00")
    alerts = run(*complaint_case(answer), until="2027-01-31T00:00:00+08:00")
    assert of(alerts, "complaint.unanswered") == []
    assert of(alerts, "workflow.out_of_order") == []  # allowed after concluded


def test_each_complaint_is_counted_on_its_own() -> None:
    # two complaints; the answer answers the earliest; the second is not answered.
    second = event("complained", "2026-11-30T09:00:00+08:00")
    answer = event("complaint_answered", "2026-12-01T09:00:00+08:00")
    alerts = of(
        run(*complaint_case(second, answer), until="2027-01-31T00:00:00+08:00"),
        "complaint.unanswered",
    )
    # Monday 30 November not counted: 1 December is the first, 21 December the 15th.
    assert [(a.alert_id, a.raised_at) for a in alerts] == [
        (f"complaint.unanswered:{CASE}:2", at("2026-12-22T00:00:00+08:00"))
    ]
    assert alerts[0].details["complaint_number"] == 2


def test_complaints_are_silent_without_a_catalogue() -> None:
    # contract §8: "With no catalogue configured, the rules below are silent."
    alerts = run(*complaint_case(), until="2027-01-31T00:00:00+08:00", eng=plain())
    assert of(alerts, "complaint.unanswered") == []


# -- the catalogue file -------------------------------------------------------------------


def test_the_catalogue_loads_from_the_rules_directory(tmp_path: Path) -> None:
    book = RuleBook.load(rules_with_catalogue(tmp_path / "rules"))
    assert book.catalogue is not None
    item = book.catalogue.get(CODE)
    assert item is not None and [s.step for s in item.steps] == [
        "review",
        "site_inspection",
        "approval",
    ]
    assert Catalogue.load(tmp_path / "nowhere") is None


def test_a_bad_limit_is_refused_with_file_and_line(tmp_path: Path) -> None:
    text = CATALOGUE.replace(
        "promised_limit: {value: 5, unit: working_day}", "promised_limit: {value: 5, unit: week}"
    )
    with pytest.raises(RuleError) as refused:
        RuleBook.load(rules_with_catalogue(tmp_path / "rules", text))
    assert "items.yaml:5: items[0] (451221-XK-0042): promised_limit.unit" in str(refused.value)


def test_a_step_listed_twice_is_refused_with_file_and_line(tmp_path: Path) -> None:
    text = CATALOGUE.replace("{step: site_inspection", "{step: review")
    with pytest.raises(RuleError) as refused:
        RuleBook.load(rules_with_catalogue(tmp_path / "rules", text))
    assert "items.yaml:9: items[0] (451221-XK-0042): steps: step 'review' is listed twice" in str(
        refused.value
    )


def test_an_item_catalogued_twice_is_refused(tmp_path: Path) -> None:
    folder = rules_with_catalogue(tmp_path / "rules")
    (folder / "catalogue" / "more.yaml").write_text(
        textwrap.dedent(
            f"""\
            items:
              - item_code: {CODE}
                name: 重复
                promised_limit: {{value: 3, unit: working_day}}
            """
        ),
        encoding="utf-8",
    )
    with pytest.raises(RuleError, match=r"more\.yaml:2: item '451221-XK-0042' is already"):
        RuleBook.load(folder)


def test_catalogue_error_is_a_value_error() -> None:
    assert issubclass(CatalogueError, ValueError)
