"""Silences through the web API (issue 5 §4), without Kafka: created, listed, lifted and
expired by the app's clock; inspectors only; every change audited; the state rebuilt from
the journal's `silence` records, as another web instance or a restart would."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi import FastAPI
from starlette.exceptions import StarletteDeprecationWarning

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

from supervisor.auth import TokenStore
from supervisor.notify.plan import Planner
from supervisor.settings import Settings
from supervisor.web.app import create_app
from supervisor.web.hub import AlertHub
from supervisor.web.writer import LocalJournalWriter
from tests.web.test_app import CENTERS

ZONE = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 11, 27, 9, 0, tzinfo=ZONE)
CENTER = "451221"


class Clock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture
def store(tmp_path: Any) -> TokenStore:
    return TokenStore(tmp_path / "tokens.json")


@pytest.fixture
def tokens(store: TokenStore) -> dict[str, str]:
    return {
        "inspector": store.issue("inspector", "王监察"),
        "inspector2": store.issue("inspector", "赵监察"),
        "director": store.issue("director", "李主任", center="451221"),
        "ops": store.issue("ops", "运维"),
    }


@pytest.fixture
def app(store: TokenStore, clock: Clock) -> FastAPI:
    settings = Settings.from_env({}).with_(wall_recent=5)
    return create_app(
        settings, start_consumer=False, center_names=CENTERS, tokens=store, clock=clock
    )


@pytest.fixture
def client(app: FastAPI, tokens: dict[str, str]) -> Iterator[TestClient]:
    with TestClient(app, headers=as_(tokens, "inspector")) as client:
        yield client


def as_(tokens: dict[str, str], role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens[role]}"}


def body(**fields: Any) -> dict[str, Any]:
    return {
        "center_id": CENTER,
        "until": (T0 + timedelta(hours=48)).isoformat(),
        "reason": "南丹县中心周末迁移业务系统",
        **fields,
    }


def create(client: TestClient, **fields: Any) -> dict[str, Any]:
    response = client.post("/api/silences", json=body(**fields))
    assert response.status_code == 201, response.text
    return dict(response.json())


def journal_records(app: FastAPI) -> list[dict[str, Any]]:
    """The silence records the app wrote, as they would stand in the alerts topic."""
    writes: list[dict[str, Any]] = app.state.silence_writes
    return writes


@pytest.fixture(autouse=True)
def record_writes(app: FastAPI, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep each record written to the journal, to replay them elsewhere."""
    app.state.silence_writes = []
    original = LocalJournalWriter.write

    async def write(self: LocalJournalWriter, record: dict[str, Any]) -> int:
        app.state.silence_writes.append(record)
        return await original(self, record)

    monkeypatch.setattr(LocalJournalWriter, "write", write)


# -- create, list, lift, expire ------------------------------------------------------------


def test_create_then_list_then_expire_by_the_app_clock(client: TestClient, clock: Clock) -> None:
    made = create(client, until=(T0 + timedelta(hours=2)).isoformat())
    assert made["id"].startswith("sil-") and made["status"] == "active"
    assert made["center_id"] == CENTER and made["reason"] == "南丹县中心周末迁移业务系统"
    assert made["created_by"]["name"] == "王监察" and made["created_by"]["role"] == "inspector"
    assert made["created_by"]["token"]
    assert datetime.fromisoformat(made["starts_at"]) == T0
    [step] = made["audit"]
    assert step["action"] == "create" and step["by"]["name"] == "王监察"
    assert step["reason"] == made["reason"] and isinstance(step["seq"], int)

    listed = client.get("/api/silences").json()
    assert [(s["id"], s["status"]) for s in listed["items"]] == [(made["id"], "active")]
    assert client.get("/api/silences", params={"state": "expired"}).json()["items"] == []

    clock.advance(hours=2)  # ends_at is exclusive: expired now
    listed = client.get("/api/silences").json()["items"]
    assert [(s["id"], s["status"]) for s in listed] == [(made["id"], "expired")]
    assert client.get("/api/silences", params={"state": "active"}).json()["items"] == []
    shown = client.get(f"/api/silences/{made['id']}").json()
    assert shown["status"] == "expired"
    assert [s["action"] for s in shown["audit"]] == ["create", "expire"]
    assert shown["audit"][-1]["by"]["role"] == "system"
    # an expired silence cannot be lifted
    response = client.post(f"/api/silences/{made['id']}/lift", json={"reason": "提前结束"})
    assert response.status_code == 409


