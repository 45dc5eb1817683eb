"""The API over the read model, on SQLite and on a real PostgreSQL: search, one alert,
one case, the figures by group, the exports, a director's scope through every new route,
a restart that reads no history, and a database that goes down and comes back."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import warnings
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from fastapi import FastAPI
from openpyxl import load_workbook
from prometheus_client import CollectorRegistry
from starlette.exceptions import StarletteDeprecationWarning

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

from supervisor.auth import TokenStore
from supervisor.settings import Settings
from supervisor.store.db import Database
from supervisor.store.projection import Record
from supervisor.web import services as web_services
from supervisor.web.app import create_app
from supervisor.web.journal import lifecycle_record
from tests.databases import PostgresCluster
from tests.store.test_projection import fact
from tests.web.test_app import CENTERS, as_, ws_url
from tests.web.test_hub import make_alert

NOON = datetime.fromisoformat("2026-11-27T12:00:00+08:00")
CASE = "451224103-2026-0000042"
BY = {"name": "王监察", "role": "inspector"}


def build(database_url: str, store: TokenStore) -> FastAPI:
    return create_app(
        Settings.from_env({}),
        registry=CollectorRegistry(),
        start_consumer=False,
        center_names=CENTERS,
        tokens=store,
        clock=lambda: NOON,
        database=Database(database_url),
    )


def write(client: TestClient, app: FastAPI, *records: dict[str, Any]) -> None:
    async def run() -> None:
        for record in records:
            await app.state.writer.write(record)

    assert client.portal is not None
    client.portal.call(run)


def project(client: TestClient, app: FastAPI, topic: str, *values: dict[str, Any]) -> None:
    async def run() -> None:
        await app.state.read_state.ensure_ready()
        records = [
            Record(topic, 0, n, json.dumps(v, ensure_ascii=False).encode())
            for n, v in enumerate(values)
        ]
        await app.state.alert_feed.project(app.state.projection, records)

    assert client.portal is not None
    client.portal.call(run)


def seed(client: TestClient, app: FastAPI) -> None:
    """Alerts in three centers (one in the director's county, 451224, below it 451224103),
    a case of 451224103 with its facts and events, and one of 451221."""
    mine = {
        **make_alert(1, center_id="451224103"),
        "case_id": CASE,
        "alert_id": f"deadline.overdue:{CASE}",
        "details": {"department": "东兰县民政局", "item_name": "社会团体成立登记"},
    }
    theirs = {**make_alert(2, center_id="451221"), "details": {"department": "南丹县民政局"}}
    write(client, app, mine, theirs, make_alert(3, center_id="451224", severity="yellow"))
    write(client, app, lifecycle_record(mine["alert_id"], "acknowledge", by=BY, at=NOON))
    settings = app.state.settings
    accepted = "2026-11-26T09:00:00+08:00"
    project(
        client,
        app,
        settings.topic_facts,
        fact(CASE, "accepted", accepted, "open", center_id="451224103", accepted_at=accepted,
             deadline="2026-11-27T00:00:00+08:00", department="东兰县民政局",
             statutory_deadline="2026-12-24T00:00:00+08:00"),
        fact("451221-2026-0000002", "accepted", accepted, "open", center_id="451221",
             accepted_at=accepted, department="南丹县民政局"),
    )  # fmt: skip
    project(
        client,
        app,
        settings.topic_events,
        {
            "schema_version": "1",
            "event_id": "e1",
            "case_id": CASE,
            "center_id": "451224103",
            "type": "submitted",
            "occurred_at": "2026-11-26T08:30:00+08:00",
            "applicant": {"name": "李小梅", "id_number": "452727198805060021"},
        },
    )


@pytest.fixture
def app(database_url: str, store: TokenStore) -> FastAPI:
    return build(database_url, store)


@pytest.fixture
def client(app: FastAPI, tokens: dict[str, str]) -> Iterator[TestClient]:
    with TestClient(app, headers=as_(tokens, "inspector")) as client:
        seed(client, app)
        yield client


def test_search_by_case_department_and_free_text(client: TestClient) -> None:
    def total(**params: Any) -> int:
        answer = client.get("/api/alerts", params=params)
        assert answer.status_code == 200, answer.text
        return int(answer.json()["total"])

    assert total() == 3 and client.get("/api/alerts").json()["total_exact"] is True
    assert total(case_id=CASE) == 1
    assert total(department="南丹县民政局") == 1
    assert total(q="东兰县") == 2  # the center's name: 451224 and 451224103's own name
    assert total(q="社会团体 登记") == 1
    assert total(q="no such words") == 0
    first, second = (
        client.get("/api/alerts", params={"limit": 2, "offset": o}).json() for o in (0, 2)
    )
    ids = [a["alert_id"] for a in first["items"] + second["items"]]
    assert len(ids) == len(set(ids)) == 3


def test_one_alert_keeps_its_history(client: TestClient) -> None:
    shown = client.get(f"/api/alerts/deadline.overdue:{CASE}").json()
    assert shown["status"] == "acknowledged"
    assert [h["action"] for h in shown["history"]] == ["acknowledge"]


def test_a_case_with_its_masked_timeline_deadline_and_alerts(client: TestClient) -> None:
    case = client.get(f"/api/cases/{CASE}").json()
    assert case["deadline"] == "2026-11-27T00:00:00+08:00" and case["status"] == "open"
    assert case["statutory_deadline"] == "2026-12-24T00:00:00+08:00"
    assert case["department"] == "东兰县民政局"
    assert [a["alert_id"] for a in case["alerts"]] == [f"deadline.overdue:{CASE}"]
    (event,) = case["timeline"]
    assert event["applicant"] == {"name": "李*梅", "id_number": "4527**********0021"}
    assert "李小梅" not in json.dumps(case, ensure_ascii=False)
    assert case["step_names"] == {}  # the shipped rules have no item catalogue
    assert client.get("/api/cases/no-such-case").status_code == 404


def test_a_director_reads_nothing_of_another_county_through_any_route(
    client: TestClient, tokens: dict[str, str]
) -> None:
    director = as_(tokens, "director")  # 451224: their county and 451224103 below it
    listed = client.get("/api/alerts", headers=director).json()
    assert {a["center_id"] for a in listed["items"]} == {"451224", "451224103"}
    assert client.get("/api/alerts", params={"q": "南丹"}, headers=director).json()["total"] == 0
    other = "deadline.overdue:451221-2026-0000002"
    assert client.get(f"/api/alerts/{other}", headers=director).status_code == 404
    assert client.get("/api/cases/451221-2026-0000002", headers=director).status_code == 404
    assert client.get(f"/api/cases/{CASE}", headers=director).status_code == 200
    period = {"start": "2026-11-01", "end": "2026-11-30"}
    for route in ("/api/stats/centers", "/api/stats/figures"):
        rows = client.get(route, params=period, headers=director).json()
        assert rows and {r["center_id"] for r in rows} <= {"451224", "451224103"}, route
    figures = client.get(
        "/api/stats/figures", params={**period, "center_id": "451221"}, headers=director
    )
    assert figures.status_code == 403
    exported = client.get("/api/export/alerts", headers=director)
    assert exported.status_code == 200 and "451221" not in exported.content.decode("utf-8-sig")
    centers = client.get("/api/export/centers", params=period, headers=director)
    assert "451221" not in centers.content.decode("utf-8-sig")
    headline = client.get("/api/stats/headline", headers=director).json()
    assert headline["open_cases"] == 1 and headline["open_alerts"] == {"red": 1, "yellow": 1}


def test_figures_by_department(client: TestClient) -> None:
    rows = client.get(
        "/api/stats/figures",
        params={"start": "2026-11-26", "end": "2026-11-26", "by": "department"},
    ).json()
    shown = {(r["center_id"], r["department"]): r["accepted"] for r in rows}
    assert shown == {("451221", "南丹县民政局"): 1, ("451224103", "东兰县民政局"): 1}


def test_exports_open_with_chinese_headers_in_csv_and_xlsx(client: TestClient) -> None:
    answer = client.get("/api/export/alerts", params={"severity": "red"})
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    assert "filename*=UTF-8''" in answer.headers["content-disposition"]
    assert answer.content.startswith("\ufeff".encode())  # Excel and WPS read it as UTF-8
    rows = list(csv.reader(io.StringIO(answer.content.decode("utf-8-sig"))))
    assert rows[0][:3] == ["预警编号", "规则", "等级"] and len(rows) == 3
    assert {row[2] for row in rows[1:]} == {"红牌"}
    sheet = client.get("/api/export/alerts", params={"format": "xlsx"})
    book = load_workbook(io.BytesIO(sheet.content))
    values = list(book.worksheets[0].iter_rows(values_only=True))
    assert values[0][:3] == ("预警编号", "规则", "等级") and len(values) == 4
    centers = client.get(
        "/api/export/centers",
        params={"start": "2026-11-01", "end": "2026-11-30", "format": "xlsx"},
    )
    header = next(
        load_workbook(io.BytesIO(centers.content)).worksheets[0].iter_rows(values_only=True)
    )
    assert header[:3] == ("中心编码", "中心名称", "受理")
    assert any(str(h).startswith("预警:") for h in header)


def test_a_restarted_service_reads_its_history_from_the_database(
    database_url: str, store: TokenStore, tokens: dict[str, str]
) -> None:
    first = build(database_url, store)
    with TestClient(first, headers=as_(tokens, "inspector")) as client:
        seed(client, first)
        head = first.state.hub.head
    second = build(database_url, store)
    with TestClient(second, headers=as_(tokens, "inspector")) as client:
        assert client.get("/api/alerts").json()["total"] == 3
        assert second.state.hub.head == head  # where the journal stood, read from the table
        with client.websocket_connect(ws_url(tokens["inspector"])) as socket:
            snapshot = socket.receive_json()
        assert snapshot["seq"] == head and len(snapshot["alerts"]) == 3
        write(client, second, make_alert(9, center_id="451221"))
        assert second.state.hub.head == head + 1


async def test_a_database_that_goes_down_is_waited_for_and_nothing_is_lost(
    store: TokenStore, tokens: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL stops under the service: /healthz says degraded, requests get 503,
    a record being projected waits; it starts again: the record is there, once."""
    monkeypatch.setattr(web_services, "READY_TIMEOUT", 1.0)
    cluster = PostgresCluster()
    cluster.start()
    try:
        app = build(cluster.create_database("down"), store)
        client = TestClient(app, headers=as_(tokens, "inspector"))
        with client:
            write(client, app, make_alert(1))
            cluster.pause()
            assert client.portal is not None
            waiting = client.portal.start_task_soon(app.state.writer.write, make_alert(2))
            await asyncio.sleep(1.5)
            assert not waiting.done()  # waiting for the database, with its record
            assert client.get("/healthz").json()["status"] == "degraded"
            assert client.get("/api/alerts").status_code == 503
            cluster.resume()
            assert await asyncio.wrap_future(waiting) == 1
            assert client.get("/api/alerts").json()["total"] == 2
            for _ in range(60):  # the next look at the database (at most ~11 s) says so
                if client.get("/healthz").json()["status"] == "ok":
                    break
                await asyncio.sleep(0.25)
            assert client.get("/healthz").json()["status"] == "ok"
    finally:
        cluster.stop()
