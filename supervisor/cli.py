"""The `supervisor` command: one entry point for every process of the service."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Coroutine
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer

from supervisor import __version__
from supervisor.settings import Settings

T = TypeVar("T")

app = typer.Typer(
    help="政务服务电子监察 — electronic supervision of government service centers.",
    no_args_is_help=True,
    rich_markup_mode="markdown",  # paragraphs of the docstrings wrap to the terminal
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    """`--version`: the installed release (pyproject.toml's version, from the package's
    metadata), for a bug report or to tell which release a host runs."""
    if value:
        typer.echo(f"supervisor {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_print_version,
            is_eager=True,
            help="Print the version and exit.",
        ),
    ] = False,
) -> None:
    """The options of `supervisor` itself, before any command."""


class ReportFormat(StrEnum):
    text = "text"
    json = "json"


def _mount_kafka() -> None:
    from supervisor.kafka.cli import app as kafka_app

    if not any(group.name == "kafka" for group in app.registered_groups):
        app.add_typer(kafka_app, name="kafka", help="The project's local Kafka broker (KRaft).")


@app.command()
def replay(
    events: Annotated[
        str,
        typer.Argument(metavar="EVENTS.jsonl", help="Events, one JSON object a line; - for stdin."),
    ],
    rules: Annotated[
        Path | None,
        typer.Option(
            "--rules",
            metavar="DIR",
            help="Rule directory (default: SUPERVISOR_RULES_DIR: the packaged rules, "
            "rules/ in a checkout).",
        ),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(
            "--until",
            help="Advance the clock to this time at the end, e.g. 2026-12-01T00:00:00+08:00.",
        ),
    ] = None,
    report: Annotated[
        bool,
        typer.Option("--report", help="After the alerts, print a summary per rule and per center."),
    ] = False,
    report_only: Annotated[
        bool,
        typer.Option("--report-only", help="Print the summary instead of the alerts."),
    ] = False,
    report_format: Annotated[
        ReportFormat | None,
        typer.Option(
            "--report-format", help="The summary as aligned text (default) or one JSON object."
        ),
    ] = None,
    baseline_rules: Annotated[
        Path | None,
        typer.Option(
            "--baseline-rules",
            metavar="DIR",
            help="Replay the input under these rules too; the summary compares alerts per rule.",
        ),
    ] = None,
    watch_centers: Annotated[
        bool,
        typer.Option(
            "--watch-centers",
            help="Judge center.silent for the registered centers in the input, each from its "
            "first event (off by default: an extract of events says nothing of the gaps).",
        ),
    ] = False,
) -> None:
    """Run events from a file through the rule engine and print the alerts (contract §5).

    With --report, a summary per rule and per center too (a backtest)."""
    from supervisor.core.rules import RuleError
    from supervisor.replay import ReportOptions, run

    settings = Settings.from_env()
    end = _aware(until, "--until") if until is not None else None
    options = None
    if report or report_only:
        options = ReportOptions(
            only=report_only,
            format="json" if report_format is ReportFormat.json else "text",
            baseline_rules=baseline_rules,
        )
    elif report_format is not None or baseline_rules is not None:
        option = "--report-format" if report_format is not None else "--baseline-rules"
        raise typer.BadParameter("needs --report or --report-only", param_hint=option)
    try:
        status = run(
            events,
            rules or settings.rules_dir,
            end,
            settings.timezone,
            report=options,
            watch_centers=watch_centers,
        )
    except RuleError as exc:
        typer.echo(f"supervisor replay: rules refused: {exc}", err=True)
        raise typer.Exit(2) from None
    except BrokenPipeError:
        # the reader of the output went away (`supervisor replay FILE | head`): stop
        # quietly, with the status a shell gives a filter SIGPIPE stopped
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise typer.Exit(128 + signal.SIGPIPE) from None
    except OSError as exc:
        typer.echo(f"supervisor replay: cannot read {events}: {exc.strerror or exc}", err=True)
        raise typer.Exit(2) from None
    except ValueError as exc:  # the regional calendar files
        typer.echo(f"supervisor replay: configuration refused: {exc}", err=True)
        raise typer.Exit(2) from None
    raise typer.Exit(status)


@app.command()
def worker(
    clock_start: Annotated[
        str | None,
        typer.Option(
            "--clock-start",
            metavar="TIME",
            help="Run the engine's clock from this instant instead of now (it then advances "
            "in real time): to rehearse a day, or for repeatable tests.",
        ),
    ] = None,
) -> None:
    """Run the Faust rule-engine worker (consumes case events, publishes alerts)."""
    from supervisor.worker.main import run

    start = _aware(clock_start, "--clock-start") if clock_start else None
    run(Settings.from_env(), clock_start=start)


def _aware(text: str, option: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"not an ISO 8601 time: {text}", param_hint=option) from None
    if value.tzinfo is None:
        raise typer.BadParameter("give an offset, e.g. +08:00", param_hint=option)
    return value


@app.command()
def web() -> None:
    """Run the web service: the wall, the WebSocket, the API, /metrics."""
    from supervisor.web.server import run

    run(Settings.from_env())


@app.command()
def simulate(
    rate: Annotated[float, typer.Option(help="Live events per second after the backlog.")] = 5.0,
    late_share: Annotated[float, typer.Option(help="Share of cases handled late.")] = 0.15,
    irregular_share: Annotated[
        float, typer.Option(help="Share of cases handled irregularly.")
    ] = 0.1,
    backlog: Annotated[int, typer.Option(help="Cases already under way, uploaded first.")] = 300,
    seed: Annotated[int | None, typer.Option(help="Random seed, for a repeatable run.")] = None,
    duration: Annotated[float | None, typer.Option(help="Stop after this many seconds.")] = None,
) -> None:
    """Publish realistic case events of Hechi's 69 centers to Kafka."""
    import asyncio

    from supervisor.simulate.producer import simulate as run

    count = asyncio.run(
        run(
            Settings.from_env(),
            rate=rate,
            late_share=late_share,
            irregular_share=irregular_share,
            backlog_cases=backlog,
            seed=seed,
            duration=duration,
        )
    )
    typer.echo(f"published {count} events", err=True)


