"""`supervisor replay` (contract §5): the live engine, driven by a file and event time.

Each line goes through the worker's own stages (`supervisor.core.pipeline.STAGES`:
decode, validate, dedupe, evaluate; no future check, the clock being the events' own),
and what they make of it is emitted to a `Runner` (`Runner.record`), which keeps the
states in a dict, fires the deadlines and moves the clock.

Reads events one JSON object a line (`-` for standard input), prints every alert raised
as one JSON object a line in order of `raised_at`, and reports each bad line on standard
error with its number and reason without stopping. Alerts are held until the end because
a late line may raise an alert earlier than one already raised; ties keep the order in
which the engine raised them. The file is the whole story: at its end each open case is
`finish`ed (a catalogue step it never completed is never completed, contract §8), and
an alert a late line moved or restated (who handled it, the item) is printed with the id
and content event-time order gives it.

`--watch-centers` adds `center.silent` for the registered centers in the input; it is off
by default because a file is often an extract (one case, a sample) whose gaps prove
nothing about a center's silence.

With a `ReportOptions`, `run` also prints the backtest summary of `supervisor.backtest`
after the alerts (or instead of them), optionally comparing with a second rule directory.
"""

from __future__ import annotations

import dataclasses
import io
import json
import sys
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal, TextIO

from supervisor.backtest import OVERDUE, build_report, render_json, render_text
from supervisor.centers import CenterRegistry
from supervisor.core import pipeline
from supervisor.core.alerts import Alert
from supervisor.core.calendar import CalendarBook
from supervisor.core.engine import Engine
from supervisor.core.rules import RuleBook
from supervisor.core.runner import Runner
from supervisor.core.silence import CenterWatch
from supervisor.core.state import CaseState
from supervisor.masking import mask_marked, mask_text


def replay(
    lines: Iterable[bytes | str],
    engine: Engine,
    until: datetime | None = None,
    errors: TextIO | None = None,
    runner: Runner | None = None,
) -> list[Alert]:
    """The alerts `lines` raise, in order of `raised_at`. Pass a `runner` (on `engine`) to
    look at its final case states and clock afterwards."""
    errors = sys.stderr if errors is None else errors
    runner = Runner(engine) if runner is None else runner
    raised: list[Alert] = []
    for number, line in framed(lines):
        # the worker's stages (pipeline.STAGES): the states in the runner's dict, no
        # future check (the clock is the events' own); emit is the runner's `record`
        message = pipeline.Message(line, engine, runner.store.get)
        try:
            processed = pipeline.run(message)
            if processed.rejected is not None:
                print(f"line {number}: {processed.rejected}", file=errors)
                continue
            raised += runner.record(processed)
        except (ValueError, OverflowError) as exc:  # e.g. a time beyond the calendar
            print(f"line {number}: cannot apply this event: {mask_text(str(exc))}", file=errors)
    raised += runner.advance(until)
    raised += runner.finish()  # the file is the whole story (contract §8's stages)
    for case_id, reason in runner.errors:
        print(f"case {case_id}: deadlines not computed: {mask_text(reason)}", file=errors)
    # An alert a later line proved wrong (a case's events out of event-time order in the
    # file) is not printed: the output is what the events say in event-time order.
    wrong = {resolution.alert_id for resolution in runner.resolved}
    restated, cases = runner.restated, runner.store
    standing = (
        _masked_as_known(_unrevised(restated.get(a.alert_id, a), wrong), cases)
        for a in raised
        if a.alert_id not in wrong
    )
    return sorted(standing, key=lambda a: a.raised_at)


def _masked_as_known(alert: Alert, cases: Mapping[str, CaseState]) -> Alert:
    """The alert masked by every applicant mark its case holds at the end of the input.
    An applicant named only by a later event of the case (its name typed into an item
    name on `accepted`, named on `delivered`) was not known when the alert was rendered;
    replay prints once it has read everything, so it never shows one (contract §3). The
    live worker cannot take back what it published: there, the marks known then apply."""
    state = cases.get(alert.case_id)
    marks = state.applicant_marks if state is not None else None
    if not marks:
        return alert
    title, message = mask_marked(alert.title, marks), mask_marked(alert.message, marks)
    details = {
        key: mask_marked(value, marks) if isinstance(value, str) else value
        for key, value in alert.details.items()
    }
    if title == alert.title and message == alert.message and details == alert.details:
        return alert
    return dataclasses.replace(alert, title=title, message=message, details=details)


def _unrevised(alert: Alert, wrong: set[str]) -> Alert:
    """The alert under the id event-time order gives it. A firing after a late line
    proved the first one wrong is a revision (`<id>:r2`, supervisor/core/reorder.py), so
    that the alerts topic's readers, who saw the first id, see the new one; replay never
    printed the first, so it prints the revision under the first id, as the same lines
    in event-time order print it."""
    base, marker, number = alert.alert_id.rpartition(":r")
    if marker and number.isdigit() and base in wrong:
        return dataclasses.replace(alert, alert_id=base)
    return alert


