"""The projection into the read model, on SQLite and on a real PostgreSQL: what each topic
becomes, exactly once whatever is read twice, nothing when a batch fails half-way, two
projectors sharing a database, masking, bad records, retention, and the migrations.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import column, func, insert, select, table, text

from supervisor.report.queries import case_details
from supervisor.store.db import Database, head_revision
from supervisor.store.projection import Projection, Record, Topics
from supervisor.store.queries import ReadModel
from supervisor.store.schema import (
    alert_early,
    alert_history,
    alerts,
    case_events,
    case_facts,
    cases,
    metadata,
    positions,
    silence_records,
)
from supervisor.store.search import declared
from supervisor.web.journal import lifecycle_record
from tests.core.factories import event_doc
from tests.store.migrating import downgrade_to, upgrade_to
from tests.web.test_hub import make_alert, make_resolution

TOPICS = Topics("alerts", "facts", "events")
EXAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "contract" / "examples.jsonl"
BY = {"name": "王监察", "role": "inspector"}
AT = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    db = Database(database_url)
    await db.upgrade()
    try:
        yield db
    finally:
        await db.dispose()


def journal(*records: dict[str, Any], start: int = 0) -> list[Record]:
    return [
        Record("alerts", 0, start + n, json.dumps(r, ensure_ascii=False).encode())
        for n, r in enumerate(records)
    ]


def fact(case: str, kind: str, at: str, status: str, **extra: Any) -> dict[str, Any]:
    return {
        "case_id": case,
        "center_id": extra.pop("center_id", "451221"),
        "event_type": kind,
        "occurred_at": at,
        "status": status,
        "accepted_at": extra.pop("accepted_at", None),
        "concluded_at": extra.pop("concluded_at", None),
        "deadline": extra.pop("deadline", None),
        "on_time": extra.pop("on_time", None),
        "department": extra.pop("department", "南丹县市场监督管理局"),
        "window_id": "W12",
        "staff_id": "nd-0107",
        **extra,
    }


async def count(db: Database, table: Any) -> int:
    async with db.engine.connect() as connection:
        return int(await connection.scalar(select(func.count()).select_from(table)) or 0)


async def test_the_migrations_build_exactly_the_tables_the_code_declares(
    database: Database,
) -> None:
    assert await database.revision() == head_revision()
    await database.upgrade()  # a second time: nothing to do
    async with database.engine.connect() as connection:
        differences = await connection.run_sync(
            lambda sync: compare_metadata(
                MigrationContext.configure(sync, opts={"include_object": declared}), metadata
            )
        )
    assert differences == []


async def test_the_journal_becomes_alerts_with_their_history(database: Database) -> None:
    projection = Projection(database, TOPICS, center_names={"451221": "南丹县政务服务中心"})
    first, second = make_alert(1), make_alert(2)
    acknowledge = lifecycle_record(first["alert_id"], "acknowledge", by=BY, at=AT, note="已签收")
    records = journal(make_resolution(second), first, second, acknowledge)
    outcome = await projection.apply(records)
    assert outcome.written == {"alerts": 4} and outcome.positions == {("alerts", 0): 4}
    async with database.engine.connect() as connection:
        shown = {r.alert_id: r for r in await connection.execute(select(alerts))}
        history = (await connection.execute(select(alert_history).order_by("seq"))).all()
    assert shown[first["alert_id"]].status == "acknowledged"
    assert shown[second["alert_id"]].status == "withdrawn"  # its resolution came first
    assert "南丹县政务服务中心" in shown[first["alert_id"]].search
    assert [(h.seq, h.action) for h in history] == [(0, "system_withdraw"), (3, "acknowledge")]
    assert await count(database, alert_early) == 0


async def test_reading_again_writes_nothing_twice(database: Database) -> None:
    projection = Projection(database, TOPICS)
    first = make_alert(1)
    records = journal(
        first,
        lifecycle_record(first["alert_id"], "acknowledge", by=BY, at=AT),
        {"kind": "delivery", "alert_id": first["alert_id"], "at": AT.isoformat()},
    )
    await projection.apply(records)
    again = await projection.apply(records)  # a reconnect reads from an older offset
    assert again.skipped == 3 and again.written == {}
    assert await count(database, alerts) == 1 and await count(database, alert_history) == 2
    # and a later change still applies to the alert as stored
    resolve = lifecycle_record(first["alert_id"], "resolve", by=BY, at=AT, disposition="rectified")
    await projection.apply(journal(resolve, start=3))
    async with database.engine.connect() as connection:
        assert await connection.scalar(select(alerts.c.status)) == "resolved"
    assert await count(database, alert_history) == 3


async def test_a_change_before_its_alert_waits_for_it_across_batches(database: Database) -> None:
    projection = Projection(database, TOPICS)
    alert = make_alert(1)
    await projection.apply(journal(make_resolution(alert)))
    assert await count(database, alert_early) == 1 and await count(database, alerts) == 0
    await projection.apply(journal(alert, start=1))
    async with database.engine.connect() as connection:
        assert await connection.scalar(select(alerts.c.status)) == "withdrawn"
    assert await count(database, alert_early) == 0
    assert await count(database, alert_history) == 1


async def test_a_batch_that_fails_half_way_leaves_nothing_and_is_applied_whole_later(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The crash between the rows and the offsets: neither is kept, so reading from the
    stored offsets again loses nothing and doubles nothing."""
    projection = Projection(database, TOPICS)
    facts = [
        Record(
            "facts",
            0,
            0,
            json.dumps(fact("c1", "accepted", "2026-11-27T09:00:00+08:00", "open")).encode(),
        )
    ]
    records = [*journal(make_alert(1), make_alert(2)), *facts]

    async def crash(*args: Any) -> None:
        raise RuntimeError("killed")

    monkeypatch.setattr(projection, "_facts", crash)  # after the alerts were written
    with pytest.raises(RuntimeError):
        await projection.apply(records)
    assert await count(database, alerts) == 0 and await count(database, positions) == 0
    monkeypatch.undo()
    outcome = await projection.apply(records)
    assert outcome.positions == {("alerts", 0): 2, ("facts", 0): 1}
    assert await count(database, alerts) == 2 and await count(database, case_facts) == 1


