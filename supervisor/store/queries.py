"""What the web service asks the read model: alert search, one alert with its history,
one case, supervision orders, and the figures over any period.

Scope is a list of center codes (None: every center). The web service resolves a
director's scope against `centers_seen` (every center that has an alert or a fact) and
the registry, with the same `may_see` as everywhere else, and passes the codes: the SQL
is then an indexed `center_id IN (...)`, with no notion of the hierarchy in it.

Periods are local days of the service's time zone, turned into UTC ranges here; the
tables hold naive UTC (schema.py). Sorting is stable: alerts newest first by raised_at,
then by journal position (unique), so paging never shows a row twice or skips one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any, Final, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    case,
    false,
    func,
    literal,
    literal_column,
    or_,
    select,
    true,
    union_all,
)

from supervisor.masking import mask_shaped_event, masked_names, shaped_names
from supervisor.orders import Order
from supervisor.store import rows, search
from supervisor.store.db import Database
from supervisor.store.schema import (
    alert_history,
    alerts,
    case_events,
    case_facts,
    cases,
    centers_seen,
    orders,
    positions,
)
from supervisor.web.journal import OPEN_STATUSES

#: `total` of a search counts up to this many rows, then says "at least": counting a
#: million matches exactly costs more than the page itself and tells a person nothing.
TOTAL_CAP: Final = 10_000
#: Free-text terms in one search at most, and characters in one term.
MAX_TERMS: Final = 8
MAX_TERM: Final = 100
#: How figures may be grouped, and by which columns (a department is a center's).
GROUPINGS: Final = {
    "center": ("center_id",),
    "department": ("center_id", "department"),
    "window": ("center_id", "window_id"),
    "staff": ("center_id", "staff_id"),
}
Grouping = Literal["center", "department", "window", "staff"]


@dataclass(frozen=True)
class AlertQuery:
    """The filters of an alert search; every one optional."""

    centers: Sequence[str] | None = None  # the scope and the chosen centers, intersected
    severity: str | None = None
    rule_id: str | None = None
    status: str | None = None
    disposition: str | None = None  # of a resolved alert: held_accountable (问责)…
    case_id: str | None = None
    department: str | None = None
    text: str | None = None
    since: datetime | None = None  # aware; raised_at >= since
    until: datetime | None = None  # aware; raised_at < until
    limit: int = 50
    offset: int = 0


@dataclass(frozen=True)
class AlertPage:
    items: list[dict[str, Any]]
    total: int
    total_exact: bool


@dataclass(frozen=True)
class Counts:
    """Cases over a period, for one group (a center, a department, a window, a person)."""

    key: tuple[str | None, ...]
    accepted: int = 0
    concluded: int = 0
    on_time: int = 0
    overdue: int = 0
    not_accepted: int = 0
    withdrawn: int = 0
    alerts: dict[str, int] = field(default_factory=dict)  # raised, by rule
    severities: dict[str, int] = field(default_factory=dict)  # raised, by severity
    #: of those raised, withdrawn since, by severity: on an appeal upheld (摘牌), or by
    #: the system when a late event proved them wrong (系统撤销); no card either way
    withdrawn_cards: dict[str, int] = field(default_factory=dict)
    #: of those withdrawn, the ones withdrawn on an appeal upheld (摘牌), by severity
    delisted_cards: dict[str, int] = field(default_factory=dict)

    @property
    def on_time_rate(self) -> float | None:
        judged = self.on_time + self.overdue
        return self.on_time / judged if judged else None


def terms(text: str | None) -> list[str]:
    """The free-text terms of a query, lower-cased (all must match)."""
    if not text:
        return []
    return [t[:MAX_TERM] for t in text.lower().split()][:MAX_TERMS]


def _alert_conditions(
    query: AlertQuery, dialect: str | None = None, *, walk: bool = False
) -> list[ColumnElement[bool]]:
    """The conditions of a search; with a `dialect`, its terms are also asked of that
    database's search index (search.py), which finds the candidates the `LIKE`s check.
    `walk`: the columns are compared as expressions (`status || ''`), which no index
    serves, so that the database walks the index of the order and checks each row (the
    dense page of `ReadModel.search`)."""

    def compared(column: Any) -> Any:
        return column.concat("") if walk else column

    conditions: list[ColumnElement[bool]] = []
    if query.centers is not None:
        conditions.append(
            compared(alerts.c.center_id).in_(list(query.centers)) if query.centers else false()
        )
    for column, value in (
        (alerts.c.severity, query.severity),
        (alerts.c.rule_id, query.rule_id),
        (alerts.c.status, query.status),
        (alerts.c.disposition, query.disposition),
        (alerts.c.case_id, query.case_id),
        (alerts.c.department, query.department),
    ):
        if value is not None:
            conditions.append(compared(column) == value)
    if query.since is not None:
        conditions.append(alerts.c.raised_at >= rows.utc(query.since))
    if query.until is not None:
        conditions.append(alerts.c.raised_at < rows.utc(query.until))
    words = terms(query.text)
    for term in words:
        conditions.append(alerts.c.search.contains(term, autoescape=True))
    wanted = search.asked(words) if dialect is not None else []
    if wanted:
        conditions.append(search.holds(str(dialect), wanted, query.centers))
    return conditions


def _count(condition: ColumnElement[bool]) -> Any:
    """How many rows meet `condition` (an aggregate: 0 for none)."""
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _order_conditions(
    centers: Sequence[str] | None,
    statuses: Sequence[str] | None,
    case_id: str | None,
    alert_id: str | None,
    due_before: datetime | None,
    issued_before: datetime | None = None,
) -> ColumnElement[bool]:
    """Orders in scope, of some statuses, of a case or an alert, due before an instant,
    issued before one."""
    conditions = [_scoped(orders.c.center_id, centers)]
    if statuses is not None:
        conditions.append(orders.c.status.in_(list(statuses)))
    if case_id is not None:
        conditions.append(orders.c.case_id == case_id)
    if alert_id is not None:
        conditions.append(orders.c.alert_id == alert_id)
    if due_before is not None:
        conditions.append(orders.c.due_at <= rows.utc(due_before))
    if issued_before is not None:
        conditions.append(orders.c.issued_at < rows.utc(issued_before))
    return and_(*conditions)


def _numbers(counts: Counts) -> list[int]:
    """A group's case counts in the order `ReadModel.figures` reads them."""
    return [
        counts.accepted,
        counts.concluded,
        counts.on_time,
        counts.overdue,
        counts.not_accepted,
        counts.withdrawn,
    ]


