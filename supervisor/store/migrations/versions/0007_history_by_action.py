"""An index of the alerts' history by step: the assessment counts the appeals decided
in a period (申诉成立率) from the decisions alone, not from every acknowledgement and
resolution ever recorded.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_alert_history_action", "alert_history", ["action"])


def downgrade() -> None:
    op.drop_index("ix_alert_history_action", table_name="alert_history")