@app.command()
def demo(
    rate: Annotated[float, typer.Option(help="Simulated events per second.")] = 5.0,
    open_browser: Annotated[
        bool, typer.Option("--open/--no-open", help="Open the wall in a browser.")
    ] = False,
) -> None:
    """The live demo: local Kafka, worker, web service and simulated centers."""
    from supervisor.demo import run

    raise typer.Exit(run(Settings.from_env(), rate=rate, open_browser=open_browser))


rules_app = typer.Typer(help="The rule definitions (rules/).", no_args_is_help=True)
app.add_typer(rules_app, name="rules")


@rules_app.command("check")
def rules_check(
    directory: Annotated[
        Path | None,
        typer.Argument(metavar="DIR", help="The rules directory (default: SUPERVISOR_RULES_DIR)."),
    ] = None,
) -> None:
    """Validate the rule, calendar and catalogue files as the services would load them.

    Checks the rules, rules/calendar/, rules/catalogue/, the notification routing and the
    assessment scheme. Prints what is wrong with the file and line, and exits 1; or says
    how many rules and catalogued items are in force."""
    from supervisor.core.calendar import CalendarBook
    from supervisor.core.rules import RuleBook, RuleError

    settings = Settings.from_env()
    folder = directory or settings.rules_dir
    from supervisor.assessment.scheme import load_scheme
    from supervisor.notify.routing import known_rule_ids, load_routing

    routing = folder / "notify" / "routing.yaml"
    scheme = folder / "assessment" / "scheme.yaml"
    try:
        book = RuleBook.load(folder)
        CalendarBook.load(folder / "calendar", settings.timezone)
        if routing.exists():  # who is notified of what (supervisor notify)
            load_routing(routing, known_rules=known_rule_ids(rule.id for rule in book))
        if scheme.exists():  # how the monthly assessment scores
            load_scheme(scheme)
    except (RuleError, ValueError, OSError) as exc:
        typer.echo(f"refused: {exc}", err=True)
        raise typer.Exit(1) from None
    enabled = sum(1 for rule in book if rule.spec.enabled)
    catalogue = book.catalogue
    items = (
        "no item catalogue (the catalogue's rules are silent)"
        if catalogue is None
        else f"item catalogue of {len(catalogue)} items"
    )
    typer.echo(f"{folder}: {len(book)} rules, {enabled} enabled; {items}")


