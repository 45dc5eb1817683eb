"""The alert journal: every alert and every change of its status, in one numbered order.

Why one order: a wall that reconnects (network drop, web restart) must receive exactly
what it missed. The alerts topic has one partition, so its offsets number every record:
the worker's alerts and resolutions, and the lifecycle changes the web service writes
(acknowledge, resolve, appeal...). That offset is the record's sequence position
(`seq`); a client keeps the last one it has, sends it when it reconnects, and gets the
records after it. The topic is the durable store; the web service applies it, with this
module, to its read model (supervisor/store/projection.py) and to the walls' memory, so
a change survives a restart of anything.

The lifecycle, per alert, is supervisor/lifecycle.py's (one table the notifier reads
too); besides a person's steps, a late event that proves an alert wrong withdraws it
(the worker's resolution, 系统撤销) whatever its status but withdrawn.

The case's own changes (contract §6, the worker's `case_change` records): a warning is
`closed` when its case is concluded in time or withdrawn, `superseded` when the same
case's red alert fires; an overdue alert whose case is concluded late keeps its status
and gains `case_concluded_at` and `late_working_days`. A person's change and the case's
never undo one another: the case closes or supersedes only an alert still open,
acknowledged or appealed (and closes a superseded warning whose red alert a late event
withdrew).

Every change is checked twice: by the API before it is written (a clear 409 for a
refused one), and again here when it is read back, so two web services racing on one
alert cannot both win: the first record in the topic's order does. Pure: no Kafka, no
clock; the caller passes records with their offsets.

Silences live in the same journal: each `silence` audit record (create,
lift, expire; see supervisor/notify/silences.py) is applied to `Journal.silences` with
`silences.apply_record`, and kept, with its position, as the silence's audit trail. No
alert entry changes: a silence only holds notifications back. Whether a silence is
active, pending or expired is a matter of time, asked with `silences.listing(state, now)`.
"""

from __future__ import annotations

import bisect
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from supervisor.lifecycle import (
    ACTIONS,
    DISPOSITIONS,
    OPEN_STATUSES,
    ROLES_FOR,
    STATUSES,
    Action,
    Refused,
    check,
)
from supervisor.notify import silences as silence_book
from supervisor.notify.silences import SilenceState
from supervisor.orders import ORDER

__all__ = [  # the lifecycle's names, re-exported for the modules that take them from here
    "ACTIONS",
    "DISPOSITIONS",
    "OPEN_STATUSES",
    "ROLES_FOR",
    "STATUSES",
    "Action",
    "Refused",
    "check",
]

#: The longest name of a person held to account, and of the measure taken.
ACCOUNTABILITY_LIMITS: Final = {"person": 100, "measure": 500}
#: The journal record kind written by the web service (the worker's records have none).
LIFECYCLE: Final = "lifecycle"
#: An escalation step, written by the notifier (a history entry; the status is unchanged),
#: and a silence's audit record, written by the web service's silence routes (not about
#: one alert: no entry changes; kept in `Journal.silences` and the silence's audit trail).
ESCALATION: Final = "escalation"
SILENCE: Final = "silence"
#: Written by the notifier: one attempt to deliver a notification about the alert (a
#: history entry, not broadcast to the walls: they show the status, the API the detail).
DELIVERY: Final = "delivery"
#: Written by the worker: what a case's own events did to one of its alerts (contract §6).
CASE_CHANGE: Final = "case_change"
#: The system's name in an alert's history.
_SYSTEM: Final = {"name": "系统", "role": "system"}

Record = dict[str, Any]
_CHANGE_FIELDS: Final = ("by", "at", "note", "reason", "disposition", "accountability")
_DELIVERY_FIELDS: Final = (
    "at",
    "notification_id",
    "notification_kind",
    "channel",
    "recipient_name",
    "attempt",
    "outcome",
    "error",
    "next_at",
    "dead",
)


