"""The read model's database: one URL, two back ends, schema migrations.

`SUPERVISOR_DATABASE_URL` chooses: empty is a SQLite file in the data directory (the
embedded default: the demo and a single web service need nothing else), and
`postgresql://user:password@host/db` is the production choice, which several web
services may share. The same code path serves both through SQLAlchemy 2 (asyncio, with
aiosqlite and asyncpg); what differs is said once, here:

- the URL's async driver (`postgresql://` becomes `postgresql+asyncpg://`, `sqlite://`
  `sqlite+aiosqlite://`);
- PostgreSQL plans each statement for its parameters (`plan_cache_mode =
  force_custom_plan`): asyncpg prepares every statement, and after five runs PostgreSQL
  would switch to a generic plan made without the values, which for a range of a month
  read by the assessment chose a scan ten times slower, from the sixth run on;
- SQLite's connection pragmas: write-ahead logging (the projection writes while the API
  reads), a busy timeout instead of "database is locked" at once, and a process-crash-
  safe `synchronous=NORMAL`;
- the upsert: each dialect has `insert().on_conflict_do_update/nothing`, with the same
  arguments, in its own module (`upsert()` picks it);
- migrations on PostgreSQL take an advisory lock, so that two web services starting at
  once do not both create the tables; projectors sharing a database take turns, by an
  advisory lock on PostgreSQL and by SQLite's write lock (`lock_positions`).

Schema changes are Alembic revisions (`supervisor/store/migrations/versions/`), run at
the start of every web service (`Database.upgrade()`) and by `supervisor db upgrade`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Insert, Table, Update, event, false, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool

log = logging.getLogger(__name__)

#: Where Alembic finds the revisions: inside the package, wherever it is installed.
MIGRATIONS: Final = "supervisor.store:migrations"
#: The PostgreSQL advisory lock key held while migrating ("SUPV" in ASCII).
MIGRATION_LOCK: Final = 0x53555056
#: Milliseconds a SQLite connection waits for another writer before it gives up.
SQLITE_BUSY_MS: Final = 10_000


class DatabaseError(RuntimeError):
    """A database URL or state the service cannot work with; the message says why."""


def async_url(url: str) -> str:
    """`url` with the async driver of its back end; refuses a back end not supported."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)
    if backend == "sqlite":
        return parsed.set(drivername="sqlite+aiosqlite").render_as_string(hide_password=False)
    raise DatabaseError(
        f"unsupported database {backend!r}: use sqlite:///path or postgresql://user@host/db"
    )


def shown(url: str) -> str:
    """The URL for logs and /healthz: the password hidden."""
    return make_url(url).render_as_string(hide_password=True)


