"""Replicas that cover for each other: who is alive (a heartbeat each), who holds each claim (a
dead replica's claims are taken over in seconds instead of after the lease), and the outbox of
posts for a platform another replica holds.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "replicas",
        sa.Column("id", sa.Text(), primary_key=True),
        sa.Column("host", sa.Text(), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("platforms", sa.Text(), nullable=False, server_default=""),
        sa.Column("shards", sa.Text(), nullable=False, server_default=""),
        sa.Column("started_at", sa.Double(), nullable=False),
        sa.Column("heartbeat_at", sa.Double(), nullable=False),
    )
    # Who holds a claim: NULL for claims of processes that never joined as a replica (and
    # every claim from before), which only the lease frees.
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("claimed_by", sa.Text()))
    with op.batch_alter_table("handoffs") as batch:
        batch.add_column(sa.Column("ticket_claimed_by", sa.Text()))
    # Posts for a platform this replica does not hold, delivered by one that does. The text is
    # sealed like messages; a row is kept until retention purges it, delivered or given up.
    op.create_table(
        "outbox",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("platform", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column("ref", sa.Text()),
        sa.Column("author", sa.Text()),
        sa.Column("text", sa.Text()),
        sa.Column("language", sa.Text()),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("due_at", sa.Double(), nullable=False),
        sa.Column("claimed_at", sa.Double()),
        sa.Column("claimed_by", sa.Text()),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.Column("delivered_at", sa.Double()),
        sa.Column("error", sa.Text()),
        sa.CheckConstraint("kind IN ('send', 'relay', 'note', 'ticket')"),
    )
    op.create_index(
        "outbox_due",
        "outbox",
        ["platform", "due_at"],
        sqlite_where=sa.text("delivered_at IS NULL"),
        postgresql_where=sa.text("delivered_at IS NULL"),
    )


def downgrade() -> None:
    raise NotImplementedError("Ondo's schema only moves forward")
