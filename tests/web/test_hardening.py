"""The web service as an attacker probes it: every item here was once a 500, a leak or
a refusal it should not have been, and each test fails on the code before its fix.

- dates and periods out of range (year 9999) are 422, not 500;
- silences are bounded in time (start within a year, at most 31 days), and listing
  survives any stored silence;
- the API documentation is off by default, and behind a token when on;
- `/metrics` is for the ops role only, and `/healthz` tells an anonymous caller up or
  down and nothing more;
- alert ids holding `/`, `%`, spaces, `..` or Chinese can be read and acted on;
- "not yours" and "not there" are the same 404 on every alert route;
- every response carries security headers, and request bodies are bounded (413);
- the Kafka feed survives any record: counted, logged where it was, never echoed.

Built like tests/web/test_app.py: no Kafka, the hub fed directly on the app's loop.
"""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any, get_args
from urllib.parse import quote
from zoneinfo import ZoneInfo

import httpx
import pytest
from fastapi import FastAPI
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry
from starlette.exceptions import StarletteDeprecationWarning
from starlette.types import Message

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

from supervisor.auth import TokenStore
from supervisor.notify.silences import Silence, SilenceState
from supervisor.settings import Settings
from supervisor.store import rows
from supervisor.store.db import Database
from supervisor.store.projection import Projection, Topics
from supervisor.store.projection import Record as ProjectedRecord
from supervisor.web.app import create_app
from supervisor.web.bounds import EARLIEST_YEAR, LATEST_YEAR
from supervisor.web.consumer import AlertFeed
from supervisor.web.figures import STATS_MAX_DAYS
from supervisor.web.hub import MAX_DEPTH, MAX_RECORD_BYTES, AlertHub
from supervisor.web.journal import STATUSES
from supervisor.web.metrics import WebMetrics
from supervisor.web.queries import AlertStatus
from supervisor.web.security import MAX_BODY_BYTES, BodyLimit, content_security_policy
from supervisor.web.silencing import SILENCE_MAX_DURATION, SILENCE_MAX_LEAD
from tests.web.test_app import CENTERS
from tests.web.test_hub import make_alert

ZONE = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 27, 9, 0, tzinfo=ZONE)
#: Case ids a center may well send (the contract allows any string up to 128 characters).
HOSTILE_CASE_IDS = (
    "HC/2026/000123",
    "100%-done",
    "%2F-literal",
    "with space",
    "../../etc/passwd",
    "..",
    "河池/南丹 第1号",
    "x/appeal",
    "x/acknowledge",
    "x/appeal/accept",
    "?query#fragment",
)


def build_app(store: TokenStore, **changes: Any) -> FastAPI:
    """The app as tests/web/test_app.py builds it, with a fixed clock."""
    settings = Settings.from_env({}).with_(wall_recent=5, **changes)
    return create_app(
        settings,
        registry=CollectorRegistry(),
        start_consumer=False,
        center_names=CENTERS,
        tokens=store,
        clock=lambda: NOW,
    )


@pytest.fixture
def app(store: TokenStore) -> FastAPI:
    return build_app(store)


@pytest.fixture
def client(app: FastAPI, tokens: dict[str, str]) -> Iterator[TestClient]:
    with TestClient(app, headers=as_(tokens, "inspector"), raise_server_exceptions=False) as client:
        yield client


def as_(tokens: dict[str, str], role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens[role]}"}


def apply(client: TestClient, app: FastAPI, *records: dict[str, Any]) -> None:
    """Apply journal records (alerts, silence records) at the next positions, on the
    app's loop, as the Kafka feed would."""

    async def run() -> None:
        for record in records:
            await app.state.writer.write(record)

    assert client.portal is not None
    client.portal.call(run)


def alert_for(case_id: str, center_id: str = "451224103") -> dict[str, Any]:
    return {**make_alert(1, center_id=center_id), "case_id": case_id} | {
        "alert_id": f"deadline.overdue:{case_id}"
    }


# -- item 4: dates and periods ----------------------------------------------------------


