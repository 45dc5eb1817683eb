"""Silences of notifications (静默) as the API shows and changes them; the rules of a
silence are supervisor/notify/silences.py's (the notifier applies them too).

The state is the journal's (`hub.journal.silences`, every `silence` record read back
from the alerts topic), so every web instance and every restart agrees; the status
(pending, active, expired, lifted) is a matter of the service's clock. A change is
written to the journal as a `silence` audit record and answered once read back.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any, Final, Literal

from fastapi import HTTPException
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from supervisor.auth import Principal
from supervisor.notify import silences as silence_book
from supervisor.notify.silences import Silence, SilenceError, Status
from supervisor.web.bounds import check_moment
from supervisor.web.changes import CHANGE_TIMEOUT
from supervisor.web.services import Services

log = logging.getLogger(__name__)

#: The longest silence: decided by supervisor/notify/silences.py (the notifier applies
#: silences too), checked here first for a clear answer.
SILENCE_MAX_DURATION: Final = silence_book.MAX_DURATION
#: How far ahead a silence may begin: a migration is planned weeks ahead, not years.
SILENCE_MAX_LEAD: Final = timedelta(days=365)
#: How far back `starts_at` may lie and still be taken as "now" (a client's clock, "from
#: 08:00 today"); further back is refused: what has been sent cannot be silenced.
SILENCE_MAX_BACKDATE: Final = timedelta(days=1)

ListedStatus = Literal["active", "pending", "expired", "lifted"]


class SilenceBody(BaseModel):
    """A new silence: what it matches (a center, `below` with the centers under it, a
    rule id or prefix like `deadline.*`, a case; at least one), when it ends (and
    begins: default now), and why."""

    model_config = ConfigDict(extra="forbid")

    center_id: str | None = None
    below: bool = False
    rule: str | None = Field(default=None, max_length=200)
    case_id: str | None = Field(default=None, max_length=200)
    until: AwareDatetime
    starts_at: AwareDatetime | None = None
    reason: str = Field(min_length=1, max_length=2000)


class LiftBody(BaseModel):
    """Why a silence is lifted before its end."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=2000)


def silence_view(services: Services, silence_id: str, *, audit: bool = False) -> dict[str, Any]:
    """The silence as shown, with its status now and, with `audit`, its audit trail (an
    expiry shown even when nobody recorded it); 404 for an unknown one."""
    journal = services.hub.journal
    silence = journal.silences.silences.get(silence_id)
    status = silence_status(silence, services.now()) if silence is not None else None
    if silence is None or status is None:  # unknown, or a record no clock can judge
        raise HTTPException(404, "没有这条静默")
    shown: dict[str, Any] = {**silence.model_dump(mode="json"), "status": status}
    if audit:
        trail = journal.silence_audit(silence_id)
        if status == "expired" and all(step["action"] != "expire" for step in trail):
            trail.append(  # expiry is by time: shown even when nobody recorded it
                {
                    "seq": None,
                    "action": "expire",
                    "by": {"name": "系统", "role": "system"},
                    "at": silence.ends_at.isoformat(timespec="seconds"),
                    "reason": "",
                }
            )
        shown["audit"] = trail
    return shown


def silence_list(services: Services, state: ListedStatus | None) -> dict[str, Any]:
    """The silences kept, each with its status now (only those of `state`, if given),
    and the journal position they stand at."""
    hub = services.hub
    chosen = [
        (silence, status)
        for silence, status in listing(hub.journal.silences.silences.values(), services.now())
        if state is None or status == state
    ]
    return {
        "seq": hub.head,
        "items": [{**s.model_dump(mode="json"), "status": status} for s, status in chosen],
    }


async def create_silence(services: Services, body: SilenceBody, who: Principal) -> dict[str, Any]:
    """Write a new silence to the journal; the silence as shown once read back. 422 for
    an unknown center, times out of bounds, or a silence the rules refuse."""
    if body.center_id is not None and services.centers.get(body.center_id) is None:
        raise HTTPException(422, "中心名录中没有这个中心")
    at = services.now()
    check_silence_times(body.starts_at, body.until, at)
    try:
        _, record = silence_book.create(
            services.hub.journal.silences,
            by={"name": who.name, "role": str(who.role), "token": who.id},
            reason=body.reason,
            now=at,
            until=body.until,
            starts_at=body.starts_at,
            center_id=body.center_id,
            below=body.below,
            rule=body.rule,
            case_id=body.case_id,
        )
    except SilenceError as exc:
        raise HTTPException(422, str(exc)) from None
    await _write(services, record)
    log.info("silence %s created by %s", record["silence_id"], who.label)
    return silence_view(services, record["silence_id"], audit=True)


