"""Properties over any sequence of journal records (alerts, people's changes, the worker's
withdrawals and case changes), silences and timer ticks:

- no two outbox items ever share an id (the idempotency key of delivery);
- every record applied a second time changes nothing and sends nothing;
- the state survives JSON at every step;
- nothing is repeated or escalated for an alert that was not open, or whose case was
  concluded late, and a digest only carries alerts that were open;
- an alert closed or superseded by its case is one a person had left open,
  acknowledged or appealed, and a person's resolution is never undone by its case.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from supervisor.notify import silences
from supervisor.notify.plan import NotifyState, Outcome
from supervisor.notify.silences import SilenceError
from supervisor.web.journal import ACTIONS

from .factories import INSPECTOR, alert, change, planner, withdrawal

START = datetime.fromisoformat("2026-11-27T08:00:00+08:00")  # a Friday: the weekend comes
CENTERS = ["451221", "451221101", "451221100", "451200", "451222100"]
RULES = ["deadline.overdue", "deadline.warning", "fee.overcharge", "workflow.no_decision"]

new_alert = st.tuples(
    st.just("alert"),
    st.integers(0, 5),
    st.sampled_from(["red", "yellow"]),
    st.sampled_from(CENTERS),
    st.sampled_from(RULES),
)
lifecycle = st.tuples(st.just("change"), st.integers(0, 20), st.sampled_from(ACTIONS))
withdraw = st.tuples(st.just("withdraw"), st.integers(0, 20))
case = st.tuples(
    st.just("case"), st.integers(0, 20), st.sampled_from(["closed", "superseded", "concluded_late"])
)
silence = st.tuples(
    st.just("silence"),
    st.sampled_from([*CENTERS, None]),
    st.booleans(),
    st.sampled_from([None, "deadline.*", "fee.overcharge"]),
    st.integers(10, 3000),
)
lift = st.tuples(st.just("lift"), st.integers(0, 5))
tick = st.tuples(st.just("tick"))
operation = st.tuples(
    st.integers(0, 900),  # minutes since the previous operation
    st.one_of(new_alert, lifecycle, withdraw, case, silence, lift, tick),
)


def round_trip(state: NotifyState) -> NotifyState:
    return NotifyState.from_json(json.loads(json.dumps(state.to_json(), ensure_ascii=False)))


def check_case(before: NotifyState, outcome: Outcome, record: dict[str, Any]) -> None:
    """A case's change ends only an alert a person had left open, acknowledged or
    appealed, and undoes no person's change."""
    if record.get("kind") != "case_change":
        return
    was = before.alerts.get(record["alert_id"])
    now = outcome.state.alerts.get(record["alert_id"])
    if was is None or now is None:
        return
    if record["change"] == "concluded_late":
        assert now.status == was.status and now.concluded_late_at is not None
    elif was.status in ("open", "acknowledged", "appealed"):
        assert now.status == record["change"]
    elif was.status == "superseded":  # its case concluded in time after all
        assert now.status in ("superseded", "closed")
    else:  # resolved or withdrawn by a person or the worker, or closed: kept
        assert now.status == was.status


def check_open(before: NotifyState, outcome: Outcome) -> None:
    for item in outcome.outbox:
        if item.kind in ("repeat", "escalation"):
            track = before.alerts.get(item.alerts[0].alert_id)
            assert track is not None and track.status == "open", item.id
            assert track.concluded_late_at is None, item.id
        if item.kind == "digest":
            for info in item.alerts:
                track = before.alerts.get(info.alert_id)
                assert track is not None and track.status == "open", item.id


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.lists(operation, max_size=30))
def test_any_sequence_keeps_ids_unique_and_records_idempotent(ops: list[Any]) -> None:
    plan = planner()
    state = NotifyState()
    now = START
    seen_ids: list[str] = []
    alerts: list[dict[str, Any]] = []
    silence_ids: list[str] = []
    for minutes, op in ops:
        now += timedelta(minutes=minutes)
        kind = op[0]
        record: dict[str, Any] | None = None
        if kind == "alert":
            _, n, severity, center, rule = op
            record = alert(n, severity=severity, center=center, rule=rule, raised=now.isoformat())
            alerts.append(record)
        elif kind in ("change", "withdraw") and alerts:
            target = alerts[op[1] % len(alerts)]
            at = now.isoformat()
            record = (
                change(target["alert_id"], op[2], at)
                if kind == "change"
                else withdrawal(target, at)
            )
        elif kind == "case" and alerts:
            target = alerts[op[1] % len(alerts)]
            record = {
                "kind": "case_change",
                "change": op[2],
                **{k: target[k] for k in ("alert_id", "rule_id", "case_id", "center_id")},
                "at": now.isoformat(),
                "details": {},
            }
        elif kind == "silence":
            _, center, below, rule, length = op
            try:
                _, record = silences.create(
                    state.silences,
                    by=INSPECTOR,
                    reason="系统迁移",
                    now=now,
                    until=now + timedelta(minutes=length),
                    center_id=center,
                    below=below and center is not None,
                    rule=rule,
                )
            except SilenceError:
                record = None
            else:
                silence_ids.append(record["silence_id"])
        elif kind == "lift" and silence_ids:
            try:
                _, record = silences.lift(
                    state.silences, silence_ids[op[1] % len(silence_ids)], by=INSPECTOR, now=now
                )
            except SilenceError:
                record = None

        if record is None:
            outcome = plan.advance(state, now)
        else:
            outcome = plan.apply(state, record, now)
            assert outcome.skipped is None, outcome.ignored
            check_case(state, outcome, record)
            twice = plan.apply(outcome.state, record, now)
            assert twice.outbox == [] and twice.escalations == [] and twice.audit == []
            assert twice.state.to_json() == outcome.state.to_json()
        check_open(state, outcome)
        for escalation in outcome.escalations:
            assert escalation.notification_id in {n.id for n in outcome.outbox}
        seen_ids += [n.id for n in outcome.outbox]
        state = round_trip(outcome.state)
        assert state == outcome.state
    final = plan.advance(state, now + timedelta(days=3))
    seen_ids += [n.id for n in final.outbox]
    assert len(seen_ids) == len(set(seen_ids))
