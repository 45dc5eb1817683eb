"""The desk's API (orders, queues, sign-in, rules, 问责), on SQLite and PostgreSQL: an inspector
issues an order on an alert, the director finds it in their queue and replies, the
inspector closes it, every step in the order's history with who and when; a reply left
late raises `supervision.reply_overdue` (the clock moved, not slept), which the reply
closes; another county's director neither sees nor touches it; roles are enforced; a
signed-in browser acts with its CSRF value only."""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from starlette.exceptions import StarletteDeprecationWarning
from starlette.websockets import WebSocketDisconnect

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

from supervisor.auth import TokenStore
from supervisor.settings import Settings
from supervisor.store.db import Database
from supervisor.web.app import create_app
from supervisor.web.sessions import CSRF_HEADER
from tests.web.test_app import CENTERS
from tests.web.test_history_api import CASE, seed, write
from tests.web.test_hub import make_alert

NOON = datetime.fromisoformat("2026-11-27T12:00:00+08:00")  # a Friday
MINE = f"deadline.overdue:{CASE}"  # an alert of 451224103, below the director's 451224


class Clock:
    def __init__(self) -> None:
        self.now = NOON

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def people(store: TokenStore, tokens: dict[str, str]) -> dict[str, dict[str, str]]:
    other = store.issue("director", "赵主任", center="451221")
    header = {role: {"Authorization": f"Bearer {token}"} for role, token in tokens.items()}
    return {**header, "other": {"Authorization": f"Bearer {other}"}}


@pytest.fixture
def app(database_url: str, store: TokenStore, clock: Clock) -> FastAPI:
    return create_app(
        Settings.from_env({}),
        registry=CollectorRegistry(),
        start_consumer=False,
        center_names=CENTERS,
        tokens=store,
        clock=clock,
        database=Database(database_url),
    )


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        seed(test_client, app)
        yield test_client


def issue(client: TestClient, people: dict[str, dict[str, str]], **body: Any) -> dict[str, Any]:
    asked = {"alert_id": MINE, "requirement": "请核实超期原因，约谈窗口人员并整改", **body}
    response = client.post("/api/orders", json=asked, headers=people["inspector"])
    assert response.status_code == 201, response.text
    return dict(response.json())


def queue(client: TestClient, headers: dict[str, str]) -> dict[str, dict[str, Any]]:
    response = client.get("/api/queue", headers=headers)
    assert response.status_code == 200, response.text
    return {q["key"]: q for q in response.json()}


def test_an_order_goes_round_the_loop_between_the_two_roles(
    client: TestClient, app: FastAPI, people: dict[str, dict[str, str]], clock: Clock
) -> None:
    order = issue(client, people)
    order_id = order["order_id"]
    assert order["status"] == "issued" and order["center_id"] == "451224103"
    assert order["case_id"] == CASE and order["days"] == 5
    assert order["due_at"] == "2026-12-05T00:00:00+08:00"  # 5 working days after Friday
    waiting = queue(client, people["director"])["orders_to_answer"]
    assert [o["order_id"] for o in waiting["items"]] == [order_id] and waiting["total"] == 1

    clock.now = NOON + timedelta(days=1)
    reply = client.post(
        f"/api/orders/{order_id}/reply",
        json={"note": "已约谈窗口人员，办件已办结，电话 13800001111"},
        headers=people["director"],
    )
    assert reply.status_code == 200, reply.text
    assert reply.json()["status"] == "replied"
    assert "13800001111" not in reply.text  # personal data masked before the journal
    assert [
        o["order_id"] for o in queue(client, people["inspector"])["replies_to_check"]["items"]
    ] == [order_id]

    clock.now = NOON + timedelta(days=2)
    closed = client.post(
        f"/api/orders/{order_id}/close", json={"note": "整改到位"}, headers=people["inspector"]
    )
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    history = client.get(f"/api/orders/{order_id}", headers=people["director"]).json()["history"]
    assert [(h["action"], h["by"]["name"], h["at"][:10]) for h in history] == [
        ("issue", "王监察", "2026-11-27"),
        ("reply", "李主任", "2026-11-28"),
        ("close", "王监察", "2026-11-29"),
    ]
    assert queue(client, people["director"])["orders_to_answer"]["total"] == 0
    listed = client.get(f"/api/orders?alert_id={MINE}", headers=people["inspector"]).json()
    assert [o["status"] for o in listed] == ["closed"]


