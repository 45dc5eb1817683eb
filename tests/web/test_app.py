"""The web service without Kafka: routes, access control, the lifecycle, WebSocket with
positions, metrics, and the feed's per-record logic.

The app is built with `start_consumer=False`: its hub is fed directly, through the
TestClient's portal so that it runs on the app's own event loop (the hub is not
thread-safe, by design), and lifecycle changes are applied at the next position.
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

from supervisor.auth import TokenStore
from supervisor.settings import Settings
from supervisor.store.projection import Record
from supervisor.web.app import create_app
from supervisor.web.consumer import AlertFeed
from supervisor.web.hub import AlertHub
from supervisor.web.metrics import WebMetrics
from tests.web.test_hub import make_alert, make_resolution

CENTERS = {
    "451221": "南丹县政务服务中心",
    "451202": "金城江区政务服务中心",
    "451224": "东兰县政务服务中心",
    "451224103": "东兰县某镇便民服务中心",
}


@pytest.fixture
def settings() -> Settings:
    return Settings.from_env({}).with_(wall_recent=5)


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def app(settings: Settings, registry: CollectorRegistry, store: TokenStore) -> FastAPI:
    return create_app(
        settings, registry=registry, start_consumer=False, center_names=CENTERS, tokens=store
    )


@pytest.fixture
def client(app: FastAPI, tokens: dict[str, str]) -> Iterator[TestClient]:
    with TestClient(app, headers={"Authorization": f"Bearer {tokens['inspector']}"}) as client:
        yield client


def as_(tokens: dict[str, str], role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens[role]}"}


@pytest.fixture
def publish(client: TestClient, app: FastAPI) -> Callable[..., None]:
    """Write alerts (and resolutions) through the app's journal writer: into its read
    model and its hub at the next positions, on the app's own event loop."""

    def publish_all(*alerts: dict[str, Any]) -> None:
        async def run() -> None:
            for alert in alerts:
                await app.state.writer.write(alert)

        assert client.portal is not None
        client.portal.call(run)

    return publish_all


# -- pages, access -------------------------------------------------------------------------


def test_root_redirects_to_the_wall_and_the_page_needs_no_token(app: FastAPI) -> None:
    with TestClient(app) as anonymous:
        response = anonymous.get("/", follow_redirects=False)
        assert response.status_code in (302, 307) and response.headers["location"] == "wall/"
        page = anonymous.get("/")
        assert page.status_code == 200 and '<html lang="zh-CN">' in page.text
        for name, kind in (("js/main.js", "javascript"), ("wall.css", "text/css")):
            assert kind in anonymous.get(f"/wall/{name}").headers["content-type"]


@pytest.mark.parametrize("path", ["/api/alerts", "/api/centers", "/api/me", "/metrics"])
def test_no_token_is_401_everywhere_but_health(app: FastAPI, path: str) -> None:
    with TestClient(app) as anonymous:
        response = anonymous.get(path)
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert anonymous.get(path, headers={"Authorization": "Bearer svt_x.y"}).status_code == 401
        assert anonymous.get("/healthz").status_code == 200


def test_ops_sees_metrics_and_health_only(client: TestClient, tokens: dict[str, str]) -> None:
    ops = as_(tokens, "ops")
    assert client.get("/metrics", headers=ops).status_code == 200
    assert client.get("/api/alerts", headers=ops).status_code == 403
    assert client.get("/api/centers", headers=ops).status_code == 403


def test_a_token_in_the_query_string_works_for_the_page(
    app: FastAPI, tokens: dict[str, str]
) -> None:
    with TestClient(app) as anonymous:
        me = anonymous.get("/api/me", params={"token": tokens["director"]}).json()
    assert me == {"name": "李主任", "role": "director", "center": "451224"}


def test_a_revoked_token_is_refused_at_once(
    client: TestClient, tokens: dict[str, str], store: TokenStore
) -> None:
    director = as_(tokens, "director")
    assert client.get("/api/alerts", headers=director).status_code == 200
    store.revoke(tokens["director"])
    assert client.get("/api/alerts", headers=director).status_code == 401


# -- the API -----------------------------------------------------------------------------------


