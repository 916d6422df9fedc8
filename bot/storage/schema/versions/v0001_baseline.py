"""The schema as the SQLite runner from before Alembic left it (its ten steps, in
:mod:`bot.storage.sqlite.migrations`), for SQLite and PostgreSQL alike.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# A row id: SQLite's INTEGER PRIMARY KEY (its rowid), PostgreSQL's BIGSERIAL.
Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
# Epoch seconds; REAL affinity in SQLite, double precision (not 4-byte real) in PostgreSQL.
Time: sa.Double[float] = sa.Double()


def _check(column: str, values: tuple[str | int, ...]) -> sa.CheckConstraint:
    listed = ", ".join(repr(v) if isinstance(v, str) else str(v) for v in values)
    return sa.CheckConstraint(f"{column} IN ({listed})")


def _partial(name: str, table: str, columns: list[str], where: str, unique: bool) -> None:
    op.create_index(
        name,
        table,
        columns,
        unique=unique,
        sqlite_where=sa.text(where),
        postgresql_where=sa.text(where),
    )


def upgrade() -> None:
    op.create_table(
        "conversations",
        sa.Column("key", sa.Text(), primary_key=True),
        sa.Column("platform", sa.Text(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False, server_default="bot"),
        sa.Column("language", sa.Text()),
        sa.Column("last_emotion", sa.Text()),
        sa.Column("last_emotion_score", Time),
        sa.Column("misses", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.Column("context_since", Id, nullable=False, server_default=sa.text("0")),
        sa.Column("created_at", Time, nullable=False),
        sa.Column("updated_at", Time, nullable=False),
        sa.Column("owner", sa.Text()),
        _check("state", ("bot", "waiting_human", "human", "closed")),
    )
    op.create_table(
        "messages",
        sa.Column("id", Id, primary_key=True),
        sa.Column(
            "conversation_key", sa.Text(), sa.ForeignKey("conversations.key"), nullable=False
        ),
        sa.Column("platform", sa.Text(), nullable=False),
        sa.Column("platform_message_id", sa.Text()),
        sa.Column("direction", sa.Text(), nullable=False),
        sa.Column("role", sa.Text(), nullable=False),
        sa.Column("user", sa.Text(), nullable=False, server_default=""),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("in_reply_to", Id, sa.ForeignKey("messages.id")),
        sa.Column("language", sa.Text()),
        sa.Column("emotion", sa.Text()),
        sa.Column("emotion_score", Time),
        sa.Column("intent", sa.Text()),
        sa.Column("entry_id", sa.Text()),
        sa.Column("confidence", Time),
        sa.Column("answered", sa.Integer()),
        sa.Column("claimed_at", Time),
        sa.Column("handled_at", Time),
        sa.Column("created_at", Time, nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.Column("audience", sa.Text()),
        _check("direction", ("in", "out")),
        _check("role", ("customer", "bot", "agent", "system", "third_party")),
    )
    # A platform message id is recorded once: a retried or replayed event is recognised.
    _partial(
        "messages_inbound_once",
        "messages",
        ["platform", "platform_message_id"],
        "direction = 'in' AND platform_message_id IS NOT NULL",
        unique=True,
    )
    # At most one bot reply is ever recorded per inbound message.
    _partial(
        "messages_one_reply",
        "messages",
        ["in_reply_to"],
        "direction = 'out' AND role = 'bot'",
        unique=True,
    )
    op.create_index("messages_by_conversation", "messages", ["conversation_key", "id"])
    _partial(
        "messages_unfinished",
        "messages",
        ["created_at"],
        "direction = 'in' AND handled_at IS NULL",
        unique=False,
    )
    # A handoff's number is on its ticket's buttons for as long as the ticket exists: never
    # reused (SQLite's AUTOINCREMENT; a PostgreSQL sequence never goes back).
    op.create_table(
        "handoffs",
        sa.Column("id", Id, primary_key=True),
        sa.Column(
            "conversation_key", sa.Text(), sa.ForeignKey("conversations.key"), nullable=False
        ),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("intent", sa.Text()),
        sa.Column("emotion", sa.Text()),
        sa.Column("language", sa.Text()),
        sa.Column("agent", sa.Text()),
        sa.Column("thread_ref", sa.Text()),
        sa.Column("created_at", Time, nullable=False),
        sa.Column("taken_at", Time),
        sa.Column("resolved_at", Time),
        sa.Column("ticket_claimed_at", Time),
        sa.Column("suggestion", sa.Text()),
        sa.Column("button_token", sa.Text()),
        sa.Column("notice_failed_at", Time),
        sa.Column("ticket_attempts", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sqlite_autoincrement=True,
    )
    op.create_index("handoffs_by_conversation", "handoffs", ["conversation_key", "id"])
    op.create_index("handoffs_by_thread", "handoffs", ["thread_ref"])
    op.create_table(
        "embeddings",
        sa.Column("model", sa.Text(), primary_key=True),
        sa.Column("text_hash", sa.Text(), primary_key=True),
        sa.Column("dim", sa.Integer(), nullable=False),
        sa.Column("vector", sa.LargeBinary(), nullable=False),
    )
    op.create_table(
        "kb_entries",
        sa.Column("id", sa.Text(), primary_key=True),
        sa.Column("category", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("content_hash", sa.Text(), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("imported_at", Time, nullable=False),
    )
    # One rating per person and answer: a second click by the same user updates the first.
    op.create_table(
        "ratings",
        sa.Column("id", Id, primary_key=True),
        sa.Column("message_id", Id, sa.ForeignKey("messages.id"), nullable=False),
        sa.Column("entry_id", sa.Text()),
        sa.Column("rating", sa.Integer(), nullable=False),
        sa.Column("user", sa.Text(), nullable=False),
        sa.Column("created_at", Time, nullable=False),
        sa.UniqueConstraint("message_id", "user"),
        _check("rating", (-1, 1)),
    )
    op.create_index("ratings_by_entry", "ratings", ["entry_id"])
    # Platform events that are not customer messages (agents' replies, slash commands).
    op.create_table(
        "seen_events",
        sa.Column("platform", sa.Text(), primary_key=True),
        sa.Column("event_id", sa.Text(), primary_key=True),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("seen_at", Time, nullable=False),
    )
    # The review queue of answers marked wrong; the reply is referenced without a foreign key
    # (retention may delete the conversation while the correction stays).
    op.create_table(
        "corrections",
        sa.Column("id", Id, primary_key=True),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("reply_id", Id, nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("bot_answer", sa.Text(), nullable=False),
        sa.Column("language", sa.Text()),
        sa.Column("entry_id", sa.Text()),
        sa.Column("proposed_answer", sa.Text()),
        sa.Column("proposed_by", sa.Text()),
        sa.Column("status", sa.Text(), nullable=False, server_default="pending"),
        sa.Column("decided_by", sa.Text()),
        sa.Column("decided_at", Time),
        sa.Column("created_at", Time, nullable=False),
        sa.Column("audience", sa.Text()),
        _check("source", ("agent", "rating")),
        _check("status", ("pending", "approved", "rejected")),
    )
    _partial(
        "corrections_one_pending", "corrections", ["reply_id"], "status = 'pending'", unique=True
    )
    _partial(
        "corrections_one_rating", "corrections", ["reply_id"], "source = 'rating'", unique=True
    )
    op.create_table(
        "kb_changes",
        sa.Column("id", Id, primary_key=True),
        sa.Column("entry_id", sa.Text(), nullable=False),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("changed_by", sa.Text(), nullable=False),
        sa.Column("changed_at", Time, nullable=False),
        sa.Column("old_data", sa.Text()),
        sa.Column("new_data", sa.Text(), nullable=False),
        sa.Column("correction_id", Id, sa.ForeignKey("corrections.id")),
        _check("action", ("add", "update")),
    )
    op.create_index("kb_changes_by_entry", "kb_changes", ["entry_id", "id"])


def downgrade() -> None:
    raise NotImplementedError("Ondo's schema only moves forward")
