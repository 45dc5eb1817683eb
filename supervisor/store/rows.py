"""What one Kafka record becomes in the read model: rows, from pure functions.

- an alerts-topic record is applied to its alert's `Entry` (supervisor/web/journal.py,
  the same lifecycle the live wall follows); `alert_row` and `history_row` store the
  entry, `search_row` the grams of its text, `entry_from` rebuilds it;
- a case fact (supervisor/worker/facts.py) is a `case_facts` row and the case's new
  `cases` row (`fact_rows`);
- a case event is a `case_events` row with its personal data masked (`event_row`):
  nothing unmasked reaches the database;
- a supervision order is an `orders` row with its steps (`order_row`, `order_from`).

Each raises ValueError (or MalformedAlert, one) for a record it cannot read; the
projection counts, logs and skips it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from supervisor.core.events import decode, history_document
from supervisor.masking import mask_applicant, mask_document, mask_name_in
from supervisor.orders import Order
from supervisor.store.search import stored as stored_grams
from supervisor.web.hub import parse_raised_at
from supervisor.web.journal import Entry

Row = dict[str, Any]

#: The statuses a case fact may carry (supervisor/worker/facts.py).
CASE_STATUSES: Final = frozenset({"received", "open", "concluded", "not_accepted", "withdrawn"})
#: The years a fact's or an event's times may fall in: wide, but far from the ends of
#: what a datetime holds (converting one near year 1 or 9999 to UTC overflows).
YEARS: Final = range(1900, 3000)
_CLOSED_BY_EVENT: Final = frozenset({"not_accepted", "withdrawn"})


def utc(instant: datetime) -> datetime:
    """An aware instant as the naive UTC the tables hold."""
    return instant.astimezone(UTC).replace(tzinfo=None)


def aware(stored: datetime | None) -> datetime | None:
    """A stored naive UTC time as an aware one (None stays)."""
    return None if stored is None else stored.replace(tzinfo=UTC)


# -- alerts -------------------------------------------------------------------------------


def _detail(alert: Mapping[str, Any], key: str, limit: int) -> str | None:
    details = alert.get("details")
    value = details.get(key) if isinstance(details, Mapping) else None
    return value[:limit] if isinstance(value, str) and value else None


def alert_row(entry: Entry, center_name: str = "") -> Row:
    """The `alerts` row of an entry as it stands."""
    alert = entry.alert
    item_name = _detail(alert, "item_name", 256) or ""
    item_code = _detail(alert, "item_code", 64)
    search = " ".join(
        part
        for part in (
            str(alert.get("title", "")),
            str(alert.get("message", "")),
            center_name,
            str(alert["center_id"]),
            item_code or "",
            item_name,
        )
        if part
    ).lower()
    return {
        "alert_id": str(alert["alert_id"]),
        "seq": entry.seq,
        "rule_id": str(alert["rule_id"]),
        "severity": str(alert["severity"]),
        "center_id": str(alert["center_id"])[:16],
        "case_id": str(alert["case_id"])[:128],
        "department": _detail(alert, "department", 128),
        "window_id": _detail(alert, "window_id", 64),
        "staff_id": _detail(alert, "staff_id", 64),
        "item_code": item_code,
        "title": str(alert.get("title", "")),
        "message": str(alert.get("message", "")),
        "raised_at": utc(parse_raised_at(alert)),
        "status": entry.status,
        "disposition": entry.disposition,
        "updated_seq": entry.updated_seq,
        "escalation_level": entry.escalation_level,
        "search": search,
        "state": {
            "alert": alert,
            "before_appeal": entry.before_appeal,
            "resolution": entry.resolution,
            "concluded_late": entry.concluded_late,
            "last_change": entry.last_change,
        },
    }


def search_row(alert: Mapping[str, Any]) -> Row:
    """The `alert_search` row of an `alerts` row (`alert_row`): the grams of its text."""
    return {"seq": alert["seq"], "grams": stored_grams(alert["search"], alert["center_id"])}


def history_row(alert_id: str, change: Mapping[str, Any]) -> Row:
    return {
        "alert_id": alert_id,
        "seq": int(change["seq"]),
        "action": str(change.get("action", ""))[:32],
        "entry": dict(change),
    }


def entry_from(row: Mapping[Any, Any], history: list[dict[str, Any]] | None = None) -> Entry:
    """The entry an `alerts` row stores. With `history` (the alert's `alert_history`
    entries in order) it is whole; without, it carries only its last change, which is
    all `Entry.view()` shows."""
    state = row["state"]
    last = state.get("last_change")
    raised_at = aware(row["raised_at"])
    assert raised_at is not None
    return Entry(
        alert=dict(state["alert"]),
        seq=int(row["seq"]),
        status=str(row["status"]),
        disposition=row["disposition"],
        updated_seq=int(row["updated_seq"]),
        before_appeal=str(state.get("before_appeal") or "open"),
        escalation_level=int(row["escalation_level"] or 0),
        history=list(history) if history is not None else ([dict(last)] if last else []),
        resolution=state.get("resolution"),
        concluded_late=state.get("concluded_late"),
        raised=raised_at.timestamp(),
    )


def view(row: Mapping[Any, Any]) -> dict[str, Any]:
    """What the API shows of an `alerts` row (as `Entry.view()`)."""
    return entry_from(row).view()


# -- supervision orders -------------------------------------------------------------------


def order_row(order: Order) -> Row:
    """The `orders` row of an order as it stands (`state`: the order with its steps)."""
    return {
        "order_id": order.order_id,
        "center_id": order.center_id,
        "case_id": order.case_id,
        "alert_id": order.alert_id,
        "status": order.status,
        "round": order.round,
        "issued_at": utc(order.issued_at),
        "due_at": utc(order.due_at),
        "seq": int(order.history[0]["seq"]),
        "updated_seq": int(order.history[-1]["seq"]),
        "state": {
            "requirement": order.requirement,
            "days": order.days,
            "issued_at": order.issued_at.isoformat(),
            "due_at": order.due_at.isoformat(),
            "history": order.history,
        },
    }


def order_from(row: Mapping[Any, Any]) -> Order:
    """The order an `orders` row stores."""
    state = row["state"]
    return Order(
        order_id=row["order_id"],
        center_id=row["center_id"],
        case_id=row["case_id"],
        alert_id=row["alert_id"],
        requirement=state["requirement"],
        days=state["days"],
        issued_at=datetime.fromisoformat(state["issued_at"]),
        due_at=datetime.fromisoformat(state["due_at"]),
        status=row["status"],
        round=row["round"],
        history=list(state["history"]),
    )


# -- case facts ---------------------------------------------------------------------------


@dataclass(frozen=True)
class FactRows:
    fact: Row
    case: Row
    occurred_at: datetime  # aware


def _instant(document: Mapping[str, Any], key: str, *, required: bool = False) -> datetime | None:
    value = document.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise ValueError(f"fact {key!r} must be a date-time string")
    instant = datetime.fromisoformat(value)
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"fact {key!r} has no UTC offset")
    if instant.year not in YEARS:
        raise ValueError(f"fact {key!r} is out of range")
    return instant


def _text(document: Mapping[str, Any], key: str, limit: int, *, required: bool = False) -> Any:
    value = document.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value):
        raise ValueError(f"fact {key!r} must be a string")
    if len(value) > limit:
        raise ValueError(f"fact {key!r} is longer than {limit} characters")
    return value


def fact_rows(document: object) -> FactRows:
    """The `case_facts` and `cases` rows of one fact; ValueError if it is not one."""
    if not isinstance(document, dict):
        raise ValueError("a fact is a JSON object")
    case_id = _text(document, "case_id", 128, required=True)
    center_id = _text(document, "center_id", 16, required=True)
    event_type = _text(document, "event_type", 32, required=True)
    status = _text(document, "status", 16, required=True)
    if status not in CASE_STATUSES:
        raise ValueError("fact 'status' is not a case status")
    occurred = _instant(document, "occurred_at", required=True)
    assert occurred is not None
    accepted = _instant(document, "accepted_at")
    concluded = _instant(document, "concluded_at")
    deadline = _instant(document, "deadline")
    on_time = document.get("on_time")
    if on_time is not None and not isinstance(on_time, bool):
        raise ValueError("fact 'on_time' must be true, false or null")
    who = {
        "department": _text(document, "department", 128),
        "window_id": _text(document, "window_id", 64),
        "staff_id": _text(document, "staff_id", 64),
    }
    # a rating's level on the fact of an `evaluated` event (nothing else has one; a
    # value that is not a rating is left out rather than losing the fact)
    level = document.get("level") if event_type == "evaluated" else None
    if not (isinstance(level, int) and not isinstance(level, bool) and 1 <= level <= 5):
        level = None
    fact = {
        "case_id": case_id,
        "event_type": event_type,
        "occurred_at": utc(occurred),
        "center_id": center_id,
        "status": status,
        **who,
        "level": level,
        "fact": document,
    }
    closed = occurred if status in _CLOSED_BY_EVENT and event_type == status else None
    case = {
        "case_id": case_id,
        "center_id": center_id,
        "status": status,
        "accepted_at": utc(accepted) if accepted and status != "received" else None,
        "concluded_at": utc(concluded) if concluded and status == "concluded" else None,
        "closed_at": utc(closed) if closed else None,
        "deadline": utc(deadline) if deadline else None,
        "on_time": on_time if status == "concluded" else None,
        **who,
        "last_event_at": utc(occurred),
        "fact": document,
    }
    return FactRows(fact=fact, case=case, occurred_at=occurred)


# -- case events --------------------------------------------------------------------------


def event_row(raw: bytes | str) -> Row:
    """The `case_events` row of one event, its personal data masked; InvalidEvent (a
    ValueError) for a message that is not a contract event."""
    event = decode(raw)
    document = mask_document(history_document(event))
    name = None
    if event.applicant is not None:
        given = event.applicant.model_dump(exclude_none=True)
        given_name = given.get("name")
        if isinstance(given_name, str) and isinstance(document.get("payload"), dict):
            # the name as given, wherever its own event quotes it (any length: one of two
            # characters has no shape to be found by elsewhere, masking.mask_shaped)
            payload = document["payload"]
            document["payload"] = mask_name_in(payload, given_name) or payload
        document["applicant"] = applicant = mask_applicant(given)
        named = (applicant or {}).get("name")
        name = named[:64] if isinstance(named, str) and named else None
    if event.occurred_at.year not in YEARS:
        raise ValueError("event 'occurred_at' is out of range")
    return {
        "case_id": event.case_id,
        "event_id": event.event_id,
        "center_id": event.center_id,
        "type": event.type.value,
        "occurred_at": utc(event.occurred_at),
        "document": document,
        "applicant_name": name,
    }
