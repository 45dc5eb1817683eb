"""No poison message: how the worker refuses what it cannot use (supervisor/worker/refusals.py),
and the size limits that make everything it writes fit (supervisor/kafka/admin.py).

The worker's own behaviour on the real broker is in tests/integration/test_dead_letters.py
and tests/integration/test_fuzz_events.py; these are its pure parts."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

import pytest
from aiokafka.errors import KafkaTimeoutError, MessageSizeTooLargeError

from supervisor.core.pipeline import process
from supervisor.core.state import CaseState
from supervisor.deadletters import RECORD_MAX, TRUNCATED, Record, record
from supervisor.kafka.admin import (
    DEFAULT_TOPIC_CONFIGS,
    MESSAGE_MAX_BYTES,
    PRODUCER_MAX_REQUEST_SIZE,
)
from supervisor.settings import Settings
from supervisor.worker import json_table
from supervisor.worker.app import create_app
from supervisor.worker.metrics import rejection_reason
from supervisor.worker.refusals import (
    CASE_STATE_MAX_BYTES,
    STATE_WRITE_MAX_BYTES,
    encoded_size,
    engine_failure,
    state_refusal,
    store,
)
from tests.core.factories import ROOT, engine, event_doc

NAME = "李小梅"


# -- the limits agree ------------------------------------------------------------------


def test_every_bound_fits_the_producer_and_the_producer_fits_every_topic() -> None:
    """What the worker writes < what its producer sends < what every topic stores."""
    assert CASE_STATE_MAX_BYTES == 524_288
    assert RECORD_MAX < CASE_STATE_MAX_BYTES < STATE_WRITE_MAX_BYTES < PRODUCER_MAX_REQUEST_SIZE
    assert PRODUCER_MAX_REQUEST_SIZE == 1_000_000 < MESSAGE_MAX_BYTES == 1_048_588
    assert DEFAULT_TOPIC_CONFIGS == {"max.message.bytes": "1048588"}


def test_the_local_brokers_limit_is_the_topics_limit() -> None:
    text = (ROOT / "supervisor/kafka/server.properties").read_text()
    found = re.search(r"^message\.max\.bytes=(\d+)$", text, re.M)
    assert found is not None and int(found.group(1)) == MESSAGE_MAX_BYTES


def test_the_worker_sets_its_producer_limit_and_its_changelogs_topic_limit(
    tmp_path: Path,
) -> None:
    settings = Settings.from_env(
        {"SUPERVISOR_DATA_DIR": str(tmp_path), "SUPERVISOR_RULES_RELOAD_SECONDS": "0"}
    )
    worker = create_app(settings)
    assert worker.app.conf.producer_max_request_size == PRODUCER_MAX_REQUEST_SIZE
    cases = worker.app.tables["cases"]
    assert cases.extra_topic_configs["max.message.bytes"] == str(MESSAGE_MAX_BYTES)  # type: ignore[attr-defined]


# -- the case-state bound ----------------------------------------------------------------


def test_a_case_of_many_near_64_kib_events_outgrows_the_bound() -> None:
    """Each event is valid (under 64 KiB), but a case keeps every event's document: the
    state of a case with enough of them, encoded as the changelog holds it
    (worker/json_table.py), passes CASE_STATE_MAX_BYTES, and the event that would pass it
    is refused with a reason that names the bound and no value of the event."""
    the_engine = engine()
    case = "451221-2026-0000777"
    states: dict[str, CaseState] = {}
    sizes = []
    documents = [
        event_doc(
            "accepted",
            "2026-11-27T09:00:00+08:00",
            case_id=case,
            item_code="X",
            promised_limit={"value": 5, "unit": "working_day"},
        )
    ] + [
        event_doc(
            "supplement_received",
            f"2026-11-27T09:{n:02d}:00+08:00",
            case_id=case,
            note=f"{n}" + "材" * 21_000,
        )
        for n in range(1, 12)
    ]
    for document in documents:
        raw = json.dumps(document, ensure_ascii=False).encode()
        assert len(raw) < 65_536
        result = process(the_engine, raw, states.get)
        assert result.rejected is None and result.state is not None
        states[case] = result.state
        sizes.append(encoded_size(result.state.to_json(), json_table.dumps))
    assert sizes[5] is not None and sizes[5] < CASE_STATE_MAX_BYTES
    assert sizes[-1] is not None and sizes[-1] > CASE_STATE_MAX_BYTES
    first_over = next(n for n, size in enumerate(sizes) if state_refusal(size) is not None)
    reason = state_refusal(sizes[first_over])
    assert reason is not None
    assert reason == "case state would exceed 524,288 bytes; the case is left as it was"
    assert reason.endswith("; the case is left as it was")
    assert rejection_reason(reason) == "invalid"


def test_a_state_that_cannot_be_encoded_is_refused_too() -> None:
    def refuse(value: Any) -> bytes:
        raise TypeError("Integer exceeds 64-bit range")

    assert encoded_size({"x": 1}, refuse) is None
    assert state_refusal(None) == (
        "case state cannot be encoded for storage; the case is left as it was"
    )


# -- an exception out of the engine ----------------------------------------------------------


def _raised(exc: BaseException) -> BaseException:
    try:
        raise exc
    except BaseException as caught:
        return caught


def test_an_engine_bug_is_reported_by_type_and_place_never_by_its_message() -> None:
    """Item 3 for bugs: a KeyError of an applicant's name must not carry the name into the
    dead-letter reason nor the worker's log (frames only)."""
    failure = engine_failure(_raised(KeyError(NAME)))
    assert failure.bug
    # raised outside the service's code: the innermost frame, by its file's name
    assert re.fullmatch(
        r"engine error: KeyError at test_poison\.py:\d+ in _raised \(a bug: .*\)", failure.reason
    ), failure.reason
    assert NAME not in failure.reason and NAME not in failure.frames
    assert "_raised" in failure.frames
    assert rejection_reason(failure.reason) == "engine_error"


