"""The assessment (绩效考核) over HTTP: a period's scores, grades and ranks per center,
department, window or staff member in the caller's scope (supervisor/assessment/ does
the scoring; this reads the scheme and the scope)."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import HTTPException

from supervisor.assessment.periods import period as parse_period
from supervisor.assessment.run import as_json, assess_period
from supervisor.assessment.scheme import SchemeError, load_scheme
from supervisor.auth import Principal
from supervisor.store.queries import Grouping
from supervisor.web.security import require_center
from supervisor.web.services import Services

log = logging.getLogger(__name__)


async def assessment(
    services: Services, who: Principal, period: str, by: Grouping, center_id: str | None
) -> dict[str, Any]:
    """The assessment of `period` (2026-11, 2026-Q4, 2026) for the units in the caller's
    scope (with `center_id`, that center and those below it). 422 for a period that is
    not one, 403 for a center outside the scope, 503 when the scheme or the rules cannot
    be read (the file is refused with its line: `supervisor rules check`)."""
    try:
        when = parse_period(period)
    except ValueError as exc:
        raise HTTPException(422, f"period: {exc}") from None
    if center_id is not None:
        require_center(who, center_id)
    try:
        scheme = load_scheme(services.settings.rules_dir / "assessment" / "scheme.yaml")
    except (SchemeError, OSError) as exc:
        log.warning("the assessment cannot be scored: %s", exc)
        raise HTTPException(503, "考核评分方案有误，暂不能考核；请运维人员检查") from None
    await services.caught_up()
    scope = await services.read_state.scope(who, center_id, below=center_id is not None)
    calendars = services.order_desk.calendars  # the centers' working days
    result = await assess_period(services.read, scheme, when, calendars, by, scope, services.names)
    return as_json(result)
