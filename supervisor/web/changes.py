"""A person's step on an alert (签收, 办结, 申诉, 摘牌...): checked against the lifecycle
(supervisor/lifecycle.py), written to the journal, and answered once read back.

The journal decides: the change is applied where every web service applies it, in the
journal's order, so of two racing changes the first wins and the second is told so.
"""

from __future__ import annotations

from typing import Final, Literal

from fastapi import HTTPException
from pydantic import BaseModel, ConfigDict, Field

from supervisor.auth import Principal
from supervisor.lifecycle import ROLES_FOR, Action, Refused, check
from supervisor.masking import mask_text
from supervisor.web.hub import Alert
from supervisor.web.journal import lifecycle_record
from supervisor.web.queries import visible_alert
from supervisor.web.services import Services

#: Seconds the API waits for a change it wrote to be read back from the journal.
CHANGE_TIMEOUT: Final = 10.0


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
    change that lacks what it needs, 504 when the journal does not give it back in time."""
    await services.caught_up()
    shown, _ = await visible_alert(services.read, alert_id, who)
    if who.role not in ROLES_FOR[action]:
        raise HTTPException(403, f"a {who.role} may not {action.replace('_', ' ')}")
    try:
        check(str(shown["status"]), action)
        record = lifecycle_record(
            alert_id,
            action,
            by={"name": who.name, "role": who.role, "center": who.center, "token": who.id},
            at=services.now(),
            note=mask_text(body.note),  # personal data never goes to the journal
            disposition=body.disposition,
            reason=mask_text(body.reason),
            accountability=(
                {"person": body.person.strip(), "measure": mask_text(body.measure.strip())}
                if body.person or body.measure
                else None
            ),
        )
    except Refused as exc:
        raise HTTPException(409, str(exc)) from None
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    seq = await services.writer.write(record)
    if not await services.hub.wait_for(seq, CHANGE_TIMEOUT):
        raise HTTPException(504, "the change was written but not read back in time")
    shown, history = await visible_alert(services.read, alert_id, who)
    if not any(change["seq"] == seq for change in history):
        raise HTTPException(409, "another change to this alert came first")
    services.metrics.lifecycle_changes.labels(action=action).inc()
    return {**shown, "history": history}
