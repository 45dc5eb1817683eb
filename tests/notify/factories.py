"""Journal records, the shipped routing file and a planner, for the notification tests."""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from supervisor.core.calendar import CalendarBook
from supervisor.core.rules import RuleBook
from supervisor.notify.plan import NotifyState, Outcome, Planner
from supervisor.notify.routing import Routing, known_rule_ids, load_routing
from supervisor.web.journal import Action, lifecycle_record

ROOT = Path(__file__).resolve().parents[2]
ROUTING = ROOT / "rules" / "notify" / "routing.yaml"
INSPECTOR = {"name": "王监察", "role": "inspector", "token": "svt_0123456789ab"}
DIRECTOR = {"name": "李主任", "role": "director", "token": "svt_ba9876543210"}

# Centers of the shipped file: a county, a township under it, its own-director township.
COUNTY = "451221"  # 南丹县: director-451221
TOWNSHIP = "451221101"  # 南丹县大厂镇 (no director of its own)
CITY = "451200"
# Their directors. The shipped file routes every red alert of the city (county and
# township centers included) to the city director as well: route 全市红色预警.
COUNTY_DIRECTOR = "director-451221"
CITY_DIRECTOR = "director-451200"


def t(text: str) -> datetime:
    return datetime.fromisoformat(text)


@lru_cache(maxsize=1)
def known_rules() -> tuple[str, ...]:
    return tuple(known_rule_ids(rule.id for rule in RuleBook.load(ROOT / "rules")))


@lru_cache(maxsize=1)
def routing() -> Routing:
    return load_routing(ROUTING, known_rules())


@lru_cache(maxsize=1)
def calendars() -> CalendarBook:
    return CalendarBook.load(ROOT / "rules" / "calendar")


def planner(**settings: Any) -> Planner:
    base = routing()
    return Planner(base.with_settings(**settings) if settings else base, calendars())


def alert(
    n: int = 1,
    *,
    severity: str = "red",
    center: str = COUNTY,
    rule: str = "deadline.overdue",
    raised: str = "2026-11-23T09:00:00+08:00",
    message: str | None = None,
) -> dict[str, Any]:
    """An alert record as the worker publishes it (contract §3)."""
    case_id = f"{center[:6]}-2026-{n:07d}"
    return {
        "alert_id": f"{rule}:{case_id}",
        "rule_id": rule,
        "severity": severity,
        "case_id": case_id,
        "center_id": center,
        "raised_at": raised,
        "title": "办件超期" if severity == "red" else "办件即将到期",
        "message": message or f"办件 {case_id} 已超过承诺时限，尚未办结。",
        "details": {},
    }


def change(alert_id: str, action: Action, at: str, **kwargs: Any) -> dict[str, Any]:
    """A lifecycle record as the web service writes it."""
    by = INSPECTOR if action in ("accept_appeal", "reject_appeal") else DIRECTOR
    if action == "resolve":
        kwargs.setdefault("disposition", "rectified")
    if action == "appeal":
        kwargs.setdefault("reason", "数据录入错误")
    return lifecycle_record(alert_id, action, by=by, at=t(at), **kwargs)


def withdrawal(record: dict[str, Any], at: str) -> dict[str, Any]:
    """The worker's resolution of an alert a late event proved wrong."""
    return {
        "alert_id": record["alert_id"],
        "status": "resolved",
        "rule_id": record["rule_id"],
        "case_id": record["case_id"],
        "center_id": record["center_id"],
        "resolved_at": at,
        "reason": "迟到数据：办件已按时办结。",
        "details": {},
    }


def sent_to(outcome: Outcome) -> list[str]:
    """The recipient of each notification of `outcome`'s outbox, in its order."""
    return [n.recipient.id for n in outcome.outbox]


class Run:
    """Drives a planner over explicit times, keeping the state and everything emitted."""

    def __init__(self, plan: Planner | None = None, state: NotifyState | None = None) -> None:
        self.plan = plan or planner()
        self.state = state or NotifyState()
        self.outcomes: list[Outcome] = []

    def apply(self, record: dict[str, Any], at: str, seq: int | None = None) -> Outcome:
        return self._keep(self.plan.apply(self.state, record, t(at), seq))

    def advance(self, at: str) -> Outcome:
        return self._keep(self.plan.advance(self.state, t(at)))

    def _keep(self, outcome: Outcome) -> Outcome:
        self.state = outcome.state
        self.outcomes.append(outcome)
        return outcome

    def ids(self) -> list[str]:
        return [n.id for o in self.outcomes for n in o.outbox]
