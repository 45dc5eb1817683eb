"""Alembic's entry point for the read model's migrations.

Run only through `supervisor.store.db.Database.upgrade()` (the web service's start and
`supervisor db upgrade`), which hands over an open connection in
`config.attributes["connection"]`: there is no alembic.ini and no URL here.
"""

from __future__ import annotations

from alembic import context

from supervisor.store.schema import metadata
from supervisor.store.search import declared

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=True,  # SQLite alters a table by copying it
    compare_type=True,
    include_object=declared,
)
with context.begin_transaction():
    context.run_migrations()
