"""Supervision orders (督办单) and work queues over HTTP; the rules are in
supervisor/web/supervision.py, supervisor/web/queues.py and supervisor/orders.py."""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal

from fastapi import APIRouter, HTTPException, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from supervisor import orders
from supervisor.web.queues import work_queues
from supervisor.web.security import Viewer
from supervisor.web.services import Wired
from supervisor.web.supervision import DeskError

router = APIRouter(tags=["supervision orders"])

#: The answer's header that says how many orders match the filters in all.
TOTAL_HEADER: Final = "X-Total-Count"
#: The furthest a page of orders may start.
OFFSET_MAX: Final = 100_000


class IssueBody(BaseModel):
    """督办: about an alert (or a case without one), what to do, in how many working days."""

    model_config = ConfigDict(extra="forbid")

    alert_id: str | None = Field(default=None, max_length=512)
    case_id: str | None = Field(default=None, max_length=128)
    requirement: str = Field(min_length=1, max_length=orders.MAX_NOTE)
    days: int = Field(default=orders.DEFAULT_DAYS, ge=1, le=orders.MAX_DAYS, strict=True)


class StepBody(BaseModel):
    """回复 (what was done), 办结 or 退回 (the inspector's comment)."""

    model_config = ConfigDict(extra="forbid")

    note: str = Field(default="", max_length=orders.MAX_NOTE)


def _refused(exc: DeskError) -> HTTPException:
    return HTTPException(exc.status, exc.detail)


@router.post("/api/orders", status_code=201)
async def issue_order(
    body: IssueBody, who: Viewer, services: Wired, response: Response
) -> dict[str, Any]:
    """督办: an inspector orders the alert's (or case's) center to put it right and reply
    within `days` working days of its calendar. The same order asked again while the
    first is open answers that one (200), not a second order (201)."""
    await services.caught_up()  # an alert a socket brought is one the desk finds
    try:
        order, new = await services.order_desk.issue(
            who,
            alert_id=body.alert_id,
            case_id=body.case_id,
            requirement=body.requirement,
            days=body.days,
        )
    except DeskError as exc:
        raise _refused(exc) from None
    if not new:
        response.status_code = 200
    return order.view(services.now())


OrderStatus = Literal["issued", "replied", "returned", "closed", "cancelled"]


@router.get("/api/orders")
async def list_orders(
    who: Viewer,
    services: Wired,
    response: Response,
    status: Annotated[
        list[OrderStatus] | None, Query(description="repeat for several: any of them")
    ] = None,
    case_id: Annotated[str | None, Query(max_length=128)] = None,
    alert_id: Annotated[str | None, Query(max_length=512)] = None,
    overdue: bool = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 200,
    offset: Annotated[int, Query(ge=0, le=OFFSET_MAX)] = 0,
) -> list[dict[str, Any]]:
    """Orders in the caller's scope, the soonest due first (then by id: stable for
    paging); `status` repeated for several (`?status=issued&status=returned`: those
    waiting for a reply); `overdue=true`: the replies that are late. The header
    `X-Total-Count` says how many match in all."""
    await services.caught_up()  # a step a socket told of is one this list holds
    now = services.now()
    statuses: list[str] | None = sorted(set(status)) if status else None
    if overdue:
        statuses = sorted(orders.AWAITING_REPLY & set(statuses or orders.AWAITING_REPLY))
    scope = await services.read_state.scope(who)
    due_before = now if overdue else None
    found = await services.read.orders(
        scope,
        statuses=statuses,
        case_id=case_id,
        alert_id=alert_id,
        due_before=due_before,
        limit=limit,
        offset=offset,
    )
    total = await services.read.count_orders(
        scope, statuses=statuses, case_id=case_id, alert_id=alert_id, due_before=due_before
    )
    response.headers[TOTAL_HEADER] = str(total)
    return [order.view(now) for order in found]


@router.get("/api/orders/{order_id}")
async def get_order(order_id: str, who: Viewer, services: Wired) -> dict[str, Any]:
    """One order with every step (who, when, what)."""
    await services.caught_up()  # a step a socket told of is one this order shows
    try:
        order = await services.order_desk.visible(who, order_id)
    except DeskError as exc:
        raise _refused(exc) from None
    return order.view(services.now())


@router.post("/api/orders/{order_id}/{action}")
async def order_step(
    order_id: str,
    action: Literal["reply", "close", "return", "cancel"],
    who: Viewer,
    services: Wired,
    body: StepBody | None = None,
) -> dict[str, Any]:
    """回复 (a director: what was done), 办结 (an inspector: the reply is accepted),
    退回 (an inspector: a new reply is due in the same number of working days) or 撤销
    (an inspector, with the reason: nothing is left to put right; no reply is owed)."""
    note = (body or StepBody()).note
    await services.caught_up()  # the order as the sockets told of it
    try:
        order = await services.order_desk.step(who, order_id, action, note)
    except DeskError as exc:
        raise _refused(exc) from None
    return order.view(services.now())


@router.get("/api/queue")
async def my_queue(who: Viewer, services: Wired) -> list[dict[str, Any]]:
    """What waits for the caller (supervisor/web/queues.py)."""
    await services.caught_up()  # what a socket told of is in the queues
    return await work_queues(
        services.read, who, await services.read_state.scope(who), services.now()
    )