async def test_two_projectors_sharing_a_database_write_each_record_once(
    database_url: str,
) -> None:
    """Two web services on one database read the same records at the same time."""
    first, second = Database(database_url), Database(database_url)
    try:
        await first.upgrade()
        await second.upgrade()
        alert = make_alert(1)
        records = journal(
            alert,
            *(
                lifecycle_record(alert["alert_id"], action, by=BY, at=AT, reason="数据有误")
                for action in ("acknowledge", "appeal", "reject_appeal")
            ),
        )
        outcomes = await asyncio.gather(
            Projection(first, TOPICS).apply(records), Projection(second, TOPICS).apply(records)
        )
        assert sorted(o.skipped for o in outcomes) == [0, 4]
        assert await count(first, alert_history) == 3
        async with first.engine.connect() as connection:
            assert await connection.scalar(select(alerts.c.status)) == "acknowledged"
    finally:
        await first.dispose()
        await second.dispose()


async def test_facts_become_cases_and_a_repeat_changes_nothing(database: Database) -> None:
    projection = Projection(database, TOPICS)
    accepted = fact(
        "c1",
        "accepted",
        "2026-11-27T09:00:00+08:00",
        "open",
        accepted_at="2026-11-27T09:00:00+08:00",
    )
    concluded = fact(
        "c1",
        "concluded",
        "2026-11-28T16:00:00+08:00",
        "concluded",
        accepted_at="2026-11-27T09:00:00+08:00",
        concluded_at="2026-11-28T16:00:00+08:00",
        deadline="2026-12-02T00:00:00+08:00",
        on_time=True,
    )
    values = [accepted, concluded, concluded]  # the worker re-sent one after a crash
    records = [
        Record("facts", 2, n, json.dumps(v).encode(), 1_764_300_000_000)
        for n, v in enumerate(values)
    ]
    await projection.apply(records)
    assert await count(database, case_facts) == 2
    async with database.engine.connect() as connection:
        case = (await connection.execute(select(cases))).one()
    assert case.status == "concluded" and case.on_time is True
    assert case.accepted_at == datetime(2026, 11, 27, 1, 0, tzinfo=UTC).replace(tzinfo=None)
    assert case.department == "南丹县市场监督管理局"


