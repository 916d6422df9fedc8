"""The help desk: a ticket's owner and clocks on its handoff, agents on and off duty, the
reminders posted (once each), and the customers' satisfaction ratings (one per handoff, its
comment sealed like a message's).

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Time: sa.Double[float] = sa.Double()


def upgrade() -> None:
    # ``agent`` stays who took the conversation; ``assignee`` is who owns the ticket (assigned
    # by the desk, reassigned by hand). All new columns are NULL on existing handoffs.
    with op.batch_alter_table("handoffs") as batch:
        batch.add_column(sa.Column("assignee", sa.Text()))
        batch.add_column(sa.Column("assigned_at", Time))
        batch.add_column(sa.Column("first_response_at", Time))
        batch.add_column(sa.Column("first_due_at", Time))
        batch.add_column(sa.Column("resolution_due_at", Time))
        batch.add_column(sa.Column("waiting_since", Time))
        batch.add_column(sa.Column("closed_reason", sa.Text()))
    op.create_index("handoffs_by_assignee", "handoffs", ["assignee", "resolved_at"])
    op.create_index("handoffs_by_waiting", "handoffs", ["waiting_since"])
    op.create_index("handoffs_by_created", "handoffs", ["created_at"])
    # ``on_duty`` is an integer flag, as every flag of the schema (PostgreSQL gets 0/1 too).
    op.create_table(
        "desk_agents",
        sa.Column("id", Id, primary_key=True),
        sa.Column("platform", sa.Text(), nullable=False),
        sa.Column("agent", sa.Text(), nullable=False),
        sa.Column("on_duty", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.Column("changed_at", Time, nullable=False),
        sa.Column("last_assigned_at", Time),
        sa.UniqueConstraint("platform", "agent", name="desk_agents_once"),
        sa.CheckConstraint("on_duty IN (0, 1)", name="desk_agents_on_duty"),
    )
    # One row per reminder posted: the unique key is what makes it once across restarts and
    # replicas (the replica whose insert wins posts it).
    op.create_table(
        "desk_reminders",
        sa.Column("id", Id, primary_key=True),
        sa.Column("handoff_id", Id, nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("sent_at", Time, nullable=False),
        sa.UniqueConstraint("handoff_id", "kind", name="desk_reminders_once"),
    )
    op.create_table(
        "csat",
        sa.Column("id", Id, primary_key=True),
        sa.Column("handoff_id", Id, nullable=False),
        sa.Column("agent", sa.Text()),
        sa.Column("conversation_key", sa.Text(), nullable=False),
        sa.Column("platform", sa.Text(), nullable=False),
        sa.Column("intent", sa.Text()),
        sa.Column("reason", sa.Text()),
        sa.Column("language", sa.Text()),
        sa.Column("asked_at", Time, nullable=False),
        sa.Column("score", sa.Integer()),
        sa.Column("comment", sa.Text()),
        sa.Column("answered_at", Time),
        sa.Column("retries", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.UniqueConstraint("handoff_id", name="csat_once"),
        sa.CheckConstraint("score IS NULL OR score BETWEEN 1 AND 5", name="csat_score"),
    )
    op.create_index("csat_conversation", "csat", ["conversation_key"])
    op.create_index("csat_asked", "csat", ["asked_at"])


def downgrade() -> None:
    raise NotImplementedError("Ondo's schema only moves forward")
