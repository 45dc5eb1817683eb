"""Supervision orders in the web service: the desk that takes each step for a person
(`OrderDesk`), and the watch that raises the red alert of a reply not given in time
(`OrderWatch`). The routes only parse, call and answer; the rules are here and in
supervisor/orders.py.

A step is a journal record: written, then read back (the hub's position), so that the
answer shows the order as the read model now has it. Scope: an order belongs to its
center; a director sees and answers the orders of their centers, an inspector all.
An order outside the caller's scope is "not found", as an alert is, so that a director
cannot learn which ids exist elsewhere.

The watch runs in every web service: two of them may raise the same alert, whose id
(the order's and the round's) makes the second a repeat the journal ignores. When the
reply comes, the desk closes the round's overdue alert (a `case_change` record, as the
worker closes a warning whose case concluded): the wall stops showing it and the
notifier stops escalating it. A reply that comes between the watch's look and its alert
finds no alert to close; the watch, once its alerts are read back, looks at their orders
again and closes those answered meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any, Final

from supervisor import orders
from supervisor.auth import Principal, Role
from supervisor.core.calendar import CalendarBook
from supervisor.masking import mask_shaped, mask_text
from supervisor.orders import Order, OrderRefused
from supervisor.store.queries import ReadModel
from supervisor.web.journal import CASE_CHANGE, OPEN_STATUSES
from supervisor.web.writer import JournalWriter

log = logging.getLogger(__name__)

#: How long a step waits to be read back before the answer says so.
READ_BACK_SECONDS: Final = 10.0
#: How often the watch looks for late replies.
WATCH_SECONDS: Final = 30.0
#: Late orders raised at most per look (the rest the next time).
WATCH_BATCH: Final = 500

WaitFor = Callable[[int, float], Awaitable[bool]]

#: How long an order this service wrote is remembered by what was asked, for a retry
#: whose first answer was lost before the read model held the order; and how many.
ISSUED_SECONDS: Final = 120.0
ISSUED_KEPT: Final = 1000
#: Ids an order is given in turn when another order holds the one before (orders.py).
ID_ATTEMPTS: Final = 3
#: An order is open until the inspector closes it (办结): a reply may still be sent back.
OPEN_ORDER: Final = frozenset({"issued", "returned", "replied"})
#: Why a late reply's alert closes, by the step that answers it.
ANSWERED_BY: Final = {"reply": "order_replied", "cancel": "order_cancelled"}
#: An order that asks nothing more: closed (办结), or withdrawn (撤销).
ENDED_ORDER: Final = frozenset({"closed", "cancelled"})
#: Alerts no order may be issued on, and why: nothing is left for the center to put
#: right (an order on one would owe a reply, and count in the assessment, for nothing).
NOTHING_TO_ORDER: Final = {
    "withdrawn": "此预警已撤销，不能督办",
    "closed": "此预警已随办件关闭（按期办结或撤回），不能督办",
    "superseded": "此预警已被同一办件的红色预警取代，请对红色预警督办",
}


class DeskError(Exception):
    """A step refused, with the HTTP status and the reason (Chinese: the console shows
    it as it is)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def by_of(who: Principal) -> dict[str, Any]:
    """Who took a step, as journal records say it."""
    return {"name": who.name, "role": who.role.value, "center": who.center, "token": who.id}


