"""Runs the web service under uvicorn: the process behind `supervisor web`.

Also runnable as `python -m supervisor.web.server`, configured by the environment
(`Settings.from_env()`), which is how the browser test starts a real server process.
"""

from __future__ import annotations

import logging

import uvicorn

from supervisor import masking
from supervisor.auth import install_log_redaction
from supervisor.settings import Settings
from supervisor.web.app import create_app
from supervisor.web.security import MAX_BODY_BYTES

#: Seconds uvicorn waits for open connections (wall screens) at shutdown before closing
#: them; the screens reconnect to the next process by themselves.
GRACEFUL_SHUTDOWN_SECONDS = 5


def run(settings: Settings) -> None:
    """Serve the wall and its API on settings.web_host:web_port until interrupted."""
    # The feed's own log lines (Kafka state changes); a no-op if the CLI set up logging.
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # uvicorn logs request paths with their query string, and the wall passes ?token=.
    install_log_redaction()
    masking.install()  # no applicant's ID number or phone in any log line
    uvicorn.run(
        create_app(settings),
        host=settings.web_host,
        port=settings.web_port,
        log_level=settings.log_level.lower(),
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        # The wall sends nothing on its socket; a client that does gets no more room than
        # a request body (uvicorn's default is 16 MiB, buffered before the app sees it).
        ws_max_size=MAX_BODY_BYTES,
        # The Server header names the software and its version: nothing a client needs.
        server_header=False,
    )


if __name__ == "__main__":
    run(Settings.from_env())
