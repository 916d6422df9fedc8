"""Reviews: what customers answered to a review request (journeys now, e-mail later), one row
per answer, its text sealed like a message's.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Time: sa.Double[float] = sa.Double()
POLARITIES = ("positive", "negative", "neutral")


def upgrade() -> None:
    # ``source`` says which channel the review came through (``journey``; ``email`` later) and
    # ``ref`` which of its messages it is (the inbound message's id, a mail's Message-ID): one
    # review per message, however often it is delivered. A journey send is answered once.
    op.create_table(
        "reviews",
        sa.Column("id", Id, primary_key=True),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("ref", sa.Text(), nullable=False),
        sa.Column("customer_id", sa.Text()),
        sa.Column("platform", sa.Text()),
        sa.Column("conversation_key", sa.Text()),
        sa.Column("send_id", Id),
        sa.Column("language", sa.Text()),
        sa.Column("rating", sa.Integer()),
        sa.Column("polarity", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", Time, nullable=False),
        sa.UniqueConstraint("source", "ref", name="reviews_once"),
        sa.UniqueConstraint("send_id", name="reviews_send_once"),
        sa.CheckConstraint("rating IS NULL OR rating BETWEEN 1 AND 5", name="reviews_rating"),
        sa.CheckConstraint(
            f"polarity IN ({', '.join(repr(p) for p in POLARITIES)})", name="reviews_polarity"
        ),
    )
    op.create_index("reviews_created", "reviews", ["created_at"])
    op.create_index("reviews_customer", "reviews", ["customer_id"])
    op.create_index("reviews_conversation", "reviews", ["conversation_key"])


def downgrade() -> None:
    raise NotImplementedError("Ondo's schema only moves forward")
