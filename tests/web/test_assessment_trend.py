"""The assessment's trend (GET /api/assessment/trend), on SQLite and PostgreSQL: each
unit's score, grade and rank in each of the months before a period, oldest first, equal
point for point to what GET /api/assessment says of that month; a director sees only
their county and the centers below it; every bad request is refused, none fails."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from starlette.exceptions import StarletteDeprecationWarning

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

from supervisor.auth import TokenStore
from supervisor.store.projection import Record
from tests.store.test_projection import fact
from tests.web.test_app import as_
from tests.web.test_history_api import build, seed

Point = tuple[float, str, int] | None


@pytest.fixture
def app(database_url: str, store: TokenStore) -> FastAPI:
    return build(database_url, store)


@pytest.fixture
def client(app: FastAPI, tokens: dict[str, str]) -> Iterator[TestClient]:
    """The service with the history tests' seed (November) and an inspector's token."""
    with TestClient(app, headers=as_(tokens, "inspector")) as test_client:
        seed(test_client, app)
        yield test_client


def project_facts(client: TestClient, app: FastAPI, *facts: dict[str, Any]) -> None:
    """Case facts into the read model, after the seed's (offsets from 10: the projection
    skips what it has read)."""

    async def run() -> None:
        topic = app.state.settings.topic_facts
        records = [
            Record(topic, 0, 10 + n, json.dumps(f, ensure_ascii=False).encode())
            for n, f in enumerate(facts)
        ]
        await app.state.alert_feed.project(app.state.projection, records)

    assert client.portal is not None
    client.portal.call(run)


def october(client: TestClient, app: FastAPI) -> None:
    """October: 南丹县 (451221) concludes a case in time (100), 三石镇 (451224103) one
    late (0); 东兰县 (451224) itself handles nothing."""
    project_facts(
        client,
        app,
        fact("451221-2026-0000901", "concluded", "2026-10-15T10:00:00+08:00", "concluded",
             accepted_at="2026-10-12T09:00:00+08:00", concluded_at="2026-10-15T10:00:00+08:00",
             deadline="2026-10-20T00:00:00+08:00", on_time=True),
        fact("451224103-2026-0000902", "concluded", "2026-10-21T10:00:00+08:00", "concluded",
             center_id="451224103", department="东兰县民政局",
             accepted_at="2026-10-09T09:00:00+08:00", concluded_at="2026-10-21T10:00:00+08:00",
             deadline="2026-10-16T00:00:00+08:00", on_time=False),
    )  # fmt: skip


def trend(client: TestClient, query: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    response = client.get(f"/api/assessment/trend?{query}", headers=headers)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def lines(answer: dict[str, Any]) -> dict[str, list[Point]]:
    """Each unit's points as (score, grade, rank), None where it was not assessed."""
    return {
        unit["key"]: [
            None if p is None else (p["score"], p["grade"], p["rank"]) for p in unit["points"]
        ]
        for unit in answer["units"]
    }


def ranking(
    client: TestClient, query: str, headers: dict[str, str] | None = None
) -> dict[str, Point]:
    response = client.get(f"/api/assessment?{query}", headers=headers)
    assert response.status_code == 200, response.text
    return {u["key"]: (u["score"], u["grade"], u["rank"]) for u in response.json()["units"]}


def test_the_trend_of_each_center_month_by_month(client: TestClient, app: FastAPI) -> None:
    october(client, app)
    answer = trend(client, "period=2026-11&months=3")
    assert [p["period"] for p in answer["periods"]] == ["2026-09", "2026-10", "2026-11"]
    assert [p["period_label"] for p in answer["periods"]][-1] == "2026年11月"
    assert answer["periods"][0]["first_day"] == "2026-09-01"
    assert answer["periods"][-1]["last_day"] == "2026-11-30"
    assert answer["by"] == "center" and answer["period"] == "2026-11"
    assert [g["name"] for g in answer["grades"]] == ["优秀", "良好", "合格", "不合格"]
    assert lines(answer) == {
        "451224": [None, None, (90.0, "优秀", 1)],
        "451221": [None, (100.0, "优秀", 1), (70.0, "合格", 2)],
        "451224103": [None, (0.0, "不合格", 2), (70.0, "合格", 2)],
    }
    assert list(lines(answer)) == ["451224", "451221", "451224103"]  # November's ranking
    assert {u["key"]: u["center_name"] for u in answer["units"]}["451221"] == "南丹县政务服务中心"
    # every point is what the assessment of its month says
    for at, period in enumerate(["2026-09", "2026-10", "2026-11"]):
        said = ranking(client, f"period={period}")
        shown = {key: line[at] for key, line in lines(answer).items() if line[at] is not None}
        assert shown == said, period


