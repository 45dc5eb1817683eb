"""The desk's API (orders, queues, sign-in, rules, 问责), on SQLite and PostgreSQL: an inspector
issues an order on an alert, the director finds it in their queue and replies, the
inspector closes it, every step in the order's history with who and when; a reply left
late raises `supervision.reply_overdue` (the clock moved, not slept), which the reply
closes; another county's director neither sees nor touches it; roles are enforced; a
signed-in browser acts with its CSRF value only."""

from __future__ import annotations

import asyncio
import csv
import dataclasses
import io
import json
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

from supervisor import orders
from supervisor.auth import TokenStore
from supervisor.settings import Settings
from supervisor.store.db import Database
from supervisor.web.app import create_app
from supervisor.web.errors import JOURNAL_DOWN
from supervisor.web.security import HAS_NUL
from supervisor.web.services import STATE_ATTRIBUTE as SERVICES
from supervisor.web.sessions import CSRF_HEADER
from supervisor.web.writer import JournalUnavailable, KafkaJournalWriter
from tests.store.test_projection import fact
from tests.web.test_app import CENTERS, NO_HEADER, ws_url
from tests.web.test_history_api import CASE, project, seed, write
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


async def too_slow(seq: int, timeout: float) -> bool:
    """A read-back that never comes in time (the desk answers 504)."""
    return False


def post_unread(
    client: TestClient, app: FastAPI, asked: dict[str, Any], headers: dict[str, str]
) -> Any:
    """`POST /api/orders` whose read-back never comes in time: its answer is lost."""
    desk = app.state.order_desk
    wait_for = desk.wait_for
    desk.wait_for = too_slow
    try:
        return client.post("/api/orders", json=asked, headers=headers)
    finally:
        desk.wait_for = wait_for


