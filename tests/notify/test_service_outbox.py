"""The outbox records of the notifier (pure parts of supervisor/notify/outbox.py, service.py)."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from supervisor.notify.outbox import Pending, followed, pending_for, prunable
from supervisor.notify.plan import Notification, NotifyState
from supervisor.notify.retry import Delivery, Outcome, RetryPolicy
from supervisor.notify.service import dlq_topic, payload, state_topic
from supervisor.notify.texts import render
from supervisor.settings import Settings

from .factories import COUNTY, alert, planner, t


def _notification() -> tuple[Notification, datetime]:
    now = t("2026-11-23T09:00:00+08:00")
    out = planner().apply(NotifyState(), alert(1, center=COUNTY), now, seq=0)
    assert out.outbox
    return out.outbox[0], now


def test_one_delivery_per_channel_keyed_by_notification_and_channel() -> None:
    notification, now = _notification()
    entries = pending_for(notification, now)
    assert [e.key for e in entries] == [f"{notification.id}|{e.channel}" for e in entries]
    assert {e.channel for e in entries} <= {"webhook", "email"}
    assert all(e.due(now) for e in entries)
    again = Pending.from_json(entries[0].to_json())
    assert again == entries[0]


def test_retry_then_dead_then_replayed_with_a_fresh_budget() -> None:
    notification, now = _notification()
    entry = pending_for(notification, now)[0]
    policy = RetryPolicy(base=1, cap=1, max_attempts=2)
    rng = random.Random(1)
    first = entry.after(Delivery(entry.channel, Outcome.RETRY, now, error="503"), policy, rng)
    assert entry.status == "pending" and first.next_at is not None
    assert not entry.due(now) and entry.due(now + timedelta(seconds=1))
    entry.after(Delivery(entry.channel, Outcome.RETRY, now + timedelta(seconds=1)), policy, rng)
    assert str(entry.status) == "dead"
    letter = entry.dead_letter()
    assert letter["key"] == entry.key and len(letter["attempts"]) == 2
    back = entry.replayed()
    assert (back.status, back.generation, back.attempts, len(back.earlier)) == (
        "pending",
        1,
        [],
        2,
    )
    assert back.due(now)
    assert not prunable(back, now, timedelta(days=1))
    back.after(Delivery(entry.channel, Outcome.DELIVERED, now), policy, rng)
    assert back.status == "delivered"
    assert prunable(back, now + timedelta(days=1), timedelta(days=1))


def test_payload_and_topics() -> None:
    notification, _ = _notification()
    body = payload(notification, render(notification))
    assert body["id"] == notification.id and body["alerts"][0]["alert_id"]
    assert body["subject"].startswith("【红色预警】")
    settings = Settings.from_env({"SUPERVISOR_APP_ID": "x"})
    assert (state_topic(settings), dlq_topic(settings)) == ("x-notify-state", "x-notifications.dlq")
    other = Settings.from_env({"SUPERVISOR_NOTIFY_TOPIC_DLQ": "dl"})
    assert dlq_topic(other) == "dl"


def test_what_the_follower_does_with_another_writers_record() -> None:
    """`followed`: a replay (higher generation) replaces; a delivery we do not have, or
    one the previous active notifier finished while ours waits, is adopted; nothing else."""
    notification, now = _notification()
    mine = pending_for(notification, now)[0]
    policy, rng = RetryPolicy(base=1, cap=1, max_attempts=1), random.Random(1)
    finished = mine.model_copy(deep=True)
    finished.after(Delivery(mine.channel, Outcome.DELIVERED, now), policy, rng)
    assert followed(None, mine, busy=False) == "adopt"
    assert followed(None, mine.replayed(), busy=False) == "replay"  # pruned here, put back
    assert followed(mine, mine.replayed(), busy=True) == "replay"
    assert followed(mine, finished, busy=False) == "adopt"
    assert followed(mine, finished, busy=True) == "ignore"  # ours is under way
    assert followed(finished, mine, busy=False) == "ignore"  # older news
    assert followed(mine, mine.model_copy(deep=True), busy=False) == "ignore"
    assert followed(mine.replayed(), finished, busy=False) == "ignore"  # a lower generation