async def test_a_frame_of_facts_is_read_in_order_and_a_bad_fact_costs_only_itself(
    database: Database,
) -> None:
    """The worker sends the facts of a batch as one record, a JSON array (facts.py); a
    record holding one fact (as it sent before) still reads."""
    projection = Projection(database, TOPICS)
    opened = fact("c1", "accepted", "2026-11-27T09:00:00+08:00", "open")
    closed = fact("c1", "concluded", "2026-11-28T16:00:00+08:00", "concluded")
    other = fact("c2", "submitted", "2026-11-27T10:00:00+08:00", "received")
    secret = "452727198805060021"
    frame = [opened, {"case_id": ["x"], "note": secret}, closed]
    records = [
        Record("facts", 0, 0, json.dumps(other).encode()),  # one fact: the earlier format
        Record("facts", 0, 1, json.dumps(frame, ensure_ascii=False).encode()),
    ]
    outcome = await projection.apply(records)
    assert outcome.written["facts"] == 3
    assert [(r.where, secret in reason) for r, reason in outcome.malformed] == [
        ("facts[0]@1", False)
    ]
    assert outcome.positions == {("facts", 0): 2}
    async with database.engine.connect() as connection:
        states = dict((await connection.execute(select(cases.c.case_id, cases.c.status))).all())
    assert states == {"c1": "concluded", "c2": "received"}  # the frame's last fact stands


async def test_events_are_stored_masked_and_invalid_ones_are_left_out(
    database: Database,
) -> None:
    projection = Projection(database, TOPICS)
    lines = EXAMPLES.read_bytes().splitlines()
    records = [Record("events", 0, n, line) for n, line in enumerate(lines)]
    records.append(Record("events", 0, len(lines), b'{"schema_version": "1"}'))
    records.append(Record("events", 0, len(lines) + 1, lines[0]))  # delivered twice
    outcome = await projection.apply(records)
    assert outcome.invalid_events == 1 and outcome.written["events"] == len(lines)
    async with database.engine.connect() as connection:
        stored = await connection.execute(text("SELECT * FROM case_events"))
        dump = json.dumps([list(map(str, r)) for r in stored], ensure_ascii=False)
    assert await count(database, case_events) == len(lines)
    for personal in ("李小梅", "452727198805060021", "13977881234"):
        assert personal not in dump
    assert "4527**********0021" in dump and "139****1234" in dump


async def test_an_applicants_name_typed_into_another_event_is_masked_either_way(
    database: Database,
) -> None:
    """The name is given by one event (`applicant`) and typed by a center into the free
    text of others; the read model keeps only its masked form, and masks the others by
    it whether they came before the naming event (stored rows masked again) or after."""
    projection = Projection(database, TOPICS)
    case = "451222-2026-0000009"

    def doc(kind: str, at: str, **payload: Any) -> dict[str, Any]:
        return event_doc(kind, f"2026-11-{at}+08:00", case_id=case, center_id="451222", **payload)

    submitted = {**doc("submitted", "02T09:00:00"), "applicant": {"name": "黄志强"}}
    accepted = doc(
        "accepted",
        "02T09:30:00",
        item_code="X-1",
        item_name="黄志强宅基地审批",
        promised_limit={"value": 5, "unit": "working_day"},
        immediate=False,
    )
    asked = doc("supplement_requested", "03T10:00:00", missing_materials=["黄志强的户口簿"])
    rated = doc("evaluated", "05T10:00:00", level=2, comment="我是黄志强，窗口态度差")
    step = doc("step_completed", "04T10:00:00", step="黄志强", outcome="pass")  # not free text

    def records(*documents: dict[str, Any], start: int) -> list[Record]:
        return [
            Record("events", 0, start + n, json.dumps(d, ensure_ascii=False).encode())
            for n, d in enumerate(documents)
        ]

    await projection.apply(records(accepted, asked, start=0))  # before the name is known
    await projection.apply(records(submitted, step, start=2))
    await projection.apply(records(rated, start=4))  # after it
    async with database.engine.connect() as connection:
        stored = dict(
            (await connection.execute(select(case_events.c.type, case_events.c.document))).all()
        )
    assert stored["accepted"]["payload"]["item_name"] == "黄*强宅基地审批"
    assert stored["supplement_requested"]["payload"]["missing_materials"] == ["黄*强的户口簿"]
    assert stored["evaluated"]["payload"]["comment"] == "我是黄*强，窗口态度差"
    assert stored["submitted"]["applicant"] == {"name": "黄*强"}
    assert stored["step_completed"]["payload"]["step"] == "黄志强"  # what rules compare


