"""The web service's composition root: `create_app()` wires read model, hub, metrics, feed
and routes.

Nothing is created at import time: every call builds its own database engine, hub,
metrics (against the given registry) and Kafka feed, so tests make as many isolated
apps as they like and the process entry point (`server.run`) makes exactly one. Every
list, detail and figure is read from the read model (supervisor/store/, docs/history.md);
the WebSocket from the hub.

Routes; every one but `/healthz` and the page's files needs a token (`Authorization:
Bearer …` or `?token=`; see supervisor/auth.py), and a director only ever sees the
centers of their scope (their center and those below it):

- `/` redirects to the wall page: the repository's `dashboards/wall/`, shipped in the package.
- `GET /api/alerts`: filtered by center (`below=true` with the centers under it),
  severity, rule, status, case, department, free text (`q`), time range (`since`,
  `until`), paged in a stable order (`limit`, `offset`); `GET /api/export/alerts`: the
  same as CSV or XLSX.
- `GET /api/cases/{case_id}`: one case, its masked timeline and its alerts.
- `GET /api/alerts/{id}`: one alert with its history (who, when, what).
- `POST /api/alerts/{id}/acknowledge|resolve|appeal|appeal/accept|appeal/reject`: the
  lifecycle (journal.py); written to the journal, answered once read back.
  An alert id holds its case id, which may hold anything (`/`, `%`, spaces…): `{id}`
  is the rest of the path (percent-encoded or not), up to the action's fixed ending.
  An alert that does not exist and one outside the caller's scope get the same 404.
- `WS /ws/alerts?after=SEQ`: `{"type": "snapshot", "seq", "alerts"}` on connect, or,
  when the client says the last position it has, exactly the messages it missed; then
  `{"type": "alert"|"change", "seq", "alert"}` live (see hub.py for slow clients).
  With `batch=1` (the wall asks for it), messages that queued up while the previous
  frame was being sent come as one frame `{"type": "batch", "messages": [...]}`.
- `POST /api/silences`, `GET /api/silences[?state=]`, `GET /api/silences/{id}` (with
  its audit trail), `POST /api/silences/{id}/lift`: silences of notifications
  (inspectors only; supervisor/notify/silences.py), written to the journal as `silence`
  audit records and answered once read back.
- `GET /api/stats/headline`, `GET /api/board`: the wall's figures and its board of
  centers; `GET /api/stats/centers?start=&end=`: per-center figures (绩效考核),
  `/api/stats/figures?by=` per department, window or staff, `/api/export/centers`.
- `GET /api/centers`, `GET /api/me`: center names in scope; who the token is.
- `GET /healthz`: open, always 200 while the process serves: `{"status": "ok"}`, or
  "degraded" when the Kafka consumer cannot reach the cluster or the database does not
  answer; with a valid token (any role) also the consumer's and the database's details.
- `GET /metrics`: Prometheus text format (ops token only: the figures are city-wide).
- `/docs`, `/redoc`, `/openapi.json`: the API's documentation, only with
  `settings.api_docs` (SUPERVISOR_API_DOCS, default off) and then only to a valid token.

Every date and time a client gives is checked to lie in years `EARLIEST_YEAR` to
`LATEST_YEAR` (422 otherwise): far-off ones overflow date arithmetic. Request bodies are
bounded and every response carries security headers (security.py); a validation error
says where and what, without echoing the value sent.

Every handler is `async def` so it runs on the event loop that owns the hub.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager, suppress
from datetime import date, datetime, timedelta
from typing import Annotated, Any, Final, Literal
from urllib.parse import quote
from zoneinfo import ZoneInfo

import anyio
from fastapi import Depends, FastAPI, HTTPException, Query, Request, WebSocket, WebSocketDisconnect
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import (
    HTMLResponse,
    JSONResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from supervisor.auth import Principal, Role, TokenStore
from supervisor.centers import CenterRegistry
from supervisor.core.calendar import CalendarBook
from supervisor.lifecycle import ROLES_FOR, Action, Refused, check
from supervisor.masking import mask_text
from supervisor.notify import silences as silence_book
from supervisor.notify.silences import Silence, SilenceError, Status
from supervisor.settings import Settings, package_path
from supervisor.store import export
from supervisor.store.db import Database
from supervisor.store.projection import Projection, Topics
from supervisor.store.queries import TOTAL_CAP, AlertQuery, Grouping, ReadModel
from supervisor.web.consumer import DATABASE_DOWN, AlertFeed
from supervisor.web.hub import Alert, AlertHub, Subscription, SubscriptionEnded
from supervisor.web.journal import lifecycle_record
from supervisor.web.metrics import WebMetrics
from supervisor.web.readmodel import ReadModelState
from supervisor.web.routes import orders as order_routes
from supervisor.web.routes import rules as rule_routes
from supervisor.web.routes import session as session_routes
from supervisor.web.routes.rules import RuleSheet
from supervisor.web.security import (
    CLOSE_UNAUTHORIZED,
    AnyRole,
    Authenticator,
    BodyLimit,
    MaybeAnyone,
    Ops,
    SecurityHeaders,
    Viewer,
    bearer_token,
    require_center,
    require_roles,
)
from supervisor.web.sessions import Sessions
from supervisor.web.supervision import OrderDesk, OrderWatch
from supervisor.web.writer import JournalWriter, KafkaJournalWriter, LocalJournalWriter

log = logging.getLogger(__name__)

#: The wall page's files: the repository's dashboards/wall/, shipped inside the package
#: (part of the code, not of the settings; see `supervisor.settings.package_path`).
WALL_DIR: Final = package_path("_wall")
#: The console's files (people at a desk): the repository's dashboards/console/, shipped
#: inside the package like the wall
CONSOLE_DIR: Final = package_path("_console")
#: How long a stopping service waits for the order watch's present look to end.
WATCH_STOP_SECONDS: Final = 15.0

#: Close codes: 1013 "try again later" makes the page reconnect for a fresh snapshot;
#: 1001 "going away" at shutdown.
CLOSE_TOO_SLOW: Final = 1013
CLOSE_GOING_AWAY: Final = 1001
#: Seconds the API waits for a change it wrote to be read back from the journal.
CHANGE_TIMEOUT: Final = 10.0
#: Seconds a new socket waits at most for the journal to be read to its end at start.
CATCH_UP_TIMEOUT: Final = 30.0
#: The same for the figures and the board, polled every few seconds.
HEADLINE_CATCH_UP: Final = 5.0
#: Seconds between two looks at an open socket's token (revoked: closed with 4401).
TOKEN_RECHECK_SECONDS: Final = 5.0
REVOKED: Final = "token revoked"
#: Messages in one batch frame at most (`?batch=1`); a full client queue is 256.
BATCH_MAX: Final = 256
#: The statuses `GET /api/alerts?status=` filters on: journal.STATUSES, spelt out for
#: the OpenAPI schema and the 422 of an unknown one (a test checks they agree).
AlertStatus = Literal[
    "open", "acknowledged", "appealed", "resolved", "withdrawn", "closed", "superseded"
]
#: Silences are the inspectors': directors and ops get 403. Module-level for
#: the reason given at `security.Viewer`.
Inspector = Annotated[Principal, Depends(require_roles(Role.inspector))]

#: The years a date or time given to the API may fall in (a period, a filter, a
#: silence). The service started in the 2020s; a date outside is a typo or a probe, and
#: one near year 9999 overflows the date arithmetic behind the answer.
EARLIEST_YEAR: Final = 2000
LATEST_YEAR: Final = 2100
#: The longest period the figures answer for, in days, both ends included: ten years,
#: more than any assessment asks for, and a bound on what one request may scan.
STATS_MAX_DAYS: Final = 3_660
#: Seconds a request waits for the read model to be ready at start before it gets 503.
READY_TIMEOUT: Final = 5.0
#: The longest silence: decided by supervisor/notify/silences.py (the notifier applies
#: silences too), checked here first for a clear answer.
SILENCE_MAX_DURATION: Final = silence_book.MAX_DURATION
#: How far ahead a silence may begin: a migration is planned weeks ahead, not years.
SILENCE_MAX_LEAD: Final = timedelta(days=365)
#: How far back `starts_at` may lie and still be taken as "now" (a client's clock, "from
#: 08:00 today"); further back is refused: what has been sent cannot be silenced.
SILENCE_MAX_BACKDATE: Final = timedelta(days=1)
#: The API documentation pages load Swagger UI or ReDoc from their CDN, and run one
#: inline script (allowed by its nonce): their own policy, served only with api_docs.
DOCS_POLICY: Final = (
    "default-src 'self'",
    "script-src 'self' 'nonce-{nonce}' https://cdn.jsdelivr.net",
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com",
    "font-src 'self' https://fonts.gstatic.com",
    "img-src 'self' data: https:",
    "worker-src 'self' blob:",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
)
#: Characters of one location item (a field name sent by the client) a validation error
#: repeats; the rest is cut.
LOCATION_MAX: Final = 100


def load_center_names() -> dict[str, str]:
    """Center code -> name from `supervisor.centers`, or {} while that module is absent.

    Only the module's absence is tolerated (the page then shows codes); a registry that
    exists but fails to load is a bug and raises.
    """
    try:
        from supervisor.centers import CenterRegistry
    except ModuleNotFoundError as exc:
        if exc.name != "supervisor.centers":
            raise
        log.warning("supervisor.centers is not available; the wall shows center codes")
        return {}
    registry = CenterRegistry.load()
    return {center.code: center.name for center in registry.all()}


class ChangeBody(BaseModel):
    """What a person adds to a lifecycle change."""

    model_config = ConfigDict(extra="forbid")

    note: str = Field(default="", max_length=2000)
    disposition: Literal["verified", "rectified", "held_accountable", "false_alarm"] | None = None
    reason: str = Field(default="", max_length=2000)
    #: 问责: who was held to account and the measure taken (with `held_accountable`)
    person: str = Field(default="", max_length=100)
    measure: str = Field(default="", max_length=500)


class SilenceBody(BaseModel):
    """A new silence: what it matches (a center, `below` with the centers under it, a
    rule id or prefix like `deadline.*`, a case; at least one), when it ends (and
    begins: default now), and why."""

    model_config = ConfigDict(extra="forbid")

    center_id: str | None = None
    below: bool = False
    rule: str | None = Field(default=None, max_length=200)
    case_id: str | None = Field(default=None, max_length=200)
    until: AwareDatetime
    starts_at: AwareDatetime | None = None
    reason: str = Field(min_length=1, max_length=2000)


class LiftBody(BaseModel):
    """Why a silence is lifted before its end."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=2000)


