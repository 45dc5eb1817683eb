"""The dead-letter tool's pure parts: kinds, masked listing, export file, refusals."""

from __future__ import annotations

import asyncio
import io
import json
from datetime import UTC, datetime
from pathlib import Path

from supervisor.deadletters import (
    BODY_MAX,
    HEADER_MAX,
    KEY_MAX,
    KEY_TRUNCATED,
    RECORD_MAX,
    TRUNCATED,
    DeadLetter,
    export,
    once_each,
    record,
    resend,
    write_events,
)
from supervisor.kafka.admin import PRODUCER_MAX_REQUEST_SIZE
from tests.core.factories import event_doc


def letter(value: bytes, reason: str) -> DeadLetter:
    return DeadLetter(
        partition=0,
        offset=7,
        at=datetime(2026, 11, 27, 3, tzinfo=UTC),
        key="451221-2026-0000001",
        reason=reason,
        source="case-events/2/41",
        value=value,
    )


def test_a_listing_masks_applicants_and_names_the_kind() -> None:
    doc = event_doc("submitted", "2026-11-27T09:00:00+08:00", applicant_id="452701199001011234")
    shown = letter(json.dumps(doc).encode(), "payload.applicant_id: extra field").summary()
    assert shown["kind"] == "invalid"
    assert "452701199001011234" not in json.dumps(shown)
    assert shown["source"] == "case-events/2/41" and shown["dlq"] == "0/7"


def test_an_export_keeps_json_documents_one_a_line_and_is_private(tmp_path: Path) -> None:
    doc = event_doc("submitted", "2026-11-27T09:00:00+08:00")
    pretty = json.dumps(doc, indent=2, ensure_ascii=False).encode()  # a multi-line document
    letters = [letter(pretty, "occurred_at: bad"), letter(b"\xff\xfe", "not UTF-8 text")]
    path = tmp_path / "out.jsonl"
    written, skipped = export(letters, path)
    assert (written, [s.kind for s in skipped]) == (1, ["malformed"])
    assert path.stat().st_mode & 0o777 == 0o600
    assert [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] == [doc]


def test_an_export_to_a_stream_writes_the_same_lines(tmp_path: Path) -> None:
    # `supervisor dlq export -` in a container: the same lines on standard output.
    doc = event_doc("submitted", "2026-11-27T09:00:00+08:00")
    letters = [letter(json.dumps(doc).encode(), "occurred_at: bad"), letter(b"{", "not JSON")]
    out = io.StringIO()
    written, skipped = write_events(letters, out)
    assert (written, len(skipped)) == (1, 1)
    path = tmp_path / "out.jsonl"
    export(letters, path)
    assert out.getvalue() == path.read_text(encoding="utf-8")


def test_lines_that_are_still_invalid_are_refused_and_not_sent() -> None:
    # No valid line: nothing is sent, so no broker is needed (the address is unreachable).
    sent, refused = asyncio.run(
        resend("127.0.0.1:9", "case-events", ["", '{"type": "submitted"}', "not json"])
    )
    assert sent == 0
    assert [r.line for r in refused] == [2, 3]
    assert refused[1].reason.startswith("not JSON")


# -- bounded dead letters: a message too large to store keeps its headers and a beginning --


def test_a_dead_letter_of_a_small_message_keeps_it_whole() -> None:
    body = b'{"not": "an event"}'
    made = record(b"451221-2026-0000001", body, "type: required", "case-events/2/41")
    assert made.key == b"451221-2026-0000001" and made.value == body
    assert dict(made.headers) == {"reason": b"type: required", "source": b"case-events/2/41"}


def test_a_dead_letter_of_a_megabyte_keeps_its_first_64_kib_and_says_so() -> None:
    """Item 1: a 1 MB message that is not JSON used to be dead-lettered whole, over the
    producer's limit: the agent crashed and the message was lost."""
    body = bytes(range(256)) * 4096  # 1 MiB, not UTF-8
    made = record(b"k" * 5_000, body, "event is 1,048,576 bytes; at most 65,536 allowed", "t/0/1")
    assert made.value == body[:BODY_MAX] and BODY_MAX == 65_536
    headers = dict(made.headers)
    assert headers[TRUNCATED] == b"1048576"
    assert made.key == b"k" * KEY_MAX and headers[KEY_TRUNCATED] == b"5000"
    size = len(made.value) + len(made.key or b"") + sum(len(k) + len(v) for k, v in made.headers)
    assert size <= RECORD_MAX < PRODUCER_MAX_REQUEST_SIZE


