"""The notifier survives any record of the topics it reads (supervisor/notify/records.py):
a record that cannot be trusted is skipped with a reason, never raised, and what follows
flows on. Several of these records stopped the notifier before, and, read again from the
same saved position, at every restart (each test says which)."""

from __future__ import annotations

import json
import logging
import random
from datetime import timedelta
from typing import Any, cast

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.structs import ConsumerRecord
from prometheus_client import CollectorRegistry

from supervisor.notify import records, silences
from supervisor.notify.outbox import OUT_PREFIX, PLANNER_KEY, pending_for, restore
from supervisor.notify.plan import NotifyState, Planner
from supervisor.notify.records import BadRecord
from supervisor.notify.service import Notifier
from supervisor.notify.silences import MAX_DURATION, SilenceError, SilenceState
from supervisor.settings import Settings

from .factories import COUNTY, INSPECTOR, TOWNSHIP, Run, alert, change, planner, t
from .fakes import FakeBroker, FakeProducer, owning

MON = "2026-11-23"
NOW = f"{MON}T09:00:00+08:00"


def silence_record(starts: str, ends: str, action: str = "create") -> dict[str, Any]:
    """A silence's audit record as an older web service wrote it for `starts`-`ends`
    (it let an inspector ask for a silence beginning and ending in year 9999)."""
    _, record = silences.create(
        SilenceState(),
        by=INSPECTOR,
        reason="系统迁移",
        now=t(NOW),
        until=t(NOW) + timedelta(hours=1),
        center_id=COUNTY,
    )
    record["action"] = action
    record["silence"] |= {"starts_at": starts, "ends_at": ends}
    return record


def red_after(run: Run, n: int = 2, at: str = f"{MON}T10:00:00+08:00") -> list[str]:
    """A red alert read after the record under test: the ids of what it sends."""
    return [x.id for x in run.apply(alert(n, center=COUNTY), at).outbox]


# -- silences with absurd ends (the report: an inspector's silence ending in 9999) ----------


def test_a_silence_in_year_9999_is_skipped_and_the_notifier_goes_on() -> None:
    """Before: stored, then the next `advance` computed its end + 30 days and overflowed
    (OverflowError): the notifier stopped, and again at every restart."""
    run = Run()
    record = silence_record("9999-12-01T00:00:00+08:00", "9999-12-31T23:59:59+08:00")
    out = run.apply(record, NOW, seq=0)
    assert out.skipped == "invalid" and out.ignored is not None
    assert "starts_at" in out.ignored and "9999" not in out.ignored  # never the value
    assert run.state.silences.silences == {} and run.state.head == 0
    assert red_after(run) != []
    run.advance("2027-01-31T09:00:00+08:00")


def test_a_silence_ending_in_year_9999_ends_after_the_longest_silence() -> None:
    """Before: it held, and the `advance` after its start overflowed computing its end."""
    run = Run()
    record = silence_record(NOW, "9999-12-31T23:59:59-23:59")
    out = run.apply(record, NOW)
    assert out.skipped is None
    held = run.state.silences.silences[record["silence_id"]]
    assert held.ends_at == t(NOW) + MAX_DURATION
    assert red_after(run) == []  # it holds
    out = run.advance("2026-12-24T09:00:00+08:00")  # MAX_DURATION after: it has expired
    assert [a["action"] for a in out.audit] == ["expire"]
    assert red_after(run, 3, "2026-12-24T10:00:00+08:00") != []
    run.advance("2027-02-01T09:00:00+08:00")  # and it is forgotten, without overflowing
    assert run.state.silences.silences == {}


def test_silences_cannot_be_created_beyond_the_range() -> None:
    """What the web service asks of silences.create: refused (422), not stored."""
    with pytest.raises(SilenceError, match="between 2000 and 2199"):
        silences.create(
            SilenceState(),
            by=INSPECTOR,
            reason="迁移",
            now=t(NOW),
            starts_at=t("9999-12-01T00:00:00+08:00"),
            until=t("9999-12-31T23:59:59+08:00"),
            center_id=COUNTY,
        )


