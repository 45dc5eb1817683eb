"""`supervisor worker` with a clock the benchmark holds, then releases (bench only).

    python bench/_worker.py CLOCK_START RELEASE_FILE

As `supervisor worker --clock-start CLOCK_START`, except that the clock stays at
CLOCK_START until RELEASE_FILE holds a Unix time (written by the benchmark); from that
instant on it runs in real time: clock(t) = CLOCK_START + (t - release). So the benchmark
can load 100,000 cases at its own pace with no deadline falling due, then let them fall
due in a chosen minute, and map any wall time back to the worker's clock exactly.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path


def held_clock(start: datetime, release_file: Path) -> tuple[object, threading.Thread]:
    released: list[float] = []

    def watch() -> None:
        while not released:
            try:
                text = release_file.read_text().strip()
            except OSError:
                text = ""
            if text:
                released.append(float(text))
                return
            time.sleep(0.01)

    def clock() -> datetime:
        if not released:
            return start
        return start + timedelta(seconds=max(0.0, time.time() - released[0]))

    thread = threading.Thread(target=watch, daemon=True)
    return clock, thread


def main() -> None:
    import faust

    from supervisor import masking
    from supervisor.kafka.admin import ensure_topics
    from supervisor.settings import Settings
    from supervisor.worker.app import create_app
    from supervisor.worker.main import topics

    start = datetime.fromisoformat(sys.argv[1])
    clock, thread = held_clock(start, Path(sys.argv[2]))
    thread.start()
    settings = Settings.from_env()
    logging.basicConfig(level=settings.log_level)
    masking.install()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    asyncio.run(ensure_topics(settings.bootstrap_servers, topics(settings)))
    worker = create_app(settings, clock=clock)  # type: ignore[arg-type]
    faust.Worker(worker.app, loglevel=settings.log_level.lower()).execute_from_commandline()


if __name__ == "__main__":
    main()
