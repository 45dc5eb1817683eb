"""`supervisor replay` exactly as contract §5, run as the real command."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from tests.core.factories import event_doc

ROOT = Path(__file__).resolve().parents[1]
CASE = "451221-2026-0000777"


def replay(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "supervisor.cli", "replay", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )


def lines(*documents: dict[str, Any] | str) -> str:
    return "".join(
        (d if isinstance(d, str) else json.dumps(d, ensure_ascii=False)) + "\n" for d in documents
    )


def story() -> list[dict[str, Any]]:
    """A case accepted on the contract's worked example day with 3 working days."""
    return [
        event_doc("submitted", "2026-09-30T09:50:00+08:00", case_id=CASE),
        event_doc(
            "accepted",
            "2026-09-30T10:00:00+08:00",
            case_id=CASE,
            item_code="X",
            item_name="食品经营许可",
            promised_limit={"value": 3, "unit": "working_day"},
            fee_standard=0,
        ),
        event_doc("fee_charged", "2026-10-08T09:00:00+08:00", case_id=CASE, amount=30),
    ]


def alerts(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines()]


def test_replay_prints_alerts_in_raised_at_order_with_the_clock_at_the_last_event(
    tmp_path: Path,
) -> None:
    events = tmp_path / "events.jsonl"
    events.write_text(lines(*story()), encoding="utf-8")
    result = replay(str(events))
    assert result.returncode == 0, result.stderr
    # The clock stops at the last event (8 Oct 09:00): the overdue deadline has not passed.
    assert [(a["rule_id"], a["raised_at"]) for a in alerts(result.stdout)] == [
        ("fee.overcharge", "2026-10-08T09:00:00+08:00"),
    ]


