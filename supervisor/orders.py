"""督办单, supervision orders: the step after an alert is seen (发现 → 督办 → 整改).

An inspector orders the center responsible for an alert (or a case) to put it right and
to reply within N working days of that center's calendar (default 5). The center's
director replies with what was done (整改情况); the inspector closes the order or sends it
back, which asks for a new reply within the same number of working days. A reply not
given in time raises the red alert `supervision.reply_overdue`, which escalates like any
red alert; it is closed when the reply comes. An inspector withdraws (撤销) an order
that no longer has anything to put right (its alert withdrawn on appeal, or closed with
its case), with the reason: no reply is owed any more, the round it waited for counts as
asked only if its reply was already late, and the round's late-reply alert, if raised,
closes.

Orders live in the alert journal (the audit trail) as records of kind `order`, one per
step, with who and when; the read model keeps each order and its history. This module
is pure: it builds and checks the records and computes an order from them (`apply`),
and says which alert a late order raises (`overdue_alert`). Who may take which step,
and where, is checked here for the role and by the caller for the scope.

    (none) ──issue (inspector)──▶ issued ──reply (director)──▶ replied ──close──▶ closed
                                  returned ◀──return (inspector)──┘
                                  returned ──reply (director)──▶ replied
    issued | returned ──cancel (inspector, with the reason)──▶ cancelled
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final, Literal

from supervisor.core.calendar import WorkCalendar
from supervisor.masking import mask_text

Record = dict[str, Any]
Action = Literal["issue", "reply", "close", "return", "cancel"]
Status = Literal["issued", "replied", "returned", "closed", "cancelled"]

#: The journal record's kind.
ORDER: Final = "order"
ACTIONS: Final[tuple[Action, ...]] = ("issue", "reply", "close", "return", "cancel")
STATUSES: Final[tuple[Status, ...]] = ("issued", "replied", "returned", "closed", "cancelled")
#: The statuses in which the center owes a reply.
AWAITING_REPLY: Final = frozenset({"issued", "returned"})
#: Working days a reply is due in, by default and at most.
DEFAULT_DAYS: Final = 5
MAX_DAYS: Final = 60
#: The longest requirement, reply or comment kept (the API refuses longer).
MAX_NOTE: Final = 2000
MAX_ID: Final = 128
#: The rule a reply not given in time raises (督办异常), its title and its basis.
RULE_ID: Final = "supervision.reply_overdue"
RULE_TITLE: Final = "督办单逾期未回复"
RULE_BASIS: Final = "电子监察督办制度：被督办单位应在督办期限内回复整改情况，逾期未回复即为督办异常"
#: Which role takes which step.
ROLE_OF: Final[dict[str, str]] = {
    "issue": "inspector",
    "close": "inspector",
    "return": "inspector",
    "cancel": "inspector",
    "reply": "director",
}
_NEXT: Final[dict[tuple[str | None, str], Status]] = {
    (None, "issue"): "issued",
    ("issued", "reply"): "replied",
    ("returned", "reply"): "replied",
    ("replied", "close"): "closed",
    ("replied", "return"): "returned",
    ("issued", "cancel"): "cancelled",
    ("returned", "cancel"): "cancelled",
}
_SAYS: Final = {
    "issued": "已下发，待回复",
    "replied": "已回复，待审核",
    "returned": "已退回，待重新回复",
    "closed": "已办结",
    "cancelled": "已撤销",
}


class OrderRefused(ValueError):
    """A step the order's present status, or the person's role, does not allow."""


@dataclass
class Order:
    """One supervision order as it stands, with every step taken."""

    order_id: str
    center_id: str
    case_id: str
    alert_id: str | None
    requirement: str
    days: int  # working days a reply is due in
    issued_at: datetime
    due_at: datetime  # of the reply now awaited (the last due when none is)
    status: Status = "issued"
    round: int = 1  # 1, then one more each time it is sent back
    history: list[Record] = field(default_factory=list)

    @property
    def awaiting_reply(self) -> bool:
        return self.status in AWAITING_REPLY

    def overdue(self, now: datetime) -> bool:
        """Whether the center owes a reply whose due time has passed."""
        return self.awaiting_reply and now >= self.due_at

    def view(self, now: datetime | None = None) -> Record:
        """What the API shows."""
        shown: Record = {
            "order_id": self.order_id,
            "center_id": self.center_id,
            "case_id": self.case_id,
            "alert_id": self.alert_id,
            "requirement": self.requirement,
            "days": self.days,
            "issued_at": self.issued_at.isoformat(timespec="seconds"),
            "due_at": self.due_at.isoformat(timespec="seconds"),
            "status": self.status,
            "status_text": _SAYS[self.status],
            "round": self.round,
            "issued_by": self.history[0]["by"] if self.history else None,
            "history": list(self.history),
        }
        if now is not None:
            shown["overdue"] = self.overdue(now)
        return shown


def check(status: str | None, action: str, role: str) -> Status:
    """The status `action` by someone of `role` leads to from `status`, or raise
    OrderRefused saying why (in Chinese: the console shows it)."""
    if action not in ROLE_OF:
        raise OrderRefused(f"未知的督办操作：{action}")
    if role != ROLE_OF[action]:
        who = "纪检监察人员" if ROLE_OF[action] == "inspector" else "中心负责人"
        raise OrderRefused(f"此操作只能由{who}进行")
    target = _NEXT.get((status, action))
    if target is None:
        shown = _SAYS.get(status or "", "不存在") if status else "不存在"
        raise OrderRefused(f"督办单{shown}，不能进行此操作")
    return target


def issue_record(
    order_id: str,
    *,
    center_id: str,
    case_id: str,
    alert_id: str | None,
    requirement: str,
    days: int,
    due_at: datetime,
    by: Mapping[str, Any],
    at: datetime,
) -> Record:
    """The record of an order issued (validated like any order record)."""
    record: Record = {
        "kind": ORDER,
        "order_id": order_id,
        "action": "issue",
        "center_id": center_id,
        "case_id": case_id,
        "alert_id": alert_id,
        "note": requirement,
        "days": days,
        "due_at": due_at.isoformat(timespec="seconds"),
        "by": dict(by),
        "at": at.isoformat(timespec="seconds"),
    }
    return validated(record)


def step_record(
    order_id: str,
    action: Action,
    *,
    center_id: str,
    note: str,
    by: Mapping[str, Any],
    at: datetime,
    due_at: datetime | None = None,
) -> Record:
    """The record of a reply, a close or a return (a return carries the new due time).
    It names the order's center, as the issue does, so that a live screen can route the
    step to those who may see it without looking the order up (records written before
    it did are routed by the issue's center, or to inspectors only)."""
    record: Record = {
        "kind": ORDER,
        "order_id": order_id,
        "action": action,
        "center_id": center_id,
        "note": note,
        "by": dict(by),
        "at": at.isoformat(timespec="seconds"),
    }
    if due_at is not None:
        record["due_at"] = due_at.isoformat(timespec="seconds")
    return validated(record)


def validated(record: Mapping[str, Any]) -> Record:
    """`record` if it is a well-formed order record, else ValueError saying what is
    wrong (never echoing a value: a journal record may come from anyone)."""
    if record.get("kind") != ORDER:
        raise ValueError("not an order record")
    action = record.get("action")
    if action not in ACTIONS:
        raise ValueError("'action' is not one of issue, reply, close, return, cancel")
    _text(record, "order_id", MAX_ID, required=True)
    _text(record, "note", MAX_NOTE, required=action in ("issue", "reply", "cancel"))
    _moment(record, "at")
    by = record.get("by")
    if not isinstance(by, Mapping) or not isinstance(by.get("name"), str):
        raise ValueError("'by' must say who (name, role)")
    if by.get("role") not in ("inspector", "director"):
        raise ValueError("'by.role' must be inspector or director")
    _text(record, "center_id", 16, required=action == "issue")
    if action == "issue":
        _text(record, "case_id", MAX_ID, required=True)
        if record.get("alert_id") is not None:
            _text(record, "alert_id", 512, required=True)
        days = record.get("days")
        if not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= MAX_DAYS:
            raise ValueError(f"'days' must be a whole number from 1 to {MAX_DAYS}")
    if action in ("issue", "return"):
        _moment(record, "due_at")
    return dict(record)


def _text(record: Mapping[str, Any], key: str, limit: int, *, required: bool) -> None:
    value = record.get(key, "")
    if not isinstance(value, str):
        raise ValueError(f"'{key}' must be text")
    if required and not value.strip():
        raise ValueError(f"'{key}' must not be empty")
    if len(value) > limit:
        raise ValueError(f"'{key}' is longer than {limit} characters")


def _moment(record: Mapping[str, Any], key: str) -> datetime:
    value = record.get(key)
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        moment = None
    if moment is None or moment.utcoffset() is None or not 2000 <= moment.year <= 2100:
        raise ValueError(f"'{key}' must be a time with its UTC offset (years 2000-2100)")
    return moment


#: What makes two orders the same order: (center, case, alert, requirement, days).
Asked = tuple[str, str, str | None, str, int]


def asked_of(order: Order) -> Asked:
    """What `order` asks, of whom and about what."""
    return (order.center_id, order.case_id, order.alert_id, order.requirement, order.days)


def order_id_for(at: datetime, asked: Asked, earlier: int, attempt: int = 0) -> str:
    """The id of the order `asked` at `at`, after `earlier` such orders were closed.

    Derived from what is asked, not drawn at random, so that two web services asked for
    the same order at once (a double click spread over two replicas) write one id, and the
    read model keeps the first (`repeats_issue`). Its date is the service's clock's: two
    requests either side of midnight are two orders. `attempt` moves it on when another order
    already holds the id (six hex digits: a clash is rare, not impossible)."""
    said = json.dumps([*asked, earlier, attempt], ensure_ascii=False)
    digest = hashlib.sha256(said.encode()).hexdigest()[:6].upper()
    return f"DB{at:%Y%m%d}-{digest}"


def repeats_issue(order: Order | None, record: Mapping[str, Any]) -> bool:
    """Whether `record` issues again the order `order` is, asking the same: the same order
    written twice (`order_id_for`), which changes nothing."""
    if order is None or record.get("action") != "issue":
        return False
    again = (
        record.get("center_id"),
        record.get("case_id"),
        record.get("alert_id"),
        record.get("note"),
        record.get("days"),
    )
    return again == asked_of(order)


def apply(order: Order | None, record: Mapping[str, Any], seq: int) -> Order:
    """The order after `record` (at journal position `seq`); ValueError for a malformed
    record, OrderRefused for a step its status or its author's role does not allow."""
    record = validated(record)
    action = str(record["action"])
    status = check(order.status if order is not None else None, action, record["by"]["role"])
    step = {**record, "seq": seq}
    if order is None:
        return Order(
            order_id=record["order_id"],
            center_id=record["center_id"],
            case_id=record["case_id"],
            alert_id=record.get("alert_id"),
            requirement=record["note"],
            days=record["days"],
            issued_at=_moment(record, "at"),
            due_at=_moment(record, "due_at"),
            history=[step],
        )
    order.status = status
    order.history.append(step)
    if action == "return":
        order.round += 1
        order.due_at = _moment(record, "due_at")
    return order


def rounds(order: Order) -> list[tuple[datetime, datetime | None]]:
    """Each reply the order asked for: when it was due and when it came (None: not
    yet). The issue asks for the first, each return for one more (督办单按期回复率 counts
    them)."""
    found: list[tuple[datetime, datetime | None]] = []
    for step in order.history:
        action = step.get("action")
        if action in ("issue", "return"):
            found.append((_moment(step, "due_at"), None))
        elif action == "reply" and found and found[-1][1] is None:
            found[-1] = (found[-1][0], _moment(step, "at"))
        elif (
            action == "cancel"
            and found
            and found[-1][1] is None
            and _moment(step, "at") < found[-1][0]
        ):
            # withdrawn before its reply was due: that reply is asked no more; a reply
            # already late stays late (withdrawing an order does not undo its lateness)
            found.pop()
    return found


def reply_due(calendar: WorkCalendar, at: datetime, days: int) -> datetime:
    """When a reply asked for at `at` is due: 24:00 of the `days`-th working day after
    that day, in the center's calendar (holidays and make-up working days counted, as
    for a case's time limit)."""
    return calendar.working_deadline(at, days)


def shown_due(due: datetime) -> str:
    """A due time as people say it: 24:00 of its day rather than 00:00 of the next."""
    if (due.hour, due.minute, due.second) == (0, 0, 0):
        return f"{(due - timedelta(seconds=1)):%m月%d日} 24:00"
    return f"{due:%m月%d日 %H:%M}"


def overdue_alert_id(order: Order) -> str:
    """The id of the order's late-reply alert for its present round."""
    return f"{RULE_ID}:{order.order_id}:{order.round}"


def overdue_alert(
    order: Order,
    center_name: str = "",
    handled_by: Mapping[str, str | None] | None = None,
) -> Record:
    """The red alert of an order whose reply is late (contract §3's shape; its id is
    the order's and the round's, so each late round raises it once). `handled_by`: who
    handled the case (contract §7: `department`, `window_id`, `staff_id`, as the case's
    latest fact says), carried into its details like every alert's, masked like them."""
    due = order.due_at
    known = handled_by or {}
    where = center_name or order.center_id
    return {
        "alert_id": overdue_alert_id(order),
        "rule_id": RULE_ID,
        "severity": "red",
        "case_id": order.case_id,
        "center_id": order.center_id,
        "raised_at": due.isoformat(timespec="seconds"),
        "title": RULE_TITLE,
        "message": (
            f"{where}未在{order.days}个工作日内（{shown_due(due)}前）回复督办单"
            f" {order.order_id}（办件 {order.case_id}）的整改情况。"
        ),
        "details": {
            "order_id": order.order_id,
            "round": order.round,
            "due_at": due.isoformat(timespec="seconds"),
            "days": order.days,
            "source_alert_id": order.alert_id,
            **{key: _shown(known.get(key)) for key in ("department", "window_id", "staff_id")},
        },
    }


def _shown(value: str | None) -> str | None:
    return None if value is None else mask_text(value)