def test_a_period_ending_in_year_9999_is_422_not_500(client: TestClient) -> None:
    response = client.get("/api/stats/centers", params={"start": "2026-12-01", "end": "9999-12-31"})
    assert response.status_code == 422
    assert f"{EARLIEST_YEAR}–{LATEST_YEAR}" in response.json()["detail"]


@pytest.mark.parametrize(
    ("start", "end", "status"),
    [
        ("0001-01-01", "2026-12-01", 422),
        (f"{EARLIEST_YEAR - 1}-12-31", "2026-12-01", 422),
        ("2026-12-01", f"{LATEST_YEAR + 1}-01-01", 422),
        ("2026-01-01", "2026-01-01", 200),
        ("2026-01-01", date(2026, 1, 1) + timedelta(days=STATS_MAX_DAYS - 1), 200),
        ("2026-01-01", date(2026, 1, 1) + timedelta(days=STATS_MAX_DAYS), 422),
        ("2026-12-02", "2026-12-01", 422),
    ],
)
def test_a_period_is_bounded_in_years_and_length(
    client: TestClient, start: str, end: Any, status: int
) -> None:
    response = client.get("/api/stats/centers", params={"start": start, "end": str(end)})
    assert response.status_code == status, response.text


@pytest.mark.parametrize(
    "moment", ["9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00+14:00", "2101-01-01T00:00:00Z"]
)
@pytest.mark.parametrize("name", ["since", "until"])
def test_alert_filters_far_in_time_are_422(client: TestClient, name: str, moment: str) -> None:
    response = client.get("/api/alerts", params={name: moment})
    assert response.status_code == 422
    assert name in response.json()["detail"]


# -- item 5: silences ----------------------------------------------------------------------


def silence(**fields: Any) -> dict[str, Any]:
    return {"center_id": "451221", "reason": "系统迁移", **fields}


def test_a_silence_in_year_9999_is_refused_and_the_list_still_answers(
    client: TestClient,
) -> None:
    made = client.post(
        "/api/silences",
        json=silence(starts_at="9999-12-01T00:00:00+08:00", until="9999-12-20T00:00:00+08:00"),
    )
    assert made.status_code == 422
    assert client.get("/api/silences").status_code == 200


@pytest.mark.parametrize(
    ("starts_at", "until", "status"),
    [
        # within a year ahead, and at most 31 days long
        (NOW + SILENCE_MAX_LEAD - timedelta(days=1), NOW + SILENCE_MAX_LEAD, 201),
        (NOW + SILENCE_MAX_LEAD + timedelta(hours=1), NOW + SILENCE_MAX_LEAD + timedelta(1), 422),
        (None, NOW + SILENCE_MAX_DURATION, 201),
        (None, NOW + SILENCE_MAX_DURATION + timedelta(minutes=1), 422),
        (NOW + timedelta(days=10), NOW + timedelta(days=10) + SILENCE_MAX_DURATION, 201),
        # a little in the past is "now"; far in the past is refused
        (NOW - timedelta(hours=1), NOW + timedelta(hours=2), 201),
        (NOW - timedelta(days=2), NOW + timedelta(hours=2), 422),
        (datetime(1, 1, 1, tzinfo=UTC), NOW + timedelta(hours=2), 422),
        (None, datetime(9999, 12, 31, 23, 59, tzinfo=UTC), 422),
    ],
)
def test_a_silence_starts_within_a_year_and_lasts_at_most_31_days(
    client: TestClient, starts_at: datetime | None, until: datetime, status: int
) -> None:
    fields: dict[str, Any] = {"until": until.isoformat()}
    if starts_at is not None:
        fields["starts_at"] = starts_at.isoformat()
    response = client.post("/api/silences", json=silence(**fields))
    assert response.status_code == status, response.text
    assert client.get("/api/silences").status_code == 200


def stored_silence(starts: datetime, ends: datetime, silence_id: str) -> Silence:
    """A silence as it may stand in the journal's state, unchecked: written by an older
    web service (which let one end in year 9999) or by another writer (naive times)."""
    return Silence.model_construct(
        id=silence_id,
        center_id="451221",
        below=False,
        rule=None,
        case_id=None,
        starts_at=starts,
        ends_at=ends,
        reason="旧记录",
        created_by={"name": "某人", "role": "inspector"},
        created_at=starts,
        lifted_at=None,
        lifted_by=None,
        lift_reason="",
        expired_at=None,
    )