def test_a_time_the_engine_cannot_place_is_a_refusal_not_a_bug() -> None:
    """As replay reports it ("cannot apply this event"): the center's to fix, so it does
    not page ops as an engine error does."""
    for exc in (ValueError(f"time limit {NAME} cannot be placed"), OverflowError("date")):
        failure = engine_failure(_raised(exc))
        assert not failure.bug
        assert failure.reason.startswith(f"cannot apply this event: {type(exc).__name__} at ")
        assert NAME not in failure.reason
        assert rejection_reason(failure.reason) == "invalid"


def test_the_place_is_the_innermost_frame_of_the_services_own_code() -> None:
    the_engine = engine()
    raw = json.dumps(
        event_doc(
            "accepted",
            "1999-12-30T10:00:00+08:00",  # before the calendar's first year
            item_code="X",
            promised_limit={"value": 3, "unit": "working_day"},
        )
    )
    with pytest.raises(ValueError) as caught:
        process(the_engine, raw, lambda _: None)
    failure = engine_failure(caught.value)
    assert re.match(
        r"cannot apply this event: ValueError at supervisor/core/[a-z_]+\.py:\d+ in \w+ ",
        failure.reason,
    ), failure.reason
    assert "1999" not in failure.reason  # the engine's message quotes the event's time


# -- storing a dead letter ------------------------------------------------------------------


class Broker:
    """A send that refuses records over `limit` bytes of body, as a broker would a topic
    with a small max.message.bytes; or raises `error` for every record."""

    def __init__(self, limit: int = 10**9, error: Exception | None = None) -> None:
        self.limit = limit
        self.error = error
        self.stored: list[Record] = []

    async def __call__(self, letter: Record) -> Awaitable[Any]:
        if self.error is not None:
            raise self.error
        if len(letter.value) > self.limit:
            raise MessageSizeTooLargeError("too large")
        self.stored.append(letter)
        done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


def test_a_dead_letter_is_stored_whole_when_it_fits() -> None:
    broker = Broker()
    letter = record(b"k", b"x" * 100, "why", "t/0/1")
    assert asyncio.run(store(broker, letter))
    assert broker.stored == [letter]


def test_a_dead_letter_refused_for_its_size_is_stored_without_its_body() -> None:
    broker = Broker(limit=1_000)
    letter = record(b"k", b"x" * 50_000, "why", "t/0/1")
    assert asyncio.run(store(broker, letter))
    [kept] = broker.stored
    assert kept.value == b"" and dict(kept.headers)[TRUNCATED] == b"50000"
    assert dict(kept.headers)["reason"] == b"why" and dict(kept.headers)["source"] == b"t/0/1"


def test_a_dead_letter_refused_even_without_its_body_is_given_up_not_raised(
    caplog: pytest.LogCaptureFixture,
) -> None:
    broker = Broker(limit=-1)
    assert not asyncio.run(store(broker, record(b"k", b"x", "why", "t/0/1")))
    assert "NOT STORED" in caplog.text and "t/0/1" in caplog.text


def test_a_broker_away_is_not_a_size_problem_and_propagates() -> None:
    """The worker stops as for any write it cannot make, and reads the message again
    after a restart: the message is not lost for a broker outage."""
    broker = Broker(error=KafkaTimeoutError())
    with pytest.raises(KafkaTimeoutError):
        asyncio.run(store(broker, record(b"k", b"x", "why", "t/0/1")))