def test_a_saved_state_holding_absurd_silences_and_alerts_is_recovered() -> None:
    """A planner state saved before records were checked: the silence beginning in 9999
    is dropped, the one ending in 9999 ends at the maximum, a track with an instant in
    9999 is dropped; everything else is kept."""
    run = Run()
    kept = alert(1, center=TOWNSHIP)
    run.apply(kept, NOW)
    run.apply(alert(2, severity="yellow"), NOW)
    saved = run.state.to_json()
    ok = silence_record(NOW, "9999-12-31T23:59:59+08:00")["silence"]
    far = silence_record("9999-12-01T00:00:00+08:00", "9999-12-31T23:59:59+08:00")["silence"]
    far["id"] = "sil-far"
    saved["silences"]["silences"] = {ok["id"]: ok, "sil-far": far}
    broken = json.loads(json.dumps(saved["alerts"][kept["alert_id"]]))
    broken["touched_at"] = "9999-12-31T23:59:59+08:00"
    saved["alerts"]["broken"] = broken
    with pytest.raises(ValueError):
        NotifyState.from_json(saved)
    state, dropped = NotifyState.recover(saved)
    assert len(dropped) == 2 and all("9999" not in d for d in dropped)
    assert set(state.alerts) == set(run.state.alerts)
    assert list(state.silences.silences) == [ok["id"]]
    assert state.silences.silences[ok["id"]].ends_at == t(NOW) + MAX_DURATION
    assert state.buckets == run.state.buckets
    after = planner().advance(state, t("2027-03-01T09:00:00+08:00"))
    assert after.state.silences.silences == {}


# -- the journal's records, one kind of trouble each --------------------------------------


def _escalation(**changes: Any) -> dict[str, Any]:
    return {
        "kind": "escalation",
        "alert_id": alert(1)["alert_id"],
        "rule_id": "deadline.overdue",
        "center_id": COUNTY,
        "level": 1,
        "to_center": "451200",
        "recipient_id": "director-451200",
        "recipient_name": "主任",
        "at": f"{MON}T11:00:00+08:00",
        "waited_working_hours": 2,
        "notification_id": f"{alert(1)['alert_id']}:director-451200:escalation:1",
    } | changes