def test_until_fires_every_deadline_that_passed(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    events.write_text(lines(*story()), encoding="utf-8")
    result = replay(str(events), "--until", "2026-12-01T00:00:00+08:00")
    assert result.returncode == 0, result.stderr
    got = alerts(result.stdout)
    assert [(a["rule_id"], a["raised_at"]) for a in got] == [
        ("fee.overcharge", "2026-10-08T09:00:00+08:00"),
        ("deadline.warning", "2026-10-10T09:36:00+08:00"),
        ("deadline.overdue", "2026-10-11T00:00:00+08:00"),
    ]
    overdue = got[-1]
    assert overdue["alert_id"] == f"deadline.overdue:{CASE}"
    assert set(overdue) == {
        "alert_id",
        "rule_id",
        "severity",
        "case_id",
        "center_id",
        "raised_at",
        "title",
        "message",
        "details",
    }
    assert overdue["severity"] == "red" and overdue["center_id"] == "451221"
    assert "南丹" in overdue["message"]  # the center's name, from the registry


def test_standard_input_and_bad_lines_reported_with_their_number() -> None:
    text = lines(story()[0], "{not json", {"schema_version": "1"}, *story()[1:])
    result = replay("-", stdin=text)
    assert result.returncode == 0
    errors = result.stderr.splitlines()
    assert any(e.startswith("line 2: not JSON") for e in errors), errors
    assert any(e.startswith("line 3: ") and "event_id" in e for e in errors), errors
    assert [a["rule_id"] for a in alerts(result.stdout)] == ["fee.overcharge"]


def test_the_same_input_gives_the_same_output() -> None:
    text = lines(*story())
    first = replay("-", "--until", "2026-12-01T00:00:00+08:00", stdin=text)
    second = replay("-", "--until", "2026-12-01T00:00:00+08:00", stdin=text)
    assert first.stdout == second.stdout and first.stdout


def test_rules_dir_changes_thresholds(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", rules)
    document = yaml.safe_load((rules / "canonical.yaml").read_text(encoding="utf-8"))
    document["rules"] = [r for r in document["rules"] if r["id"] != "fee.overcharge"]
    (rules / "canonical.yaml").write_text(yaml.safe_dump(document, allow_unicode=True))
    result = replay("-", "--rules", str(rules), stdin=lines(*story()))
    assert result.returncode == 0, result.stderr
    assert alerts(result.stdout) == []


def test_contract_examples_replay_cleanly() -> None:
    result = replay(
        str(ROOT / "tests/fixtures/contract-examples.jsonl"), "--until", "2026-12-31T00:00:00+08:00"
    )
    assert result.returncode == 0
    assert "line" not in result.stderr
    # The three example cases are handled by the book: concluded in time, refused with a
    # reason, withdrawn; nothing fires.
    assert alerts(result.stdout) == []


def test_a_bad_until_is_refused_clearly() -> None:
    result = replay("-", "--until", "tomorrow", stdin="")
    assert result.returncode != 0
    assert "--until" in result.stderr


def test_a_late_batch_does_not_raise_false_deadline_alerts() -> None:
    """A city case moves the clock past a township case's deadline before the township's
    batch (concluded in time) is read: the township case is not overdue."""
    city, town = "451200-2026-0000001", "451224103-2026-0000002"
    accepted: dict[str, Any] = {
        "item_code": "X",
        "promised_limit": {"value": 5, "unit": "working_day"},
    }
    text = lines(
        event_doc(
            "accepted",
            "2026-11-02T09:00:00+08:00",
            case_id=city,
            center_id="451200",
            **{**accepted, "promised_limit": {"value": 20, "unit": "working_day"}},
        ),
        event_doc(
            "step_completed",
            "2026-11-20T09:00:00+08:00",
            case_id=city,
            center_id="451200",
            step="review",
        ),
        event_doc(
            "accepted", "2026-11-02T10:00:00+08:00", case_id=town, center_id="451224103", **accepted
        ),
        event_doc(
            "decided",
            "2026-11-05T10:00:00+08:00",
            case_id=town,
            center_id="451224103",
            outcome="approve",
        ),
        event_doc("concluded", "2026-11-05T11:00:00+08:00", case_id=town, center_id="451224103"),
        event_doc("delivered", "2026-11-06T09:00:00+08:00", case_id=town, center_id="451224103"),
    )
    result = replay("-", stdin=text)
    assert result.returncode == 0, result.stderr
    assert [a for a in alerts(result.stdout) if a["case_id"] == town] == []


def test_lines_the_engine_cannot_use_are_reported_and_the_rest_is_processed(
    tmp_path: Path,
) -> None:
    events = tmp_path / "events.jsonl"
    with events.open("wb") as out:
        out.write(lines(story()[0]).encode())
        out.write(b'{"bad": "\xff\xfe"}\n')  # line 2: not UTF-8
        out.write(
            lines(  # line 3: a valid event long before the calendar
                event_doc(
                    "accepted",
                    "1999-12-30T10:00:00+08:00",
                    case_id="451200-1999-1",
                    center_id="451200",
                    item_code="X",
                    promised_limit={"value": 3, "unit": "working_day"},
                ),
            ).encode()
        )
        out.write(
            b'{"schema_version": "1", "event_id": "x", "case_id": "c", "center_id": '
            b'"451200", "type": "fee_charged", "occurred_at": '
            b'"2026-11-27T09:00:00+08:00", "payload": {"amount": 1e400}}\n'
        )  # line 4
        out.write(
            lines(  # line 5: a limit reaching centuries ahead (no deadline, no crash)
                event_doc(
                    "accepted",
                    "2026-09-30T10:00:00+08:00",
                    case_id="451200-2026-9",
                    center_id="451200",
                    item_code="X",
                    promised_limit={"value": 1e9, "unit": "working_day"},
                ),
            ).encode()
        )
        out.write(lines(*story()[1:]).encode())
    result = replay(str(events), "--until", "2026-12-01T00:00:00+08:00")
    assert result.returncode == 0, result.stderr
    errors = result.stderr
    assert "line 2: not UTF-8" in errors
    assert "line 3: cannot apply this event" in errors
    # the field and the problem, not the value (reasons never echo the input)
    assert "line 4: payload.amount: number out of range (beyond a 64-bit float)" in errors
    assert "1e400" not in errors
    assert "line 5: cannot apply this event: time limit" in errors
    assert "no official holiday schedule for" not in errors  # no deadline used 2027+
    assert [a["rule_id"] for a in alerts(result.stdout) if a["case_id"] == CASE] == [
        "fee.overcharge",
        "deadline.warning",
        "deadline.overdue",
    ]


def test_the_years_without_a_schedule_are_noted_once_as_a_range() -> None:
    # 700 working days from 16 November 2026 end in 2029: every year from 2027 on is
    # counted by the fallback calendar, and the note says so in one short line
    accepted = event_doc(
        "accepted",
        "2026-11-16T10:00:00+08:00",
        item_code="451221-XK-0042",
        promised_limit={"value": 700, "unit": "working_day"},
    )
    result = replay("-", "--until", "2030-01-01T00:00:00+08:00", stdin=lines(accepted))
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        "note: no official holiday schedule for 2027-2029; counted weekends and statutory "
        "holidays only (no make-up days)"
    ]


def test_a_missing_file_or_bad_rules_get_one_clear_line(tmp_path: Path) -> None:
    missing = replay(str(tmp_path / "nope.jsonl"))
    assert missing.returncode == 2
    assert missing.stderr.startswith("supervisor replay: cannot read")
    assert "Traceback" not in missing.stderr
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "r.yaml").write_text("rules:\n  - id: no.such.rule\n")
    bad = replay("-", "--rules", str(tmp_path / "rules"), stdin="")
    assert bad.returncode == 2
    assert "rules refused" in bad.stderr and "Traceback" not in bad.stderr