def test_a_late_reply_raises_a_red_alert_that_the_reply_closes(
    client: TestClient, app: FastAPI, people: dict[str, dict[str, str]], clock: Clock
) -> None:
    order = issue(client, people, days=2)
    watch = app.state.order_watch
    assert client.portal is not None
    assert (
        client.portal.call(
            watch.check, datetime.fromisoformat(order["due_at"]) - timedelta(seconds=1)
        )
        == []
    )
    clock.now = datetime.fromisoformat(order["due_at"]) + timedelta(hours=1)
    raised = client.portal.call(watch.check, clock.now)
    assert raised == [f"supervision.reply_overdue:{order['order_id']}:1"]
    assert client.portal.call(watch.check, clock.now) == []  # once a round
    alerts = client.get(
        "/api/alerts?rule_id=supervision.reply_overdue", headers=people["director"]
    ).json()
    assert [(a["severity"], a["status"], a["center_id"]) for a in alerts["items"]] == [
        ("red", "open", "451224103")
    ]
    assert alerts["items"][0]["raised_at"] == order["due_at"]
    late = queue(client, people["inspector"])["orders_overdue"]
    assert late["total"] == 1 and late["items"][0]["overdue"] is True
    assert (
        client.get("/api/orders?overdue=true", headers=people["inspector"]).json()[0]["order_id"]
        == order["order_id"]
    )

    reply = client.post(
        f"/api/orders/{order['order_id']}/reply",
        json={"note": "已整改"},
        headers=people["director"],
    )
    assert reply.status_code == 200
    shown = client.get(f"/api/alerts/{raised[0]}", headers=people["inspector"]).json()
    assert shown["status"] == "closed"
    # sent back: a new round, a new due time, and its own alert when late again
    back = client.post(
        f"/api/orders/{order['order_id']}/return",
        json={"note": "请补充材料"},
        headers=people["inspector"],
    )
    assert back.status_code == 200 and back.json()["round"] == 2
    clock.now = datetime.fromisoformat(back.json()["due_at"]) + timedelta(minutes=1)
    assert client.portal.call(watch.check, clock.now) == [
        f"supervision.reply_overdue:{order['order_id']}:2"
    ]


def test_another_countys_director_neither_sees_nor_touches_an_order(
    client: TestClient, app: FastAPI, people: dict[str, dict[str, str]]
) -> None:
    order = issue(client, people)
    head = app.state.hub.head
    other = people["other"]
    assert client.get(f"/api/orders/{order['order_id']}", headers=other).status_code == 404
    for action in ("reply", "close", "return"):
        response = client.post(
            f"/api/orders/{order['order_id']}/{action}", json={"note": "x"}, headers=other
        )
        assert response.status_code == 404, action
    assert client.get("/api/orders", headers=other).json() == []
    assert queue(client, other)["orders_to_answer"]["total"] == 0
    theirs = f"deadline.overdue:{make_alert(2, center_id='451221')['case_id']}"
    refused = client.post("/api/orders", json={"alert_id": MINE, "requirement": "x"}, headers=other)
    assert refused.status_code == 403
    not_found = client.post(
        "/api/orders", json={"alert_id": "nope", "requirement": "x"}, headers=people["inspector"]
    )
    assert not_found.status_code == 404
    mine_director = client.get(f"/api/orders?alert_id={theirs}", headers=people["director"])
    assert mine_director.json() == []
    assert app.state.hub.head == head  # every refusal left the journal as it was


def test_each_step_belongs_to_its_role_and_its_turn(
    client: TestClient, app: FastAPI, people: dict[str, dict[str, str]]
) -> None:
    order_id = issue(client, people)["order_id"]
    head = app.state.hub.head
    cases = [
        ("close", "director", 403, "纪检监察"),
        ("reply", "inspector", 403, "中心负责人"),
        ("close", "inspector", 409, "待回复"),
        ("return", "inspector", 409, "待回复"),
    ]
    for action, role, status, says in cases:
        response = client.post(
            f"/api/orders/{order_id}/{action}", json={"note": "x"}, headers=people[role]
        )
        assert response.status_code == status, (action, role, response.text)
        assert says in response.json()["detail"]
    assert (
        client.post(
            f"/api/orders/{order_id}/reply", json={"note": ""}, headers=people["director"]
        ).status_code
        == 422
    )
    assert (
        client.post(
            "/api/orders", json={"requirement": "x"}, headers=people["inspector"]
        ).status_code
        == 422
    )
    assert (
        client.post(
            "/api/orders",
            json={"alert_id": MINE, "requirement": "x", "days": 0},
            headers=people["inspector"],
        ).status_code
        == 422
    )
    assert client.get("/api/queue", headers=people["ops"]).status_code == 403
    assert app.state.hub.head == head