class AlertPage(BaseModel):
    total: int  # matches, counted up to `TOTAL_CAP` (then total_exact is false)
    total_exact: bool
    offset: int
    limit: int
    seq: int  # the journal position the page was taken at
    items: list[dict[str, Any]]


ExportFormat = Literal["csv", "xlsx"]


def create_app(
    settings: Settings,
    *,
    registry: CollectorRegistry | None = None,
    start_consumer: bool = True,
    center_names: Mapping[str, str] | None = None,
    tokens: TokenStore | None = None,
    clock: Callable[[], datetime] | None = None,
    database: Database | None = None,
) -> FastAPI:
    """Build the web service.

    `registry` receives the metrics (a fresh one when None); `start_consumer=False`
    leaves Kafka out (tests write records with `app.state.writer`, applied at once to
    the read model and the hub); `center_names` overrides the center registry; `tokens`
    the token store (default: settings.tokens_file); `database` the read model (default:
    `settings.database`, or without Kafka an in-memory SQLite). The hub, metrics, feed,
    writer and read model are on `app.state`.
    """
    metrics = WebMetrics(registry if registry is not None else CollectorRegistry())
    hub = AlertHub(settings.wall_recent)
    names = dict(center_names) if center_names is not None else load_center_names()
    centers = CenterRegistry.load()
    store = tokens if tokens is not None else TokenStore(settings.tokens_file)
    now = clock or (lambda: datetime.now(ZoneInfo(settings.timezone)))
    db = database or Database(settings.database if start_consumer else "sqlite://")
    read = ReadModel(db, settings.timezone)
    projection = Projection(
        db,
        Topics(settings.topic_alerts, settings.topic_facts, settings.topic_events),
        center_names=names,
    )
    state = ReadModelState(settings, db, read, projection, hub, metrics, centers, now)
    feed = AlertFeed(settings, hub, metrics, projection=projection)
    feed.on_projected = state.changed
    writer: JournalWriter = (
        KafkaJournalWriter(settings)
        if start_consumer
        else LocalJournalWriter(feed, projection, settings.topic_alerts, state.ensure_ready)
    )
    authenticate = Authenticator(store)  # routes use Viewer / AnyRole: app.state.tokens
    # without Kafka (tests, tools) a key of the process's own: no file written
    sessions = (
        Sessions.for_service(settings.session_secret, settings.data_dir)
        if start_consumer or settings.session_secret
        else Sessions(secrets.token_bytes(64))
    )
    calendars = CalendarBook.load(settings.rules_dir / "calendar", settings.timezone)
    desk = OrderDesk(read, writer, hub.wait_for, calendars, now, names)
    watch = OrderWatch(read, writer, now, names)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async def run() -> None:
            await state.start()
            if start_consumer:
                await feed.run()

        tasks = [
            asyncio.create_task(run(), name="read-model"),
            asyncio.create_task(state.maintain(), name="read-model-counts"),
        ]
        watching = asyncio.create_task(watch.run(), name="order-watch")
        await writer.start()
        try:
            if not start_consumer:
                await state.ready.wait()  # in memory: ready at once
            yield
        finally:
            watch.stop()  # its look ends first: it reads the database and writes
            try:
                await asyncio.wait_for(watching, WATCH_STOP_SECONDS)
            except TimeoutError:
                log.warning("the order watch did not stop in time")
            hub.close()
            await writer.stop()
            for task in tasks:
                task.cancel()
            for task in tasks:
                with suppress(asyncio.CancelledError):
                    await task
            await db.dispose()

    metrics.watch(state.counted_open_alerts, lambda: state.open_cases)

    # The documentation routes are added below, behind a token, or not at all.
    app = FastAPI(
        title="政务服务电子监察 实时预警",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.add_middleware(BodyLimit)
    app.add_middleware(SecurityHeaders)  # outermost: on the 413s of BodyLimit too
    app.add_exception_handler(RequestValidationError, _validation_error)
    for error in DATABASE_DOWN:
        app.add_exception_handler(error, _database_down)
    app.state.settings = settings
    app.state.hub = hub
    app.state.metrics = metrics
    app.state.feed = feed if start_consumer else None
    app.state.tokens = store
    app.state.writer = writer
    app.state.read_model = read
    app.state.read_state = state
    app.state.projection = projection
    app.state.alert_feed = feed  # the Kafka feed's per-record logic, with or without Kafka
    app.state.database = db
    app.state.sessions = sessions
    app.state.order_desk = desk
    app.state.order_watch = watch
    app.state.clock = now
    app.include_router(session_routes.router)
    app.include_router(order_routes.router)
    app.state.rule_sheet = RuleSheet(settings.rules_dir)
    app.include_router(rule_routes.router)

    async def caught_up(timeout: float) -> None:
        """After a restart, wait (a little) for the journal to be read to its end."""
        if not await state.wait_ready(READY_TIMEOUT):
            raise HTTPException(503, "the read model is not ready yet; try again shortly")
        if start_consumer and not feed.caught_up.is_set():
            with suppress(TimeoutError):
                await asyncio.wait_for(feed.caught_up.wait(), timeout)

    async def alert_query(
        who: Principal,
        center_id: str | None,
        below: bool,
        filters: AlertFilters,
        *,
        limit: int,
        offset: int,
    ) -> AlertQuery:
        for moment, name in ((filters.since, "since"), (filters.until, "until")):
            if moment is None:
                continue
            if moment.tzinfo is None or moment.utcoffset() is None:
                raise HTTPException(422, f"{name} needs a UTC offset, e.g. +08:00")
            _check_moment(moment, name)
        if center_id is not None and not who.may_see(center_id):
            # with `below`, a center above one's own is fine: only one's own part shows
            above_own = (
                below and who.center is not None and centers.is_within(who.center, center_id)
            )
            if not above_own:
                raise HTTPException(403, "this center is outside your scope")
        return AlertQuery(
            centers=await state.scope(who, center_id, below=below),
            severity=filters.severity,
            rule_id=filters.rule_id,
            status=filters.status,
            case_id=filters.case_id,
            department=filters.department,
            text=filters.q,
            since=filters.since,
            until=filters.until,
            limit=limit,
            offset=offset,
        )

    @app.get("/", include_in_schema=False)
    async def index() -> RedirectResponse:
        # Relative, so the redirect still works behind a reverse proxy's path prefix.
        return RedirectResponse("wall/")

    @app.get("/api/alerts", response_model=AlertPage)
    async def list_alerts(
        who: Viewer,
        filters: Annotated[AlertFilters, Depends()],
        center_id: str | None = None,
        below: Annotated[bool, Query(description="with the centers below center_id")] = False,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        offset: Annotated[int, Query(ge=0, le=TOTAL_CAP)] = 0,
    ) -> AlertPage:
        """Alerts in the caller's scope over the whole history, newest first by
        raised_at (then by journal position: a stable order for paging), filtered; each
        with its status (open, acknowledged, appealed, resolved, withdrawn, closed,
        superseded). `q` is free text over title, message, center and item (every word
        must match)."""
        await caught_up(HEADLINE_CATCH_UP)
        query = await alert_query(who, center_id, below, filters, limit=limit, offset=offset)
        page = await read.search(query)
        return AlertPage(
            total=page.total,
            total_exact=page.total_exact,
            offset=offset,
            limit=limit,
            seq=hub.head,
            items=page.items,
        )

    @app.get("/api/export/alerts")
    async def export_alerts(
        who: Viewer,
        filters: Annotated[AlertFilters, Depends()],
        center_id: str | None = None,
        below: bool = False,
        format: ExportFormat = "csv",
    ) -> Response:
        """The alerts `/api/alerts` would list with the same filters, as CSV or XLSX with
        Chinese headers (newest first, at most `EXPORT_MAX_ROWS`; the header
        `X-Export-Truncated: true` says when there were more)."""
        await caught_up(HEADLINE_CATCH_UP)
        query = await alert_query(who, center_id, below, filters, limit=1, offset=0)
        found = await read.stream(query, export.EXPORT_MAX_ROWS + 1)
        truncated = len(found) > export.EXPORT_MAX_ROWS
        items = [
            {**alert, "center_name": names.get(str(alert["center_id"]), "")}
            for alert in found[: export.EXPORT_MAX_ROWS]
        ]
        return _download(export.ALERT_COLUMNS, items, "预警清单", format, truncated)

    # `{alert_id:path}`: an alert id holds a case id, and a case id may hold `/` (sent as
    # it is or as %2F: the path is matched decoded). Each action route ends with its own
    # fixed words, none the ending of another, and the id takes the rest: so
    # `…/x/appeal/accept` is accept_appeal on "x", and the appeal of an alert whose id
    # ends in "/appeal" is `…/<id>/appeal`. GET has one route only: an id that ends like
    # an action (".../acknowledge") is read as an id.
    @app.get("/api/alerts/{alert_id:path}")
    async def get_alert(alert_id: str, who: Viewer) -> Alert:
        """One alert with its whole history (who, when, what). The id may contain `/`
        (as it is, or percent-encoded as %2F)."""
        await caught_up(HEADLINE_CATCH_UP)
        shown, history = await _visible_alert(read, alert_id, who)
        return {**shown, "history": history}

    async def change(alert_id: str, action: Action, body: ChangeBody, who: Principal) -> Alert:
        await caught_up(HEADLINE_CATCH_UP)
        shown, _ = await _visible_alert(read, alert_id, who)
        if who.role not in ROLES_FOR[action]:
            raise HTTPException(403, f"a {who.role} may not {action.replace('_', ' ')}")
        try:
            check(str(shown["status"]), action)
            record = lifecycle_record(
                alert_id,
                action,
                by={"name": who.name, "role": who.role, "center": who.center, "token": who.id},
                at=now(),
                note=mask_text(body.note),  # personal data never goes to the journal
                disposition=body.disposition,
                reason=mask_text(body.reason),
                accountability=(
                    {"person": body.person.strip(), "measure": mask_text(body.measure.strip())}
                    if body.person or body.measure
                    else None
                ),
            )
        except Refused as exc:
            raise HTTPException(409, str(exc)) from None
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from None
        seq = await writer.write(record)
        if not await hub.wait_for(seq, CHANGE_TIMEOUT):
            raise HTTPException(504, "the change was written but not read back in time")
        shown, history = await _visible_alert(read, alert_id, who)
        if not any(change["seq"] == seq for change in history):
            raise HTTPException(409, "another change to this alert came first")
        metrics.lifecycle_changes.labels(action=action).inc()
        return {**shown, "history": history}

    @app.post("/api/alerts/{alert_id:path}/acknowledge")
    async def acknowledge(alert_id: str, who: Viewer, body: ChangeBody | None = None) -> Alert:
        """签收: the alert is being looked at."""
        return await change(alert_id, "acknowledge", body or ChangeBody(), who)

    @app.post("/api/alerts/{alert_id:path}/resolve")
    async def resolve(alert_id: str, body: ChangeBody, who: Viewer) -> Alert:
        """办结: with a disposition (verified 核实, rectified 整改, false_alarm 误报) and a note."""
        return await change(alert_id, "resolve", body, who)

    @app.post("/api/alerts/{alert_id:path}/appeal")
    async def appeal(alert_id: str, body: ChangeBody, who: Viewer) -> Alert:
        """预警申诉 (directors): wrong data caused the alert; a reason is required."""
        return await change(alert_id, "appeal", body, who)

    @app.post("/api/alerts/{alert_id:path}/appeal/accept")
    async def accept_appeal(alert_id: str, who: Viewer, body: ChangeBody | None = None) -> Alert:
        """Inspectors: the appeal holds, the alert is withdrawn (摘牌)."""
        return await change(alert_id, "accept_appeal", body or ChangeBody(), who)

    @app.post("/api/alerts/{alert_id:path}/appeal/reject")
    async def reject_appeal(alert_id: str, who: Viewer, body: ChangeBody | None = None) -> Alert:
        """Inspectors: the appeal does not hold; the alert goes back to where it was."""
        return await change(alert_id, "reject_appeal", body or ChangeBody(), who)

    # -- silences: inspectors only -------------------------------------------------
    # The state is the journal's (`hub.journal.silences`, every `silence` record read
    # back from the alerts topic), so every web instance and every restart agrees; the
    # status (pending, active, expired, lifted) is a matter of the app's clock.

    def silence_view(silence_id: str, *, audit: bool = False) -> dict[str, Any]:
        silence = hub.journal.silences.silences.get(silence_id)
        status = _silence_status(silence, now()) if silence is not None else None
        if silence is None or status is None:  # unknown, or a record no clock can judge
            raise HTTPException(404, "no such silence")
        shown: dict[str, Any] = {**silence.model_dump(mode="json"), "status": status}
        if audit:
            trail = hub.journal.silence_audit(silence_id)
            if status == "expired" and all(step["action"] != "expire" for step in trail):
                trail.append(  # expiry is by time: shown even when nobody recorded it
                    {
                        "seq": None,
                        "action": "expire",
                        "by": {"name": "系统", "role": "system"},
                        "at": silence.ends_at.isoformat(timespec="seconds"),
                        "reason": "",
                    }
                )
            shown["audit"] = trail
        return shown

    async def write_silence(record: dict[str, Any]) -> int:
        seq = await writer.write(record)
        if not await hub.wait_for(seq, CHANGE_TIMEOUT):
            raise HTTPException(504, "the silence was written but not read back in time")
        return seq

    @app.post("/api/silences", status_code=201)
    async def create_silence(body: SilenceBody, who: Inspector) -> dict[str, Any]:
        """静默: hold back the notifications of matching alerts from `starts_at` (default
        now; at most a year ahead) to `until` (at most 31 days later), with a reason;
        the alerts are still recorded."""
        await caught_up(HEADLINE_CATCH_UP)
        if body.center_id is not None and centers.get(body.center_id) is None:
            raise HTTPException(422, "no such center in the registry")
        at = now()
        _check_silence_times(body.starts_at, body.until, at)
        try:
            _, record = silence_book.create(
                hub.journal.silences,
                by={"name": who.name, "role": str(who.role), "token": who.id},
                reason=body.reason,
                now=at,
                until=body.until,
                starts_at=body.starts_at,
                center_id=body.center_id,
                below=body.below,
                rule=body.rule,
                case_id=body.case_id,
            )
        except SilenceError as exc:
            raise HTTPException(422, str(exc)) from None
        await write_silence(record)
        log.info("silence %s created by %s", record["silence_id"], who.label)
        return silence_view(record["silence_id"], audit=True)

    @app.get("/api/silences")
    async def list_silences(
        who: Inspector, state: Literal["active", "pending", "expired", "lifted"] | None = None
    ) -> dict[str, Any]:
        """Silences kept (ended ones for 30 days), each with its status now: active and
        pending first (soonest end first), then the ended ones (most recent first)."""
        await caught_up(HEADLINE_CATCH_UP)
        chosen = [
            (silence, status)
            for silence, status in _listing(hub.journal.silences.silences.values(), now())
            if state is None or status == state
        ]
        return {
            "seq": hub.head,
            "items": [{**s.model_dump(mode="json"), "status": status} for s, status in chosen],
        }

    @app.get("/api/silences/{silence_id}")
    async def get_silence(silence_id: str, who: Inspector) -> dict[str, Any]:
        """One silence with its audit trail (create, lift, expire: who, when, why)."""
        await caught_up(HEADLINE_CATCH_UP)
        return silence_view(silence_id, audit=True)

    @app.post("/api/silences/{silence_id}/lift")
    async def lift_silence(silence_id: str, body: LiftBody, who: Inspector) -> dict[str, Any]:
        """End a pending or active silence now, saying why; 409 once it has ended."""
        await caught_up(HEADLINE_CATCH_UP)
        known = hub.journal.silences.silences.get(silence_id)
        if known is None or _silence_status(known, now()) is None:  # as in silence_view
            raise HTTPException(404, "no such silence")
        if not body.reason.strip():
            raise HTTPException(422, "lifting a silence needs a reason")
        try:
            _, record = silence_book.lift(
                hub.journal.silences,
                silence_id,
                by={"name": who.name, "role": str(who.role), "token": who.id},
                now=now(),
                reason=body.reason,
            )
        except SilenceError as exc:
            raise HTTPException(409, str(exc)) from None
        seq = await write_silence(record)
        trail = hub.journal.silence_audit(silence_id)
        if not trail or trail[-1]["seq"] != seq:
            raise HTTPException(409, "another change to this silence came first")
        log.info("silence %s lifted by %s", silence_id, who.label)
        return silence_view(silence_id, audit=True)

    @app.get("/api/stats/headline")
    async def headline(who: Viewer) -> dict[str, Any]:
        """The wall's headline figures in the caller's scope: cases accepted today, open
        cases, on-time rate today and this month, open alerts by severity, and how
        fresh the data from the centers is."""
        await caught_up(HEADLINE_CATCH_UP)
        scope = await state.scope(who)
        figures = await read.headline(now(), scope)
        open_alerts = {"red": 0, "yellow": 0}
        for tally in (await read.open_alerts(scope)).values():
            for severity, n in tally.items():
                open_alerts[severity] = open_alerts.get(severity, 0) + n
        seen = (await read.last_seen(scope)).values()
        last_event = max((e for e, _ in seen if e is not None), default=None)
        last_arrival = max((a for _, a in seen if a is not None), default=None)
        zone = ZoneInfo(settings.timezone)
        return {
            **figures,
            "open_alerts": open_alerts,
            "last_event_at": _local(last_event, zone),
            "last_arrival_at": _local(last_arrival, zone),
            "now": now().isoformat(timespec="seconds"),
            "seq": hub.head,  # the journal position the figures include
        }

    @app.get("/api/board")
    async def board(who: Viewer) -> list[dict[str, Any]]:
        """Every center in the caller's scope, city → counties → townships, with its open
        alerts by severity, its worst open alert, open cases and last event time."""
        await caught_up(HEADLINE_CATCH_UP)
        scope = await state.scope(who)
        counts = await read.open_alerts(scope)
        open_cases = await read.open_cases(scope)
        seen = await read.last_seen(scope)
        zone = ZoneInfo(settings.timezone)
        tiles = []
        for center in centers.all():
            if not who.may_see(center.code):
                continue
            alerts = counts.get(center.code, {"red": 0, "yellow": 0})
            last = seen.get(center.code, (None, None))[0]
            tiles.append(
                {
                    "code": center.code,
                    "name": center.name,
                    "level": center.level,
                    "parent": center.parent,
                    "red": alerts["red"],
                    "yellow": alerts["yellow"],
                    "worst": "red" if alerts["red"] else "yellow" if alerts["yellow"] else None,
                    "open_cases": open_cases.get(center.code, 0),
                    "last_event_at": _local(last, zone),
                }
            )
        return tiles

    async def figures(
        who: Principal, start: date, end: date, center_id: str | None, by: Grouping
    ) -> list[dict[str, Any]]:
        _check_day(start, "start")
        _check_day(end, "end")
        if end < start:
            raise HTTPException(422, "end is before start")
        if (end - start).days + 1 > STATS_MAX_DAYS:
            raise HTTPException(
                422, f"start..end spans at most {STATS_MAX_DAYS} days (both included)"
            )
        if center_id is not None:
            require_center(who, center_id)
        await caught_up(HEADLINE_CATCH_UP)
        scope = await state.scope(who, center_id, below=center_id is not None)
        since, until = read.day_range(start, end)
        found = await read.figures(since, until, scope, by=by)
        open_cases = await read.open_cases(scope) if by == "center" else {}
        shown = []
        for counts in found:
            code = str(counts.key[0])
            row: dict[str, Any] = {"center_id": code, "name": names.get(code, code)}
            if by != "center":
                row[
                    {"department": "department", "window": "window_id", "staff": "staff_id"}[by]
                ] = counts.key[1]
            row.update(
                accepted=counts.accepted,
                concluded=counts.concluded,
                on_time=counts.on_time,
                overdue=counts.overdue,
                not_accepted=counts.not_accepted,
                withdrawn=counts.withdrawn,
                on_time_rate=counts.on_time_rate,
                alerts=counts.alerts,
            )
            if by == "center":
                row["open_cases"] = open_cases.get(code, 0)
            shown.append(row)
        return shown

    @app.get("/api/stats/centers")
    async def center_statistics(
        who: Viewer, start: date, end: date, center_id: str | None = None
    ) -> list[dict[str, Any]]:
        """绩效考核: per center over the local days `start`..`end` (both included, years
        2000–2100, at most ten years): cases accepted, concluded, on time, overdue,
        on-time rate, refused, withdrawn, open now, and alerts raised by rule. With
        `center_id`, that center and those below it."""
        return await figures(who, start, end, center_id, "center")

    @app.get("/api/stats/figures")
    async def grouped_statistics(
        who: Viewer,
        start: date,
        end: date,
        by: Grouping = "center",
        center_id: str | None = None,
    ) -> list[dict[str, Any]]:
        """The same figures per center, department, window or staff member (contract
        §7: who handled each case, as its latest fact says)."""
        return await figures(who, start, end, center_id, by)

    @app.get("/api/export/centers")
    async def export_centers(
        who: Viewer,
        start: date,
        end: date,
        center_id: str | None = None,
        format: ExportFormat = "csv",
    ) -> Response:
        """`/api/stats/centers` as CSV or XLSX with Chinese headers, one column per rule."""
        rows_ = await figures(who, start, end, center_id, "center")
        rule_ids = sorted({rule for row in rows_ for rule in row["alerts"]})
        stem = f"中心统计_{start.isoformat()}_{end.isoformat()}"
        return _download(export.center_columns(rule_ids), rows_, stem, format, False)

    @app.get("/api/cases/{case_id:path}")
    async def get_case(case_id: str, who: Viewer) -> dict[str, Any]:
        """One case: its status and deadline as the worker last judged them, its masked
        timeline of events, and every alert of it in the caller's scope. A case outside
        the scope and an unknown one get the same 404."""
        await caught_up(HEADLINE_CATCH_UP)
        found = await read.case(case_id)
        if found is None or not who.may_see(str(found["center_id"])):
            raise HTTPException(404, "no such case")
        query = AlertQuery(centers=await state.scope(who), case_id=case_id, limit=500)
        found["alerts"] = (await read.search(query)).items
        return found

    @app.get("/api/centers")
    async def list_centers(who: Viewer) -> dict[str, str]:
        """Center code -> name, in the caller's scope."""
        return {code: name for code, name in names.items() if who.may_see(code)}

    @app.get("/api/me")
    async def me(who: AnyRole) -> dict[str, Any]:
        """Who the token belongs to: the wall shows it and narrows its board."""
        return {"name": who.name, "role": who.role, "center": who.center}

    @app.get("/healthz")
    async def healthz(who: MaybeAnyone) -> dict[str, Any]:
        """A readiness probe, open to all: `{"status": "ok" | "degraded"}` (degraded: the
        Kafka consumer cannot reach the cluster, or the read model's database does not
        answer; the wall shows it). With a valid token, of any role, also the consumer's
        state, the database, positions and counts; an anonymous caller learns nothing
        about the deployment beyond up or down."""
        consuming = app.state.feed is not None
        last = feed.last_message_at if consuming else None
        connected = feed.connected if consuming else False
        database_ok = state.ready.is_set() and state.database_ok and feed.database_ok
        healthy = (not consuming or connected) and database_ok
        status = "ok" if healthy else "degraded"
        if who is None:
            return {"status": status}
        return {
            "status": status,
            "kafka_connected": connected,
            "consumer": "enabled" if consuming else "disabled",
            "topics": feed.topic_states() if consuming else {},
            "last_message_at": last.isoformat() if last else None,
            "database": {
                "backend": db.dialect,
                "ready": state.ready.is_set(),
                "answers": state.database_ok and feed.database_ok,
            },
            "journal_position": hub.head,
            "alerts": len(hub),
            "resolved_alerts": hub.resolved_count,
            "websocket_clients": hub.subscriber_count,
        }

    @app.get("/metrics", include_in_schema=False)
    async def prometheus_metrics(who: Ops) -> Response:
        """Prometheus's scrape: the ops role only (the figures are city-wide: open alerts,
        walls, rules; a director's token must not read them)."""
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    if settings.api_docs:
        _add_api_docs(app)

    @app.websocket("/ws/alerts")
    async def alerts_socket(websocket: WebSocket) -> None:
        # Accepted, then closed with 4401/4403 when refused: a browser sees the code and
        # the wall stops retrying a revoked token instead of looping on "network down".
        who = await authenticate.websocket(
            websocket, settings.web_origins, "inspector", "director", accept_first=True
        )
        if who is None:
            return
        await websocket.accept()
        # after a restart, first the read model, then the journal read to its end
        await state.wait_ready(CATCH_UP_TIMEOUT)
        if start_consumer:
            with suppress(TimeoutError):
                await asyncio.wait_for(feed.caught_up.wait(), CATCH_UP_TIMEOUT)
        after = _position(websocket.query_params.get("after"))
        # Subscribe and take what to send first with no await between: nothing can fall
        # in the gap. A client that says where it was gets exactly what it missed; one
        # ahead of this journal (the topic was recreated) gets a snapshot.
        subscription = hub.subscribe(who.may_see)
        known = after is not None and after <= hub.head
        missed = hub.missed(after, who.may_see) if known and after is not None else None
        first = missed if missed is not None else [hub.snapshot(who.may_see)]
        token = bearer_token(websocket) or ""
        metrics.websocket_clients.inc()
        try:
            for text in first:
                await websocket.send_text(text)
            ended = await _pump(
                websocket,
                subscription,
                lambda: store.verify(token) is not None,
                batch=websocket.query_params.get("batch") == "1",
            )
            if ended is not None and ended.reason == REVOKED:
                with suppress(RuntimeError, WebSocketDisconnect):
                    await websocket.close(code=CLOSE_UNAUTHORIZED, reason=REVOKED)
            elif ended is not None:
                if ended.overflowed:
                    metrics.websocket_slow_disconnects.inc()
                    metrics.websocket_messages_dropped.inc(subscription.pending + 1)
                    log.info("closing a WebSocket client that fell too far behind")
                code = CLOSE_TOO_SLOW if ended.overflowed else CLOSE_GOING_AWAY
                with suppress(RuntimeError, WebSocketDisconnect):
                    await websocket.close(code=code, reason=ended.reason)
        except WebSocketDisconnect:
            pass
        finally:
            hub.unsubscribe(subscription)
            metrics.websocket_clients.dec()

    app.mount("/wall", StaticFiles(directory=WALL_DIR, html=True), name="wall")
    app.mount("/console", StaticFiles(directory=CONSOLE_DIR, html=True), name="console")
    return app


async def _visible_alert(
    read: ReadModel, alert_id: str, who: Principal
) -> tuple[Alert, list[dict[str, Any]]]:
    """The alert as shown and its history, if it exists and is in the caller's scope;
    else 404, the same answer for both, so that a director cannot learn which alert ids
    exist outside their scope (a 403 would say "it exists, elsewhere")."""
    found = await read.alert(alert_id)
    if found is None or not who.may_see(str(found[0]["center_id"])):
        raise HTTPException(404, "no such alert")
    return found


def _local(instant: datetime | None, zone: ZoneInfo) -> str | None:
    return instant.astimezone(zone).isoformat(timespec="seconds") if instant else None


def _download(
    columns: Sequence[export.Column],
    items: Iterable[Mapping[str, Any]],
    stem: str,
    fmt: str,
    truncated: bool,
) -> Response:
    """A CSV or XLSX attachment of `items`."""
    headers = {
        "Content-Disposition": export.content_disposition(stem, fmt),
        "X-Export-Truncated": "true" if truncated else "false",
        "Cache-Control": "no-store",
    }
    if fmt == "xlsx":
        body = export.to_xlsx(columns, items, sheet=stem[:31])
        return Response(body, media_type=export.content_type(fmt), headers=headers)
    return StreamingResponse(
        export.to_csv(columns, items), media_type=export.content_type(fmt), headers=headers
    )


async def _database_down(request: Request, exc: Exception) -> JSONResponse:
    """503 for a request the database could not answer (never a 500); the projection
    waits for it on its own, and /healthz says degraded."""
    log.warning("a request found the read model's database down: %s", type(exc).__name__)
    return JSONResponse(
        {"detail": "the database is unavailable; try again shortly"}, status_code=503
    )


class AlertFilters(BaseModel):
    """The filters `/api/alerts` and its export share (query parameters)."""

    severity: Literal["yellow", "red"] | None = None
    rule_id: str | None = Field(default=None, max_length=128)
    status: AlertStatus | None = None
    case_id: str | None = Field(default=None, max_length=128)
    department: str | None = Field(default=None, max_length=128)
    q: str | None = Field(default=None, max_length=400, description="free text")
    since: datetime | None = None
    until: datetime | None = None


def _check_day(day: date, name: str) -> None:
    """422 unless `day` lies in years EARLIEST_YEAR..LATEST_YEAR."""
    if not EARLIEST_YEAR <= day.year <= LATEST_YEAR:
        raise HTTPException(422, f"{name} must lie in the years {EARLIEST_YEAR}–{LATEST_YEAR}")


def _check_moment(moment: datetime, name: str) -> None:
    """422 unless the aware `moment` lies in years EARLIEST_YEAR..LATEST_YEAR (by its own
    offset: the bounds are far from where an offset could overflow anything)."""
    _check_day(moment.date(), name)


def _check_silence_times(starts_at: datetime | None, until: datetime, now: datetime) -> None:
    """422 for a silence's times out of bounds: either outside the years, a start more
    than SILENCE_MAX_LEAD ahead or more than SILENCE_MAX_BACKDATE back, or longer than
    SILENCE_MAX_DURATION. The rest (an end before the start) is silences.create's."""
    _check_moment(until, "until")
    begin = now
    if starts_at is not None:
        _check_moment(starts_at, "starts_at")
        if starts_at > now + SILENCE_MAX_LEAD:
            raise HTTPException(
                422, f"starts_at may lie at most {SILENCE_MAX_LEAD.days} days ahead"
            )
        if starts_at < now - SILENCE_MAX_BACKDATE:
            raise HTTPException(422, "starts_at lies in the past: a silence starts from now")
        begin = max(starts_at, now)
    if until - begin > SILENCE_MAX_DURATION:
        raise HTTPException(422, f"a silence lasts at most {SILENCE_MAX_DURATION.days} days")


def _silence_status(silence: Silence, at: datetime) -> Status | None:
    """The silence's status at `at`, or None for a stored record whose times cannot be
    compared with a clock (naive: a record not written by this service)."""
    try:
        return silence.status(at)
    except (TypeError, ValueError, OverflowError):
        return None


def _listing(silences: Iterable[Silence], at: datetime) -> list[tuple[Silence, Status]]:
    """The silences to list at `at`, with their status: live ones first (soonest end
    first), then those that ended within KEEP_ENDED (most recent first).

    `silences.listing` computes the same, but one stored record it cannot judge (naive
    times) would fail the whole list, and its keep-ended test, `ended_at + KEEP_ENDED`,
    overflows for a silence that ends near year 9999. Here no arithmetic touches a stored
    time (only comparisons, which cannot overflow), and a record that cannot be judged is
    logged and left out, so the list always answers.
    """
    live: list[tuple[Silence, Status]] = []
    ended: list[tuple[Silence, Status]] = []
    forgotten = at - silence_book.KEEP_ENDED
    for silence in silences:
        status = _silence_status(silence, at)
        try:
            if status in ("active", "pending"):
                live.append((silence, status))
            elif status is not None and silence.ended_at > forgotten:
                ended.append((silence, status))
        except (TypeError, ValueError, OverflowError):
            status = None
        if status is None:
            log.warning("silence %s has times that cannot be judged; not listed", silence.id)
    try:
        live.sort(key=lambda pair: (pair[0].ends_at, pair[0].id))
        ended.sort(key=lambda pair: (pair[0].ended_at, pair[0].id), reverse=True)
    except TypeError:  # times of different kinds after all: leave the journal's order
        log.warning("silences with times that cannot be compared; listed unsorted")
    return live + ended


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    """422 for a request that does not validate: where (`loc`), what (`type`, `msg`),
    and never the value sent (FastAPI's default answer echoes it as `input`: a hostile
    value, megabytes of it or nested a thousand deep, would be sent back, or fail to be
    encoded at all and turn into a 500)."""
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    return JSONResponse(
        status_code=422,
        content={
            "detail": [
                {
                    "type": str(error.get("type", "")),
                    "loc": [_location(item) for item in error.get("loc", ())],
                    "msg": str(error.get("msg", "")),
                }
                for error in errors
            ]
        },
    )


def _location(item: object) -> str | int:
    """One item of an error's location: an index, or a name cut to LOCATION_MAX."""
    if isinstance(item, int) and not isinstance(item, bool):
        return item
    return str(item)[:LOCATION_MAX]


def _add_api_docs(app: FastAPI) -> None:
    """`/openapi.json`, `/docs` (Swagger UI) and `/redoc`, to a valid token of any role.

    The pages fetch the schema from the browser, without the Authorization header: a
    token given as `?token=` is passed on in the schema's URL (relative, so a proxy's
    path prefix still works). Only a token that verified is passed on, and a valid token
    is `svt_` and URL-safe characters: nothing that could break out of the page's script.
    """

    @app.get("/openapi.json", include_in_schema=False)
    async def openapi(who: AnyRole) -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/docs", include_in_schema=False)
    async def swagger(request: Request, who: AnyRole) -> HTMLResponse:
        return _docs_page(get_swagger_ui_html(openapi_url=_schema_url(request), title=app.title))

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request, who: AnyRole) -> HTMLResponse:
        return _docs_page(get_redoc_html(openapi_url=_schema_url(request), title=app.title))


