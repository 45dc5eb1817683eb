"""Shared test set-up: the real-broker fixtures are a plugin (tests/kafka_fixtures.py);
the database fixtures (`postgres`, `database_url`) are below."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.databases import PostgresCluster

pytest_plugins = ["tests.kafka_fixtures"]

# -- databases: every store test runs on SQLite and on a real PostgreSQL ----------------


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    """A throwaway PostgreSQL 15 cluster for the whole run (tests/databases.py), started on
    first use and stopped at the end. Fails (never skips) when PostgreSQL cannot start: a
    test that claims PostgreSQL must have run on one."""
    cluster = PostgresCluster()
    failure = ""
    try:
        cluster.start()
    except Exception as exc:  # missing binaries, initdb, port, timeout: all fatal
        failure = str(exc)
    if failure:  # failed outside the except block, so the report shows the cause only once
        pytest.fail(f"could not start the test PostgreSQL cluster: {failure}", pytrace=False)
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty database of this test's own, once on SQLite and once on
    PostgreSQL (ids `sqlite`, `postgresql`): `sqlite:///<tmp_path>/supervisor.db`, or a
    fresh database in the session's cluster, dropped after the test. The cluster is
    started only when a `postgresql` case actually runs (`-k sqlite` never starts it)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'supervisor.db'}"
        return
    cluster: PostgresCluster = request.getfixturevalue("postgres")
    name = f"test_{uuid.uuid4().hex[:16]}"
    url = cluster.create_database(name)
    try:
        yield url
    finally:
        cluster.drop_database(name)
