"""Thread states: what a channel needs to answer in a conversation's thread after a restart
(an e-mail thread's subject, latest Message-ID and References), one sealed row per
conversation, deleted with it.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Time: sa.Double[float] = sa.Double()


def upgrade() -> None:
    # ``state`` is the channel's own JSON, sealed like a message's text: a subject and a
    # sender's display name are the customer's words.
    op.create_table(
        "thread_states",
        sa.Column("id", Id, primary_key=True),
        sa.Column("conversation_key", sa.Text(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("updated_at", Time, nullable=False),
        sa.UniqueConstraint("conversation_key", name="thread_states_once"),
    )


def downgrade() -> None:
    raise NotImplementedError("Ondo's schema only moves forward")