def test_a_signed_in_browser_acts_with_its_csrf_value_only(
    client: TestClient, people: dict[str, dict[str, str]], tokens: dict[str, str]
) -> None:
    order_id = issue(client, people)["order_id"]
    browser = client  # the app's own loop (a second client would use another one)
    signed = browser.post("/api/session", json={"token": tokens["director"]})
    assert signed.status_code == 200, signed.text
    assert (
        "HttpOnly" in signed.headers["set-cookie"]
        and "SameSite=strict" in signed.headers["set-cookie"]
    )
    csrf = signed.json()["csrf"]
    assert browser.get("/api/session").json()["csrf"] == csrf
    assert queue(browser, {})["orders_to_answer"]["total"] == 1  # the cookie reads
    forged = browser.post(f"/api/orders/{order_id}/reply", json={"note": "已整改"})
    assert forged.status_code == 403
    foreign = browser.post(
        f"/api/orders/{order_id}/reply",
        json={"note": "已整改"},
        headers={CSRF_HEADER: csrf, "Origin": "https://evil.example"},
    )
    assert foreign.status_code == 403
    done = browser.post(
        f"/api/orders/{order_id}/reply", json={"note": "已整改"}, headers={CSRF_HEADER: csrf}
    )
    assert done.status_code == 200 and done.json()["status"] == "replied"
    assert browser.delete("/api/session").status_code == 403  # signing out is a change too
    assert browser.delete("/api/session", headers={CSRF_HEADER: csrf}).status_code == 204
    browser.cookies.clear()
    assert browser.get("/api/queue").status_code == 401
    assert browser.post("/api/session", json={"token": tokens["ops"]}).status_code == 403
    assert browser.post("/api/session", json={"token": "svt_x"}).status_code == 401
    cross = browser.post(
        "/api/session",
        json={"token": tokens["director"]},
        headers={"Origin": "https://evil.example"},
    )
    assert cross.status_code == 403


def test_the_rules_say_what_each_checks_and_on_what_basis(
    client: TestClient, people: dict[str, dict[str, str]]
) -> None:
    response = client.get("/api/rules", headers=people["director"])
    assert response.status_code == 200
    rules = {rule["id"]: rule for rule in response.json()}
    assert rules["deadline.statutory_overdue"]["basis"] == "《中华人民共和国行政许可法》第四十二条"
    assert rules["deadline.warning"]["thresholds"]["share"] == 0.8
    assert rules["supervision.reply_overdue"]["title"] == "督办单逾期未回复"
    assert client.get("/api/rules", headers=people["ops"]).status_code == 403


def test_a_resolution_held_to_account_names_the_person_and_the_measure(
    client: TestClient, people: dict[str, dict[str, str]]
) -> None:
    path = f"/api/alerts/{MINE}/resolve"
    inspector = people["inspector"]
    missing = client.post(
        path, json={"disposition": "held_accountable", "note": "x"}, headers=inspector
    )
    assert missing.status_code == 422 and "person" in missing.json()["detail"]
    stray = client.post(
        path,
        json={"disposition": "verified", "person": "张某", "measure": "诫勉谈话"},
        headers=inspector,
    )
    assert stray.status_code == 422
    done = client.post(
        path,
        json={
            "disposition": "held_accountable",
            "person": "窗口工作人员张某",
            "measure": "诫勉谈话，扣减当月绩效",
            "note": "超期属实",
        },
        headers=inspector,
    )
    assert done.status_code == 200, done.text
    shown = done.json()
    assert shown["status"] == "resolved" and shown["disposition"] == "held_accountable"
    last = shown["history"][-1]
    assert last["accountability"] == {
        "person": "窗口工作人员张某",
        "measure": "诫勉谈话，扣减当月绩效",
    }
    export = client.get(
        f"/api/export/alerts?format=csv&case_id={shown['case_id']}", headers=inspector
    )
    assert "已问责" in export.content.decode("utf-8-sig")


def test_a_signed_in_socket_stays_open_until_its_token_is_revoked(
    client: TestClient,
    app: FastAPI,
    store: TokenStore,
    tokens: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import supervisor.web.streaming as streaming

    monkeypatch.setattr(streaming, "TOKEN_RECHECK_SECONDS", 0.05)
    assert client.post("/api/session", json={"token": tokens["director"]}).status_code == 200
    with client.websocket_connect("/ws/alerts", headers={"Origin": "http://testserver"}) as socket:
        assert socket.receive_json()["type"] == "snapshot"
        time.sleep(0.3)  # several looks at the session: it stays open
        write(client, app, make_alert(7, center_id="451224"))
        assert socket.receive_json()["type"] == "alert"
        store.revoke(tokens["director"])
        with pytest.raises(WebSocketDisconnect) as closed:
            socket.receive_json()
    assert closed.value.code == 4401
