"""The wall's figures: its headline (cases today, on-time rates, open alerts, how fresh
the data is) and its board of centers, city → counties → townships, each in the
caller's scope and at the journal position it includes."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from supervisor.auth import Principal
from supervisor.web.services import Services


def local(instant: datetime | None, zone: ZoneInfo) -> str | None:
    """`instant` as local time in `zone`, to the second (None stays None)."""
    return instant.astimezone(zone).isoformat(timespec="seconds") if instant else None


async def headline(services: Services, who: Principal) -> dict[str, Any]:
    """The headline figures in the caller's scope: the read model's figures for today,
    the open alerts by severity, the newest event and arrival, the time and position."""
    read = services.read
    scope = await services.read_state.scope(who)
    figures = await read.headline(services.now(), scope)
    open_alerts = {"red": 0, "yellow": 0}
    for tally in (await read.open_alerts(scope)).values():
        for severity, n in tally.items():
            open_alerts[severity] = open_alerts.get(severity, 0) + n
    seen = (await read.last_seen(scope)).values()
    last_event = max((e for e, _ in seen if e is not None), default=None)
    last_arrival = max((a for _, a in seen if a is not None), default=None)
    zone = ZoneInfo(services.settings.timezone)
    return {
        **figures,
        "open_alerts": open_alerts,
        "last_event_at": local(last_event, zone),
        "last_arrival_at": local(last_arrival, zone),
        "now": services.now().isoformat(timespec="seconds"),
        "seq": services.hub.stored,  # the journal position the figures include
    }


async def board_tiles(services: Services, who: Principal) -> list[dict[str, Any]]:
    """One tile per center of the registry in the caller's scope, in the registry's
    order: its open alerts by severity, its worst open alert, open cases and last event
    time."""
    read = services.read
    scope = await services.read_state.scope(who)
    counts = await read.open_alerts(scope)
    open_cases = await read.open_cases(scope)
    seen = await read.last_seen(scope)
    zone = ZoneInfo(services.settings.timezone)
    tiles = []
    for center in services.centers.all():
        if not who.may_see(center.code):
            continue
        alerts = counts.get(center.code, {"red": 0, "yellow": 0})
        last = seen.get(center.code, (None, None))[0]
        tiles.append(
            {
                "code": center.code,
                "name": center.name,
                "level": center.level,
                "parent": center.parent,
                "red": alerts["red"],
                "yellow": alerts["yellow"],
                "worst": "red" if alerts["red"] else "yellow" if alerts["yellow"] else None,
                "open_cases": open_cases.get(center.code, 0),
                "last_event_at": local(last, zone),
            }
        )
    return tiles
