"""The read model's tables: what the projection writes and the web service reads.

One set of SQLAlchemy Core tables for both back ends (SQLite embedded, PostgreSQL in
production); the Alembic revisions in `migrations/versions/` create them, and a test
checks that the newest revision and these definitions agree.

Times are stored as naive UTC (`DateTime` without a zone): both back ends compare and
index them the same way, and a period in the centers' local days becomes a UTC range
before it is asked for. Where the local time as sent matters (a case's timeline), the
original text is kept beside it in the row's JSON document.

Keys make every write idempotent: an alert by its `alert_id` (deterministic, contract
§3), a history entry by (alert, journal position), a fact by (case, event type, time),
an event by (case, event id). The consumed offsets (`positions`) are written in the same
transaction as the rows they produced (supervisor/store/projection.py).
"""

from __future__ import annotations

from typing import Final

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
)

metadata: Final = MetaData()

#: Where the projection stands in each partition it reads: the next offset to apply.
positions: Final = Table(
    "positions",
    metadata,
    Column("topic", String(255), primary_key=True),
    Column("partition", Integer, primary_key=True, autoincrement=False),
    Column("next_offset", BigInteger, nullable=False),
)

#: One row per alert as it stands now (journal.py's `Entry`): the searchable columns,
#: and `state`, the JSON that rebuilds the entry (the alert, its resolution, how it was
#: before an appeal, its late conclusion, its last change).
alerts: Final = Table(
    "alerts",
    metadata,
    Column("alert_id", String(512), primary_key=True),
    Column("seq", BigInteger, nullable=False),
    Column("rule_id", String(128), nullable=False),
    Column("severity", String(8), nullable=False),
    Column("center_id", String(16), nullable=False),
    Column("case_id", String(128), nullable=False),
    Column("department", String(128)),
    Column("window_id", String(64)),
    Column("staff_id", String(64)),
    Column("item_code", String(64)),
    Column("title", Text, nullable=False),
    Column("message", Text, nullable=False),
    Column("raised_at", DateTime, nullable=False),
    Column("status", String(16), nullable=False),
    Column("disposition", String(16)),
    Column("updated_seq", BigInteger, nullable=False),
    Column("escalation_level", Integer, nullable=False, default=0),
    #: lower-cased title, message, center name, item code and name: the free-text search
    Column("search", Text, nullable=False),
    Column("state", JSON, nullable=False),
    Index("ix_alerts_raised", "raised_at", "seq"),
    Index("ix_alerts_seq", "seq"),
    Index("ix_alerts_center_raised", "center_id", "raised_at"),
    Index("ix_alerts_case", "case_id"),
    Index("ix_alerts_status", "status", "center_id", "severity"),
    Index("ix_alerts_rule_raised", "rule_id", "raised_at"),
    Index("ix_alerts_department", "department", "raised_at"),
)

#: The grams of each alert's `search` (supervisor/store/search.py), which the search
#: index holds, by the alert's journal position. A table of their own, written when an
#: alert comes and when its text changes: an alert changes state several times, and
#: PostgreSQL writes a new row version for each change, with new entries in every
#: index of its table; in `alerts` each change re-inserted some fifty grams into the
#: index (bench/RESULTS.md).
alert_search: Final = Table(
    "alert_search",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("grams", Text, nullable=False),
)

#: Every entry of an alert's history (who did what, when, with which note; the worker's
#: and the notifier's steps too), by its journal position.
alert_history: Final = Table(
    "alert_history",
    metadata,
    Column("alert_id", String(512), primary_key=True),
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("action", String(32), nullable=False),
    Column("entry", JSON, nullable=False),
    # the decisions of appeals (the assessment's 申诉成立率) without every other step
    Index("ix_alert_history_action", "action"),
)

#: Journal records about an alert not (yet) in the read model, kept until it comes:
#: an alert read after its resolution is stored already resolved.
alert_early: Final = Table(
    "alert_early",
    metadata,
    Column("alert_id", String(512), primary_key=True),
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("record", JSON, nullable=False),
)

#: Every silence audit record (create, lift, expire), by journal position: the web
#: service rebuilds the silences from them at start.
silence_records: Final = Table(
    "silence_records",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("silence_id", String(128), nullable=False),
    Column("record", JSON, nullable=False),
    Index("ix_silence_records_silence", "silence_id"),
)