async def test_a_two_character_name_is_masked_where_its_own_event_quotes_it(
    database: Database,
) -> None:
    """李娜 masks to 李*, whose shape is every word that begins with 李: no shape to find it
    by in other events, but the event that names her masks it in its own free text."""
    projection = Projection(database, TOPICS)
    rated = {
        **event_doc("evaluated", "2026-11-05T10:00:00+08:00", case_id="451222-2026-0000011",
                    center_id="451222", level=2, comment="我是李娜，李子园窗口态度差"),
        "applicant": {"name": "李娜"},
    }  # fmt: skip
    await projection.apply([Record("events", 0, 0, json.dumps(rated, ensure_ascii=False).encode())])
    async with database.engine.connect() as connection:
        document = await connection.scalar(select(case_events.c.document))
    assert document is not None
    assert document["payload"]["comment"] == "我是李*，李子园窗口态度差"
    assert document["applicant"] == {"name": "李*"}


async def test_a_timeline_kept_before_names_were_masked_across_events_is_shown_masked(
    database: Database,
) -> None:
    """Rows a read model kept before its projection masked a name across events are
    masked by the case's names when the timeline is read."""
    case = "451222-2026-0000010"
    at = datetime(2026, 11, 2, 1, tzinfo=UTC).replace(tzinfo=None)
    kept = [
        {"type": "submitted", "applicant": {"name": "黄*强"}},
        {"type": "accepted", "payload": {"item_name": "黄志强宅基地审批"}},
    ]
    async with database.engine.begin() as connection:
        await connection.execute(
            case_events.insert(),
            [
                {"case_id": case, "event_id": f"e{n}", "center_id": "451222",
                 "type": document["type"], "occurred_at": at, "document": document}
                for n, document in enumerate(kept)
            ],
        )  # fmt: skip
    read = ReadModel(database, "Asia/Shanghai")
    shown = await read.case(case)
    assert shown is not None
    assert shown["timeline"][1]["payload"]["item_name"] == "黄*强宅基地审批"
    # the monthly report's worst cases read the same rows: their item names likewise
    details = await case_details(read, [case])
    assert details[case] == {"item_name": "黄*强宅基地审批", "applicant": "黄*强"}


async def test_the_applicants_names_of_an_older_database_are_copied_from_the_events(
    database_url: str,
) -> None:
    """A database from before the `applicant_name` column: the migration copies each
    event's masked name from its document, and the way back drops the column."""
    db = Database(database_url)
    try:
        async with db.engine.begin() as connection:
            await connection.run_sync(upgrade_to, "0007")
        before = table(
            "case_events",
            *(column(c.name, c.type) for c in case_events.c if c.name != "applicant_name"),
        )
        at = datetime(2026, 11, 2, 1, tzinfo=UTC).replace(tzinfo=None)
        async with db.engine.begin() as connection:
            await connection.execute(
                insert(before),
                [
                    {"case_id": "c1", "event_id": "e1", "center_id": "451222", "type": "submitted",
                     "occurred_at": at, "document": {"applicant": {"name": "黄*强"}}},
                    {"case_id": "c1", "event_id": "e2", "center_id": "451222", "type": "accepted",
                     "occurred_at": at, "document": {"payload": {"item_name": "x"}}},
                ],
            )  # fmt: skip
        await db.upgrade()
        async with db.engine.connect() as connection:
            found = await connection.execute(
                select(case_events.c.event_id, case_events.c.applicant_name)
            )
            assert sorted(found.all()) == [("e1", "黄*强"), ("e2", None)]
        async with db.engine.begin() as connection:
            await connection.run_sync(downgrade_to, "0007")
    finally:
        await db.dispose()


