"""The dead letters of the case-events topic, for ops: list them, export them, send them
again once fixed.

Why: the worker never drops a message it cannot use; it moves it to the dead-letter topic
with the original bytes, a `reason` header and a `source` header (topic/partition/offset).
A center whose software sends a wrong field, or whose clock runs a day ahead (reason
kind `future`), leaves its events there. Ops need to see what piled up and why, and to
put the corrected events back on the case-events topic, where the worker judges them like
any late event (a case is rebuilt in event-time order, so nothing is judged twice).

A dead letter is bounded, so that storing it can never fail for its size (`record`): a
message body over `BODY_MAX` (64 KiB, the contract's bound of an event: no valid event is
ever cut) keeps its first `BODY_MAX` bytes and gains a `truncated` header with its
original size; a key over `KEY_MAX` likewise (`key-truncated`); the reason is cut at
`HEADER_MAX` bytes. A truncated body is listed as such and never exported as an event to
send again: only the center has the whole message.

The workflow (docs/operations.md):

    supervisor dlq list [--kind invalid]        what is there, and why (masked)
    supervisor dlq export fixed.jsonl           the events, one a line, to correct
    supervisor replay fixed.jsonl               check them with the same engine
    supervisor dlq resend fixed.jsonl           publish the valid ones, keyed by case_id

An export holds applicants' data as the centers sent it: it is written with mode 0600,
and the listing masks ID numbers and phones like every other output.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from supervisor.core.events import MAX_EVENT_BYTES, InvalidEvent, numbered
from supervisor.masking import mask_text
from supervisor.worker.metrics import rejection_reason

#: What a listing shows of a message's bytes: enough to recognise it.
PREVIEW = 160
#: A dead letter keeps at most this much of the message body: every valid event whole.
BODY_MAX = MAX_EVENT_BYTES
#: ... and of its key (a case_id is at most 128 characters: 512 bytes).
KEY_MAX = 1_024
#: ... and of its reason header (the worker's reasons are at most 1,000 characters).
HEADER_MAX = 4_096
#: Header of a dead letter whose body was cut to BODY_MAX bytes: the original size in
#: bytes (decimal ASCII).
TRUNCATED = "truncated"
#: Header of a dead letter whose key was cut to KEY_MAX bytes: the original key's size.
KEY_TRUNCATED = "key-truncated"
#: The largest dead letter `record` builds: body, key, reason, source (a topic name is at
#: most 249 characters) and the two size headers. Far below the producer's limit
#: (supervisor.kafka.admin.PRODUCER_MAX_REQUEST_SIZE), so a dead letter always fits.
RECORD_MAX = BODY_MAX + KEY_MAX + HEADER_MAX + 512


@dataclass(frozen=True)
class Record:
    """A dead letter as the worker writes it: key, value and headers, each bounded."""

    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes]]

    def without_body(self) -> Record:
        """The same letter with no body: what is stored when even the bounded one is
        refused by the broker (a topic configured with a smaller max.message.bytes)."""
        headers = [(name, value) for name, value in self.headers if name != TRUNCATED]
        original = next((v for n, v in self.headers if n == TRUNCATED), None)
        size = original if original is not None else str(len(self.value)).encode()
        return Record(self.key, b"", [*headers, (TRUNCATED, size)])


def record(key: bytes | None, value: bytes | None, reason: str, source: str) -> Record:
    """The dead letter of a refused message: its key and body as they came, cut to
    KEY_MAX and BODY_MAX bytes when larger (with their original sizes in headers), the
    reason cut to HEADER_MAX bytes, and `source` (<topic>/<partition>/<offset>)."""
    body = value or b""
    headers = [("reason", _cut(reason.encode("utf-8"), HEADER_MAX)), ("source", source.encode())]
    if len(body) > BODY_MAX:
        headers.append((TRUNCATED, str(len(body)).encode()))
        body = body[:BODY_MAX]
    if key is not None and len(key) > KEY_MAX:
        headers.append((KEY_TRUNCATED, str(len(key)).encode()))
        key = key[:KEY_MAX]
    return Record(key, body, headers)


def _cut(text: bytes, limit: int) -> bytes:
    """UTF-8 `text` cut to at most `limit` bytes, at a character boundary."""
    if len(text) <= limit:
        return text
    return text[:limit].decode("utf-8", "ignore").encode("utf-8")


@dataclass(frozen=True)
class DeadLetter:
    """One message of the dead-letter topic, as the worker wrote it."""

    partition: int
    offset: int
    at: datetime  # when the worker moved it (the DLQ record's Kafka timestamp)
    key: str | None
    reason: str
    source: str  # <topic>/<partition>/<offset> of the original message
    value: bytes
    #: the original body's size in bytes when only its first BODY_MAX bytes were kept
    truncated: int | None = None

    @property
    def kind(self) -> str:
        """The bounded reason label (malformed, invalid, future, engine_error), as in the
        metric `supervisor_worker_events_rejected_total{reason}`."""
        return rejection_reason(self.reason)

    @property
    def left_out(self) -> str | None:
        """Why an export leaves the letter out (None: it is exported): its body was cut,
        or it is not a JSON document. Either way only the center can send it again."""
        if self.truncated is not None:
            return f"truncated (the first {len(self.value):,} of {self.truncated:,} bytes kept)"
        return None if self.event_line() is not None else "not JSON"

    def event_line(self) -> str | None:
        """The message as one JSON line for an export, or None when it is not a JSON
        document at all (not UTF-8, not JSON), or when only its beginning was kept (a
        truncated body is never sent again as if whole, even if it happens to parse):
        those can only be re-sent by the center."""
        if self.truncated is not None:
            return None
        try:
            document = json.loads(self.value.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):  # RecursionError: nesting
            return None
        return json.dumps(document, ensure_ascii=False, separators=(",", ":"))

    def summary(self) -> dict[str, Any]:
        """What a listing shows: everything but the bytes, which are previewed masked."""
        text = self.value[: PREVIEW * 4].decode("utf-8", "replace")
        preview = text if len(text) <= PREVIEW else text[:PREVIEW] + "…"
        if self.truncated is not None:
            preview += f" [{self.left_out}]"
        return {
            "at": self.at.isoformat(timespec="seconds"),
            "source": self.source,
            "dlq": f"{self.partition}/{self.offset}",
            "key": mask_text(self.key) if self.key is not None else None,
            "kind": self.kind,
            "reason": mask_text(self.reason),
            "value": mask_text(preview),
            "truncated": self.truncated,
        }


def _header(headers: Iterable[tuple[str, bytes]] | None, name: str) -> str:
    for key, value in headers or ():
        if key == name:
            return value.decode("utf-8", "replace")
    return ""


def _size_header(headers: Iterable[tuple[str, bytes]] | None, name: str) -> int | None:
    text = _header(headers, name)
    return int(text) if text.isdigit() else None


async def read(bootstrap: str, topic: str, timeout: float = 30.0) -> list[DeadLetter]:
    """Every dead letter on the topic now, oldest first, each refused message once
    (`once_each`). Reads up to the end offsets seen at the start: a live worker adding
    more meanwhile does not keep the command running."""
    partitions = await _partitions(bootstrap, topic)
    if not partitions:
        return []
    tps = [TopicPartition(topic, p) for p in partitions]
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        await consumer.seek_to_beginning(*tps)
        letters: list[DeadLetter] = []
        async with asyncio.timeout(timeout):
            while [tp for tp in tps if await consumer.position(tp) < ends[tp]]:
                batches = await consumer.getmany(*tps, timeout_ms=500)
                for tp, records in batches.items():
                    letters.extend(
                        DeadLetter(
                            partition=tp.partition,
                            offset=r.offset,
                            at=datetime.fromtimestamp(r.timestamp / 1000, UTC),
                            key=r.key.decode("utf-8", "replace") if r.key is not None else None,
                            reason=_header(r.headers, "reason"),
                            source=_header(r.headers, "source"),
                            value=r.value or b"",
                            truncated=_size_header(r.headers, TRUNCATED),
                        )
                        for r in records
                        if r.offset < ends[tp]
                    )
        return once_each(sorted(letters, key=lambda d: (d.at, d.partition, d.offset)))
    finally:
        await consumer.stop()


def once_each(letters: Iterable[DeadLetter]) -> list[DeadLetter]:
    """The letters without their copies: the worker refuses a message again when it reads
    it again (delivery is at least once: after a restart or a rebalance it reads back the
    last second it handled, see worker/continuity.py), so one message may have several
    letters, all with its `source`. The first of each is kept."""
    seen: set[str] = set()
    kept = []
    for letter in letters:
        if letter.source and letter.source in seen:
            continue
        seen.add(letter.source)
        kept.append(letter)
    return kept


async def _partitions(bootstrap: str, topic: str) -> list[int]:
    """The topic's partition numbers; none when it does not exist (nothing was refused)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        (described,) = await admin.describe_topics([topic])
    finally:
        await admin.close()
    if described.get("error_code"):
        return []
    return sorted(p["partition"] for p in described.get("partitions", []))


