"""The webhook channel against a real local receiver (issue 5 items 1 and 5).

The receiver is an aiohttp server on 127.0.0.1 that does what an office's gateway should:
it checks the signature with `verify_signature`, acts on each idempotency key once, and
can be told to fail (503, 429 with Retry-After, 400, a redirect, an answer too slow), or
be stopped and started again on the same port."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import random
import socket
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest
from aiohttp import web
from hypothesis import given
from hypothesis import strategies as st

from supervisor.notify.retry import Attempt, Delivery, Outcome, RetryPolicy
from supervisor.notify.webhook import (
    encode_body,
    parse_retry_after,
    redact_url,
    send_webhook,
    sign,
    verify_signature,
)

SECRET = b"s3cret-shared-with-the-office"
PAYLOAD = {
    "notification_id": "n-deadline.overdue:C-1",
    "alert_id": "deadline.overdue:C-1",
    "severity": "red",
    "center_name": "宜州区政务服务中心",
    "message": "办件超期未办结",
}


@dataclass
class Seen:
    """One request as the receiver saw it."""

    key: str | None
    timestamp: str | None
    signature: str | None
    content_type: str | None
    body: bytes
    valid: bool


@dataclass
class Receiver:
    """The office's gateway. `script` says how to answer the next requests (popped one
    by one; then 200): an int status, (status, headers), ("slow", seconds) (acts on the
    notification, then answers too late), or ("redirect", path)."""

    secret: bytes = SECRET
    port: int = 0
    script: list[object] = field(default_factory=list)
    seen: list[Seen] = field(default_factory=list)
    processed: Counter[str] = field(default_factory=Counter)  # key -> times acted on
    bodies: dict[str, bytes] = field(default_factory=dict)
    runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/hook", self.handle)
        app.router.add_post("/elsewhere", self.handle)
        self.runner = web.AppRunner(app, handle_signals=False)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", self.port, reuse_address=True)
        await site.start()
        self.port = self.runner.addresses[0][1]

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None

    def _act(self, key: str, body: bytes) -> None:
        """Act on a notification once per idempotency key."""
        if key not in self.bodies:
            self.bodies[key] = body
            self.processed[key] += 1

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        timestamp = request.headers.get("X-Supervisor-Timestamp")
        signature = request.headers.get("X-Supervisor-Signature")
        valid = verify_signature(
            self.secret, timestamp or "", body, signature or "", now=time.time()
        )
        key = request.headers.get("Idempotency-Key")
        self.seen.append(
            Seen(key, timestamp, signature, request.headers.get("Content-Type"), body, valid)
        )
        if not valid:
            return web.Response(status=401, text="bad signature")
        if key is None:
            return web.Response(status=400, text="no Idempotency-Key")
        step = self.script.pop(0) if self.script else 200
        if isinstance(step, int):
            if step < 300:
                self._act(key, body)
            return web.Response(status=step, text=f"answer {step}")
        if isinstance(step, tuple) and step[0] == "slow":
            self._act(key, body)
            await asyncio.sleep(float(step[1]))
            return web.Response(status=200)
        if isinstance(step, tuple) and step[0] == "redirect":
            raise web.HTTPPermanentRedirect(str(step[1]))
        if isinstance(step, tuple):
            status, headers = step
            return web.Response(status=int(status), headers=dict(headers), text="later")
        raise AssertionError(step)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    await receiver.start()
    yield receiver
    await receiver.stop()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def send(
    url: str, key: str = "n-1", *, secret: bytes = SECRET, timeout: float = 5.0
) -> Delivery:
    return await send_webhook(url, PAYLOAD, secret=secret, idempotency_key=key, timeout=timeout)


# -- one attempt -------------------------------------------------------------------------


async def test_delivered_signed_compact_utf8_json_with_the_key(receiver: Receiver) -> None:
    now = datetime.now(UTC)
    delivery = await send_webhook(
        receiver.url, PAYLOAD, secret=SECRET, idempotency_key="n-1", timeout=5, now=now
    )
    assert delivery.outcome is Outcome.DELIVERED and delivery.delivered
    assert delivery.status == 200 and delivery.error is None
    assert delivery.channel == "webhook" and delivery.at == now and delivery.elapsed > 0
    [seen] = receiver.seen
    assert seen.valid
    assert seen.key == "n-1"
    assert seen.content_type == "application/json"
    assert seen.timestamp == str(int(now.timestamp()))
    assert json.loads(seen.body.decode("utf-8")) == PAYLOAD
    assert b" " not in seen.body  # compact
    assert "宜州区政务服务中心".encode() in seen.body  # UTF-8, not \\u escapes
    # the signature is exactly HMAC-SHA256 over "<timestamp>.<body>", as documented
    expected = hmac.new(SECRET, seen.timestamp.encode() + b"." + seen.body, hashlib.sha256)
    assert seen.signature == "sha256=" + expected.hexdigest()
    assert receiver.processed == Counter({"n-1": 1})


async def test_a_reused_client_works_the_same(receiver: Receiver) -> None:
    async with httpx.AsyncClient() as client:
        for key in ("n-1", "n-2", "n-1"):
            delivery = await send_webhook(
                receiver.url, PAYLOAD, secret=SECRET, idempotency_key=key, timeout=5, client=client
            )
            assert delivery.delivered
    assert receiver.processed == Counter({"n-1": 1, "n-2": 1})
    assert len(receiver.seen) == 3


@pytest.mark.parametrize("status", [500, 502, 503, 504, 408])
async def test_server_errors_and_request_timeout_are_retried(
    receiver: Receiver, status: int
) -> None:
    receiver.script = [status]
    delivery = await send(receiver.url)
    assert delivery.outcome is Outcome.RETRY
    assert delivery.status == status
    assert (delivery.error or "").startswith(f"HTTP {status}")
    assert delivery.retry_after is None
    assert not receiver.processed


async def test_429_and_503_retry_after_is_passed_on(receiver: Receiver) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    receiver.script = [
        (429, {"Retry-After": "30"}),
        (503, {"Retry-After": format_datetime(now + timedelta(seconds=90), usegmt=True)}),
        (429, {"Retry-After": "soon"}),
    ]
    first = await send_webhook(
        receiver.url, PAYLOAD, secret=SECRET, idempotency_key="k", timeout=5, now=now
    )
    assert (first.outcome, first.status, first.retry_after) == (Outcome.RETRY, 429, 30.0)
    second = await send_webhook(
        receiver.url, PAYLOAD, secret=SECRET, idempotency_key="k", timeout=5, now=now
    )
    assert (second.outcome, second.status, second.retry_after) == (Outcome.RETRY, 503, 90.0)
    third = await send(receiver.url)
    assert (third.outcome, third.retry_after) == (Outcome.RETRY, None)
    # the policy then waits at least that long
    attempt = RetryPolicy(base=1, cap=1).record(1, first, random.Random(1))
    assert attempt.next_at is not None
    assert attempt.next_at >= now + timedelta(seconds=30)


@pytest.mark.parametrize("status", [400, 404, 410, 422])
async def test_client_errors_fail_for_good(receiver: Receiver, status: int) -> None:
    receiver.script = [status]
    delivery = await send(receiver.url)
    assert delivery.outcome is Outcome.FAILED
    assert delivery.status == status
    assert (delivery.error or "").endswith(f"answer {status}")
    assert RetryPolicy().record(1, delivery, random.Random(1)).dead


async def test_a_wrong_secret_is_refused_by_the_receiver(receiver: Receiver) -> None:
    delivery = await send(receiver.url, secret=b"not the office's secret")
    assert (delivery.outcome, delivery.status) == (Outcome.FAILED, 401)
    assert receiver.seen[0].valid is False
    assert not receiver.processed


async def test_redirects_are_not_followed(receiver: Receiver) -> None:
    receiver.script = [("redirect", "/elsewhere")]
    delivery = await send(receiver.url)
    assert (delivery.outcome, delivery.status) == (Outcome.FAILED, 308)
    assert "redirects are not followed" in (delivery.error or "")
    assert len(receiver.seen) == 1  # /elsewhere never asked


async def test_an_answer_too_slow_is_retried_within_the_timeout(receiver: Receiver) -> None:
    receiver.script = [("slow", 3.0)]
    started = time.perf_counter()
    delivery = await send(receiver.url, timeout=0.3)
    assert time.perf_counter() - started < 2.0
    assert delivery.outcome is Outcome.RETRY
    assert delivery.error == "no answer within 0.3 s"
    assert delivery.status is None
    # the receiver did act (on a loaded machine, maybe only after the sender gave up):
    # only the key keeps the retry from acting twice
    for _ in range(200):
        if receiver.processed:
            break
        await asyncio.sleep(0.05)
    assert receiver.processed == Counter({"n-1": 1})
    assert (await send(receiver.url)).delivered
    assert receiver.processed == Counter({"n-1": 1})
    assert [seen.key for seen in receiver.seen] == ["n-1", "n-1"]


async def test_nobody_listening_is_retried() -> None:
    url = f"http://127.0.0.1:{free_port()}/hook?key=ROBOT-KEY-123"
    delivery = await send(url)
    assert delivery.outcome is Outcome.RETRY
    assert "ConnectError" in (delivery.error or "")
    assert "ROBOT-KEY-123" not in (delivery.error or "")


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/hook", "not a url", "http://"])
async def test_an_unusable_url_fails_for_good(url: str) -> None:
    delivery = await send(url)
    assert delivery.outcome is Outcome.FAILED


async def test_error_text_is_short_and_masked() -> None:
    async def leaky(request: web.Request) -> web.Response:
        return web.Response(status=400, text="申请人 452701199001011234 电话 13800001111 " * 50)

    app = web.Application()
    app.router.add_post("/leaky", leaky)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        port = runner.addresses[0][1]
        delivery = await send(f"http://127.0.0.1:{port}/leaky")
    finally:
        await runner.cleanup()
    error = delivery.error or ""
    assert delivery.outcome is Outcome.FAILED
    assert "452701199001011234" not in error and "13800001111" not in error
    assert "4527**********1234" in error and "138****1111" in error
    assert len(error) <= 200 and "\n" not in error


async def test_callers_mistakes_raise() -> None:
    with pytest.raises(ValueError):
        await send("http://127.0.0.1:1/hook", key="line\nbreak")
    with pytest.raises(ValueError):
        await send("http://127.0.0.1:1/hook", key="")
    with pytest.raises(ValueError):
        await send("http://127.0.0.1:1/hook", secret=b"")
    with pytest.raises(ValueError):
        await send_webhook(
            "http://127.0.0.1:1/hook",
            {"x": float("nan")},
            secret=SECRET,
            idempotency_key="k",
            timeout=1,
        )


# -- the receiver's side -----------------------------------------------------------------


def test_verify_signature_accepts_only_the_signed_body_in_time() -> None:
    body = encode_body(PAYLOAD)
    stamp = 1_800_000_000
    header = sign(SECRET, stamp, body)
    assert verify_signature(SECRET, str(stamp), body, header, now=stamp + 10)
    assert verify_signature(SECRET, stamp, body, header, now=float(stamp))
    assert verify_signature(
        SECRET, stamp, body, header.upper().replace("SHA256=", "sha256="), now=stamp
    )
    when = datetime.fromtimestamp(stamp, UTC)
    assert verify_signature(SECRET, stamp, body, header, now=when)
    # tampered, wrong secret, other timestamp
    assert not verify_signature(SECRET, stamp, body + b" ", header, now=stamp)
    assert not verify_signature(SECRET, stamp, body.replace(b"red", b"yel"), header, now=stamp)
    assert not verify_signature(b"other", stamp, body, header, now=stamp)
    assert not verify_signature(SECRET, stamp + 1, body, header, now=stamp)
    assert not verify_signature(b"", stamp, body, header, now=stamp)
    # replay protection: five minutes either way, then refused
    assert verify_signature(SECRET, stamp, body, header, now=stamp + 300)
    assert not verify_signature(SECRET, stamp, body, header, now=stamp + 301)
    assert not verify_signature(SECRET, stamp, body, header, now=stamp - 301)
    assert verify_signature(SECRET, stamp, body, header, now=stamp + 900, tolerance=1000)
    # malformed headers are simply refused
    hexdigest = header.removeprefix("sha256=")
    for bad in (hexdigest, "sha1=" + hexdigest, "", "sha256=", "sha256=" + "é" * 64):
        assert not verify_signature(SECRET, stamp, body, bad, now=stamp)
    for bad_stamp in ("", "12.5", "-5", "１８", " ", "abc", "9" * 5000):
        assert not verify_signature(SECRET, bad_stamp, body, header, now=stamp)


@given(
    body=st.binary(max_size=200),
    secret=st.binary(min_size=1, max_size=40),
    stamp=st.integers(0, 2**40),
)
def test_sign_and_verify_agree(body: bytes, secret: bytes, stamp: int) -> None:
    assert verify_signature(secret, str(stamp), body, sign(secret, stamp, body), now=stamp)


def test_parse_retry_after() -> None:
    now = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)
    assert parse_retry_after("120", now) == 120.0
    assert parse_retry_after(" 0 ", now) == 0.0
    assert parse_retry_after("Mon, 02 Nov 2026 01:02:00 GMT", now) == 120.0
    assert parse_retry_after("Mon, 02 Nov 2026 00:00:00 GMT", now) == 0.0  # past
    assert parse_retry_after(None, now) is None
    assert parse_retry_after("", now) is None
    assert parse_retry_after("tomorrow", now) is None
    assert parse_retry_after("-3", now) is None


def test_redact_url() -> None:
    assert (
        redact_url("https://u:p@gw.example.cn:8443/send?key=abc#x")
        == "https://gw.example.cn:8443/send?…"
    )
    assert redact_url("http://[::1]/hook") == "http://[::1]/hook"
    assert redact_url("http://h/hook") == "http://h/hook"


# -- retries until delivered, once per key ------------------------------------------------


FAST = RetryPolicy(base=0.05, factor=2, cap=0.3, max_attempts=60, budget=timedelta(seconds=30))


async def deliver(url: str, key: str, policy: RetryPolicy, rng: random.Random) -> list[Attempt]:
    """What a delivery worker does with one notification: attempt, record, wait, again."""
    attempts: list[Attempt] = []
    first_at = None
    while True:
        delivery = await send_webhook(
            url,
            {**PAYLOAD, "notification_id": key},
            secret=SECRET,
            idempotency_key=key,
            timeout=0.5,
        )
        first_at = first_at or delivery.at
        attempt = policy.record(len(attempts) + 1, delivery, rng, first_at=first_at)
        attempts.append(attempt)
        if attempt.next_at is None:
            return attempts
        await asyncio.sleep(max(0.0, (attempt.next_at - datetime.now(UTC)).total_seconds()))


async def test_receiver_down_for_a_while_then_up_every_notification_once() -> None:
    receiver = Receiver(port=free_port())
    keys = [f"n-{i}" for i in range(8)]
    rng = random.Random(7)
    # down: nothing listens on the port
    work = [asyncio.create_task(deliver(receiver.url, key, FAST, rng)) for key in keys]
    await asyncio.sleep(0.6)
    # up, but overloaded at first, and one answer lost after acting on it
    receiver.script = [503, (429, {"Retry-After": "0"}), 502, ("slow", 1.0), 503]
    await receiver.start()
    try:
        histories = await asyncio.wait_for(asyncio.gather(*work), timeout=30)
    finally:
        await receiver.stop()
    for history in histories:
        assert history[-1].outcome is Outcome.DELIVERED
        assert [a.number for a in history] == list(range(1, len(history) + 1))
        assert all(a.outcome is Outcome.RETRY and a.next_at is not None for a in history[:-1])
        assert history[0].outcome is Outcome.RETRY  # the first try met a closed port
    assert receiver.processed == Counter({key: 1 for key in keys})  # none twice
    seen_keys = Counter(seen.key for seen in receiver.seen)
    assert sum(seen_keys.values()) > len(keys)  # some were sent more than once…
    assert set(seen_keys) == set(keys)  # …and the receiver acted on each key once
    assert all(seen.valid for seen in receiver.seen)  # every retry signed anew, in time
    for key in keys:
        assert json.loads(receiver.bodies[key])["notification_id"] == key


async def test_retry_budget_spent_ends_in_a_dead_letter(receiver: Receiver) -> None:
    receiver.script = [503] * 10
    policy = RetryPolicy(base=0.01, cap=0.02, max_attempts=3, budget=timedelta(seconds=10))
    history = await deliver(receiver.url, "n-dead", policy, random.Random(3))
    assert [a.outcome for a in history] == [Outcome.RETRY] * 3
    assert history[-1].dead and history[-1].status == 503
    assert not receiver.processed and len(receiver.seen) == 3


async def test_a_permanent_failure_is_not_retried(receiver: Receiver) -> None:
    receiver.script = [400]
    history = await deliver(receiver.url, "n-bad", FAST, random.Random(3))
    assert len(history) == 1 and history[0].dead and history[0].outcome is Outcome.FAILED
    assert len(receiver.seen) == 1