def _schema_url(request: Request) -> str:
    """`openapi.json`, with the caller's token when it came in the query string."""
    if request.headers.get("authorization", "").strip():
        return "openapi.json"  # a header: whatever adds it adds it to the schema too
    token = bearer_token(request)
    return "openapi.json" if token is None else f"openapi.json?token={quote(token, safe='')}"


def _docs_page(page: HTMLResponse) -> HTMLResponse:
    """A documentation page with its own Content-Security-Policy (DOCS_POLICY): its
    inline scripts carry a fresh nonce, the only inline scripts the policy runs."""
    nonce = secrets.token_urlsafe(16)
    html = bytes(page.body).decode("utf-8").replace("<script>", f'<script nonce="{nonce}">')
    policy = "; ".join(DOCS_POLICY).replace("{nonce}", nonce)
    return HTMLResponse(html, headers={"Content-Security-Policy": policy})


def _position(raw: str | None) -> int | None:
    try:
        return int(raw) if raw is not None else None
    except ValueError:
        return None


async def _pump(
    websocket: WebSocket,
    subscription: Subscription,
    still_valid: Callable[[], bool],
    batch: bool = False,
) -> SubscriptionEnded | None:
    """Send the subscription's messages until the client leaves (None) or it ends.

    Listens for the client's close at the same time: a wall that receives no alerts for
    hours must still be noticed when it goes away, not at the next send. Looks at the
    token every few seconds too: a revoked token's open socket is closed (4401) instead
    of receiving alerts until it next reconnects. An anyio task group (not bare asyncio
    tasks) so that cancellation by the server, which Starlette drives through anyio
    cancel scopes, is recognised and not mistaken for an error.
    """
    ended: SubscriptionEnded | None = None
    async with anyio.create_task_group() as group:

        async def listen() -> None:
            await _until_disconnect(websocket)
            group.cancel_scope.cancel()

        async def send() -> None:
            nonlocal ended
            try:
                await _send_all(websocket, subscription, batch)
            except SubscriptionEnded as exc:
                ended = exc
            except WebSocketDisconnect:
                pass
            group.cancel_scope.cancel()

        async def watch_token() -> None:
            nonlocal ended
            while still_valid():
                await anyio.sleep(TOKEN_RECHECK_SECONDS)
            ended = SubscriptionEnded(REVOKED, overflowed=False)
            group.cancel_scope.cancel()

        group.start_soon(listen)
        group.start_soon(send)
        group.start_soon(watch_token)
    return ended


async def _send_all(websocket: WebSocket, subscription: Subscription, batch: bool) -> None:
    if not batch:
        while True:
            await websocket.send_text(await subscription.get())
    while True:  # what queued up while the last frame went out, in one frame
        texts = await subscription.get_many(BATCH_MAX)
        if len(texts) == 1:
            await websocket.send_text(texts[0])
        else:  # the messages are JSON already: joined, not parsed and encoded again
            await websocket.send_text('{"type":"batch","messages":[' + ",".join(texts) + "]}")


async def _until_disconnect(websocket: WebSocket) -> None:
    """Read (and ignore) what the client sends until it disconnects."""
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
