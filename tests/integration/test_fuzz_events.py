"""A fuzzing harness of the project's own: extreme events through the REAL broker and a
real worker process, then proof that supervision goes on for every partition.

Why: one valid event (an `accepted` whose item_name was 200,000 × 大) once stopped the
worker for good, and so did messages it could not dead-letter. Here a seeded generator
sends, in two batches:

- valid but extreme events: every string at its maximum length, characters of every
  Unicode plane (astral, combining, right-to-left, joiners, NUL and line separators),
  nesting in the payload down to the deepest allowed, exactly 64 KiB, numbers at the
  ends of their ranges, times in year 0001 and 9999; and one case fed near-64 KiB
  events until its state passes the bound of what a case may hold;
- invalid ones: 1 MiB of garbage (compressed on the wire, as a center's producer may),
  1 MB of incompressible bytes, a `type` that is a 900 KB string, invalid UTF-8, JSON
  nested 5,000 deep, 64 KiB + 1, the probe's 200,000 × 大, an applicant's name in a
  wrong field, an empty message and a tombstone, a 5,000-byte key.

After each batch: the worker answers healthy, every partition still raises alerts (a
known alert-raising pair of events per partition, sent after the batch), every message
that must be refused is on the dead-letter topic exactly once (found by the
topic/partition/offset it came from) with a bounded reason that quotes nothing of it and
its first 64 KiB at most, and every other message was applied. Then the worker is
restarted on what it left behind (the changelog holding the largest case state allowed,
its committed offsets) and must come up and go on the same way.

What each message should become is computed beforehand with the same decoder, engine
and size measure the worker uses (`expectations`), so the test checks the worker against
the code's own verdict, not against a copy of it.
"""

from __future__ import annotations

import json
import random
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from faust.serializers import codecs

from supervisor.centers import CenterRegistry
from supervisor.core.events import MAX_DEPTH, MAX_EVENT_BYTES
from supervisor.core.pipeline import FutureCheck, process
from supervisor.core.state import CaseState
from supervisor.deadletters import BODY_MAX, KEY_MAX, KEY_TRUNCATED, TRUNCATED, read
from supervisor.settings import Settings
from supervisor.worker import refusals
from supervisor.worker.reload import load_engine
from supervisor.worker.ticks import partition_of

from .conftest import CLOCK_START, RunningWorker, running_worker, worker_env
from .kafka_io import alerts_of, collect

pytestmark = pytest.mark.integration

SEED = 20261127
PARTITIONS = 3  # worker_env's
NAME = "欧阳娜娜"  # an applicant's name: must reach no reason and no log line
ID_NUMBER = "452727198805060021"
#: Characters of every Unicode plane and the kinds that break naive code: combining marks,
#: right-to-left, joiners, a byte order mark, line separators, NUL, quotes, backslashes.
ALPHABET = [
    "a",
    "Z",
    "é",
    "e\u0301",  # e + combining acute: two code points
    "中",
    "大",
    "\u05d0",  # Hebrew alef (right-to-left)
    "\u0627",  # Arabic alef
    "\u200d",  # zero-width joiner
    "\ufeff",  # a byte order mark inside text
    "\u2028",  # line separator
    "\u0000",
    '"',
    "\\",
    "\t",
    "😀",  # plane 1
    "👩\u200d👩\u200d👧",  # a joined emoji sequence
    "𠀀",  # plane 2 (CJK extension B)
    "\U00030000",  # plane 3
    "\U000e0100",  # plane 14 (variation selector)
    "\U000f0000",  # plane 15 (private use)
    "\U0010fffd",  # plane 16, the last
]


def text(rng: random.Random, length: int) -> str:
    """`length` code points drawn from ALPHABET (cut to exactly `length`)."""
    chars: list[str] = []
    while len(chars) < length:
        chars.extend(rng.choice(ALPHABET))
    return "".join(chars[:length])


def compact(document: dict[str, Any]) -> bytes:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


