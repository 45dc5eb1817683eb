"""Silences of notifications, for inspectors only (directors and ops get 403); what a
silence is and does: supervisor/web/silencing.py and supervisor/notify/silences.py."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from supervisor.auth import Principal, Role
from supervisor.web import silencing
from supervisor.web.security import require_roles
from supervisor.web.services import Wired
from supervisor.web.silencing import LiftBody, ListedStatus, SilenceBody

router = APIRouter()

#: Module-level for the reason given at `security.Viewer`.
Inspector = Annotated[Principal, Depends(require_roles(Role.inspector))]


@router.post("/api/silences", status_code=201)
async def create_silence(body: SilenceBody, who: Inspector, services: Wired) -> dict[str, Any]:
    """静默: hold back the notifications of matching alerts from `starts_at` (default
    now; at most a year ahead) to `until` (at most 31 days later), with a reason;
    the alerts are still recorded."""
    await services.caught_up()
    return await silencing.create_silence(services, body, who)


@router.get("/api/silences")
async def list_silences(
    who: Inspector, services: Wired, state: ListedStatus | None = None
) -> dict[str, Any]:
    """Silences kept (ended ones for 30 days), each with its status now: active and
    pending first (soonest end first), then the ended ones (most recent first)."""
    await services.caught_up()
    return silencing.silence_list(services, state)


@router.get("/api/silences/{silence_id}")
async def get_silence(silence_id: str, who: Inspector, services: Wired) -> dict[str, Any]:
    """One silence with its audit trail (create, lift, expire: who, when, why)."""
    await services.caught_up()
    return silencing.silence_view(services, silence_id, audit=True)


@router.post("/api/silences/{silence_id}/lift")
async def lift_silence(
    silence_id: str, body: LiftBody, who: Inspector, services: Wired
) -> dict[str, Any]:
    """End a pending or active silence now, saying why; 409 once it has ended."""
    await services.caught_up()
    return await silencing.lift_silence(services, silence_id, body, who)
