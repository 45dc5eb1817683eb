"""A throwaway PostgreSQL 15 cluster, for the tests that claim to work on PostgreSQL.

Why a real server: the store runs on SQLite in development and on PostgreSQL in
production, and the two differ in exactly the places a mock would paper over (types,
upserts, transactions, locking). So a test that says "PostgreSQL" runs against Debian's
PostgreSQL 15 (`/usr/lib/postgresql/15/bin`, installed by scripts/bootstrap), never a
mock, and a machine without it fails such a test loudly rather than skipping it.

`PostgresCluster` initialises a fresh data directory under /tmp, starts the server on a
free port of 127.0.0.1 (trust authentication, no durability: test data only), hands out
one database per test (`create_database`), and removes everything on `stop()`.

PostgreSQL refuses to run as root, and sessions and CI run as root: when this process is
root, the server's commands run as the `postgres` system user (created by the Debian
package), in a directory that user owns; otherwise they run as the current user.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

PG_BIN = Path("/usr/lib/postgresql/15/bin")
"""Debian's PostgreSQL 15 binaries (package `postgresql-15`, brought by `postgresql`)."""

SUPERUSER = "app"
"""The cluster's superuser, the user name in every URL (trust authentication: no password)."""

MAINTENANCE_DB = "postgres"
"""The database that always exists; CREATE/DROP DATABASE are issued from it."""

SERVER_OPTIONS = (
    "-c listen_addresses=127.0.0.1",
    # test data only: no durability, for speed
    "-c fsync=off",
    "-c synchronous_commit=off",
    "-c full_page_writes=off",
)

_DATABASE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on now (the OS picks it), so that two
    runs, or a developer's own PostgreSQL on 5432, never collide."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class PostgresError(RuntimeError):
    """The cluster could not be started, or a command against it failed."""


