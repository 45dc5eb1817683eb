"""A real single-node Apache Kafka 4 (KRaft) broker for development and tests, without Docker.

Why this exists: the project's guarantees (partitioning, consumer groups, Faust tables and
their changelogs) only hold against a real broker, and this machine has Java and Maven but
no Docker. So the broker is assembled from Maven Central jars and run as a plain JVM:

* `fetch()` resolves `org.apache.kafka:kafka_2.13:<version>` and its runtime dependencies
  (plus log4j2, which the Kafka POM does not bring) into `<kafka_home>/<version>/libs`.
* `start()` formats the KRaft storage once, launches `kafka.Kafka` detached (its own
  session, so it outlives the command that started it) and waits until it really answers.
* `stop()` shuts it down cleanly (SIGTERM, then SIGKILL after a grace period).
* `status()` says what is there and whether it answers.

Everything lives under `Settings.kafka_home`, outside the repository, one set of
directories per port so that several brokers (e.g. a test one) can coexist:

    <kafka_home>/<version>/libs/       the classpath (shared by every port)
    <kafka_home>/<version>/COMPLETE    marker: the fetch finished (lists the jars)
    <kafka_home>/data-<port>/          log.dirs: partitions + KRaft metadata log
    <kafka_home>/logs-<port>/kafka.out the broker's stdout/stderr (this launch only)
    <kafka_home>/run-<port>/           rendered server.properties, log4j2.properties,
                                       kafka.pid and the lock serialising start/stop

The controller listens on `kafka_port + 1`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import errno
import fcntl
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any, TypeVar

from supervisor.settings import Settings

log = logging.getLogger(__name__)

#: The broker's entry point (what kafka-server-start.sh runs) and the storage formatter.
MAIN_CLASS = "kafka.Kafka"
STORAGE_TOOL = "kafka.tools.StorageTool"
#: Logged by KafkaRaftServer once broker and controller are up.
READY_LINE = "Kafka Server started"
#: Enough for a development broker on a 2-core machine; the tarball default is 1 GiB.
JVM_HEAP = ("-Xms256m", "-Xmx512m")
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0

_T = TypeVar("_T")


class LocalKafkaError(RuntimeError):
    """The local broker could not be fetched, started or stopped; the message says why."""


@dataclass(frozen=True)
class Layout:
    """Where everything of one (version, port) broker lives; derived from Settings only."""

    home: Path
    version: str
    port: int

    @classmethod
    def of(cls, settings: Settings) -> Layout:
        return cls(
            settings.kafka_home.expanduser().resolve(), settings.kafka_version, settings.kafka_port
        )

    @property
    def controller_port(self) -> int:
        return self.port + 1

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def version_dir(self) -> Path:
        return self.home / self.version

    @property
    def libs(self) -> Path:
        return self.version_dir / "libs"

    @property
    def marker(self) -> Path:
        return self.version_dir / "COMPLETE"

    @property
    def kafka_jar(self) -> Path:
        return self.libs / f"kafka_2.13-{self.version}.jar"

    @property
    def data_dir(self) -> Path:
        return self.home / f"data-{self.port}"

    @property
    def logs_dir(self) -> Path:
        return self.home / f"logs-{self.port}"

    @property
    def log_file(self) -> Path:
        return self.logs_dir / "kafka.out"

    @property
    def run_dir(self) -> Path:
        return self.home / f"run-{self.port}"

    @property
    def server_properties(self) -> Path:
        return self.run_dir / "server.properties"

    @property
    def log4j2_properties(self) -> Path:
        return self.run_dir / "log4j2.properties"

    @property
    def pid_file(self) -> Path:
        return self.run_dir / "kafka.pid"


@dataclass(frozen=True)
class Broker:
    """What `start_broker()` found or launched.

    `started` is True only when this call launched the JVM: whoever started it is the one
    who should stop it (the pytest fixture relies on that). `pid` is None when the port is
    served by a Kafka this kafka_home did not start (reused, never stopped by us).
    """

    bootstrap: str
    pid: int | None
    started: bool
    log_file: Path


# --------------------------------------------------------------------------- fetch


def is_fetched(settings: Settings) -> bool:
    """True when a previous fetch of this version completed (marker + broker jar present)."""
    layout = Layout.of(settings)
    return layout.marker.is_file() and layout.kafka_jar.is_file()


def fetch(settings: Settings) -> Path:
    """Download Kafka `settings.kafka_version` and its runtime classpath; return the libs dir.

    Idempotent and safe to run concurrently: a marker file written last says the libs dir
    is complete, Maven writes into `libs.partial` which is renamed only on success, and a
    file lock keeps two processes from resolving at the same time.
    """
    layout = Layout.of(settings)
    if is_fetched(settings):
        return layout.libs
    mvn = shutil.which("mvn")
    if mvn is None:
        raise LocalKafkaError("Maven ('mvn') is not on PATH: it is needed once to fetch Kafka")
    layout.version_dir.mkdir(parents=True, exist_ok=True)
    with _file_lock(layout.version_dir / ".fetch.lock"):
        if is_fetched(settings):
            return layout.libs
        pom = layout.version_dir / "pom.xml"
        pom.write_text(_package_text("pom.xml"), encoding="utf-8")
        partial = layout.version_dir / "libs.partial"
        shutil.rmtree(partial, ignore_errors=True)
        command = [
            mvn,
            "-q",
            "-B",
            "-f",
            str(pom),
            "dependency:copy-dependencies",
            "-DincludeScope=runtime",
            f"-DoutputDirectory={partial}",
            f"-Dkafka.version={layout.version}",
        ]
        log.info("fetching Kafka %s from Maven Central into %s", layout.version, layout.libs)
        done = subprocess.run(
            command, cwd=layout.version_dir, capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise LocalKafkaError(
                f"Maven could not resolve org.apache.kafka:kafka_2.13:{layout.version} "
                f"(exit {done.returncode}):\n{_tail(done.stdout + done.stderr)}"
            )
        jars = sorted(p.name for p in partial.glob("*.jar"))
        required = [f"kafka_2.13-{layout.version}.jar", "log4j-core-", "log4j-slf4j-impl-"]
        missing = [r for r in required if not any(j.startswith(r) for j in jars)]
        if missing:
            raise LocalKafkaError(f"fetched classpath lacks {missing}; got {jars}")
        shutil.rmtree(layout.libs, ignore_errors=True)
        partial.rename(layout.libs)
        layout.marker.write_text("\n".join(jars) + "\n", encoding="utf-8")
    return layout.libs


# --------------------------------------------------------------------------- start


def start(settings: Settings, timeout: float = START_TIMEOUT_S) -> str:
    """Make sure the local broker answers on `settings.kafka_port`; return its bootstrap string.

    Reuses a running broker (a second call returns in well under a second), otherwise
    fetches if needed, formats once and launches a detached JVM.
    """
    return start_broker(settings, timeout).bootstrap


def start_broker(settings: Settings, timeout: float = START_TIMEOUT_S) -> Broker:
    """`start()`, also telling whether this call launched the JVM and with which pid."""
    layout = Layout.of(settings)
    libs = fetch(settings)  # not counted in `timeout`: a first download may take a while
    deadline = time.monotonic() + timeout
    java = _which_java()
    layout.run_dir.mkdir(parents=True, exist_ok=True)
    with _file_lock(layout.run_dir / "lock"):
        pid = _running_pid(layout)
        if pid is not None:
            # Ours, possibly still starting (another process's start() returned on timeout).
            _wait_ready(layout, pid, deadline)
            return Broker(layout.bootstrap, pid, started=False, log_file=layout.log_file)
        layout.pid_file.unlink(missing_ok=True)
        busy = [p for p in (layout.port, layout.controller_port) if _port_open(p)]
        if busy:
            if layout.port in busy and _run_sync(_answers(layout.bootstrap, 5.0)):
                log.warning(
                    "port %d already serves a Kafka not started from %s: reusing it",
                    layout.port,
                    layout.home,
                )
                return Broker(layout.bootstrap, None, started=False, log_file=layout.log_file)
            raise LocalKafkaError(
                f"port(s) {busy} on 127.0.0.1 are in use by something that is not this "
                f"project's broker; free them or choose another SUPERVISOR_KAFKA_PORT"
            )
        _write_config(layout, settings)
        _format_storage(java, libs, layout)
        pid = _launch(java, libs, layout)
        try:
            _wait_ready(layout, pid, deadline)
        except BaseException:
            _terminate(pid, grace=5.0)
            layout.pid_file.unlink(missing_ok=True)
            raise
        return Broker(layout.bootstrap, pid, started=True, log_file=layout.log_file)


def _write_config(layout: Layout, settings: Settings) -> None:
    """Render server.properties and copy log4j2.properties; redone at each launch on purpose,
    so that a changed Settings (e.g. partitions) takes effect at the next start."""
    template = Template(_package_text("server.properties"))
    text = template.substitute(
        port=layout.port,
        controller_port=layout.controller_port,
        data_dir=_properties_escape(str(layout.data_dir)),
        partitions=settings.partitions,
    )
    layout.server_properties.write_text(text, encoding="utf-8")
    layout.log4j2_properties.write_text(_package_text("log4j2.properties"), encoding="utf-8")


def new_cluster_id() -> str:
    """A KRaft cluster id: 16 random bytes, URL-safe base64 without padding (22 chars).

    Kafka's own Uuid.randomUuid() rerolls ids starting with '-' because the command-line
    parsers would take them for an option; so do we.
    """
    while True:
        cluster_id = base64.urlsafe_b64encode(secrets.token_bytes(16)).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def _format_storage(java: str, libs: Path, layout: Layout) -> None:
    """Format the KRaft log dir once; a formatted dir (meta.properties) is left alone."""
    if (layout.data_dir / "meta.properties").is_file():
        return
    layout.data_dir.mkdir(parents=True, exist_ok=True)
    command = [
        java,
        *JVM_HEAP,
        f"-Dlog4j2.configurationFile={layout.log4j2_properties}",
        "-cp",
        f"{libs}/*",
        STORAGE_TOOL,
        "format",
        "--ignore-formatted",
        "-t",
        new_cluster_id(),
        "-c",
        str(layout.server_properties),
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise LocalKafkaError(
            f"formatting {layout.data_dir} failed (exit {done.returncode}):\n"
            f"{_tail(done.stdout + done.stderr)}"
        )


def _launch(java: str, libs: Path, layout: Layout) -> int:
    """Spawn the broker JVM detached and record its pid.

    posix_spawn with setsid: the JVM gets its own session (no SIGHUP/SIGINT from the
    caller's terminal or process group) and no Popen object whose finaliser would complain
    that the child outlives us. Output goes to a fresh kafka.out (the previous one is kept
    as kafka.out.1), so the readiness check only ever sees this launch's lines.
    """
    layout.logs_dir.mkdir(parents=True, exist_ok=True)
    if layout.log_file.exists():
        layout.log_file.replace(layout.log_file.with_name("kafka.out.1"))
    argv = [
        java,
        *JVM_HEAP,
        "-XX:+ExitOnOutOfMemoryError",
        "-Djava.awt.headless=true",
        f"-XX:ErrorFile={layout.logs_dir}/hs_err_pid%p.log",
        f"-Dlog4j2.configurationFile={layout.log4j2_properties}",
        f"-Dkafka.logs.dir={layout.logs_dir}",
        "-cp",
        f"{libs}/*",
        MAIN_CLASS,
        str(layout.server_properties),
    ]
    file_actions = [
        (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
        (
            os.POSIX_SPAWN_OPEN,
            1,
            str(layout.log_file),
            os.O_WRONLY | os.O_CREAT | os.O_TRUNC,
            0o644,
        ),
        (os.POSIX_SPAWN_DUP2, 1, 2),
    ]
    pid = os.posix_spawn(java, argv, dict(os.environ), file_actions=file_actions, setsid=True)
    layout.pid_file.write_text(f"{pid}\n", encoding="utf-8")
    log.info("launched Kafka %s (pid %d) on %s", layout.version, pid, layout.bootstrap)
    return pid


def _wait_ready(layout: Layout, pid: int, deadline: float) -> None:
    """Wait for the log's READY_LINE and then for an admin call that answers.

    An open port is not readiness: the socket accepts before the controller has elected
    itself and the broker has caught up with the metadata log.
    """
    while True:
        if not _alive(pid):
            raise LocalKafkaError(
                f"Kafka (pid {pid}) exited during startup; tail of {layout.log_file}:\n"
                f"{_tail(_read(layout.log_file))}"
            )
        if READY_LINE in _read(layout.log_file) and _run_sync(_answers(layout.bootstrap, 5.0)):
            return
        if time.monotonic() > deadline:
            raise LocalKafkaError(
                f"Kafka (pid {pid}) did not become ready on {layout.bootstrap} in time; "
                f"tail of {layout.log_file}:\n{_tail(_read(layout.log_file))}"
            )
        time.sleep(0.25)


async def _answers(bootstrap: str, timeout: float) -> bool:
    """True when a metadata request through aiokafka's admin client gets brokers back."""
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.errors import KafkaError

    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap,
        client_id="supervisor-probe",
        request_timeout_ms=int(timeout * 1000),
    )
    try:
        async with asyncio.timeout(timeout):
            await admin.start()
            cluster = await admin.describe_cluster()
        return bool(cluster.get("brokers"))
    except (KafkaError, OSError, TimeoutError):
        return False
    finally:
        await admin.close()