def test_api_alerts_filters_and_pages(client: TestClient, publish: Callable[..., None]) -> None:
    publish(
        make_alert(1, severity="red", center_id="451221", raised_at="2026-11-20T10:00:00+08:00"),
        make_alert(2, severity="yellow", center_id="451224", raised_at="2026-11-21T10:00:00+08:00"),
        make_alert(3, severity="red", center_id="451224103", raised_at="2026-11-22T10:00:00+08:00"),
        make_alert(4, rule_id="fee.overcharge", raised_at="2026-11-23T10:00:00+08:00"),
    )

    def cases(**params: Any) -> list[str]:
        page = client.get("/api/alerts", params=params).json()
        return [a["case_id"][-1] for a in page["items"]]

    assert cases() == ["4", "3", "2", "1"]
    assert cases(severity="red") == ["4", "3", "1"]
    assert cases(rule_id="fee.overcharge") == ["4"]
    assert cases(center_id="451224") == ["2"]
    assert cases(center_id="451224", below=True) == ["3", "2"]
    assert cases(since="2026-11-21T00:00:00+08:00", until="2026-11-23T00:00:00+08:00") == ["3", "2"]
    page = client.get("/api/alerts", params={"limit": 2, "offset": 1}).json()
    assert page["total"] == 4 and [a["case_id"][-1] for a in page["items"]] == ["3", "2"]
    assert page["seq"] == 3 and page["items"][0]["status"] == "open"


def walls_ahead(
    client: TestClient, app: FastAPI, publish: Callable[..., None], *, stored: int
) -> AlertHub:
    """`stored` alerts in the read model, and one more on the walls only: its
    transaction not done (a database slow or down). Returns the app's hub."""
    publish(*(make_alert(n) for n in range(1, stored + 1)))
    hub: AlertHub = app.state.hub
    hub.ahead_of_store(stored)

    async def ahead() -> None:
        hub.apply(stored, make_alert(stored + 1))

    assert client.portal is not None
    client.portal.call(ahead)
    return hub


def test_api_alerts_says_the_position_its_read_model_holds(
    client: TestClient, app: FastAPI, publish: Callable[..., None]
) -> None:
    """An alert on the walls whose transaction does not come (a database that is down)
    is not in the page once the read waited its time (`SHOWN_WAIT`), so the page's
    position must not count it: a wall applies the socket's messages after that position
    to the list it fetched."""
    walls_ahead(client, app, publish, stored=2)
    page = client.get("/api/alerts").json()
    assert page["seq"] == 1 and len(page["items"]) == 2


def test_a_read_waits_for_a_slow_database_not_for_one_found_down(
    client: TestClient, app: FastAPI, publish: Callable[..., None], monkeypatch: Any
) -> None:
    """With the walls ahead of the read model, a read waits (at most `SHOWN_WAIT`) for
    the read model to hold what they show; while the feed finds the database down,
    nothing will be stored meanwhile, so it answers at once from what it holds."""
    hub = walls_ahead(client, app, publish, stored=1)
    waited: list[int] = []

    async def wait_for(seq: int, timeout: float) -> bool:
        waited.append(seq)
        return False

    monkeypatch.setattr(hub, "wait_for", wait_for)
    feed = app.state.services.feed
    feed.database_ok = False
    page = client.get("/api/alerts").json()
    assert waited == [] and page["seq"] == 0 and len(page["items"]) == 1
    feed.database_ok = True
    client.get("/api/alerts")
    assert waited == [1]


@pytest.mark.parametrize(
    "query",
    [
        {"severity": "orange"},
        {"limit": 0},
        {"limit": 501},
        {"status": "lost"},
        {"since": "2026-11-21T00:00:00"},
    ],
)
def test_api_alerts_rejects_bad_parameters(client: TestClient, query: dict[str, Any]) -> None:
    assert client.get("/api/alerts", params=query).status_code == 422


