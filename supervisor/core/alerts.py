"""Alerts (contract §3): what the engine raises and everything downstream carries."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal


@dataclass(frozen=True)
class Alert:
    """One rule firing for one case and occurrence.

    `alert_id` is `<rule_id>:<case_id>`, or `<rule_id>:<case_id>:<event_id>` for a rule
    that can fire on several events of one case; it depends only on the events, so a
    replay, a restart or another worker produce the same id and nothing is shown twice.
    `raised_at` is the event time at which the condition became true (a deadline rule's
    deadline itself), in the center's local zone.
    """

    alert_id: str
    rule_id: str
    severity: str
    case_id: str
    center_id: str
    raised_at: datetime
    title: str
    message: str
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "alert_id": self.alert_id,
            "rule_id": self.rule_id,
            "severity": self.severity,
            "case_id": self.case_id,
            "center_id": self.center_id,
            "raised_at": self.raised_at.isoformat(timespec="seconds"),
            "title": self.title,
            "message": self.message,
            "details": self.details,
        }


def alert_id(rule_id: str, case_id: str, occurrence: str | None = None) -> str:
    return f"{rule_id}:{case_id}" if occurrence is None else f"{rule_id}:{case_id}:{occurrence}"


def rule_of(ident: str) -> str:
    return ident.split(":", 1)[0]


@dataclass(frozen=True)
class Resolution:
    """An alert that a late event proved wrong, resolved with the reason (never deleted).

    Example: `concluded` at 15:00 uploaded after the deadline at 24:00 that fired: applied in
    event-time order the case was on time, so `deadline.overdue` is resolved. It travels on
    the alerts topic beside alerts, keyed by the same `alert_id`, with `status: resolved`.
    """

    alert_id: str
    rule_id: str
    case_id: str
    center_id: str
    resolved_at: datetime
    reason: str
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "alert_id": self.alert_id,
            "status": "resolved",
            "rule_id": self.rule_id,
            "case_id": self.case_id,
            "center_id": self.center_id,
            "resolved_at": self.resolved_at.isoformat(timespec="seconds"),
            "reason": self.reason,
            "details": self.details,
        }


#: What a case did to one of its alerts (contract §6).
ChangeKind = Literal["closed", "superseded", "concluded_late"]


@dataclass(frozen=True)
class CaseChange:
    """What a case's own events did to one of its alerts (contract §6, "Alerts follow
    their case"): a warning `closed` by a conclusion in time or a withdrawal, a warning
    `superseded` by the red alert of the same case, or an overdue alert whose case was
    `concluded_late` (its status stays: it is a violation record, closed by a person).

    It travels on the alerts topic beside alerts and resolutions, keyed by the same
    `alert_id`, as `{"kind": "case_change", ...}`; readers apply `closed` and
    `superseded` only to an alert still open, acknowledged or appealed, so a person's
    lifecycle change and the case's never undo one another."""

    alert_id: str
    rule_id: str
    case_id: str
    center_id: str
    change: ChangeKind
    at: datetime
    reason: str | None = None  # closed: concluded_in_time | case_withdrawn
    superseded_by: str | None = None
    case_concluded_at: datetime | None = None
    late_working_days: float | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        record: dict[str, Any] = {
            "kind": "case_change",
            "change": self.change,
            "alert_id": self.alert_id,
            "rule_id": self.rule_id,
            "case_id": self.case_id,
            "center_id": self.center_id,
            "at": self.at.isoformat(timespec="seconds"),
        }
        if self.change != "concluded_late":
            record["status"] = self.change
        if self.reason is not None:
            record["reason"] = self.reason
        if self.superseded_by is not None:
            record["superseded_by"] = self.superseded_by
        if self.case_concluded_at is not None:
            record["case_concluded_at"] = self.case_concluded_at.isoformat(timespec="seconds")
        if self.late_working_days is not None:
            record["late_working_days"] = self.late_working_days
        record["details"] = self.details
        return record
