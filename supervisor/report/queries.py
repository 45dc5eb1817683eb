"""The report's own questions to the read model, which `ReadModel` does not ask: the cases
late in a period, a few cases' item names and applicants, and the supervision orders
issued in a period. SQLAlchemy Core over the tables of `supervisor.store.schema`, read
only, the same on SQLite and PostgreSQL (times stored as naive UTC, see schema.py).

Scope is a list of center codes (None: every center), resolved by the caller as for every
other figure, so that a director's report holds nothing outside their centers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Final

from sqlalchemy import ColumnElement, and_, false, or_, select, true

from supervisor.masking import mask_shaped, masked_names
from supervisor.orders import Order
from supervisor.report.model import LateCase
from supervisor.store import rows
from supervisor.store.queries import ReadModel
from supervisor.store.schema import case_events, cases, orders

#: Late cases read at most for one report, the earliest deadlines first: the worst are
#: among them (a month of the whole city has a few thousand), and one report never reads
#: an unbounded list.
LATE_CAP: Final = 5_000


def _scoped(column: Any, centers: Sequence[str] | None) -> ColumnElement[bool]:
    if centers is None:
        return true()
    return column.in_(list(centers)) if centers else false()


async def late_cases(
    read: ReadModel,
    since: datetime,
    until: datetime,
    end: datetime,
    centers: Sequence[str] | None,
    cap: int = LATE_CAP,
) -> list[LateCase]:
    """Cases late in [since, until) (aware): concluded then after their deadline, or
    accepted before `until` and still open past their deadline at `end` (the period's
    end, or now within it); up to `cap`, the earliest deadlines first."""
    lo, hi, at = rows.utc(since), rows.utc(until), rows.utc(end)
    concluded_late = and_(
        cases.c.status == "concluded",
        cases.c.on_time == false(),
        cases.c.concluded_at >= lo,
        cases.c.concluded_at < hi,
    )
    still_open = and_(
        cases.c.status == "open",
        cases.c.accepted_at < hi,
        cases.c.deadline < at,
    )
    statement = (
        select(
            cases.c.case_id,
            cases.c.center_id,
            cases.c.status,
            cases.c.department,
            cases.c.accepted_at,
            cases.c.deadline,
            cases.c.concluded_at,
        )
        .where(
            _scoped(cases.c.center_id, centers),
            cases.c.deadline.is_not(None),
            or_(concluded_late, still_open),
        )
        .order_by(cases.c.deadline, cases.c.case_id)
        .limit(cap)
    )
    async with read.db.engine.connect() as connection:
        found = (await connection.execute(statement)).all()
    late = []
    for row in found:
        deadline = rows.aware(row.deadline)
        assert deadline is not None  # filtered above
        late.append(
            LateCase(
                case_id=row.case_id,
                center_id=row.center_id,
                status=row.status,
                department=row.department,
                accepted_at=rows.aware(row.accepted_at),
                deadline=deadline,
                concluded_at=rows.aware(row.concluded_at) if row.status == "concluded" else None,
            )
        )
    return late


async def case_details(read: ReadModel, case_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Each case's item name (from its `accepted` event) and applicant's name (from the
    first event that names one), from the events as stored, masked when they came; the
    item name masked by the case's names again, for rows kept before the projection did
    so (masking.mask_shaped)."""
    if not case_ids:
        return {}
    statement = (
        select(case_events.c.case_id, case_events.c.document)
        .where(case_events.c.case_id.in_(list(case_ids)))
        .order_by(case_events.c.case_id, case_events.c.occurred_at, case_events.c.event_id)
    )
    details: dict[str, dict[str, Any]] = {}
    names: dict[str, list[str]] = {}  # each case's applicants' names, masked
    async with read.db.engine.connect() as connection:
        for case_id, document in await connection.execute(statement):
            told = details.setdefault(case_id, {})
            if not isinstance(document, Mapping):
                continue
            names.setdefault(case_id, []).extend(masked_names([document]))
            payload = document.get("payload")
            if (
                isinstance(payload, Mapping)
                and payload.get("item_name")
                and "item_name" not in told
            ):
                told["item_name"] = str(payload["item_name"])
            applicant = document.get("applicant")
            if isinstance(applicant, Mapping) and applicant.get("name") and "applicant" not in told:
                told["applicant"] = str(applicant["name"])
    # an item name kept before the projection masked names across a case's events
    for case_id, told in details.items():
        if "item_name" in told and names.get(case_id):
            told["item_name"] = mask_shaped(told["item_name"], names[case_id])
    return details


async def period_orders(
    read: ReadModel,
    since: datetime,
    until: datetime,
    centers: Sequence[str] | None,
) -> list[Order]:
    """Every order issued in [since, until) (aware), by when it was issued: the report's
    figures count them all (a month's orders are a few hundred at most), its table lists
    the first of them."""
    condition = and_(
        _scoped(orders.c.center_id, centers),
        orders.c.issued_at >= rows.utc(since),
        orders.c.issued_at < rows.utc(until),
    )
    listed = select(orders).where(condition).order_by(orders.c.issued_at, orders.c.order_id)
    async with read.db.engine.connect() as connection:
        found = (await connection.execute(listed)).all()
    return [rows.order_from(row._mapping) for row in found]