def test_a_director_sees_only_their_center_and_below(
    client: TestClient, publish: Callable[..., None], tokens: dict[str, str]
) -> None:
    publish(
        make_alert(1, center_id="451221"),
        make_alert(2, center_id="451224"),
        make_alert(3, center_id="451224103"),
    )
    director = as_(tokens, "director")
    page = client.get("/api/alerts", headers=director).json()
    assert [a["center_id"] for a in page["items"]] == ["451224103", "451224"]
    assert page["total"] == 2
    other = make_alert(1, center_id="451221")["alert_id"]
    # another county's alert is "not there" for them, as a missing one is (no probing)
    assert client.get(f"/api/alerts/{other}", headers=director).status_code == 404
    assert (
        client.get("/api/alerts", params={"center_id": "451221"}, headers=director).status_code
        == 403
    )
    assert set(client.get("/api/centers", headers=director).json()) == {"451224", "451224103"}
    assert client.post(f"/api/alerts/{other}/acknowledge", headers=director).status_code == 404


def test_the_lifecycle_through_the_api_with_its_history(
    client: TestClient,
    publish: Callable[..., None],
    tokens: dict[str, str],
    registry: CollectorRegistry,
) -> None:
    publish(make_alert(1, center_id="451224103"), make_alert(2, center_id="451224103"))
    one, two = (
        make_alert(1, center_id="451224103")["alert_id"],
        make_alert(2, center_id="451224103")["alert_id"],
    )
    director = as_(tokens, "director")

    acked = client.post(f"/api/alerts/{one}/acknowledge", json={"note": "已签收"}, headers=director)
    assert acked.status_code == 200 and acked.json()["status"] == "acknowledged"
    twice = client.post(f"/api/alerts/{one}/acknowledge")
    assert twice.status_code == 409
    # each refusal says why, in Chinese, for the person who clicked
    assert twice.json()["detail"] == "此预警当前为「已签收」，不能签收"
    undecided = client.post(f"/api/alerts/{one}/resolve", json={"note": "x"})
    assert undecided.status_code == 422
    assert undecided.json()["detail"].startswith("办结须选择处置结果：已核实、")
    resolved = client.post(
        f"/api/alerts/{one}/resolve", json={"disposition": "rectified", "note": "已整改"}
    )
    assert resolved.status_code == 200
    body = resolved.json()
    assert body["status"] == "resolved" and body["disposition"] == "rectified"
    assert [(h["action"], h["by"]["name"], h["by"]["role"]) for h in body["history"]] == [
        ("acknowledge", "李主任", "director"),
        ("resolve", "王监察", "inspector"),
    ]
    assert all(h["at"] and h["seq"] for h in body["history"])
    again = client.post(f"/api/alerts/{one}/resolve", json={"disposition": "verified"})
    assert again.status_code == 409  # resolving twice is refused
    assert again.json()["detail"] == "此预警当前为「已办结」，不能办结"

    by_inspector = client.post(f"/api/alerts/{two}/appeal", json={"reason": "数据错误"})
    assert by_inspector.status_code == 403
    assert by_inspector.json()["detail"] == "纪检监察人员不能对预警申诉"
    no_reason = client.post(f"/api/alerts/{two}/appeal", json={}, headers=director)
    assert no_reason.status_code == 422 and no_reason.json()["detail"] == "申诉须说明理由"
    appealed = client.post(
        f"/api/alerts/{two}/appeal", json={"reason": "数据错误"}, headers=director
    )
    assert appealed.json()["status"] == "appealed"
    assert client.post(f"/api/alerts/{two}/appeal/accept", headers=director).status_code == 403
    withdrawn = client.post(f"/api/alerts/{two}/appeal/accept", json={"note": "摘牌"})
    assert withdrawn.json()["status"] == "withdrawn"
    assert client.get(f"/api/alerts/{two}").json()["history"][-1]["note"] == "摘牌"
    assert client.post("/api/alerts/nope/acknowledge").status_code == 404
    counted = registry.get_sample_value(
        "supervisor_web_lifecycle_changes_total", {"action": "resolve"}
    )
    assert counted == 1


def test_a_rejected_appeal_goes_back_to_where_it_was(
    client: TestClient, publish: Callable[..., None], tokens: dict[str, str]
) -> None:
    publish(make_alert(1, center_id="451224"))
    one = make_alert(1, center_id="451224")["alert_id"]
    client.post(f"/api/alerts/{one}/acknowledge")
    client.post(f"/api/alerts/{one}/appeal", json={"reason": "r"}, headers=as_(tokens, "director"))
    back = client.post(f"/api/alerts/{one}/appeal/reject", json={"note": "理由不成立"})
    assert back.json()["status"] == "acknowledged"


