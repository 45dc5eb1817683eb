"""supervisor.web.security on a small FastAPI app of its own: 401, 403, the WebSocket's
token and Origin checks, and the scope filter."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import pytest
from fastapi import Depends, FastAPI, WebSocket
from starlette.exceptions import StarletteDeprecationWarning
from starlette.websockets import WebSocketDisconnect

with warnings.catch_warnings():
    # As in test_app.py: Starlette 1.x warns once at import when it finds `httpx`.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

from supervisor.auth import Principal, Role, TokenStore
from supervisor.web.security import (
    CLOSE_FORBIDDEN,
    CLOSE_UNAUTHORIZED,
    Authenticator,
    Viewer,
    authenticate,
    check_websocket,
    origin_allowed,
    require_center,
    require_roles,
    scope_filter,
)

ALLOWED = ("https://wall.example",)
#: Module-level, so that the postponed annotations below resolve (see security.Viewer).
OPS_ONLY = require_roles(Role.ops)
OWN = "http://testserver"  # the TestClient's Host is `testserver`


def describe(who: Principal) -> dict[str, Any]:
    return {"id": who.id, "role": who.role.value, "center": who.center, "name": who.name}


def make_app(store: TokenStore) -> FastAPI:
    app = FastAPI()
    app.state.tokens = store
    bound = Authenticator(store)

    @app.get("/api/me")
    async def me(who: Annotated[Principal, Depends(authenticate)]) -> dict[str, Any]:
        return describe(who)

    @app.get("/api/alerts")
    async def alerts(who: Viewer) -> dict[str, Any]:
        visible = scope_filter(who)
        return {"centers": [c for c in ("451200", "451224", "451224101") if visible(c)]}

    @app.get("/api/centers/{code}")
    async def center(code: str, who: Viewer) -> dict[str, str]:
        require_center(who, code)
        return {"code": code}

    @app.get("/metrics")
    async def metrics(who: Annotated[Principal, Depends(OPS_ONLY)]) -> str:
        return "ok"

    # A dependency local to this function: in the default, not in the annotation.
    @app.get("/bound")
    async def bound_route(
        who: Principal = Depends(bound.requiring("inspector")),  # noqa: B008
    ) -> dict[str, Any]:
        return describe(who)

    @app.websocket("/ws/alerts")
    async def socket(websocket: WebSocket) -> None:
        who = await check_websocket(websocket, store, ALLOWED)
        if who is None:
            return
        await websocket.accept()
        await websocket.send_json(describe(who))
        await websocket.close()

    @app.websocket("/ws/first")
    async def socket_first(websocket: WebSocket) -> None:
        who = await bound.websocket(websocket, ALLOWED, accept_first=True)
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
def tokens(store: TokenStore) -> dict[str, str]:
    return {
        "inspector": store.issue("inspector", "张三"),
        "director": store.issue("director", "李四", center="451224"),
        "ops": store.issue("ops", "prometheus"),
    }


@pytest.fixture
def client(store: TokenStore) -> Iterator[TestClient]:
    with TestClient(make_app(store)) as test_client:
        yield test_client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# -- HTTP ------------------------------------------------------------------------------


def test_no_token_is_401_with_a_bearer_challenge(client: TestClient) -> None:
    for path in ("/api/me", "/api/alerts", "/metrics", "/bound"):
        response = client.get(path)
        assert response.status_code == 401, path
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert "需要访问令牌" in response.json()["detail"]


def test_a_bad_token_is_401(client: TestClient, store: TokenStore, tokens: dict[str, str]) -> None:
    bad = [
        "svt_0123456789ab." + "x" * 43,  # unknown id
        tokens["inspector"][:-1] + ("A" if tokens["inspector"][-1] != "A" else "B"),
        "not-a-token",
    ]
    for token in bad:
        response = client.get("/api/alerts", headers=bearer(token))
        assert response.status_code == 401, token
        assert 'error="invalid_token"' in response.headers["www-authenticate"]
    basic = client.get("/api/alerts", headers={"Authorization": "Basic dXNlcjpwdw=="})
    assert basic.status_code == 401, "another scheme is no token"
    store.revoke(tokens["inspector"])
    assert client.get("/api/alerts", headers=bearer(tokens["inspector"])).status_code == 401


def test_a_role_out_of_place_is_403(client: TestClient, tokens: dict[str, str]) -> None:
    assert client.get("/api/alerts", headers=bearer(tokens["ops"])).status_code == 403
    assert client.get("/metrics", headers=bearer(tokens["inspector"])).status_code == 403
    assert client.get("/bound", headers=bearer(tokens["director"])).status_code == 403
    forbidden = client.get("/metrics", headers=bearer(tokens["director"]))
    assert forbidden.status_code == 403
    assert forbidden.json()["detail"] == "中心负责人不能使用此功能"


def test_a_valid_token_of_an_admitted_role_is_200(
    client: TestClient, tokens: dict[str, str]
) -> None:
    me = client.get("/api/me", headers=bearer(tokens["director"]))
    assert me.status_code == 200
    assert me.json() == {
        "id": tokens["director"][4:16],
        "role": "director",
        "center": "451224",
        "name": "李四",
    }
    assert client.get("/metrics", headers=bearer(tokens["ops"])).status_code == 200
    assert client.get("/bound", headers=bearer(tokens["inspector"])).json()["name"] == "张三"


def test_the_query_parameter_works_and_the_header_wins(
    client: TestClient, tokens: dict[str, str]
) -> None:
    via_query = client.get("/api/me", params={"token": tokens["inspector"]})
    assert via_query.status_code == 200 and via_query.json()["role"] == "inspector"
    both = client.get(
        "/api/me", params={"token": tokens["inspector"]}, headers=bearer(tokens["ops"])
    )
    assert both.json()["role"] == "ops"


def test_scope_by_role_and_center(client: TestClient, tokens: dict[str, str]) -> None:
    seen = {
        role: client.get("/api/alerts", headers=bearer(tokens[role])).json()["centers"]
        for role in ("inspector", "director")
    }
    assert seen == {
        "inspector": ["451200", "451224", "451224101"],
        "director": ["451224", "451224101"],
    }
    director = bearer(tokens["director"])
    assert client.get("/api/centers/451224101", headers=director).status_code == 200
    assert client.get("/api/centers/451224999", headers=director).status_code == 200
    outside = client.get("/api/centers/451221", headers=director)
    assert outside.status_code == 403
    assert outside.json()["detail"] == "此中心不在您的职责范围内"


def test_scope_filter_per_role() -> None:
    inspector = scope_filter(Principal("0123456789ab", Role.inspector, None, "x"))
    director = scope_filter(Principal("0123456789ab", Role.director, "451224", "x"))
    ops = scope_filter(Principal("0123456789ab", Role.ops, None, "x"))
    codes = ["451200", "451224", "451224103", "451224999", "451221100", "451299"]
    assert [c for c in codes if inspector(c)] == codes
    assert [c for c in codes if director(c)] == ["451224", "451224103", "451224999"]
    assert [c for c in codes if ops(c)] == []


def test_unknown_roles_are_a_programming_error() -> None:
    with pytest.raises(ValueError):
        require_roles("admin")
    with pytest.raises(ValueError):
        require_roles()


# -- WebSocket -------------------------------------------------------------------------


def refused(client: TestClient, url: str, headers: dict[str, str] | None = None) -> int:
    with (
        pytest.raises(WebSocketDisconnect) as caught,
        client.websocket_connect(url, headers=headers or {}),
    ):
        pass
    return caught.value.code


def test_a_socket_without_a_token_is_closed_4401(
    client: TestClient, tokens: dict[str, str]
) -> None:
    assert refused(client, "/ws/alerts", {"Origin": OWN}) == CLOSE_UNAUTHORIZED
    assert refused(client, "/ws/alerts?token=svt_0123456789ab." + "x" * 43) == CLOSE_UNAUTHORIZED


def test_a_socket_from_a_foreign_origin_is_closed_4403(
    client: TestClient, tokens: dict[str, str]
) -> None:
    url = f"/ws/alerts?token={tokens['inspector']}"
    for origin in ("https://evil.example", "null", "http://testserver.evil.example"):
        assert refused(client, url, {"Origin": origin}) == CLOSE_FORBIDDEN, origin
    assert refused(client, "/ws/alerts", {"Origin": "https://evil.example"}) == CLOSE_FORBIDDEN


def test_a_socket_of_a_role_not_admitted_is_closed_4403(
    client: TestClient, tokens: dict[str, str]
) -> None:
    assert refused(client, f"/ws/alerts?token={tokens['ops']}", {"Origin": OWN}) == 4403


@pytest.mark.parametrize("origin", [OWN, "https://wall.example", None])
def test_a_socket_with_the_right_token_and_origin_is_accepted(
    client: TestClient, tokens: dict[str, str], origin: str | None
) -> None:
    headers = {"Origin": origin} if origin else {}
    url = f"/ws/alerts?token={tokens['director']}"
    with client.websocket_connect(url, headers=headers) as socket:
        assert socket.receive_json()["center"] == "451224"
    with client.websocket_connect("/ws/alerts", headers={**bearer(tokens["inspector"])}) as socket:
        assert socket.receive_json()["role"] == "inspector"


def test_accept_first_opens_then_closes_with_the_code(
    client: TestClient, tokens: dict[str, str]
) -> None:
    """For a page that must tell "token refused" from "network down"."""
    with client.websocket_connect("/ws/first", headers={"Origin": OWN}) as socket:
        with pytest.raises(WebSocketDisconnect) as caught:
            socket.receive_text()
        assert caught.value.code == CLOSE_UNAUTHORIZED
    with client.websocket_connect(
        f"/ws/first?token={tokens['inspector']}", headers={"Origin": "https://evil.example"}
    ) as socket:
        with pytest.raises(WebSocketDisconnect) as caught:
            socket.receive_text()
        assert caught.value.code == CLOSE_FORBIDDEN
    with client.websocket_connect(f"/ws/first?token={tokens['inspector']}") as socket:
        assert socket.receive_json()["role"] == "inspector"


@pytest.mark.parametrize(
    "origin,host,allowed",
    [
        (None, "anything", True),
        ("http://127.0.0.1:8000", "127.0.0.1:8000", True),
        ("https://wall.example.org", "wall.example.org", True),  # TLS proxy, default port
        ("https://wall.example.org:443", "wall.example.org", True),
        ("http://wall.example.org", "wall.example.org:80", True),
        ("HTTP://[::1]:8000/", "[::1]:8000", True),
        ("https://wall.example", "127.0.0.1:8000", True),  # listed
        ("http://127.0.0.1:8001", "127.0.0.1:8000", False),  # another port
        ("http://127.0.0.1", "127.0.0.1:8000", False),
        ("https://wall.example.org:8443", "wall.example.org", False),
        ("http://evil.example", "127.0.0.1:8000", False),
        ("null", "127.0.0.1:8000", False),
        ("file://", "127.0.0.1:8000", False),
        ("http://127.0.0.1:8000", None, False),
        ("http://127.0.0.1:x", "127.0.0.1:8000", False),
    ],
)
def test_origin_allowed(origin: str | None, host: str | None, allowed: bool) -> None:
    assert origin_allowed(origin, host, ALLOWED) is allowed
