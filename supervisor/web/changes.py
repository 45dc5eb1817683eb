"""A person's step on an alert (签收, 办结, 申诉, 摘牌...): checked against the lifecycle
(supervisor/lifecycle.py), written to the journal, and answered once read back.

The journal decides: the change is applied where every web service applies it, in the
journal's order, so of two racing changes the first wins and the second is told so.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Final, Literal

from fastapi import HTTPException
from pydantic import BaseModel, ConfigDict, Field

from supervisor.auth import Principal
from supervisor.lifecycle import (
    ROLES_FOR,
    TRANSITIONS,
    Action,
    Refused,
    appeal_decided,
    check,
    dispositions_for,
    may_resolve,
)
from supervisor.masking import mask_shaped, mask_text
from supervisor.store.export import DISPOSITION_ZH, STATUS_ZH
from supervisor.web.hub import Alert
from supervisor.web.journal import Record, lifecycle_record
from supervisor.web.queries import visible_alert
from supervisor.web.security import ROLE_NAMES
from supervisor.web.services import Services

#: Seconds the API waits for a change it wrote to be read back from the journal.
CHANGE_TIMEOUT: Final = 10.0

#: Each step as the person taking it says it (the refusals below are read by people:
#: the console shows a detail in Chinese as it is).
ACTION_ZH: Final[dict[Action, str]] = {
    "acknowledge": "签收",
    "resolve": "办结",
    "appeal": "申诉",
    "accept_appeal": "同意申诉（摘牌）",
    "reject_appeal": "驳回申诉",
}
NOT_READ_BACK: Final = "操作已提交，但未能及时确认；请稍后刷新查看结果"


class Outcome(BaseModel):
    """How one alert of a bulk step went: `code` as the single step would answer (200,
    or the refusal's status), the alert's status after, or the refusal's reason."""

    alert_id: str
    code: int
    status: str | None = None
    detail: str | None = None


class ChangeBody(BaseModel):
    """What a person adds to a lifecycle change."""

    model_config = ConfigDict(extra="forbid")

    note: str = Field(default="", max_length=2000)
    disposition: Literal["verified", "rectified", "held_accountable", "false_alarm"] | None = None
    reason: str = Field(default="", max_length=2000)
    #: 问责: who was held to account and the measure taken (with `held_accountable`)
    person: str = Field(default="", max_length=100)
    measure: str = Field(default="", max_length=500)


async def change_alert(
    services: Services, alert_id: str, action: Action, body: ChangeBody, who: Principal
) -> Alert:
    """Take `action` on the alert for `who`; the alert as it stands after, with its
    history. 404 outside the caller's scope, 403 for a role that may not take the step,
    409 for a step its status does not allow (or another change came first), 422 for a
    change that lacks what it needs, 504 when the journal does not give it back in time.
    Each refusal's detail is in Chinese: the person who clicked reads it."""
    await services.caught_up()
    record = await prepared(services, alert_id, action, body, who)
    seq = await services.writer.write(record)
    if not await services.hub.wait_for(seq, CHANGE_TIMEOUT):
        raise HTTPException(504, NOT_READ_BACK)
    return await confirmed(services, alert_id, action, seq, who)


async def acknowledge_many(
    services: Services, alert_ids: Sequence[str], body: ChangeBody, who: Principal
) -> list[Outcome]:
    """签收 several alerts at once (a director's morning list): each checked as one
    acknowledgement is, those that pass written together, then each confirmed from the
    journal. One outcome per distinct id, in the order given; a refusal of one stops
    none of the others."""
    await services.caught_up()
    outcomes: dict[str, Outcome] = {}
    records: dict[str, Record] = {}
    for alert_id in dict.fromkeys(alert_ids):
        try:
            records[alert_id] = await prepared(services, alert_id, "acknowledge", body, who)
        except HTTPException as exc:
            outcomes[alert_id] = Outcome(alert_id=alert_id, code=exc.status_code, detail=exc.detail)
    positions = await asyncio.gather(*(services.writer.write(r) for r in records.values()))
    written = dict(zip(records, positions, strict=True))
    read_back = not positions or await services.hub.wait_for(max(positions), CHANGE_TIMEOUT)
    for alert_id, seq in written.items():
        if not read_back:
            outcomes[alert_id] = Outcome(alert_id=alert_id, code=504, detail=NOT_READ_BACK)
            continue
        try:
            shown = await confirmed(services, alert_id, "acknowledge", seq, who)
        except HTTPException as exc:
            outcomes[alert_id] = Outcome(alert_id=alert_id, code=exc.status_code, detail=exc.detail)
        else:
            outcomes[alert_id] = Outcome(alert_id=alert_id, code=200, status=str(shown["status"]))
    return [outcomes[alert_id] for alert_id in dict.fromkeys(alert_ids)]


async def prepared(
    services: Services, alert_id: str, action: Action, body: ChangeBody, who: Principal
) -> Record:
    """The journal record of `action` on the alert for `who`, or the HTTPException that
    refuses it (nothing is written for a refusal)."""
    shown, history = await visible_alert(services.read, alert_id, who)
    if who.role not in ROLES_FOR[action]:
        role = ROLE_NAMES.get(str(who.role), str(who.role))
        raise HTTPException(403, f"{role}不能对预警{ACTION_ZH[action]}")
    refusal = why_not(str(shown["status"]), action, body)
    if refusal is None and action == "resolve":
        refusal = resolution_refused(str(who.role), str(shown.get("severity")), body)
    if refusal is None and action == "appeal" and appeal_decided(history):
        refusal = 409, "此预警的申诉已被驳回，不能再次申诉"
    if refusal is not None:
        status, detail = refusal
        raise HTTPException(status, detail)
    # personal data never goes to the journal: numbers, and the case's applicant's name
    case_id = str(shown["case_id"])
    names = await services.read.applicant_names(case_id)

    def masked(text: str) -> str:  # the alert's own case id kept readable, as in its text
        return str(mask_shaped(mask_text(text, keep=(case_id,)), names))

    try:
        check(str(shown["status"]), action)
        return lifecycle_record(
            alert_id,
            action,
            by={"name": who.name, "role": who.role, "center": who.center, "token": who.id},
            at=services.now(),
            note=masked(body.note),
            disposition=body.disposition,
            reason=masked(body.reason),
            accountability=(
                # who was held to account is staff, named as typed (numbers masked): never
                # rewritten by the shape of the applicant's name
                {"person": mask_text(body.person.strip()), "measure": masked(body.measure.strip())}
                if body.person or body.measure
                else None
            ),
        )
    except Refused:  # why_not said it first; kept for a lifecycle that grows
        raise HTTPException(409, "此预警当前的状态不允许这一步") from None
    except ValueError:
        raise HTTPException(422, "填写的内容不完整或不符合要求") from None


async def confirmed(
    services: Services, alert_id: str, action: Action, seq: int, who: Principal
) -> Alert:
    """The alert with its history once the change at `seq` is read back; 409 when the
    journal applied another change first and refused this one."""
    shown, history = await visible_alert(services.read, alert_id, who)
    if not any(change["seq"] == seq for change in history):
        raise HTTPException(409, "另一项操作先一步改变了此预警；请刷新后查看")
    services.metrics.lifecycle_changes.labels(action=action).inc()
    return {**shown, "history": history}


def resolution_refused(role: str, severity: str, body: ChangeBody) -> tuple[int, str] | None:
    """Why someone of `role` may not resolve an alert of `severity` as `body` says (403,
    in Chinese, with the way that is open to them), or None (lifecycle.may_resolve)."""
    if not may_resolve(role, severity):
        return 403, (
            "红色预警由纪检监察人员处置。请签收并整改、回复督办单；认为预警有误的，请提出申诉"
        )
    mine = dispositions_for(role)
    if body.disposition is not None and body.disposition not in mine:
        allowed = "、".join(name for key, name in DISPOSITION_ZH.items() if key in mine)
        return 403, (
            f"中心负责人只能将预警处置为{allowed}；认为预警有误的，请提出申诉，由纪检监察人员摘牌"
        )
    return None


def why_not(status: str, action: Action, body: ChangeBody) -> tuple[int, str] | None:
    """Why `action` cannot be taken on an alert that is `status` with `body`, as the
    HTTP status and the reason a person reads (Chinese); None when it can. The same
    conditions as the lifecycle's and the journal's checks, said for people."""
    if (status, action) not in TRANSITIONS:
        shown = STATUS_ZH.get(status, status)
        return 409, f"此预警当前为「{shown}」，不能{ACTION_ZH[action]}"
    if action == "resolve" and body.disposition is None:
        choices = "、".join(DISPOSITION_ZH.values())
        return 422, f"办结须选择处置结果：{choices}"
    if body.disposition == "held_accountable":
        if not body.person.strip() or not body.measure.strip():
            return 422, "处置为「已问责」时，须填写被问责人和问责措施"
    elif body.person.strip() or body.measure.strip():
        return 422, "只有处置为「已问责」时才填写被问责人和问责措施"
    if action == "appeal" and not body.reason.strip():
        return 422, "申诉须说明理由"
    if action == "reject_appeal" and not body.note.strip():  # the director reads why
        return 422, "驳回申诉须说明理由"
    return None