def padded(document: dict[str, Any], size: int) -> bytes:
    """`document` with a payload field `pad` of astral and CJK text making it exactly
    `size` bytes (compact JSON, UTF-8)."""
    document.setdefault("payload", {})["pad"] = ""
    room = size - len(compact(document))
    assert room >= 0, room
    document["payload"]["pad"] = "😀" * (room // 4) + "大" * (room % 4 // 3) + "x" * (room % 4 % 3)
    raw = compact(document)
    assert len(raw) == size, (len(raw), size)
    return raw


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


@dataclass
class Message:
    """One message to send, and what it should become: `dead` with a `reason` that starts
    with `why` (or `why` is None: applied)."""

    key: bytes | None
    value: bytes | None
    why: str | None = None
    compress: bool = False
    note: str = ""
    source: str = ""  # topic/partition/offset, once sent


@dataclass
class Batch:
    messages: list[Message] = field(default_factory=list)

    def add(
        self, key: str | bytes | None, value: bytes | None, why: str | None = None, **kw: Any
    ) -> None:
        self.messages.append(
            Message(key.encode() if isinstance(key, str) else key, value, why, **kw)
        )


def envelope(rng: random.Random, kind: str, at: str, case_id: str) -> dict[str, Any]:
    """Every envelope field present and at its maximum length."""
    return {
        "schema_version": "1",
        "event_id": text(rng, 128),
        "case_id": case_id,
        "center_id": rng.choice(["451221", "451221001", "999999"]),
        "type": kind,
        "occurred_at": at,
        "staff_id": text(rng, 64),
        "window_id": text(rng, 64),
        "department": text(rng, 128),
        "applicant": {"name": text(rng, 128), "id_number": text(rng, 32), "phone": text(rng, 32)},
    }


def long_case_id(rng: random.Random, n: int) -> str:
    prefix = f"fz{n:04d}-"
    return prefix + text(rng, 128 - len(prefix))


TIMES = [
    "2026-11-27T08:15:00+08:00",
    "2026-11-27T00:15:00.123456789Z",  # nine fractional digits, UTC
    "2026-11-26T10:00:00.5-14:00",  # the widest offset: 2026-11-27T08:00 in Shanghai
    "2026-11-27T08:59:59.999999+08:00",
    "2026-01-01T00:00:00+14:00",
    "0001-01-01T00:00:00+00:00",  # the first instant
    "0001-01-01T12:00:00+08:00",
    "1970-01-01T00:00:00Z",
    "9999-12-31T23:59:59.999999+00:00",  # the last: from the future (refused)
]


def payload_of(rng: random.Random, kind: str) -> dict[str, Any]:
    """A payload of `kind` with its declared fields present, long and extreme."""
    long = 2_000
    limit = {"value": rng.choice([0.5, 5, 1e-300, 5e-324, 10_000]), "unit": "working_day"}
    payloads: dict[str, dict[str, Any]] = {
        "accepted": {
            "item_code": text(rng, long),
            "item_name": text(rng, long),
            "promised_limit": limit,
            "statutory_limit": {"value": rng.choice([1, 2**53, 1e308]), "unit": "natural_day"},
            "immediate": rng.random() < 0.5,
            "fee_standard": rng.choice([0, 2**64 - 1, 1.7976931348623157e308]),
            "required_steps": [text(rng, 500) for _ in range(5)],
        },
        "not_accepted": {"reason": text(rng, long), "legal_basis": text(rng, long)},
        "supplement_requested": {"missing_materials": [text(rng, 300) for _ in range(20)]},
        "step_completed": {"step": text(rng, long), "outcome": text(rng, long)},
        "suspended": {"reason_code": "expert_review", "reason": text(rng, long)},
        "extended": {
            "value": rng.choice([1e-9, 3, 1e300]),
            "unit": "natural_day",
            "approved_by": text(rng, long),
            "reason": text(rng, long),
        },
        "fee_charged": {
            "amount": rng.choice([0, 2**64 - 1, 1.7976931348623157e308]),
            "currency": "CNY",
        },
        "decided": {"outcome": "deny", "reason": text(rng, long), "legal_basis": text(rng, long)},
        "evaluated": {"level": rng.choice([1, 5, 4.0]), "comment": text(rng, long)},
    }
    payload = payloads.get(kind, {})
    payload["extra"] = {
        "max_int": 2**64 - 1,
        "min_int": -(2**63),
        "max_float": 1.7976931348623157e308,
        "min_float": 5e-324,
        "minus_zero": -0.0,
        "nothing": None,
        text(rng, 8): text(rng, 40),  # a key of any plane too
    }
    return payload


KINDS = [
    "submitted",
    "accepted",
    "not_accepted",
    "supplement_requested",
    "supplement_received",
    "step_completed",
    "suspended",
    "resumed",
    "extended",
    "fee_charged",
    "decided",
    "concluded",
    "delivered",
    "withdrawn",
    "evaluated",
    "rectified",
    "complained",
    "complaint_answered",
]


def valid_extremes(rng: random.Random) -> Batch:
    """Events that pass the schema, each on a case of its own (so each is judged alone)."""
    batch = Batch()
    n = 0
    for kind in KINDS:
        for at in rng.sample(TIMES, 3):
            n += 1
            case = long_case_id(rng, n)
            document = envelope(rng, kind, at, case)
            document["payload"] = payload_of(rng, kind)
            size = rng.choice([MAX_EVENT_BYTES, MAX_EVENT_BYTES - 1, 20_000])
            batch.add(case, padded(document, size), note=f"{kind} at {at}, {size} bytes")
    for depth in (MAX_DEPTH - 2, MAX_DEPTH - 3):  # event 1, payload 2: its field holds the rest
        n += 1
        case = long_case_id(rng, n)
        document = envelope(rng, "submitted", TIMES[0], case)
        document["payload"] = {"deep": nested(depth)}
        batch.add(case, compact(document), note=f"payload nested to level {depth + 2}")
    return batch


def growing_case(rng: random.Random, tag: str) -> tuple[str, Batch]:
    """One case fed near-64 KiB events: its state passes the bound of what a case may hold
    after about eight of them; two small ones follow, which raise an alert if they fit."""
    case = f"451221-2026-big{tag}"
    batch = Batch()
    accepted = envelope(rng, "accepted", "2026-11-27T08:00:00+08:00", case)
    accepted["payload"] = {
        "item_code": "451221-XK-0042",
        "promised_limit": {"value": 5, "unit": "working_day"},
    }
    batch.add(case, compact(accepted), note="the big case accepted")
    for minute in range(1, 12):
        document = envelope(
            rng, "supplement_received", f"2026-11-27T08:{minute:02d}:00+08:00", case
        )
        batch.add(case, padded(document, MAX_EVENT_BYTES - 4_000), note=f"big case {minute}")
    for minute in (20, 21):
        document = envelope(rng, "supplement_requested", f"2026-11-27T08:{minute}:00+08:00", case)
        batch.add(case, compact(document), note="big case: small event")
    return case, batch


def invalid_messages(rng: random.Random, tag: str) -> Batch:
    batch = Batch()
    key = f"451221-2026-bad{tag}"
    size = f"at most {MAX_EVENT_BYTES:,} allowed"
    # 1 MiB of garbage from a few symbols (not UTF-8), gzip-compressed on the wire
    garbage = bytes(rng.choice(b'\x80\xff{[ "x') for _ in range(1_048_576))
    batch.add(key, garbage, f"event is 1,048,576 bytes; {size}", compress=True)
    # 8 MiB of zeros compressed: a compression bomb, 8 MiB once the worker has read it
    batch.add(key, bytes(8 * 1_048_576), f"event is 8,388,608 bytes; {size}", compress=True)
    # 1 MB that does not compress
    noise = rng.randbytes(1_000_000)
    batch.add(key, noise, f"event is 1,000,000 bytes; {size}")
    # a type that is a 900 KB string: the old reason quoted it whole
    typed = envelope(rng, "submitted", TIMES[0], key)
    typed["type"] = NAME * 75_000  # 900,000 bytes
    batch.add(key, compact(typed), "event is ")
    # the live probe's accepted with item_name 200,000 × 大
    accepted = envelope(rng, "accepted", TIMES[0], key)
    accepted["payload"] = {
        "item_code": "X",
        "item_name": "大" * 200_000,
        "promised_limit": {"value": 5, "unit": "working_day"},
    }
    batch.add(key, compact(accepted), "event is ")
    # exactly one byte over
    over = envelope(rng, "submitted", TIMES[0], key)
    batch.add(key, padded(over, MAX_EVENT_BYTES + 1), f"event is 65,537 bytes; {size}")
    # invalid UTF-8
    batch.add(key, b"\xff\xfe" + compact(envelope(rng, "submitted", TIMES[0], key)), "not UTF-8")
    # nested 5,000 deep, alone and in a payload; one level deeper than allowed
    batch.add(key, b"[" * 5_000 + b"]" * 5_000, "not JSON: nested too deeply")
    deep = envelope(rng, "submitted", TIMES[0], key)
    deep["payload"] = {"deep": "DEEP"}
    batch.add(
        key,
        compact(deep).replace(b'"DEEP"', b"[" * 5_000 + b"]" * 5_000),
        "not JSON: nested too deeply",
    )
    deep["payload"] = {"deep": nested(MAX_DEPTH - 1)}
    batch.add(key, compact(deep), "not JSON: nested too deeply")
    # numbers and text no encoder of the service can write
    big = envelope(rng, "fee_charged", TIMES[0], key)
    big["payload"] = {"amount": 2**64}
    batch.add(key, compact(big), "payload.amount: number out of range")
    batch.add(
        key,
        compact(envelope(rng, "submitted", TIMES[0], key)).replace(
            b'"department":"', b'"department":"\\udc00', 1
        ),
        "department: text with a lone surrogate",
    )
    # an applicant's name and ID number in wrong fields: reasons must not quote them
    named = envelope(rng, "submitted", TIMES[0], key)
    named["type"] = f"{NAME} {ID_NUMBER}"
    batch.add(key, compact(named), "type: unknown event type")
    level = envelope(rng, "evaluated", TIMES[0], key)
    level["payload"] = {"level": NAME}
    batch.add(key, compact(level), "payload.level: must be an integer")
    field_name = envelope(rng, "submitted", TIMES[0], key)
    field_name["applicant"] = {NAME: ID_NUMBER}
    batch.add(key, compact(field_name), "applicant.<key>: unknown field")
    # an instant before year 1 in UTC
    batch.add(
        key,
        compact(envelope(rng, "submitted", "0001-01-01T00:00:00+08:00", key)),
        "occurred_at: out of range",
    )
    # nothing at all, a tombstone, and a key of 5,000 bytes
    batch.add(key, b"", "not JSON")
    batch.add(key, None, "not JSON")
    batch.add(b"k" * 5_000, b"{", "not JSON")
    return batch


def expectations(batch: Batch, settings: Settings, states: dict[str, CaseState]) -> None:
    """Decide for each message without a verdict yet (`why` None: a valid event, as the
    generator built it) whether the worker must apply it or refuse it, by what it does:
    the same pipeline, engine, future check and state measure, cases as `states` hold them.

    Both measures of a case's state are taken, with the alerts it raises and without
    them (the worker's includes those not acknowledged yet, which depends on timing):
    the generator must not put a case so close to the bound that they disagree."""
    engine = load_engine(settings.rules_dir, settings.timezone, CenterRegistry.load().name)
    clock = datetime.fromisoformat(CLOCK_START) + timedelta(minutes=1)
    future = FutureCheck(clock, timedelta(seconds=settings.future_tolerance_seconds))

    def dumps(value: Any) -> bytes:
        return codecs.dumps("json", value)

    for message in batch.messages:
        if message.why is not None:
            continue
        try:
            result = process(engine, message.value or b"", states.get, future)
        except Exception as exc:
            message.why = refusals.engine_failure(exc).reason.split(" at ")[0]
            continue
        if result.rejected is not None:  # the future's reason names the clock: its prefix
            message.why = "from the future" if result.rejected_future else result.rejected
            continue
        assert result.state is not None
        if result.duplicate:
            continue
        value = result.state.to_json()
        alerts = [a.to_dict() for a in result.alerts]
        bare = refusals.state_refusal(refusals.encoded_size(value, dumps))
        full = refusals.state_refusal(
            refusals.encoded_size({**value, "unacknowledged": alerts}, dumps)
        )
        assert (bare is None) == (full is None), f"{message.note}: too close to the bound"
        if bare is not None:
            message.why = "case state would exceed 524,288 bytes"
            continue
        states[result.state.case_id] = result.state


async def send(bootstrap: str, topic: str, messages: Iterable[Message]) -> None:
    """Send each message in order, noting where it went; compressed ones through a gzip
    producer. Both accept records up to 16 MiB (the broker's limit applies to the
    compressed batch)."""
    plain = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", max_request_size=16 * 1_048_576
    )
    packed = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        max_request_size=16 * 1_048_576,
        compression_type="gzip",
    )
    await plain.start()
    await packed.start()
    try:
        for message in messages:
            producer = packed if message.compress else plain
            sent = await producer.send_and_wait(topic, key=message.key, value=message.value)
            message.source = f"{topic}/{sent.partition}/{sent.offset}"
    finally:
        await plain.stop()
        await packed.stop()