def test_healthz_without_consumer(client: TestClient, publish: Callable[..., None]) -> None:
    publish(make_alert(1), make_alert(2), make_resolution(make_alert(2)))
    body = client.get("/healthz").json()
    assert body == {
        "status": "ok",
        "kafka_connected": False,
        "consumer": "disabled",
        "topics": {},
        "last_message_at": None,
        "database": {"backend": "sqlite", "ready": True, "answers": True},
        "journal_position": 2,
        "alerts": 2,
        "resolved_alerts": 1,
        "websocket_clients": 0,
    }


def test_openapi_documents_the_routes(
    settings: Settings, store: TokenStore, tokens: dict[str, str]
) -> None:
    app = create_app(
        settings.with_(api_docs=True),
        registry=CollectorRegistry(),
        start_consumer=False,
        center_names=CENTERS,
        tokens=store,
    )
    with TestClient(app, headers=as_(tokens, "ops")) as client:
        paths = client.get("/openapi.json").json()["paths"]
    assert {"/api/alerts", "/api/alerts/{alert_id}", "/api/alerts/{alert_id}/resolve"} <= set(paths)


# -- WebSocket ----------------------------------------------------------------------------


def ws_url(token: str, after: int | None = None) -> str:
    return f"/ws/alerts?token={token}" + ("" if after is None else f"&after={after}")


#: The test client sends the inspector's token in a header by default; a socket opened
#: with a token in its URL (as the wall does) clears it.
NO_HEADER = {"Authorization": ""}


def test_websocket_snapshot_live_and_changes(
    client: TestClient,
    publish: Callable[..., None],
    tokens: dict[str, str],
    registry: CollectorRegistry,
) -> None:
    publish(make_alert(1), make_alert(2))
    with client.websocket_connect(ws_url(tokens["inspector"])) as socket:
        snapshot = socket.receive_json()
        assert snapshot["type"] == "snapshot" and snapshot["seq"] == 1
        assert [a["case_id"][-1] for a in snapshot["alerts"]] == ["2", "1"]
        assert registry.get_sample_value("supervisor_web_websocket_clients") == 1
        publish(make_alert(3, severity="yellow"))
        live = socket.receive_json()
        assert (live["type"], live["seq"], live["alert"]["case_id"][-1]) == ("alert", 2, "3")
        client.post(f"/api/alerts/{make_alert(1)['alert_id']}/acknowledge")
        change = socket.receive_json()
        assert (change["type"], change["seq"], change["alert"]["status"]) == (
            "change",
            3,
            "acknowledged",
        )
        assert change["alert"]["last_change"]["by"]["name"] == "王监察"


def test_a_batch_client_gets_every_message_once_in_order_singly_or_in_batch_frames(
    client: TestClient, publish: Callable[..., None], tokens: dict[str, str]
) -> None:
    with client.websocket_connect(ws_url(tokens["inspector"]) + "&batch=1") as socket:
        assert socket.receive_json()["type"] == "snapshot"
        publish(*(make_alert(n) for n in range(1, 31)))  # faster than one frame each
        seen: list[int] = []
        frames = []
        while len(seen) < 30:
            frame = socket.receive_json()
            frames.append(frame["type"])
            messages = frame["messages"] if frame["type"] == "batch" else [frame]
            seen.extend(m["seq"] for m in messages if m["type"] == "alert")
    assert seen == list(range(30))
    assert set(frames) <= {"alert", "batch"}


def test_a_client_that_says_its_position_gets_exactly_what_it_missed(
    client: TestClient, publish: Callable[..., None], tokens: dict[str, str]
) -> None:
    publish(make_alert(1), make_alert(2))
    with client.websocket_connect(ws_url(tokens["inspector"])) as socket:
        last = socket.receive_json()["seq"]
    publish(make_alert(3))
    client.post(f"/api/alerts/{make_alert(2)['alert_id']}/acknowledge")
    with client.websocket_connect(ws_url(tokens["inspector"], after=last)) as socket:
        first, second = socket.receive_json(), socket.receive_json()
        assert [(first["type"], first["seq"]), (second["type"], second["seq"])] == [
            ("alert", 2),
            ("change", 3),
        ]
        publish(make_alert(4))
        assert socket.receive_json()["seq"] == 4  # then the live flow, nothing twice


