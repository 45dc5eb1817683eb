"""How the engine writes: an alert's title, message and details from its rule's
templates (personal data masked), and the Chinese names of case statuses and event types
and of local times that alerts, changes and resolutions quote.

Pure functions of their arguments; the engine decides *whether* an alert is raised
(supervisor/core/raising.py), this module only what it says.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

from supervisor.core.alerts import Alert
from supervisor.core.calendar import WorkCalendar
from supervisor.core.events import EventType
from supervisor.core.rules import Rule
from supervisor.core.state import CaseState
from supervisor.masking import mask_marked, mask_text

E = EventType
STATUS_ZH = {
    "received": "已收件未受理",
    "open": "办理中",
    "concluded": "已办结",
    "not_accepted": "不予受理",
    "withdrawn": "已撤回",
}
EVENT_ZH = {
    E.SUBMITTED: "收件",
    E.ACCEPTED: "受理",
    E.NOT_ACCEPTED: "不予受理",
    E.SUPPLEMENT_REQUESTED: "补正告知",
    E.SUPPLEMENT_RECEIVED: "补正材料收到",
    E.STEP_COMPLETED: "环节办结",
    E.SUSPENDED: "暂停计时",
    E.RESUMED: "恢复计时",
    E.EXTENDED: "延期",
    E.FEE_CHARGED: "收费",
    E.DECIDED: "审批决定",
    E.CONCLUDED: "办结",
    E.DELIVERED: "送达",
    E.WITHDRAWN: "撤回",
    E.EVALUATED: "评价",
    E.RECTIFIED: "差评整改",
    E.COMPLAINED: "投诉",
    E.COMPLAINT_ANSWERED: "投诉答复",
}


def render_alert(
    rule: Rule,
    rule_id: str,
    ident: str,
    state: CaseState,
    raised_at: datetime,
    fields: dict[str, object],
    *,
    center_name: str,
    handled_by: tuple[str | None, str | None, str | None],
    masked: Callable[[str], str],
    masks: Mapping[str, str],
) -> Alert:
    """The alert `ident` of `rule` on the case, raised at `raised_at`: its title and
    message rendered from the rule's templates with the case's values and `fields`, every
    text masked (`masked`, whose memo `masks` is read first), and its details: those
    values (but the case and center ids), the rule's legal basis, and who handled it
    (`handled_by`: department, window and staff, contract §7) unless `fields` say."""
    department, window_id, staff_id = handled_by
    values: dict[str, object] = {
        "case_id": state.case_id,
        "center_id": state.center_id,
        "center_name": center_name,
        "item_name": state.item_name or state.item_code or "—",
        "item_code": state.item_code or "—",
        "promised_limit": state.promised.label() if state.promised else "—",
        "statutory_limit": state.statutory.label() if state.statutory else "—",
        **fields,
    }
    # Placeholders carry what centers typed (item names, steps, ids): an ID number or a
    # phone among them is masked, and so is the case's applicant wherever a center typed
    # the name, number or phone (the case's marks), so alert text never shows one
    # (contract §3).
    # The case's own id is kept as it is (a center may number its cases as area code,
    # date and sequence, an ID number's shape), unless it is the applicant's (the marks).
    marks = state.applicant_marks
    case_id = state.case_id

    def shown(text: str) -> str:
        if case_id and case_id in text:
            text = mask_text(text, keep=(case_id,))
        else:
            known = masks.get(text)  # masked(text), its memo first
            text = known if known is not None else masked(text)
        return mask_marked(text, marks) if marks else text

    title, message = rule.render(values)
    title, message = shown(title), shown(message)
    details: dict[str, object] = {}
    for key, value in values.items():
        if key == "case_id" or key == "center_id":
            continue
        details[key] = shown(value) if isinstance(value, str) else value
    details["basis"] = rule.spec.basis
    # who handled it (contract §7): the event's, or for a deadline the case's latest
    for key, value in (
        ("department", department),
        ("window_id", window_id),
        ("staff_id", staff_id),
    ):
        if key not in details:
            details[key] = None if value is None else shown(value)
    return Alert(
        alert_id=ident,
        rule_id=rule_id,
        severity=rule.spec.severity,
        case_id=state.case_id,
        center_id=state.center_id,
        raised_at=raised_at,
        title=title,
        message=message,
        details=details,
    )


def human_time(instant: datetime, calendar: WorkCalendar) -> str:
    """Local time as officials write it: a deadline at midnight is 24:00 of the day before."""
    local = calendar.local(instant)
    if local.hour == local.minute == local.second == 0:
        return f"{(local - timedelta(days=1)).date().isoformat()} 24:00"
    return local.strftime("%Y-%m-%d %H:%M")