def probe_cases(tag: str) -> list[str]:
    """A case id for each partition (murmur2, as the centers' producers key them)."""
    found: dict[int, str] = {}
    for n in range(10_000):
        case = f"451221-2026-p{tag}{n:04d}"
        found.setdefault(partition_of(case, PARTITIONS), case)
        if len(found) == PARTITIONS:
            return [found[p] for p in range(PARTITIONS)]
    raise AssertionError("no case id for some partition")


def probes(tag: str) -> Iterator[tuple[str, Message]]:
    """Per partition, two supplement requests on a new case: supplement.repeated."""
    for case in probe_cases(tag):
        for minute in (30, 40):
            document = {
                "schema_version": "1",
                "event_id": f"probe-{case}-{minute}",
                "case_id": case,
                "center_id": "451221",
                "type": "supplement_requested",
                "occurred_at": f"2026-11-27T08:{minute}:00+08:00",
                "payload": {"missing_materials": ["户口簿"]},
            }
            yield case, Message(case.encode(), compact(document))


async def every_partition_raises_alerts(worker: RunningWorker, tag: str) -> None:
    sent = list(probes(tag))
    await send(worker.bootstrap, worker.events, [message for _, message in sent])
    wanted = {f"supplement.repeated:{case}" for case, _ in sent}
    records = await collect(
        worker.bootstrap,
        worker.alerts,
        lambda rs: wanted <= {a.get("alert_id") for a in alerts_of(rs)},
        timeout=60,
    )
    assert wanted <= {a.get("alert_id") for a in alerts_of(records)}, "a partition raises none"


