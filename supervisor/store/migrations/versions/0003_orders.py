"""Supervision orders (督办单): each order as it stands, with its steps.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "orders",
        sa.Column("order_id", sa.String(128), primary_key=True),
        sa.Column("center_id", sa.String(16), nullable=False),
        sa.Column("case_id", sa.String(128), nullable=False),
        sa.Column("alert_id", sa.String(512)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("round", sa.Integer, nullable=False),
        sa.Column("issued_at", sa.DateTime, nullable=False),
        sa.Column("due_at", sa.DateTime, nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("updated_seq", sa.BigInteger, nullable=False),
        sa.Column("state", sa.JSON, nullable=False),
    )
    op.create_index("ix_orders_center_status", "orders", ["center_id", "status"])
    op.create_index("ix_orders_status_due", "orders", ["status", "due_at"])
    op.create_index("ix_orders_case", "orders", ["case_id"])
    op.create_index("ix_orders_alert", "orders", ["alert_id"])


def downgrade() -> None:
    op.drop_table("orders")
