"""Supervision orders (supervisor/orders.py): the whole loop, who may take which step,
records from anyone refused without echoing them, due times in working days, and the
alert a late reply raises."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from supervisor import orders
from supervisor.core.calendar import WorkCalendar
from supervisor.orders import Order, OrderRefused

CN = ZoneInfo("Asia/Shanghai")
AT = datetime(2026, 12, 4, 10, 0, tzinfo=CN)  # a Friday
INSPECTOR = {"name": "王监察", "role": "inspector", "id": "svt_aaaaaaaaaaaa"}
DIRECTOR = {"name": "李主任", "role": "director", "id": "svt_bbbbbbbbbbbb", "center": "451224"}
WHO = {"inspector": INSPECTOR, "director": DIRECTOR}


def issued(days: int = 5) -> Order:
    due = orders.reply_due(WorkCalendar("Asia/Shanghai"), AT, days)
    record = orders.issue_record(
        "DB-0001",
        center_id="451224",
        case_id="451224-2026-0000123",
        alert_id="deadline.overdue:451224-2026-0000123",
        requirement="请于5个工作日内核实超期原因并整改",
        days=days,
        due_at=due,
        by=INSPECTOR,
        at=AT,
    )
    return orders.apply(None, record, 10)


def step(order: Order, action: orders.Action, role: str, note: str, seq: int, **more: Any) -> Order:
    at = AT + timedelta(days=seq)
    return orders.apply(
        order,
        orders.step_record(
            order.order_id,
            action,
            center_id=order.center_id,
            note=note,
            by=WHO[role],
            at=at,
            **more,
        ),
        seq,
    )


def test_an_order_goes_round_the_loop() -> None:
    order = issued()
    assert (order.status, order.round, order.awaiting_reply) == ("issued", 1, True)
    assert order.due_at == datetime(2026, 12, 12, 0, 0, tzinfo=CN)  # Mon..Fri, Fri 24:00
    order = step(order, "reply", "director", "已约谈窗口人员，办件已办结", 11)
    assert (order.status, order.awaiting_reply) == ("replied", False)
    new_due = datetime(2026, 12, 25, 0, 0, tzinfo=CN)
    order = step(order, "return", "inspector", "整改材料不全，请补充", 12, due_at=new_due)
    assert (order.status, order.round, order.due_at) == ("returned", 2, new_due)
    order = step(order, "reply", "director", "已补充整改材料", 13)
    order = step(order, "close", "inspector", "整改到位，予以办结", 14)
    assert order.status == "closed"
    assert [h["action"] for h in order.history] == ["issue", "reply", "return", "reply", "close"]
    assert [h["seq"] for h in order.history] == [10, 11, 12, 13, 14]
    shown = order.view(AT)
    assert shown["status_text"] == "已办结" and shown["issued_by"]["name"] == "王监察"
    assert shown["overdue"] is False


def test_each_round_is_due_and_answered_or_not() -> None:
    order = issued()
    first_due = datetime(2026, 12, 12, 0, 0, tzinfo=CN)
    assert orders.rounds(order) == [(first_due, None)]
    order = step(order, "reply", "director", "已整改", 11)  # 12-15: after the due
    new_due = datetime(2026, 12, 25, 0, 0, tzinfo=CN)
    order = step(order, "return", "inspector", "请补充", 12, due_at=new_due)
    assert orders.rounds(order) == [(first_due, AT + timedelta(days=11)), (new_due, None)]
    order = step(order, "reply", "director", "已补充", 13)
    order = step(order, "close", "inspector", "办结", 14)
    assert orders.rounds(order)[1] == (new_due, AT + timedelta(days=13))


def test_a_withdrawn_order_owes_no_reply_and_asked_none() -> None:
    """撤销: an order with nothing left to put right. A round withdrawn before its reply was
    due is asked no more (督办单按期回复率 does not count it); one whose reply was already
    late stays late; a round answered before stays answered."""
    first_due = datetime(2026, 12, 12, 0, 0, tzinfo=CN)
    order = step(issued(), "cancel", "inspector", "预警已摘牌", 3)  # 12-07: before the due
    assert (order.status, order.awaiting_reply, orders.rounds(order)) == ("cancelled", False, [])
    assert order.view(AT + timedelta(days=30))["overdue"] is False
    assert order.view()["status_text"] == "已撤销"
    late = step(issued(), "cancel", "inspector", "预警已摘牌", 11)  # 12-15: already late
    assert orders.rounds(late) == [(first_due, None)]
    answered = step(issued(), "reply", "director", "已整改", 5)
    new_due = datetime(2026, 12, 25, 0, 0, tzinfo=CN)
    answered = step(answered, "return", "inspector", "请补充", 6, due_at=new_due)
    answered = step(answered, "cancel", "inspector", "办件已按期办结", 7)
    assert orders.rounds(answered) == [(first_due, AT + timedelta(days=5))]
    for action, role in (("reply", "director"), ("close", "inspector"), ("cancel", "inspector")):
        with pytest.raises(orders.OrderRefused):
            orders.check("cancelled", action, role)
    with pytest.raises(orders.OrderRefused, match="只能由纪检监察人员"):
        orders.check("issued", "cancel", "director")
    with pytest.raises(orders.OrderRefused):
        orders.check("replied", "cancel", "inspector")  # a reply to check: close or return it
    with pytest.raises(ValueError, match="'note' must not be empty"):
        step(issued(), "cancel", "inspector", " ", 11)


@pytest.mark.parametrize(
    ("steps", "action", "role", "says"),
    [
        ([], "reply", "inspector", "只能由中心负责人"),
        ([], "close", "director", "只能由纪检监察人员"),
        ([], "close", "inspector", "待回复，不能"),
        ([("reply", "director")], "reply", "director", "待审核，不能"),
        ([("reply", "director"), ("close", "inspector")], "return", "inspector", "已办结"),
    ],
)
def test_a_step_out_of_turn_or_role_is_refused_and_changes_nothing(
    steps: list[tuple[orders.Action, str]], action: orders.Action, role: str, says: str
) -> None:
    order = issued()
    for n, (done, by) in enumerate(steps, start=11):
        order = step(order, done, by, "说明", n)
    before = order.view()
    with pytest.raises(OrderRefused, match=says):
        step(order, action, role, "说明", 20, **({"due_at": AT} if action == "return" else {}))
    assert order.view() == before


def test_only_an_inspector_issues() -> None:
    with pytest.raises(OrderRefused, match="纪检监察"):
        orders.check(None, "issue", "director")
    with pytest.raises(OrderRefused, match="不存在"):
        orders.check(None, "reply", "director")


SECRET = "13800001111"


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"action": "delete"}, "'action'"),
        ({"order_id": ""}, "'order_id' must not be empty"),
        ({"order_id": SECRET * 20}, "'order_id' is longer"),
        ({"note": ["x"]}, "'note' must be text"),
        ({"note": "  "}, "'note' must not be empty"),
        ({"days": 0}, "'days'"),
        ({"days": True}, "'days'"),
        ({"days": orders.MAX_DAYS + 1}, "'days'"),
        ({"at": "2026-12-04T10:00:00"}, "'at' must be a time with its UTC offset"),
        ({"at": SECRET}, "'at'"),
        ({"due_at": "1999-12-31T00:00:00+08:00"}, "'due_at'"),
        ({"by": {"name": "x", "role": "ops"}}, "'by.role'"),
        ({"by": SECRET}, "'by'"),
        ({"center_id": 451224}, "'center_id' must be text"),
        ({"alert_id": 7}, "'alert_id' must be text"),
    ],
)
def test_a_malformed_record_is_refused_without_echoing_it(
    change: dict[str, Any], says: str
) -> None:
    record = {**issued().history[0], **change}
    del record["seq"]
    with pytest.raises(ValueError, match=says) as refused:
        orders.apply(None, record, 1)
    assert SECRET not in str(refused.value)


def test_a_reply_is_due_in_working_days_of_the_centers_calendar() -> None:
    # 2026-09-30 (Wed): the National Day holiday runs 10-01..10-08, 10-10 (Sat) is
    # worked in the calendar below; 5 working days: 10-09, 10-10, 10-12, 10-13, 10-14
    calendar = WorkCalendar(
        "Asia/Shanghai",
        extra_days_off=[date(2026, 10, d) for d in range(1, 9)],
        extra_working_days=[date(2026, 10, 10)],
    )
    due = orders.reply_due(calendar, datetime(2026, 9, 30, 16, 0, tzinfo=CN), 5)
    assert due == datetime(2026, 10, 15, 0, 0, tzinfo=CN)
    assert orders.shown_due(due) == "10月14日 24:00"


def test_a_late_reply_raises_one_red_alert_a_round() -> None:
    order = issued()
    assert not order.overdue(order.due_at - timedelta(seconds=1))
    assert order.overdue(order.due_at)
    alert = orders.overdue_alert(order, "东兰县政务服务中心")
    assert alert["alert_id"] == "supervision.reply_overdue:DB-0001:1"
    assert (alert["severity"], alert["rule_id"], alert["center_id"]) == (
        "red",
        "supervision.reply_overdue",
        "451224",
    )
    assert alert["raised_at"] == "2026-12-12T00:00:00+08:00"  # when it became true
    assert "东兰县政务服务中心未在5个工作日内（12月11日 24:00前）回复督办单" in alert["message"]
    # who handled the case (contract §7), masked like every alert's details; None unknown
    assert {
        k: alert["details"][k] for k in ("department", "window_id", "staff_id")
    } == dict.fromkeys(("department", "window_id", "staff_id"))
    handled = {"department": "东兰县民政局", "window_id": "W-03", "staff_id": "13800001111"}
    shown = orders.overdue_alert(order, "", handled)["details"]
    assert (shown["department"], shown["window_id"], shown["staff_id"]) == (
        "东兰县民政局",
        "W-03",
        "138****1111",
    )
    order = step(order, "reply", "director", "已整改", 11)
    assert not order.overdue(order.due_at + timedelta(days=30))
    order = step(order, "return", "inspector", "请补充", 12, due_at=AT + timedelta(days=30))
    assert orders.overdue_alert(order)["alert_id"].endswith(":2")


@given(
    st.lists(
        st.tuples(st.sampled_from(orders.ACTIONS), st.sampled_from(["inspector", "director"])),
        max_size=12,
    )
)
def test_any_sequence_of_steps_follows_the_table(steps: list[tuple[str, str]]) -> None:
    order = issued()
    for n, (action, role) in enumerate(steps, start=11):
        expected = (
            orders._NEXT.get((order.status, action)) if orders.ROLE_OF[action] == role else None
        )
        before = (order.status, order.round, len(order.history))
        extra = {"due_at": AT + timedelta(days=40)} if action in ("return", "issue") else {}
        try:
            if action == "issue":
                record = {**order.history[0], "by": WHO[role], "seq": None}
                del record["seq"]
                orders.apply(order, record, n)
            else:
                step(order, action, role, "说明", n, **extra)  # type: ignore[arg-type]
        except OrderRefused:
            assert expected is None
            assert (order.status, order.round, len(order.history)) == before
        else:
            assert expected is not None and order.status == expected


def test_an_orders_id_says_what_it_asks() -> None:
    """The same order asked twice gets one id (two web services write one order); another
    requirement, subject or number of days, a closed one before it, or a retry after a
    clash, another id."""
    asked: orders.Asked = ("451224", "451224-2026-0000001", "deadline.overdue:x", "请整改", 5)
    first = orders.order_id_for(AT, asked, 0)
    assert first == orders.order_id_for(AT + timedelta(hours=3), asked, 0)
    assert first.startswith("DB20261204-") and len(first) == len("DB20261204-") + 6
    others = {
        orders.order_id_for(AT, ("451224", asked[1], asked[2], "请说明原因", 5), 0),
        orders.order_id_for(AT, ("451224", asked[1], None, "请整改", 5), 0),
        orders.order_id_for(AT, (*asked[:4], 10), 0),
        orders.order_id_for(AT, asked, 1),
        orders.order_id_for(AT, asked, 0, attempt=1),
    }
    assert first not in others and len(others) == 5
    order = issued()
    again = orders.issue_record(
        order.order_id, center_id=order.center_id, case_id=order.case_id,
        alert_id=order.alert_id, requirement=order.requirement, days=order.days,
        due_at=order.due_at, by={"name": "张监察", "role": "inspector"}, at=AT,
    )  # fmt: skip
    assert orders.repeats_issue(order, again)
    assert not orders.repeats_issue(order, {**again, "note": "请说明原因"})
    assert not orders.repeats_issue(None, again)
    assert not orders.repeats_issue(order, {**again, "action": "reply"})