def test_guangxi_regional_holiday_applies_to_hechi_centers_only() -> None:
    """壮族三月三 (rules/calendar/regions.yaml, prefix 45): Monday 20 April 2026 is a day off
    in Hechi, not in Beijing."""

    def overdue_at(center: str) -> str:
        case = f"{center}-2026-0000042"
        text = lines(
            event_doc(
                "accepted",
                "2026-04-17T10:00:00+08:00",
                case_id=case,
                center_id=center,
                item_code="X",
                promised_limit={"value": 1, "unit": "working_day"},
            )
        )
        result = replay("-", "--until", "2026-04-30T00:00:00+08:00", stdin=text)
        assert result.returncode == 0, result.stderr
        raised_at: str = next(
            a["raised_at"] for a in alerts(result.stdout) if a["rule_id"] == "deadline.overdue"
        )
        return raised_at

    assert overdue_at("451224103") == "2026-04-22T00:00:00+08:00"  # township in Donglan
    assert overdue_at("110101") == "2026-04-21T00:00:00+08:00"  # Beijing, Dongcheng


def test_one_case_out_of_event_time_order_gives_the_event_time_order_result() -> None:
    """The case's `concluded` is listed after a later `delivered`: the output is what the
    events say in event-time order (no overdue, no out-of-order), as if sorted."""
    events = [
        *story()[:2],
        event_doc("decided", "2026-10-09T10:00:00+08:00", case_id=CASE, outcome="approve"),
        event_doc("delivered", "2026-10-12T09:00:00+08:00", case_id=CASE),
        event_doc("concluded", "2026-10-09T11:00:00+08:00", case_id=CASE),
    ]
    shuffled = replay("-", "--until", "2026-10-20T00:00:00+08:00", stdin=lines(*events))
    ordered = sorted(events, key=lambda d: str(d["occurred_at"]))
    sorted_run = replay("-", "--until", "2026-10-20T00:00:00+08:00", stdin=lines(*ordered))
    assert shuffled.returncode == 0 and shuffled.stderr == ""
    assert shuffled.stdout == sorted_run.stdout
    rules = [a["rule_id"] for a in alerts(shuffled.stdout)]
    assert "deadline.overdue" not in rules and "workflow.out_of_order" not in rules


