"""A WebSocket client's text frame that is not UTF-8, on a real uvicorn server configured as
the web service's (`server_config`): the socket is closed with 1007 and the log holds one
warning line for it, not an error with a traceback."""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import socket
from collections.abc import AsyncIterator

import pytest
import uvicorn
from fastapi import FastAPI, WebSocket, WebSocketDisconnect

from supervisor.settings import Settings
from supervisor.web.server import quiet_client_faults, server_config

NOT_UTF8 = b"\xff\xfe\xfd"


def echo_app() -> FastAPI:
    app = FastAPI()

    @app.websocket("/ws")
    async def echo(websocket: WebSocket) -> None:
        await websocket.accept()
        try:
            while True:
                await websocket.send_text(await websocket.receive_text())
        except WebSocketDisconnect:
            return

    return app


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Kept(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
async def served() -> AsyncIterator[int]:
    port = free_port()
    settings = Settings.from_env({"SUPERVISOR_WEB_PORT": str(port)})
    server = uvicorn.Server(server_config(settings, echo_app()))
    quiet_client_faults()
    task = asyncio.create_task(server.serve())
    for _ in range(200):
        if server.started:
            break
        await asyncio.sleep(0.02)
    assert server.started
    try:
        yield port
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


async def send_text_frame(port: int, payload: bytes) -> bytes:
    """Opens a socket, sends one masked text frame holding `payload`, returns the
    server's first frame after the handshake."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        (
            f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    assert b" 101 " in await reader.readuntil(b"\r\n\r\n")
    mask = os.urandom(4)
    masked = bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))
    writer.write(bytes([0x81, 0x80 | len(payload)]) + mask + masked)
    await writer.drain()
    frame = await asyncio.wait_for(reader.read(64), 5)
    writer.close()
    return frame


async def test_a_text_frame_not_utf8_closes_the_socket_with_one_warning_line(served: int) -> None:
    kept = Kept()
    logging.getLogger("uvicorn.error").addHandler(kept)
    try:
        # A good frame first: the server answers it (the echo), so the socket works.
        assert (await send_text_frame(served, "好".encode()))[2:] == "好".encode()
        frame = await send_text_frame(served, NOT_UTF8)
        await asyncio.sleep(0.1)
    finally:
        logging.getLogger("uvicorn.error").removeHandler(kept)
    assert frame[0] == 0x88  # a close frame …
    assert int.from_bytes(frame[2:4], "big") == 1007  # … for data that is not UTF-8
    about = [r for r in kept.records if "UTF-8" in r.getMessage()]
    assert [(r.levelname, r.exc_info) for r in about] == [("WARNING", None)]
    assert not [r for r in kept.records if r.levelno >= logging.ERROR]
