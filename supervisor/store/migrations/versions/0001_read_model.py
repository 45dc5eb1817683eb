"""The read model: alerts with their history, silences, case facts, cases, case events.

Revision ID: 0001
Revises:
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "positions",
        sa.Column("topic", sa.String(255), primary_key=True),
        sa.Column("partition", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("next_offset", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "alerts",
        sa.Column("alert_id", sa.String(512), primary_key=True),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("rule_id", sa.String(128), nullable=False),
        sa.Column("severity", sa.String(8), nullable=False),
        sa.Column("center_id", sa.String(16), nullable=False),
        sa.Column("case_id", sa.String(128), nullable=False),
        sa.Column("department", sa.String(128)),
        sa.Column("window_id", sa.String(64)),
        sa.Column("staff_id", sa.String(64)),
        sa.Column("item_code", sa.String(64)),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("raised_at", sa.DateTime, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("disposition", sa.String(16)),
        sa.Column("updated_seq", sa.BigInteger, nullable=False),
        sa.Column("escalation_level", sa.Integer, nullable=False),
        sa.Column("search", sa.Text, nullable=False),
        sa.Column("state", sa.JSON, nullable=False),
    )
    op.create_index("ix_alerts_raised", "alerts", ["raised_at", "seq"])
    op.create_index("ix_alerts_center_raised", "alerts", ["center_id", "raised_at"])
    op.create_index("ix_alerts_case", "alerts", ["case_id"])
    op.create_index("ix_alerts_status", "alerts", ["status", "center_id", "severity"])
    op.create_index("ix_alerts_rule_raised", "alerts", ["rule_id", "raised_at"])
    op.create_index("ix_alerts_department", "alerts", ["department", "raised_at"])
    op.create_table(
        "alert_history",
        sa.Column("alert_id", sa.String(512), primary_key=True),
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("entry", sa.JSON, nullable=False),
    )
    op.create_table(
        "alert_early",
        sa.Column("alert_id", sa.String(512), primary_key=True),
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("record", sa.JSON, nullable=False),
    )
    op.create_table(
        "silence_records",
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("silence_id", sa.String(128), nullable=False),
        sa.Column("record", sa.JSON, nullable=False),
    )
    op.create_index("ix_silence_records_silence", "silence_records", ["silence_id"])
    op.create_table(
        "case_facts",
        sa.Column("case_id", sa.String(128), primary_key=True),
        sa.Column("event_type", sa.String(32), primary_key=True),
        sa.Column("occurred_at", sa.DateTime, primary_key=True),
        sa.Column("center_id", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("department", sa.String(128)),
        sa.Column("window_id", sa.String(64)),
        sa.Column("staff_id", sa.String(64)),
        sa.Column("fact", sa.JSON, nullable=False),
    )
    op.create_index("ix_case_facts_center_occurred", "case_facts", ["center_id", "occurred_at"])
    op.create_index("ix_case_facts_occurred", "case_facts", ["occurred_at"])
    op.create_table(
        "cases",
        sa.Column("case_id", sa.String(128), primary_key=True),
        sa.Column("center_id", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("accepted_at", sa.DateTime),
        sa.Column("concluded_at", sa.DateTime),
        sa.Column("closed_at", sa.DateTime),
        sa.Column("deadline", sa.DateTime),
        sa.Column("on_time", sa.Boolean),
        sa.Column("department", sa.String(128)),
        sa.Column("window_id", sa.String(64)),
        sa.Column("staff_id", sa.String(64)),
        sa.Column("last_event_at", sa.DateTime, nullable=False),
        sa.Column("fact", sa.JSON, nullable=False),
    )
    op.create_index("ix_cases_center_status", "cases", ["center_id", "status"])
    op.create_index("ix_cases_accepted", "cases", ["accepted_at"])
    op.create_index("ix_cases_concluded", "cases", ["concluded_at"])
    op.create_index("ix_cases_closed", "cases", ["closed_at"])
    op.create_table(
        "case_events",
        sa.Column("case_id", sa.String(128), primary_key=True),
        sa.Column("event_id", sa.String(128), primary_key=True),
        sa.Column("center_id", sa.String(16), nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("occurred_at", sa.DateTime, nullable=False),
        sa.Column("document", sa.JSON, nullable=False),
    )
    op.create_index("ix_case_events_case_occurred", "case_events", ["case_id", "occurred_at"])
    op.create_index("ix_case_events_occurred", "case_events", ["occurred_at"])
    op.create_table(
        "centers_seen",
        sa.Column("center_id", sa.String(16), primary_key=True),
        sa.Column("last_event_at", sa.DateTime),
        sa.Column("last_arrival_at", sa.DateTime),
    )


def downgrade() -> None:
    for table in (
        "centers_seen",
        "case_events",
        "cases",
        "case_facts",
        "silence_records",
        "alert_early",
        "alert_history",
        "alerts",
        "positions",
    ):
        op.drop_table(table)