def test_a_pending_silence_starts_later(client: TestClient, clock: Clock) -> None:
    made = create(
        client,
        starts_at=(T0 + timedelta(hours=1)).isoformat(),
        until=(T0 + timedelta(hours=3)).isoformat(),
        rule="deadline.*",
    )
    assert made["status"] == "pending"
    assert [s["id"] for s in client.get("/api/silences?state=pending").json()["items"]] == [
        made["id"]
    ]
    clock.advance(hours=1)
    assert client.get(f"/api/silences/{made['id']}").json()["status"] == "active"


def test_lift_early_with_its_audit_then_lift_again_is_409(
    client: TestClient, clock: Clock, tokens: dict[str, str]
) -> None:
    made = create(client)
    clock.advance(minutes=30)
    response = client.post(
        f"/api/silences/{made['id']}/lift",
        json={"reason": "迁移提前完成"},
        headers=as_(tokens, "inspector2"),
    )
    assert response.status_code == 200, response.text
    lifted = response.json()
    assert lifted["status"] == "lifted"
    assert datetime.fromisoformat(lifted["lifted_at"]) == T0 + timedelta(minutes=30)
    assert lifted["lifted_by"]["name"] == "赵监察" and lifted["lift_reason"] == "迁移提前完成"
    audit = lifted["audit"]
    assert [(s["action"], s["by"]["name"], s["reason"]) for s in audit] == [
        ("create", "王监察", "南丹县中心周末迁移业务系统"),
        ("lift", "赵监察", "迁移提前完成"),
    ]
    assert audit[0]["seq"] < audit[1]["seq"]
    assert datetime.fromisoformat(audit[1]["at"]) == T0 + timedelta(minutes=30)
    assert client.get("/api/silences?state=lifted").json()["items"][0]["id"] == made["id"]
    # still lifted after its planned end; no expiry is added to a lifted one
    clock.advance(days=3)
    shown = client.get(f"/api/silences/{made['id']}").json()
    assert shown["status"] == "lifted" and [s["action"] for s in shown["audit"]] == [
        "create",
        "lift",
    ]
    again = client.post(f"/api/silences/{made['id']}/lift", json={"reason": "再次"})
    assert again.status_code == 409
    # listed for 30 days after it ended, still shown by id after that
    clock.advance(days=30)
    assert client.get("/api/silences").json()["items"] == []
    assert client.get(f"/api/silences/{made['id']}").json()["status"] == "lifted"


def test_unknown_silence_is_404(client: TestClient) -> None:
    assert client.get("/api/silences/sil-000000000000").status_code == 404
    response = client.post("/api/silences/sil-000000000000/lift", json={"reason": "x"})
    assert response.status_code == 404


def test_the_same_request_twice_is_one_silence(client: TestClient) -> None:
    first = create(client)
    second = create(client)
    assert first["id"] == second["id"]
    assert len(client.get("/api/silences").json()["items"]) == 1
    assert len(second["audit"]) == 1


# -- roles ---------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["director", "ops"])
def test_only_inspectors(client: TestClient, tokens: dict[str, str], role: str) -> None:
    made = create(client)
    headers = as_(tokens, role)
    assert client.post("/api/silences", json=body(), headers=headers).status_code == 403
    assert client.get("/api/silences", headers=headers).status_code == 403
    assert client.get(f"/api/silences/{made['id']}", headers=headers).status_code == 403
    lift = client.post(f"/api/silences/{made['id']}/lift", json={"reason": "x"}, headers=headers)
    assert lift.status_code == 403
    assert client.get(f"/api/silences/{made['id']}").json()["status"] == "active"


def test_no_token_is_401(app: FastAPI) -> None:
    with TestClient(app) as anonymous:
        assert anonymous.get("/api/silences").status_code == 401
        assert anonymous.post("/api/silences", json=body()).status_code == 401