def test_a_director_sees_their_county_and_below_in_every_point(
    client: TestClient, app: FastAPI, tokens: dict[str, str]
) -> None:
    october(client, app)
    director = as_(tokens, "director")  # 451224 (东兰县) and 451224103 below it
    answer = trend(client, "period=2026-11&months=2", director)
    assert lines(answer) == {
        "451224": [None, (90.0, "优秀", 1)],
        "451224103": [(0.0, "不合格", 1), (70.0, "合格", 2)],  # ranked among theirs only
    }
    below = trend(client, "period=2026-11&months=2&center_id=451224103", director)
    assert lines(below) == {"451224103": [(0.0, "不合格", 1), (70.0, "合格", 1)]}
    assert "451221" not in json.dumps(answer) + json.dumps(below)
    refused = client.get("/api/assessment/trend?period=2026-11&center_id=451221", headers=director)
    assert refused.status_code == 403


def test_by_county_department_and_quarter(
    client: TestClient, app: FastAPI, tokens: dict[str, str]
) -> None:
    october(client, app)
    counties = trend(client, "period=2026-11&months=2&by=county")
    assert counties["by"] == "county"
    assert set(lines(counties)) == {"451221", "451224"}  # 三石镇 rolled up into 东兰县
    for at, period in enumerate(["2026-10", "2026-11"]):
        said = ranking(client, f"period={period}&by=county")
        shown = {k: line[at] for k, line in lines(counties).items() if line[at] is not None}
        assert shown == said, period
    director = as_(tokens, "director")
    theirs = trend(client, "period=2026-11&months=2&by=county", director)
    assert list(lines(theirs)) == ["451224"]
    departments = trend(client, "period=2026-11&months=2&by=department")
    assert departments["by"] == "department"
    assert {u["key"]: u["group"] for u in departments["units"]}["451224103/东兰县民政局"] == (
        "东兰县民政局"
    )
    for at, period in enumerate(["2026-10", "2026-11"]):
        said = ranking(client, f"period={period}&by=department")
        shown = {k: line[at] for k, line in lines(departments).items() if line[at] is not None}
        assert shown == said, period
    quarters = trend(client, "period=2026-Q4&months=2")
    assert [p["period"] for p in quarters["periods"]] == ["2026-Q3", "2026-Q4"]
    assert {k: line[-1] for k, line in lines(quarters).items()} == ranking(client, "period=2026-Q4")
    # the earliest year: the trend stops there, it does not fail
    assert [p["period"] for p in trend(client, "period=2000-02&months=6")["periods"]] == [
        "2000-01",
        "2000-02",
    ]


def test_bad_requests_are_refused_and_none_fails(
    client: TestClient, tokens: dict[str, str]
) -> None:
    director = as_(tokens, "director")
    refused = [
        ("period=2026-13", director, 422),
        ("period=" + "9" * 17, director, 422),
        ("months=6", director, 422),  # no period
        ("period=2026-11&months=0", director, 422),
        ("period=2026-11&months=25", director, 422),
        ("period=2026-11&months=six", director, 422),
        ("period=2026-11&months=1e9", director, 422),
        ("period=2026-11&by=floor", director, 422),
        ("period=2026-11&center_id=" + "4" * 40, director, 422),
        ("period=2026-11&center_id=%00", director, 422),  # no center's code
        ("period=2026-11&center_id=451221", director, 403),  # another county's
        ("period=2026-11", as_(tokens, "ops"), 403),
        ("period=2026-11", {"Authorization": "Bearer svt_nope"}, 401),
    ]
    for query, headers, status in refused:
        answer = client.get(f"/api/assessment/trend?{query}", headers=headers)
        assert answer.status_code == status, (query, answer.text)
    assert len(trend(client, "period=2026-11&months=24")["periods"]) == 24
    assert trend(client, "period=2026-11&months=1")["units"]  # one month: November's
    # what is not a center's code is refused by every view of the assessment, as by the
    # report, instead of answering an empty assessment
    for path in ("/api/assessment", "/api/assessment/export?format=xlsx&"):
        joiner = "" if path.endswith("&") else "?"
        answer = client.get(f"{path}{joiner}period=2026-11&center_id=abc", headers=director)
        assert answer.status_code == 422, (path, answer.text)
        assert answer.json()["detail"] == "服务中心编码（center_id）应为 6 位或 9 位数字"
    # a refusal says what a period is, never what was sent (a phone typed into the box)
    for path in ("/api/assessment/trend", "/api/assessment", "/api/report"):
        answer = client.get(f"{path}?period=13800001111", headers=director)
        assert answer.status_code == 422, (path, answer.text)
        assert "考核期（period）应为月份" in answer.text and "13800001111" not in answer.text