def test_listing_survives_any_silence_already_stored(client: TestClient, app: FastAPI) -> None:
    """Stored silences never make a 500: one near year 9999 is listed (pending), one
    with naive times (no clock can judge it) is left out and is 404 alone."""
    far = datetime(9999, 12, 31, 12, tzinfo=ZONE)
    naive = NOW.replace(tzinfo=None)
    kept = [
        stored_silence(far - timedelta(days=10), far, "sil-far000000000"),
        stored_silence(naive, naive + timedelta(days=1), "sil-naive0000000"),
        stored_silence(NOW - timedelta(hours=1), NOW + timedelta(hours=1), "sil-live00000000"),
        stored_silence(NOW - timedelta(days=3), NOW - timedelta(days=2), "sil-ended0000000"),
    ]
    hub: AlertHub = app.state.hub
    hub.journal.silences = SilenceState.model_construct(silences={s.id: s for s in kept})
    listed = client.get("/api/silences")
    assert listed.status_code == 200
    statuses = [(item["id"], item["status"]) for item in listed.json()["items"]]
    assert statuses == [
        ("sil-live00000000", "active"),
        ("sil-far000000000", "pending"),
        ("sil-ended0000000", "expired"),
    ]
    for state in ("active", "pending", "expired", "lifted"):
        assert client.get("/api/silences", params={"state": state}).status_code == 200
    assert client.get("/api/silences/sil-far000000000").status_code == 200
    assert client.get("/api/silences/sil-naive0000000").status_code == 404
    lift = client.post("/api/silences/sil-naive0000000/lift", json={"reason": "不再需要"})
    assert lift.status_code == 404


# -- item 6: the API documentation -----------------------------------------------------


DOCS = ("/docs", "/redoc", "/openapi.json")


@pytest.mark.parametrize("path", DOCS)
def test_the_api_docs_are_off_by_default(
    client: TestClient, tokens: dict[str, str], path: str
) -> None:
    assert Settings.from_env({}).api_docs is False
    assert client.get(path, headers={"Authorization": ""}).status_code == 404
    assert client.get(path).status_code == 404


@pytest.mark.parametrize("path", DOCS)
def test_the_api_docs_when_on_need_a_token_of_any_role(
    store: TokenStore, tokens: dict[str, str], path: str
) -> None:
    app = build_app(store, api_docs=True)
    with TestClient(app) as anonymous:
        assert anonymous.get(path).status_code == 401
        assert anonymous.get(path, params={"token": "svt_x.y"}).status_code == 401
        for role in ("inspector", "director", "ops"):
            assert anonymous.get(path, headers=as_(tokens, role)).status_code == 200


def test_the_docs_page_passes_a_query_token_to_its_schema_under_its_own_policy(
    store: TokenStore, tokens: dict[str, str]
) -> None:
    app = build_app(store, api_docs=True)
    with TestClient(app) as anonymous:
        page = anonymous.get("/docs", params={"token": tokens["director"]})
        schema = anonymous.get("/openapi.json", params={"token": tokens["director"]})
    assert f"openapi.json?token={quote(tokens['director'], safe='')}" in page.text
    assert schema.status_code == 200 and "/api/alerts" in schema.json()["paths"]
    policy = page.headers["content-security-policy"]
    nonce = policy.split("'nonce-")[1].split("'")[0]
    assert f'<script nonce="{nonce}">' in page.text and "<script>" not in page.text
    assert "frame-ancestors 'none'" in policy and page.headers["x-frame-options"] == "DENY"


@pytest.mark.parametrize(
    ("raw", "value"), [("", False), ("false", False), ("0", False), ("true", True), ("ON", True)]
)
def test_the_api_docs_setting(raw: str, value: bool) -> None:
    assert Settings.from_env({"SUPERVISOR_API_DOCS": raw}).api_docs is value


