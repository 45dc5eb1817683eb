"""A rating's level as a column of `case_facts`, and an index by event type and time: the
assessment counts a period's ratings and reads its bad ones and its complaints without
reading every other fact of the period or parsing each fact's JSON.

The level of the facts already stored is copied from their JSON (facts written before
the worker sent it have none: their ratings count as given, neither good nor bad).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("case_facts", sa.Column("level", sa.SmallInteger))
    level = (
        "CAST(fact ->> 'level' AS SMALLINT)"
        if op.get_bind().dialect.name == "postgresql"
        else "CAST(json_extract(fact, '$.level') AS INTEGER)"
    )
    op.execute(f"UPDATE case_facts SET level = {level} WHERE event_type = 'evaluated'")
    op.create_index("ix_case_facts_type_occurred", "case_facts", ["event_type", "occurred_at"])


def downgrade() -> None:
    op.drop_index("ix_case_facts_type_occurred", table_name="case_facts")
    with op.batch_alter_table("case_facts") as batch:
        batch.drop_column("level")