@dataclass
class Entry:
    """One alert as it stands: the worker's alert, its status and its history."""

    alert: Record
    seq: int  # the alert record's position
    status: str = "open"
    disposition: str | None = None
    updated_seq: int = 0
    before_appeal: str = "open"
    escalation_level: int = 0  # how far up the hierarchy it was escalated (notifier)
    history: list[Record] = field(default_factory=list)
    resolution: Record | None = None  # the worker's, when a late event withdrew it
    #: the case concluded after this overdue alert fired: when, and how many working days
    #: late (contract §6); the alert stays a violation record, closed by a person
    concluded_late: Record | None = None
    #: raised_at in Unix seconds, parsed once: lists sort and filter on it (comparing
    #: aware datetimes calls utcoffset() each time: seconds for a sort of 100,000)
    raised: float = 0.0

    def view(self) -> Record:
        """What the API and the wall show: the contract's alert plus its state."""
        shown = {
            **self.alert,
            "seq": self.seq,
            "status": self.status,
            "updated_seq": self.updated_seq,
        }
        if self.disposition is not None:
            shown["disposition"] = self.disposition
        if self.resolution is not None:
            shown["resolution"] = self.resolution
        if self.concluded_late is not None:
            shown.update(self.concluded_late)
        if self.escalation_level:
            shown["escalation_level"] = self.escalation_level
        last = self.last_change
        if last is not None:
            shown["last_change"] = last
        return shown

    @property
    def last_change(self) -> Record | None:
        """The last step that changed something about the alert: a delivery attempt of the
        notifier is logged in its history but is no step (shown as the last, it hid why
        an alert closed, or that a withdrawal was an appeal upheld)."""
        for change in reversed(self.history):
            if change.get("action") != "notify":
                return change
        return None


def lifecycle_record(
    alert_id: str,
    action: Action,
    *,
    by: Mapping[str, Any],
    at: datetime,
    note: str = "",
    disposition: str | None = None,
    reason: str = "",
    accountability: Mapping[str, str] | None = None,
) -> Record:
    """The record the web service writes for one change (validated for its shape). A
    resolution `held_accountable` (问责) says who was held to account and the measure
    taken (`accountability`: person, measure)."""
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}")
    if action == "resolve" and disposition not in DISPOSITIONS:
        raise ValueError(f"a resolution needs a disposition: one of {', '.join(DISPOSITIONS)}")
    if disposition == "held_accountable":
        check_accountability(accountability)
    elif accountability:
        raise ValueError("only a resolution held_accountable names a person and a measure")
    if action == "appeal" and not reason.strip():
        raise ValueError("an appeal needs a reason")
    record: Record = {
        "kind": LIFECYCLE,
        "alert_id": alert_id,
        "action": action,
        "by": dict(by),
        "at": at.isoformat(timespec="seconds"),
        "note": note,
    }
    if disposition is not None:
        record["disposition"] = disposition
    if accountability:
        record["accountability"] = {k: accountability[k] for k in ACCOUNTABILITY_LIMITS}
    if reason:
        record["reason"] = reason
    return record


def check_accountability(accountability: object) -> None:
    """ValueError unless `accountability` names the person held to account and the
    measure taken, each text within its limit (never echoing them)."""
    if not isinstance(accountability, Mapping):
        raise ValueError("问责 needs the person held to account and the measure taken")
    for key, limit in ACCOUNTABILITY_LIMITS.items():
        value = accountability.get(key)
        if not isinstance(value, str) or not value.strip() or len(value) > limit:
            raise ValueError(f"问责 needs '{key}': text of 1 to {limit} characters")


def kind_of(record: Mapping[str, Any]) -> str:
    """The record's kind: "alert", "resolution" (the worker's, after a late event),
    "case_change" (the worker's, contract §6), "lifecycle", "escalation", "delivery",
    "silence" or "order" (a supervision order's step: supervisor/orders.py)."""
    if record.get("kind") in (LIFECYCLE, ESCALATION, SILENCE, DELIVERY, CASE_CHANGE, ORDER):
        return str(record["kind"])
    if record.get("status") == "resolved":
        return "resolution"
    return "alert"


@dataclass(frozen=True)
class Applied:
    """What one record did: the entry it changed (None: nothing) and the message for
    the sockets (`{"type": "alert"|"change", "seq", "alert"}`, or `{"type": "order",
    "seq", "order"}`)."""

    entry: Entry | None
    message: Record | None = None
    refused: str | None = None