BAD: dict[str, tuple[dict[str, Any], str]] = {
    # before: stored, then its next step computed from 9999-12-31 overflowed
    "escalation at 9999": (_escalation(at="9999-12-31T23:00:00+08:00"), "invalid"),
    # before: int(inf) raised OverflowError, which nothing caught
    "escalation level Infinity": (_escalation(level=float("inf")), "invalid"),
    "escalation level true": (_escalation(level=True), "invalid"),
    "escalation without its notification": (
        {k: v for k, v in _escalation().items() if k != "notification_id"},
        "invalid",
    ),
    # before: KeyError
    "silence without its silence": ({"kind": "silence", "action": "create"}, "invalid"),
    # before: SilenceError
    "silence of an unknown action": (silence_record(NOW, NOW, action="explode"), "invalid"),
    "silence that is a list": ({"kind": "silence", "action": "create", "silence": [1]}, "invalid"),
    "silence with a naive start": (silence_record(f"{MON}T09:00:00", NOW), "invalid"),
    "silence in year 1": (silence_record("0001-01-01T00:00:00+23:59", NOW), "invalid"),
    "alert id of 10,000 characters": (alert(1) | {"alert_id": "x" * 10_000}, "invalid"),
    "alert with an unknown severity": (alert(1) | {"severity": "purple"}, "invalid"),
    "alert with a numeric center": (alert(1) | {"center_id": 451221}, "invalid"),
    "alert without a rule": ({k: v for k, v in alert(1).items() if k != "rule_id"}, "invalid"),
    "alert with a list for a title": (alert(1) | {"title": ["a"]}, "invalid"),
    "lifecycle in year 1": (change(alert(9)["alert_id"], "acknowledge", NOW), "invalid"),
    "lifecycle in 9999 at -23:59": (change(alert(9)["alert_id"], "acknowledge", NOW), "invalid"),
    "lifecycle without an offset": (change(alert(9)["alert_id"], "acknowledge", NOW), "invalid"),
    "lifecycle of an unknown action": (
        change(alert(9)["alert_id"], "acknowledge", NOW) | {"action": "delete"},
        "invalid",
    ),
    "lifecycle without an alert": (
        {k: v for k, v in change("x", "acknowledge", NOW).items() if k != "alert_id"},
        "invalid",
    ),
    "resolution in 9999": (
        {"alert_id": "a", "status": "resolved", "resolved_at": "9999-12-31T00:00:00+08:00"},
        "invalid",
    ),
    "an unknown kind": ({"kind": "mystery", "alert_id": "a"}, "unknown_kind"),
    "a numeric kind": (alert(1) | {"kind": 42}, "unknown_kind"),
    "a list for a kind": ({"kind": ["lifecycle"]}, "unknown_kind"),
    "an empty object": ({}, "invalid"),
}
BAD["lifecycle in year 1"][0]["at"] = "0001-01-01T00:00:00+08:00"
BAD["lifecycle in 9999 at -23:59"][0]["at"] = "9999-12-31T23:59:59-23:59"
BAD["lifecycle without an offset"][0]["at"] = f"{MON}T09:00:00"


@pytest.mark.parametrize("name", sorted(BAD))
def test_a_record_that_cannot_be_trusted_is_skipped_and_the_next_one_flows(name: str) -> None:
    record, reason = BAD[name]
    run = Run()
    first = alert(1, center=TOWNSHIP)
    run.apply(first, NOW, seq=0)
    before = run.state.model_copy(update={"head": 1}).to_json()
    out = run.apply(record, f"{MON}T09:30:00+08:00", seq=1)
    assert out.skipped == reason, out.ignored
    assert out.outbox == [] and out.escalations == []
    assert run.state.to_json() == before  # the position moved past it, nothing else
    # read again (the same position after a restart): already applied, not counted twice
    assert run.apply(record, f"{MON}T09:30:00+08:00", seq=1).skipped is None
    assert red_after(run, 2, f"{MON}T09:31:00+08:00") != []
    escalated = run.advance(f"{MON}T17:30:00+08:00").escalations
    assert {e.alert_id for e in escalated} >= {first["alert_id"]}


def test_a_skipped_record_does_not_advance_the_clock_past_the_change_after_it() -> None:
    """Records read together: a bad one, then an acknowledgement made at 10:30, read at
    11:05. The 11:00 step was not due when it was acknowledged: it never goes out."""
    run = Run()
    red = alert(center=TOWNSHIP)
    run.apply(red, NOW)
    assert run.apply({"kind": "mystery"}, f"{MON}T11:05:00+08:00").outbox == []
    ack = change(red["alert_id"], "acknowledge", f"{MON}T10:30:00+08:00")
    assert run.apply(ack, f"{MON}T11:05:00+08:00").escalations == []


def test_delivery_records_are_known_and_change_nothing() -> None:
    run = Run()
    run.apply(alert(1), NOW, seq=0)
    before = run.state.to_json()
    out = run.apply({"kind": "delivery", "alert_id": "x", "at": 5}, NOW, seq=1)
    assert out.skipped is None and out.ignored == "a delivery record"
    assert run.state.to_json() == before | {"head": 1}


