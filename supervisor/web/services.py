"""What the web service's routes work with, built once per app: `Services`, kept on
`app.state.services` and handed to a route by the dependency `Wired`.

One typed object rather than a dozen loose `app.state` attributes, so that a route says
what it uses (`services.read`, `services.hub`...) and mypy checks it. Nothing is created
at import time: every `Services.build` makes its own database engine, hub, metrics
(against the given registry) and Kafka feed, so tests make as many isolated apps as they
like and the process entry point makes exactly one.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Final
from zoneinfo import ZoneInfo

from anyio import CapacityLimiter
from fastapi import Depends, HTTPException
from prometheus_client import CollectorRegistry
from starlette.requests import HTTPConnection

from supervisor.auth import TokenStore
from supervisor.centers import CenterRegistry
from supervisor.core.calendar import CalendarBook
from supervisor.settings import Settings
from supervisor.store.db import Database
from supervisor.store.projection import Projection, Topics
from supervisor.store.queries import ReadModel
from supervisor.web.consumer import AlertFeed
from supervisor.web.hub import AlertHub
from supervisor.web.metrics import WebMetrics
from supervisor.web.readmodel import ReadModelState
from supervisor.web.rulesheet import RuleSheet
from supervisor.web.sessions import Sessions
from supervisor.web.step_names import StepNames
from supervisor.web.supervision import OrderDesk, OrderWatch
from supervisor.web.writer import JournalWriter, KafkaJournalWriter, LocalJournalWriter

log = logging.getLogger(__name__)

#: The attribute of `app.state` that holds the app's Services.
STATE_ATTRIBUTE: Final = "services"
#: Seconds a request waits for the read model to be ready at start before it gets 503.
READY_TIMEOUT: Final = 5.0
#: Seconds the figures, the board and the lists (polled every few seconds) wait at most
#: for the journal to be read to its end after a restart.
HEADLINE_CATCH_UP: Final = 5.0
#: Seconds a read waits at most for the read model to hold what the walls were shown
#: (the journal's transaction, which may wait for one of statistics).
SHOWN_WAIT: Final = 2.0
#: How long a stopping service waits for the order watch's present look to end.
WATCH_STOP_SECONDS: Final = 15.0


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


@dataclass(frozen=True, eq=False)
class Services:
    """Everything one web service holds: settings, the walls' memory (hub), metrics, the
    read model and its state, the journal's feed and writer, the centers, the clock,
    sessions, supervision orders and the rules as shown."""

    settings: Settings
    #: Whether the Kafka feed runs (`create_app(start_consumer=...)`); without it, records
    #: written are applied at once to the read model and the hub.
    consuming: bool
    metrics: WebMetrics
    hub: AlertHub
    #: Center code -> name, as the lists and exports show it.
    names: dict[str, str]
    centers: CenterRegistry
    tokens: TokenStore
    clock: Callable[[], datetime]
    database: Database
    read: ReadModel
    projection: Projection
    read_state: ReadModelState
    #: The Kafka feed's per-record logic: it runs only when `consuming`.
    feed: AlertFeed
    writer: JournalWriter
    sessions: Sessions
    order_desk: OrderDesk
    order_watch: OrderWatch
    rule_sheet: RuleSheet
    step_names: StepNames
    #: Files (PDF, workbook) made at a time in worker threads (routes/reports.py).
    files: CapacityLimiter = field(default_factory=lambda: CapacityLimiter(1))

    @classmethod
    def build(
        cls,
        settings: Settings,
        *,
        registry: CollectorRegistry | None = None,
        start_consumer: bool = True,
        center_names: Mapping[str, str] | None = None,
        tokens: TokenStore | None = None,
        clock: Callable[[], datetime] | None = None,
        database: Database | None = None,
    ) -> Services:
        """The services of one app; the arguments are `create_app`'s."""
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
        # without Kafka (tests, tools) a key of the process's own: no file written
        sessions = (
            Sessions.for_service(settings.session_secret, settings.data_dir)
            if start_consumer or settings.session_secret
            else Sessions(secrets.token_bytes(64))
        )
        calendars = CalendarBook.load(settings.rules_dir / "calendar", settings.timezone)
        metrics.watch(state.counted_open_alerts, lambda: state.open_cases)
        return cls(
            settings=settings,
            consuming=start_consumer,
            metrics=metrics,
            hub=hub,
            names=names,
            centers=centers,
            tokens=store,
            clock=now,
            database=db,
            read=read,
            projection=projection,
            read_state=state,
            feed=feed,
            writer=writer,
            sessions=sessions,
            order_desk=OrderDesk(read, writer, hub.wait_for, calendars, now, names),
            order_watch=OrderWatch(read, writer, now, hub.wait_for, names),
            rule_sheet=RuleSheet(settings.rules_dir),
            step_names=StepNames(settings.rules_dir),
        )

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """The app's lifespan: the read model made ready and the feed run, the open
        counts kept, the order watch and the writer started; all stopped in the order
        that lets each finish what it is doing."""

        async def run() -> None:
            await self.read_state.start()
            if self.consuming:
                await self.feed.run()

        tasks = [
            asyncio.create_task(run(), name="read-model"),
            asyncio.create_task(self.read_state.maintain(), name="read-model-counts"),
        ]
        watching = asyncio.create_task(self.order_watch.run(), name="order-watch")
        await self.writer.start()
        try:
            if not self.consuming:
                await self.read_state.ready.wait()  # in memory: ready at once
            yield
        finally:
            self.order_watch.stop()  # its look ends first: it reads the database and writes
            try:
                await asyncio.wait_for(watching, WATCH_STOP_SECONDS)
            except TimeoutError:
                log.warning("the order watch did not stop in time")
            self.hub.close()
            await self.writer.stop()
            for task in tasks:
                task.cancel()
            for task in tasks:
                with suppress(asyncio.CancelledError):
                    await task
            await self.database.dispose()

    async def caught_up(self, timeout: float = HEADLINE_CATCH_UP) -> None:
        """After a restart, wait (a little) for the journal to be read to its end; 503
        while the read model is not ready. Then wait (at most `SHOWN_WAIT`) until the read
        model holds what the walls were shown: an alert a socket brought is one the API
        knows (hub.py, "Ahead of the read model"), unless the feed finds the database
        down: nothing is stored then, so the read answers at once from what it holds."""
        if not await self.read_state.wait_ready(READY_TIMEOUT):
            raise HTTPException(503, "数据尚在加载，请稍后重试")
        if self.consuming and not self.feed.caught_up.is_set():
            with suppress(TimeoutError):
                await asyncio.wait_for(self.feed.caught_up.wait(), timeout)
        if self.hub.stored < self.hub.head and self.feed.database_ok:  # a slow database
            await self.hub.wait_for(self.hub.head, SHOWN_WAIT)

    def now(self) -> datetime:
        """The service's clock: local time in the settings' zone, or the tests' clock."""
        return self.clock()


async def services_of(connection: HTTPConnection) -> Services:
    """Dependency: the app's Services (`app.state.services`), for a request or a socket.
    A coroutine, so that FastAPI runs it on the event loop: a plain function would take
    one of the worker threads every request needs, which a burst of reports can hold."""
    services = getattr(connection.app.state, STATE_ATTRIBUTE, None)
    if not isinstance(services, Services):
        raise RuntimeError(f"app.state.{STATE_ATTRIBUTE} holds no Services")
    return services


#: A route's parameter: `services: Wired`. Module-level for the reason given at
#: `security.Viewer`.
Wired = Annotated[Services, Depends(services_of)]