@rules_app.command("doc")
def rules_doc(
    directory: Annotated[
        Path | None,
        typer.Argument(metavar="DIR", help="The rules directory (default: SUPERVISOR_RULES_DIR)."),
    ] = None,
) -> None:
    """Print the inspectors' page of the rules (Markdown), e.g. > rules/README.md."""
    from supervisor.core.rules import RuleError
    from supervisor.rules_doc import render

    try:
        page = render(directory or Settings.from_env().rules_dir)
    except RuleError as exc:
        typer.echo(f"refused: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(page, nl=False)


token_app = typer.Typer(
    help="Access tokens of the web service (SUPERVISOR_TOKENS_FILE; hashes only, never "
    "in the repository).",
    no_args_is_help=True,
)
app.add_typer(token_app, name="token")


class TokenRole(StrEnum):
    inspector = "inspector"
    director = "director"
    ops = "ops"


@token_app.command("issue")
def token_issue(
    role: Annotated[
        TokenRole,
        typer.Option(
            "--role",
            help="inspector: every center; director: --center and the centers below it; "
            "ops: /metrics and /healthz only.",
        ),
    ],
    name: Annotated[str, typer.Option("--name", help="Who holds it, e.g. 张三 or wall-1.")],
    center: Annotated[
        str | None, typer.Option("--center", metavar="CODE", help="A director's center.")
    ] = None,
    days: Annotated[
        int | None, typer.Option("--days", min=1, help="Valid for N days (default: no end).")
    ] = None,
) -> None:
    """Issue a token: printed alone on stdout, this once (only its hash is kept)."""
    from datetime import timedelta
    from zoneinfo import ZoneInfo

    from supervisor.auth import TokenError, TokenStore, default_registry

    settings = Settings.from_env()
    now = datetime.now(ZoneInfo(settings.timezone))
    expires = now + timedelta(days=days) if days is not None else None
    try:
        token = TokenStore(settings.tokens_file).issue(role.value, name, center, expires)
    except TokenError as exc:
        typer.echo(f"supervisor token issue: {exc}", err=True)
        raise typer.Exit(2) from None
    shown = token.split(".", 1)[0]
    place = "" if center is None else f" {center}"
    zh_until = f"有效至 {expires:%Y-%m-%d %H:%M}" if expires else "长期有效"
    en_until = f"valid until {expires:%Y-%m-%d %H:%M}" if expires else "no expiry"
    unknown = center is not None and center not in default_registry()
    typer.echo(token)
    typer.echo(
        f"已签发 {role.value}{place} 令牌 {shown}（{name}），{zh_until}，只显示这一次，请妥善保管"
        f" / issued {role.value}{place} token {shown} for {name}, {en_until}; shown only once,"
        f" keep it secret{f' [{center} 未登记 / not in the registry]' if unknown else ''}",
        err=True,
    )


@token_app.command("list")
def token_list() -> None:
    """List the tokens (id, role, center, created, expires, status, name); no secrets."""
    from zoneinfo import ZoneInfo

    from supervisor.auth import TokenError, TokenStore

    settings = Settings.from_env()
    try:
        tokens = TokenStore(settings.tokens_file).list()
    except TokenError as exc:
        typer.echo(f"supervisor token list: {exc}", err=True)
        raise typer.Exit(2) from None
    if not tokens:
        typer.echo(f"no tokens in {settings.tokens_file}", err=True)
        return
    zone = ZoneInfo(settings.timezone)
    now = datetime.now(zone)

    def local(moment: datetime | None) -> str:
        return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M") if moment else "-"

    header = ("id", "role", "center", "created", "expires", "status", "name")
    rows = [header] + [
        (
            f"svt_{t.id}",
            t.role.value,
            t.center or "-",
            local(t.created),
            local(t.expires),
            t.status(now),
            t.name,
        )
        for t in tokens
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
    for row in rows:  # the name last: no padding after CJK text
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        typer.echo("  ".join([*cells, row[-1]]))


@token_app.command("revoke")
def token_revoke(
    token_id: Annotated[str, typer.Argument(metavar="ID", help="The id (`svt_<id>` as listed).")],
) -> None:
    """Revoke a token; a running web service refuses it within a few seconds."""
    from supervisor.auth import TokenError, TokenStore

    settings = Settings.from_env()
    try:
        changed = TokenStore(settings.tokens_file).revoke(token_id)
    except KeyError:
        typer.echo(f"supervisor token revoke: no token {token_id}", err=True)
        raise typer.Exit(1) from None
    except TokenError as exc:
        typer.echo(f"supervisor token revoke: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo("已吊销 / revoked" if changed else "已吊销过 / already revoked", err=True)


notify_app = typer.Typer(
    help="The notification service: alerts to the directors by webhook and email.\n\n"
    "`supervisor notify` alone runs it: it reads the alert journal, sends the "
    "notifications and escalates; /metrics and /healthz on SUPERVISOR_NOTIFY_PORT (6067).",
    invoke_without_command=True,
)
app.add_typer(notify_app, name="notify")


@notify_app.callback()
def notify(
    ctx: typer.Context,
    clock_start: Annotated[
        str | None,
        typer.Option(
            "--clock-start",
            metavar="TIME",
            help="Run the notifier's clock from this instant instead of now (it then advances "
            "in real time): for rehearsals and repeatable tests of digests and escalations.",
        ),
    ] = None,
) -> None:
    """Run the notifier when no subcommand is given (the group's help says so)."""
    if ctx.invoked_subcommand is not None:
        return
    from supervisor.notify.service import run

    start = _aware(clock_start, "--clock-start") if clock_start else None
    run(Settings.from_env(), clock_start=start)


@notify_app.command("dead-letters")
def notify_dead_letters(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object a line.")] = False,
) -> None:
    """List the notifications given up after their retry budget (the dead-letter topic)."""
    import asyncio
    import json

    from supervisor.notify.service import dead_letters

    letters = asyncio.run(dead_letters(Settings.from_env()))
    for letter in letters:
        if as_json:
            shown = {k: v for k, v in letter.items() if k != "notification"}
            typer.echo(json.dumps(shown, ensure_ascii=False))
        else:
            typer.echo(
                f"{letter.get('at', '')}  {letter.get('key', '')}  now: {letter.get('now')}  "
                f"attempts: {len(letter.get('attempts') or [])}  error: {letter.get('error')}"
            )
    if not letters:
        typer.echo("没有死信 / no dead letters", err=True)


@notify_app.command("replay-dead-letter")
def notify_replay_dead_letter(
    key: Annotated[
        str,
        typer.Argument(
            metavar="KEY",
            help="A dead letter's key (`<notification id>|<channel>`), or a notification id "
            "for every channel of it.",
        ),
    ],
) -> None:
    """Put a dead letter back in the outbox, for the running notifier to try again.

    It gets a fresh retry budget and keeps its idempotency key."""
    import asyncio

    from supervisor.notify.service import replay_dead_letter

    keys = asyncio.run(replay_dead_letter(Settings.from_env(), key))
    if not keys:
        typer.echo(f"no dead letter {key!r}", err=True)
        raise typer.Exit(1)
    for replayed in keys:
        typer.echo(f"replayed {replayed}")


dlq_app = typer.Typer(
    help="Dead letters of the case-events topic: list, export to fix, send again.",
    no_args_is_help=True,
)
app.add_typer(dlq_app, name="dlq")


class DeadLetterKind(StrEnum):
    malformed = "malformed"
    invalid = "invalid"
    future = "future"
    engine_error = "engine_error"


KindOption = Annotated[
    DeadLetterKind | None,
    typer.Option("--kind", help="Only dead letters of this kind (the metric's reason label)."),
]


def _dead_letters(kind: DeadLetterKind | None) -> list[Any]:
    import asyncio
    import dataclasses
    from zoneinfo import ZoneInfo

    from supervisor import deadletters

    settings = Settings.from_env()
    letters = asyncio.run(deadletters.read(settings.bootstrap_servers, settings.topic_dlq))
    zone = ZoneInfo(settings.timezone)  # in local time, as the wall and the console say it
    return [
        dataclasses.replace(d, at=d.at.astimezone(zone))
        for d in letters
        if kind is None or d.kind == kind.value
    ]


@dlq_app.command("list")
def dlq_list(
    kind: KindOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object a line.")] = False,
) -> None:
    """What the worker refused and why (ID numbers and phones masked), oldest first."""
    import json
    from collections import Counter

    letters = _dead_letters(kind)
    for letter in letters:
        shown = letter.summary()
        if as_json:
            typer.echo(json.dumps(shown, ensure_ascii=False))
        else:
            typer.echo(f"{shown['at']}  {shown['source']}  [{shown['kind']}] {shown['reason']}")
            typer.echo(f"    {shown['value']}")
    counts = Counter(letter.kind for letter in letters)
    summary = ", ".join(f"{k} {n}" for k, n in sorted(counts.items())) or "none"
    typer.echo(f"{len(letters)} dead letters ({summary})", err=True)


@dlq_app.command("export")
def dlq_export(
    path: Annotated[
        Path, typer.Argument(metavar="FILE", help="Written with mode 0600; - for stdout.")
    ],
    kind: KindOption = None,
) -> None:
    """Write the dead letters that are JSON documents to FILE, one event a line.

    To be corrected, checked with `supervisor replay FILE` and sent with `supervisor dlq
    resend`. The file holds applicants' data as sent: keep it out of shared places."""
    from supervisor import deadletters

    letters = _dead_letters(kind)
    if str(path) == "-":
        written, skipped = deadletters.write_events(letters, sys.stdout)
    else:
        written, skipped = deadletters.export(letters, path)
    for letter in skipped:
        typer.echo(f"{letter.left_out}, left out: {letter.source}: {letter.reason}", err=True)
    typer.echo(f"{written} events written to {path}; {len(skipped)} left out", err=True)


@dlq_app.command("resend")
def dlq_resend(
    path: Annotated[
        Path, typer.Argument(metavar="FILE", help="Events, one JSON object a line; - for stdin.")
    ],
) -> None:
    """Publish the corrected events of FILE to the case-events topic, keyed by case_id.

    Lines that are still not valid events are refused with their reason (exit status 1),
    the valid ones are sent all the same; an event already applied is ignored by the
    worker, so sending twice is harmless."""
    import asyncio

    from supervisor import deadletters

    settings = Settings.from_env()
    with sys.stdin if str(path) == "-" else path.open(encoding="utf-8") as lines:
        sent, refused = asyncio.run(
            deadletters.resend(settings.bootstrap_servers, settings.topic_events, lines)
        )
    for refusal in refused:
        typer.echo(f"{path}:{refusal.line}: {refusal.reason}", err=True)
    typer.echo(f"{sent} events sent to {settings.topic_events}; {len(refused)} refused", err=True)
    if refused:
        raise typer.Exit(1)


class AssessFormat(StrEnum):
    text = "text"
    json = "json"
    xlsx = "xlsx"
    pdf = "pdf"


class AssessBy(StrEnum):
    CENTER = "center"
    COUNTY = "county"
    DEPARTMENT = "department"
    WINDOW = "window"
    STAFF = "staff"


def _run_refusing(work: Coroutine[Any, Any, T]) -> T:
    """Run a command's database work; a database, file or font that fails it is a
    `refused:` line and exit 1, as every command says it (not a traceback)."""
    import asyncio

    from sqlalchemy.exc import SQLAlchemyError

    from supervisor.report.charts import NoChineseFont
    from supervisor.store.db import DatabaseError

    try:
        return asyncio.run(work)
    except (OSError, SQLAlchemyError) as exc:
        typer.echo(f"refused: {type(exc).__name__}: {exc}", err=True)
        raise typer.Exit(1) from None
    except (DatabaseError, NoChineseFont) as exc:  # their messages say it all
        typer.echo(f"refused: {exc}", err=True)
        raise typer.Exit(1) from None


def _write_binary(data: bytes, output: Path | None, what: str) -> None:
    """A file the command made (a workbook, a PDF): to `output`, or to stdout when it
    is not a terminal (`> file`, a pipe); refused on a terminal, where it would print
    bytes as characters."""
    if output is not None and str(output) != "-":
        try:
            output.write_bytes(data)
        except OSError as exc:
            typer.echo(f"refused: cannot write {output}: {exc.strerror or exc}", err=True)
            raise typer.Exit(1) from None
        typer.echo(f"{what} written to {output} ({len(data):,} bytes)", err=True)
        return
    stdout = typer.get_binary_stream("stdout")
    if stdout.isatty():
        typer.echo(
            f"refused: {what} is a binary file: give --output FILE, or redirect stdout to a file",
            err=True,
        )
        raise typer.Exit(1)
    stdout.write(data)
    stdout.flush()


async def _centers_within(read: Any, registry: Any, scope: str | None) -> list[str] | None:
    """The codes of the centers at or below `scope` (None: every center), among those
    the read model has seen and those the registry knows."""
    if scope is None:
        return None
    seen = set(await read.centers_seen()) | {center.code for center in registry.all()}
    return sorted(code for code in seen if registry.is_within(code, scope))


@app.command()
def assess(
    period: Annotated[
        str, typer.Option(help="a month (2026-11), a quarter (2026-Q4) or a year (2026)")
    ],
    by: Annotated[
        AssessBy,
        typer.Option(help="the units ranked (county: each county with its townships)"),
    ] = AssessBy.CENTER,
    scope: Annotated[
        str | None, typer.Option(help="a center's code: it and the centers below it")
    ] = None,
    output: Annotated[
        AssessFormat,
        typer.Option(
            "--format", help="text (aligned), json (one object), xlsx (a workbook) or pdf."
        ),
    ] = AssessFormat.text,
    file: Annotated[
        Path | None,
        typer.Option(
            "--output",
            metavar="FILE",
            help="where xlsx or pdf is written (default: stdout, when it is not a terminal)",
        ),
    ] = None,
) -> None:
    """绩效考核: score, grade and rank the centers for a month, quarter or year.

    Each center (or county, department, window, staff member) from the read model, by
    rules/assessment/scheme.yaml, with the change against the period before; as text,
    JSON, a workbook or a PDF."""
    import json
    from zoneinfo import ZoneInfo

    from supervisor.assessment.exports import as_pdf, as_xlsx
    from supervisor.assessment.periods import period as parse_period
    from supervisor.assessment.run import as_json, as_text, assess_period
    from supervisor.assessment.scheme import load_scheme
    from supervisor.centers import CenterRegistry, is_valid_code
    from supervisor.core.calendar import CalendarBook
    from supervisor.store.db import Database
    from supervisor.store.queries import ReadModel

    settings = Settings.from_env()
    try:
        when = parse_period(period)
        if scope is not None and not is_valid_code(scope):
            raise ValueError(f"--scope {scope!r}: a center's code is 6 or 9 digits")
        if file is not None and output not in (AssessFormat.xlsx, AssessFormat.pdf):
            raise ValueError("--output: only for --format xlsx or pdf (text and json print)")
        scheme = load_scheme(settings.rules_dir / "assessment" / "scheme.yaml")
        calendars = CalendarBook.load(settings.rules_dir / "calendar", settings.timezone)
    except (ValueError, OSError) as exc:
        typer.echo(f"refused: {exc}", err=True)
        raise typer.Exit(1) from None
    registry = CenterRegistry.load()
    names = {center.code: center.name for center in registry.all()}

    async def run() -> str | bytes:
        database = Database(settings.database)
        try:
            await database.require_current()
            read = ReadModel(database, settings.timezone)
            centers = await _centers_within(read, registry, scope)
            result = await assess_period(read, scheme, when, calendars, by.value, centers, names)
        finally:
            await database.dispose()
        if output is AssessFormat.json:
            return json.dumps(as_json(result), ensure_ascii=False, indent=2)
        if output is AssessFormat.xlsx:
            return as_xlsx(result)
        if output is AssessFormat.pdf:
            return as_pdf(result, datetime.now(ZoneInfo(settings.timezone)))
        return as_text(result)

    made = _run_refusing(run())
    if isinstance(made, bytes):
        _write_binary(made, file, f"the assessment ({output.value})")
    else:
        typer.echo(made, nl=output is AssessFormat.json)


@app.command()
def report(
    period: Annotated[
        str, typer.Option(help="a month (2026-11), a quarter (2026-Q4) or a year (2026)")
    ],
    scope: Annotated[
        str | None,
        typer.Option(
            help="a county's (or a township's) code: its report, of it and the centers "
            "below it; the city's code or none: the city's report"
        ),
    ] = None,
    file: Annotated[
        Path | None,
        typer.Option(
            "--output",
            metavar="FILE.pdf",
            help="where the PDF is written (default: `电子监察通报_<period>_<scope>.pdf` here; "
            "- for stdout)",
        ),
    ] = None,
) -> None:
    """月度电子监察通报: the monthly report of a county or of the city, as a PDF.

    Headline figures, the assessment's ranking and grades, trends, alerts by rule, the
    worst overdue cases (masked), supervision orders and their replies."""
    from zoneinfo import ZoneInfo

    from supervisor.assessment.periods import period as parse_period
    from supervisor.assessment.scheme import load_scheme
    from supervisor.centers import CenterRegistry, is_valid_code
    from supervisor.core.calendar import CalendarBook
    from supervisor.report.gather import gather, rule_titles
    from supervisor.report.model import is_city
    from supervisor.report.pdf import report_pdf
    from supervisor.store.db import Database
    from supervisor.store.queries import ReadModel

    settings = Settings.from_env()
    registry = CenterRegistry.load()
    city = next(center.code for center in registry.all() if center.parent is None)
    try:
        when = parse_period(period)
        if scope is not None and not is_valid_code(scope):
            raise ValueError(f"--scope {scope!r}: a center's code is 6 or 9 digits")
        scheme = load_scheme(settings.rules_dir / "assessment" / "scheme.yaml")
        calendars = CalendarBook.load(settings.rules_dir / "calendar", settings.timezone)
    except (ValueError, OSError) as exc:
        typer.echo(f"refused: {exc}", err=True)
        raise typer.Exit(1) from None
    place = city if scope is None or is_city(scope) else scope
    names = {center.code: center.name for center in registry.all()}
    names.setdefault(place, registry.name(place))
    titles = rule_titles(settings.rules_dir)

    async def run() -> bytes:
        database = Database(settings.database)
        try:
            await database.require_current()
            read = ReadModel(database, settings.timezone)
            centers = None if place == city else await _centers_within(read, registry, place)
            made = await gather(
                read,
                scheme,
                when,
                calendars,
                scope=place,
                centers=centers,
                names=names,
                now=datetime.now(ZoneInfo(settings.timezone)),
                rule_titles=titles,
            )
        finally:
            await database.dispose()
        return report_pdf(made)

    pdf = _run_refusing(run())
    target = file if file is not None else Path(f"电子监察通报_{when.name}_{place}.pdf")
    _write_binary(pdf, target, "the report")


db_app = typer.Typer(
    help="The read model's database (SUPERVISOR_DATABASE_URL; default SQLite in the data dir).",
    no_args_is_help=True,
)
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Migrate the read model's schema to this version, and say where it stands.

    Every web service also does it at start."""
    import asyncio

    from sqlalchemy.exc import SQLAlchemyError

    from supervisor.store.db import Database, DatabaseError, shown

    settings = Settings.from_env()
    settings.data_dir.mkdir(parents=True, exist_ok=True)

    async def upgrade() -> tuple[str | None, str | None]:
        database = Database(settings.database)
        try:
            before = await database.revision()
            await database.upgrade()
            return before, await database.revision()
        finally:
            await database.dispose()

    try:
        before, after = asyncio.run(upgrade())
    except (DatabaseError, OSError, SQLAlchemyError) as exc:
        typer.echo(f"refused: {type(exc).__name__}: {exc}", err=True)
        raise typer.Exit(1) from None
    change = "already at" if before == after else f"upgraded from {before or 'nothing'} to"
    typer.echo(f"{shown(settings.database)}: {change} revision {after}")


def main() -> None:
    """The console script. What an operator can put right (a setting, a broker that does
    not answer, a file that cannot be read or written) ends the command with one
    `refused:` line naming it, exit status 1, instead of a traceback; anything else is a
    bug and keeps its traceback."""
    from supervisor.settings import SettingError

    _mount_kafka()
    try:
        app(prog_name="supervisor")
    except SettingError as exc:
        _refuse(str(exc))
    except Exception as exc:
        if _broker_unreachable(exc):
            bootstrap = Settings.from_env().bootstrap_servers
            _refuse(f"cannot reach Kafka at {bootstrap} (set KAFKA_BOOTSTRAP_SERVERS)")
        if isinstance(exc, OSError):
            where = f": {exc.filename}" if exc.filename else ""
            _refuse(f"{exc.strerror or exc}{where}")
        raise


def _broker_unreachable(exc: BaseException) -> bool:
    """aiokafka's "cannot bootstrap", looked up only once a command failed: a command
    that never loaded aiokafka (replay, rules, --help) does not pay its import."""
    errors = sys.modules.get("aiokafka.errors")
    return errors is not None and isinstance(exc, errors.KafkaConnectionError)


def _refuse(reason: str) -> NoReturn:
    print(f"refused: {reason}", file=sys.stderr)
    raise SystemExit(1)


if __name__ == "__main__":
    main()