def ids_clashing_with(monkeypatch: pytest.MonkeyPatch, taken: str) -> None:
    """Every order's first id is `taken` (another order's); its next ones as derived."""
    derive = orders.order_id_for

    def clashing(at: datetime, asked: orders.Asked, earlier: int, attempt: int = 0) -> str:
        return taken if attempt == 0 else derive(at, asked, earlier, attempt)

    monkeypatch.setattr(orders, "order_id_for", clashing)


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
    # who handled the case, as its latest fact says (contract §7: every alert's details)
    details = alerts["items"][0]["details"]
    assert {key: details[key] for key in ("department", "window_id", "staff_id")} == {
        "department": "东兰县民政局",
        "window_id": "W12",  # the seeded fact's
        "staff_id": "nd-0107",
    }
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
    assert missing.status_code == 422 and "被问责人" in missing.json()["detail"]
    stray = client.post(
        path,
        json={"disposition": "verified", "person": "张某", "measure": "诫勉谈话"},
        headers=inspector,
    )
    assert stray.status_code == 422 and "只有处置为「已问责」" in stray.json()["detail"]
    done = client.post(
        path,
        json={
            "disposition": "held_accountable",
            "person": "窗口工作人员张某 13800001111",  # a phone typed beside the name
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
        "person": "窗口工作人员张某 138****1111",  # masked before the journal, as notes are
        "measure": "诫勉谈话，扣减当月绩效",
    }
    assert "13800001111" not in done.text
    # 问责 found afterwards: the alerts held to account, with who and the measure
    export = client.get(
        "/api/export/alerts?format=csv&disposition=held_accountable", headers=inspector
    )
    rows = list(csv.reader(io.StringIO(export.content.decode("utf-8-sig"))))
    assert rows[0][-3:] == ["超期工作日", "被问责人", "问责措施"]
    assert [(r[0], r[13], r[-2], r[-1]) for r in rows[1:]] == [
        (MINE, "已问责", "窗口工作人员张某 138****1111", "诫勉谈话，扣减当月绩效")
    ]
    listed = client.get("/api/alerts?disposition=held_accountable", headers=inspector).json()
    assert [a["alert_id"] for a in listed["items"]] == [MINE]
    none = client.get("/api/alerts?disposition=false_alarm", headers=inspector).json()
    assert none["items"] == [] and none["total"] == 0
    assert client.get("/api/alerts?disposition=other", headers=inspector).status_code == 422


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


def test_several_alerts_are_acknowledged_at_once_each_with_its_own_answer(
    client: TestClient, app: FastAPI, people: dict[str, dict[str, str]]
) -> None:
    waiting = make_alert(3, center_id="451224", severity="yellow")["alert_id"]
    theirs = make_alert(2, center_id="451221")["alert_id"]
    head = app.state.hub.head
    response = client.post(
        "/api/acknowledgements",
        json={"alert_ids": [waiting, MINE, theirs, "nope", waiting], "note": "批量签收"},
        headers=people["director"],
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["acknowledged"] == 1
    assert [(r["alert_id"], r["code"]) for r in body["results"]] == [
        (waiting, 200),
        (MINE, 409),  # acknowledged already, by the seed
        (theirs, 404),  # another county's: as if it did not exist
        ("nope", 404),
    ]
    assert body["results"][0]["status"] == "acknowledged"
    assert body["results"][1]["detail"] == "此预警当前为「已签收」，不能签收"
    assert app.state.hub.head == head + 1  # the refused ones wrote nothing
    shown = client.get(f"/api/alerts/{waiting}", headers=people["director"]).json()
    assert [(h["action"], h["by"]["name"], h["note"]) for h in shown["history"]] == [
        ("acknowledge", "李主任", "批量签收")
    ]

    refused = [
        ({"alert_ids": [waiting]}, "ops", 403),
        ({"alert_ids": []}, "director", 422),
        ({"alert_ids": [f"x{n}" for n in range(201)]}, "director", 422),
        ({"alert_ids": [waiting], "extra": 1}, "director", 422),
    ]
    for asked, role, status in refused:
        answer = client.post("/api/acknowledgements", json=asked, headers=people[role])
        assert answer.status_code == status, (asked, role, answer.text)
    assert app.state.hub.head == head + 1


def test_each_step_of_an_order_reaches_the_sockets_that_may_see_it(
    client: TestClient, app: FastAPI, people: dict[str, dict[str, str]]
) -> None:
    """A console's queue and order screens refresh on these messages: the director of
    the order's county is told of each step, the other county's director of none, and
    a socket that resumes from its position gets the steps it missed."""

    def token(who: str) -> str:
        return people[who]["Authorization"].removeprefix("Bearer ")

    before = app.state.hub.head
    with (
        client.websocket_connect(ws_url(token("director")), headers=NO_HEADER) as mine,
        client.websocket_connect(ws_url(token("other")), headers=NO_HEADER) as theirs,
    ):
        assert mine.receive_json()["type"] == theirs.receive_json()["type"] == "snapshot"
        order_id = issue(client, people)["order_id"]
        reply = client.post(
            f"/api/orders/{order_id}/reply", json={"note": "已整改"}, headers=people["director"]
        )
        assert reply.status_code == 200, reply.text
        told = [mine.receive_json(), mine.receive_json()]
        assert [(m["type"], m["order"]["order_id"], m["order"]["action"]) for m in told] == [
            ("order", order_id, "issue"),
            ("order", order_id, "reply"),
        ]
        assert {m["order"]["center_id"] for m in told} == {"451224103"}
        # each step with the order's alert and case (a step's record names neither)
        assert {(m["order"]["alert_id"], m["order"]["case_id"]) for m in told} == {(MINE, CASE)}
        write(client, app, make_alert(8, center_id="451221"))
        assert theirs.receive_json()["type"] == "alert"  # the first it hears: no order
    with client.websocket_connect(
        ws_url(token("director"), after=before), headers=NO_HEADER
    ) as resumed:
        missed = [resumed.receive_json() for _ in range(2)]
        assert [m["seq"] for m in missed] == [m["seq"] for m in told]


def test_the_same_order_asked_again_while_open_is_the_first_one(
    client: TestClient, people: dict[str, dict[str, str]]
) -> None:
    """A double click or a retry after a lost answer issues no second order (which would
    owe a second reply and raise a second red alert when late): 200 with the first; an
    order that says something else is a new one, and so is the same once it is closed."""
    first = issue(client, people)
    asked = {"alert_id": MINE, "requirement": "请核实超期原因，约谈窗口人员并整改"}
    again = client.post("/api/orders", json=asked, headers=people["inspector"])
    assert again.status_code == 200 and again.json()["order_id"] == first["order_id"]
    other = issue(client, people, requirement="请说明延误原因")
    assert other["order_id"] != first["order_id"]
    longer = issue(client, people, days=10)  # another time to reply: another order
    assert longer["order_id"] not in (first["order_id"], other["order_id"])
    for step, who in (("reply", "director"), ("close", "inspector")):
        done = client.post(
            f"/api/orders/{first['order_id']}/{step}", json={"note": "已整改"}, headers=people[who]
        )
        assert done.status_code == 200, done.text
    renewed = issue(client, people)  # the first is closed: ordering it again is new
    assert renewed["order_id"] != first["order_id"]


def test_a_retry_after_an_answer_lost_in_a_504_is_the_order_written(
    client: TestClient,
    app: FastAPI,
    people: dict[str, dict[str, str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The first answer was lost (the journal took the order, the read model had not read
    it back in time: 504), and the retry comes while the lists still lack it: the retry
    is told to look again, then, once the order can be read, answered with it; never a
    second order."""
    desk = app.state.order_desk
    read_order = desk.read.order

    async def no_list(*args: Any, **kwargs: Any) -> list[Any]:
        return []  # the read model behind: no list holds the order yet

    async def not_yet(order_id: str) -> Any:
        return None

    asked = {"alert_id": MINE, "requirement": "请核实超期原因并整改"}
    lost = post_unread(client, app, asked, people["inspector"])
    assert lost.status_code == 504, lost.text
    monkeypatch.setattr(desk.read, "orders", no_list)
    monkeypatch.setattr(desk.read, "order", not_yet)
    early = client.post("/api/orders", json=asked, headers=people["inspector"])
    assert early.status_code == 504 and "勿重复下发" in early.json()["detail"]
    monkeypatch.setattr(desk.read, "order", read_order)
    retried = client.post("/api/orders", json=asked, headers=people["inspector"])
    assert retried.status_code == 200, retried.text
    monkeypatch.undo()
    listed = client.get(f"/api/orders?alert_id={MINE}", headers=people["inspector"]).json()
    assert [o["order_id"] for o in listed] == [retried.json()["order_id"]]


def test_the_same_order_asked_of_two_web_services_at_once_is_one_order(
    client: TestClient,
    app: FastAPI,
    people: dict[str, dict[str, str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A double click spread over two replicas: the second service asks before its read
    model holds the first's order, and remembers nothing of it. The order's id says what
    it asks, so the second writes the same id, the journal keeps the first, and the
    second is answered with it: one order, owing one reply."""
    first = issue(client, people)
    desk = app.state.order_desk

    async def behind(*args: Any, **kwargs: Any) -> list[Any]:
        return []  # this service's read model has not read the other's order yet

    monkeypatch.setattr(desk.read, "orders", behind)
    desk._issued.clear()  # another service: it wrote nothing itself
    asked = {"alert_id": MINE, "requirement": "请核实超期原因，约谈窗口人员并整改"}
    again = client.post("/api/orders", json=asked, headers=people["inspector"])
    assert again.status_code == 200, again.text
    assert again.json()["order_id"] == first["order_id"]
    monkeypatch.undo()
    listed = client.get(f"/api/orders?alert_id={MINE}", headers=people["inspector"]).json()
    assert [o["order_id"] for o in listed] == [first["order_id"]]
    assert [h["action"] for h in listed[0]["history"]] == ["issue"]


def test_an_order_whose_id_is_taken_by_another_takes_the_next(
    client: TestClient, people: dict[str, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Six hex digits can clash: an order whose id another order holds is written again
    under the next id, and both orders stand."""
    first = issue(client, people)
    ids_clashing_with(monkeypatch, first["order_id"])
    second = issue(client, people, requirement="请说明延误原因")
    assert second["order_id"] not in (first["order_id"], "")
    assert second["requirement"] == "请说明延误原因"
    listed = client.get(f"/api/orders?alert_id={MINE}", headers=people["inspector"]).json()
    assert sorted(o["order_id"] for o in listed) == sorted([first["order_id"], second["order_id"]])


def test_a_retry_after_a_504_on_a_taken_id_is_not_answered_with_the_other_order(
    client: TestClient,
    app: FastAPI,
    people: dict[str, dict[str, str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The id the desk wrote was another order's and its read-back timed out (504): the
    retry is not 'the same order' as that other one; it is issued under the next id."""
    first = issue(client, people)
    ids_clashing_with(monkeypatch, first["order_id"])
    asked = {"alert_id": MINE, "requirement": "请说明延误原因"}
    lost = post_unread(client, app, asked, people["inspector"])
    assert lost.status_code == 504, lost.text
    retried = client.post("/api/orders", json=asked, headers=people["inspector"])
    assert retried.status_code == 201, retried.text
    assert retried.json()["order_id"] != first["order_id"]
    assert retried.json()["requirement"] == "请说明延误原因"


def test_a_nul_character_anywhere_is_a_422_that_says_so(
    client: TestClient, people: dict[str, dict[str, str]]
) -> None:
    """PostgreSQL cannot hold a NUL in text: a filter, an id or a body with one was taken
    for 'the database is down' (503), and one such id in a bulk 签收 stopped the others.
    Refused before any handler runs, on either database; a backslash written out before
    'u0000' is text like any other."""
    inspector, director = people["inspector"], people["director"]
    asked = [
        client.get("/api/alerts", params={"q": "\x00"}, headers=inspector),
        client.get("/api/alerts", params={"case_id": "a\x00b"}, headers=inspector),
        client.get("/api/alerts/%00", headers=inspector),
        client.get("/api/cases/a%00b", headers=inspector),
        client.post(
            "/api/orders", json={"case_id": "a\x00b", "requirement": "x"}, headers=inspector
        ),
        client.post(
            "/api/acknowledgements", json={"alert_ids": [MINE, "a\x00b"]}, headers=director
        ),
    ]
    for answer in asked:
        assert answer.status_code == 422, (answer.request.url, answer.text)
        assert answer.json() == {"detail": HAS_NUL}
    written_out = client.get("/api/alerts", params={"q": "\\u0000"}, headers=inspector)
    assert written_out.status_code == 200, written_out.text
    # nothing was acknowledged by the refused bulk request; the alert still can be
    done = client.post("/api/acknowledgements", json={"alert_ids": [MINE]}, headers=director)
    assert done.status_code == 200, done.text


def test_no_order_on_an_alert_nothing_is_left_to_put_right_for(
    client: TestClient, app: FastAPI, people: dict[str, dict[str, str]]
) -> None:
    """An alert withdrawn, closed with its case, or superseded by the red one: an order
    on it would owe a reply and count in the assessment for nothing. Refused in Chinese,
    as a blank requirement or reply is."""
    warning = make_alert(5, center_id="451224103", severity="yellow", rule_id="deadline.warning")
    closed = make_alert(6, center_id="451224103", severity="yellow", rule_id="deadline.warning")
    withdrawn = make_alert(7, center_id="451224103")
    write(client, app, warning, closed, withdrawn)
    at = "2026-11-27T10:00:00+08:00"
    write(
        client,
        app,
        {
            "kind": "case_change",
            "alert_id": warning["alert_id"],
            "change": "superseded",
            "superseded_by": MINE,
            "at": at,
        },
        {
            "kind": "case_change",
            "alert_id": closed["alert_id"],
            "change": "closed",
            "reason": "concluded_in_time",
            "at": at,
        },
    )
    for step, body, who in (
        ("appeal", {"reason": "中心上报的数据有误"}, "director"),
        ("appeal/accept", {}, "inspector"),  # the appeal holds: withdrawn (摘牌)
    ):
        taken = client.post(
            f"/api/alerts/{withdrawn['alert_id']}/{step}", json=body, headers=people[who]
        )
        assert taken.status_code == 200, taken.text
    for alert, said in (
        (warning, "红色预警取代"),
        (closed, "随办件关闭"),
        (withdrawn, "已撤销"),
    ):
        refused = client.post(
            "/api/orders",
            json={"alert_id": alert["alert_id"], "requirement": "请整改"},
            headers=people["inspector"],
        )
        assert refused.status_code == 409 and said in refused.json()["detail"], refused.text
    blank = client.post(
        "/api/orders", json={"alert_id": MINE, "requirement": "  "}, headers=people["inspector"]
    )
    assert blank.status_code == 422 and blank.json()["detail"] == "请填写督办要求"
    order = issue(client, people)
    empty = client.post(
        f"/api/orders/{order['order_id']}/reply", json={"note": ""}, headers=people["director"]
    )
    assert empty.status_code == 422 and "回复内容" in empty.json()["detail"]
    for days in (True, "5", 2.5):
        sloppy = client.post(
            "/api/orders",
            json={"alert_id": MINE, "requirement": "请整改", "days": days},
            headers=people["inspector"],
        )
        assert sloppy.status_code == 422, (days, sloppy.text)


def test_what_people_type_about_a_case_is_kept_without_its_applicants_name(
    client: TestClient, people: dict[str, dict[str, str]]
) -> None:
    """An order's requirement, a reply, a lifecycle note and 问责 that name the case's
    applicant (李小梅, given by the case's `submitted`) are kept with the name masked,
    as the case's own texts are, and with phone numbers masked as before."""
    order = issue(client, people, requirement="请联系申请人李小梅（13977881234）核实")
    assert order["requirement"] == "请联系申请人李*梅（139****1234）核实"
    replied = client.post(
        f"/api/orders/{order['order_id']}/reply",
        json={"note": "已向李小梅说明并致歉"},
        headers=people["director"],
    )
    assert replied.status_code == 200, replied.text
    assert replied.json()["history"][-1]["note"] == "已向李*梅说明并致歉"
    resolved = client.post(
        f"/api/alerts/{MINE}/resolve",
        json={
            "disposition": "held_accountable",
            "note": "李小梅的办件超期",
            "person": "窗口人员甲",
            "measure": "向李小梅当面道歉",
        },
        headers=people["inspector"],
    )
    assert resolved.status_code == 200, resolved.text
    said = json.dumps(resolved.json(), ensure_ascii=False)
    assert "李小梅" not in said and "李*梅的办件超期" in said and "向李*梅当面道歉" in said


def test_orders_are_listed_by_several_statuses_a_page_at_a_time(
    client: TestClient, people: dict[str, dict[str, str]]
) -> None:
    issued = [issue(client, people, days=days)["order_id"] for days in (3, 1, 2)]
    replied = client.post(
        f"/api/orders/{issued[0]}/reply", json={"note": "已整改"}, headers=people["director"]
    )
    assert replied.status_code == 200, replied.text

    def listed(query: str, who: str = "inspector") -> tuple[list[str], str]:
        response = client.get(f"/api/orders?{query}", headers=people[who])
        assert response.status_code == 200, response.text
        return [o["order_id"] for o in response.json()], response.headers["X-Total-Count"]

    soonest_first = [issued[1], issued[2], issued[0]]  # due in 1, 2, 3 working days
    assert listed("status=issued&status=replied") == (soonest_first, "3")
    assert listed("status=issued") == (soonest_first[:2], "2")
    assert listed("status=replied&status=closed") == ([issued[0]], "1")
    first, second = listed("limit=2"), listed("limit=2&offset=2")
    assert first == (soonest_first[:2], "3") and second == (soonest_first[2:], "3")
    assert listed("", who="director") == (soonest_first, "3")
    assert listed("", who="other") == ([], "0")  # another county's director
    for bad in ("status=lost", "limit=0", "limit=501", "offset=-1"):
        assert client.get(f"/api/orders?{bad}", headers=people["inspector"]).status_code == 422


def test_the_watch_finds_a_newly_late_order_behind_a_backlog_of_late_ones(
    client: TestClient,
    app: FastAPI,
    people: dict[str, dict[str, str]],
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """However many late orders stay unanswered (their alerts raised), one that becomes
    late later is still raised: the watch walks past those raised before."""
    import supervisor.web.supervision as supervision

    monkeypatch.setattr(supervision, "WATCH_BATCH", 2)
    watch = app.state.order_watch
    assert client.portal is not None
    backlog = [issue(client, people, days=1, requirement=f"第{n}次督办") for n in range(3)]
    clock.now = datetime.fromisoformat(backlog[0]["due_at"]) + timedelta(hours=1)
    first = client.portal.call(watch.check, clock.now)
    assert len(first) == 2  # at most WATCH_BATCH a look
    second = client.portal.call(watch.check, clock.now)
    assert len(second) == 1 and set(first + second) == {
        f"supervision.reply_overdue:{o['order_id']}:1" for o in backlog
    }
    newcomer = issue(client, people, days=1, requirement="再次督办")
    clock.now = datetime.fromisoformat(newcomer["due_at"]) + timedelta(days=3)
    assert client.portal.call(watch.check, clock.now) == [
        f"supervision.reply_overdue:{newcomer['order_id']}:1"
    ]


def test_a_reply_between_the_watchs_look_and_its_alert_still_closes_it(
    client: TestClient, app: FastAPI, people: dict[str, dict[str, str]], clock: Clock
) -> None:
    """The watch reads the order as late; the director's reply lands before the watch's
    alert (the reply finds no alert to close); the watch closes its alert itself."""
    order = issue(client, people, days=1)
    clock.now = datetime.fromisoformat(order["due_at"]) + timedelta(hours=1)
    watch = app.state.order_watch
    writer = watch.writer

    class ReplyFirst:
        async def write(self, record: dict[str, Any]) -> int:
            if record.get("rule_id") == "supervision.reply_overdue":
                who = app.state.tokens.verify(people["director"]["Authorization"][7:])
                await app.state.order_desk.step(who, order["order_id"], "reply", "已整改")
            return int(await writer.write(record))

    watch.writer = ReplyFirst()
    assert client.portal is not None
    try:
        raised = client.portal.call(watch.check, clock.now)
    finally:
        watch.writer = writer
    assert raised == [f"supervision.reply_overdue:{order['order_id']}:1"]
    shown = client.get(f"/api/alerts/{raised[0]}", headers=people["inspector"]).json()
    assert shown["status"] == "closed"
    assert (
        client.get(f"/api/orders/{order['order_id']}", headers=people["inspector"]).json()["status"]
        == "replied"
    )


def test_an_order_on_a_whole_case_is_listed_with_the_case(
    client: TestClient, people: dict[str, dict[str, str]]
) -> None:
    on_case = client.post(
        "/api/orders",
        json={"case_id": CASE, "requirement": "请全面核查该办件的办理情况"},
        headers=people["inspector"],
    )
    assert on_case.status_code == 201, on_case.text
    order = on_case.json()
    assert order["case_id"] == CASE and order["alert_id"] is None
    assert order["center_id"] == "451224103"  # the case's center
    on_alert = issue(client, people)
    listed = client.get(f"/api/orders?case_id={CASE}", headers=people["director"]).json()
    assert {o["order_id"] for o in listed} == {order["order_id"], on_alert["order_id"]}
    theirs = client.post(
        "/api/orders",
        json={"case_id": "451221-2026-0000002", "requirement": "x"},
        headers=people["other"],
    )
    assert theirs.status_code == 403  # a director issues no order


def test_the_assessment_in_each_callers_scope(
    client: TestClient, people: dict[str, dict[str, str]]
) -> None:
    """November of the seed: 451224103 accepted one case and has a red card (100 less
    2 × 100 per 100, capped at 30: 70); 451221 the same (70); 451224 handled nothing
    and has a yellow card (0.5 × 100, capped at 10: 90)."""

    def ranked(who: str, query: str = "") -> list[tuple[str, float, str, int]]:
        response = client.get(f"/api/assessment?period=2026-11{query}", headers=people[who])
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["period_label"] == "2026年11月"
        return [(u["center_id"], u["score"], u["grade"], u["rank"]) for u in body["units"]]

    assert ranked("inspector") == [
        ("451224", 90.0, "优秀", 1),
        ("451221", 70.0, "合格", 2),
        ("451224103", 70.0, "合格", 2),
    ]
    # a director: their center and those below it, in every figure
    assert ranked("director") == [("451224", 90.0, "优秀", 1), ("451224103", 70.0, "合格", 2)]
    assert ranked("director", "&center_id=451224103") == [("451224103", 70.0, "合格", 1)]
    assert ranked("other") == [("451221", 70.0, "合格", 1)]
    refused = [
        ("period=2026-13", "director", 422),
        ("period=" + "9" * 17, "director", 422),
        ("period=2026-11&center_id=451221", "director", 403),
        ("period=2026-11&by=floor", "director", 422),
        ("period=2026-11", "ops", 403),
        # by county over a township alone would score the county on part of it
        ("period=2026-11&by=county&center_id=451224103", "director", 422),
        ("period=2026-11&by=county&center_id=451224103", "inspector", 422),
    ]
    for query, who, status in refused:
        answer = client.get(f"/api/assessment?{query}", headers=people[who])
        assert answer.status_code == status, (query, answer.text)
    exported = client.get(
        "/api/assessment/export?period=2026-11&by=county&center_id=451224103",
        headers=people["director"],
    )
    assert exported.status_code == 422 and "整个县区" in exported.json()["detail"]
    whole = client.get("/api/assessment?period=2026-11&by=county", headers=people["director"])
    assert whole.status_code == 200, whole.text


def test_a_township_whose_county_never_reported_leaves_the_city_ranked_by_county(
    client: TestClient, app: FastAPI, store: TokenStore
) -> None:
    """Events of unregistered centers are supervised: a township of a county that is in
    no registry and sent nothing itself (451299101) is in the city's scope without its
    county. Ranking the city by county is still the city's ranking, not a refusal."""
    city = {"Authorization": f"Bearer {store.issue('director', '市主任', center='451200')}"}
    accepted = "2026-11-26T09:00:00+08:00"
    write(client, app, make_alert(5, center_id="451299101"))
    township_case = fact(
        "451299101-2026-0000005", "accepted", accepted, "open",
        center_id="451299101", accepted_at=accepted,
    )  # fmt: skip
    project(client, app, app.state.settings.topic_facts, township_case)
    app.state.read_state._seen = (0.0, [])  # the centers seen, read again
    for query in ("", "&center_id=451200"):
        ranked = client.get(f"/api/assessment?period=2026-11&by=county{query}", headers=city)
        assert ranked.status_code == 200, (query, ranked.text)
        assert "451299" in [u["center_id"] for u in ranked.json()["units"]]


class _Unwritable:
    """A journal whose broker is away: every write waits, then gives up (as
    KafkaJournalWriter does after WRITE_TIMEOUT)."""

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def write(self, record: dict[str, Any]) -> int:
        raise JournalUnavailable("KafkaTimeoutError")


def test_a_change_the_journal_cannot_take_is_a_503_that_says_so(
    client: TestClient, app: FastAPI, people: dict[str, dict[str, str]]
) -> None:
    services = getattr(app.state, SERVICES)
    setattr(app.state, SERVICES, dataclasses.replace(services, writer=_Unwritable()))
    answer = client.post(
        f"/api/alerts/{MINE}/resolve",
        json={"disposition": "verified", "note": "x"},
        headers=people["inspector"],
    )
    assert answer.status_code == 503, answer.text
    assert answer.json()["detail"] == JOURNAL_DOWN
    # reads go on
    assert client.get(f"/api/alerts/{MINE}", headers=people["inspector"]).status_code == 200


async def test_the_kafka_writer_gives_up_on_a_broker_that_does_not_answer() -> None:
    class Silent:  # aiokafka's producer with the broker away: metadata never comes
        async def send_and_wait(self, *args: Any, **kwargs: Any) -> Any:
            await asyncio.sleep(3600)

    writer = KafkaJournalWriter(Settings.from_env({}))
    writer._producer = Silent()
    started = time.monotonic()
    with pytest.raises(JournalUnavailable):
        await writer.write({"alert_id": "a"}, timeout=0.2)
    assert time.monotonic() - started < 60  # gave up: not the hour it would have waited


def test_a_director_resolves_yellow_warnings_only_and_never_as_a_false_alarm(
    client: TestClient, people: dict[str, dict[str, str]]
) -> None:
    """The supervised center cannot clear its own red cards (a violation on record is the
    inspectors' to close) nor call an alert wrong itself (that is an appeal, for an
    inspector to withdraw); it resolves a yellow warning as 已核实 or 已整改."""
    director, inspector = people["director"], people["inspector"]
    red = client.post(
        f"/api/alerts/{MINE}/resolve", json={"disposition": "rectified"}, headers=director
    )
    assert red.status_code == 403
    assert red.json()["detail"].startswith("红色预警由纪检监察人员处置")
    yellow = make_alert(3, center_id="451224", severity="yellow")["alert_id"]
    for disposition in ("false_alarm", "held_accountable"):
        body: dict[str, str] = {"disposition": disposition}
        if disposition == "held_accountable":
            body |= {"person": "窗口人员甲", "measure": "批评教育"}
        refused = client.post(f"/api/alerts/{yellow}/resolve", json=body, headers=director)
        assert refused.status_code == 403, disposition
        assert refused.json()["detail"].startswith("中心负责人只能将预警处置为已核实、已整改")
    assert client.get(f"/api/alerts/{yellow}", headers=director).json()["status"] == "open"
    done = client.post(
        f"/api/alerts/{yellow}/resolve", json={"disposition": "rectified"}, headers=director
    )
    assert done.status_code == 200 and done.json()["status"] == "resolved"
    closed = client.post(
        f"/api/alerts/{MINE}/resolve", json={"disposition": "false_alarm"}, headers=inspector
    )
    assert closed.status_code == 200 and closed.json()["disposition"] == "false_alarm"


def test_sending_back_a_reply_or_refusing_an_appeal_says_why(
    client: TestClient, people: dict[str, dict[str, str]]
) -> None:
    """The center reads what it must still put right, and why its appeal failed: an
    order sent back, or an appeal refused, without a reason is refused (the console
    asked for one; the API did not)."""
    director, inspector = people["director"], people["inspector"]
    order = issue(client, people)
    path = f"/api/orders/{order['order_id']}"
    assert (
        client.post(f"{path}/reply", json={"note": "已整改"}, headers=director).status_code == 200
    )
    for body in ({}, {"note": "  "}):
        back = client.post(f"{path}/return", json=body, headers=inspector)
        assert back.status_code == 422 and back.json()["detail"] == "请填写退回理由（还需整改什么）"
    assert (
        client.post(f"{path}/return", json={"note": "请补充"}, headers=inspector).status_code == 200
    )

    appealed = client.post(
        f"/api/alerts/{MINE}/appeal", json={"reason": "录入错误"}, headers=director
    )
    assert appealed.status_code == 200, appealed.text
    refused = client.post(f"/api/alerts/{MINE}/appeal/reject", json={}, headers=inspector)
    assert refused.status_code == 422 and refused.json()["detail"] == "驳回申诉须说明理由"
    rejected = client.post(
        f"/api/alerts/{MINE}/appeal/reject", json={"note": "系统记录无误"}, headers=inspector
    )
    assert rejected.status_code == 200 and rejected.json()["status"] == "acknowledged"
    # the decision stands: each appeal holds the escalation back, so not again and again
    again = client.post(f"/api/alerts/{MINE}/appeal", json={"reason": "再次申诉"}, headers=director)
    assert (
        again.status_code == 409 and again.json()["detail"] == "此预警的申诉已被驳回，不能再次申诉"
    )


def test_an_order_with_nothing_left_to_put_right_is_withdrawn_with_its_reason(
    client: TestClient, app: FastAPI, people: dict[str, dict[str, str]], clock: Clock
) -> None:
    """撤销: the alert was delisted, or its case concluded in time, after the order was
    issued. An inspector withdraws the order with the reason: no reply is owed any more,
    its late-reply alert closes, and the same order may be issued again later."""
    director, inspector = people["director"], people["inspector"]
    order = issue(client, people, days=2)
    path = f"/api/orders/{order['order_id']}"
    clock.now = datetime.fromisoformat(order["due_at"]) + timedelta(hours=1)
    assert client.portal is not None
    [late] = client.portal.call(app.state.order_watch.check, clock.now)

    assert client.post(f"{path}/cancel", json={"note": "撤销"}, headers=director).status_code == 403
    unsaid = client.post(f"{path}/cancel", json={}, headers=inspector)
    assert unsaid.status_code == 422 and unsaid.json()["detail"] == "请填写撤销理由"
    done = client.post(f"{path}/cancel", json={"note": "预警已摘牌"}, headers=inspector)
    assert done.status_code == 200, done.text
    assert (done.json()["status"], done.json()["status_text"]) == ("cancelled", "已撤销")
    assert done.json()["overdue"] is False
    shown = client.get(f"/api/alerts/{late}", headers=inspector).json()
    assert shown["status"] == "closed" and shown["history"][-1]["reason"] == "order_cancelled"
    assert queue(client, director)["orders_to_answer"]["total"] == 0
    assert queue(client, inspector)["orders_overdue"]["total"] == 0
    assert (
        client.post(f"{path}/reply", json={"note": "已整改"}, headers=director).status_code == 409
    )
    listed = client.get("/api/orders?status=cancelled", headers=inspector).json()
    assert [o["order_id"] for o in listed] == [order["order_id"]]

    again = issue(client, people, days=2)  # asked again: a new order, owing a reply
    assert again["order_id"] != order["order_id"] and again["status"] == "issued"


def test_a_director_reads_that_a_notification_failed_not_the_channels_answer(
    client: TestClient, app: FastAPI, people: dict[str, dict[str, str]]
) -> None:
    """The channel's technical answer names another recipient's webhook, a secret not
    set, a mail server's reply: the operators' to read, and the inspectors'; a director
    sees that the notification failed, and when it is tried again."""
    attempt = {
        "kind": "delivery",
        "alert_id": MINE,
        "notification_id": f"{MINE}:director-451200:alert:0",
        "notification_kind": "alert",
        "channel": "webhook",
        "recipient_name": "河池市中心主任",
        "attempt": 1,
        "outcome": "retry",
        "at": "2026-11-27T12:00:05+08:00",
        "error": "the webhook secret NOTIFY_WEBHOOK_SECRET_451200 is not set in the environment",
        "next_at": "2026-11-27T12:00:10+08:00",
        "dead": False,
    }
    write(client, app, attempt)
    sent = {
        role: [c for c in client.get(f"/api/alerts/{MINE}", headers=people[role]).json()["history"]
               if c["action"] == "notify"]
        for role in ("director", "inspector")
    }  # fmt: skip
    assert [(c["outcome"], c["next_at"], "error" in c) for c in sent["director"]] == [
        ("retry", "2026-11-27T12:00:10+08:00", False)
    ]
    assert sent["inspector"][0]["error"] == attempt["error"]