def framed(lines: Iterable[bytes | str]) -> Iterator[tuple[int, bytes | str]]:
    """The file's framing, before the pipeline: each non-blank line with its 1-based
    number (an editor's, as `events.numbered` gives them) and without its line ending (LF
    or CRLF), so that a line is bounded like a Kafka message. A byte order mark at the
    start of the file is the file's, not its first event's (Windows' Notepad writes one;
    RFC 8259 lets a reader ignore it): it is dropped, where a Kafka message that begins
    with one is refused."""
    for number, line in enumerate(lines, start=1):
        if number == 1:
            line = _without_bom(line)
        if line.strip():
            yield number, _without_line_ending(line)


def _without_bom(line: bytes | str) -> bytes | str:
    if isinstance(line, bytes):
        return line[3:] if line.startswith(b"\xef\xbb\xbf") else line
    return line[1:] if line.startswith("\ufeff") else line


def _without_line_ending(line: bytes | str) -> bytes | str:
    if isinstance(line, bytes):
        return line[:-2] if line.endswith(b"\r\n") else line[:-1] if line.endswith(b"\n") else line
    return line[:-2] if line.endswith("\r\n") else line[:-1] if line.endswith("\n") else line


def build_engine(rules_dir: Path, timezone: str) -> Engine:
    calendars = CalendarBook.load(Path(rules_dir) / "calendar", timezone)
    return Engine(RuleBook.load(rules_dir), calendars, CenterRegistry.load().name)


@dataclass(frozen=True)
class ReportOptions:
    """`--report` / `--report-only`, `--report-format`, `--baseline-rules`."""

    only: bool = False  # the report instead of the alert lines
    format: Literal["text", "json"] = "text"
    baseline_rules: Path | None = None


def run(
    source: str,
    rules_dir: Path,
    until: datetime | None,
    timezone: str,
    out: TextIO | None = None,
    report: ReportOptions | None = None,
    watch_centers: bool = False,
) -> int:
    out = sys.stdout if out is None else out
    engine = build_engine(rules_dir, timezone)
    registry = CenterRegistry.load()
    baseline_dir = report.baseline_rules if report is not None else None
    baseline = build_engine(baseline_dir, timezone) if baseline_dir is not None else None
    # With a baseline the input is replayed twice; standard input can only be read once.
    kept = sys.stdin.buffer.readlines() if source == "-" and baseline is not None else None
    runner = _runner(engine, registry, watch_centers)
    with _lines(source, kept) as lines:
        alerts = replay(lines, engine, until, runner=runner)
    if report is None or not report.only:
        for alert in alerts:
            out.write(json.dumps(alert.to_dict(), ensure_ascii=False) + "\n")
        if report is not None and report.format == "text" and alerts:
            out.write("\n")  # the table after a blank line; a JSON report stays one line
    if report is not None:
        before = None
        if baseline is not None:
            with _lines(source, kept) as lines:  # its bad lines were reported already
                before = replay(
                    lines,
                    baseline,
                    until,
                    errors=io.StringIO(),
                    runner=_runner(baseline, registry, watch_centers),
                )
        summary = build_report(
            alerts,
            runner.store.values(),
            rules_dir=str(rules_dir),
            clock=runner.clock,
            registry=registry,
            on_time_measured=engine.rules.get(OVERDUE) is not None,
            baseline=None if before is None else (str(baseline_dir), before),
        )
        out.write(render_json(summary) if report.format == "json" else render_text(summary))
    out.flush()
    unconfirmed = sorted(engine.calendar.unconfirmed_years_seen)
    if unconfirmed:
        print(
            f"note: no official holiday schedule for {_years(unconfirmed)}; "
            "counted weekends and statutory holidays only (no make-up days)",
            file=sys.stderr,
        )
    return 0


def _years(years: list[int]) -> str:
    """Sorted years as people write them: runs of consecutive years as ranges, so a
    limit of a million days reads "2027-4764", not three thousand numbers."""
    runs: list[list[int]] = []
    for year in years:
        if runs and year == runs[-1][1] + 1:
            runs[-1][1] = year
        else:
            runs.append([year, year])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)


def _runner(engine: Engine, registry: CenterRegistry, watch_centers: bool) -> Runner:
    if not watch_centers:
        return Runner(engine)
    watch = CenterWatch(engine.rules, engine.calendar, engine.center_name)
    return Runner(engine, watch=watch, watched=registry)


@contextmanager
def _lines(source: str, kept: list[bytes] | None) -> Iterator[Iterable[bytes]]:
    if source != "-":
        with open(source, "rb") as handle:  # bytes: a line that is not UTF-8 is one bad line
            yield handle
    else:
        yield sys.stdin.buffer if kept is None else kept