def test_long_texts_are_cut_and_deep_details_ignored() -> None:
    deep: Any = "leaf"
    for _ in range(500):
        deep = {"d": deep}
    record = alert(1) | {"message": "办" * 100_000, "title": "超" * 5_000, "details": deep}
    out = Run().apply(record, NOW)
    assert out.skipped is None and out.outbox != []
    info = out.outbox[0].alerts[0]
    assert len(info.message) == records.MAX_MESSAGE and info.message.endswith("…")
    assert len(info.title) == records.MAX_TITLE
    assert len(json.dumps(out.state.to_json())) < 30_000


def test_changes_kept_for_alerts_not_seen_are_bounded() -> None:
    run = Run()
    for n in range(40):
        run.apply(change("deadline.overdue:never", "acknowledge", NOW), NOW)
        run.apply(change(f"deadline.overdue:other-{n}", "appeal", NOW), NOW)
    assert len(run.state.early["deadline.overdue:never"]) == 16
    # each kept change is what the planner needs, not the record as written
    assert set(run.state.early["deadline.overdue:never"][0]) == {"kind", "alert_id", "action", "at"}
    flood = Run()
    for n in range(1_100):
        flood.state.early[f"a{n}"] = [{"kind": "lifecycle"}]
    flood.apply(change("deadline.overdue:last", "acknowledge", NOW), NOW)
    assert sum(len(v) for v in flood.state.early.values()) == 1_000


# -- decoding -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "detail"),
    [
        (None, "tombstone"),
        (b"not json", "not JSON"),
        (b'{"a": "\xff"}', "not UTF-8"),
        (b"[" * 100_000 + b"]" * 100_000, "too deep"),
        (b'{"n": ' + b"1" * 5_000 + b"}", "not JSON"),
        (b"[1, 2]", "not an object"),
        (b'"text"', "not an object"),
        (b'{"a": "' + b"x" * records.MAX_JOURNAL_RECORD + b'"}', "more than"),
    ],
)
def test_what_is_not_a_json_object_is_malformed(value: bytes | None, detail: str) -> None:
    with pytest.raises(BadRecord, match=detail) as caught:
        records.decode(value, limit=records.MAX_JOURNAL_RECORD)
    assert caught.value.reason == "malformed"


# -- the state topic ----------------------------------------------------------------------


def _planner_record(state: NotifyState) -> bytes:
    return json.dumps({"kind": "planner", "state": state.to_json()}).encode()


def test_the_state_topic_is_restored_past_any_record() -> None:
    run = Run()
    run.apply(alert(1), NOW, seq=4)
    good = run.state
    notification = run.outcomes[-1].outbox[0]
    entry = pending_for(notification, t(NOW))[0]
    entry_json = entry.to_json()
    far = entry_json | {"created_at": "9999-12-31T23:59:59+08:00"}
    elsewhere = pending_for(notification, t(NOW))[1].to_json()
    bad_attempt = entry_json | {"attempts": [{"number": "x"}]}
    found = restore(
        [
            (PLANNER_KEY, _planner_record(good), 0),
            (PLANNER_KEY, b"{not json", 1),  # skipped: the state before it stands
            (PLANNER_KEY, json.dumps({"state": {"head": "x"}}).encode(), 2),
            (PLANNER_KEY, json.dumps({"state": [1]}).encode(), 3),
            (OUT_PREFIX + entry.key, json.dumps(entry_json).encode(), 4),
            (OUT_PREFIX + entry.key, json.dumps(far).encode(), 5),
            (OUT_PREFIX + entry.key, json.dumps(bad_attempt).encode(), 6),
            (OUT_PREFIX + entry.key, json.dumps(elsewhere).encode(), 7),  # another's key
            (OUT_PREFIX + entry.key, b"[" * 50_000, 8),
            ("junk", b"{}", 9),
        ]
    )
    assert found.state == good
    assert list(found.outbox) == [entry.key] and found.outbox[entry.key] == entry
    assert [(s.offset, s.reason) for s in found.skipped] == [
        (1, "malformed"),
        (2, "invalid"),
        (3, "invalid"),
        (5, "invalid"),
        (6, "invalid"),
        (7, "invalid"),
        (8, "malformed"),
        (9, "unknown_kind"),
    ]
    assert all("9999" not in s.detail for s in found.skipped)