def healthy(worker: RunningWorker) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{worker.web_port}/healthz", timeout=2):
            return True
    except OSError:
        return False


async def dead_letters(worker: RunningWorker, sources: set[str]) -> dict[str, list[Any]]:
    """The dead letters of the given sources (topic/partition/offset), by source."""
    records = await collect(
        worker.bootstrap,
        worker.dlq,
        lambda rs: sources <= {dict(r.headers).get("source", b"").decode() for r in rs},
        timeout=90,
    )
    found: dict[str, list[Any]] = {}
    for record in records:
        found.setdefault(dict(record.headers)["source"].decode(), []).append(record)
    return found


def check_dead_letters(batch: Batch, found: dict[str, list[Any]]) -> None:
    """Refused: on the dead-letter topic exactly once, reason as expected, bounded,
    quoting nothing; body and key as sent or their beginnings, with their sizes. Applied:
    not there at all."""
    for message in batch.messages:
        letters = found.get(message.source, [])
        if message.why is None:
            assert letters == [], f"{message.note}: applied, yet dead-lettered"
            continue
        assert len(letters) == 1, f"{message.note or message.why}: {len(letters)} dead letters"
        [letter] = letters
        headers = dict(letter.headers)
        reason = headers["reason"].decode()
        assert reason.startswith(message.why), (reason, message.why)
        assert len(reason) <= 1_000
        assert NAME not in reason and ID_NUMBER not in reason and "大大" not in reason
        body = message.value or b""
        assert letter.value == body[:BODY_MAX]
        if len(body) > BODY_MAX:
            assert headers[TRUNCATED] == str(len(body)).encode()
        else:
            assert TRUNCATED not in headers
        if message.key is not None and len(message.key) > KEY_MAX:
            assert letter.key == message.key[:KEY_MAX]
            assert headers[KEY_TRUNCATED] == str(len(message.key)).encode()
        else:
            assert letter.key == message.key