def test_an_alert_moved_by_a_late_line_keeps_the_id_event_time_order_gives_it() -> None:
    """An approved extension listed after a later decision moves the deadline by a
    working day: the first overdue alert is proved wrong and the rule fires again, at
    the new deadline. The alerts topic needs a new id for it (`:r2`: its readers saw the
    first); replay never printed the first, and prints it as the sorted lines do."""
    case = "451221-2026-0000777"
    events = [
        event_doc(
            "accepted",
            "2026-11-02T09:00:00+08:00",
            case_id=case,
            item_code="451221-XK-0042",
            promised_limit={"value": 3, "unit": "working_day"},
        ),
        event_doc("decided", "2026-11-10T10:00:00+08:00", case_id=case, outcome="approve"),
        event_doc(
            "extended",
            "2026-11-03T09:00:00+08:00",
            case_id=case,
            value=1,
            unit="working_day",
            approved_by="局长",
            reason="需现场核查",
        ),
    ]
    until = ("--until", "2026-11-30T00:00:00+08:00")
    late = replay("-", *until, stdin=lines(*events))
    ordered = sorted(events, key=lambda d: str(d["occurred_at"]))
    assert late.returncode == 0 and late.stderr == ""
    assert late.stdout == replay("-", *until, stdin=lines(*ordered)).stdout
    overdue = [a for a in alerts(late.stdout) if a["rule_id"] == "deadline.overdue"]
    assert [(a["alert_id"], a["raised_at"]) for a in overdue] == [
        (f"deadline.overdue:{case}", "2026-11-07T00:00:00+08:00")
    ]


def test_center_silence_is_judged_only_on_request() -> None:
    examples = (ROOT / "tests/fixtures/contract-examples.jsonl").read_text(encoding="utf-8")
    plain = replay("-", stdin=examples)
    assert "center.silent" not in plain.stdout
    watched = replay("-", "--watch-centers", stdin=examples)
    silent = [a for a in alerts(watched.stdout) if a["rule_id"] == "center.silent"]
    # 451221 sent at 09:10:40 on Monday 16 November, then nothing until Tuesday 10:20
    assert silent[0] == {
        **silent[0],
        "alert_id": "center.silent:451221:20261116T091040",
        "raised_at": "2026-11-16T11:10:40+08:00",
        "case_id": "",
        "center_id": "451221",
    }
    assert [a for a in alerts(watched.stdout) if a["rule_id"] != "center.silent"] == alerts(
        plain.stdout
    )