def test_a_saved_state_with_a_9999_silence_is_restored_with_it_cut() -> None:
    """Before: the notifier read it back and stopped at its first `advance`: at every
    restart, with no way out but deleting the state topic."""
    saved = Run().state.to_json()
    silence = silence_record(NOW, "9999-12-31T23:59:59+08:00")["silence"]
    saved["silences"]["silences"] = {silence["id"]: silence}
    found = restore([(PLANNER_KEY, json.dumps({"state": saved}).encode(), 0)])
    assert found.skipped == [] and found.dropped == [] and found.state is not None
    assert found.state.silences.silences[silence["id"]].ends_at == t(NOW) + MAX_DURATION
    planner().advance(found.state, t("2027-03-01T09:00:00+08:00"))


# -- the service: counted, logged by position, and the notifier goes on -------------------


class Exploding(Planner):
    """A planner with a bug on one record."""

    def apply(self, state: NotifyState, record: Any, now: Any, seq: int | None = None) -> Any:
        if record.get("explode"):
            raise RuntimeError(f"secret {record['explode']}")
        return super().apply(state, record, now, seq)


def _consumer_record(offset: int, value: bytes) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord("alerts-x", 0, offset, 0, 0, b"k", value, None, 1, len(value), ())


def _metric(registry: CollectorRegistry, source: str, reason: str) -> float:
    value = registry.get_sample_value(
        "supervisor_notify_records_skipped_total", {"source": source, "reason": reason}
    )
    return value or 0.0


async def test_the_service_counts_and_logs_skipped_records_and_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = Settings.from_env({"SUPERVISOR_TOPIC_ALERTS": "alerts-x"})
    base = planner()
    notifier = Notifier(
        settings,
        Exploding(base.routing, base.calendars),
        clock=lambda: t(NOW),
        rng=random.Random(1),
    )
    producer = FakeProducer(FakeBroker())
    notifier._producer = cast(AIOKafkaProducer, producer)
    owning(notifier)
    secret = "13800001111"
    raw = [
        _consumer_record(0, b"\xff" + secret.encode()),
        _consumer_record(1, json.dumps(alert(1) | {"explode": secret}).encode()),
        _consumer_record(2, json.dumps({"kind": "mystery", "note": secret}).encode()),
        _consumer_record(3, json.dumps(BAD["escalation at 9999"][0]).encode()),
        _consumer_record(4, json.dumps(alert(2, center=COUNTY)).encode()),
    ]
    with caplog.at_level(logging.WARNING, logger="supervisor.notify"):
        await notifier.step([(r.offset, notifier._decoded(r)) for r in raw], t(NOW))
    registry = notifier.registry
    assert _metric(registry, "journal", "malformed") == 1
    assert _metric(registry, "journal", "error") == 1
    assert _metric(registry, "journal", "unknown_kind") == 1
    assert _metric(registry, "journal", "invalid") == 1
    assert notifier.state.head == 4
    assert alert(2)["alert_id"] in notifier.state.alerts  # what follows flows on
    assert any(key.startswith(OUT_PREFIX.encode()) for _, key in producer.sent if key)
    skipped = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert len(skipped) == 4
    assert all("alerts-x partition 0 offset" in line for line in skipped)
    assert "RuntimeError at test_records.py" in "\n".join(skipped)
    assert all(secret not in line for line in skipped)


def test_the_metric_is_exported_at_zero_for_every_source_and_reason() -> None:
    settings = Settings.from_env({})
    notifier = Notifier(settings, planner(), clock=lambda: t(NOW))
    for source in records.SOURCES:
        for reason in records.REASONS:
            assert (
                notifier.registry.get_sample_value(
                    "supervisor_notify_records_skipped_total",
                    {"source": source, "reason": reason},
                )
                == 0
            )