def export(letters: Iterable[DeadLetter], path: Path) -> tuple[int, list[DeadLetter]]:
    """Write the letters that are whole JSON documents to `path`, one a line (mode 0600:
    they hold applicants' data); return how many were written and the ones left out (not
    JSON, or truncated: `DeadLetter.left_out` says which)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        return write_events(letters, out)


def write_events(letters: Iterable[DeadLetter], out: TextIO) -> tuple[int, list[DeadLetter]]:
    """`export` to an open text stream (standard output, for a container's `exec`)."""
    written, skipped = 0, []
    for letter in letters:
        line = letter.event_line()
        if line is None:
            skipped.append(letter)
            continue
        out.write(line + "\n")
        written += 1
    return written, skipped


@dataclass(frozen=True)
class Refusal:
    line: int
    reason: str


async def resend(bootstrap: str, topic: str, lines: Iterable[str]) -> tuple[int, list[Refusal]]:
    """Publish each valid event line to the case-events topic, keyed by its case_id (so a
    case's events stay on one partition); a line that is still not a valid event is
    refused with its line number and reason, and nothing of it is sent. Blank lines are
    skipped. The worker ignores an event_id it already applied, so sending twice is safe."""
    valid: list[tuple[str, bytes]] = []
    refused: list[Refusal] = []
    for number, line, event in numbered(lines):
        if isinstance(event, InvalidEvent):
            refused.append(Refusal(number, event.reason))
            continue
        text = line.decode("utf-8") if isinstance(line, bytes) else line
        valid.append((event.case_id, text.strip().encode("utf-8")))
    if not valid:
        return 0, refused
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        pending = [await producer.send(topic, key=key.encode(), value=body) for key, body in valid]
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return len(valid), refused