async def lift_silence(
    services: Services, silence_id: str, body: LiftBody, who: Principal
) -> dict[str, Any]:
    """End a pending or active silence now; the silence as shown once read back. 404 for
    an unknown one, 422 without a reason, 409 once it has ended or when another change
    to it came first."""
    journal = services.hub.journal
    known = journal.silences.silences.get(silence_id)
    if known is None or silence_status(known, services.now()) is None:  # as in silence_view
        raise HTTPException(404, "没有这条静默")
    if not body.reason.strip():
        raise HTTPException(422, "解除静默须说明理由")
    try:
        _, record = silence_book.lift(
            journal.silences,
            silence_id,
            by={"name": who.name, "role": str(who.role), "token": who.id},
            now=services.now(),
            reason=body.reason,
        )
    except SilenceError as exc:
        raise HTTPException(409, str(exc)) from None
    seq = await _write(services, record)
    trail = journal.silence_audit(silence_id)
    if not trail or trail[-1]["seq"] != seq:
        raise HTTPException(409, "另一项操作先一步改变了这条静默；请刷新后查看")
    log.info("silence %s lifted by %s", silence_id, who.label)
    return silence_view(services, silence_id, audit=True)


async def _write(services: Services, record: dict[str, Any]) -> int:
    """Write a silence's audit record; its position once read back (504 if not in time)."""
    seq = await services.writer.write(record)
    if not await services.hub.wait_for(seq, CHANGE_TIMEOUT):
        raise HTTPException(504, "已写入，但未能及时读回；请稍后刷新")
    return seq


def check_silence_times(starts_at: datetime | None, until: datetime, now: datetime) -> None:
    """422 for a silence's times out of bounds: either outside the years, a start more
    than SILENCE_MAX_LEAD ahead or more than SILENCE_MAX_BACKDATE back, or longer than
    SILENCE_MAX_DURATION. The rest (an end before the start) is silences.create's."""
    check_moment(until, "until")
    begin = now
    if starts_at is not None:
        check_moment(starts_at, "starts_at")
        if starts_at > now + SILENCE_MAX_LEAD:
            raise HTTPException(
                422, f"starts_at may lie at most {SILENCE_MAX_LEAD.days} days ahead"
            )
        if starts_at < now - SILENCE_MAX_BACKDATE:
            raise HTTPException(422, "starts_at 早于现在：静默从现在起生效")
        begin = max(starts_at, now)
    if until - begin > SILENCE_MAX_DURATION:
        raise HTTPException(422, f"a silence lasts at most {SILENCE_MAX_DURATION.days} days")


def silence_status(silence: Silence, at: datetime) -> Status | None:
    """The silence's status at `at`, or None for a stored record whose times cannot be
    compared with a clock (naive: a record not written by this service)."""
    try:
        return silence.status(at)
    except (TypeError, ValueError, OverflowError):
        return None


def listing(silences: Iterable[Silence], at: datetime) -> list[tuple[Silence, Status]]:
    """The silences to list at `at`, with their status: live ones first (soonest end
    first), then those that ended within KEEP_ENDED (most recent first).

    `silences.listing` computes the same, but one stored record it cannot judge (naive
    times) would fail the whole list, and its keep-ended test, `ended_at + KEEP_ENDED`,
    overflows for a silence that ends near year 9999. Here no arithmetic touches a stored
    time (only comparisons, which cannot overflow), and a record that cannot be judged is
    logged and left out, so the list always answers.
    """
    live: list[tuple[Silence, Status]] = []
    ended: list[tuple[Silence, Status]] = []
    forgotten = at - silence_book.KEEP_ENDED
    for silence in silences:
        status = silence_status(silence, at)
        try:
            if status in ("active", "pending"):
                live.append((silence, status))
            elif status is not None and silence.ended_at > forgotten:
                ended.append((silence, status))
        except (TypeError, ValueError, OverflowError):
            status = None
        if status is None:
            log.warning("silence %s has times that cannot be judged; not listed", silence.id)
    try:
        live.sort(key=lambda pair: (pair[0].ends_at, pair[0].id))
        ended.sort(key=lambda pair: (pair[0].ended_at, pair[0].id), reverse=True)
    except TypeError:  # times of different kinds after all: leave the journal's order
        log.warning("silences with times that cannot be compared; listed unsorted")
    return live + ended