#: Each supervision order (督办单, supervisor/orders.py) as it stands; `state` holds the
#: order with every step (who, when, what), from the journal's order records.
orders: Final = Table(
    "orders",
    metadata,
    Column("order_id", String(128), primary_key=True),
    Column("center_id", String(16), nullable=False),
    Column("case_id", String(128), nullable=False),
    Column("alert_id", String(512)),
    Column("status", String(16), nullable=False),
    Column("round", Integer, nullable=False),
    Column("issued_at", DateTime, nullable=False),
    Column("due_at", DateTime, nullable=False),
    Column("seq", BigInteger, nullable=False),  # the issuing record's journal position
    Column("updated_seq", BigInteger, nullable=False),
    Column("state", JSON, nullable=False),
    Index("ix_orders_center_status", "center_id", "status"),
    Index("ix_orders_status_due", "status", "due_at"),
    Index("ix_orders_case", "case_id"),
    Index("ix_orders_alert", "alert_id"),
)

#: The worker's case facts (supervisor/worker/facts.py): one per applied event.
case_facts: Final = Table(
    "case_facts",
    metadata,
    Column("case_id", String(128), primary_key=True),
    Column("event_type", String(32), primary_key=True),
    Column("occurred_at", DateTime, primary_key=True),
    Column("center_id", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("department", String(128)),
    Column("window_id", String(64)),
    Column("staff_id", String(64)),
    Column("level", SmallInteger),  # an `evaluated` fact's rating (1-5); else null
    Column("fact", JSON, nullable=False),
    Index("ix_case_facts_center_occurred", "center_id", "occurred_at"),
    Index("ix_case_facts_occurred", "occurred_at"),
    # the assessment's ratings and complaints of a period, without the other facts; the
    # center and the level in it count a period's ratings per center from it alone
    Index("ix_case_facts_type_occurred", "event_type", "occurred_at", "center_id", "level"),
)

#: Each case as its latest fact says: the figures count these rows.
cases: Final = Table(
    "cases",
    metadata,
    Column("case_id", String(128), primary_key=True),
    Column("center_id", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("accepted_at", DateTime),
    Column("concluded_at", DateTime),
    #: when the case was refused (不予受理) or withdrawn: the event that set the status
    Column("closed_at", DateTime),
    Column("deadline", DateTime),
    Column("on_time", Boolean),
    Column("department", String(128)),
    Column("window_id", String(64)),
    Column("staff_id", String(64)),
    Column("last_event_at", DateTime, nullable=False),
    Column("fact", JSON, nullable=False),
    Index("ix_cases_center_status", "center_id", "status"),
    # by time, with what the figures per center count (ReadModel.figures reads a
    # period's counts per center from these three alone)
    Index("ix_cases_accepted", "accepted_at", "center_id"),
    Index("ix_cases_concluded", "concluded_at", "center_id", "status", "on_time"),
    Index("ix_cases_closed", "closed_at", "center_id", "status"),
)

#: Each case's events as the centers sent them, personal data masked before it is
#: stored (supervisor/masking.py): the case's timeline.
case_events: Final = Table(
    "case_events",
    metadata,
    Column("case_id", String(128), primary_key=True),
    Column("event_id", String(128), primary_key=True),
    Column("center_id", String(16), nullable=False),
    Column("type", String(32), nullable=False),
    Column("occurred_at", DateTime, nullable=False),
    Column("document", JSON, nullable=False),
    #: the applicant's name as masked (黄*强), when the event gives one: the case's other
    #: events are masked by it (masking.mask_shaped), read without their documents
    Column("applicant_name", String(64)),
    Index("ix_case_events_case_occurred", "case_id", "occurred_at"),
    Index("ix_case_events_occurred", "occurred_at"),
)

#: Every center seen in an alert or a fact, with its latest event and arrival: scopes
#: are resolved against it, and the wall's freshness read from it.
centers_seen: Final = Table(
    "centers_seen",
    metadata,
    Column("center_id", String(16), primary_key=True),
    Column("last_event_at", DateTime),
    Column("last_arrival_at", DateTime),
)