def test_a_message_of_exactly_64_kib_is_kept_whole() -> None:
    made = record(None, b"x" * BODY_MAX, "r", "t/0/1")
    assert made.value == b"x" * BODY_MAX and TRUNCATED not in dict(made.headers)


def test_a_long_reason_is_cut_at_a_character_boundary() -> None:
    made = record(None, b"", "原因" * 5_000, "t/0/1")
    reason = dict(made.headers)["reason"]
    assert len(reason) <= HEADER_MAX
    assert reason.decode("utf-8").startswith("原因")  # still valid UTF-8


def test_without_its_body_a_letter_keeps_its_headers_and_original_size() -> None:
    whole = record(b"k", b"y" * 100, "why", "t/0/1").without_body()
    assert whole.value == b"" and dict(whole.headers)[TRUNCATED] == b"100"
    cut = record(b"k", b"y" * 100_000, "why", "t/0/1").without_body()
    assert dict(cut.headers)[TRUNCATED] == b"100000"
    assert [name for name, _ in cut.headers].count(TRUNCATED) == 1


def test_a_truncated_letter_is_never_exported_as_an_event_and_says_why(tmp_path: Path) -> None:
    """Its first 64 KiB may even parse (an event followed by blanks): it is still not the
    message the center sent, so it is left out of the export with its sizes, and the
    listing shows it is cut."""
    doc = event_doc("submitted", "2026-11-27T09:00:00+08:00")
    body = json.dumps(doc).encode() + b" " * 100_000
    made = record(b"k", body, "event is 100,… bytes", "t/0/1")
    cut = DeadLetter(
        partition=0,
        offset=1,
        at=datetime(2026, 11, 27, 3, tzinfo=UTC),
        key="k",
        reason="event is too large",
        source="t/0/1",
        value=made.value,
        truncated=int(dict(made.headers)[TRUNCATED]),
    )
    assert cut.event_line() is None
    expected = f"truncated (the first 65,536 of {len(body):,} bytes kept)"
    assert cut.left_out == expected
    assert cut.summary()["truncated"] == len(body)
    assert cut.summary()["value"].endswith(f"[{expected}]")
    written, skipped = export([cut, letter(json.dumps(doc).encode(), "r")], tmp_path / "o.jsonl")
    assert written == 1 and skipped == [cut]


def test_a_deeply_nested_letter_is_left_out_of_an_export_without_a_crash(tmp_path: Path) -> None:
    nested = letter(b"[" * 5_000 + b"]" * 5_000, "not JSON: nested too deeply")
    assert nested.event_line() is None and nested.left_out == "not JSON"
    assert export([nested], tmp_path / "o.jsonl") == (0, [nested])
    assert nested.kind == "malformed"


def test_resend_refuses_a_line_over_64_kib() -> None:
    doc = event_doc("submitted", "2026-11-27T09:00:00+08:00", padding="x" * 70_000)
    sent, refused = asyncio.run(resend("127.0.0.1:9", "case-events", [json.dumps(doc) + "\n"]))
    assert sent == 0
    assert [r.line for r in refused] == [1]
    assert refused[0].reason.startswith("event is 70,")


def test_a_message_refused_again_after_a_restart_is_listed_once() -> None:
    """Delivery is at least once: a worker that reads a message again refuses it again."""
    first, copy, other = (
        letter(b"{", "not JSON"),
        letter(b"{", "not JSON"),
        DeadLetter(
            partition=1,
            offset=3,
            at=datetime(2026, 11, 27, 4, tzinfo=UTC),
            key=None,
            reason="not JSON",
            source="case-events/2/42",
            value=b"{",
        ),
    )
    assert once_each([first, copy, other]) == [first, other]
