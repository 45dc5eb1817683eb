"""An alert's lifecycle: its statuses, the steps people take, who may take which, and the
one table of transitions. The web service (which writes and applies the steps) and the
notifier (which stops reminding once an alert no longer needs anyone) both read it here,
so that they can never disagree on what a step does.

    open ──acknowledge──▶ acknowledged
    open | acknowledged ──resolve(disposition, note)──▶ resolved   (核实/整改/问责/误报;
                                                                 a director: yellow, 核实/整改)
    open | acknowledged ──appeal(reason)──▶ appealed                (预警申诉, director)
    appealed ──accept_appeal──▶ withdrawn                           (摘牌, inspector)
    appealed ──reject_appeal──▶ the status before the appeal        (inspector)
    open | acknowledged | appealed ── its case moved on (worker, contract §6) ──▶
        closed | superseded

A pure module: no framework, no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final, Literal

Action = Literal["acknowledge", "resolve", "appeal", "accept_appeal", "reject_appeal"]

STATUSES: Final = (
    "open",
    "acknowledged",
    "appealed",
    "resolved",
    "withdrawn",
    "closed",
    "superseded",
)
#: The statuses of an alert that still needs someone: the wall's open counts, the
#: notifier's reminders and escalations.
OPEN_STATUSES: Final = frozenset({"open", "acknowledged", "appealed"})
CLOSED_STATUSES: Final = frozenset(STATUSES) - OPEN_STATUSES
ACTIONS: Final[tuple[Action, ...]] = (
    "acknowledge",
    "resolve",
    "appeal",
    "accept_appeal",
    "reject_appeal",
)
#: How a resolved alert was disposed of (处置), with its Chinese name.
DISPOSITIONS: Final = {
    "verified": "核实",
    "rectified": "整改",
    "held_accountable": "问责",
    "false_alarm": "误报",
}
#: Who may take which step: inspectors all but appeal; directors acknowledge, resolve and
#: appeal alerts of their own scope (the scope is the caller's to check; what a director
#: may resolve, and how: `may_resolve`, `dispositions_for`).
ROLES_FOR: Final[dict[str, frozenset[str]]] = {
    "acknowledge": frozenset({"inspector", "director"}),
    "resolve": frozenset({"inspector", "director"}),
    "appeal": frozenset({"director"}),
    "accept_appeal": frozenset({"inspector"}),
    "reject_appeal": frozenset({"inspector"}),
}
#: What a director may resolve (处置) in their scope: yellow warnings, as 核实 or 整改. A red
#: alert is a violation on record, the inspectors' to close: the center answers it by
#: putting it right and replying to the order (督办); a director who finds an alert wrong
#: appeals (申诉) for an inspector to withdraw it (摘牌), and 问责 is the inspectors' to
#: record. Without this the supervised center could clear its own red cards as 误报,
#: past the appeal, the order's time limit and its escalation.
DIRECTOR_RESOLVES: Final = frozenset({"yellow"})
DIRECTOR_DISPOSITIONS: Final = frozenset({"verified", "rectified"})


def may_resolve(role: str, severity: str) -> bool:
    """Whether someone of `role` may resolve an alert of `severity` (its status and the
    disposition aside: `dispositions_for`)."""
    if role == "director":
        return severity in DIRECTOR_RESOLVES
    return role in ROLES_FOR["resolve"]


def dispositions_for(role: str) -> frozenset[str]:
    """The dispositions someone of `role` may resolve an alert with."""
    if role == "director":
        return DIRECTOR_DISPOSITIONS
    return frozenset(DISPOSITIONS) if role in ROLES_FOR["resolve"] else frozenset()


def appeal_decided(history: Iterable[Mapping[str, object]]) -> bool:
    """Whether an appeal of the alert was already rejected: the decision stands, and the
    alert is not appealed again (each appeal holds its escalation back, so appeals
    without end would hold a red alert back for good)."""
    return any(change.get("action") == "reject_appeal" for change in history)


#: What a case's own events do to an alert still open (contract §6): `closed` and
#: `superseded` are statuses; `concluded_late` changes none.
CASE_CHANGES: Final = frozenset({"closed", "superseded", "concluded_late"})
#: (status, step) -> the status it leads to; BEFORE_APPEAL: the status the alert had
#: before its appeal.
BEFORE_APPEAL: Final = ""
TRANSITIONS: Final[dict[tuple[str, str], str]] = {
    ("open", "acknowledge"): "acknowledged",
    ("open", "resolve"): "resolved",
    ("acknowledged", "resolve"): "resolved",
    ("open", "appeal"): "appealed",
    ("acknowledged", "appeal"): "appealed",
    ("appealed", "accept_appeal"): "withdrawn",
    ("appealed", "reject_appeal"): BEFORE_APPEAL,
}


class Refused(ValueError):
    """A step the alert's present status does not allow (HTTP 409)."""


def check(status: str, action: str) -> str:
    """The status `action` leads to from `status` (BEFORE_APPEAL for a rejected appeal),
    or raise Refused saying why."""
    target = TRANSITIONS.get((status, action))
    if target is None:
        raise Refused(f"an alert that is {status} cannot be given '{action}'")
    return target
