"""The grams of free-text search in a table of their own, `alert_search`, out of `alerts`
(supervisor/store/search.py says why: an alert's change of state no longer re-indexes
its grams).

The grams move as they are, by one INSERT … SELECT; then the column goes, and the index
is built over the new table.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from supervisor.store import search

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

#: The index of revision 0002, on `alerts.search_grams`, dropped here and made again by
#: the downgrade.
OLD_DROP = {
    "postgresql": ["DROP INDEX IF EXISTS ix_alerts_grams"],
    "sqlite": [
        "DROP TRIGGER IF EXISTS alerts_fts_insert",
        "DROP TRIGGER IF EXISTS alerts_fts_delete",
        "DROP TRIGGER IF EXISTS alerts_fts_update",
        "DROP TABLE IF EXISTS alerts_fts",
    ],
}
OLD_DDL = {
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


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    for statement in OLD_DROP[dialect]:
        op.execute(statement)
    op.create_table(
        "alert_search",
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("grams", sa.Text, nullable=False),
    )
    op.execute("INSERT INTO alert_search (seq, grams) SELECT seq, search_grams FROM alerts")
    # SQLite (3.35 and later) and PostgreSQL both drop a column so
    op.execute("ALTER TABLE alerts DROP COLUMN search_grams")
    for statement in search.DDL[dialect]:
        op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for statement in search.DROP[dialect]:
        op.execute(statement)
    op.add_column("alerts", sa.Column("search_grams", sa.Text, nullable=False, server_default=""))
    op.execute(
        "UPDATE alerts SET search_grams = COALESCE("
        "(SELECT grams FROM alert_search WHERE alert_search.seq = alerts.seq), '')"
    )
    op.drop_table("alert_search")
    for statement in OLD_DDL[dialect]:
        op.execute(statement)
