"""The web service without Kafka: routes, WebSocket, metrics, and the feed's per-message logic.

The app is built with `start_consumer=False` and its hub is fed directly, through the
TestClient's portal so that publishing runs on the app's own event loop (the hub is not
thread-safe, by design).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from starlette.exceptions import StarletteDeprecationWarning
from starlette.websockets import WebSocketDisconnect

with warnings.catch_warnings():
    # Starlette 1.x asks for `httpx2` and warns, once, at import, when it finds `httpx`;
    # the TestClient works the same with either. Remove once dev deps name httpx2.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

from supervisor.settings import Settings
from supervisor.web.app import create_app
from supervisor.web.consumer import AlertFeed
from supervisor.web.hub import AlertHub
from supervisor.web.metrics import WebMetrics
from tests.web.test_hub import make_alert, make_resolution

CENTERS = {"451221": "南丹县政务服务中心", "451202": "金城江区政务服务中心"}


@pytest.fixture
def settings() -> Settings:
    return Settings.from_env({}).with_(wall_recent=5)


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def app(settings: Settings, registry: CollectorRegistry) -> FastAPI:
    return create_app(settings, registry=registry, start_consumer=False, center_names=CENTERS)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as client:
        yield client


@pytest.fixture
def publish(client: TestClient, app: FastAPI) -> Callable[..., None]:
    """Publish alerts (and resolutions) to the app's hub, all in one step on the app's
    event loop."""
    hub: AlertHub = app.state.hub

    def publish_all(*alerts: dict[str, Any]) -> None:
        def run() -> None:
            for alert in alerts:
                if alert.get("status") == "resolved":
                    hub.resolve(alert)
                else:
                    hub.publish(alert)

        assert client.portal is not None
        client.portal.call(run)

    return publish_all


# -- pages and JSON -----------------------------------------------------------------------


def test_root_redirects_to_the_wall(client: TestClient) -> None:
    response = client.get("/", follow_redirects=False)
    assert response.status_code in (302, 307)
    assert response.headers["location"] == "wall/"
    page = client.get("/")
    assert page.status_code == 200
    assert '<html lang="zh-CN">' in page.text
    assert "政务服务电子监察" in page.text


def test_the_wall_files_are_served(client: TestClient) -> None:
    for name, kind in (("wall.js", "javascript"), ("wall.css", "text/css")):
        response = client.get(f"/wall/{name}")
        assert response.status_code == 200
        assert kind in response.headers["content-type"]


def test_api_alerts_newest_first_with_filters(
    client: TestClient, publish: Callable[..., None]
) -> None:
    publish(
        make_alert(1, severity="red", center_id="451221"),
        make_alert(2, severity="yellow", center_id="451221"),
        make_alert(3, severity="red", center_id="451202"),
    )
    everything = client.get("/api/alerts").json()
    assert [a["case_id"] for a in everything] == [
        "451202-2026-0000003",
        "451221-2026-0000002",
        "451221-2026-0000001",
    ]
    assert everything[0] == make_alert(3, severity="red", center_id="451202")
    red = client.get("/api/alerts", params={"severity": "red"}).json()
    assert [a["severity"] for a in red] == ["red", "red"]
    nandan = client.get("/api/alerts", params={"center_id": "451221", "limit": 1}).json()
    assert [a["case_id"] for a in nandan] == ["451221-2026-0000002"]


def test_api_alerts_keeps_only_wall_recent(
    client: TestClient, publish: Callable[..., None]
) -> None:
    publish(*(make_alert(n) for n in range(1, 9)))
    assert len(client.get("/api/alerts").json()) == 5


def test_api_alerts_carries_resolutions_and_filters_by_status(
    client: TestClient, publish: Callable[..., None]
) -> None:
    resolution = make_resolution(make_alert(2))
    publish(make_alert(1), make_alert(2), make_alert(3, severity="yellow"), resolution)
    everything = client.get("/api/alerts").json()
    assert [a["case_id"][-1] for a in everything] == ["3", "2", "1"]
    assert everything[1] == {**make_alert(2), "resolution": resolution}
    assert "resolution" not in everything[0] and "resolution" not in everything[2]
    resolved = client.get("/api/alerts", params={"status": "resolved"}).json()
    assert resolved == [{**make_alert(2), "resolution": resolution}]
    open_red = client.get("/api/alerts", params={"status": "open", "severity": "red"}).json()
    assert [a["case_id"][-1] for a in open_red] == ["1"]


@pytest.mark.parametrize(
    "query", [{"severity": "orange"}, {"limit": 0}, {"limit": "x"}, {"status": "closed"}]
)
def test_api_alerts_rejects_bad_parameters(client: TestClient, query: dict[str, Any]) -> None:
    assert client.get("/api/alerts", params=query).status_code == 422


def test_api_centers(client: TestClient) -> None:
    assert client.get("/api/centers").json() == CENTERS


def test_healthz_without_consumer(client: TestClient, publish: Callable[..., None]) -> None:
    publish(make_alert(1), make_alert(2), make_resolution(make_alert(2)))
    body = client.get("/healthz").json()
    assert body == {
        "status": "ok",
        "kafka_connected": False,
        "consumer": "disabled",
        "topics": {},
        "last_message_at": None,
        "recent_alerts": 2,
        "resolved_alerts": 1,
        "websocket_clients": 0,
    }


def test_center_names_default_to_the_center_registry(settings: Settings) -> None:
    from supervisor.centers import CenterRegistry

    registry = CenterRegistry.load()
    app = create_app(settings, start_consumer=False)
    with TestClient(app) as client:
        names = client.get("/api/centers").json()
    assert names == {center.code: center.name for center in registry.all()}
    assert names["451200"] == registry.name("451200")


# -- WebSocket ----------------------------------------------------------------------------


def test_websocket_snapshot_then_live_alerts(
    client: TestClient, publish: Callable[..., None], registry: CollectorRegistry
) -> None:
    publish(make_alert(1), make_alert(2))
    with client.websocket_connect("/ws/alerts") as socket:
        snapshot = socket.receive_json()
        assert snapshot["type"] == "snapshot"
        assert [a["case_id"][-1] for a in snapshot["alerts"]] == ["2", "1"]
        assert registry.get_sample_value("supervisor_web_websocket_clients") == 1

        publish(make_alert(3, severity="yellow"))
        assert socket.receive_json() == {"type": "alert", "alert": make_alert(3, severity="yellow")}

        publish(make_alert(3, severity="yellow"), make_alert(4))  # the repeat is not sent
        assert socket.receive_json()["alert"]["case_id"][-1] == "4"
        assert client.get("/healthz").json()["websocket_clients"] == 1

    # The handler notices the close and unsubscribes.
    for _ in range(100):
        if registry.get_sample_value("supervisor_web_websocket_clients") == 0:
            break
        client.get("/healthz")
    assert registry.get_sample_value("supervisor_web_websocket_clients") == 0
    assert client.get("/healthz").json()["websocket_clients"] == 0


def test_websocket_snapshot_and_live_messages_carry_resolutions(
    client: TestClient, publish: Callable[..., None]
) -> None:
    first = make_resolution(make_alert(1))
    publish(make_alert(1), make_alert(2), first)
    with client.websocket_connect("/ws/alerts") as socket:
        # A reconnecting wall shows the same thing: the snapshot has the resolution.
        snapshot = socket.receive_json()
        assert snapshot == {
            "type": "snapshot",
            "alerts": [make_alert(2), {**make_alert(1), "resolution": first}],
        }

        second = make_resolution(make_alert(2), reason="迟到事件：办结")
        publish(second, first)  # the repeat of the first is not sent
        assert socket.receive_json() == {"type": "resolved", "resolution": second}

        # Read before its alert: the alert comes already resolved.
        third = make_resolution(make_alert(3))
        publish(third, make_alert(3))
        assert socket.receive_json() == {"type": "resolved", "resolution": third}
        assert socket.receive_json() == {
            "type": "alert",
            "alert": {**make_alert(3), "resolution": third},
        }
        publish(make_alert(4))  # nothing else was queued before it
        assert socket.receive_json()["alert"] == make_alert(4)


def test_a_client_that_falls_behind_is_closed_with_1013(
    client: TestClient, app: FastAPI, publish: Callable[..., None], registry: CollectorRegistry
) -> None:
    app.state.hub.client_queue = 2
    with client.websocket_connect("/ws/alerts") as socket:
        assert socket.receive_json()["type"] == "snapshot"
        # Three alerts in one step on the loop: the queue of two overflows before the
        # handler gets to send anything.
        publish(make_alert(1), make_alert(2), make_alert(3))
        with pytest.raises(WebSocketDisconnect) as closed:
            socket.receive_json()
        assert closed.value.code == 1013
    assert registry.get_sample_value("supervisor_web_websocket_slow_disconnects_total") == 1


def test_metrics_endpoint_exposes_the_web_metrics(client: TestClient) -> None:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    for name in (
        "supervisor_web_websocket_clients",
        "supervisor_web_alerts_received_total",
        "supervisor_web_alert_resolutions_total",
        "supervisor_web_alerts_malformed_total",
        "supervisor_web_dlq_messages_total",
        "supervisor_web_alert_push_delay_seconds_bucket",
        "supervisor_web_kafka_connected",
    ):
        assert name in response.text


def test_each_app_has_its_own_metrics(settings: Settings) -> None:
    # No global registry: two apps in one process do not collide.
    create_app(settings, start_consumer=False, center_names={})
    create_app(settings, start_consumer=False, center_names={})


# -- the Kafka feed's per-message logic (no broker) ---------------------------------------


class FakeClock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 11, 20, 2, 0, tzinfo=UTC))


@pytest.fixture
def feed_hub(settings: Settings) -> AlertHub:
    return AlertHub(settings.wall_recent)


@pytest.fixture
def feed(
    settings: Settings, registry: CollectorRegistry, clock: FakeClock, feed_hub: AlertHub
) -> AlertFeed:
    return AlertFeed(settings, feed_hub, WebMetrics(registry), clock=clock)


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def test_feed_counts_and_skips_malformed_messages(
    feed: AlertFeed, registry: CollectorRegistry, clock: FakeClock
) -> None:
    assert feed.handle_alert(b"{broken") is False
    assert feed.handle_alert(None) is False
    assert registry.get_sample_value("supervisor_web_alerts_malformed_total") == 2
    assert feed.last_message_at == clock.now
    # ...and goes on with the next good one.
    assert feed.handle_alert(json.dumps(make_alert(1)).encode(), _ms(clock.now)) is True


def test_feed_counts_alerts_by_rule_and_severity_repeats_included(
    feed: AlertFeed, registry: CollectorRegistry, clock: FakeClock
) -> None:
    value = json.dumps(make_alert(1, severity="yellow", rule_id="deadline.warning")).encode()
    assert feed.handle_alert(value, _ms(clock.now)) is True
    assert feed.handle_alert(value, _ms(clock.now)) is False
    labels = {"rule_id": "deadline.warning", "severity": "yellow"}
    assert registry.get_sample_value("supervisor_web_alerts_received_total", labels) == 2


def test_feed_measures_push_delay_of_live_alerts_only(
    feed: AlertFeed, registry: CollectorRegistry, clock: FakeClock
) -> None:
    backlog = clock.now - timedelta(days=3)
    feed.handle_alert(json.dumps(make_alert(1)).encode(), _ms(backlog))
    assert registry.get_sample_value("supervisor_web_alert_push_delay_seconds_count") == 0

    produced = clock.now + timedelta(seconds=10)
    clock.now = produced + timedelta(seconds=0.2)
    feed.handle_alert(json.dumps(make_alert(2)).encode(), _ms(produced))
    assert registry.get_sample_value("supervisor_web_alert_push_delay_seconds_count") == 1
    total = registry.get_sample_value("supervisor_web_alert_push_delay_seconds_sum")
    assert total == pytest.approx(0.2, abs=0.01)


def test_feed_applies_resolutions_and_counts_them_by_rule(
    feed: AlertFeed, feed_hub: AlertHub, registry: CollectorRegistry, clock: FakeClock
) -> None:
    hub = feed_hub
    alert = make_alert(1)
    resolution = make_resolution(alert)
    value = json.dumps(resolution, ensure_ascii=False).encode()
    assert feed.handle_alert(json.dumps(alert).encode(), _ms(clock.now)) is True
    assert feed.handle_alert(value, _ms(clock.now)) is True
    assert hub.recent() == [{**alert, "resolution": resolution}]
    assert feed.handle_alert(value, _ms(clock.now)) is False  # read twice: nothing changes
    assert hub.recent() == [{**alert, "resolution": resolution}]
    labels = {"rule_id": "deadline.overdue"}
    assert registry.get_sample_value("supervisor_web_alert_resolutions_total", labels) == 2
    assert registry.get_sample_value("supervisor_web_alerts_malformed_total") == 0
    # A resolution is neither an alert received nor a push delay sample.
    received = {"rule_id": "deadline.overdue", "severity": "red"}
    assert registry.get_sample_value("supervisor_web_alerts_received_total", received) == 1
    assert registry.get_sample_value("supervisor_web_alert_push_delay_seconds_count") == 1


def test_feed_keeps_a_resolution_of_an_unknown_alert_for_when_it_comes(
    feed: AlertFeed, feed_hub: AlertHub, registry: CollectorRegistry, clock: FakeClock
) -> None:
    hub = feed_hub
    alert = make_alert(1)
    resolution = make_resolution(alert)
    assert feed.handle_alert(json.dumps(resolution).encode(), _ms(clock.now)) is True
    assert feed.handle_alert(json.dumps(resolution).encode(), _ms(clock.now)) is False
    assert len(hub) == 0 and hub.pending_count == 1
    assert registry.get_sample_value("supervisor_web_alerts_malformed_total") == 0
    assert feed.handle_alert(json.dumps(alert).encode(), _ms(clock.now)) is True
    assert hub.recent(status="resolved") == [{**alert, "resolution": resolution}]
    assert hub.recent(status="open") == []


@pytest.mark.parametrize(
    "change",
    [
        {"reason": None},
        {"alert_id": ""},
        {"resolved_at": "2026-11-21T09:30:00"},
        {"rule_id": None},
        {"center_id": 451221},
    ],
)
def test_feed_counts_a_malformed_resolution_as_malformed(
    feed: AlertFeed,
    feed_hub: AlertHub,
    registry: CollectorRegistry,
    clock: FakeClock,
    change: dict[str, Any],
) -> None:
    hub = feed_hub
    feed.handle_alert(json.dumps(make_alert(1)).encode(), _ms(clock.now))
    bad = {**make_resolution(make_alert(1)), **change}
    assert feed.handle_alert(json.dumps(bad).encode(), _ms(clock.now)) is False
    assert registry.get_sample_value("supervisor_web_alerts_malformed_total") == 1
    assert hub.recent() == [make_alert(1)]  # still open
    assert hub.pending_count == 0
    counted = {"rule_id": "deadline.overdue"}
    assert registry.get_sample_value("supervisor_web_alert_resolutions_total", counted) is None


def test_feed_counts_dead_letters(feed: AlertFeed, registry: CollectorRegistry) -> None:
    feed.handle_dead_letter(b'{"error": "schema"}')
    feed.handle_dead_letter(b"anything at all")
    assert registry.get_sample_value("supervisor_web_dlq_messages_total") == 2


def test_feed_is_not_connected_before_it_ran(feed: AlertFeed, settings: Settings) -> None:
    assert feed.connected is False
    assert feed.topic_states() == {
        settings.topic_alerts: "connecting",
        settings.topic_dlq: "connecting",
    }