def test_a_directors_socket_never_sees_another_center(
    client: TestClient, publish: Callable[..., None], tokens: dict[str, str]
) -> None:
    publish(make_alert(1, center_id="451221"), make_alert(2, center_id="451224103"))
    with client.websocket_connect(ws_url(tokens["director"]), headers=NO_HEADER) as socket:
        snapshot = socket.receive_json()
        assert [a["center_id"] for a in snapshot["alerts"]] == ["451224103"]
        publish(make_alert(3, center_id="451221"), make_alert(4, center_id="451224"))
        assert socket.receive_json()["alert"]["center_id"] == "451224"


@pytest.mark.parametrize(
    "url,headers,code",
    [
        ("/ws/alerts", {}, 4401),
        ("/ws/alerts?token=svt_nope.nope", {}, 4401),
        ("ops", {}, 4403),
        ("inspector", {"origin": "https://evil.example"}, 4403),
    ],
)
def test_the_socket_checks_token_role_and_origin(
    client: TestClient, tokens: dict[str, str], url: str, headers: dict[str, str], code: int
) -> None:
    if url in tokens:
        url = ws_url(tokens[url])
    with (
        client.websocket_connect(url, headers={**NO_HEADER, **headers}) as socket,
        pytest.raises(WebSocketDisconnect) as closed,
    ):
        socket.receive_json()
    assert closed.value.code == code


def test_a_client_that_falls_behind_is_closed_with_1013(
    settings: Settings, store: TokenStore, tokens: dict[str, str]
) -> None:
    app = create_app(settings, start_consumer=False, center_names=CENTERS, tokens=store)
    app.state.hub.client_queue = 1
    with TestClient(app) as client, client.websocket_connect(ws_url(tokens["inspector"])) as socket:
        socket.receive_json()
        hub: AlertHub = app.state.hub

        def flood() -> None:  # straight to the hub, in one step: faster than any socket
            for n in range(5):
                hub.publish(make_alert(n))

        assert client.portal is not None
        client.portal.call(flood)
        with pytest.raises(WebSocketDisconnect) as closed:
            while True:
                socket.receive_json()
        assert closed.value.code == 1013


def test_each_app_has_its_own_metrics(settings: Settings, store: TokenStore) -> None:
    first = create_app(settings, start_consumer=False, center_names=CENTERS, tokens=store)
    second = create_app(settings, start_consumer=False, center_names=CENTERS, tokens=store)
    assert first.state.metrics.registry is not second.state.metrics.registry


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
    assert hub.recent()[0]["resolution"] == resolution
    assert feed.handle_alert(value, _ms(clock.now)) is False  # read twice: nothing changes
    assert hub.recent()[0]["status"] == "withdrawn"
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
    assert feed.handle_alert(json.dumps(resolution).encode(), _ms(clock.now)) is False
    assert len(hub) == 0
    assert registry.get_sample_value("supervisor_web_alerts_malformed_total") == 0
    assert feed.handle_alert(json.dumps(alert).encode(), _ms(clock.now)) is True
    assert hub.recent(status="withdrawn")[0]["resolution"] == resolution
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
    assert hub.recent()[0]["status"] == "open"
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


def test_feed_applies_records_at_their_offsets_and_skips_what_it_read_before(
    feed: AlertFeed, feed_hub: AlertHub, clock: FakeClock
) -> None:
    assert feed.handle_alert(json.dumps(make_alert(1)).encode(), _ms(clock.now), 10) is True
    assert feed_hub.head == 10
    assert feed.handle_alert(json.dumps(make_alert(2)).encode(), _ms(clock.now), 10) is False
    assert feed.handle_alert(json.dumps(make_alert(2)).encode(), _ms(clock.now), 11) is True
    assert [a["seq"] for a in feed_hub.recent()] == [11, 10]


def test_feed_refuses_a_second_partition(
    feed: AlertFeed, feed_hub: AlertHub, registry: CollectorRegistry
) -> None:
    class Record:
        partition, offset, timestamp = 1, 0, None
        value = json.dumps(make_alert(1)).encode()

    feed._on_alert_record(Record())
    assert len(feed_hub) == 0
    assert registry.get_sample_value("supervisor_web_alerts_malformed_total") == 1