async def run_batch(worker: RunningWorker, batch: Batch, tag: str) -> None:
    await send(worker.bootstrap, worker.events, batch.messages)
    refused = {m.source for m in batch.messages if m.why is not None}
    found = await dead_letters(worker, refused)
    await every_partition_raises_alerts(worker, tag)  # after the batch: it was read through
    found = await dead_letters(worker, refused)
    assert healthy(worker), "the worker does not answer /healthz"
    check_dead_letters(batch, found)


def metric(port: int, name: str) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(name) and not line.startswith("#")
    )


async def test_extreme_and_invalid_events_never_stop_the_worker(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    rng = random.Random(SEED)
    tag = uuid.uuid4().hex[:6]
    env = worker_env(kafka_bootstrap, tmp_path, tag)
    settings = Settings.from_env(env)
    states: dict[str, CaseState] = {}

    extremes = valid_extremes(rng)
    big_case, growing = growing_case(rng, tag)
    extremes.messages += growing.messages
    expectations(extremes, settings, states)
    bad = invalid_messages(rng, tag)
    expectations(bad, settings, states)  # all have their verdict: nothing to compute
    kinds = Counter("applied" if m.why is None else m.why.split(":")[0] for m in extremes.messages)
    print(f"valid extremes: {dict(kinds)}; invalid: {len(bad.messages)}")
    # the generator reaches what it is for: most extremes applied, the big case refused
    # past the bound and its small events applied after
    assert kinds["applied"] >= 30
    big = growing.messages
    assert big[-1].why is None and big[-2].why is None  # the small ones fit
    assert [m.why for m in big[1:12]].count("case state would exceed 524,288 bytes") >= 2
    assert big[1].why is None

    log = tmp_path / "worker.log"
    with running_worker(env, log) as worker:
        await run_batch(worker, extremes, f"a{tag}")
        await run_batch(worker, bad, f"b{tag}")
        # the small events on the big case still raised their alert
        records = await collect(
            worker.bootstrap,
            worker.alerts,
            lambda rs: any(
                a.get("alert_id") == f"supplement.repeated:{big_case}" for a in alerts_of(rs)
            ),
            timeout=30,
        )
        assert any(
            a.get("alert_id") == f"supplement.repeated:{big_case}" for a in alerts_of(records)
        )
        engine_errors = metric(
            worker.web_port, 'supervisor_worker_events_rejected_total{reason="engine_error"}'
        )
        assert engine_errors == 0  # malformed input is never an engine error

    # Restarted on what it left behind: the changelog (the big case's state near the
    # bound), committed offsets, dead letters. It comes up and goes on. It reads the last
    # second it handled again (delivery is at least once, worker/continuity.py): what it
    # refused then is refused again, identically, and ops' listing shows it once.
    with running_worker(env, log) as worker:
        assert healthy(worker)
        await every_partition_raises_alerts(worker, f"c{tag}")
        refused = [m for m in [*extremes.messages, *bad.messages] if m.why is not None]
        found = await dead_letters(worker, {m.source for m in refused})
        for message in refused:
            # An event from the future is refused with the worker's clock at that moment
            # in its reason (how far ahead of which time): its copies differ there only.
            clocked = message.why == "from the future"
            copies = {
                (r.key, r.value, tuple(h for h in r.headers if not (clocked and h[0] == "reason")))
                for r in found[message.source]
            }
            assert len(copies) == 1, f"{message.note or message.why}: copies differ"
        listed = Counter(letter.source for letter in await read(worker.bootstrap, worker.dlq))
        for message in [*extremes.messages, *bad.messages]:
            assert listed[message.source] == (message.why is not None), message.note
        assert healthy(worker)

    written = log.read_text(encoding="utf-8", errors="replace")
    assert NAME not in written and ID_NUMBER not in written  # no reason, no traceback
    assert "Traceback" not in written, written[-3000:]
