"""One case as the read model holds it: its status and deadline, its masked timeline and
its alerts in the caller's scope."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from supervisor.web.queries import visible_case
from supervisor.web.security import Viewer
from supervisor.web.services import Wired

router = APIRouter()


@router.get("/api/cases/{case_id:path}")
async def get_case(case_id: str, who: Viewer, services: Wired) -> dict[str, Any]:
    """One case: its status and deadline as the worker last judged them, its masked
    timeline of events, and every alert of it in the caller's scope. A case outside
    the scope and an unknown one get the same 404."""
    await services.caught_up()
    return await visible_case(services, case_id, who)