class Journal:
    """Every alert kept, its state, and the recent messages by position.

    `keep` bounds the alerts kept (oldest by raised_at dropped first); `replayable`
    bounds the messages a reconnecting client can be given from its position (older
    positions get a fresh snapshot instead)."""

    def __init__(self, keep: int = 100_000, replayable: int = 10_000) -> None:
        self.keep = keep
        self.head = -1  # the last position applied
        self._entries: OrderedDict[str, Entry] = OrderedDict()  # insertion = seq order
        #: (raised, seq, entry) of every entry, ascending: lists walk it newest first
        #: and stop at their limit, instead of sorting everything at each call
        self._order: list[tuple[float, int, Entry]] = []  # seq is unique: never ties
        #: open alerts by center and severity, kept as statuses change: every wall polls
        #: the headline and the board, which must not scan 100,000 alerts each time
        self._open: dict[str, dict[str, int]] = {}
        self._messages: deque[tuple[int, str, Record]] = deque(maxlen=replayable)
        self._early: OrderedDict[str, list[tuple[int, Record]]] = OrderedDict()
        self._evicted: deque[str] = deque(maxlen=keep)
        self._evicted_ids: set[str] = set()
        self.silences = SilenceState()
        self._silence_audit: dict[str, list[Record]] = {}
        #: each recent order's (center, case, alert), from its issue: a step is routed by
        #: its center rather than by what the step itself says, and told with its case
        #: and alert, which a step's record does not name (bounded like the alerts kept)
        self._orders_issued: OrderedDict[str, tuple[str, Any, Any]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, alert_id: str) -> Entry | None:
        return self._entries.get(alert_id)

    def entries(self) -> Iterable[Entry]:
        return self._entries.values()

    # -- loading what a database kept (supervisor/store/projection.py) ---------------

    def adopt(self, entry: Entry) -> None:
        """Take an alert as it stands elsewhere (a read model's row), as if every record
        that made it had been applied here."""
        self._entries[str(entry.alert["alert_id"])] = entry
        bisect.insort(self._order, (entry.raised, entry.seq, entry))
        self._tally(entry, +1)

    def adopt_early(self, alert_id: str, records: list[tuple[int, Record]]) -> None:
        """Records about `alert_id` kept elsewhere until its alert comes."""
        if records:
            self._early.setdefault(alert_id, []).extend(records)

    def early(self) -> dict[str, list[tuple[int, Record]]]:
        """The records still waiting for their alert, by alert id."""
        return {alert_id: list(records) for alert_id, records in self._early.items()}

    # -- applying records, in the topic's order ---------------------------------------

    def apply(self, seq: int, record: Record) -> Applied:
        """Apply the record at position `seq`. A position already applied (the topic
        read again after a reconnect) changes nothing."""
        if seq <= self.head:
            return Applied(None)
        self.head = seq
        kind = kind_of(record)
        if kind == "alert":
            return self._alert(seq, record)
        if kind == SILENCE:
            return self._silence(seq, record)
        if kind == ORDER:  # the read model keeps orders; the sockets are told of a step
            return self._order_step(seq, record)
        alert_id = str(record.get("alert_id", ""))
        entry = self._entries.get(alert_id)
        if entry is None:  # its alert comes later in the topic, or was dropped
            self._early.setdefault(alert_id, []).append((seq, record))
            while len(self._early) > self.keep:
                self._early.popitem(last=False)
            return Applied(None)
        return self._change(entry, seq, record)

    def _alert(self, seq: int, record: Record) -> Applied:
        alert_id = str(record["alert_id"])
        if alert_id in self._entries or alert_id in self._evicted_ids:
            return Applied(None)  # the same alert published again: nothing new
        raised = datetime.fromisoformat(str(record["raised_at"])).timestamp()
        entry = Entry(alert=dict(record), seq=seq, updated_seq=seq, raised=raised)
        self._entries[alert_id] = entry
        bisect.insort(self._order, (raised, seq, entry))
        self._tally(entry, +1)
        while len(self._entries) > self.keep:
            evicted, gone = self._entries.popitem(last=False)
            self._tally(gone, -1)
            at = bisect.bisect_left(self._order, (gone.raised, gone.seq))
            del self._order[at]
            # a late repeat of an evicted alert must not come back as a new, open one
            if len(self._evicted) == self._evicted.maxlen:
                self._evicted_ids.discard(self._evicted[0])
            self._evicted.append(evicted)
            self._evicted_ids.add(evicted)
        for early_seq, early in self._early.pop(alert_id, []):  # shown as it stands
            self._change(entry, early_seq, early, quiet=True)
        return self._message(entry, "alert", seq)

    def _tally(self, entry: Entry, delta: int) -> None:
        """Count `entry` in (+1) or out (-1) of the open alerts, if it is open."""
        if entry.status not in OPEN_STATUSES:
            return
        center = str(entry.alert["center_id"])
        counts = self._open.setdefault(center, {"red": 0, "yellow": 0})
        severity = str(entry.alert["severity"])
        counts[severity] = counts.get(severity, 0) + delta
        if not any(counts.values()):
            del self._open[center]

    def open_alerts(self, visible: Callable[[str], bool]) -> dict[str, dict[str, int]]:
        """Open alerts (open, acknowledged, appealed) by center and severity, in scope."""
        return {c: dict(n) for c, n in self._open.items() if visible(c)}

    def _change(self, entry: Entry, seq: int, record: Record, *, quiet: bool = False) -> Applied:
        self._tally(entry, -1)  # counted again below with the status it ends with
        try:
            return self._apply_change(entry, seq, record, quiet=quiet)
        finally:
            self._tally(entry, +1)

    def _apply_change(
        self, entry: Entry, seq: int, record: Record, *, quiet: bool = False
    ) -> Applied:
        if kind_of(record) == DELIVERY:
            entry.history.append(
                {
                    "seq": seq,
                    "action": "notify",
                    "status": entry.status,
                    "by": dict(_SYSTEM),
                    **{k: record.get(k) for k in _DELIVERY_FIELDS},
                }
            )
            entry.updated_seq = max(entry.updated_seq, seq)
            return Applied(entry)  # quiet: the walls are not told of each attempt
        if kind_of(record) == ESCALATION:
            if any(
                h.get("level") == record.get("level")
                for h in entry.history
                if h["action"] == "escalate"
            ):
                return Applied(None)  # the same step written twice
            entry.escalation_level = int(record.get("level", 0))
            change: Record = {
                "seq": seq,
                "action": "escalate",
                "status": entry.status,
                "by": dict(_SYSTEM),
                "at": record.get("at"),
                "level": entry.escalation_level,
                "to_center": record.get("to_center"),
                "recipient_name": record.get("recipient_name"),
            }
            entry.history.append(change)
            entry.updated_seq = max(entry.updated_seq, seq)
            return Applied(entry) if quiet else self._message(entry, "change", seq)
        if kind_of(record) == CASE_CHANGE:
            by_case = self._case_change(entry, seq, record)
            if by_case is None:
                return Applied(None)
            change = by_case
        elif kind_of(record) == "resolution":
            if entry.status == "withdrawn":
                return Applied(None)
            entry.status = "withdrawn"
            entry.resolution = dict(record)
            change = {
                "seq": seq,
                "action": "system_withdraw",
                "status": "withdrawn",
                "by": dict(_SYSTEM),
                "at": record.get("resolved_at"),
                "reason": record.get("reason", ""),
            }
        else:
            action = str(record.get("action"))
            try:
                target = check(entry.status, action)
            except Refused as exc:
                return Applied(None, refused=str(exc))
            if action == "appeal":
                entry.before_appeal = entry.status
            entry.status = target or entry.before_appeal
            if action == "resolve":
                entry.disposition = record.get("disposition")
            change = {
                "seq": seq,
                "action": action,
                "status": entry.status,
                **{k: record[k] for k in _CHANGE_FIELDS if k in record},
            }
        entry.history.append(change)
        entry.updated_seq = max(entry.updated_seq, seq)
        return Applied(entry) if quiet else self._message(entry, "change", seq)

    @staticmethod
    def _case_change(entry: Entry, seq: int, record: Record) -> Record | None:
        """Apply what the case did to the alert; the history entry, or None when it
        changes nothing (a person already resolved the alert, or the record is repeated)."""
        kind = record.get("change")
        at = record.get("at")
        if kind == "concluded_late":
            if entry.concluded_late is not None:
                return None
            entry.concluded_late = {
                "case_concluded_at": record.get("case_concluded_at"),
                "late_working_days": record.get("late_working_days"),
            }
            return {
                "seq": seq,
                "action": "case_concluded_late",
                "status": entry.status,
                "by": dict(_SYSTEM),
                "at": at,
                **entry.concluded_late,
            }
        if kind not in ("closed", "superseded"):
            return None
        may_close = entry.status in OPEN_STATUSES or (
            kind == "closed" and entry.status == "superseded"
        )
        if not may_close or entry.status == kind:
            return None
        entry.status = str(kind)
        change: Record = {
            "seq": seq,
            "action": "case_closed" if kind == "closed" else "superseded",
            "status": entry.status,
            "by": dict(_SYSTEM),
            "at": at,
        }
        if kind == "closed":
            change["reason"] = record.get("reason")
        else:
            change["superseded_by"] = record.get("superseded_by")
        return change

    def _silence(self, seq: int, record: Record) -> Applied:
        """A silence's audit record: the silences' state, and the silence's audit trail
        when it changed something (a record read twice, or a second lift, does not)."""
        before = self.silences
        try:
            self.silences = silence_book.apply_record(before, record)
        except (ValueError, KeyError, TypeError) as exc:  # not a silence record's shape
            return Applied(None, refused=f"silence record: {exc}")
        if self.silences is not before:
            silence_id = str(record["silence"]["id"])
            self._silence_audit.setdefault(silence_id, []).append(
                {
                    "seq": seq,
                    "action": record.get("action"),
                    "by": record.get("by", {}),
                    "at": record.get("at"),
                    "reason": record.get("reason", ""),
                }
            )
        return Applied(None)

    def _order_step(self, seq: int, record: Record) -> Applied:
        """A supervision order's step, told to the sockets that may see its center as
        `{"type": "order", "seq", "order": {order_id, action, center_id, case_id,
        alert_id, at}}`: a console's queue and order screens refresh on it (the read
        model holds the order itself; the wall ignores it). A step whose order this
        journal has not seen issued, and that names no center (written before steps
        did), goes to those who see every center only."""
        order_id = str(record.get("order_id", ""))
        issued = self._orders_issued.get(order_id)
        if record.get("action") == "issue" and issued is not None:
            # the same order issued again (two web services asked at once), or another
            # under an id already held: the read model keeps the first, and so do we
            return Applied(None)
        center = (issued[0] if issued else "") or str(record.get("center_id") or "")
        if record.get("action") == "issue" and center:
            case_id, alert_id = record.get("case_id"), record.get("alert_id")
            issued = (center, case_id, alert_id)
            self._orders_issued[order_id] = issued
            while len(self._orders_issued) > self.keep:
                self._orders_issued.popitem(last=False)
        told = {
            "order_id": order_id,
            "action": record.get("action"),
            "center_id": center or None,
            # a step's record names neither: the does
            "case_id": issued[1] if issued else record.get("case_id"),
            "alert_id": issued[2] if issued else record.get("alert_id"),
            "at": record.get("at"),
        }
        message = {"type": "order", "seq": seq, "order": told}
        self._messages.append((seq, center, message))
        return Applied(None, message)

    def silence_audit(self, silence_id: str) -> list[Record]:
        """The audit records applied for one silence, in journal order, with positions."""
        return list(self._silence_audit.get(silence_id, []))

    def _message(self, entry: Entry, kind: str, seq: int) -> Applied:
        message = {"type": kind, "seq": seq, "alert": entry.view()}
        self._messages.append((seq, str(entry.alert["center_id"]), message))
        return Applied(entry, message)

    # -- reading -----------------------------------------------------------------------

    def since(self, seq: int, visible: Callable[[str], bool]) -> list[Record] | None:
        """The messages after position `seq` that `visible` lets through (by center), or
        None when `seq` is older than what is kept: the client needs a snapshot."""
        if seq >= self.head:
            return []
        oldest = self._messages[0][0] if self._messages else self.head + 1
        if seq < oldest - 1:
            return None
        return [m for s, center, m in self._messages if s > seq and visible(center)]

    def select(
        self,
        *,
        visible: Callable[[str], bool] = lambda center: True,
        centers: Callable[[str], bool] | None = None,
        severity: str | None = None,
        rule_id: str | None = None,
        status: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
    ) -> list[Entry]:
        """Alerts newest first by `raised_at` (then by position), filtered; the first
        `limit` of them when given (a snapshot needs no more, and stops early)."""
        start = since.timestamp() if since is not None else None
        end = until.timestamp() if until is not None else None
        chosen: list[Entry] = []
        shown: dict[str, bool] = {}  # center -> in scope: a few hundred centers at most
        for raised, _, entry in reversed(self._order):
            if end is not None and raised >= end:
                continue
            if start is not None and raised < start:
                break  # ascending order: everything further is older still
            alert = entry.alert
            center = str(alert["center_id"])
            ok = shown.get(center)
            if ok is None:
                ok = shown[center] = visible(center) and (centers is None or centers(center))
            if not ok:
                continue
            if severity is not None and alert["severity"] != severity:
                continue
            if rule_id is not None and alert["rule_id"] != rule_id:
                continue
            if status is not None and entry.status != status:
                continue
            chosen.append(entry)
            if limit is not None and len(chosen) >= limit:
                break
        return chosen