def test_an_open_socket_is_closed_when_its_token_is_revoked(
    client: TestClient,
    tokens: dict[str, str],
    store: TokenStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import supervisor.web.streaming as streaming

    monkeypatch.setattr(streaming, "TOKEN_RECHECK_SECONDS", 0.05)
    with client.websocket_connect(ws_url(tokens["director"]), headers=NO_HEADER) as socket:
        assert socket.receive_json()["type"] == "snapshot"
        store.revoke(tokens["director"])
        with pytest.raises(WebSocketDisconnect) as closed:
            socket.receive_json()
    assert closed.value.code == 4401


def test_a_position_ahead_of_the_journal_gets_a_snapshot(
    client: TestClient, publish: Callable[..., None], tokens: dict[str, str]
) -> None:
    """The topic was recreated: positions started again below what the page holds."""
    publish(make_alert(1))
    with client.websocket_connect(ws_url(tokens["inspector"], after=99)) as socket:
        first = socket.receive_json()
    assert first["type"] == "snapshot" and first["seq"] == 0


# -- figures, board, per-center statistics --------------------------------------------------


def fact(case: str, center: str, kind: str, at: str, status: str, **extra: Any) -> dict[str, Any]:
    return {
        "case_id": case,
        "center_id": center,
        "event_type": kind,
        "occurred_at": at,
        "status": status,
        "accepted_at": extra.get("accepted_at"),
        "concluded_at": extra.get("concluded_at"),
        "deadline": extra.get("deadline"),
        "on_time": extra.get("on_time"),
    }


@pytest.fixture
def figures_app(settings: Settings, store: TokenStore) -> FastAPI:
    noon = datetime.fromisoformat("2026-11-27T12:00:00+08:00")
    return create_app(
        settings, start_consumer=False, center_names=CENTERS, tokens=store, clock=lambda: noon
    )


def seed_figures(client: TestClient, app: FastAPI) -> None:
    """Three cases accepted this morning, one concluded on time; two alerts."""
    accepted = "2026-11-27T09:00:00+08:00"
    facts = [
        fact(f"c{n}", center, "accepted", accepted, "open", accepted_at=accepted)
        for n, center in enumerate(["451221", "451224", "451224103"])
    ]
    facts.append(
        fact(
            "c0",
            "451221",
            "concluded",
            "2026-11-27T10:00:00+08:00",
            "concluded",
            accepted_at=accepted,
            concluded_at="2026-11-27T10:00:00+08:00",
            deadline="2026-12-01T00:00:00+08:00",
            on_time=True,
        )
    )
    topic = app.state.settings.topic_facts
    arrived = int(datetime.fromisoformat("2026-11-27T10:01:00+08:00").timestamp() * 1000)

    async def run() -> None:
        await app.state.read_state.ensure_ready()
        records = [
            Record(topic, 0, offset, json.dumps(f).encode(), arrived)
            for offset, f in enumerate(facts)
        ]
        await app.state.alert_feed.project(app.state.projection, records)
        await app.state.writer.write(
            make_alert(1, center_id="451224103", raised_at="2026-11-27T08:00:00+08:00")
        )
        await app.state.writer.write(
            make_alert(
                2, center_id="451224", severity="yellow", raised_at="2026-11-26T08:00:00+08:00"
            )
        )

    assert client.portal is not None
    client.portal.call(run)


def test_headline_figures_in_scope(figures_app: FastAPI, tokens: dict[str, str]) -> None:
    with TestClient(figures_app, headers=as_(tokens, "inspector")) as client:
        seed_figures(client, figures_app)
        everything = client.get("/api/stats/headline").json()
        county = client.get("/api/stats/headline", headers=as_(tokens, "director")).json()
    assert everything["accepted_today"] == 3 and everything["open_cases"] == 2
    assert everything["concluded_today"] == 1 and everything["on_time_rate_today"] == 1.0
    assert everything["open_alerts"] == {"red": 1, "yellow": 1}
    assert everything["last_event_at"] == "2026-11-27T10:00:00+08:00"
    assert everything["seq"] == 1  # the journal position the figures include
    assert county["accepted_today"] == 2 and county["concluded_today"] == 0
    assert county["on_time_rate_today"] is None


def test_the_board_is_the_hierarchy_coloured_by_the_worst_open_alert(
    figures_app: FastAPI, tokens: dict[str, str]
) -> None:
    with TestClient(figures_app, headers=as_(tokens, "director")) as client:
        seed_figures(client, figures_app)
        tiles = {t["code"]: t for t in client.get("/api/board").json()}
    assert "451221" not in tiles and tiles["451224"]["level"] == "county"
    assert tiles["451224"]["worst"] == "yellow" and tiles["451224"]["open_cases"] == 1
    township = next(t for t in tiles.values() if t["parent"] == "451224" and t["red"])
    assert township["code"] == "451224103" and township["worst"] == "red"


def test_per_center_statistics_over_a_period(figures_app: FastAPI, tokens: dict[str, str]) -> None:
    with TestClient(figures_app, headers=as_(tokens, "inspector")) as client:
        seed_figures(client, figures_app)
        rows = client.get(
            "/api/stats/centers", params={"start": "2026-11-26", "end": "2026-11-27"}
        ).json()
        narrow = client.get(
            "/api/stats/centers",
            params={"start": "2026-11-27", "end": "2026-11-27", "center_id": "451224"},
        ).json()
        assert (
            client.get(
                "/api/stats/centers", params={"start": "2026-11-27", "end": "2026-11-26"}
            ).status_code
            == 422
        )
    by_center = {r["center_id"]: r for r in rows}
    assert by_center["451221"]["concluded"] == 1 and by_center["451221"]["on_time_rate"] == 1.0
    assert by_center["451224"]["alerts"] == {"deadline.overdue": 1}
    assert [r["center_id"] for r in narrow] == ["451224", "451224103"]
    assert narrow[1]["alerts"] == {"deadline.overdue": 1}


def test_personal_data_never_reaches_the_api_or_the_socket_unmasked(
    client: TestClient, publish: Callable[..., None], tokens: dict[str, str]
) -> None:
    """Whoever wrote the record (an older worker, a person's note), the web service shows
    no ID number or mobile number unmasked."""
    leaky = {**make_alert(1), "message": "申请人身份证 452701199001011234，电话 13800001111"}
    publish(leaky)
    alert_id = leaky["alert_id"]
    client.post(f"/api/alerts/{alert_id}/acknowledge", json={"note": "已电话联系 13912345678"})
    shown = json.dumps(client.get(f"/api/alerts/{alert_id}").json(), ensure_ascii=False)
    with client.websocket_connect(ws_url(tokens["inspector"])) as socket:
        snapshot = json.dumps(socket.receive_json(), ensure_ascii=False)
    for text in (shown, snapshot):
        assert "452701199001011234" not in text and "13800001111" not in text
        assert "13912345678" not in text
        assert "4527**********1234" in text and "138****1111" in text


def test_below_an_ancestor_of_ones_own_center_shows_ones_own_part(
    client: TestClient, publish: Callable[..., None], tokens: dict[str, str]
) -> None:
    publish(make_alert(1, center_id="451221"), make_alert(2, center_id="451224103"))
    director = as_(tokens, "director")
    city = client.get(
        "/api/alerts", params={"center_id": "451200", "below": True}, headers=director
    )
    assert city.status_code == 200
    assert [a["center_id"] for a in city.json()["items"]] == ["451224103"]
    other = client.get(
        "/api/alerts", params={"center_id": "451221", "below": True}, headers=director
    )
    assert other.status_code == 403


def test_the_feed_counts_nothing_twice_when_it_reads_the_topics_again(
    feed: AlertFeed, registry: CollectorRegistry, settings: Settings
) -> None:
    """A consumer made again after a Kafka error reads from the start: records already
    read are skipped, for the statistics and the counters alike."""

    class Record:
        def __init__(self, offset: int) -> None:
            self.partition, self.offset, self.timestamp = 0, offset, None
            self.value = json.dumps(make_alert(offset)).encode()

    handle = feed._once(settings.topic_alerts, feed._on_alert_record)
    for _ in range(2):  # the topic read twice
        for offset in range(3):
            handle(Record(offset))
    received = {"rule_id": "deadline.overdue", "severity": "red"}
    assert registry.get_sample_value("supervisor_web_alerts_received_total", received) == 3
