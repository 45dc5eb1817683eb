"""Work queues: what waits for the person signed in, so that nobody has to search for it.

- A director (中心负责人): alerts of their centers still to acknowledge (签收), orders to
  answer (督办单待回复, the soonest due first, late ones marked), and appeals decided in
  the last 30 days (申诉结果).
- An inspector (纪检监察): appeals to review (待审核申诉), replies to check (督办回复待审核),
  and orders whose reply is late (逾期未回复).

Each queue is a key (the console names it in the reader's language), how many wait and
the first ones. Scope is the caller's, resolved by the caller (ReadModelState.scope).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Final

from supervisor import orders
from supervisor.auth import Principal, Role
from supervisor.store.queries import AlertQuery, ReadModel

#: Items listed per queue (the count says how many there are).
SHOWN: Final = 50
#: How far back a director sees the decisions on their appeals.
DECIDED_DAYS: Final = 30


async def work_queues(
    read: ReadModel, who: Principal, centers: Sequence[str] | None, now: datetime
) -> list[dict[str, Any]]:
    """The queues of `who` (see the module docstring), each `{key, total, items}`."""
    if who.role is Role.director:
        to_acknowledge = await read.search(AlertQuery(centers=centers, status="open", limit=SHOWN))
        to_answer = await _orders(
            read, "orders_to_answer", now, centers, statuses=sorted(orders.AWAITING_REPLY)
        )
        decided = await read.decided_appeals(centers, now - timedelta(days=DECIDED_DAYS), SHOWN)
        return [
            _queue("alerts_to_acknowledge", to_acknowledge.total, to_acknowledge.items),
            to_answer,
            _queue("appeals_decided", len(decided), decided),
        ]
    if who.role is Role.inspector:
        appeals = await read.search(AlertQuery(centers=centers, status="appealed", limit=SHOWN))
        return [
            _queue("appeals_to_review", appeals.total, appeals.items),
            await _orders(read, "replies_to_check", now, centers, statuses=["replied"]),
            await _orders(
                read,
                "orders_overdue",
                now,
                centers,
                statuses=sorted(orders.AWAITING_REPLY),
                due_before=now,
            ),
        ]
    return []


def _queue(key: str, total: int, items: Sequence[dict[str, Any]]) -> dict[str, Any]:
    return {"key": key, "total": total, "items": list(items[:SHOWN])}


async def _orders(
    read: ReadModel,
    key: str,
    now: datetime,
    centers: Sequence[str] | None,
    *,
    statuses: Sequence[str],
    due_before: datetime | None = None,
) -> dict[str, Any]:
    """An order queue: the first SHOWN, soonest due first, and how many in all."""
    found = await read.orders(centers, statuses=statuses, due_before=due_before, limit=SHOWN)
    total = await read.count_orders(centers, statuses=statuses, due_before=due_before)
    return _queue(key, total, [order.view(now) for order in found])