def _line_of(document: dict[str, Any], size: int) -> bytes:
    """`document` as one compact JSON line of exactly `size` bytes (without its ending),
    padded with an unknown payload field (CJK text: 3 bytes a character)."""
    document = {**document, "payload": {**document.get("payload", {}), "pad": ""}}
    base = len(json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode())
    room = size - base
    document["payload"]["pad"] = "大" * (room // 3) + "x" * (room % 3)
    raw = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()
    assert len(raw) == size
    return raw


def test_a_line_over_64_kib_is_reported_and_skipped_and_one_of_64_kib_is_not(
    tmp_path: Path,
) -> None:
    """Contract §1 bounds an event to 64 KiB; replay reads a line the same way, its line
    ending not counted (LF or CRLF)."""
    first, accepted, fee = story()
    events = tmp_path / "events.jsonl"
    events.write_bytes(
        _line_of(first, 65_536)
        + b"\r\n"
        + _line_of(event_doc("submitted", "2026-09-30T09:55:00+08:00"), 65_537)
        + b"\n"
        + _line_of(accepted, 65_536)
        + b"\n"
        + json.dumps(fee).encode()
        + b"\n"
    )
    result = replay(str(events), "--until", "2026-10-01T00:00:00+08:00")
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == ["line 2: event is 65,537 bytes; at most 65,536 allowed"]
    assert [a["rule_id"] for a in alerts(result.stdout)] == ["fee.overcharge"]


def test_no_applicant_s_personal_data_in_the_output_even_typed_into_the_item_name() -> None:
    # contract §3: title and message never show an applicant's name, ID number or phone
    name, id_number, phone = "李小梅", "452727198805060021", "13977881234"
    accepted = event_doc(
        "accepted",
        "2026-11-16T10:00:00+08:00",
        case_id="451202-2026-0000321",
        center_id="451202",
        item_code="451202-XK-0001",
        item_name=f"{name}个体户营业执照（电话{phone}，身份证{id_number}）",
        promised_limit={"value": 1, "unit": "working_day"},
    ) | {"applicant": {"name": name, "id_number": id_number, "phone": phone}}
    result = replay("-", "--until", "2026-12-31T00:00:00+08:00", stdin=lines(accepted))
    out = alerts(result.stdout)
    assert {a["rule_id"] for a in out} == {"deadline.warning", "deadline.overdue"}
    for secret in (name, id_number, phone):
        assert secret not in result.stdout
    assert "李*梅个体户营业执照（电话139****1234，身份证4527**********0021）" in out[0]["message"]


def test_the_applicant_named_on_one_event_is_masked_where_another_quotes_it() -> None:
    # contract §1's examples name the applicant on `submitted`; a center typed the name,
    # an old 15-digit ID number and a landline into the item name of `accepted`
    name, id_number, phone = "李小梅", "452727880506002", "0778-2281234"
    case = "451202-2026-0000322"
    submitted = event_doc(
        "submitted", "2026-11-16T09:00:00+08:00", case_id=case, center_id="451202"
    ) | {"applicant": {"name": name, "id_number": id_number, "phone": phone}}
    accepted = event_doc(
        "accepted",
        "2026-11-16T10:00:00+08:00",
        case_id=case,
        center_id="451202",
        item_code="451202-XK-0001",
        item_name=f"{name}个体户营业执照（电话{phone}，证件{id_number}）",
        promised_limit={"value": 1, "unit": "working_day"},
    )
    for order in ((submitted, accepted), (accepted, submitted)):  # a late `submitted` too
        result = replay("-", "--until", "2026-12-31T00:00:00+08:00", stdin=lines(*order))
        out = alerts(result.stdout)
        assert {a["rule_id"] for a in out} >= {"deadline.warning", "deadline.overdue"}
        for secret in (name, id_number, phone):
            assert secret not in result.stdout
        assert "李*梅个体户营业执照（电话0778-***1234，证件4527*******6002）" in out[0]["message"]


def test_an_applicant_named_only_by_a_later_event_is_masked_in_earlier_alerts() -> None:
    # the name typed into `accepted`'s item name, a fee on a free item raised at once,
    # and the applicant named only on `delivered`, days later in event time: replay has
    # read the whole story before it prints, so the fee alert never shows the name
    name = "赵六"
    case = "451202-2026-0000323"
    accepted = event_doc(
        "accepted",
        "2026-11-16T10:00:00+08:00",
        case_id=case,
        center_id="451202",
        item_code="451202-XK-0001",
        item_name=f"{name}的申请",
        fee_standard=0,
        promised_limit={"value": 3, "unit": "working_day"},
    )
    ours = {"case_id": case, "center_id": "451202"}
    fee = event_doc("fee_charged", "2026-11-16T10:05:00+08:00", **ours, amount=1)
    decided = event_doc("decided", "2026-11-16T11:00:00+08:00", **ours, outcome="approve")
    concluded = event_doc("concluded", "2026-11-16T11:30:00+08:00", **ours)
    delivered = event_doc("delivered", "2026-11-18T09:00:00+08:00", **ours) | {
        "applicant": {"name": name}
    }
    result = replay("-", stdin=lines(accepted, fee, decided, concluded, delivered))
    assert result.returncode == 0, result.stderr
    out = alerts(result.stdout)
    assert [a["rule_id"] for a in out] == ["fee.overcharge"]
    assert name not in result.stdout
    assert "赵*的申请" in out[0]["message"]
    assert out[0]["details"]["item_name"] == "赵*的申请"


def test_a_reader_that_stops_early_stops_replay_quietly(tmp_path: Path) -> None:
    # `supervisor replay FILE | head`: no traceback, no "cannot read FILE", the status a
    # shell gives a filter that SIGPIPE stopped (128 + 13)
    events = tmp_path / "events.jsonl"
    events.write_text(
        lines(
            *(
                event_doc(
                    "accepted",
                    "2026-11-16T10:00:00+08:00",
                    case_id=f"451221-2026-{n:07d}",
                    item_code="451221-XK-0042",
                    promised_limit={"value": 1, "unit": "working_day"},
                )
                for n in range(2000)
            )
        ),
        encoding="utf-8",
    )
    command = [sys.executable, "-m", "supervisor.cli", "replay", str(events)]
    until = ["--until", "2026-12-31T00:00:00+08:00"]
    with subprocess.Popen(
        [*command, *until], stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT
    ) as process:
        assert process.stdout is not None and process.stderr is not None
        first = process.stdout.readline()
        process.stdout.close()  # far more than a pipe holds is still to come
        status = process.wait(timeout=120)
        stderr = process.stderr.read().decode()
    assert json.loads(first)["rule_id"] == "deadline.warning"
    assert status == 141
    assert stderr == ""


def test_a_file_that_begins_with_a_byte_order_mark_loses_no_event(tmp_path: Path) -> None:
    """A file saved with a BOM (Windows' Notepad writes one): the mark is the file's, and
    its first event is read; a BOM anywhere else is not JSON, and that line says so."""
    events = tmp_path / "events.jsonl"
    first, accepted, fee = story()
    events.write_bytes(
        b"\xef\xbb\xbf" + lines(first, accepted).encode() + b"\xef\xbb\xbf" + lines(fee).encode()
    )
    result = replay(str(events))
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        "line 3: not JSON: it begins with a byte order mark (BOM); send UTF-8 without one"
    ]
    events.write_bytes(b"\xef\xbb\xbf" + lines(*story()).encode())
    result = replay(str(events))
    assert (result.returncode, result.stderr) == (0, "")
    assert [a["rule_id"] for a in alerts(result.stdout)] == ["fee.overcharge"]