class OrderDesk:
    """Issues, answers, closes and returns supervision orders for the person asking."""

    def __init__(
        self,
        read: ReadModel,
        writer: JournalWriter,
        wait_for: WaitFor,
        calendars: CalendarBook,
        clock: Callable[[], datetime],
        center_names: Mapping[str, str] | None = None,
    ) -> None:
        self.read = read
        self.writer = writer
        self.wait_for = wait_for
        self.calendars = calendars
        self.clock = clock
        self.names = dict(center_names or {})
        self._issuing = asyncio.Lock()
        #: orders this service wrote lately, by what was asked: (order id, monotonic time)
        self._issued: OrderedDict[orders.Asked, tuple[str, float]] = OrderedDict()

    async def issue(
        self,
        who: Principal,
        *,
        alert_id: str | None,
        case_id: str | None,
        requirement: str,
        days: int = orders.DEFAULT_DAYS,
    ) -> tuple[Order, bool]:
        """督办: order the center of an alert (or of a case) to put it right and reply
        within `days` working days. Returns the order and whether it is new: the same
        order asked again while the first is open is that first one."""
        if who.role is not Role.inspector:
            raise DeskError(403, "只有纪检监察人员可以下发督办单")
        if not requirement.strip():
            raise DeskError(422, "请填写督办要求")
        alert_id = (alert_id or "").strip() or None
        center_id, case_id = await self._subject(who, alert_id, case_id)
        requirement = await self._masked(requirement, case_id)
        async with self._issuing:  # the check and the write, one request at a time
            asked: orders.Asked = (center_id, case_id, alert_id, requirement, days)
            same, closed = await self._orders_like(asked)
            if same is None:
                same = await self._issued_here_lately(asked)
            if same is not None:
                return same, False
            now = self.clock()
            due = orders.reply_due(self.calendars.for_center(center_id), now, days)
            for attempt in range(ID_ATTEMPTS):
                order_id = orders.order_id_for(now, asked, closed, attempt)
                try:
                    record = orders.issue_record(
                        order_id,
                        center_id=center_id,
                        case_id=case_id,
                        alert_id=alert_id,
                        requirement=requirement,
                        days=days,
                        due_at=due,
                        by=by_of(who),
                        at=now,
                    )
                except ValueError as exc:
                    raise DeskError(422, str(exc)) from None
                # before the write: its answer may be lost (a 504) while the journal holds it
                self._issued[asked] = (order_id, time.monotonic())
                while len(self._issued) > ISSUED_KEPT:
                    self._issued.popitem(last=False)
                issued = await self._issue_written(record, order_id, asked)
                if issued is not None:
                    return issued
            raise DeskError(409, "督办单编号冲突，请重试")

    async def _issue_written(
        self, record: dict[str, Any], order_id: str, asked: orders.Asked
    ) -> tuple[Order, bool] | None:
        """The order `record` issues, once read back, and whether this request made it:
        another web service may have written the same order first (the same id, as
        `orders.order_id_for` derives it), which is then the answer; None when another
        order holds the id (try the next)."""
        seq = await self.writer.write(record)
        if not await self.wait_for(seq, READ_BACK_SECONDS):
            raise DeskError(504, "已写入，但未能及时读回；请稍后刷新")
        order = await self.read.order(order_id)
        if order is None:  # the journal refused the record: nothing else can be the cause
            raise DeskError(409, "另一操作先于此操作生效，请刷新后重试")
        if any(step.get("seq") == seq for step in order.history):
            return order, True
        return (order, False) if orders.asked_of(order) == asked else None

    async def _issued_here_lately(self, asked: orders.Asked) -> Order | None:
        """The same order written by this service within ISSUED_SECONDS: the request is a
        retry of one whose answer was lost before the read model held it (a 504). It is
        that order once read back; until then the retry is told to look again rather than
        given a second order. (Another web service's recent orders are not known here.)"""
        issued = self._issued.get(asked)
        if issued is None or time.monotonic() - issued[1] > ISSUED_SECONDS:
            return None
        order = await self.read.order(issued[0])
        if order is None:
            raise DeskError(504, "此督办单已提交，尚未确认；请稍后刷新查看，勿重复下发")
        if orders.asked_of(order) != asked:  # the id was another order's: ours was refused
            return None
        return order if order.status in OPEN_ORDER else None

    async def _orders_like(self, asked: orders.Asked) -> tuple[Order | None, int]:
        """The order still open (not 办结) that asks the same of the same center about the
        same, if any, and how many such orders were closed. An open one means the request
        is a repeat (a double click, a retry after a lost answer), answered with that order
        rather than a second one, which would owe a second reply and raise a second red
        alert when late; the closed ones make a new order's id (`orders.order_id_for`)."""
        center_id, case_id, alert_id = asked[:3]
        found = await self.read.orders([center_id], case_id=case_id, alert_id=alert_id)
        like = [order for order in found if orders.asked_of(order) == asked]
        open_one = next((order for order in like if order.status in OPEN_ORDER), None)
        return open_one, sum(1 for order in like if order.status in ENDED_ORDER)

    async def step(self, who: Principal, order_id: str, action: orders.Action, note: str) -> Order:
        """回复 (reply), 办结 (close), 退回 (return) or 撤销 (cancel) an order."""
        order = await self.visible(who, order_id)
        if action == "reply" and not note.strip():
            raise DeskError(422, "请填写回复内容（整改情况）")
        if action == "return" and not note.strip():  # the center must know what to redo
            raise DeskError(422, "请填写退回理由（还需整改什么）")
        if action == "cancel" and not note.strip():  # the record says why it was dropped
            raise DeskError(422, "请填写撤销理由")
        if who.role is Role.director and not who.may_act(order.center_id):
            raise DeskError(403, "此督办单不在您的职责范围内")
        try:
            orders.check(order.status, action, who.role.value)
        except OrderRefused as exc:
            status = 403 if "只能由" in str(exc) else 409
            raise DeskError(status, str(exc)) from None
        now = self.clock()
        due = None
        if action == "return":
            due = orders.reply_due(self.calendars.for_center(order.center_id), now, order.days)
        try:
            record = orders.step_record(
                order_id,
                action,
                center_id=order.center_id,
                note=await self._masked(note, order.case_id),
                by=by_of(who),
                at=now,
                due_at=due,
            )
        except ValueError as exc:
            raise DeskError(422, str(exc)) from None
        done = await self._written(record, order_id, who)
        if action in ("reply", "cancel"):
            await self._close_overdue(order, now, ANSWERED_BY[action])
        return done

    async def _masked(self, text: str, case_id: str) -> str:
        """What a person typed, as it may be kept: ID and phone numbers masked, and the
        case's applicant's name (the report that lists orders says it is masked)."""
        masked = mask_text(text, keep=(case_id,))  # the order's own case id kept readable
        return str(mask_shaped(masked, await self.read.applicant_names(case_id)))

    async def visible(self, who: Principal, order_id: str) -> Order:
        """The order if it exists and is in the caller's scope; else 404 for both."""
        order = await self.read.order(order_id)
        if order is None or not who.may_see(order.center_id):
            raise DeskError(404, "没有这张督办单")
        return order

    async def _subject(
        self, who: Principal, alert_id: str | None, case_id: str | None
    ) -> tuple[str, str]:
        """(center, case) an order is about: the alert's, or the case's."""
        if alert_id:
            found = await self.read.alert(alert_id)
            if found is None or not who.may_see(str(found[0]["center_id"])):
                raise DeskError(404, "没有这条预警")
            refused = NOTHING_TO_ORDER.get(str(found[0]["status"]))
            if refused is not None:
                raise DeskError(409, refused)
            return str(found[0]["center_id"]), str(found[0]["case_id"])
        if case_id:
            case = await self.read.case(case_id)
            if case is None or not who.may_see(str(case["center_id"])):
                raise DeskError(404, "没有这个办件")
            return str(case["center_id"]), case_id
        raise DeskError(422, "督办单须针对一条预警或一个办件")

    async def _written(self, record: dict[str, Any], order_id: str, who: Principal) -> Order:
        seq = await self.writer.write(record)
        if not await self.wait_for(seq, READ_BACK_SECONDS):
            raise DeskError(504, "已写入，但未能及时读回；请稍后刷新")
        order = await self.visible(who, order_id)
        if not any(step.get("seq") == seq for step in order.history):
            raise DeskError(409, "另一操作先于此操作生效，请刷新后重试")
        return order

    async def _close_overdue(self, order: Order, now: datetime, reason: str) -> None:
        """The reply came, or the order was withdrawn: the round's overdue alert, if
        raised and still open, closes (`reason`: order_replied, order_cancelled)."""
        alert_id = orders.overdue_alert_id(order)
        status = await self.read.alert_status(alert_id)
        if status is None or status[0] not in OPEN_STATUSES:
            return
        await self.writer.write(
            {
                "kind": CASE_CHANGE,
                "alert_id": alert_id,
                "change": "closed",
                "reason": reason,
                "at": now.isoformat(timespec="seconds"),
            }
        )


