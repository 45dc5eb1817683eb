"""The database fixtures themselves (tests/conftest.py, tests/databases.py): each test gets
a working, empty database of its own on SQLite and on a real PostgreSQL, and a cluster
that will not start says why."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from tests.databases import PostgresCluster, PostgresError

ASYNC_DRIVERS = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+asyncpg"}

seen_postgres_databases: list[str] = []
"""Names of the PostgreSQL databases earlier tests of this module got (all dropped by now)."""


def async_engine(url: str) -> AsyncEngine:
    """An async engine on the fixture's plain URL (`sqlite://` or `postgresql://`)."""
    parsed = make_url(url)
    return create_async_engine(parsed.set(drivername=ASYNC_DRIVERS[parsed.get_backend_name()]))


async def table_names(engine: AsyncEngine) -> list[str]:
    """The tables of the engine's database (default schema)."""
    async with engine.connect() as conn:
        return await conn.run_sync(lambda sync: sa.inspect(sync).get_table_names())


async def test_a_table_round_trips(database_url: str) -> None:
    engine = async_engine(database_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(sa.text("CREATE TABLE alert (id INTEGER PRIMARY KEY, name TEXT)"))
            await conn.execute(
                sa.text("INSERT INTO alert (id, name) VALUES (:id, :name)"),
                [{"id": 1, "name": "overheat"}, {"id": 2, "name": "stall"}],
            )
        async with engine.connect() as conn:
            rows = (await conn.execute(sa.text("SELECT id, name FROM alert ORDER BY id"))).all()
    finally:
        await engine.dispose()
    assert [tuple(row) for row in rows] == [(1, "overheat"), (2, "stall")]


@pytest.mark.parametrize("attempt", [1, 2])
async def test_each_test_gets_an_empty_database_of_its_own(
    database_url: str, attempt: int, request: pytest.FixtureRequest
) -> None:
    # Both attempts leave a `marker` table behind: had they shared a database, the second
    # (whichever order they run in) would find it.
    engine = async_engine(database_url)
    try:
        assert await table_names(engine) == []
        async with engine.begin() as conn:
            await conn.execute(sa.text("CREATE TABLE marker (attempt INTEGER)"))
        assert await table_names(engine) == ["marker"]
    finally:
        await engine.dispose()

    if database_url.startswith("sqlite"):
        assert database_url == f"sqlite:///{request.getfixturevalue('tmp_path')}/supervisor.db"
        return
    cluster: PostgresCluster = request.getfixturevalue("postgres")
    match = re.fullmatch(rf"postgresql://app@127\.0\.0\.1:{cluster.port}/(\w+)", database_url)
    assert match is not None, database_url
    name = match.group(1)
    existing = cluster.execute("SELECT datname FROM pg_database").split()
    assert name in existing
    assert name not in seen_postgres_databases
    # the databases of earlier tests were dropped when they ended
    assert not set(seen_postgres_databases) & set(existing)
    seen_postgres_databases.append(name)


def test_a_cluster_that_will_not_start_says_why_and_cleans_up() -> None:
    cluster = PostgresCluster(extra_options=["-c no_such_setting=1"])
    with pytest.raises(PostgresError, match="did not start") as failure:
        cluster.start()
    # the message carries the server log's tail, which names the cause
    assert "no_such_setting" in str(failure.value)
    assert cluster.directory is None
    assert not cluster.running
