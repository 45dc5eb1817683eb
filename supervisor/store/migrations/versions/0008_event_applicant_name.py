"""The applicant's name, as masked, in a column of `case_events`: the projection masks a
name a center typed into another event of the case by it (masking.mask_shaped), and
reads a batch's cases' names from this column rather than every document of theirs.

The names of the events already stored are copied from their documents.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("case_events", sa.Column("applicant_name", sa.String(64)))
    name = (
        "(document -> 'applicant' ->> 'name')"
        if op.get_bind().dialect.name == "postgresql"
        else "json_extract(document, '$.applicant.name')"
    )
    op.execute(f"UPDATE case_events SET applicant_name = substr({name}, 1, 64)")


def downgrade() -> None:
    with op.batch_alter_table("case_events") as batch:
        batch.drop_column("applicant_name")