class Database:
    """One read model: its engine, its migrations, and what differs between back ends."""

    def __init__(self, url: str, *, pool_size: int = 5) -> None:
        self.given_url = url  # as configured: what messages name
        self.url = async_url(url)
        parsed = make_url(self.url)
        self.dialect = parsed.get_backend_name()
        options: dict[str, Any] = {}
        #: The SQLite file (None: in memory, or not SQLite).
        self.file: Path | None = None
        if self.dialect == "sqlite" and parsed.database in (None, "", ":memory:"):
            # an in-memory database lives in its one connection (tests, tools)
            options["poolclass"] = StaticPool
            options["connect_args"] = {"check_same_thread": False}
        elif self.dialect == "sqlite":  # the embedded default lives in the data directory
            self.file = Path(str(parsed.database)).expanduser()
            self.file.parent.mkdir(parents=True, exist_ok=True)
        elif self.dialect == "postgresql":
            options["pool_size"] = pool_size
            options["pool_pre_ping"] = True
            options["connect_args"] = {"server_settings": {"plan_cache_mode": "force_custom_plan"}}
        self.engine: AsyncEngine = create_async_engine(self.url, **options)
        if self.dialect == "sqlite":
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        # Statements built once each and reused: a live journal transaction holds a few
        # records, so what it costs regardless of their number counts (bench/RESULTS.md).
        self._upserts: dict[tuple[Table, tuple[str, ...], tuple[str, ...] | None], Insert] = {}
        self._locks: dict[Table, Update] = {}

    @property
    def concurrent_reads(self) -> bool:
        """Whether reads may run at once on connections of their own: not for an
        in-memory SQLite database, whose one connection every read shares."""
        return not isinstance(self.engine.pool, StaticPool)

    @property
    def shown_url(self) -> str:
        return shown(self.url)

    async def upgrade(self) -> None:
        """Bring the schema to the newest revision (a no-op when it is there)."""
        async with self.engine.begin() as connection:
            if self.dialect == "postgresql":
                await connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK}
                )
            await connection.run_sync(_upgrade)

    async def revision(self) -> str | None:
        """The schema revision the database is at (None: never migrated)."""
        async with self.engine.connect() as connection:
            return await connection.run_sync(_current)

    async def require_current(self) -> None:
        """For a command that only reads (assess, report): the read model must be there,
        at this version's schema. It is never created or migrated as a side effect: an
        unset or mistyped URL would answer from an empty database made on the spot, and a
        newer command line would migrate a production database under its web services."""
        where = shown(self.given_url)
        if self.file is not None and not self.file.exists():
            raise DatabaseError(
                f"no read model at {where}: set SUPERVISOR_DATABASE_URL (or SUPERVISOR_DATA_DIR)"
            )
        at, head = await self.revision(), head_revision()
        if at is None:
            raise DatabaseError(
                f"no read model at {where} (never migrated): set SUPERVISOR_DATABASE_URL, "
                "or run `supervisor db upgrade` to create one"
            )
        if at != head:
            raise DatabaseError(
                f"the read model at {where} is at schema revision {at}, this version reads "
                f"{head}: run `supervisor db upgrade` (the web services do it at start)"
            )

    async def dispose(self) -> None:
        await self.engine.dispose()

    def upsert(
        self,
        table: Table,
        keys: Sequence[str],
        *,
        update: Sequence[str] | None = None,
    ) -> Insert:
        """An INSERT of `table` that, on a row with the same `keys`, updates the columns
        in `update` (None: every other column) or, with `update=()`, does nothing. The
        same statement for the same arguments (statements are immutable)."""
        key = (table, tuple(keys), None if update is None else tuple(update))
        made = self._upserts.get(key)
        if made is None:
            made = self._upserts[key] = self._upsert(*key)
        return made

    def _upsert(self, table: Table, keys: Sequence[str], update: Sequence[str] | None) -> Insert:
        insert = (postgresql.insert if self.dialect == "postgresql" else sqlite.insert)(table)
        columns = (
            [c.name for c in table.columns if c.name not in keys]
            if update is None
            else list(update)
        )
        if not columns:
            return insert.on_conflict_do_nothing(index_elements=list(keys))
        return insert.on_conflict_do_update(
            index_elements=list(keys),
            set_={name: insert.excluded[name] for name in columns},
        )

    async def ping(self) -> None:
        """Raise unless the database answers."""
        async with self.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    async def walk_in_order(self, connection: AsyncConnection) -> None:
        """Make the rest of this transaction's statements walk an index in their ORDER BY
        rather than find every match and sort it. For a page of a search whose matches
        are dense (queries.py): PostgreSQL estimates any `LIKE '%…%'` rare and would scan
        the table (SET LOCAL enable_sort = off, undone when the transaction ends);
        SQLite takes the order's index by itself once no other index serves the
        conditions."""
        if self.dialect == "postgresql":
            await connection.execute(text("SET LOCAL enable_sort = off"))

    async def lock_positions(self, connection: AsyncConnection, table: Table) -> None:
        """Serialize projectors sharing one database (see projection.py): the first
        statement of their transaction waits for any other's to end. PostgreSQL: an
        advisory lock held to the transaction's end. SQLite: a write that changes
        nothing, which makes the driver begin the transaction and takes the database's
        write lock (a plain SELECT would let two transactions read the same offsets)."""
        if self.dialect == "postgresql":
            await connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK + 1}
            )
        else:
            statement = self._locks.get(table)
            if statement is None:
                statement = self._locks[table] = (
                    update(table).where(false()).values({table.c.next_offset: table.c.next_offset})
                )
            await connection.execute(statement)


def _sqlite_pragmas(dbapi_connection: Any, _: object) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")
    cursor.close()


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", MIGRATIONS)
    return config


def _upgrade(connection: Connection) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


def _current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    """The newest revision this code knows."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()