# -- validation ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fields",
    [
        {"center_id": None},  # nothing to match
        {"center_id": "12345"},  # not a division code
        {"center_id": "999999"},  # not in the registry
        {"center_id": None, "below": True, "rule": "deadline.*"},  # below needs a center
        {"rule": "no such rule!"},  # not a rule id or prefix
        {"reason": ""},
        {"reason": "   "},
        {"until": "2026-11-29T09:00:00"},  # no offset
        {"until": (T0 - timedelta(minutes=1)).isoformat()},  # in the past
        {"until": (T0 + timedelta(days=32)).isoformat()},  # longer than 31 days
        {"starts_at": (T0 + timedelta(days=3)).isoformat()},  # ends before it starts
        {"until": "tomorrow"},
        {"colour": "red"},  # unknown field
    ],
)
def test_invalid_silences_are_422(client: TestClient, fields: dict[str, Any]) -> None:
    response = client.post("/api/silences", json=body(**fields))
    assert response.status_code == 422, response.text
    assert client.get("/api/silences").json()["items"] == []


def test_a_refused_rule_is_not_echoed(client: TestClient) -> None:
    # an ID number typed into the rule box: the refusal says what a rule is, not the value
    response = client.post("/api/silences", json=body(rule="452701199001011234"))
    assert response.status_code == 422, response.text
    assert "not a rule id" in response.text and "452701199001011234" not in response.text


def test_missing_until_or_lift_reason_is_422(client: TestClient) -> None:
    payload = body()
    del payload["until"]
    assert client.post("/api/silences", json=payload).status_code == 422
    made = create(client)
    for reason in ({}, {"reason": ""}, {"reason": "  "}):
        response = client.post(f"/api/silences/{made['id']}/lift", json=reason)
        assert response.status_code == 422
    assert client.get("/api/silences?state=bogus").status_code == 422


# -- the journal is the state --------------------------------------------------------------


def test_another_instance_rebuilds_the_same_silences_from_the_journal(
    client: TestClient, app: FastAPI, clock: Clock
) -> None:
    kept = create(client, until=(T0 + timedelta(hours=5)).isoformat())
    lifted = create(client, rule="deadline.overdue", center_id=None)
    client.post(f"/api/silences/{lifted['id']}/lift", json={"reason": "误设"})
    records = journal_records(app)
    assert [(r["kind"], r["action"]) for r in records] == [
        ("silence", "create"),
        ("silence", "create"),
        ("silence", "lift"),
    ]
    # the record shape the notifier reads
    assert set(records[0]) >= {"kind", "action", "silence", "by", "at", "reason"}

    other = AlertHub(5)  # a second web service, or this one after a restart
    for seq, record in enumerate(records):
        other.apply(seq, record)
    other.apply(len(records), records[-1])  # read twice (a reconnect): nothing changes
    assert other.journal.silences == app.state.hub.journal.silences
    assert other.journal.silence_audit(lifted["id"]) == app.state.hub.journal.silence_audit(
        lifted["id"]
    )
    assert other.journal.silence_audit(kept["id"])[0]["by"]["name"] == "王监察"
    # and the alerts are untouched: silences only hold notifications back
    assert len(other) == 0


def test_the_notifier_planner_applies_what_the_api_wrote(client: TestClient, app: FastAPI) -> None:
    from supervisor.notify import silences as silence_book
    from supervisor.notify.plan import NotifyState
    from supervisor.notify.routing import Routing

    made = create(client)
    [record] = journal_records(app)
    state = NotifyState()
    planner = Planner(Routing([], []))
    state = planner.apply(state, record, T0 + timedelta(minutes=1), seq=0).state
    alert = {"center_id": CENTER, "rule_id": "deadline.overdue", "case_id": "x"}
    held = silence_book.matching(state.silences, alert, T0 + timedelta(minutes=1))
    assert held is not None and held.id == made["id"]


def test_a_malformed_silence_record_is_skipped(app: FastAPI, client: TestClient) -> None:
    hub: AlertHub = app.state.hub

    def run() -> None:
        applied = hub.journal.apply(hub.head + 1, {"kind": "silence", "action": "create"})
        assert applied.refused is not None

    assert client.portal is not None
    client.portal.call(run)
    assert client.get("/api/silences").json()["items"] == []
