"""Session cookies (supervisor/web/sessions.py) and how security.py takes them, on a small
FastAPI app of its own: signing, tampering, expiry, the key file, and cross-site request
forgery refused (no CSRF value, a foreign Origin) while Bearer tokens are unaffected."""

from __future__ import annotations

import os
import stat
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI, Request, Response, WebSocket
from starlette.exceptions import StarletteDeprecationWarning

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

from supervisor.auth import TokenStore
from supervisor.web.security import AnyRole, Viewer, check_websocket
from supervisor.web.sessions import COOKIE, CSRF_HEADER, KEY_FILE, Sessions, load_or_make_key
from tests.web.test_security import OWN, bearer, describe

SECRET = b"s" * 32


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


# -- signing ------------------------------------------------------------------------------


def test_a_cookie_reads_back_until_it_is_altered_or_too_old() -> None:
    clock = Clock()
    sessions = Sessions(SECRET, max_age=3600, clock=clock)
    value, session = sessions.open("0123456789ab")
    assert sessions.read(value) == session and session.token_id == "0123456789ab"
    assert len(session.csrf) >= 40 and session.issued == int(clock.now)
    assert sessions.open("0123456789ab")[1].csrf != session.csrf  # a new value each time
    # the signature's last character but one: the last holds two padding bits, and a
    # change in those alone decodes to the same signature
    altered = value[:-2] + ("A" if value[-2] != "A" else "B") + value[-1]
    assert sessions.read(altered) is None
    assert sessions.read("not-a-cookie") is None
    assert Sessions(b"t" * 32, clock=clock).read(value) is None  # another service's key
    clock.now += 3599
    assert sessions.read(value) is not None
    clock.now += 2
    assert sessions.read(value) is None


def test_only_the_sessions_own_csrf_value_matches() -> None:
    sessions = Sessions(SECRET)
    _, session = sessions.open("0123456789ab")
    assert Sessions.csrf_matches(session, session.csrf)
    assert not Sessions.csrf_matches(session, None)
    assert not Sessions.csrf_matches(session, "")
    assert not Sessions.csrf_matches(session, session.csrf[:-1])


def test_a_short_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 32 bytes"):
        Sessions(b"short")


def test_the_key_is_made_once_readable_by_its_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "data" / KEY_FILE
    key = load_or_make_key(path)
    assert len(key) == 64 and load_or_make_key(path) == key
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == [KEY_FILE]  # no temporary file left
    made = Sessions.for_service("", path.parent)
    value, _ = made.open("0123456789ab")
    assert Sessions(key).read(value) is not None
    path.write_bytes(b"too short")
    with pytest.raises(ValueError, match="at least 32 bytes"):
        load_or_make_key(path)


# -- on a small app -------------------------------------------------------------------------


def make_app(store: TokenStore, sessions: Sessions) -> FastAPI:
    app = FastAPI()
    app.state.tokens = store
    app.state.sessions = sessions

    @app.post("/sign-in")
    async def sign_in(token: str, response: Response) -> dict[str, str]:
        principal = store.verify(token)
        assert principal is not None
        value, session = sessions.open(principal.id)
        response.set_cookie(COOKIE, value, httponly=True, samesite="strict")
        return {"csrf": session.csrf}

    @app.get("/api/me")
    async def me(who: AnyRole, request: Request) -> dict[str, Any]:
        session = getattr(request.state, "session", None)
        return {**describe(who), "session": session is not None}

    @app.post("/api/alerts/x/acknowledge")
    async def act(who: Viewer) -> dict[str, Any]:
        return describe(who)

    @app.websocket("/ws/alerts")
    async def socket(websocket: WebSocket) -> None:
        who = await check_websocket(websocket, store, ())
        if who is None:
            return
        await websocket.accept()
        await websocket.send_json(describe(who))
        await websocket.close()

    return app


@pytest.fixture
def store(tmp_path: Path) -> TokenStore:
    return TokenStore(tmp_path / "tokens.json")


@pytest.fixture
def client(store: TokenStore) -> Iterator[TestClient]:
    with TestClient(make_app(store, Sessions(SECRET)), base_url=OWN) as test_client:
        yield test_client


def sign_in(client: TestClient, token: str) -> str:
    response = client.post("/sign-in", params={"token": token})
    assert response.status_code == 200
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie
    return str(response.json()["csrf"])


def test_a_signed_in_browser_reads_and_acts_with_its_csrf_value(
    client: TestClient, store: TokenStore
) -> None:
    csrf = sign_in(client, store.issue("director", "李四", center="451224"))
    me = client.get("/api/me")
    assert me.status_code == 200 and me.json()["role"] == "director" and me.json()["session"]
    done = client.post("/api/alerts/x/acknowledge", headers={CSRF_HEADER: csrf, "Origin": OWN})
    assert done.status_code == 200 and done.json()["name"] == "李四"
    quiet = client.post("/api/alerts/x/acknowledge", headers={CSRF_HEADER: csrf})
    assert quiet.status_code == 200  # no Origin (not every browser sends one): the value is


def test_a_cross_site_request_changes_nothing(client: TestClient, store: TokenStore) -> None:
    csrf = sign_in(client, store.issue("inspector", "张三"))
    forged = [
        {},  # a form posted from another site: the cookie comes, no header
        {"Origin": "https://evil.example"},
        {CSRF_HEADER: "guessed", "Origin": OWN},
        {
            CSRF_HEADER: csrf,
            "Origin": "https://evil.example",
        },  # the value leaked, the origin not ours
        {CSRF_HEADER: csrf, "Origin": "null"},
    ]
    for headers in forged:
        response = client.post("/api/alerts/x/acknowledge", headers=headers)
        assert response.status_code == 403, headers


def test_a_bearer_token_needs_no_csrf_value(client: TestClient, store: TokenStore) -> None:
    token = store.issue("inspector", "张三")
    fresh = TestClient(client.app, base_url=OWN)  # no cookie in this one
    response = fresh.post("/api/alerts/x/acknowledge", headers=bearer(token))
    assert response.status_code == 200


def test_revoking_the_token_ends_its_sessions(client: TestClient, store: TokenStore) -> None:
    token = store.issue("inspector", "张三")
    sign_in(client, token)
    assert client.get("/api/me").status_code == 200
    store.revoke(token)
    ended = client.get("/api/me")
    assert ended.status_code == 401 and "已撤销或过期" in ended.json()["detail"]


def test_a_forged_cookie_is_401(client: TestClient) -> None:
    client.cookies.set(COOKIE, "eyJ0IjoiMDEyMzQ1Njc4OWFiIn0.forged.signature")
    response = client.get("/api/me")
    assert response.status_code == 401 and "请重新登录" in response.json()["detail"]


def test_the_socket_takes_the_session_cookie_from_its_own_origin(
    client: TestClient, store: TokenStore
) -> None:
    sign_in(client, store.issue("director", "李四", center="451224"))
    with client.websocket_connect("/ws/alerts", headers={"Origin": OWN}) as socket:
        assert socket.receive_json()["name"] == "李四"