def test_amounts_are_written_in_full_in_the_alert_text() -> None:
    """A fee of 1,234,567.5 元 is written as such, not as 1.23457e+06 (six significant
    digits and an exponent); a sum of fees reads 0.3, not 0.30000000000000004."""
    submitted, accepted, _ = story()
    charged = [
        event_doc("fee_charged", "2026-10-08T09:00:00+08:00", case_id=CASE, amount=1234567.5),
        event_doc("fee_charged", "2026-10-08T10:00:00+08:00", case_id="C2", amount=0.1),
        event_doc("fee_charged", "2026-10-08T10:01:00+08:00", case_id="C2", amount=0.2),
    ]
    accepted_two = {
        **accepted,
        "event_id": "C2-accepted",
        "case_id": "C2",
        "payload": {**accepted["payload"], "fee_standard": 0.25},
    }
    result = replay("-", stdin=lines(submitted, accepted, accepted_two, *charged))
    assert result.returncode == 0, result.stderr
    messages = [a["message"] for a in alerts(result.stdout)]
    assert len(messages) == 2
    assert "已收费 1234567.5 元" in messages[0]
    assert "已收费 0.3 元，超过收费标准 0.25 元" in messages[1]
    assert "e+" not in result.stdout


def test_a_case_numbered_like_an_id_number_is_still_named_in_its_alerts() -> None:
    """Case numbers built as area code, date and sequence have an ID number's shape; the
    alert names its case all the same (contract §3 masks personal data, not case ids)."""
    case_id = "451221202611160001"
    accepted = event_doc(
        "accepted",
        "2026-11-16T10:00:00+08:00",
        case_id=case_id,
        item_code="X",
        item_name="食品经营许可（电话13977881234）",
        promised_limit={"value": 1, "unit": "working_day"},
    )
    result = replay("-", "--until", "2026-12-01T00:00:00+08:00", stdin=lines(accepted))
    assert result.returncode == 0, result.stderr
    out = alerts(result.stdout)
    assert out and all(
        f"办件 {case_id}（食品经营许可（电话139****1234））" in a["message"] for a in out
    )
