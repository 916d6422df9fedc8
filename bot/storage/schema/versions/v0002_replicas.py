"""Replicas that cover for each other: who is alive (a heartbeat each), and who holds each claim,
so a dead replica's claims are taken over in seconds instead of after the lease.

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


def downgrade() -> None:
    raise NotImplementedError("Ondo's schema only moves forward")
