"""The projection's two lanes (supervisor/web/consumer.py): the journal read at once, the
facts and events gathered by the broker, and "caught up" only once both are. On the real
broker, the lanes are exercised by the integration tests (end to end, facts, faults)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from supervisor.settings import Settings
from supervisor.web.consumer import GATHER_BYTES, GATHER_MS, AlertFeed
from supervisor.web.hub import AlertHub
from supervisor.web.metrics import WebMetrics


def feed() -> AlertFeed:
    settings = Settings.from_env({})
    return AlertFeed(settings, AlertHub(settings.wall_recent), WebMetrics(CollectorRegistry()))


def test_the_journal_is_fetched_at_once_and_the_statistics_gathered() -> None:
    journal, figures = feed().lanes()
    settings = Settings.from_env({})
    assert journal.topics == (settings.topic_alerts,)
    assert journal.journal
    assert journal.fetch_min_bytes == 1  # a fetch returns with the first alert
    assert figures.topics == (settings.topic_facts, settings.topic_events)
    assert not figures.journal
    assert (figures.fetch_max_wait_ms, figures.fetch_min_bytes) == (GATHER_MS, GATHER_BYTES)
    assert 0 < GATHER_MS <= 250  # a wall's figures are at most this much later


def test_caught_up_waits_for_every_lane() -> None:
    alert_feed = feed()
    journal, figures = alert_feed.lanes()
    alert_feed._lanes_behind = {journal.name, figures.name}
    alert_feed._lane_caught_up(journal)
    assert not alert_feed.caught_up.is_set()  # the figures would count too little
    alert_feed._lane_caught_up(journal)  # again: no change
    assert not alert_feed.caught_up.is_set()
    alert_feed._lane_caught_up(figures)
    assert alert_feed.caught_up.is_set()
