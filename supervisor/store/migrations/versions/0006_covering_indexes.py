"""The indexes by time hold what a period's figures per center count: the center, the
status and the on-time verdict on the cases' indexes, the center and the level on the
facts' index by type. The figures and the ratings per center of a month are then read
from the indexes alone (ReadModel.figures, rating_counts), not from each row of the
month: the assessment of every center, and a trend of months, reads no table.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

WIDER = {
    ("cases", "ix_cases_accepted"): (["accepted_at"], ["accepted_at", "center_id"]),
    ("cases", "ix_cases_concluded"): (
        ["concluded_at"],
        ["concluded_at", "center_id", "status", "on_time"],
    ),
    ("cases", "ix_cases_closed"): (["closed_at"], ["closed_at", "center_id", "status"]),
    ("case_facts", "ix_case_facts_type_occurred"): (
        ["event_type", "occurred_at"],
        ["event_type", "occurred_at", "center_id", "level"],
    ),
}


def upgrade() -> None:
    for (table, name), (_, columns) in WIDER.items():
        op.drop_index(name, table_name=table)
        op.create_index(name, table, columns)


def downgrade() -> None:
    for (table, name), (columns, _) in WIDER.items():
        op.drop_index(name, table_name=table)
        op.create_index(name, table, columns)
