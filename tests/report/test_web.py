"""`GET /api/report` and `GET /api/assessment/export` over the hand-made month (month.py),
on SQLite and PostgreSQL: each caller gets the report and the files of their own scope
(a director of 金城江区 never sees 南丹县, and is refused its report: 403); a bad period
is 422, an unreadable scheme 503 in Chinese; no request is answered with a 500."""

from __future__ import annotations

import asyncio
import io
import warnings
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

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
from supervisor.store.queries import ReadModel
from supervisor.web.app import create_app
from tests.report.month import NAMES, NOW, seed
from tests.report.pdftools import text_of


def build(database_url: str, store: TokenStore, settings: Settings | None = None) -> FastAPI:
    return create_app(
        settings or Settings.from_env({}),
        registry=CollectorRegistry(),
        start_consumer=False,
        center_names=NAMES,
        tokens=store,
        clock=lambda: NOW,
        database=Database(database_url),
    )


@pytest.fixture
def store(tmp_path: Path) -> TokenStore:
    return TokenStore(tmp_path / "tokens.json")


@pytest.fixture
def seeded(database_url: str) -> str:
    async def run() -> None:
        database = Database(database_url)
        await database.upgrade()
        try:
            await seed(ReadModel(database, "Asia/Shanghai"))
        finally:
            await database.dispose()

    asyncio.run(run())
    return database_url


@pytest.fixture
def people(store: TokenStore) -> dict[str, dict[str, str]]:
    issued = {
        "inspector": store.issue("inspector", "王监察"),
        "jcj": store.issue("director", "李主任", center="451202"),
        "nandan": store.issue("director", "赵主任", center="451221"),
        "ops": store.issue("ops", "运维"),
    }
    return {who: {"Authorization": f"Bearer {token}"} for who, token in issued.items()}


@pytest.fixture
def client(seeded: str, store: TokenStore) -> Iterator[TestClient]:
    with TestClient(build(seeded, store)) as test_client:
        yield test_client


def test_each_caller_gets_the_report_of_their_own_scope(
    client: TestClient, people: dict[str, dict[str, str]]
) -> None:
    mine = client.get("/api/report?period=2026-11", headers=people["jcj"])
    assert mine.status_code == 200, mine.text
    assert mine.headers["content-type"] == "application/pdf"
    name = quote("电子监察通报_2026-11_451202.pdf", safe="")
    assert mine.headers["content-disposition"].endswith(f"filename*=UTF-8''{name}")
    text = text_of(mine.content)
    assert "金城江区政务服务电子监察通报" in text and "金城江区东江镇便民服务中心" in text
    assert "南丹" not in text and "河池市政务服务中心" not in text

    city = client.get("/api/report?period=2026-11", headers=people["inspector"])
    assert city.status_code == 200, city.text
    text = text_of(city.content)
    assert "河池市政务服务电子监察通报" in text and "南丹县政务服务中心" in text

    county = client.get("/api/report?period=2026-11&center_id=451221", headers=people["inspector"])
    assert county.status_code == 200 and "金城江区" not in text_of(county.content)

    refused = [
        ("period=2026-11&center_id=451202", "nandan", 403),  # another county's report
        ("period=2026-11&center_id=451200", "jcj", 403),  # the city's
        ("period=2026-13", "jcj", 422),
        ("period=" + "9" * 17, "jcj", 422),
        ("period=2026-11&center_id=" + "4" * 17, "inspector", 422),
        ("period=2026-11", "ops", 403),
    ]
    for query, who, status in refused:
        answer = client.get(f"/api/report?{query}", headers=people[who])
        assert answer.status_code == status, (query, who, answer.text)
    assert client.get("/api/report?period=2026-11").status_code == 401


def test_a_report_of_what_is_not_a_centers_code_is_refused(
    client: TestClient, people: dict[str, dict[str, str]]
) -> None:
    """`center_id` is 6 or 9 digits, as `supervisor report --scope` requires: anything
    else is 422 in Chinese, without the value sent. A well-formed code the registry does
    not know is reported on, as the CLI does (an unregistered center is supervised too):
    its report has no figures but its own."""
    for code in ("abc", "45120", "4512021", "45120210a", "４５１２０２"):
        answer = client.get(
            f"/api/report?period=2026-11&center_id={code}", headers=people["inspector"]
        )
        assert answer.status_code == 422, (code, answer.text)
        assert answer.json()["detail"] == "服务中心编码（center_id）应为 6 位或 9 位数字"
        assert code not in answer.text
    unknown = client.get("/api/report?period=2026-11&center_id=999999", headers=people["inspector"])
    assert unknown.status_code == 200, unknown.text
    text = text_of(unknown.content)
    assert "999999政务服务电子监察通报" in text and "南丹" not in text and "金城江" not in text
    outside = client.get("/api/report?period=2026-11&center_id=999999", headers=people["jcj"])
    assert outside.status_code == 403


def test_the_assessment_as_files_in_each_callers_scope(
    client: TestClient, people: dict[str, dict[str, str]]
) -> None:
    def workbook(who: str, query: str) -> list[list[object]]:
        answer = client.get(f"/api/assessment/export?{query}", headers=people[who])
        assert answer.status_code == 200, answer.text
        sheet = load_workbook(io.BytesIO(answer.content), read_only=True).active
        assert sheet is not None
        return [list(row) for row in sheet.iter_rows(values_only=True)]

    header, *rows = workbook("inspector", "period=2026-11&by=county")
    assert header[:7] == ["排名", "县（市、区）", "中心编码", "分组", "得分", "等级", "较上期"]
    assert [(row[2], row[4], row[5]) for row in rows] == [
        ("451200", 100.0, "优秀"),
        ("451202", 33.3, "不合格"),
        ("451221", 0.0, "不合格"),
    ]
    _, *mine = workbook("jcj", "period=2026-11")
    assert [(row[2], row[4]) for row in mine] == [("451202101", 100.0), ("451202", 20.0)]
    json = client.get("/api/assessment?period=2026-11", headers=people["jcj"]).json()
    assert [(u["center_id"], u["score"]) for u in json["units"]] == [
        (row[2], row[4]) for row in mine
    ]

    pdf = client.get(
        "/api/assessment/export?period=2026-11&format=pdf&center_id=451221",
        headers=people["nandan"],
    )
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    text = text_of(pdf.content)
    assert "南丹县政务服务中心" in text and "0.0" in text and "金城江区" not in text

    for query, who, status in [
        ("period=2026-11&center_id=451221", "jcj", 403),
        ("period=2026-11&format=csv", "jcj", 422),
        ("period=2026-11&by=floor", "jcj", 422),
        ("period=2026-Q5", "inspector", 422),
        ("period=2026-11", "ops", 403),
    ]:
        answer = client.get(f"/api/assessment/export?{query}", headers=people[who])
        assert answer.status_code == status, (query, who, answer.text)


def test_an_unreadable_scheme_is_503_in_chinese(
    seeded: str, store: TokenStore, people: dict[str, dict[str, str]], tmp_path: Path
) -> None:
    rules = tmp_path / "rules"
    (rules / "assessment").mkdir(parents=True)
    (rules / "assessment" / "scheme.yaml").write_text("name: [", encoding="utf-8")
    settings = Settings.from_env({"SUPERVISOR_RULES_DIR": str(rules)})
    with TestClient(build(seeded, store, settings)) as client:
        for path in ("/api/report?period=2026-11", "/api/assessment/export?period=2026-11"):
            answer = client.get(path, headers=people["inspector"])
            assert answer.status_code == 503, answer.text
            assert "考核评分方案有误" in answer.json()["detail"]
