"""`supervisor replay` (contract §5): the live engine, driven by a file and event time.

Reads events one JSON object a line (`-` for standard input), prints every alert raised
as one JSON object a line in order of `raised_at`, and reports each bad line on standard
error with its number and reason without stopping. Alerts are held until the end because
a late line may raise an alert earlier than one already raised; ties keep the order in
which the engine raised them.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import TextIO

from supervisor.centers import CenterRegistry
from supervisor.core.alerts import Alert
from supervisor.core.calendar import CalendarBook
from supervisor.core.engine import Engine
from supervisor.core.events import InvalidEvent, decode
from supervisor.core.rules import RuleBook
from supervisor.core.runner import Runner


def replay(
    lines: Iterable[bytes | str],
    engine: Engine,
    until: datetime | None = None,
    errors: TextIO | None = None,
) -> list[Alert]:
    errors = sys.stderr if errors is None else errors
    runner = Runner(engine)
    raised: list[Alert] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            event = decode(line)
        except InvalidEvent as exc:
            print(f"line {number}: {exc.reason}", file=errors)
            continue
        try:
            raised += runner.feed(event)
        except (ValueError, OverflowError) as exc:  # e.g. a time beyond the calendar
            print(f"line {number}: cannot apply this event: {exc}", file=errors)
    raised += runner.advance(until)
    for case_id, reason in runner.errors:
        print(f"case {case_id}: deadlines not computed: {reason}", file=errors)
    return sorted(raised, key=lambda alert: alert.raised_at)


def build_engine(rules_dir: Path, timezone: str) -> Engine:
    calendars = CalendarBook.load(Path(rules_dir) / "calendar", timezone)
    return Engine(RuleBook.load(rules_dir), calendars, CenterRegistry.load().name)


def run(
    source: str,
    rules_dir: Path,
    until: datetime | None,
    timezone: str,
    out: TextIO | None = None,
) -> int:
    out = sys.stdout if out is None else out
    engine = build_engine(rules_dir, timezone)
    if source == "-":
        alerts = replay(sys.stdin.buffer, engine, until)
    else:
        with open(source, "rb") as handle:  # bytes: a line that is not UTF-8 is one bad line
            alerts = replay(handle, engine, until)
    for alert in alerts:
        out.write(json.dumps(alert.to_dict(), ensure_ascii=False) + "\n")
    out.flush()
    unconfirmed = sorted(engine.calendar.unconfirmed_years_seen)
    if unconfirmed:
        print(
            f"note: no official holiday schedule for {', '.join(map(str, unconfirmed))}; "
            "counted weekends and statutory holidays only (no make-up days)",
            file=sys.stderr,
        )
    return 0