# --------------------------------------------------------------------------- stop / status


def stop(settings: Settings, timeout: float = STOP_TIMEOUT_S) -> bool:
    """Stop the broker this kafka_home started on this port; True if one was running.

    SIGTERM lets Kafka shut down cleanly (flush, close the metadata log), which keeps the
    next start fast; SIGKILL only after `timeout` seconds.
    """
    layout = Layout.of(settings)
    if not layout.run_dir.is_dir():
        return False
    with _file_lock(layout.run_dir / "lock"):
        pid = _running_pid(layout)
        stopped = False
        if pid is not None:
            _terminate(pid, grace=timeout)
            stopped = True
        layout.pid_file.unlink(missing_ok=True)
        return stopped


def status(settings: Settings) -> dict[str, Any]:
    """A JSON-able picture of the local broker: fetched, formatted, running, answering."""
    layout = Layout.of(settings)
    pid = _running_pid(layout)
    port_open = _port_open(layout.port)
    return {
        "version": layout.version,
        "fetched": is_fetched(settings),
        "libs": str(layout.libs),
        "bootstrap": layout.bootstrap,
        "controller_port": layout.controller_port,
        "data_dir": str(layout.data_dir),
        "formatted": (layout.data_dir / "meta.properties").is_file(),
        "cluster_id": _cluster_id(layout),
        "pid": pid,
        "running": pid is not None,
        "port_open": port_open,
        "answering": port_open and _run_sync(_answers(layout.bootstrap, 5.0)),
        "log_file": str(layout.log_file),
    }


