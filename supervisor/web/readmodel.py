"""The web service's side of the read model: getting it ready, scopes, cached counts,
retention.

At start the database is migrated (Alembic, supervisor/store/db.py) and the hub, the
walls' memory, is loaded from it: the silences, the newest `SEED_ALERTS` alerts and the
journal position they stand at. The projection then reads the topics from the stored
offsets, so start-up costs the same whatever the history's size. A database that does
not answer at start is waited for (with backoff), the service up and saying so on
/healthz; requests that need it get 503 meanwhile.

A director's scope becomes the list of center codes they may see, among every center
the read model has seen and the registry's (`scope()`); the SQL then filters with an
indexed `IN`. The open-alert and open-case counts Prometheus scrapes are counted here,
a second after the projection wrote and every `COUNT_SECONDS`; never at the scrape
(which must not wait on a database).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import select

from supervisor.auth import Principal, Role
from supervisor.centers import CenterRegistry
from supervisor.settings import Settings
from supervisor.store import rows
from supervisor.store.db import Database
from supervisor.store.projection import Projection
from supervisor.store.queries import ReadModel
from supervisor.store.schema import silence_records
from supervisor.web.consumer import DATABASE_DOWN, MAX_BACKOFF
from supervisor.web.hub import AlertHub
from supervisor.web.metrics import WebMetrics

log = logging.getLogger(__name__)

#: Alerts loaded into the hub at start: the walls' snapshots come from the newest.
SEED_ALERTS: Final = 20_000
#: Seconds between two counts of the open alerts and cases for /metrics: at most this
#: long without a change, at least the second after a batch was written.
COUNT_SECONDS: Final = 10.0
MIN_COUNT_SECONDS: Final = 1.0
#: Seconds the list of centers seen is reused for scopes.
CENTERS_SECONDS: Final = 5.0
#: Seconds between two passes of the retention (when rows are not kept forever).
PRUNE_SECONDS: Final = 3600.0


class ReadModelState:
    """Readiness, scopes and cached counts of one web service's read model."""

    def __init__(
        self,
        settings: Settings,
        database: Database,
        read_model: ReadModel,
        projection: Projection,
        hub: AlertHub,
        metrics: WebMetrics,
        registry: CenterRegistry,
        clock: Callable[[], datetime],
    ) -> None:
        self.settings = settings
        self.db = database
        self.read = read_model
        self.projection = projection
        self.hub = hub
        self.metrics = metrics
        self.registry = registry
        self.clock = clock
        self.ready = asyncio.Event()
        self.database_ok = False
        self.open_alerts: dict[str, dict[str, int]] = {}
        self.open_cases = 0
        self._seen: tuple[float, list[str]] = (0.0, [])
        self._preparing: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()

    def changed(self) -> None:
        """The projection wrote something: count again soon (at most once a second)."""
        self._changed.set()

    def start(self) -> asyncio.Task[None]:
        """`prepare()` as a task, started once (by the lifespan, or by the first request
        of an app served without one, as tests do)."""
        if self._preparing is None:
            self._preparing = asyncio.create_task(self.prepare(), name="read-model-prepare")
        return self._preparing

    async def ensure_ready(self) -> None:
        """Start preparing if nobody did, and wait until ready (without Kafka: tools)."""
        await asyncio.shield(self.start())

    async def prepare(self) -> None:
        """Migrate and load the hub, waiting out a database that does not answer."""
        backoff = 0.5
        while True:
            try:
                await self.db.upgrade()
                await self._seed()
                break
            except DATABASE_DOWN as exc:
                self._down(exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF / 3)
        self._up()
        self.ready.set()
        log.info(
            "read model ready (%s): %d alerts in memory, journal position %d",
            self.db.shown_url,
            len(self.hub),
            self.hub.head,
        )

    async def _seed(self) -> None:
        journal = self.hub.journal
        position = await self.read.position(self.settings.topic_alerts)
        async with self.db.engine.connect() as connection:
            result = await connection.execute(
                select(silence_records.c.seq, silence_records.c.record).order_by(
                    silence_records.c.seq
                )
            )
            for seq, record in result:
                journal.apply(seq, record)
        for row in reversed(await self.read.newest(SEED_ALERTS)):
            if journal.get(row.alert_id) is None:
                journal.adopt(rows.entry_from(row._mapping))
        # Where the journal stands is the stored offset, whatever the records above say
        # (a journal topic made again starts its positions from 0).
        journal.head = position - 1

    def _down(self, exc: BaseException) -> None:
        if self.database_ok or not self.ready.is_set():
            log.warning(
                "the read model's database does not answer: %s: %s",
                type(exc).__name__,
                str(exc).splitlines()[0][:200] if str(exc) else "",
            )
        self.database_ok = False
        self.metrics.database_up.set(0)

    def _up(self) -> None:
        self.database_ok = True
        self.metrics.database_up.set(1)

    async def wait_ready(self, timeout: float) -> bool:
        if self.ready.is_set():
            return True
        self.start()
        try:
            await asyncio.wait_for(self.ready.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def scope(
        self,
        who: Principal,
        center_id: str | None = None,
        *,
        below: bool = False,
    ) -> list[str] | None:
        """The center codes `who` may see, narrowed to `center_id` (with the centers
        below it when `below`); None when that is every center."""
        if center_id is None and who.role is Role.inspector:
            return None
        if center_id is not None and not below:
            return [center_id] if who.may_see(center_id) else []
        known = set(await self._centers()) | {c.code for c in self.registry.all()}
        return sorted(
            code
            for code in known
            if who.may_see(code) and (center_id is None or self.registry.is_within(code, center_id))
        )

    async def _centers(self) -> list[str]:
        at, seen = self._seen
        if time.monotonic() - at > CENTERS_SECONDS:
            seen = await self.read.centers_seen()
            self._seen = (time.monotonic(), seen)
        return seen

    def counted_open_alerts(self) -> Iterable[dict[str, int]]:
        return self.open_alerts.values()

    async def maintain(self) -> None:
        """Count the open alerts and cases for /metrics, and prune old rows when a
        retention is set; until cancelled."""
        await self.ready.wait()
        next_prune = time.monotonic()
        while True:
            try:
                self.open_alerts = await self.read.open_alerts()
                self.open_cases = sum((await self.read.open_cases()).values())
                days = self.settings.db_retention_days
                if days > 0 and time.monotonic() >= next_prune:
                    cutoff = self.clock() - timedelta(days=days)
                    deleted = await self.projection.prune(cutoff)
                    log.info("retention: rows older than %s deleted: %s", cutoff, deleted)
                    next_prune = time.monotonic() + PRUNE_SECONDS
                self._up()
            except DATABASE_DOWN as exc:
                self._down(exc)
            await asyncio.sleep(MIN_COUNT_SECONDS)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), COUNT_SECONDS)
            self._changed.clear()
