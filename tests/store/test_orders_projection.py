"""Supervision orders in the alert journal: the read model keeps each order with its
steps (SQLite and PostgreSQL), refuses a step out of turn or a malformed record without
stopping, and the wall's journal and the notifier pass them by."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from supervisor import orders
from supervisor.notify.plan import record_kind
from supervisor.store.db import Database
from supervisor.store.projection import Projection
from supervisor.store.queries import AlertQuery, ReadModel
from supervisor.web.journal import Journal
from tests.notify.factories import planner
from tests.store.test_projection import TOPICS, journal
from tests.web.test_hub import make_alert

CN = ZoneInfo("Asia/Shanghai")
AT = datetime(2026, 12, 4, 10, 0, tzinfo=CN)
INSPECTOR = {"name": "王监察", "role": "inspector", "id": "svt_aaaaaaaaaaaa"}
DIRECTOR = {"name": "李主任", "role": "director", "id": "svt_bbbbbbbbbbbb"}


@pytest.fixture
async def read(database_url: str) -> AsyncIterator[ReadModel]:
    db = Database(database_url)
    await db.upgrade()
    try:
        yield ReadModel(db, "Asia/Shanghai")
    finally:
        await db.dispose()


def issue(
    order_id: str, center: str = "451224", due: datetime = AT + timedelta(days=7)
) -> dict[str, Any]:
    return orders.issue_record(
        order_id,
        center_id=center,
        case_id=f"{center}-2026-0000001",
        alert_id=f"deadline.overdue:{center}-2026-0000001",
        requirement="请核实超期原因并整改",
        days=5,
        due_at=due,
        by=INSPECTOR,
        at=AT,
    )


def step(
    order_id: str,
    action: orders.Action,
    who: dict[str, str],
    note: str,
    center: str = "451224",
    **more: Any,
) -> dict[str, Any]:
    return orders.step_record(
        order_id, action, center_id=center, note=note, by=who, at=AT + timedelta(days=1), **more
    )


async def test_an_order_and_its_steps_are_kept(read: ReadModel) -> None:
    alert = make_alert(1, center_id="451224")
    records = journal(
        alert,
        issue("DB-1"),
        step("DB-1", "reply", DIRECTOR, "已整改，窗口人员已约谈"),
        step("DB-1", "return", INSPECTOR, "请补充材料", due_at=AT + timedelta(days=14)),
        issue("DB-2", center="451221", due=AT + timedelta(days=3)),
    )
    outcome = await Projection(read.db, TOPICS).apply(records)
    assert outcome.malformed == []
    order = await read.order("DB-1")
    assert order is not None
    assert (order.status, order.round, order.due_at) == ("returned", 2, AT + timedelta(days=14))
    assert [h["action"] for h in order.history] == ["issue", "reply", "return"]
    assert [h["seq"] for h in order.history] == [1, 2, 3]
    assert order.history[1]["by"]["name"] == "李主任"
    assert await read.order("DB-3") is None
    # the orders in a scope, the soonest due first; the late ones
    assert [o.order_id for o in await read.orders()] == ["DB-2", "DB-1"]
    assert [o.order_id for o in await read.orders(["451224"])] == ["DB-1"]
    assert [o.order_id for o in await read.orders([])] == []
    late = await read.orders(
        statuses=sorted(orders.AWAITING_REPLY), due_before=AT + timedelta(days=5)
    )
    assert [o.order_id for o in late] == ["DB-2"]
    assert [o.order_id for o in await read.orders(case_id="451221-2026-0000001")] == ["DB-2"]
    # an order record is no alert: the alert list has the one alert
    assert (await read.search(AlertQuery())).total == 1


async def test_a_step_out_of_turn_or_malformed_is_skipped_and_the_rest_flows(
    read: ReadModel,
) -> None:
    bad = {**issue("DB-9"), "days": 0}
    records = journal(
        issue("DB-1"),
        step("DB-1", "close", INSPECTOR, "办结"),  # no reply yet: refused
        step("DB-1", "reply", INSPECTOR, "代为回复"),  # an inspector does not reply: refused
        bad,
        step("DB-1", "reply", DIRECTOR, "已整改"),
    )
    outcome = await Projection(read.db, TOPICS).apply(records)
    reasons = {record.offset: reason for record, reason in outcome.malformed}
    assert set(reasons) == {1, 2, 3}
    assert "不能进行此操作" in reasons[1] and "中心负责人" in reasons[2]
    assert "'days'" in reasons[3] and "0" not in reasons[3].split("'days'")[1][:3]
    order = await read.order("DB-1")
    assert order is not None and order.status == "replied"
    assert [h["seq"] for h in order.history] == [0, 4]
    assert await read.order("DB-9") is None


async def test_the_same_order_issued_twice_is_kept_once_and_no_error(read: ReadModel) -> None:
    """Two web services asked for the same order at once write the same id (its id says
    what it asks: orders.order_id_for); the first stands, the second changes nothing and
    is no malformed record. An issue of another order under a held id is refused."""
    other = {**issue("DB-1"), "note": "请说明延误原因"}
    records = journal(
        issue("DB-1"), issue("DB-1"), other, step("DB-1", "reply", DIRECTOR, "已整改")
    )
    outcome = await Projection(read.db, TOPICS).apply(records)
    assert [
        (record.offset, "不能进行此操作" in reason) for record, reason in outcome.malformed
    ] == [(2, True)]
    order = await read.order("DB-1")
    assert order is not None and order.requirement == "请核实超期原因并整改"
    assert [h["seq"] for h in order.history] == [0, 3] and order.status == "replied"


def test_the_walls_journal_tells_no_one_of_an_order_issued_again() -> None:
    """The same order issued twice, or another center's under an id already held: the
    read model keeps the first, and the sockets hear only of it, its case and its
    center, never of the second's."""
    live = Journal(keep=100)
    assert live.apply(0, issue("DB-1")).message is not None
    assert live.apply(1, issue("DB-1")).message is None
    assert live.apply(2, issue("DB-1", center="451299")).message is None
    replied = live.apply(3, step("DB-1", "reply", DIRECTOR, "已整改")).message
    assert replied is not None
    told = replied["order"]
    assert (told["center_id"], told["case_id"]) == ("451224", "451224-2026-0000001")
    assert live.since(-1, lambda center: center == "451299") == []


def test_the_walls_journal_tells_of_orders_and_the_notifier_passes_them_by() -> None:
    live = Journal(keep=100)
    applied = live.apply(0, issue("DB-1"))
    assert applied.entry is None and live.head == 0 and len(live) == 0  # not an alert
    assert applied.message is not None and applied.message["type"] == "order"
    assert applied.message["order"]["center_id"] == "451224"
    # a step is routed by its order's center, whatever center the step itself names
    stray = {**step("DB-1", "reply", DIRECTOR, "已整改"), "center_id": "451221"}
    replied = live.apply(1, stray).message
    assert replied is not None and replied["order"]["center_id"] == "451224"
    assert [m["seq"] for m in live.since(-1, lambda center: center == "451224") or []] == [0, 1]
    assert live.since(-1, lambda center: center == "451221") == []
    record = issue("DB-1")
    assert record_kind(record) == "order"
    assert planner().read(record) is None  # nothing to send, nothing refused