def test_a_misspelt_api_docs_setting_is_an_error() -> None:
    with pytest.raises(ValueError, match="SUPERVISOR_API_DOCS"):
        Settings.from_env({"SUPERVISOR_API_DOCS": "ture"})


# -- item 7: /metrics and /healthz -------------------------------------------------------


@pytest.mark.parametrize(("role", "status"), [("director", 403), ("inspector", 403), ("ops", 200)])
def test_metrics_are_for_the_ops_role_only(
    client: TestClient, tokens: dict[str, str], role: str, status: int
) -> None:
    assert client.get("/metrics", headers=as_(tokens, role)).status_code == status


def test_healthz_tells_an_anonymous_caller_up_or_down_only(
    app: FastAPI, tokens: dict[str, str]
) -> None:
    with TestClient(app) as anonymous:
        assert anonymous.get("/healthz").json() == {"status": "ok"}
        bad = anonymous.get("/healthz", headers={"Authorization": "Bearer svt_x.y"})
        assert bad.status_code == 200 and bad.json() == {"status": "ok"}
        for role in ("ops", "director", "inspector"):
            known = anonymous.get("/healthz", headers=as_(tokens, role)).json()
            assert known["status"] == "ok" and "journal_position" in known


# -- item 8: alert ids of any case id ----------------------------------------------------


@asynccontextmanager
async def running(app: FastAPI) -> AsyncIterator[FastAPI]:
    """`app` inside its lifespan, as uvicorn runs it: httpx's ASGI transport does not
    run the lifespan, and without it the read model's SQLite connections outlive the
    test's event loop (their threads then call back into a closed loop)."""
    async with app.router.lifespan_context(app):
        yield app


