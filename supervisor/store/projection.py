"""The projection: Kafka records in, read-model rows out, exactly once in effect.

`Projection.apply(records)` takes one batch of records of the alerts topic (the alert
journal), the case-facts topic and the case-events topic, in each partition's order,
and writes in **one transaction** the rows they produce and, per partition, the next
offset to read. So a process killed at any instant has either written a batch and its
offsets, or neither: restarted, it reads from the stored offsets and every row is there
once. A record below its partition's stored offset (read again after a reconnect, or
already written by another web service sharing the database) writes nothing; on
PostgreSQL the transaction holds an advisory lock, so two projectors take turns and the
second finds the offsets moved. Rows are keyed (schema.py), so even a record applied
twice would only rewrite the same rows.

What is written, per topic:

- alerts: each record applied, in journal order, to its alert's `Entry` with the same
  `Journal` the live wall uses (loaded from the `alerts` row and its history, stored
  back); records about an alert not known yet wait in `alert_early`; silence audit
  records go to `silence_records`; supervision orders' steps to `orders`;
- case facts (a frame of them per record, or one): each fact (a repeat, the same case,
  type and time, changes nothing) and the case's row as the fact says it stands; a
  center's latest event and arrival;
- case events: the event, personal data masked (supervisor/masking.py); a message that
  is not a contract event is left out (the worker dead-letters it).

A record that cannot be read is skipped and reported in `Outcome.malformed` (topic,
partition, offset and reason, never the value); its offset moves on like any other.

No Kafka and no clock here: supervisor/store/source.py reads the topics, the caller
passes the records; the database is the only I/O.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import orjson
from sqlalchemy import BindParameter, and_, bindparam, delete, or_, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncConnection

from supervisor.masking import mask_shaped_event, shaped_names
from supervisor.orders import ORDER, Order, repeats_issue
from supervisor.orders import apply as apply_order
from supervisor.store import rows
from supervisor.store.db import Database
from supervisor.store.schema import (
    alert_early,
    alert_history,
    alert_search,
    alerts,
    case_events,
    case_facts,
    cases,
    centers_seen,
    orders,
    positions,
    silence_records,
)
from supervisor.web.hub import MAX_RECORD_BYTES, MalformedAlert, clean_record, decode_record
from supervisor.web.journal import SILENCE, Entry, Journal, kind_of

log = logging.getLogger(__name__)

#: Ids in one `IN (...)` at most: SQLite allows 32,766 parameters, asyncpg 32,767.
CHUNK: Final = 1_000
#: How far an event may be dated after its arrival and still be a center's latest
#: event (clocks differ a little; later is a data error, not a fresh center).
CLOCK_SKEW: Final = timedelta(minutes=10)
#: The longest alert id stored (schema.py's column): a longer one is malformed, not an
#: error PostgreSQL would raise at every retry of its batch.
ALERT_ID_MAX: Final = 512
#: The largest case-facts record read, in bytes: a frame of facts (the worker sends at
#: most 256 KiB: supervisor/worker/facts.py), or one fact as the worker sent before.
MAX_FACT_BYTES: Final = 1024 * 1024


@dataclass(frozen=True)
class Record:
    """One Kafka record as the projection needs it."""

    topic: str
    partition: int
    offset: int
    value: bytes | None
    timestamp_ms: int | None = None

    @property
    def where(self) -> str:
        return f"{self.topic}[{self.partition}]@{self.offset}"


@dataclass
class Outcome:
    """What one batch did."""

    written: dict[str, int] = field(default_factory=dict)  # records applied, by topic
    skipped: int = 0  # below the stored offsets: written before
    malformed: list[tuple[Record, str]] = field(default_factory=list)
    invalid_events: int = 0  # not contract events: the worker dead-letters them
    positions: dict[tuple[str, int], int] = field(default_factory=dict)  # next offsets
    centers_ensured: set[str] = field(default_factory=set)  # `centers_seen` rows written


@dataclass(frozen=True)
class Topics:
    alerts: str
    facts: str
    events: str


class Projection:
    """Writes batches of records into the read model (see the module docstring).

    `center_names` names centers in the free-text search ("宜州区" finds its alerts).
    """

    def __init__(
        self,
        database: Database,
        topics: Topics,
        *,
        center_names: Mapping[str, str] | None = None,
    ) -> None:
        self.db = database
        self.topics = topics
        self._names = dict(center_names or {})
        #: centers whose `centers_seen` row a committed transaction of this projection
        #: made sure of (rows are never deleted): an alert of theirs writes none
        self._centers_ensured: set[str] = set()

    async def positions(self) -> dict[tuple[str, int], int]:
        """The next offset to read of each partition the read model has seen."""
        async with self.db.engine.connect() as connection:
            result = await connection.execute(select(positions))
            return {(r.topic, r.partition): r.next_offset for r in result}

    async def apply(self, records: Sequence[Record]) -> Outcome:
        """Write `records` (each partition's in offset order) and their offsets, at once."""
        outcome = Outcome()
        if not records:
            return outcome
        async with self.db.engine.begin() as connection:
            await self.db.lock_positions(connection, positions)
            stored = await self._stored(connection, {(r.topic, r.partition) for r in records})
            fresh: list[Record] = []
            for record in records:
                if record.offset < stored.get((record.topic, record.partition), 0):
                    outcome.skipped += 1
                else:
                    fresh.append(record)
            by_topic: dict[str, list[Record]] = {}
            for record in fresh:
                by_topic.setdefault(record.topic, []).append(record)
            await self._alerts(connection, by_topic.get(self.topics.alerts, []), outcome)
            await self._facts(connection, by_topic.get(self.topics.facts, []), outcome)
            await self._events(connection, by_topic.get(self.topics.events, []), outcome)
            moved: dict[tuple[str, int], int] = {}
            for record in fresh:
                key = (record.topic, record.partition)
                moved[key] = max(moved.get(key, 0), record.offset + 1)
            if moved:
                await connection.execute(
                    self.db.upsert(positions, ("topic", "partition")),
                    [
                        {"topic": t, "partition": p, "next_offset": n}
                        for (t, p), n in sorted(moved.items())
                    ],
                )
            outcome.positions = {**stored, **moved}
        self._centers_ensured |= outcome.centers_ensured  # committed
        return outcome

    async def _stored(
        self, connection: AsyncConnection, keys: set[tuple[str, int]]
    ) -> dict[tuple[str, int], int]:
        result = await connection.execute(_POSITIONS_OF, {"keys": sorted(keys)})
        return {(r.topic, r.partition): r.next_offset for r in result}

    # -- the alert journal --------------------------------------------------------------

    async def _alerts(
        self, connection: AsyncConnection, records: list[Record], outcome: Outcome
    ) -> None:
        if not records:
            return
        items: list[tuple[int, dict[str, Any]]] = []
        for record in records:
            try:
                item = clean_record(decode_record(record.value))
                if len(str(item.get("alert_id", ""))) > ALERT_ID_MAX:
                    raise ValueError(f"'alert_id' is longer than {ALERT_ID_MAX} characters")
                items.append((record.offset, item))
            except Exception as exc:  # any record is survived (module docstring)
                outcome.malformed.append((record, _reason(exc)))
        ids = sorted(
            {str(item["alert_id"]) for _, item in items if kind_of(item) not in (SILENCE, ORDER)}
        )
        journal = Journal(keep=2**62, replayable=1)
        journal.head = records[0].offset - 1
        known, had_early = await self._load(connection, ids, journal)
        touched: set[str] = set()
        silences: list[dict[str, Any]] = []
        steps: list[tuple[Record, dict[str, Any]]] = []
        offsets = {record.offset: record for record in records}
        for seq, item in items:
            if kind_of(item) == ORDER:
                steps.append((offsets[seq], item))
                journal.head = seq
                continue
            if kind_of(item) == SILENCE:
                silences.append(
                    {"seq": seq, "silence_id": str(item["silence"]["id"])[:128], "record": item}
                )
                journal.head = seq
                continue
            applied = journal.apply(seq, item)
            if applied.entry is not None:
                touched.add(str(applied.entry.alert["alert_id"]))
        first = records[0].offset
        entries = [e for i in sorted(touched) if (e := journal.get(i)) is not None]
        if entries:
            await self._write_entries(connection, entries, known, first, outcome)
        early = journal.early()
        # only the ids whose records waited in the table: one arriving in its own batch
        # never waited there
        arrived = [i for i in had_early if i not in early and journal.get(i) is not None]
        for chunk in _chunks(arrived):
            await connection.execute(_EARLY_ARRIVED, {"ids": chunk})
        waiting = [
            {"alert_id": alert_id, "seq": seq, "record": record}
            for alert_id, kept in early.items()
            for seq, record in kept
            if seq >= first
        ]
        if waiting:
            await connection.execute(
                self.db.upsert(alert_early, ("alert_id", "seq"), update=()), waiting
            )
        if silences:
            await connection.execute(self.db.upsert(silence_records, ("seq",), update=()), silences)
        if steps:
            await self._orders(connection, steps, outcome)
        outcome.written[self.topics.alerts] = len(items)

    async def _orders(
        self,
        connection: AsyncConnection,
        steps: list[tuple[Record, dict[str, Any]]],
        outcome: Outcome,
    ) -> None:
        """Apply supervision orders' steps, in journal order, to the stored orders. A
        step its order's status or its author's role does not allow (two people acting
        at once) changes nothing and is reported like a record that cannot be read; the
        same order issued again (two web services asked for it at once) changes nothing
        and is no error."""
        ids = sorted({str(item["order_id"]) for _, item in steps})
        known: dict[str, Order] = {}
        for chunk in _chunks(ids):
            found = await connection.execute(select(orders).where(orders.c.order_id.in_(chunk)))
            known.update({row.order_id: rows.order_from(row._mapping) for row in found})
        changed: set[str] = set()
        for record, item in steps:
            order_id = str(item["order_id"])
            if repeats_issue(known.get(order_id), item):
                continue
            try:
                known[order_id] = apply_order(known.get(order_id), item, record.offset)
            except ValueError as exc:  # OrderRefused too: our own words, no value
                outcome.malformed.append((record, f"order step refused: {exc}"))
                continue
            changed.add(order_id)
        if changed:
            await connection.execute(
                self.db.upsert(orders, ("order_id",)),
                [rows.order_row(known[order_id]) for order_id in sorted(changed)],
            )

    async def _load(
        self, connection: AsyncConnection, ids: list[str], journal: Journal
    ) -> tuple[dict[str, str], list[str]]:
        """Put the stored entries (with their history) and waiting records of `ids` in
        `journal`. Returns the ids that have an `alerts` row, with its `search` text, and
        those that had records waiting (`alert_early`), in order."""
        known: dict[str, str] = {}
        had_early: list[str] = []
        for chunk in _chunks(ids):
            found = (await connection.execute(_ALERTS_OF, {"ids": chunk})).all()
            if found:
                histories: dict[str, list[dict[str, Any]]] = {}
                result = await connection.execute(
                    _HISTORIES_OF, {"ids": [r.alert_id for r in found]}
                )
                for alert_id, entry in result:
                    histories.setdefault(alert_id, []).append(entry)
                for row in found:
                    journal.adopt(rows.entry_from(row._mapping, histories.get(row.alert_id, [])))
                    known[row.alert_id] = row.search
            result = await connection.execute(_EARLY_OF, {"ids": chunk})
            waiting: dict[str, list[tuple[int, dict[str, Any]]]] = {}
            for row in result:
                waiting.setdefault(row.alert_id, []).append((row.seq, row.record))
            for alert_id, kept in waiting.items():
                journal.adopt_early(alert_id, kept)
            had_early.extend(waiting)
        return known, had_early

    async def _write_entries(
        self,
        connection: AsyncConnection,
        entries: list[Entry],
        known: Mapping[str, str],
        first: int,
        outcome: Outcome,
    ) -> None:
        stored = [
            rows.alert_row(e, self._names.get(str(e.alert["center_id"]), "")) for e in entries
        ]
        await connection.execute(self.db.upsert(alerts, ("alert_id",)), stored)
        # grams for a new alert, or one whose text changed (its center's name, say):
        # most changes are of state, and leave the search index alone
        searched = [rows.search_row(r) for r in stored if known.get(r["alert_id"]) != r["search"]]
        if searched:
            await connection.execute(self.db.upsert(alert_search, ("seq",)), searched)
        history = [
            rows.history_row(str(e.alert["alert_id"]), change)
            for e in entries
            for change in e.history
            if int(change["seq"]) >= first or str(e.alert["alert_id"]) not in known
        ]
        if history:
            await connection.execute(
                self.db.upsert(alert_history, ("alert_id", "seq"), update=()), history
            )
        new_centers = sorted({r["center_id"] for r in stored} - self._centers_ensured)
        if new_centers:
            await connection.execute(
                self.db.upsert(centers_seen, ("center_id",), update=()),
                [
                    {"center_id": c, "last_event_at": None, "last_arrival_at": None}
                    for c in new_centers
                ],
            )
            outcome.centers_ensured.update(new_centers)

    # -- case facts ---------------------------------------------------------------------

    async def _facts(
        self, connection: AsyncConnection, records: list[Record], outcome: Outcome
    ) -> None:
        if not records:
            return
        facts: list[dict[str, Any]] = []
        latest: dict[str, dict[str, Any]] = {}
        seen: dict[str, tuple[datetime | None, datetime | None]] = {}
        for record in records:
            try:
                if record.value is None or len(record.value) > MAX_FACT_BYTES:
                    raise ValueError("empty or larger than a frame of facts can be")
                document = orjson.loads(record.value)
            except Exception as exc:  # any record is survived (module docstring)
                outcome.malformed.append((record, _reason(exc)))
                continue
            # a frame (an array of facts, in order), or one fact as the worker sent before
            for item in document if isinstance(document, list) else [document]:
                try:
                    made = rows.fact_rows(item)
                except Exception as exc:  # a bad fact costs only itself
                    outcome.malformed.append((record, _reason(exc)))
                    continue
                facts.append(made.fact)
                latest[made.case["case_id"]] = made.case  # in order: the last one stands
                _note_seen(seen, made.case["center_id"], made.occurred_at, record)
        if facts:
            await connection.execute(
                self.db.upsert(case_facts, ("case_id", "event_type", "occurred_at"), update=()),
                facts,
            )
            await connection.execute(self.db.upsert(cases, ("case_id",)), list(latest.values()))
            await self._seen(connection, seen)
        outcome.written[self.topics.facts] = len(facts)

    async def _seen(
        self,
        connection: AsyncConnection,
        seen: Mapping[str, tuple[datetime | None, datetime | None]],
    ) -> None:
        """Move each center's latest event and arrival forward (never back)."""
        result = await connection.execute(
            select(centers_seen).where(centers_seen.c.center_id.in_(sorted(seen)))
        )
        before = {
            r.center_id: (rows.aware(r.last_event_at), rows.aware(r.last_arrival_at))
            for r in result
        }
        updated = []
        for center, (event_at, arrival_at) in sorted(seen.items()):
            old_event, old_arrival = before.get(center, (None, None))
            newest_event = max(filter(None, (old_event, event_at)), default=None)
            newest_arrival = max(filter(None, (old_arrival, arrival_at)), default=None)
            updated.append(
                {
                    "center_id": center,
                    "last_event_at": rows.utc(newest_event) if newest_event else None,
                    "last_arrival_at": rows.utc(newest_arrival) if newest_arrival else None,
                }
            )
        await connection.execute(self.db.upsert(centers_seen, ("center_id",)), updated)

    # -- case events --------------------------------------------------------------------

    async def _events(
        self, connection: AsyncConnection, records: list[Record], outcome: Outcome
    ) -> None:
        if not records:
            return
        stored: dict[tuple[str, str], dict[str, Any]] = {}
        # a center's latest event and arrival come from its events too: the worker sends
        # a fact only when a figure of the case changes (supervisor/worker/facts.py)
        seen: dict[str, tuple[datetime | None, datetime | None]] = {}
        for record in records:
            if record.value is None:
                outcome.invalid_events += 1
                continue
            try:
                row = rows.event_row(record.value)
            except (ValueError, RecursionError, OverflowError):
                outcome.invalid_events += 1  # the worker dead-letters it, with the reason
                continue
            except Exception as exc:  # a bug: skipped, reported, not fatal
                outcome.malformed.append((record, _reason(exc)))
                continue
            stored.setdefault((row["case_id"], row["event_id"]), row)  # the first copy
            occurred = rows.aware(row["occurred_at"])
            assert occurred is not None  # an event always has its time
            _note_seen(seen, row["center_id"], occurred, record)
        if stored:
            await self._mask_names(connection, stored)
            await connection.execute(
                self.db.upsert(case_events, ("case_id", "event_id"), update=()),
                list(stored.values()),
            )
            await self._seen(connection, seen)
        outcome.written[self.topics.events] = len(stored)

    async def _mask_names(
        self, connection: AsyncConnection, stored: Mapping[tuple[str, str], dict[str, Any]]
    ) -> None:
        """An applicant's name typed into the free text of another event of the case (an
        item name, a reason, a comment) is masked too, whichever event came first: the
        new rows by every name the case's events give, the rows stored before by the
        names only the new ones give. The read model keeps no name, only its masked form
        (`applicant_name`), so the name is found by that form's shape
        (`masking.mask_shaped`)."""
        batch: dict[str, list[dict[str, Any]]] = {}
        for (case_id, _), row in stored.items():
            batch.setdefault(case_id, []).append(row)
        known: dict[str, list[str]] = {}
        for chunk in _chunks(sorted(batch)):
            found = await connection.execute(
                select(case_events.c.case_id, case_events.c.applicant_name).where(
                    case_events.c.case_id.in_(chunk), case_events.c.applicant_name.is_not(None)
                )
            )
            for case_id, name in found:
                known.setdefault(case_id, []).append(name)
        added: dict[str, list[str]] = {}  # names the rows stored before are not masked by
        for case_id, new in batch.items():
            before = shaped_names(known.get(case_id, ()))
            names = shaped_names([*before, *(row["applicant_name"] for row in new)])
            if not names:
                continue
            for row in new:
                row["document"] = mask_shaped_event(row["document"], names)
            if fresh := [name for name in names if name not in before]:
                added[case_id] = fresh
        remasked = []
        for chunk in _chunks(sorted(added)):
            kept = await connection.execute(
                select(case_events.c.case_id, case_events.c.event_id, case_events.c.document).where(
                    case_events.c.case_id.in_(chunk)
                )
            )
            for case_id, event_id, document in kept:
                masked = mask_shaped_event(document, added[case_id])
                if masked != document:
                    remasked.append({"case": case_id, "event": event_id, "document": masked})
        if remasked:
            await connection.execute(_REMASK, remasked)

    # -- retention ----------------------------------------------------------------------

    async def prune(self, before: datetime) -> dict[str, int]:
        """Delete what is older than `before` (aware): alerts raised, facts and events
        occurred, cases closed before it (open cases stay); the rows deleted by table."""
        cutoff = rows.utc(before)
        deleted: dict[str, int] = {}
        async with self.db.engine.begin() as connection:
            old = select(alerts.c.alert_id).where(alerts.c.raised_at < cutoff)
            result = await connection.execute(
                delete(alert_search).where(
                    alert_search.c.seq.in_(select(alerts.c.seq).where(alerts.c.raised_at < cutoff))
                )
            )
            deleted["alert_search"] = result.rowcount
            result = await connection.execute(
                delete(alert_history).where(alert_history.c.alert_id.in_(old))
            )
            deleted["alert_history"] = result.rowcount
            result = await connection.execute(delete(alerts).where(alerts.c.raised_at < cutoff))
            deleted["alerts"] = result.rowcount
            result = await connection.execute(
                delete(case_facts).where(case_facts.c.occurred_at < cutoff)
            )
            deleted["case_facts"] = result.rowcount
            result = await connection.execute(
                delete(case_events).where(case_events.c.occurred_at < cutoff)
            )
            deleted["case_events"] = result.rowcount
            closed = or_(
                and_(cases.c.status == "concluded", cases.c.concluded_at < cutoff),
                and_(cases.c.status.in_(("not_accepted", "withdrawn")), cases.c.closed_at < cutoff),
            )
            result = await connection.execute(delete(cases).where(closed))
            deleted["cases"] = result.rowcount
        return deleted


def _reason(exc: BaseException) -> str:
    """Why a record was skipped, for the log: the messages of the decoders and of
    rows.py name fields and problems, never values; anything else (a bug) by its type."""
    if isinstance(exc, MalformedAlert | ValueError) and not isinstance(exc, UnicodeError):
        return (str(exc) or type(exc).__name__)[:300]
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    return f"{type(exc).__name__} (a bug: the record was skipped)"


def _ids() -> BindParameter[Any]:
    return bindparam("ids", expanding=True)


# The statements of every journal transaction, built once rather than at each (a live
# one holds a few records: bench/RESULTS.md). Executed with {"ids": [...]}.
_ALERTS_OF: Final = select(alerts).where(alerts.c.alert_id.in_(_ids()))
_HISTORIES_OF: Final = (
    select(alert_history.c.alert_id, alert_history.c.entry)
    .where(alert_history.c.alert_id.in_(_ids()))
    .order_by(alert_history.c.alert_id, alert_history.c.seq)
)
_EARLY_OF: Final = (
    select(alert_early)
    .where(alert_early.c.alert_id.in_(_ids()))
    .order_by(alert_early.c.alert_id, alert_early.c.seq)
)
_EARLY_ARRIVED: Final = delete(alert_early).where(alert_early.c.alert_id.in_(_ids()))
_POSITIONS_OF: Final = select(positions).where(
    tuple_(positions.c.topic, positions.c.partition).in_(bindparam("keys", expanding=True))
)


_REMASK: Final = (
    update(case_events)
    .where(case_events.c.case_id == bindparam("case"), case_events.c.event_id == bindparam("event"))
    .values(document=bindparam("document"))
)


def _chunks(items: Sequence[str]) -> Iterable[list[str]]:
    for start in range(0, len(items), CHUNK):
        yield list(items[start : start + CHUNK])


__all__ = ["MAX_RECORD_BYTES", "Outcome", "Projection", "Record", "Topics"]


def _note_seen(
    seen: dict[str, tuple[datetime | None, datetime | None]],
    center: str,
    occurred: datetime,
    record: Record,
) -> None:
    """Move `center`'s latest event (its `occurred`, unless stamped more than CLOCK_SKEW
    after the record reached Kafka) and latest arrival (the record's timestamp) forward."""
    arrived = (
        datetime.fromtimestamp(record.timestamp_ms / 1000, UTC)
        if record.timestamp_ms is not None
        else None
    )
    event_at, arrival_at = seen.get(center, (None, None))
    occurred = occurred.astimezone(UTC)
    if arrived is None or occurred <= arrived + CLOCK_SKEW:
        event_at = max(filter(None, (event_at, occurred)))
    if arrived is not None:
        arrival_at = max(filter(None, (arrival_at, arrived)))
    seen[center] = (event_at, arrival_at)
