"""Moving a test's read model to a given schema revision, to store rows as an older
version of the service did and check what the migrations after it make of them."""

from __future__ import annotations

from alembic import command
from sqlalchemy import Connection

from supervisor.store.db import alembic_config


def downgrade_to(connection: Connection, revision: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.downgrade(config, revision)


def upgrade_to(connection: Connection, revision: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, revision)