@asynccontextmanager
async def served(app: FastAPI, token: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client for `app` through httpx's ASGI transport, which decodes the path once, as
    uvicorn does (the TestClient decodes it twice: `%252F` would reach the app as `/`).
    The app must be `running`."""
    transport = httpx.ASGITransport(app=app)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver", headers=headers
    ) as client:
        yield client


@pytest.mark.parametrize("case_id", HOSTILE_CASE_IDS)
async def test_an_alert_of_any_case_id_can_be_read_and_acted_on(
    store: TokenStore, tokens: dict[str, str], case_id: str
) -> None:
    async with running(build_app(store)) as app:
        await answers_every_action_on(app, tokens, alert_for(case_id))


async def answers_every_action_on(
    app: FastAPI, tokens: dict[str, str], alert: dict[str, Any]
) -> None:
    await app.state.writer.write(alert)
    alert_id = alert["alert_id"]
    encoded = quote(alert_id, safe="")  # %2F for /, %25 for %: the careful client
    async with served(app, tokens["inspector"]) as client:
        shown = await client.get(f"/api/alerts/{encoded}")
        assert shown.status_code == 200 and shown.json()["alert_id"] == alert_id
        if not any(mark in alert_id for mark in ("%", "?", "#", "..")):
            plain = await client.get(f"/api/alerts/{quote(alert_id, safe='/:')}")  # `/` as is
            assert plain.status_code == 200 and plain.json()["alert_id"] == alert_id
        acked = await client.post(f"/api/alerts/{encoded}/acknowledge", json={"note": "已签收"})
        assert acked.status_code == 200, acked.text
        assert acked.json()["alert_id"] == alert_id and acked.json()["status"] == "acknowledged"
        resolved = await client.post(
            f"/api/alerts/{encoded}/resolve", json={"disposition": "verified"}
        )
        assert resolved.status_code == 200 and resolved.json()["status"] == "resolved"


async def test_appeal_routes_of_an_id_that_ends_like_an_action(
    store: TokenStore, tokens: dict[str, str]
) -> None:
    """`…/<id>/appeal/accept` is accept on <id>, even when <id> ends in "/appeal"."""
    async with running(build_app(store)) as app:
        await appeal_and_accept(app, tokens, alert_for("x/appeal"))


async def appeal_and_accept(app: FastAPI, tokens: dict[str, str], alert: dict[str, Any]) -> None:
    await app.state.writer.write(alert)
    path = f"/api/alerts/{alert['alert_id']}"  # the `/` unencoded, on purpose
    async with served(app, tokens["director"]) as director:
        appealed = await director.post(f"{path}/appeal", json={"reason": "数据错误"})
        assert appealed.status_code == 200 and appealed.json()["alert_id"] == alert["alert_id"]
    async with served(app, tokens["inspector"]) as inspector:
        accepted = await inspector.post(f"{path}/appeal/accept")
        assert accepted.status_code == 200 and accepted.json()["status"] == "withdrawn"


# -- item 9: "not yours" is "not there" ---------------------------------------------------


ACTIONS: tuple[tuple[str, str, dict[str, Any] | None], ...] = (
    ("GET", "", None),
    ("POST", "/acknowledge", {"note": "x"}),
    ("POST", "/resolve", {"disposition": "verified"}),
    ("POST", "/appeal", {"reason": "数据错误"}),
    ("POST", "/appeal/accept", None),
    ("POST", "/appeal/reject", None),
)


@pytest.mark.parametrize(("method", "suffix", "body"), ACTIONS)
def test_another_countys_alert_looks_like_a_missing_one_to_a_director(
    client: TestClient,
    app: FastAPI,
    tokens: dict[str, str],
    method: str,
    suffix: str,
    body: dict[str, Any] | None,
) -> None:
    elsewhere = alert_for("HC-2026-1", center_id="451221")  # 南丹县, not 东兰县
    apply(client, app, elsewhere)
    director = as_(tokens, "director")
    head = app.state.hub.head
    answers = [
        client.request(method, f"/api/alerts/{alert_id}{suffix}", json=body, headers=director)
        for alert_id in (elsewhere["alert_id"], "deadline.overdue:HC-2026-none")
    ]
    assert [a.status_code for a in answers] == [404, 404]
    assert app.state.hub.head == head  # nothing written: the journal is as it was
    assert answers[0].json() == answers[1].json()
    assert answers[0].headers.get("content-length") == answers[1].headers.get("content-length")


# -- item 10: headers and body size -----------------------------------------------------


@pytest.mark.parametrize(
    ("path", "headers", "status"),
    [
        ("/wall/", {}, 200),
        ("/wall/js/main.js", {}, 200),
        ("/api/alerts", None, 200),
        ("/api/alerts", {"Authorization": "Bearer svt_x.y"}, 401),
        ("/healthz", {}, 200),
        ("/no/such/page", {}, 404),
    ],
)
def test_every_response_carries_the_security_headers(
    client: TestClient, path: str, headers: dict[str, str] | None, status: int
) -> None:
    response = client.get(path, headers=headers)
    assert response.status_code == status
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    policy = response.headers["content-security-policy"]
    assert "script-src 'self';" in policy and "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert "ws://testserver" in policy and "wss://testserver" in policy


def test_the_policy_names_only_a_well_formed_host() -> None:
    assert "ws://wall.example:8000" in content_security_policy("wall.example:8000")
    assert "ws://[::1]:8000" in content_security_policy("[::1]:8000")
    for host in (None, "", "evil.example; script-src *", "a b"):
        policy = content_security_policy(host)
        assert "ws:" not in policy and "*" not in policy


def test_the_wall_page_has_no_inline_script_or_style_for_the_policy_to_block(
    client: TestClient,
) -> None:
    page = client.get("/wall/").text
    assert "<script>" not in page and "<style" not in page and "style=" not in page
    assert '<script type="module" src="js/main.js"></script>' in page and 'href="wall.css"' in page


def test_a_body_over_the_limit_is_413(client: TestClient) -> None:
    big = {"note": "x" * MAX_BODY_BYTES}
    response = client.post("/api/alerts/a/acknowledge", json=big)
    assert response.status_code == 413
    assert response.headers["x-frame-options"] == "DENY"
    fits = client.post(
        "/api/alerts/a/acknowledge",
        content=b"{}" + b" " * (MAX_BODY_BYTES - 2),
        headers={"content-type": "application/json"},
    )
    assert fits.status_code == 404  # read in full, and handled: no such alert


def test_a_chunked_body_over_the_limit_is_413(client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"note": "'
        for _ in range(MAX_BODY_BYTES // 1024 + 1):
            yield b"x" * 1024
        yield b'"}'

    response = client.post(
        "/api/alerts/a/acknowledge", content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413


async def test_body_limit_refuses_chunks_without_running_the_app() -> None:
    ran: list[bytes] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        message = await receive()
        ran.append(message["body"])

    def receiver(*bodies: bytes) -> Callable[[], Any]:
        messages = [
            {"type": "http.request", "body": body, "more_body": i < len(bodies) - 1}
            for i, body in enumerate(bodies)
        ]

        async def receive() -> Message:
            return messages.pop(0)

        return receive

    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "http", "headers": []}
    await BodyLimit(app, limit=10)(scope, receiver(b"12345", b"67890", b"1"), send)
    assert ran == [] and sent[0]["status"] == 413
    await BodyLimit(app, limit=10)(scope, receiver(b"12345", b"67890"), send)
    assert ran == [b"1234567890"]  # under the limit, the app gets the whole body at once
    length = {"type": "http", "headers": [(b"content-length", b"11")]}
    sent.clear()
    await BodyLimit(app, limit=10)(length, receiver(b"x" * 11), send)
    assert sent[0]["status"] == 413 and ran == [b"1234567890"]


# -- the Kafka feed survives any record ------------------------------------------------------


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def feed(registry: CollectorRegistry) -> AlertFeed:
    settings = Settings.from_env({})
    hub = AlertHub(settings.wall_recent)
    return AlertFeed(settings, hub, WebMetrics(registry), clock=lambda: NOW)


def nested(depth: int) -> Any:
    value: Any = "底"
    for _ in range(depth):
        value = {"k": [value]}
    return value


class Record:
    """A Kafka record as aiokafka hands it over."""

    def __init__(self, value: bytes | None, offset: int = 7, timestamp: int | None = None) -> None:
        self.value, self.offset, self.timestamp, self.partition = value, offset, timestamp, 0


SECRET = "452701199001011234-SECRET-VALUE"

HOSTILE_RECORDS: tuple[bytes | None, ...] = (
    None,
    b"",
    b"\xff\xfe\x00garbage",
    b"[" * 100_000,  # RecursionError inside the JSON decoder
    json.dumps(nested(MAX_DEPTH + 5)).encode(),
    json.dumps({**make_alert(1), "details": nested(400)}).encode(),  # parses; re-encoding fails
    json.dumps({**make_alert(1), "message": "x" * MAX_RECORD_BYTES}).encode(),
    json.dumps({**make_alert(1), "severity": SECRET}).encode(),
    json.dumps({**make_alert(1), "raised_at": SECRET}).encode(),
    json.dumps({**make_alert(1), "alert_id": 5}).encode(),
    json.dumps({**make_alert(1), "rule_id": "r" * 10_000}).encode(),
    json.dumps({"kind": "lifecycle", "alert_id": "a", "action": SECRET}).encode(),
    json.dumps({"kind": "silence", "action": SECRET, "silence": {}}).encode(),
    json.dumps([1, 2, 3]).encode(),
    b"1e999999",
)


@pytest.mark.parametrize("value", HOSTILE_RECORDS, ids=range(len(HOSTILE_RECORDS)))
def test_the_feed_skips_any_alerts_record_counted_and_placed_never_echoed(
    feed: AlertFeed,
    registry: CollectorRegistry,
    caplog: pytest.LogCaptureFixture,
    value: bytes | None,
) -> None:
    caplog.set_level(logging.DEBUG, logger="supervisor.web.consumer")
    feed._on_alert_record(Record(value))
    assert registry.get_sample_value("supervisor_web_alerts_malformed_total") == 1
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert f"{feed._settings.topic_alerts}[0]@7" in logged
    assert SECRET not in logged and "xxxxxxxxxx" not in logged and "rrrrrrrrrr" not in logged
    assert len(logged) < 2000
    # ...and goes on with the next one; the hub still encodes everything it keeps
    feed._on_alert_record(Record(json.dumps(make_alert(2)).encode(), offset=8))
    assert len(feed._hub) == 1
    json.loads(feed._hub.snapshot())


def test_an_alert_nested_deep_cannot_break_the_api(
    client: TestClient, app: FastAPI, registry: CollectorRegistry
) -> None:
    """Before: accepted by the feed, then every `/api/alerts` answer failed to encode."""
    feed = AlertFeed(app.state.settings, app.state.hub, WebMetrics(registry), clock=lambda: NOW)
    value = json.dumps({**make_alert(1), "details": nested(400)}).encode()
    assert client.portal is not None
    client.portal.call(lambda: feed._on_alert_record(Record(value)))
    assert client.get("/api/alerts").status_code == 200


def test_a_kafka_timestamp_out_of_any_calendar_is_no_error(
    feed: AlertFeed, registry: CollectorRegistry
) -> None:
    for offset, timestamp in enumerate((2**62, 10**18, -(2**62))):
        value = json.dumps(make_alert(offset)).encode()
        feed._on_alert_record(Record(value, offset=offset, timestamp=timestamp))
    assert registry.get_sample_value("supervisor_web_alerts_malformed_total") == 0
    assert len(feed._hub) == 3


FACT = {
    "case_id": "HC-1",
    "center_id": "451221",
    "event_type": "accepted",
    "occurred_at": "2026-11-27T08:00:00+08:00",
    "status": "open",
    "accepted_at": "2026-11-27T08:00:00+08:00",
    "on_time": None,
}

HOSTILE_FACTS: tuple[bytes | None, ...] = (
    None,
    b"\xff",
    b"[" * 100_000,
    b"x" * (MAX_RECORD_BYTES + 1),
    json.dumps({**FACT, "occurred_at": "9999-12-31T23:59:59-12:00"}).encode(),
    json.dumps({**FACT, "occurred_at": "0001-01-01T00:00:00+14:00"}).encode(),
    json.dumps({**FACT, "accepted_at": "9999-12-31T23:00:00+00:00"}).encode(),
    json.dumps({**FACT, "status": SECRET}).encode(),
    json.dumps({**FACT, "case_id": ["a"]}).encode(),
    json.dumps("a string").encode(),
)


@pytest.mark.parametrize("value", HOSTILE_FACTS, ids=range(len(HOSTILE_FACTS)))
async def test_the_projection_skips_any_fact_counted_as_malformed(
    registry: CollectorRegistry,
    caplog: pytest.LogCaptureFixture,
    value: bytes | None,
) -> None:
    caplog.set_level(logging.DEBUG, logger="supervisor.web.consumer")
    settings = Settings.from_env({})
    feed, projection, database = await projected_feed(settings, registry)
    try:
        topic = settings.topic_facts
        await feed.project(
            projection,
            [
                ProjectedRecord(topic, 0, 7, value),
                ProjectedRecord(topic, 0, 8, json.dumps(FACT).encode()),
            ],
        )
    finally:
        await database.dispose()
    malformed = {"topic": settings.topic_facts, "result": "malformed"}
    written = {"topic": settings.topic_facts, "result": "written"}
    assert registry.get_sample_value("supervisor_web_projected_records_total", malformed) == 1
    assert registry.get_sample_value("supervisor_web_projected_records_total", written) == 1
    assert registry.get_sample_value("supervisor_web_alerts_malformed_total") == 0
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert f"{settings.topic_facts}[0]@7" in logged and SECRET not in logged


async def test_a_bug_while_reading_a_fact_is_counted_there_and_placed(
    registry: CollectorRegistry,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise LookupError("a bug")

    monkeypatch.setattr(rows, "fact_rows", broken)
    settings = Settings.from_env({})
    feed, projection, database = await projected_feed(settings, registry)
    try:
        record = ProjectedRecord(settings.topic_facts, 0, 42, json.dumps(FACT).encode())
        outcome = await feed.project(projection, [record])
    finally:
        await database.dispose()
    malformed = {"topic": settings.topic_facts, "result": "malformed"}
    assert registry.get_sample_value("supervisor_web_projected_records_total", malformed) == 1
    assert outcome.positions == {(settings.topic_facts, 0): 43}  # and the offset moved on
    assert f"{settings.topic_facts}[0]@42" in caplog.text and "LookupError" in caplog.text


async def projected_feed(
    settings: Settings, registry: CollectorRegistry
) -> tuple[AlertFeed, Projection, Database]:
    """A feed writing to an in-memory read model, as the web service's, without Kafka."""
    database = Database("sqlite://")
    await database.upgrade()
    topics = Topics(settings.topic_alerts, settings.topic_facts, settings.topic_events)
    projection = Projection(database, topics)
    hub = AlertHub(settings.wall_recent)
    feed = AlertFeed(settings, hub, WebMetrics(registry), clock=lambda: NOW, projection=projection)
    return feed, projection, database


# -- the feed, fuzzed: whatever the record, nothing escapes and everything still encodes ----

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(),
    st.text(st.characters(exclude_categories=["Cs"]), max_size=30),
    st.sampled_from(
        [
            "0001-01-01T00:00:00+14:00",
            "9999-12-31T23:59:59-14:00",
            "2026-11-27T09:00:00+08:00",
            "2026-11-27T09:00:00",
            "red",
            "yellow",
            "resolved",
            "lifecycle",
            "silence",
            "acknowledge",
            "451224",
        ]
    ),
)
_json = st.recursive(
    _scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=10,
)
#: Records of each kind the topics carry, right: the fuzzing changes a few fields each.
_BASES: tuple[dict[str, Any], ...] = (
    make_alert(1),
    {
        **make_alert(1),
        "status": "resolved",
        "resolved_at": "2026-11-27T09:00:00+08:00",
        "reason": "迟到事件",
    },
    {
        "kind": "lifecycle",
        "alert_id": make_alert(1)["alert_id"],
        "action": "acknowledge",
        "by": {"name": "王"},
        "at": "2026-11-27T09:00:00+08:00",
    },
    {
        "kind": "escalation",
        "alert_id": make_alert(1)["alert_id"],
        "level": 1,
        "at": "2026-11-27T09:00:00+08:00",
    },
    {"kind": "silence", "action": "create", "silence": {"id": "sil-1"}},
    FACT,
)
_KEYS = sorted({key for base in _BASES for key in base} | {"kind", "status", "details"})
_shaped = st.builds(
    lambda base, changes, dropped: {
        key: value for key, value in {**base, **changes}.items() if key not in dropped
    },
    st.sampled_from(_BASES),
    st.dictionaries(st.sampled_from(_KEYS), _json, max_size=3),
    st.sets(st.sampled_from(_KEYS), max_size=2),
)


