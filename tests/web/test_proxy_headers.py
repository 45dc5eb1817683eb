"""Behind a TLS proxy: the web service takes the request's scheme (and so the session
cookie's Secure flag) from X-Forwarded-Proto only when the proxy is one it was told to
trust (SUPERVISOR_WEB_TRUSTED_PROXIES), through uvicorn's configuration as served."""

from __future__ import annotations

import httpx
from fastapi import FastAPI, Request

from supervisor.settings import Settings
from supervisor.web.server import server_config


def scheme_app() -> FastAPI:
    app = FastAPI()

    @app.get("/scheme")
    async def scheme(request: Request) -> dict[str, str]:
        client = request.client.host if request.client else ""
        return {"scheme": request.url.scheme, "client": client}

    return app


async def seen(settings: Settings, proxy: str) -> dict[str, str]:
    config = server_config(settings, scheme_app())
    config.load()
    transport = httpx.ASGITransport(app=config.loaded_app, client=(proxy, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://wall.example") as client:
        answer = await client.get(
            "/scheme", headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}
        )
    return dict(answer.json())


async def test_only_a_trusted_proxy_says_the_request_came_over_https() -> None:
    default = Settings.from_env({})
    assert default.web_trusted_proxies == "127.0.0.1"
    assert await seen(default, "127.0.0.1") == {"scheme": "https", "client": "203.0.113.9"}
    assert await seen(default, "10.0.0.5") == {"scheme": "http", "client": "10.0.0.5"}

    behind = Settings.from_env({"SUPERVISOR_WEB_TRUSTED_PROXIES": "10.0.0.0/24"})
    assert await seen(behind, "10.0.0.5") == {"scheme": "https", "client": "203.0.113.9"}
    assert await seen(behind, "127.0.0.1") == {"scheme": "http", "client": "127.0.0.1"}
