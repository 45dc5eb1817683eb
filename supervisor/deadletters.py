"""The dead letters of the case-events topic, for ops: list them, export them, send them
again once fixed.

Why: the worker never drops a message it cannot use; it moves it to the dead-letter topic
with the original bytes, a `reason` header and a `source` header (topic/partition/offset).
A center whose software sends a wrong field, or whose clock runs a day ahead (reason
kind `future`), leaves its events there. Ops need to see what piled up and why, and to
put the corrected events back on the case-events topic, where the worker judges them like
any late event (a case is rebuilt in event-time order, so nothing is judged twice).

The workflow (README "Operations"):

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
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from supervisor.core.events import InvalidEvent, numbered
from supervisor.masking import mask_text
from supervisor.worker.metrics import rejection_reason

#: What a listing shows of a message's bytes: enough to recognise it.
PREVIEW = 160


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

    @property
    def kind(self) -> str:
        """The bounded reason label (malformed, invalid, future, engine_error), as in the
        metric `supervisor_worker_events_rejected_total{reason}`."""
        return rejection_reason(self.reason)

    def event_line(self) -> str | None:
        """The message as one JSON line for an export, or None when it is not a JSON
        document at all (not UTF-8, not JSON): those can only be re-sent by the center."""
        try:
            document = json.loads(self.value.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return None
        return json.dumps(document, ensure_ascii=False, separators=(",", ":"))

    def summary(self) -> dict[str, Any]:
        """What a listing shows: everything but the bytes, which are previewed masked."""
        text = self.value.decode("utf-8", "replace")
        preview = text if len(text) <= PREVIEW else text[:PREVIEW] + "…"
        return {
            "at": self.at.isoformat(timespec="seconds"),
            "source": self.source,
            "dlq": f"{self.partition}/{self.offset}",
            "key": mask_text(self.key) if self.key is not None else None,
            "kind": self.kind,
            "reason": mask_text(self.reason),
            "value": mask_text(preview),
        }


def _header(headers: Iterable[tuple[str, bytes]] | None, name: str) -> str:
    for key, value in headers or ():
        if key == name:
            return value.decode("utf-8", "replace")
    return ""


async def read(bootstrap: str, topic: str, timeout: float = 30.0) -> list[DeadLetter]:
    """Every dead letter on the topic now, oldest first. Reads up to the end offsets seen
    at the start: a live worker adding more meanwhile does not keep the command running."""
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
                        )
                        for r in records
                        if r.offset < ends[tp]
                    )
        return sorted(letters, key=lambda d: (d.at, d.partition, d.offset))
    finally:
        await consumer.stop()


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
    """Write the letters that are JSON documents to `path`, one a line (mode 0600: they
    hold applicants' data); return how many were written and the ones that are not JSON."""
    written, skipped = 0, []
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
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