async def test_an_unreadable_record_is_reported_with_its_place_and_the_rest_flows(
    database: Database,
) -> None:
    projection = Projection(database, TOPICS)
    secret = "452727198805060021"
    records = [
        Record("alerts", 0, 0, b"{not json " + secret.encode()),
        Record("alerts", 0, 1, json.dumps(make_alert(1)).encode()),
        Record("facts", 1, 5, json.dumps({"case_id": ["x"], "note": secret}).encode()),
        Record("facts", 1, 6, None),
        Record(
            "facts",
            1,
            7,
            json.dumps(fact("c9", "submitted", "2026-11-27T09:00:00+08:00", "received")).encode(),
        ),
    ]
    outcome = await projection.apply(records)
    assert [(r.where, secret in reason) for r, reason in outcome.malformed] == [
        ("alerts[0]@0", False),
        ("facts[1]@5", False),
        ("facts[1]@6", False),
    ]
    assert outcome.positions == {("alerts", 0): 2, ("facts", 1): 8}
    assert await count(database, alerts) == 1 and await count(database, cases) == 1


async def test_silence_records_are_kept_in_journal_order(database: Database) -> None:
    projection = Projection(database, TOPICS)
    record = {
        "kind": "silence",
        "action": "create",
        "silence": {"id": "s1"},
        "by": BY,
        "at": AT.isoformat(),
    }
    await projection.apply(journal(make_alert(1), record))
    async with database.engine.connect() as connection:
        kept = (await connection.execute(select(silence_records))).all()
    assert [(r.seq, r.silence_id) for r in kept] == [(1, "s1")]


async def test_retention_deletes_what_is_older_and_keeps_open_cases(database: Database) -> None:
    projection = Projection(database, TOPICS)
    old = make_alert(1, raised_at="2025-01-10T10:00:00+08:00")
    await projection.apply(
        [
            *journal(
                old, make_alert(2), lifecycle_record(old["alert_id"], "acknowledge", by=BY, at=AT)
            ),
            Record(
                "facts",
                0,
                0,
                json.dumps(
                    fact(
                        "open-old",
                        "accepted",
                        "2025-01-02T09:00:00+08:00",
                        "open",
                        accepted_at="2025-01-02T09:00:00+08:00",
                    )
                ).encode(),
            ),
            Record(
                "facts",
                0,
                1,
                json.dumps(
                    fact("done-old", "withdrawn", "2025-01-03T09:00:00+08:00", "withdrawn")
                ).encode(),
            ),
        ]
    )
    deleted = await projection.prune(datetime(2026, 1, 1, tzinfo=UTC))
    assert deleted["alerts"] == 1 and deleted["alert_history"] == 1 and deleted["cases"] == 1
    async with database.engine.connect() as connection:
        assert list(await connection.scalars(select(cases.c.case_id))) == ["open-old"]
    assert await count(database, alerts) == 1


async def test_an_alert_id_longer_than_its_column_is_malformed(database: Database) -> None:
    """PostgreSQL enforces the column's length: such a record must be skipped, not fail
    its batch at every retry."""
    long = {**make_alert(1), "alert_id": "x" * 513}
    outcome = await Projection(database, TOPICS).apply(journal(long, make_alert(2), start=0))
    assert [r.where for r, _ in outcome.malformed] == ["alerts[0]@0"]
    assert await count(database, alerts) == 1
