"""The rules in force, for people reading an alert (supervisor/web/rulesheet.py)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException

from supervisor.core.rules import RuleError
from supervisor.web.security import Viewer
from supervisor.web.services import Wired

router = APIRouter(tags=["rules"])


@router.get("/api/rules")
async def list_rules(who: Viewer, services: Wired) -> list[dict[str, Any]]:
    """Every rule: id, severity, title, basis, whether enabled, thresholds."""
    try:
        return await services.rule_sheet.shown()
    except RuleError:
        raise HTTPException(503, "规则暂时无法读取（规则引擎仍按已加载的规则运行）") from None
