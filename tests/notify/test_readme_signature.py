"""The "Verifying a webhook signature" example of docs/notifications.md (the page the
offices' developers read), run as it stands there against real signed requests, so the
documentation cannot drift from what is sent."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from aiohttp import web

from supervisor.notify.retry import Outcome
from supervisor.notify.webhook import encode_body, send_webhook, sign, verify_signature
from supervisor.settings import PROJECT_ROOT

SECRET = b"office-451224-secret"
PAYLOAD = {"notification_id": "n-1", "alert_id": "deadline.overdue:C-1", "center_name": "宜州区"}

Check = Callable[[bytes, Mapping[str, str], bytes], bool]


PAGE = PROJECT_ROOT / "docs" / "notifications.md"


def signature_section() -> str:
    """The text of "Verifying a webhook signature" on the notifications page."""
    page = PAGE.read_text(encoding="utf-8")
    assert re.match(r"# Notifications\n", page), f"{PAGE.name} is not the notifications page"
    section = re.search(
        r"^## Verifying a webhook signature\n(.*?)(?=^##)", page + "\n##", re.M | re.S
    )
    assert section, f'{PAGE.name} has no "## Verifying a webhook signature" section'
    return section.group(1)


def signature_snippet() -> str:
    blocks = re.findall(r"^```python\n(.*?)^```$", signature_section(), re.M | re.S)
    assert len(blocks) == 1, "expected one Python block in the signature section"
    return str(blocks[0])


def load_example() -> Check:
    namespace: dict[str, Any] = {"__name__": "documented_example"}
    source = f"{PAGE.name} (Verifying a webhook signature)"
    exec(compile(signature_snippet(), source, "exec"), namespace)
    check = namespace["is_authentic"]
    assert callable(check)
    return check  # type: ignore[no-any-return]


def test_the_section_documents_the_headers_and_the_algorithm() -> None:
    section = signature_section()
    for header in (
        "Idempotency-Key",
        "X-Supervisor-Timestamp",
        "X-Supervisor-Signature",
        "application/json",
    ):
        assert f"`{header}`" in section
    assert '"<timestamp>." + body' in section
    assert "five minutes" in section


@dataclass
class Office:
    """An office's receiver whose check is the documented function."""

    check: Check
    answers: list[int] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        if not self.check(SECRET, request.headers, body):
            self.answers.append(401)
            return web.Response(status=401, text="bad signature")
        self.keys.append(request.headers["Idempotency-Key"])
        self.answers.append(204)
        return web.Response(status=204)


@pytest.fixture
async def office() -> AsyncIterator[Office]:
    office = Office(load_example())
    app = web.Application()
    app.router.add_post("/notify", office.handle)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    office.url = f"http://127.0.0.1:{runner.addresses[0][1]}/notify"
    yield office
    await runner.cleanup()


async def test_the_example_accepts_what_the_channel_sends(office: Office) -> None:
    delivery = await send_webhook(
        office.url, PAYLOAD, secret=SECRET, idempotency_key="n-1", timeout=5
    )
    assert (delivery.outcome, delivery.status) == (Outcome.DELIVERED, 204)
    assert office.keys == ["n-1"]


async def test_the_example_refuses_another_secret(office: Office) -> None:
    delivery = await send_webhook(
        office.url, PAYLOAD, secret=b"someone else", idempotency_key="n-1", timeout=5
    )
    assert (delivery.outcome, delivery.status) == (Outcome.FAILED, 401)
    assert office.keys == []


async def test_the_example_refuses_tampering_and_replays(office: Office) -> None:
    body = encode_body(PAYLOAD)
    now = int(time.time())

    def headers(stamp: int, signed: bytes = body) -> dict[str, str]:
        return {
            "Content-Type": "application/json",
            "Idempotency-Key": "n-1",
            "X-Supervisor-Timestamp": str(stamp),
            "X-Supervisor-Signature": sign(SECRET, stamp, signed),
        }

    tampered = body.replace("宜州区".encode(), "金城江区".encode())
    async with httpx.AsyncClient() as client:
        cases = [
            (headers(now), body, 204),  # as sent
            (headers(now), tampered, 401),  # body changed on the way
            (headers(now - 400), body, 401),  # a captured request replayed later
            (headers(now + 400), body, 401),  # a timestamp from the future
            (headers(now - 60), body, 204),  # a minute of delay or clock skew
            ({"Content-Type": "application/json"}, body, 401),  # not signed at all
            ({**headers(now), "X-Supervisor-Timestamp": "now"}, body, 401),
            ({**headers(now), "X-Supervisor-Signature": "sha256=00"}, body, 401),
        ]
        for sent_headers, sent_body, expected in cases:
            response = await client.post(office.url, content=sent_body, headers=sent_headers)
            assert response.status_code == expected, (sent_headers, expected)
    assert office.answers == [expected for _, _, expected in cases]


def test_the_example_agrees_with_verify_signature() -> None:
    check = load_example()
    body = encode_body(PAYLOAD)
    now = int(time.time())
    for stamp in (now, now - 299, now + 299, now - 301, now + 301, now - 3600):
        for secret in (SECRET, b"other"):
            for sent in (body, body + b"\n"):
                signature = sign(SECRET, stamp, body)
                headers = {
                    "X-Supervisor-Timestamp": str(stamp),
                    "X-Supervisor-Signature": signature,
                }
                assert check(secret, headers, sent) == verify_signature(
                    secret, str(stamp), sent, signature, now=now
                )