class OrderWatch:
    """Raises `supervision.reply_overdue` for each order whose reply is late, once a
    round (see the module docstring). `check(now)` is one look (tests call it with
    their clock); `run()` looks every WATCH_SECONDS."""

    def __init__(
        self,
        read: ReadModel,
        writer: JournalWriter,
        clock: Callable[[], datetime],
        wait_for: WaitFor,
        center_names: Mapping[str, str] | None = None,
        interval: float = WATCH_SECONDS,
    ) -> None:
        self.read = read
        self.writer = writer
        self.wait_for = wait_for
        self.clock = clock
        self.names = dict(center_names or {})
        self.interval = interval
        self._stopped = asyncio.Event()

    async def check(self, now: datetime) -> list[str]:
        """Raise the alerts of the replies late at `now`, at most WATCH_BATCH (the rest
        the next look); their ids. The late orders are walked a page at a time past
        those raised before, so that however many stay unanswered, one that has just
        become late is still found."""
        raised: list[str] = []
        written: list[tuple[orders.Order, dict[str, Any], int]] = []
        offset = 0
        while len(raised) < WATCH_BATCH:
            late = await self.read.orders(
                statuses=sorted(orders.AWAITING_REPLY),
                due_before=now,
                limit=WATCH_BATCH,
                offset=offset,
            )
            for order in late:
                name = self.names.get(order.center_id, "")
                if await self.read.alert_status(orders.overdue_alert_id(order)) is not None:
                    continue  # raised before (by this service or another)
                handled_by = await self.read.handled_by(order.case_id)
                alert = orders.overdue_alert(order, name, handled_by)
                written.append((order, alert, await self.writer.write(alert)))
                raised.append(alert["alert_id"])
                if len(raised) == WATCH_BATCH:
                    break
            if len(late) < WATCH_BATCH:
                break
            offset += len(late)
        if written:
            await self._close_answered(written, now)
            log.info("supervision orders late: raised %d alerts", len(raised))
        return raised

    async def _close_answered(
        self, written: list[tuple[orders.Order, dict[str, Any], int]], now: datetime
    ) -> None:
        """An order answered (or sent back into a new round) between the look and its
        alert: the reply looked for the alert before it was there, so the alert is
        closed here, once it is read back, as the reply would have closed it."""
        if not await self.wait_for(max(seq for _, _, seq in written), READ_BACK_SECONDS):
            return  # the next look finds them raised; a reply that comes later closes it
        for order, alert, _ in written:
            after = await self.read.order(order.order_id)
            if after is not None and after.awaiting_reply and after.round == order.round:
                continue
            cancelled = after is not None and after.status == "cancelled"
            await self.writer.write(
                {
                    "kind": CASE_CHANGE,
                    "alert_id": alert["alert_id"],
                    "change": "closed",
                    "reason": ANSWERED_BY["cancel" if cancelled else "reply"],
                    "at": now.isoformat(timespec="seconds"),
                }
            )

    async def run(self) -> None:
        """Look every `interval` seconds (the first look after one interval: nothing is
        late by seconds) until `stop()`; a look is never cut off half way, so that a
        service stopping does not abandon a query on its database connection."""
        while not self._stopped.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopped.wait(), self.interval)
            if self._stopped.is_set():
                return
            try:
                await self.check(self.clock())
            except Exception:  # the database down, the broker away: look again later
                log.warning("the order watch could not look; trying again", exc_info=True)

    def stop(self) -> None:
        """Ask `run` to end after its present look."""
        self._stopped.set()