class PostgresCluster:
    """One throwaway PostgreSQL cluster: `start()`, `create_database()` per test, `stop()`.

    Not thread-safe and not reusable after `stop()`; the session fixture `postgres`
    (tests/conftest.py) owns the one a test run uses.
    """

    def __init__(self, bin_dir: Path = PG_BIN, extra_options: Sequence[str] = ()) -> None:
        self.bin_dir = bin_dir
        self.extra_options = tuple(extra_options)
        self.port = 0
        self.directory: Path | None = None
        self.running = False

    # -- paths and URLs --------------------------------------------------------------

    @property
    def data_dir(self) -> Path:
        """The cluster's PGDATA."""
        return self._directory / "data"

    @property
    def log_file(self) -> Path:
        """The server's log (its tail goes into a start failure's message)."""
        return self._directory / "server.log"

    @property
    def url(self) -> str:
        """URL of the maintenance database (`postgres`)."""
        return self.database_url(MAINTENANCE_DB)

    def database_url(self, name: str) -> str:
        """`postgresql://app@127.0.0.1:<port>/<name>`: libpq's and SQLAlchemy's form (an
        async engine wants `postgresql+asyncpg://`)."""
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{name}"

    @property
    def _directory(self) -> Path:
        if self.directory is None:
            raise PostgresError("the PostgreSQL cluster is not started")
        return self.directory

    # -- life cycle ------------------------------------------------------------------

    def start(self) -> None:
        """initdb a fresh data directory and start the server; wait until it accepts
        connections. On failure, everything is cleaned up and PostgresError says why
        (with the server log's tail when the server itself would not start)."""
        if self.directory is not None:
            raise PostgresError("the PostgreSQL cluster is already started")
        for tool in ("initdb", "pg_ctl", "psql"):
            if not os.access(self.bin_dir / tool, os.X_OK):
                raise PostgresError(
                    f"PostgreSQL 15 is not installed ({self.bin_dir / tool} is missing): "
                    "run scripts/bootstrap, or `apt-get install -y postgresql`"
                )
        self.directory = Path(tempfile.mkdtemp(prefix="pg-test-"))
        try:
            if os.geteuid() == 0:
                shutil.chown(self.directory, user="postgres")
            self._initdb()
            self._start_server()
        except BaseException:
            self.stop()
            raise

    def _initdb(self) -> None:
        result = self._run_as_server_user(
            "initdb",
            "-D",
            str(self.data_dir),
            "-A",
            "trust",
            "-U",
            SUPERUSER,
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        )
        if result.returncode != 0:
            raise PostgresError(f"initdb failed (exit {result.returncode}):\n{result.stdout}")

    def pause(self) -> None:
        """Stop the server and keep its data: a database that goes down (resume())."""
        result = self._run_as_server_user(
            "pg_ctl", "-D", str(self.data_dir), "-m", "fast", "-w", "stop"
        )
        if result.returncode != 0:
            raise PostgresError(f"pg_ctl stop failed: {result.stdout.strip()}")
        self.running = False

    def resume(self) -> None:
        """Start the paused server again, on the same port, with its data."""
        self._start_server(port=self.port)

    def _start_server(self, port: int | None = None) -> None:
        self.port = port or free_port()
        options = " ".join(
            (f"-p {self.port}", f"-k {self._directory}", *SERVER_OPTIONS, *self.extra_options)
        )
        result = self._run_as_server_user(
            "pg_ctl",
            "-D",
            str(self.data_dir),
            "-l",
            str(self.log_file),
            "-w",
            "-t",
            "60",
            "-o",
            options,
            "start",
        )
        if result.returncode != 0:
            raise PostgresError(
                f"PostgreSQL did not start on 127.0.0.1:{self.port} "
                f"(pg_ctl exit {result.returncode}): {result.stdout.strip()}\n"
                f"--- tail of {self.log_file} ---\n{self.log_tail()}"
            )
        self.running = True

    def stop(self) -> None:
        """Stop the server (fast shutdown, immediate if that fails) and remove the
        directory. Safe to call twice, or after a failed start."""
        if self.directory is None:
            return
        try:
            if self.running or (self.data_dir / "postmaster.pid").exists():
                for mode in ("fast", "immediate"):
                    stop = self._run_as_server_user(
                        "pg_ctl", "-D", str(self.data_dir), "-m", mode, "-w", "stop"
                    )
                    if stop.returncode == 0:
                        break
        finally:
            self.running = False
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = None

    def log_tail(self, lines: int = 30) -> str:
        """The last lines of the server log ("" when there is none yet)."""
        try:
            text = self.log_file.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    # -- databases -------------------------------------------------------------------

    def create_database(self, name: str) -> str:
        """CREATE DATABASE `name` (lower-case letters, digits, `_`) and return its URL."""
        self.execute(f'CREATE DATABASE "{_checked(name)}"')
        return self.database_url(name)

    def drop_database(self, name: str) -> None:
        """DROP DATABASE `name`, even while a test's connections are still open (FORCE
        ends them): a test that forgot to dispose of its engine cannot leak its database."""
        self.execute(f'DROP DATABASE IF EXISTS "{_checked(name)}" WITH (FORCE)')

    def execute(self, sql: str, database: str = MAINTENANCE_DB) -> str:
        """Run `sql` with psql (outside any transaction, as CREATE DATABASE needs); return
        its unaligned output. Synchronous on purpose: fixtures call it between tests, when
        the session's event loop is not running."""
        if not self.running:
            raise PostgresError("the PostgreSQL cluster is not started")
        result = subprocess.run(
            [
                str(self.bin_dir / "psql"),
                "-X",
                "-q",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-d",
                self.database_url(database),
                "-c",
                sql,
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if result.returncode != 0:
            raise PostgresError(f"psql failed on {sql!r}: {result.stderr.strip()}")
        return result.stdout

    # -- helpers ---------------------------------------------------------------------

    def _run_as_server_user(self, tool: str, *args: str) -> subprocess.CompletedProcess[str]:
        """Run one of the server's binaries, as `postgres` when we are root (the server
        refuses root), output captured; cwd is the cluster's directory, which that user
        can enter."""
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        return subprocess.run(
            [*prefix, str(self.bin_dir / tool), *args],
            cwd=self._directory,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=120,
            check=False,
        )


def _checked(name: str) -> str:
    """`name` if it is a plain identifier that needs no escaping, else ValueError."""
    if not _DATABASE_NAME.fullmatch(name):
        raise ValueError(f"not a plain database name: {name!r}")
    return name
