"""Free-text search by an index: each alert's grams, and the dialect's index of them
(supervisor/store/search.py says why grams of two and which index).

Existing rows get their grams here, in batches (about a minute a million alerts), before
the index is built over them.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from supervisor.store import search

#: The index as this revision made it (search.DDL is the one of the latest revision).
DDL = {
    "postgresql": [
        "CREATE INDEX ix_alerts_grams ON alerts USING gin (string_to_array(search_grams, ' '))",
    ],
    "sqlite": [
        "CREATE VIRTUAL TABLE alerts_fts USING fts5(search_grams, content='', "
        "detail=none, columnsize=0, tokenize='unicode61 remove_diacritics 0')",
        "INSERT INTO alerts_fts(rowid, search_grams) SELECT seq, search_grams FROM alerts",
        """CREATE TRIGGER alerts_fts_insert AFTER INSERT ON alerts BEGIN
            INSERT INTO alerts_fts(rowid, search_grams) VALUES (new.seq, new.search_grams);
        END""",
        """CREATE TRIGGER alerts_fts_delete AFTER DELETE ON alerts BEGIN
            INSERT INTO alerts_fts(alerts_fts, rowid, search_grams)
                VALUES ('delete', old.seq, old.search_grams);
        END""",
        """CREATE TRIGGER alerts_fts_update AFTER UPDATE OF seq, search_grams ON alerts
            WHEN old.seq IS NOT new.seq OR old.search_grams IS NOT new.search_grams BEGIN
            INSERT INTO alerts_fts(alerts_fts, rowid, search_grams)
                VALUES ('delete', old.seq, old.search_grams);
            INSERT INTO alerts_fts(rowid, search_grams) VALUES (new.seq, new.search_grams);
        END""",
    ],
}
DROP = {
    "postgresql": ["DROP INDEX IF EXISTS ix_alerts_grams"],
    "sqlite": [
        "DROP TRIGGER IF EXISTS alerts_fts_insert",
        "DROP TRIGGER IF EXISTS alerts_fts_delete",
        "DROP TRIGGER IF EXISTS alerts_fts_update",
        "DROP TABLE IF EXISTS alerts_fts",
    ],
}

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

BATCH = 5_000


def upgrade() -> None:
    op.add_column("alerts", sa.Column("search_grams", sa.Text, nullable=False, server_default=""))
    op.create_index("ix_alerts_seq", "alerts", ["seq"])
    connection = op.get_bind()
    rows = sa.table(
        "alerts",
        sa.column("alert_id", sa.String),
        sa.column("center_id", sa.String),
        sa.column("search", sa.Text),
        sa.column("search_grams", sa.Text),
    )
    after = ""
    while True:
        batch = connection.execute(
            sa.select(rows.c.alert_id, rows.c.center_id, rows.c.search)
            .where(rows.c.alert_id > after)
            .order_by(rows.c.alert_id)
            .limit(BATCH)
        ).all()
        if not batch:
            break
        connection.execute(
            sa.update(rows)
            .where(rows.c.alert_id == sa.bindparam("id"))
            .values(search_grams=sa.bindparam("grams")),
            [{"id": r.alert_id, "grams": search.stored(r.search, r.center_id)} for r in batch],
        )
        after = batch[-1].alert_id
    for statement in DDL[connection.dialect.name]:
        op.execute(statement)


def downgrade() -> None:
    for statement in DROP[op.get_bind().dialect.name]:
        op.execute(statement)
    op.drop_index("ix_alerts_seq", "alerts")
    with op.batch_alter_table("alerts") as batch:
        batch.drop_column("search_grams")
