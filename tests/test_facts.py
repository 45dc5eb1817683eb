"""Case facts without a broker: `Engine.promised_deadline` and `facts.fact` along a case's
life (the worker publishing them is tests/integration/test_facts.py)."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from typing import Any

import orjson
from prometheus_client import CollectorRegistry

from supervisor.core.engine import Engine
from supervisor.core.events import CaseEvent, from_document
from supervisor.core.state import CaseState
from supervisor.worker.facts import FactPublisher, fact, frame_of
from supervisor.worker.metrics import WorkerMetrics
from tests.core.factories import accepted, engine, event, event_doc


def story(the_engine: Engine, *events: CaseEvent) -> list[dict[str, Any]]:
    state: CaseState | None = None
    facts = []
    for item in events:
        outcome = the_engine.apply(state, item)
        state = outcome.state
        facts.append(fact(the_engine, item, state))
    return facts


def test_the_promised_deadline_follows_suspensions_and_extensions() -> None:
    the_engine = engine()
    # The contract's example: accepted Wed 30 Sep 10:00, 3 working days → 24:00 Sat 10 Oct.
    state = the_engine.apply(None, accepted("2026-09-30T10:00:00+08:00", 3)).state
    assert the_engine.promised_deadline(state) == datetime.fromisoformat(
        "2026-10-11T00:00:00+08:00"
    )
    assert the_engine.promised_deadline(CaseState(case_id="x", center_id="451221")) is None
    # The statutory 20 working days: 1–7 October are holidays, Thu 8, Fri 9 and the
    # make-up Sat 10 October are days 1–3, then weekdays: the 20th is Tue 3 November.
    assert the_engine.statutory_deadline(state) == datetime.fromisoformat(
        "2026-11-04T00:00:00+08:00"
    )
    assert the_engine.statutory_deadline(CaseState(case_id="x", center_id="451221")) is None
    # Accepted Mon 23 Nov, 3 working days; suspended Wed 12:00 to Mon 12:00 (3 working days).
    facts = story(
        the_engine,
        event("submitted", "2026-11-23T09:00:00+08:00"),
        accepted("2026-11-23T10:00:00+08:00", 3, statutory=None),
        event("suspended", "2026-11-25T12:00:00+08:00", reason_code="inspection"),
        event("resumed", "2026-11-30T12:00:00+08:00"),
        event(
            "extended",
            "2026-12-01T09:00:00+08:00",
            value=1,
            unit="working_day",
            approved_by="局长",
        ),
        event("decided", "2026-12-02T15:00:00+08:00", outcome="approve", reason="符合条件"),
        event("concluded", "2026-12-02T16:00:00+08:00"),
        event("delivered", "2026-12-03T10:00:00+08:00"),
    )
    assert [(f["event_type"], f["status"], f["deadline"], f["on_time"]) for f in facts] == [
        ("submitted", "received", None, None),
        ("accepted", "open", "2026-11-27T00:00:00+08:00", None),
        # the open stretch is not counted until the case resumes
        ("suspended", "open", "2026-11-27T00:00:00+08:00", None),
        ("resumed", "open", "2026-12-02T00:00:00+08:00", None),
        ("extended", "open", "2026-12-03T00:00:00+08:00", None),
        ("decided", "open", "2026-12-03T00:00:00+08:00", None),
        ("concluded", "concluded", "2026-12-03T00:00:00+08:00", True),
        ("delivered", "concluded", "2026-12-03T00:00:00+08:00", True),
    ]
    assert facts[-1] == {
        "case_id": "451221-2026-0000001",
        "center_id": "451221",
        "event_type": "delivered",
        "occurred_at": "2026-12-03T10:00:00+08:00",
        "status": "concluded",
        "accepted_at": "2026-11-23T10:00:00+08:00",
        "concluded_at": "2026-12-02T16:00:00+08:00",
        "deadline": "2026-12-03T00:00:00+08:00",
        "statutory_deadline": None,
        "on_time": True,
        "department": None,
        "window_id": None,
        "staff_id": None,
    }


def test_on_time_is_judged_only_for_a_conclusion_after_acceptance() -> None:
    the_engine = engine()
    late = story(
        the_engine,
        accepted("2026-11-16T10:00:00+08:00", 3, case_id="C-1"),
        event("decided", "2026-11-20T09:00:00+08:00", outcome="approve", case_id="C-1"),
        event("concluded", "2026-11-20T10:00:00+08:00", case_id="C-1"),
    )
    assert (late[-1]["deadline"], late[-1]["on_time"]) == ("2026-11-20T00:00:00+08:00", False)
    exactly = story(
        the_engine,
        accepted("2026-11-16T10:00:00+08:00", 3, case_id="C-2", immediate=True),
        event("concluded", "2026-11-20T00:00:00+08:00", case_id="C-2"),
    )
    assert exactly[-1]["on_time"] is True  # at the deadline itself: not yet overdue
    never_accepted = story(the_engine, event("concluded", "2026-11-20T10:00:00+08:00"))
    # a conclusion before acceptance is out of order: flagged, not applied
    assert never_accepted[-1]["status"] == "received"
    assert never_accepted[-1]["on_time"] is None and never_accepted[-1]["deadline"] is None
    withdrawn = story(
        the_engine,
        accepted("2026-11-16T10:00:00+08:00", 3, case_id="C-3"),
        event("withdrawn", "2026-11-17T10:00:00+08:00", case_id="C-3"),
    )
    assert (withdrawn[-1]["status"], withdrawn[-1]["on_time"]) == ("withdrawn", None)


def test_a_fact_carries_no_personal_data() -> None:
    the_engine = engine()
    applicant = {"name": "李小梅", "id_number": "452727198805060021", "phone": "13977881234"}
    submitted = from_document(
        event_doc("submitted", "2026-11-23T09:00:00+08:00") | {"applicant": applicant}
    )
    document = fact(the_engine, submitted, the_engine.apply(None, submitted).state)
    assert set(document) == {
        "case_id",
        "center_id",
        "event_type",
        "occurred_at",
        "status",
        "accepted_at",
        "concluded_at",
        "deadline",
        "statutory_deadline",
        "on_time",
        "department",
        "window_id",
        "staff_id",
    }
    value = frame_of([orjson.dumps(document)])
    assert json.loads(value) == [document]
    assert not any(secret.encode() in value for secret in applicant.values())


def test_a_frame_is_an_array_of_facts_in_compact_json_byte_for_byte() -> None:
    """orjson writes what the standard library would, each fact as a record of its own
    was before: a frame is their JSON array."""
    document = {
        "case_id": "451221-2026-0000001",
        "center_id": "451221",
        "event_type": "concluded",
        "occurred_at": "2026-11-20T16:00:00.250000+08:00",
        "status": "concluded",
        "accepted_at": "2026-11-16T10:00:00+08:00",
        "concluded_at": None,
        "deadline": "2026-11-24T00:00:00+08:00",
        "on_time": False,
        "note": '南丹县"政务"服务中心\n',
    }
    expected = json.dumps([document, document], ensure_ascii=False, separators=(",", ":"))
    assert frame_of([orjson.dumps(document)] * 2) == expected.encode()


def test_the_publisher_counts_and_never_raises() -> None:
    async def scenario() -> dict[str, float]:
        registry = CollectorRegistry()
        metrics = WorkerMetrics.create(registry)
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[Any]] = []

        async def send(key: bytes, value: bytes) -> asyncio.Future[Any]:
            if key == b"2":
                raise RuntimeError("producer closed")
            futures.append(loop.create_future())
            return futures[-1]

        publish = FactPublisher(send, metrics)
        the_engine = engine()
        # partition 0: two facts, acknowledged; 1: one, not; 2: one, the send fails
        for partition, case in ((0, "ok"), (0, "ok too"), (1, "lost"), (2, "broken")):
            item = accepted("2026-11-23T10:00:00+08:00", 3, case_id=case)
            await publish(the_engine, item, the_engine.apply(None, item).state, partition)
        for partition in (0, 1, 2):
            await publish.flush(partition)
        futures[0].set_result(None)
        futures[1].set_exception(RuntimeError("not acknowledged"))
        await asyncio.sleep(0)
        return {
            result: registry.get_sample_value("supervisor_worker_facts_total", {"result": result})
            or 0.0
            for result in ("published", "failed")
        }

    assert asyncio.run(scenario()) == {"published": 2.0, "failed": 2.0}


def test_a_fact_says_who_handled_it_the_events_own_else_the_cases_latest() -> None:
    """Contract §7: department, window and staff in every fact."""
    the_engine = engine()
    accepting = event_doc(
        "accepted",
        "2026-11-23T09:00:00+08:00",
        item_code="X",
        promised_limit={"value": 5, "unit": "working_day"},
    ) | {"department": "南丹县市场监督管理局", "window_id": "W12", "staff_id": "nd-0107"}
    by_applicant = event_doc("supplement_received", "2026-11-24T09:00:00+08:00") | {
        "window_id": "W03"
    }
    facts = story(the_engine, from_document(accepting), from_document(by_applicant))
    assert [(f["department"], f["window_id"], f["staff_id"]) for f in facts] == [
        ("南丹县市场监督管理局", "W12", "nd-0107"),
        ("南丹县市场监督管理局", "W03", "nd-0107"),
    ]


def test_the_fact_of_a_rating_carries_its_level_and_no_other_does() -> None:
    the_engine = engine()
    events = [
        from_document(
            event_doc(
                "accepted",
                "2026-11-23T09:00:00+08:00",
                item_code="X",
                promised_limit={"value": 5, "unit": "working_day"},
            )
        ),
        from_document(event_doc("concluded", "2026-11-24T09:00:00+08:00")),
        from_document(event_doc("evaluated", "2026-11-24T10:00:00+08:00", level=2)),
    ]
    facts = story(the_engine, *events)
    assert [f.get("level") for f in facts] == [None, None, 2]
    assert "level" not in facts[0] and "level" not in facts[1]


def step(at: str, case: str, staff_id: str | None = None) -> CaseEvent:
    document = event_doc("step_completed", at, case_id=case, step="审查")
    if staff_id is not None:
        document["staff_id"] = staff_id  # who handled it: beside the payload (§7)
    return from_document(document)


def test_a_fact_is_sent_only_when_a_figure_of_its_case_changes() -> None:
    """A step by the same hands changes nothing the read model shows: not sent, counted
    `unchanged`; a step by other hands, a conclusion and any rating are sent."""

    async def scenario() -> tuple[list[str], float]:
        registry = CollectorRegistry()
        metrics = WorkerMetrics.create(registry)
        loop = asyncio.get_running_loop()
        sent: list[str] = []

        async def send(key: bytes, value: bytes) -> asyncio.Future[Any]:
            sent.extend(document["event_type"] for document in json.loads(value))
            future = loop.create_future()
            future.set_result(None)
            return future

        publish = FactPublisher(send, metrics)
        the_engine = engine()
        case = "451221-2026-0000009"
        story = [
            from_document(
                {
                    **event_doc(
                        "accepted",
                        "2026-11-23T10:00:00+08:00",
                        case_id=case,
                        item_code="X",
                        promised_limit={"value": 3, "unit": "working_day"},
                    ),
                    "staff_id": "nd-01",
                }
            ),
            step("2026-11-23T11:00:00+08:00", case, staff_id="nd-01"),
            step("2026-11-23T12:00:00+08:00", case, staff_id="nd-02"),
            step("2026-11-23T13:00:00+08:00", case),
            event("concluded", "2026-11-24T10:00:00+08:00", case_id=case),
            event("evaluated", "2026-11-24T11:00:00+08:00", case_id=case, level=5),
            event("evaluated", "2026-11-24T12:00:00+08:00", case_id=case, level=5),
        ]
        state: CaseState | None = None
        for item in story:
            state = the_engine.apply(state, item).state
            await publish(the_engine, item, state, 0)
        await publish.flush(0)
        unchanged = registry.get_sample_value(
            "supervisor_worker_facts_total", {"result": "unchanged"}
        )
        return sent, unchanged or 0.0

    sent, unchanged = asyncio.run(scenario())
    assert sent == [
        "accepted",
        "step_completed",  # nd-02 took the case over: who handled it changed
        "concluded",
        "evaluated",
        "evaluated",  # ratings are counted, each one
    ]
    assert unchanged == 2


def test_facts_wait_in_their_partitions_frame_until_it_is_flushed_or_full() -> None:
    """A frame per partition, sent at its flush or once it holds `frame_facts`; keyed by
    the partition; a dropped partition's facts are never sent (judged again elsewhere)."""

    async def scenario() -> list[tuple[bytes, list[str]]]:
        loop = asyncio.get_running_loop()
        sent: list[tuple[bytes, list[str]]] = []

        async def send(key: bytes, value: bytes) -> asyncio.Future[Any]:
            sent.append((key, [document["case_id"] for document in json.loads(value)]))
            future = loop.create_future()
            future.set_result(None)
            return future

        publish = FactPublisher(send, WorkerMetrics.create(CollectorRegistry()), frame_facts=3)
        the_engine = engine()

        async def judged(case: str, partition: int) -> None:
            item = accepted("2026-11-23T10:00:00+08:00", 3, case_id=case)
            await publish(the_engine, item, the_engine.apply(None, item).state, partition)

        for n in range(4):
            await judged(f"a{n}", 0)  # the third fills the frame: sent at once
        await judged("b0", 1)
        await judged("c0", 2)
        assert sent == [(b"0", ["a0", "a1", "a2"])]
        assert (publish.waiting(0), publish.waiting(1), publish.waiting(2)) == (1, 1, 1)
        publish.drop({2})
        for partition in (0, 1, 2):
            await publish.flush(partition)
        await publish.flush(0)  # nothing left: nothing sent
        return sent

    assert asyncio.run(scenario()) == [
        (b"0", ["a0", "a1", "a2"]),
        (b"0", ["a3"]),
        (b"1", ["b0"]),
    ]