def _scoped(column: Any, centers: Sequence[str] | None) -> ColumnElement[bool]:
    if centers is None:
        return true()
    return column.in_(list(centers)) if centers else false()


class ReadModel:
    """The queries, over one database, in the service's time zone."""

    def __init__(self, database: Database, timezone: str) -> None:
        self.db = database
        self.zone = ZoneInfo(timezone)

    def day_range(self, start: date, end: date) -> tuple[datetime, datetime]:
        """Local days start..end (both included) as an aware [since, until) range."""
        since = datetime.combine(start, time.min, self.zone)
        until = datetime.combine(end + timedelta(days=1), time.min, self.zone)
        return since, until

    async def position(self, topic: str) -> int:
        """The next offset of the alerts topic's one partition the read model will apply."""
        async with self.db.engine.connect() as connection:
            value = await connection.scalar(
                select(positions.c.next_offset).where(
                    positions.c.topic == topic, positions.c.partition == 0
                )
            )
        return int(value or 0)

    async def centers_seen(self) -> list[str]:
        async with self.db.engine.connect() as connection:
            return list(await connection.scalars(select(centers_seen.c.center_id)))

    # -- alerts -------------------------------------------------------------------------

    def alert_select(
        self, query: AlertQuery, *, indexed: bool = True, walk: bool = False
    ) -> Select[Any]:
        """The rows of a search, in the stable order, without paging (exports page
        themselves); `indexed=False` leaves the free text to the `LIKE`s alone; `walk`
        (see `_alert_conditions`) makes the database walk the order's index."""
        dialect = self.db.dialect if indexed and not walk else None
        return (
            select(alerts)
            .where(and_(true(), *_alert_conditions(query, dialect, walk=walk)))
            .order_by(alerts.c.raised_at.desc(), alerts.c.seq.desc())
        )

    def count_select(self, query: AlertQuery) -> Select[Any]:
        """How many alerts a search without free text finds, up to TOTAL_CAP + 1.
        `SELECT 1`, not a column: an index that holds the filtered columns answers it
        alone, without reading each row (10,001 row reads at the cap)."""
        return select(func.count()).select_from(
            select(literal_column("1"))
            .select_from(alerts)
            .where(and_(true(), *_alert_conditions(query, self.db.dialect)))
            .limit(TOTAL_CAP + 1)
            .subquery()
        )

    def matches_select(self, query: AlertQuery) -> Select[Any]:
        """The keys of up to TOTAL_CAP + 1 alerts a search with free text finds, through
        the search index: each match's row is read once here (its text checked by
        `LIKE`), for the count and the page both."""
        return (
            select(alerts.c.alert_id, alerts.c.raised_at, alerts.c.seq)
            .where(and_(true(), *_alert_conditions(query, self.db.dialect)))
            .limit(TOTAL_CAP + 1)
        )

    def page_select(self, query: AlertQuery, *, dense: bool) -> Select[Any]:
        """A page of a search. `dense` (see `search`): walking the newest alerts in
        order and checking each row, free text by `LIKE` alone (PostgreSQL needs
        `Database.walk_in_order` on the connection too)."""
        return self.alert_select(query, walk=dense).limit(query.limit).offset(query.offset)

    @staticmethod
    def is_dense(counted: int) -> bool:
        """Whether a search's matches are dense (more than the cap: see `search`)."""
        return counted > TOTAL_CAP

    async def search(self, query: AlertQuery) -> AlertPage:
        """A page of a search and its total (capped at TOTAL_CAP).

        The total is counted first (free text: its matches found through the search
        index, their keys kept). When it passes the cap (a county's name, a common word,
        a county's resolved alerts), matches are dense, at least 1 % of a million
        alerts: the page walks the newest alerts in order and checks each, which finds
        50 sooner than fetching every match and sorting them (bench/RESULTS.md: 300 ms
        against 8 ms for a county's name). Otherwise the page is the newest of the
        matches: free text's from the keys already read, the others by the database."""
        async with self.db.engine.connect() as connection:
            keys: list[Any] | None = None
            if terms(query.text):
                keys = list(await connection.execute(self.matches_select(query)))
                total = len(keys)
            else:
                total = int(await connection.scalar(self.count_select(query)) or 0)
            dense = self.is_dense(total)
            if dense:
                await self.db.walk_in_order(connection)
            if keys is not None and not dense:
                found = await self._rows_of(connection, keys, query)
            else:
                found = list(await connection.execute(self.page_select(query, dense=dense)))
        return AlertPage(
            items=[rows.view(r._mapping) for r in found],
            total=min(total, TOTAL_CAP),
            total_exact=total <= TOTAL_CAP,
        )

    @staticmethod
    async def _rows_of(connection: Any, keys: list[Any], query: AlertQuery) -> list[Any]:
        """The page of `keys` (alert_id, raised_at, seq) in the stable order, read."""
        newest = sorted(keys, key=lambda k: (k.raised_at, k.seq), reverse=True)
        wanted = [k.alert_id for k in newest[query.offset : query.offset + query.limit]]
        if not wanted:
            return []
        read = await connection.execute(select(alerts).where(alerts.c.alert_id.in_(wanted)))
        by_id = {row.alert_id: row for row in read}
        return [by_id[alert_id] for alert_id in wanted if alert_id in by_id]

    async def stream(
        self, query: AlertQuery, limit: int, batch: int = 2_000
    ) -> list[dict[str, Any]]:
        """Up to `limit` alerts of a search, in order (for an export)."""
        async with self.db.engine.connect() as connection:
            result = await connection.stream(self.alert_select(query).limit(limit))
            shown: list[dict[str, Any]] = []
            async for partition in result.partitions(batch):
                shown.extend(rows.view(r._mapping) for r in partition)
        return shown

    async def alert(self, alert_id: str) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
        """One alert as shown, and its whole history; None if unknown."""
        async with self.db.engine.connect() as connection:
            row = (
                await connection.execute(select(alerts).where(alerts.c.alert_id == alert_id))
            ).first()
            if row is None:
                return None
            history = list(
                await connection.scalars(
                    select(alert_history.c.entry)
                    .where(alert_history.c.alert_id == alert_id)
                    .order_by(alert_history.c.seq)
                )
            )
        entry = rows.entry_from(row._mapping, history)
        return entry.view(), history

    async def handled_by(self, case_id: str) -> dict[str, str | None]:
        """Who handled the case as its latest fact says (contract §7: `department`,
        `window_id`, `staff_id`; each None when unknown, or the case is)."""
        async with self.db.engine.connect() as connection:
            row = (
                await connection.execute(
                    select(cases.c.department, cases.c.window_id, cases.c.staff_id).where(
                        cases.c.case_id == case_id
                    )
                )
            ).first()
        if row is None:
            return {"department": None, "window_id": None, "staff_id": None}
        return {"department": row.department, "window_id": row.window_id, "staff_id": row.staff_id}

    async def alert_status(self, alert_id: str) -> tuple[str, str] | None:
        """(status, center_id) of an alert, or None."""
        async with self.db.engine.connect() as connection:
            row = (
                await connection.execute(
                    select(alerts.c.status, alerts.c.center_id).where(alerts.c.alert_id == alert_id)
                )
            ).first()
        return None if row is None else (row.status, row.center_id)

    async def newest(self, limit: int) -> list[Any]:
        """The newest `limit` alert rows (the wall's memory at start)."""
        async with self.db.engine.connect() as connection:
            result = await connection.execute(
                select(alerts).order_by(alerts.c.raised_at.desc(), alerts.c.seq.desc()).limit(limit)
            )
            return list(result.all())

    async def open_alerts(self, centers: Sequence[str] | None = None) -> dict[str, dict[str, int]]:
        """Open alerts (open, acknowledged, appealed) by center and severity."""
        statement = (
            select(alerts.c.center_id, alerts.c.severity, func.count())
            .where(alerts.c.status.in_(sorted(OPEN_STATUSES)), _scoped(alerts.c.center_id, centers))
            .group_by(alerts.c.center_id, alerts.c.severity)
        )
        counts: dict[str, dict[str, int]] = {}
        async with self.db.engine.connect() as connection:
            for center, severity, n in await connection.execute(statement):
                counts.setdefault(center, {"red": 0, "yellow": 0})[severity] = int(n)
        return counts

    # -- cases --------------------------------------------------------------------------

    async def case(self, case_id: str) -> dict[str, Any] | None:
        """A case as its latest fact says, with its masked timeline; None if unknown."""
        async with self.db.engine.connect() as connection:
            row = (
                await connection.execute(select(cases).where(cases.c.case_id == case_id))
            ).first()
            events = (
                await connection.execute(
                    select(case_events.c.document, case_events.c.center_id)
                    .where(case_events.c.case_id == case_id)
                    .order_by(case_events.c.occurred_at, case_events.c.event_id)
                )
            ).all()
        if row is None and not events:
            return None
        fact = dict(row.fact) if row is not None else {}
        timeline = [document for document, _ in events]
        names = masked_names(timeline)
        return {
            "case_id": case_id,
            "center_id": row.center_id if row is not None else events[0].center_id,
            "status": fact.get("status"),
            "accepted_at": fact.get("accepted_at"),
            "concluded_at": fact.get("concluded_at"),
            "deadline": fact.get("deadline"),
            "statutory_deadline": fact.get("statutory_deadline"),
            "on_time": fact.get("on_time"),
            "department": fact.get("department"),
            "window_id": fact.get("window_id"),
            "staff_id": fact.get("staff_id"),
            # the later of the last fact and the timeline's last event (a fact is sent
            # only when a figure of the case changes)
            "last_event_at": _latest(
                fact.get("occurred_at"), events[-1].document.get("occurred_at") if events else None
            ),
            # masked again by the case's names: rows kept before the projection did so
            "timeline": [mask_shaped_event(document, names) for document in timeline],
        }

    async def applicant_names(self, case_id: str) -> list[str]:
        """The case's applicants' names as its events gave them, masked: a note a person
        writes about the case is masked by them (`masking.mask_shaped`) before it is
        kept, as the case's own texts are."""
        async with self.db.engine.connect() as connection:
            given = await connection.scalars(
                select(case_events.c.applicant_name).where(
                    case_events.c.case_id == case_id, case_events.c.applicant_name.is_not(None)
                )
            )
            return shaped_names(given)

    async def decided_appeals(
        self, centers: Sequence[str] | None, since: datetime, limit: int = 50
    ) -> list[dict[str, Any]]:
        """Appeals decided since `since` (aware), newest first: each the decision (who,
        when, which, the note) with its alert as it now stands."""
        statement = (
            select(alert_history.c.entry, alerts)
            .join(alerts, alerts.c.alert_id == alert_history.c.alert_id)
            .where(
                alert_history.c.action.in_(("accept_appeal", "reject_appeal")),
                _scoped(alerts.c.center_id, centers),
            )
            .order_by(alert_history.c.seq.desc())
            .limit(limit)
        )
        decided: list[dict[str, Any]] = []
        async with self.db.engine.connect() as connection:
            for row in await connection.execute(statement):
                entry = row.entry
                at = entry.get("at")
                if isinstance(at, str) and datetime.fromisoformat(at) < since:
                    break  # newest first: the rest are older
                decided.append({"decision": entry, "alert": rows.view(row._mapping)})
        return decided

    # -- supervision orders ---------------------------------------------------------------

    async def order(self, order_id: str) -> Order | None:
        """One supervision order with its steps; None if unknown."""
        async with self.db.engine.connect() as connection:
            row = (
                await connection.execute(select(orders).where(orders.c.order_id == order_id))
            ).first()
        return None if row is None else rows.order_from(row._mapping)

    async def orders(
        self,
        centers: Sequence[str] | None = None,
        *,
        statuses: Sequence[str] | None = None,
        case_id: str | None = None,
        alert_id: str | None = None,
        due_before: datetime | None = None,
        limit: int = 200,
        offset: int = 0,
    ) -> list[Order]:
        """Orders in scope, the soonest due first (then by id: a stable order for
        paging): of some statuses, of a case or an alert, due before an instant (aware;
        the late ones)."""
        condition = _order_conditions(centers, statuses, case_id, alert_id, due_before)
        statement = (
            select(orders)
            .where(condition)
            .order_by(orders.c.due_at, orders.c.order_id)
            .limit(limit)
            .offset(offset)
        )
        async with self.db.engine.connect() as connection:
            found = (await connection.execute(statement)).all()
        return [rows.order_from(row._mapping) for row in found]

    async def count_orders(
        self,
        centers: Sequence[str] | None = None,
        *,
        statuses: Sequence[str] | None = None,
        case_id: str | None = None,
        alert_id: str | None = None,
        due_before: datetime | None = None,
        issued_before: datetime | None = None,
    ) -> int:
        """How many orders `orders()` pages through with the same filters (and, given,
        issued before an instant)."""
        condition = _order_conditions(
            centers, statuses, case_id, alert_id, due_before, issued_before
        )
        statement = select(func.count()).select_from(orders).where(condition)
        async with self.db.engine.connect() as connection:
            counted = await connection.scalar(statement)
        return int(counted or 0)

    async def open_cases(self, centers: Sequence[str] | None = None) -> dict[str, int]:
        statement = (
            select(cases.c.center_id, func.count())
            .where(cases.c.status == "open", _scoped(cases.c.center_id, centers))
            .group_by(cases.c.center_id)
        )
        async with self.db.engine.connect() as connection:
            return {c: int(n) for c, n in await connection.execute(statement)}

    async def last_seen(
        self, centers: Sequence[str] | None = None
    ) -> dict[str, tuple[datetime | None, datetime | None]]:
        """Each center's latest event time and latest arrival (aware, UTC)."""
        statement = select(centers_seen).where(_scoped(centers_seen.c.center_id, centers))
        async with self.db.engine.connect() as connection:
            return {
                r.center_id: (rows.aware(r.last_event_at), rows.aware(r.last_arrival_at))
                for r in await connection.execute(statement)
            }

    # -- figures ------------------------------------------------------------------------

    async def figures(
        self,
        since: datetime,
        until: datetime,
        centers: Sequence[str] | None = None,
        by: Grouping = "center",
    ) -> list[Counts]:
        """Cases accepted, concluded (on time, overdue), refused and withdrawn in
        [since, until), and alerts raised then by rule and by severity, with those
        withdrawn since, and of those the ones withdrawn on an appeal upheld (摘牌: an
        `accept_appeal` in their history; the others the system withdrew), per group;
        groups with nothing are left out."""
        lo, hi = rows.utc(since), rows.utc(until)
        key_names = GROUPINGS[by]
        statement = (
            self._center_case_counts(lo, hi, centers)
            if by == "center"
            else self._case_counts(lo, hi, centers, [cases.c[name] for name in key_names])
        )
        alert_keys = [alerts.c[name] for name in key_names]
        upheld = (
            select(alert_history.c.seq)
            .where(
                alert_history.c.alert_id == alerts.c.alert_id,
                alert_history.c.action == "accept_appeal",
            )
            .exists()
        )
        by_rule = (
            select(
                *alert_keys,
                alerts.c.rule_id,
                alerts.c.severity,
                func.count(),
                _count(alerts.c.status == "withdrawn"),
                _count((alerts.c.status == "withdrawn") & upheld),
            )
            .where(
                _scoped(alerts.c.center_id, centers),
                alerts.c.raised_at >= lo,
                alerts.c.raised_at < hi,
            )
            .group_by(*alert_keys, alerts.c.rule_id, alerts.c.severity)
        )
        width = len(key_names)
        found: dict[tuple[str | None, ...], Counts] = {}
        async with self.db.engine.connect() as connection:
            for row in await connection.execute(statement):
                key = tuple(row[:width])
                n = [int(value) for value in row[width:]]
                if (known := found.get(key)) is not None:  # a part of the center's counts
                    n = [a + b for a, b in zip(n, _numbers(known), strict=True)]
                found[key] = Counts(key, n[0], n[1], n[2], n[3], n[4], n[5])
            for row in await connection.execute(by_rule):
                key = tuple(row[:width])
                counts = found.setdefault(key, Counts(key))
                rule_id, severity, raised = row[width], row[width + 1], int(row[width + 2])
                counts.alerts[rule_id] = counts.alerts.get(rule_id, 0) + raised
                counts.severities[severity] = counts.severities.get(severity, 0) + raised
                if withdrawn := int(row[width + 3]):
                    cards = counts.withdrawn_cards
                    cards[severity] = cards.get(severity, 0) + withdrawn
                if delisted := int(row[width + 4]):
                    cards = counts.delisted_cards
                    cards[severity] = cards.get(severity, 0) + delisted
        return [found[k] for k in sorted(found, key=lambda k: tuple(p or "" for p in k))]

    @staticmethod
    def _case_counts(
        lo: datetime, hi: datetime, centers: Sequence[str] | None, keys: list[Any]
    ) -> Any:
        """The cases accepted, concluded (on time, late), refused and withdrawn in
        [lo, hi) per group, in one pass over the cases of any of the three."""
        accepted = (cases.c.accepted_at >= lo) & (cases.c.accepted_at < hi)
        concluded = (
            (cases.c.status == "concluded")
            & (cases.c.concluded_at >= lo)
            & (cases.c.concluded_at < hi)
        )
        closed = (cases.c.closed_at >= lo) & (cases.c.closed_at < hi)
        return (
            select(
                *keys,
                _count(accepted),
                _count(concluded),
                _count(concluded & (cases.c.on_time == true())),
                _count(concluded & (cases.c.on_time == false())),
                _count(closed & (cases.c.status == "not_accepted")),
                _count(closed & (cases.c.status == "withdrawn")),
            )
            .where(
                _scoped(cases.c.center_id, centers),
                or_(
                    and_(cases.c.accepted_at >= lo, cases.c.accepted_at < hi),
                    and_(cases.c.concluded_at >= lo, cases.c.concluded_at < hi),
                    closed,
                ),
            )
            .group_by(*keys)
        )

    @staticmethod
    def _center_case_counts(lo: datetime, hi: datetime, centers: Sequence[str] | None) -> Any:
        """`_case_counts` per center as three parts (accepted; concluded; refused and
        withdrawn), each a range of one of the indexes that hold the center with the
        time (migration 0006), read without the cases themselves: five times faster
        than the one pass, which reads every case of the period from the table. A
        center has up to three rows, which the caller adds up."""
        center = cases.c.center_id
        zero = literal(0)
        concluded = cases.c.status == "concluded"
        return union_all(
            select(center, func.count(), zero, zero, zero, zero, zero)
            .where(_scoped(center, centers), cases.c.accepted_at >= lo, cases.c.accepted_at < hi)
            .group_by(center),
            select(
                center,
                zero,
                func.count(),
                _count(cases.c.on_time == true()),
                _count(cases.c.on_time == false()),
                zero,
                zero,
            )
            .where(
                _scoped(center, centers),
                cases.c.concluded_at >= lo,
                cases.c.concluded_at < hi,
                concluded,
            )
            .group_by(center),
            select(
                center,
                zero,
                zero,
                zero,
                zero,
                _count(cases.c.status == "not_accepted"),
                _count(cases.c.status == "withdrawn"),
            )
            .where(_scoped(center, centers), cases.c.closed_at >= lo, cases.c.closed_at < hi)
            .group_by(center),
        )

    async def loop_facts(
        self,
        since: datetime,
        until: datetime,
        centers: Sequence[str] | None = None,
        by: Grouping = "center",
        ratings_at_most: int | None = None,
    ) -> list[tuple[tuple[str | None, ...], str, str, str, datetime, int | None]]:
        """The facts of ratings, follow-ups, complaints and answers that happened in
        [since, until): each as (group key, case_id, center_id, event_type, occurred_at
        aware, rating level). With `ratings_at_most`, only the ratings at or below that
        level (the bad ones: a month holds a hundred thousand ratings, a few thousand
        bad)."""
        keys = [case_facts.c[name] for name in GROUPINGS[by]]
        level = case_facts.c.level
        kinds = ("evaluated", "rectified", "complained", "complaint_answered")
        statement = select(
            *keys,
            case_facts.c.case_id,
            case_facts.c.center_id,
            case_facts.c.event_type,
            case_facts.c.occurred_at,
            level,
        ).where(
            _scoped(case_facts.c.center_id, centers),
            case_facts.c.event_type.in_(kinds),
            case_facts.c.occurred_at >= rows.utc(since),
            case_facts.c.occurred_at < rows.utc(until),
        )
        if ratings_at_most is not None:
            statement = statement.where(
                or_(case_facts.c.event_type != "evaluated", level <= ratings_at_most)
            )
        width = len(keys)
        found = []
        async with self.db.engine.connect() as connection:
            for row in await connection.execute(statement):
                case_id, center_id, event_type, occurred, level = row[width:]
                at = rows.aware(occurred)
                assert at is not None  # occurred_at is part of the key: never null
                found.append((tuple(row[:width]), case_id, center_id, event_type, at, level))
        return found

    async def rating_counts(
        self,
        since: datetime,
        until: datetime,
        centers: Sequence[str] | None = None,
        by: Grouping = "center",
        good_from: int = 4,
        bad_to: int = 2,
    ) -> dict[tuple[str | None, ...], tuple[int, int, int]]:
        """Ratings given in [since, until) per group: (all, good: level ≥ `good_from`,
        bad: level ≤ `bad_to`). Per center, the center is grouped on as an expression
        (`center_id || ''`), which keeps SQLite from walking the index by center and time
        (every fact of the period) for its order, and has it read the index by type and
        time, which holds the center and the level (migration 0006)."""
        keys: list[Any] = (
            [case_facts.c.center_id.concat("")]
            if by == "center"
            else [case_facts.c[name] for name in GROUPINGS[by]]
        )
        level = case_facts.c.level
        statement = (
            select(*keys, func.count(), _count(level >= good_from), _count(level <= bad_to))
            .where(
                _scoped(case_facts.c.center_id, centers),
                case_facts.c.event_type == "evaluated",
                case_facts.c.occurred_at >= rows.utc(since),
                case_facts.c.occurred_at < rows.utc(until),
            )
            .group_by(*keys)
        )
        width = len(keys)
        async with self.db.engine.connect() as connection:
            return {
                tuple(row[:width]): (int(row[width]), int(row[width + 1]), int(row[width + 2]))
                for row in await connection.execute(statement)
            }

    async def orders_due(
        self,
        since: datetime,
        until: datetime,
        centers: Sequence[str] | None = None,
        by: Grouping = "center",
    ) -> list[tuple[tuple[str | None, ...], Order]]:
        """The orders issued before `until` that had a reply due after `since` (an
        order's `due_at` is its latest round's: no earlier round is due after it), each
        with the group its case is in (an order names its center; the case names the
        department, window and staff member)."""
        statement = select(orders).where(
            _scoped(orders.c.center_id, centers),
            orders.c.issued_at < rows.utc(until),
            orders.c.due_at > rows.utc(since),
        )
        async with self.db.engine.connect() as connection:
            found = [rows.order_from(row._mapping) for row in await connection.execute(statement)]
            groups = (
                await self._groups_of(
                    connection, cases, cases.c.case_id, [o.case_id for o in found], by
                )
                if by != "center"  # the order names its center
                else {}
            )
        return [
            ((order.center_id, *groups.get(order.case_id, (None,))[1:]), order) for order in found
        ]

    async def appeal_decisions(
        self,
        since: datetime,
        until: datetime,
        centers: Sequence[str] | None = None,
        by: Grouping = "center",
    ) -> dict[tuple[str | None, ...], tuple[int, int]]:
        """Appeals of alerts (预警申诉) decided in [since, until) per group of the
        alert: (decided, upheld: the card withdrawn). The decisions are found by the
        index of the history by step (migration 0007), each one's time read from its
        entry, then their alerts by id."""
        statement = select(
            alert_history.c.alert_id, alert_history.c.action, alert_history.c.entry
        ).where(alert_history.c.action.in_(("accept_appeal", "reject_appeal")))
        decisions: list[tuple[str, bool]] = []
        async with self.db.engine.connect() as connection:
            for alert_id, action, entry in await connection.execute(statement):
                at = entry.get("at") if isinstance(entry, dict) else None
                try:
                    when = datetime.fromisoformat(at) if isinstance(at, str) else None
                except ValueError:
                    when = None
                if when is not None and when.tzinfo is not None and since <= when < until:
                    decisions.append((alert_id, action == "accept_appeal"))
            groups = await self._groups_of(
                connection, alerts, alerts.c.alert_id, [a for a, _ in decisions], by
            )
        found: dict[tuple[str | None, ...], tuple[int, int]] = {}
        wanted = None if centers is None else set(centers)
        for alert_id, upheld in decisions:
            key = groups.get(alert_id)
            if key is None or (wanted is not None and key[0] not in wanted):
                continue
            decided, accepted = found.get(key, (0, 0))
            found[key] = (decided + 1, accepted + upheld)
        return found

    @staticmethod
    async def _groups_of(
        connection: Any, table: Any, id_column: Any, ids: Sequence[str], by: Grouping
    ) -> dict[str, tuple[str | None, ...]]:
        """The group (center, department…) of each row of `table` by id, looked up by
        its primary key a chunk of ids at a time: a join would have PostgreSQL read the
        whole table to hash it, for the few thousand rows wanted."""
        columns = [table.c[name] for name in GROUPINGS[by]]
        found: dict[str, tuple[str | None, ...]] = {}
        unique = sorted(set(ids))
        for first in range(0, len(unique), 1000):
            chunk = unique[first : first + 1000]
            statement = select(id_column, *columns).where(id_column.in_(chunk))
            for row in await connection.execute(statement):
                found[row[0]] = tuple(row[1:])
        return found

    async def headline(self, now: datetime, centers: Sequence[str] | None = None) -> dict[str, Any]:
        """The wall's figures of `now`'s local day and its month so far."""
        today = now.astimezone(self.zone).date()
        day_lo, day_hi = (rows.utc(t) for t in self.day_range(today, today))
        month_lo = rows.utc(self.day_range(today.replace(day=1), today)[0])

        def concluded(lo: datetime) -> ColumnElement[bool]:
            return (
                (cases.c.status == "concluded")
                & (cases.c.concluded_at >= lo)
                & (cases.c.concluded_at < day_hi)
            )

        statement = select(
            _count((cases.c.accepted_at >= day_lo) & (cases.c.accepted_at < day_hi)),
            _count(concluded(day_lo)),
            _count(concluded(day_lo) & (cases.c.on_time == true())),
            _count(concluded(day_lo) & (cases.c.on_time == false())),
            _count(concluded(month_lo)),
            _count(concluded(month_lo) & (cases.c.on_time == true())),
            _count(concluded(month_lo) & (cases.c.on_time == false())),
        ).where(
            _scoped(cases.c.center_id, centers),
            or_(
                cases.c.accepted_at >= month_lo,
                cases.c.concluded_at >= month_lo,
            ),
        )
        async with self.db.engine.connect() as connection:
            row = (await connection.execute(statement)).one()
            open_cases = int(
                await connection.scalar(
                    select(func.count())
                    .select_from(cases)
                    .where(cases.c.status == "open", _scoped(cases.c.center_id, centers))
                )
                or 0
            )
        accepted, day_n, day_on, day_late, month_n, month_on, month_late = (int(n) for n in row)
        return {
            "day": today.isoformat(),
            "accepted_today": accepted,
            "open_cases": open_cases,
            "concluded_today": day_n,
            "on_time_today": day_on,
            "overdue_today": day_late,
            "on_time_rate_today": day_on / (day_on + day_late) if day_on + day_late else None,
            "concluded_month": month_n,
            "on_time_month": month_on,
            "overdue_month": month_late,
            "on_time_rate_month": (
                month_on / (month_on + month_late) if month_on + month_late else None
            ),
        }


def _latest(*times: object) -> str | None:
    """The latest of ISO 8601 times (each as given); None when there is none."""
    found: list[tuple[datetime, str]] = []
    for text in times:
        if isinstance(text, str):
            try:
                found.append((datetime.fromisoformat(text), text))
            except ValueError:
                continue
    return max(found)[1] if found else None
