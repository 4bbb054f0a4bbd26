"""The read-model tables (读模型表): what agencies query with plain SQL.

The migration in ``migrations/versions`` creates exactly these (a test runs Alembic's autogenerate
against a migrated database and expects no difference). Every row is derived from the case state
`engine.fold` builds, kept whole in ``cases.state``, so nothing here is decided twice.

Instants are UTC. On PostgreSQL they are ``timestamptz``; on SQLite, which has no instant type,
they are the RFC 3339 text the case state itself holds (``2026-10-13T01:00:00.000Z``), so they sort
and compare as text and equal the JSON values inside ``state`` and ``data``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeDecorator, TypeEngine

from fengqiao.schemas.envelope import format_time, parse_time

VERSION_TABLE = "readmodel_alembic_version"  # not alembic_version: the database may hold other apps


class Instant(TypeDecorator[datetime]):
    """An aware UTC instant: ``timestamptz`` on PostgreSQL, RFC 3339 text (milliseconds, Z) on SQLite."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(24))
        return dialect.type_descriptor(DateTime(timezone=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        t = parse_time(value) if isinstance(value, str) else value
        return format_time(t) if dialect.name == "sqlite" else t.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return parse_time(value) if isinstance(value, str) else value.astimezone(UTC)


# JSONB on PostgreSQL: indexable, and `state -> 'facts'` works in agencies' own queries.
Document = JSON().with_variant(JSONB(), "postgresql")

metadata = MetaData()

cases = Table(
    "cases",
    metadata,
    Column("case_id", Text, primary_key=True),
    Column("workflow", Text, nullable=False),
    Column("status", Text, nullable=False, comment="awaiting_opening | open | overdue | closed"),
    Column("opened_at", Instant),
    Column("opened_on", Date, comment="Asia/Shanghai date of opened_at: the KPI period"),
    Column("closed_at", Instant),
    Column("updated_at", Instant),
    Column("policy_version", Text),
    Column("version", Integer, nullable=False, comment="events applied to the case"),
    Column("division_code", Text, comment="the division the case is routed by"),
    Column("held", Integer, nullable=False, comment="events waiting for the case's opening event"),
    Column("state", Document, nullable=False, comment="the engine's case state, as engine.fold built it"),
    Index("ix_cases_workflow_opened_on", "workflow", "opened_on"),
    Index("ix_cases_status", "status"),
)

handoffs = Table(
    "handoffs",
    metadata,
    Column("handoff_id", Text, primary_key=True),
    Column("case_id", Text, ForeignKey("cases.case_id"), nullable=False),
    Column("workflow", Text, nullable=False),
    Column("step", Text, nullable=False),
    Column("task", Text, nullable=False, comment="what the obliged agency must do (zh-CN)"),
    Column("obliged_agency_id", Text, nullable=False),
    Column("obliged_agency_type", Text, nullable=False),
    Column("state", Text, nullable=False, comment="assigned | acknowledged | fulfilled | overdue | ..."),
    Column("rule_id", Text, comment="the policy rule that set the deadline"),
    Column("due_at", Instant),
    Column("legal_source", Text),
    Column("assigned_at", Instant),
    Column("acknowledged_at", Instant),
    Column("fulfilled_at", Instant),
    Column("fulfilled_by", Text, comment="the event type that fulfilled it"),
    Column("late", Boolean, comment="fulfilled after due_at (null until fulfilled)"),
    Column("overdue_at", Instant),
    Column("missing", Text, comment="receipt | disposition, once overdue"),
    Column("escalated_to", Document, nullable=False, comment="agency refs, in order"),
    Column("cancelled_reason", Text),
    Column("routed_for", Text, comment="division code the handoff was routed for"),
    Index("ix_handoffs_case_id", "case_id"),
    Index("ix_handoffs_obliged_state", "obliged_agency_id", "state"),
    Index("ix_handoffs_due_at", "due_at"),
)

events = Table(
    "events",
    metadata,
    Column("event_id", Text, primary_key=True),
    Column("case_id", Text, nullable=False),
    Column("workflow", Text, nullable=False),
    Column("type", Text, nullable=False),
    Column("source", Text, nullable=False, comment="the publishing agency, or fengqiao-hub"),
    Column("time", Instant, nullable=False),
    Column("topic", Text, nullable=False),
    Column("partition", Integer, nullable=False),
    Column("offset", BigInteger, nullable=False),
    Column("causation_id", Text),
    Column("correlation_id", Text),
    Column("jurisdiction", Text),
    Column("data", Document, nullable=False, comment="the event's record as JSON"),
    Index("ix_events_case_id_time", "case_id", "time"),
    Index("ix_events_type", "type"),
)

alerts = Table(
    "alerts",
    metadata,
    Column("case_id", Text, ForeignKey("cases.case_id"), nullable=False),
    Column("position", Integer, nullable=False, comment="order on the case (instant, then type)"),
    Column("type", Text, nullable=False, comment="PickupMissed, ContactLost, RoutingFailed, ..."),
    Column("detected_at", Instant),
    Column("reason", Text),
    Column("alerted", Document, nullable=False, comment="agency refs told of it"),
    PrimaryKeyConstraint("case_id", "position", name="pk_alerts"),
    Index("ix_alerts_type", "type"),
)

case_agencies = Table(
    "case_agencies",
    metadata,
    Column("case_id", Text, ForeignKey("cases.case_id"), nullable=False),
    Column("agency_id", Text, nullable=False),
    Column("relation", Text, nullable=False, comment="obliged (by a handoff) | office (named by a fact)"),
    PrimaryKeyConstraint("case_id", "agency_id", "relation", name="pk_case_agencies"),
    Index("ix_case_agencies_agency_id", "agency_id"),
)

# Bookkeeping, not read model: how far each partition has been applied (committed with the rows it
# covers) and which database this is, so a sink pointed at a rebuilt or new database reads from there.
positions = Table(
    "readmodel_positions",
    metadata,
    Column("topic", Text, nullable=False),
    Column("partition", Integer, nullable=False),
    Column("next_offset", BigInteger, nullable=False),
    PrimaryKeyConstraint("topic", "partition", name="pk_readmodel_positions"),
)

meta = Table(
    "readmodel_meta",
    metadata,
    Column("key", Text, primary_key=True),
    Column("value", Text, nullable=False),
)

READ_MODEL = (cases, handoffs, events, alerts, case_agencies)  # what a rebuild must reproduce exactly
