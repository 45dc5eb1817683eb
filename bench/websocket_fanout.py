"""WebSocket fan-out: 500 clients during a burst of 1,000 alerts/s, with and without a
client that does not read.

Run on purpose (not in CI), with a broker (see bench/_common.py):

    .venv/bin/python bench/websocket_fanout.py [--clients 500] [--rate 1000] [--seconds 3]

One run starts a real `supervisor web` on a fresh alerts topic (no worker: the alerts are
published straight to the topic the web service reads, as the worker would publish them)
and opens `--clients` sockets on `/ws/alerts?token=...` (an inspector's token):

- `--measured` (20) of them are full WebSocket clients (the `websockets` library) that
  read every message and record, per alert, receive time - the time the benchmark
  handed the alert to its producer (same process, same clock);
- the others read the socket as fast as they can and throw the bytes away without
  parsing frames (the server cannot tell; a Python client that parsed 500 x 1,000
  frames a second would measure itself, not the server).

Phase 1 (baseline): a burst of rate x seconds alerts at `--rate`/s. Phase 2, same run and
same sockets: one more client that never reads after the snapshot (the slow wall), and
the same burst again. Reported: the measured clients' latency p50/p99 in each phase, how
many clients were disconnected (code 1013, `supervisor_web_websocket_slow_disconnects_total`)
and what became of the slow one. Goal (issue 6): the slow client does not delay the others.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import socket
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent))

import contextlib

import _common as c

CN = ZoneInfo("Asia/Shanghai")


def alert(run: str, phase: int, n: int) -> tuple[str, bytes]:
    alert_id = f"fee.overcharge:451221-2026-{run[:3]}{phase}{n:06d}"
    doc = {
        "alert_id": alert_id,
        "rule_id": "fee.overcharge",
        "severity": "red",
        "case_id": alert_id.split(":", 1)[1],
        "center_id": "451221",
        "raised_at": datetime.now(CN).isoformat(timespec="seconds"),
        "title": "违规收费",
        "message": "南丹县政务服务中心办件已收费 50 元，超过收费标准 10 元。",
        "details": {"center_name": "南丹县政务服务中心", "charged": 50, "fee_standard": 10},
    }
    return alert_id, json.dumps(doc, ensure_ascii=False).encode()


class Drain:
    """A client that reads its socket as fast as it can and discards the bytes."""

    def __init__(self) -> None:
        self.bytes = 0
        self.closed_at: float | None = None
        self.task: asyncio.Task[None] | None = None

    async def open(self, port: int, path: str) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(
            (
                f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        head = await reader.readuntil(b"\r\n\r\n")
        if b" 101 " not in head.split(b"\r\n", 1)[0]:
            raise RuntimeError(f"upgrade refused: {head[:80]!r}")
        self.task = asyncio.create_task(self._read(reader, writer))

    async def _read(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        buffer = b""
        try:
            while True:
                chunk = await reader.read(262144)
                if not chunk:
                    break
                self.bytes += len(chunk)
                buffer = self._frames(buffer + chunk, writer)
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self.closed_at = time.time()
            writer.close()

    @staticmethod
    def _frames(data: bytes, writer: asyncio.StreamWriter) -> bytes:
        """Skip whole frames; answer pings (the server closes a socket that does not
        answer its keepalive pings within ~40 s). Returns the incomplete tail."""
        at = 0
        while len(data) - at >= 2:
            opcode, length, start = data[at] & 0x0F, data[at + 1] & 0x7F, at + 2
            if length == 126:
                if len(data) - at < 4:
                    break
                length, start = int.from_bytes(data[at + 2 : at + 4], "big"), at + 4
            elif length == 127:
                if len(data) - at < 10:
                    break
                length, start = int.from_bytes(data[at + 2 : at + 10], "big"), at + 10
            if len(data) < start + length:
                break
            if opcode == 0x9:  # ping: a masked pong with the same payload
                payload = data[start : start + length]
                mask = os.urandom(4)
                masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
                writer.write(bytes([0x8A, 0x80 | len(payload)]) + mask + masked)
            at = start + length
        return data[at:]


class Measured:
    """A full WebSocket client that records each alert's delivery latency."""

    def __init__(self, sent: dict[str, float]) -> None:
        self.sent = sent
        self.latencies: dict[int, list[float]] = {1: [], 2: []}
        self.close_code: int | None = None
        self.task: asyncio.Task[None] | None = None

    async def open(self, url: str) -> None:
        from websockets.asyncio.client import connect

        self.socket = await connect(url, max_queue=None, ping_interval=None)
        first = json.loads(await self.socket.recv())
        assert first["type"] == "snapshot"
        self.task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        from websockets.exceptions import ConnectionClosed

        try:
            async for raw in self.socket:
                at = time.time()
                message = json.loads(raw)
                batch = message["messages"] if message.get("type") == "batch" else [message]
                for one in batch:
                    if one.get("type") == "alert":
                        alert_id = one["alert"]["alert_id"]
                        phase = int(alert_id.split(":", 1)[1][-7])
                        self.latencies[phase].append(at - self.sent[alert_id])
        except ConnectionClosed:
            pass
        self.close_code = self.socket.close_code


async def burst(
    server: str, topic: str, run: str, phase: int, rate: float, count: int, sent: dict[str, float]
) -> float:
    out = c.producer(server, linger_ms=0)
    await out.start()
    loop = asyncio.get_running_loop()
    futures = []
    try:
        began = loop.time()
        for n in range(count):
            delay = began + n / rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            alert_id, value = alert(run, phase, n)
            sent[alert_id] = time.time()
            futures.append(await out.send(topic, key=alert_id.encode(), value=value))
        elapsed = loop.time() - began
        await asyncio.gather(*futures)
    finally:
        await out.stop()
    return count / elapsed