def _terminate(pid: int, grace: float) -> None:
    """SIGTERM, wait up to `grace` seconds, then SIGKILL and wait for the process to go."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    if _wait_gone(pid, grace):
        return
    log.warning("Kafka (pid %d) ignored SIGTERM for %.0f s: killing it", pid, grace)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    if not _wait_gone(pid, 10.0):
        raise LocalKafkaError(f"Kafka (pid {pid}) survived SIGKILL")


def _wait_gone(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while _alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


# --------------------------------------------------------------------------- helpers


def _running_pid(layout: Layout) -> int | None:
    """The pid from the pid file if that process is alive and is this layout's broker.

    Checking the command line guards against a recycled pid after a reboot or a crash.
    """
    try:
        pid = int(layout.pid_file.read_text(encoding="utf-8").strip())
    except (OSError, ValueError):
        return None
    if not _alive(pid):
        return None
    cmdline = Path(f"/proc/{pid}/cmdline")
    if cmdline.exists():
        try:
            args = cmdline.read_bytes().split(b"\0")
        except OSError:
            return None
        if MAIN_CLASS.encode() not in args or str(layout.server_properties).encode() not in args:
            return None
    return pid


def _alive(pid: int) -> bool:
    """True while `pid` runs; reaps it if it is our own exited child (else it stays a zombie
    and kill(pid, 0) would keep saying it exists)."""
    try:
        reaped, _ = os.waitpid(pid, os.WNOHANG)
        if reaped == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    try:
        state = stat.read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1.0)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _cluster_id(layout: Layout) -> str | None:
    meta = layout.data_dir / "meta.properties"
    for line in _read(meta).splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "cluster.id":
            return value.strip()
    return None


def _which_java() -> str:
    java = shutil.which("java")
    if java is None:
        raise LocalKafkaError("'java' (17 or newer) is not on PATH: Kafka 4 needs it")
    return java


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """An exclusive advisory lock between processes (the fd is close-on-exec, so the
    detached broker does not inherit and hold it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _run_sync(coro: Coroutine[Any, Any, _T]) -> _T:
    """Run a coroutine from sync code, even when called under a running event loop
    (e.g. a sync pytest fixture or a Faust hook): then it runs on a helper thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(coro)
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=target, name="supervisor-kafka-sync", daemon=True)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    result: _T = box["value"]
    return result


def _package_text(name: str) -> str:
    return resources.files("supervisor.kafka").joinpath(name).read_text(encoding="utf-8")


def _properties_escape(value: str) -> str:
    r"""Escape a value for a Java .properties file (backslash is the escape character)."""
    return value.replace("\\", "\\\\")


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return ""
        raise


def _tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])
