"""The read model: cases, handoffs, events, alerts, case agencies, and the sink's positions.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from fengqiao.connectors.readmodel.tables import Instant

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen here as this revision created them (a later change to tables.py needs its own revision).
Document = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "cases",
        sa.Column("case_id", sa.Text(), nullable=False),
        sa.Column("workflow", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False, comment="awaiting_opening | open | overdue | closed"),
        sa.Column("opened_at", Instant(), nullable=True),
        sa.Column(
            "opened_on", sa.Date(), nullable=True, comment="Asia/Shanghai date of opened_at: the KPI period"
        ),
        sa.Column("closed_at", Instant(), nullable=True),
        sa.Column("updated_at", Instant(), nullable=True),
        sa.Column("policy_version", sa.Text(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False, comment="events applied to the case"),
        sa.Column("division_code", sa.Text(), nullable=True, comment="the division the case is routed by"),
        sa.Column(
            "held", sa.Integer(), nullable=False, comment="events waiting for the case's opening event"
        ),
        sa.Column(
            "state", Document, nullable=False, comment="the engine's case state, as engine.fold built it"
        ),
        sa.PrimaryKeyConstraint("case_id"),
    )
    op.create_index("ix_cases_status", "cases", ["status"], unique=False)
    op.create_index("ix_cases_workflow_opened_on", "cases", ["workflow", "opened_on"], unique=False)
    op.create_table(
        "events",
        sa.Column("event_id", sa.Text(), nullable=False),
        sa.Column("case_id", sa.Text(), nullable=False),
        sa.Column("workflow", sa.Text(), nullable=False),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False, comment="the publishing agency, or fengqiao-hub"),
        sa.Column("time", Instant(), nullable=False),
        sa.Column("topic", sa.Text(), nullable=False),
        sa.Column("partition", sa.Integer(), nullable=False),
        sa.Column("offset", sa.BigInteger(), nullable=False),
        sa.Column("causation_id", sa.Text(), nullable=True),
        sa.Column("correlation_id", sa.Text(), nullable=True),
        sa.Column("jurisdiction", sa.Text(), nullable=True),
        sa.Column("data", Document, nullable=False, comment="the event's record as JSON"),
        sa.PrimaryKeyConstraint("event_id"),
    )
    op.create_index("ix_events_case_id_time", "events", ["case_id", "time"], unique=False)
    op.create_index("ix_events_type", "events", ["type"], unique=False)
    op.create_table(
        "readmodel_meta",
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_table(
        "readmodel_positions",
        sa.Column("topic", sa.Text(), nullable=False),
        sa.Column("partition", sa.Integer(), nullable=False),
        sa.Column("next_offset", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("topic", "partition", name="pk_readmodel_positions"),
    )
    op.create_table(
        "alerts",
        sa.Column("case_id", sa.Text(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False, comment="order on the case (instant, then type)"),
        sa.Column("type", sa.Text(), nullable=False, comment="PickupMissed, ContactLost, RoutingFailed, ..."),
        sa.Column("detected_at", Instant(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("alerted", Document, nullable=False, comment="agency refs told of it"),
        sa.ForeignKeyConstraint(["case_id"], ["cases.case_id"]),
        sa.PrimaryKeyConstraint("case_id", "position", name="pk_alerts"),
    )
    op.create_index("ix_alerts_type", "alerts", ["type"], unique=False)
    op.create_table(
        "case_agencies",
        sa.Column("case_id", sa.Text(), nullable=False),
        sa.Column("agency_id", sa.Text(), nullable=False),
        sa.Column(
            "relation", sa.Text(), nullable=False, comment="obliged (by a handoff) | office (named by a fact)"
        ),
        sa.ForeignKeyConstraint(["case_id"], ["cases.case_id"]),
        sa.PrimaryKeyConstraint("case_id", "agency_id", "relation", name="pk_case_agencies"),
    )
    op.create_index("ix_case_agencies_agency_id", "case_agencies", ["agency_id"], unique=False)
    op.create_table(
        "handoffs",
        sa.Column("handoff_id", sa.Text(), nullable=False),
        sa.Column("case_id", sa.Text(), nullable=False),
        sa.Column("workflow", sa.Text(), nullable=False),
        sa.Column("step", sa.Text(), nullable=False),
        sa.Column("task", sa.Text(), nullable=False, comment="what the obliged agency must do (zh-CN)"),
        sa.Column("obliged_agency_id", sa.Text(), nullable=False),
        sa.Column("obliged_agency_type", sa.Text(), nullable=False),
        sa.Column(
            "state", sa.Text(), nullable=False, comment="assigned | acknowledged | fulfilled | overdue | ..."
        ),
        sa.Column("rule_id", sa.Text(), nullable=True, comment="the policy rule that set the deadline"),
        sa.Column("due_at", Instant(), nullable=True),
        sa.Column("legal_source", sa.Text(), nullable=True),
        sa.Column("assigned_at", Instant(), nullable=True),
        sa.Column("acknowledged_at", Instant(), nullable=True),
        sa.Column("fulfilled_at", Instant(), nullable=True),
        sa.Column("fulfilled_by", sa.Text(), nullable=True, comment="the event type that fulfilled it"),
        sa.Column(
            "late", sa.Boolean(), nullable=True, comment="fulfilled after due_at (null until fulfilled)"
        ),
        sa.Column("overdue_at", Instant(), nullable=True),
        sa.Column("missing", sa.Text(), nullable=True, comment="receipt | disposition, once overdue"),
        sa.Column("escalated_to", Document, nullable=False, comment="agency refs, in order"),
        sa.Column("cancelled_reason", sa.Text(), nullable=True),
        sa.Column("routed_for", sa.Text(), nullable=True, comment="division code the handoff was routed for"),
        sa.ForeignKeyConstraint(["case_id"], ["cases.case_id"]),
        sa.PrimaryKeyConstraint("handoff_id"),
    )
    op.create_index("ix_handoffs_case_id", "handoffs", ["case_id"], unique=False)
    op.create_index("ix_handoffs_due_at", "handoffs", ["due_at"], unique=False)
    op.create_index("ix_handoffs_obliged_state", "handoffs", ["obliged_agency_id", "state"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_handoffs_obliged_state", table_name="handoffs")
    op.drop_index("ix_handoffs_due_at", table_name="handoffs")
    op.drop_index("ix_handoffs_case_id", table_name="handoffs")
    op.drop_table("handoffs")
    op.drop_index("ix_case_agencies_agency_id", table_name="case_agencies")
    op.drop_table("case_agencies")
    op.drop_index("ix_alerts_type", table_name="alerts")
    op.drop_table("alerts")
    op.drop_table("readmodel_positions")
    op.drop_table("readmodel_meta")
    op.drop_index("ix_events_type", table_name="events")
    op.drop_index("ix_events_case_id_time", table_name="events")
    op.drop_table("events")
    op.drop_index("ix_cases_workflow_opened_on", table_name="cases")
    op.drop_index("ix_cases_status", table_name="cases")
    op.drop_table("cases")
