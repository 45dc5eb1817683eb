"""Build contract events and engines for tests, without repeating the envelope."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

from supervisor.core.calendar import WorkCalendar
from supervisor.core.engine import Engine
from supervisor.core.events import CaseEvent, from_document
from supervisor.core.rules import RuleBook

ROOT = Path(__file__).resolve().parents[2]
_ids = itertools.count(1)


def event_doc(
    kind: str,
    at: str,
    case_id: str = "451221-2026-0000001",
    center_id: str = "451221",
    event_id: str | None = None,
    **payload: Any,
) -> dict[str, Any]:
    document: dict[str, Any] = {
        "schema_version": "1",
        "event_id": event_id or f"t-{next(_ids):06d}",
        "case_id": case_id,
        "center_id": center_id,
        "type": kind,
        "occurred_at": at,
    }
    if payload:
        document["payload"] = payload
    return document


def event(kind: str, at: str, **kwargs: Any) -> CaseEvent:
    return from_document(event_doc(kind, at, **kwargs))


def accepted(
    at: str,
    value: float = 5,
    unit: str = "working_day",
    statutory: tuple[float, str] | None = (20, "working_day"),
    **kwargs: Any,
) -> CaseEvent:
    payload: dict[str, Any] = {
        "item_code": "451221-XK-0042",
        "item_name": "食品经营许可（新办）",
        "promised_limit": {"value": value, "unit": unit},
    }
    if statutory:
        payload["statutory_limit"] = {"value": statutory[0], "unit": statutory[1]}
    for key in ("immediate", "fee_standard", "required_steps"):
        if key in kwargs:
            payload[key] = kwargs.pop(key)
    return event("accepted", at, **kwargs, **payload)


def engine(rules_dir: Path | None = None) -> Engine:
    return Engine(RuleBook.load(rules_dir or ROOT / "rules"), WorkCalendar("Asia/Shanghai"))