@settings(max_examples=300, deadline=None)
@given(
    records=st.lists(
        st.one_of(
            _shaped.map(lambda d: json.dumps(d).encode()),
            _json.map(lambda d: json.dumps(d).encode()),
            st.binary(max_size=64),
        ),
        min_size=1,
        max_size=5,
    ),
    timestamp=st.one_of(  # Kafka's CreateTime: whatever the producer set, int64 ms
        st.none(),
        st.integers(min_value=-(2**63), max_value=2**63 - 1),
        st.sampled_from([-1, 0, 2**62, 10**18, 2**63 - 1]),
    ),
)
def test_no_record_escapes_the_feed_and_the_hub_still_encodes(
    records: list[bytes], timestamp: int | None
) -> None:
    registry = CollectorRegistry()
    settings_ = Settings.from_env({})
    hub = AlertHub(settings_.wall_recent)
    feed = AlertFeed(settings_, hub, WebMetrics(registry), clock=lambda: NOW)
    for offset, value in enumerate(records):
        feed.handle_alert(value, timestamp, offset)  # not through _guarded: nothing raises
    json.loads(hub.snapshot())
    for entry in hub.journal.select():
        json.dumps(entry.view())


def test_the_status_filter_knows_every_status_of_the_journal(client: TestClient) -> None:
    assert set(get_args(AlertStatus)) == set(STATUSES)
    for status in STATUSES:
        assert client.get("/api/alerts", params={"status": status}).status_code == 200
