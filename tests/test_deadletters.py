"""The dead-letter tool's pure parts: kinds, masked listing, export file, refusals."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

from supervisor.deadletters import DeadLetter, export, resend
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


def test_lines_that_are_still_invalid_are_refused_and_not_sent() -> None:
    # No valid line: nothing is sent, so no broker is needed (the address is unreachable).
    sent, refused = asyncio.run(
        resend("127.0.0.1:9", "case-events", ["", '{"type": "submitted"}', "not json"])
    )
    assert sent == 0
    assert [r.line for r in refused] == [2, 3]
    assert refused[1].reason.startswith("not JSON")
