"""A py-spy profile of a running process, summarised by function (bench --profile).

`py-spy record --format raw` writes one line per distinct stack with its sample count;
this reads it back and sums, per function, the samples where it is on the stack
(inclusive) and where it is the innermost frame (self), so a benchmark can print where
the time of the process it measures goes without a flame graph viewer.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path


def record(pid: int, seconds: float, out: Path) -> Path | None:
    """Samples of `pid` (100 Hz, every thread, idle frames left out) for `seconds`, in
    py-spy's raw format; None when py-spy is not installed (it is a bench extra)."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(spy).exists():
        print("py-spy is not installed (pip install -e .[bench]): no profile")
        return None
    subprocess.run(
        [
            spy,
            "record",
            "-p",
            str(pid),
            "-d",
            str(int(seconds)),
            "-r",
            "100",
            "-f",
            "raw",
            "-o",
            str(out),
        ],
        check=False,
        capture_output=True,
    )
    return out if out.exists() else None


def summary(raw: Path, top: int = 40, under: str | None = None) -> str:
    """The `top` functions by inclusive share of the samples, with their self share.
    `under`: count only the stacks that pass through a frame containing this text."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        if under is not None and not any(under in frame for frame in frames):
            continue
        n = int(count)
        total += n
        for frame in set(frames):
            inclusive[_short(frame)] += n
        own[_short(frames[-1])] += n
    lines = [f"{total} samples{f' under {under}' if under else ''}: inclusive% self%  function"]
    for name, n in inclusive.most_common(top):
        lines.append(f"{100 * n / total:6.1f} {100 * own[name] / total:6.1f}  {name}")
    return "\n".join(lines)


def _short(frame: str) -> str:
    """`fn (path/to/module.py:123)` → `fn (module.py)`: one entry per function."""
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    return f"{name} ({'/'.join(path.split('/')[-2:])})"
