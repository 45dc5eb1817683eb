"""Start and stop the project's commands as real child processes, for tests."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path


def spawn(args: Sequence[str], env: Mapping[str, str], log: Path) -> subprocess.Popen[bytes]:
    """`python -m supervisor.cli ARGS` (or `-m MODULE ...` when args start with `-m`) in a
    session of its own, output appended to `log`."""
    command = list(args) if args[0] == "-m" else ["-m", "supervisor.cli", *args]
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, *command],
            env=dict(env),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def terminate(process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    """SIGTERM, as an operator's stop would; SIGKILL to the whole group if it hangs."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def kill(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL, as a crash or an OOM kill would: no shutdown, no last commit. The signal
    goes to the process's own session group (spawn() started it in one), so nothing it
    started outlives it."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
    process.wait()
