"""Runs the web service under uvicorn: the process behind `supervisor web`.

Also runnable as `python -m supervisor.web.server`, configured by the environment
(`Settings.from_env()`), which is how the browser test starts a real server process.

It exits within the deadline of `supervisor.shutdown` (8 s) of SIGTERM or SIGINT,
whatever the broker's state: uvicorn closes the wall screens' sockets (they reconnect to
the next process), then the lifespan stops the journal writer and the feed, which can
wait on a broker that is away; a process still alive at the deadline exits at once.
Nothing is lost: the service keeps nothing of its own (the journal is the alerts topic,
read again at start), and a lifecycle change is answered only once the broker stored it.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from types import FrameType

import uvicorn
from fastapi import FastAPI
from uvicorn.config import STARTUP_FAILURE

from supervisor import masking
from supervisor.auth import install_log_redaction
from supervisor.settings import Settings
from supervisor.shutdown import ShutdownDeadline
from supervisor.web.app import create_app
from supervisor.web.security import MAX_BODY_BYTES

#: Seconds uvicorn waits for open connections (wall screens) at shutdown before closing
#: them; the screens reconnect to the next process by themselves.
GRACEFUL_SHUTDOWN_SECONDS = 5
log = logging.getLogger("supervisor.web.server")


class DeadlineServer(uvicorn.Server):
    """uvicorn's server, whose stop on a signal ends by the deadline at the latest (a
    daemon timer thread: it fires even while the event loop waits on the broker)."""

    deadline = ShutdownDeadline(log=log)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self.deadline.arm()  # once: a second signal does not restart it
        super().handle_exit(sig, frame)


class QuietClientFaults(logging.Filter):
    """Logs a client's malformed WebSocket frame as one warning line, not an error.

    uvicorn answers a text frame that is not UTF-8 as it should (the socket is closed with
    1007), but logs it at ERROR with the decoder's traceback: no fault of the service,
    and a hostile client could fill the log with tracebacks, one a frame."""

    MESSAGES = frozenset({"Invalid UTF-8 sequence received from client."})

    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg in self.MESSAGES:
            record.exc_info = None
            record.exc_text = None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


def quiet_client_faults(logger: str = "uvicorn.error") -> None:
    """Attach `QuietClientFaults` to uvicorn's error log (idempotent)."""
    target = logging.getLogger(logger)
    if not any(isinstance(existing, QuietClientFaults) for existing in target.filters):
        target.addFilter(QuietClientFaults())


def server_config(settings: Settings, app: FastAPI) -> uvicorn.Config:
    """How uvicorn serves `app`."""
    return uvicorn.Config(
        app,
        host=settings.web_host,
        port=settings.web_port,
        log_level=settings.log_level.lower(),
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        # The wall sends nothing on its socket; a client that does gets no more room than
        # a request body (uvicorn's default is 16 MiB, buffered before the app sees it).
        ws_max_size=MAX_BODY_BYTES,
        # The Server header names the software and its version: nothing a client needs.
        server_header=False,
        # Behind a TLS proxy the request's scheme (the session cookie's Secure flag, the
        # socket's origin check) and the client's address are the proxy's word, taken
        # from the proxies named only: anyone else could claim https.
        proxy_headers=True,
        forwarded_allow_ips=settings.web_trusted_proxies,
    )


def run(settings: Settings) -> None:
    """Serve the wall and its API on settings.web_host:web_port until interrupted."""
    # The feed's own log lines (Kafka state changes); a no-op if the CLI set up logging.
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # uvicorn logs request paths with their query string, and the wall passes ?token=.
    install_log_redaction()
    quiet_client_faults()
    masking.install()  # no applicant's ID number or phone in any log line
    server = DeadlineServer(server_config(settings, create_app(settings)))
    with contextlib.suppress(KeyboardInterrupt):  # SIGINT raised again once stopped
        server.run()
    if not server.started:
        sys.exit(STARTUP_FAILURE)


if __name__ == "__main__":
    run(Settings.from_env())