async def scenario(
    args: argparse.Namespace, server: str, run: str, port: int, token: str, topic: str
) -> dict[str, Any]:
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    path = f"/ws/alerts?token={token}" + ("&batch=1" if args.batch else "")
    url = f"ws://127.0.0.1:{port}{path}"
    sent: dict[str, float] = {}
    measured = [Measured(sent) for _ in range(args.measured)]
    drains = [Drain() for _ in range(args.clients - args.measured)]
    for client in measured:
        await client.open(url)
    for start in range(0, len(drains), 50):
        await asyncio.gather(*(d.open(port, path) for d in drains[start : start + 50]))
    print(f"{args.clients} clients connected ({args.measured} measuring)")
    count = int(args.rate * args.seconds)
    result: dict[str, Any] = {}

    async def settle(phase: int) -> None:
        deadline = time.time() + args.seconds + 60
        while time.time() < deadline:
            live = [m for m in measured if m.close_code is None]
            if all(len(m.latencies[phase]) >= count for m in live):
                return
            await asyncio.sleep(0.2)

    rate = await burst(server, topic, run, 1, args.rate, count, sent)
    await settle(1)
    await asyncio.sleep(1)
    result["phase1"] = phase_figures(measured, drains, 1, count, rate)

    # The slow wall: a small receive buffer (the kernel would otherwise hold megabytes
    # for it), reads its snapshot, then never reads again.
    raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, args.slow_rcvbuf)
    raw.setblocking(False)
    await asyncio.get_running_loop().sock_connect(raw, ("127.0.0.1", port))
    slow = await connect(url, sock=raw, max_queue=1, ping_interval=None)
    await slow.recv()
    slow_opened = time.time()
    rate = await burst(server, topic, run, 2, args.rate, count, sent)
    await settle(2)
    await asyncio.sleep(1)
    result["phase2"] = phase_figures(measured, drains, 2, count, rate)
    # what became of the slow one: it reads now what reached it, then its close frame
    received = 0

    async def drain_slow() -> None:
        nonlocal received
        with contextlib.suppress(ConnectionClosed):
            async for _message in slow:
                received += 1

    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(drain_slow(), 15)
    result["slow_client"] = {
        "close_code": slow.close_code,
        "close_reason": slow.close_reason,
        "messages_received_after_snapshot": received,
        "seconds_open": time.time() - slow_opened,
    }
    await slow.close()
    for client in measured:
        await client.socket.close()
    for drain in drains:
        if drain.task is not None:
            drain.task.cancel()
    return result


def phase_figures(
    measured: list[Measured], drains: list[Drain], phase: int, count: int, rate: float
) -> dict[str, Any]:
    values = [x for m in measured for x in m.latencies[phase]]
    complete = sum(1 for m in measured if len(m.latencies[phase]) >= count)
    return {
        "rate": rate,
        "alerts": count,
        "latency": c.summary(values),
        "measured_complete": complete,
        "measured_closed": sum(1 for m in measured if m.close_code is not None),
        "drains_closed": sum(1 for d in drains if d.closed_at is not None),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=500)
    parser.add_argument("--measured", type=int, default=20)
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument(
        "--batch", action="store_true", help="ask for batch frames (?batch=1, as the wall does)"
    )
    parser.add_argument("--slow-rcvbuf", type=int, default=4096, help="the slow client's SO_RCVBUF")
    args = parser.parse_args()

    server = c.bootstrap()
    run = c.run_id()
    home = Path(tempfile.mkdtemp(prefix=f"bench-fanout-{run}-"))
    env = c.run_env(server, run, home)
    settings = c.create_topics(env)
    token = c.issue_token(env)
    ops_token = c.issue_token(env, role="ops")  # the web service's /metrics: ops only
    web = c.spawn(["web"], env, home / "web.log")
    try:
        c.wait_http(f"http://127.0.0.1:{settings.web_port}/healthz", web)
        print(f"run {run}: web ready; load {c.load_average()}; logs in {home}")
        result = asyncio.run(
            scenario(args, server, run, settings.web_port, token, settings.topic_alerts)
        )
        metrics = c.fetch_text(
            f"http://127.0.0.1:{settings.web_port}/metrics",
            {"Authorization": f"Bearer {ops_token}"},
        )
        result["slow_disconnects_total"] = c.metric_sum(
            metrics, "supervisor_web_websocket_slow_disconnects_total"
        )
        result["messages_dropped_total"] = c.metric_sum(
            metrics, "supervisor_web_websocket_messages_dropped_total"
        )
    finally:
        c.terminate(web)
    for phase, label in (("phase1", "without the slow client"), ("phase2", "with the slow client")):
        figures = result[phase]
        print(
            f"{label}: {figures['alerts']} alerts at {figures['rate']:.0f}/s -> "
            f"{c.fmt(figures['latency'])}; measuring clients complete "
            f"{figures['measured_complete']}/{args.measured}, closed "
            f"{figures['measured_closed']}; drain clients closed {figures['drains_closed']}"
        )
    p1, p2 = result["phase1"]["latency"], result["phase2"]["latency"]
    print(
        f"with / without the slow client: p50 x{p2['p50'] / p1['p50']:.2f}, "
        f"p99 x{p2['p99'] / p1['p99']:.2f}"
    )
    print(
        f"slow client: {result['slow_client']}; slow disconnects (metric) "
        f"{result['slow_disconnects_total']:.0f}, messages dropped "
        f"{result['messages_dropped_total']:.0f}"
    )
    path = c.save("websocket_fanout", {"run": run, "args": vars(args), **result})
    print(f"figures saved in {path}")


if __name__ == "__main__":
    main()
