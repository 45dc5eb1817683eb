"""`supervisor replay`, the real command, on what the contract added: `complaint_answered`,
the attribution of §7 and the rules of §8, with the example catalogue in a rules
directory of one's own."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from tests.core.factories import event_doc
from tests.test_replay import ROOT, alerts, lines, replay

CASE = "451221-2026-0000888"
WHO = {"department": "南丹县市场监督管理局", "window_id": "W12", "staff_id": "nd-0107"}


def by_staff(kind: str, at: str, **payload: Any) -> dict[str, Any]:
    return event_doc(kind, at, case_id=CASE, **payload) | WHO


def accepted(at: str, **extra: Any) -> dict[str, Any]:
    return by_staff(
        "accepted",
        at,
        item_code="451221-XK-0042",
        item_name="食品经营许可（新办）",
        promised_limit={"value": 5, "unit": "working_day"},
        statutory_limit={"value": 20, "unit": "working_day"},
        **extra,
    )


def with_catalogue(folder: Path) -> Path:
    shutil.copytree(ROOT / "rules", folder)
    (folder / "catalogue").mkdir()
    shutil.copy(ROOT / "rules/examples/catalogue.yaml", folder / "catalogue/items.yaml")
    return folder


def test_the_contract_examples_replay_cleanly_complaint_answered_included() -> None:
    result = replay(
        str(ROOT / "tests/fixtures/contract-examples.jsonl"),
        "--until",
        "2027-01-31T00:00:00+08:00",
    )
    assert result.returncode == 0
    assert "line " not in result.stderr  # every line is a valid event
    # the complaint of ex-019 is answered by ex-021: nothing unanswered, nothing out of order
    assert {a["rule_id"] for a in alerts(result.stdout)} & {
        "complaint.unanswered",
        "workflow.out_of_order",
    } == set()


def test_an_unanswered_complaint_fires_at_24_00_of_the_15th_working_day(tmp_path: Path) -> None:
    events = [
        accepted("2026-11-23T09:00:00+08:00"),
        by_staff("decided", "2026-11-23T15:00:00+08:00", outcome="approve"),
        by_staff("concluded", "2026-11-24T09:00:00+08:00"),
        event_doc("complained", "2026-11-25T08:30:00+08:00", case_id=CASE),
    ]
    judge = ("--rules", str(with_catalogue(tmp_path / "rules")))
    out = alerts(
        replay("-", *judge, "--until", "2026-12-17T00:00:00+08:00", stdin=lines(*events)).stdout
    )
    [complaint] = [a for a in out if a["rule_id"] == "complaint.unanswered"]
    assert complaint["alert_id"] == f"complaint.unanswered:{CASE}"
    assert complaint["raised_at"] == "2026-12-17T00:00:00+08:00"
    assert complaint["severity"] == "red"
    # a deadline's attribution is the case's latest known (contract §7)
    assert {k: complaint["details"][k] for k in WHO} == WHO
    answered = [*events, by_staff("complaint_answered", "2026-12-16T23:59:59+08:00")]
    out = alerts(
        replay("-", *judge, "--until", "2027-01-31T00:00:00+08:00", stdin=lines(*answered)).stdout
    )
    assert [a for a in out if a["rule_id"] == "complaint.unanswered"] == []
    # contract §8: with no catalogue configured (the shipped rules), it is silent
    out = alerts(replay("-", "--until", "2027-01-31T00:00:00+08:00", stdin=lines(*events)).stdout)
    assert [a for a in out if a["rule_id"] == "complaint.unanswered"] == []


def test_an_event_rules_alert_names_who_handled_that_event() -> None:
    events = [
        accepted("2026-11-23T09:00:00+08:00"),
        event_doc(
            "extended", "2026-11-24T09:00:00+08:00", case_id=CASE, value=2, unit="working_day"
        )
        | {"department": "南丹县自然资源局", "staff_id": "nd-0200"},
    ]
    out = alerts(replay("-", stdin=lines(*events)).stdout)
    [unapproved] = [a for a in out if a["rule_id"] == "extension.unapproved"]
    details = unapproved["details"]
    assert (details["department"], details["window_id"], details["staff_id"]) == (
        "南丹县自然资源局",
        None,
        "nd-0200",
    )


def test_the_catalogues_rules_with_a_rules_directory_of_ones_own(tmp_path: Path) -> None:
    rules = with_catalogue(tmp_path / "rules")
    events = [
        # Friday 10:00: review (2 working days in the example catalogue) ends Tuesday 10:00
        accepted("2026-11-20T10:00:00+08:00"),
        event_doc(
            "accepted",
            "2026-11-20T10:00:00+08:00",
            case_id="451221-2026-0000889",
            item_code="451221-XK-0042",
            promised_limit={"value": 6, "unit": "working_day"},
        ),
        event_doc(
            "accepted",
            "2026-11-20T10:00:00+08:00",
            case_id="451221-2026-0000890",
            item_code="451221-XX-9999",
            promised_limit={"value": 5, "unit": "working_day"},
        ),
    ]
    result = replay(
        "-", "--rules", str(rules), "--until", "2026-11-24T10:00:00+08:00", stdin=lines(*events)
    )
    assert result.returncode == 0, result.stderr
    out = {a["alert_id"]: a for a in alerts(result.stdout)}
    stage = out[f"stage.overdue:{CASE}:review"]
    assert stage["raised_at"] == "2026-11-24T10:00:00+08:00"
    assert stage["severity"] == "yellow"
    mismatch = out["catalogue.limit_mismatch:451221-2026-0000889"]
    assert (mismatch["raised_at"], mismatch["severity"]) == ("2026-11-20T10:00:00+08:00", "red")
    unknown = out["catalogue.unknown_item:451221-2026-0000890"]
    assert (unknown["raised_at"], unknown["severity"]) == ("2026-11-20T10:00:00+08:00", "yellow")
    assert f"catalogue.unknown_item:{CASE}" not in out
    one_second_early = replay(
        "-", "--rules", str(rules), "--until", "2026-11-24T09:59:59+08:00", stdin=lines(*events)
    )
    assert f"stage.overdue:{CASE}:review" not in {
        a["alert_id"] for a in alerts(one_second_early.stdout)
    }


def test_replay_judges_its_file_as_the_whole_story_of_each_case(tmp_path: Path) -> None:
    # Contract §8: a stage starts when the step before it is completed, "or at acceptance,
    # if that step is never completed": in a replay, never completed in the file. Accepted
    # Friday 10:00 and nothing completed: review and site inspection (2 working days
    # each) end Tuesday 10:00, approval (1 working day) Monday 10:00, all from acceptance.
    rules = with_catalogue(tmp_path / "rules")
    result = replay(
        "-",
        "--rules",
        str(rules),
        "--until",
        "2026-12-31T00:00:00+08:00",
        stdin=lines(accepted("2026-11-20T10:00:00+08:00")),
    )
    assert result.returncode == 0, result.stderr
    stages = {a["alert_id"]: a["raised_at"] for a in alerts(result.stdout)}
    assert {k: v for k, v in stages.items() if k.startswith("stage.")} == {
        f"stage.overdue:{CASE}:review": "2026-11-24T10:00:00+08:00",
        f"stage.overdue:{CASE}:site_inspection": "2026-11-24T10:00:00+08:00",
        f"stage.overdue:{CASE}:approval": "2026-11-23T10:00:00+08:00",
    }


def test_the_shipped_rules_have_no_catalogue_so_its_rules_are_silent() -> None:
    events = [
        event_doc(
            "accepted",
            "2026-11-20T10:00:00+08:00",
            case_id=CASE,
            item_code="451221-XX-9999",
            promised_limit={"value": 50, "unit": "working_day"},
        )
    ]
    result = replay("-", "--until", "2027-06-30T00:00:00+08:00", stdin=lines(*events))
    rules = {a["rule_id"] for a in alerts(result.stdout)}
    assert not {r for r in rules if r.startswith(("catalogue.", "stage."))}, json.dumps(
        sorted(rules)
    )
