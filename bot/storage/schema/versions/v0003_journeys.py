"""Customer journeys: the shop's events, its customers and their platform identities, the
scheduled sends, and the consent ledger; the outbox learns the ``dm`` kind that carries a send.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import warnings

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Time: sa.Double[float] = sa.Double()
SEND_STATES = ("pending", "sending", "sent", "suppressed", "cancelled", "undeliverable")
OUTBOX_KINDS = ("send", "relay", "note", "ticket", "dm")


def _in(column: str, values: tuple[str, ...], name: str) -> sa.CheckConstraint:
    listed = ", ".join(repr(v) for v in values)
    return sa.CheckConstraint(f"{column} IN ({listed})", name=name)


def upgrade() -> None:
    # Every event the shop sent, once per event_id (a redelivery is ignored by the unique
    # key); the payload is JSON, sealed: it may name the customer or their address.
    op.create_table(
        "journey_events",
        sa.Column("id", Id, primary_key=True),
        sa.Column("event_id", sa.Text(), nullable=False, unique=True),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("occurred_at", Time, nullable=False),
        sa.Column("customer_id", sa.Text(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("received_at", Time, nullable=False),
    )
    op.create_index("journey_events_customer", "journey_events", ["customer_id", "occurred_at"])
    op.create_index("journey_events_received", "journey_events", ["received_at"])
    # A shop customer as its last event described them. An ``id`` row number besides the
    # shop's key, as every table with sealed text has (re-encryption rewrites rows by id).
    op.create_table(
        "journey_customers",
        sa.Column("id", Id, primary_key=True),
        sa.Column("customer_id", sa.Text(), nullable=False, unique=True),
        sa.Column("name", sa.Text()),
        sa.Column("language", sa.Text()),
        sa.Column("time_zone", sa.Text()),
        sa.Column("tier", sa.Text()),
        sa.Column("updated_at", Time, nullable=False),
    )
    # Which platform user is which shop customer: one customer per platform user, several
    # platforms per customer. A user the platform refuses DMs to is marked undeliverable.
    op.create_table(
        "journey_identities",
        sa.Column("platform", sa.Text(), primary_key=True),
        sa.Column("user", sa.Text(), primary_key=True),
        sa.Column("customer_id", sa.Text(), nullable=False),
        sa.Column("linked_at", Time, nullable=False),
        sa.Column("undeliverable_at", Time),
        sa.Column("undeliverable_reason", sa.Text()),
    )
    op.create_index("journey_identities_customer", "journey_identities", ["customer_id"])
    # One row per message a journey means to send; (journey, customer, dedupe key) once.
    op.create_table(
        "journey_sends",
        sa.Column("id", Id, primary_key=True),
        sa.Column("journey", sa.Text(), nullable=False),
        sa.Column("customer_id", sa.Text(), nullable=False),
        sa.Column("trigger_event_id", sa.Text()),
        sa.Column("category", sa.Text(), nullable=False),
        sa.Column("dedupe_key", sa.Text(), nullable=False),
        sa.Column("match_value", sa.Text()),
        sa.Column("due_at", Time, nullable=False),
        sa.Column("state", sa.Text(), nullable=False, server_default="pending"),
        sa.Column("reason", sa.Text()),
        sa.Column("platform", sa.Text()),
        sa.Column("text", sa.Text()),
        sa.Column("language", sa.Text()),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.Column("deferrals", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.Column("claimed_at", Time),
        sa.Column("claimed_by", sa.Text()),
        sa.Column("sent_at", Time),
        sa.Column("outbox_id", Id),
        sa.Column("created_at", Time, nullable=False),
        sa.UniqueConstraint("journey", "customer_id", "dedupe_key", name="journey_sends_once"),
        _in("state", SEND_STATES, "journey_sends_state"),
    )
    op.create_index(
        "journey_sends_due",
        "journey_sends",
        ["due_at"],
        sqlite_where=sa.text("state IN ('pending', 'sending')"),
        postgresql_where=sa.text("state IN ('pending', 'sending')"),
    )
    op.create_index("journey_sends_customer", "journey_sends", ["customer_id", "state"])
    op.create_index("journey_sends_created", "journey_sends", ["created_at"])
    # Append-only: the customer's consent per category is the latest row; the evidence (how
    # it was given: the message, the form) is sealed.
    op.create_table(
        "journey_consent",
        sa.Column("id", Id, primary_key=True),
        sa.Column("customer_id", sa.Text(), nullable=False),
        sa.Column("category", sa.Text(), nullable=False),
        # Flags are integers 0/1, as everywhere in the schema (the same on both backends).
        sa.Column("granted", sa.Integer(), nullable=False),
        sa.Column("night", sa.Integer(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("evidence", sa.Text()),
        sa.Column("at", Time, nullable=False),
        sa.CheckConstraint("granted IN (0, 1) AND night IN (0, 1)", name="journey_consent_flags"),
    )
    op.create_index("journey_consent_latest", "journey_consent", ["customer_id", "category", "at"])
    _outbox_kinds()


def _outbox_kinds() -> None:
    """Let the outbox carry ``dm`` (a journey's direct message); the kind check of 0002 was
    unnamed, so it is replaced by a named one."""
    check = f"kind IN ({', '.join(repr(k) for k in OUTBOX_KINDS)})"
    if op.get_context().dialect.name == "postgresql":
        op.drop_constraint("outbox_kind_check", "outbox", type_="check")
        op.create_check_constraint("outbox_kind", "outbox", check)
        return
    # SQLite rewrites the table; the old unnamed check is meant to be left behind.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Unnamed CHECK constraint", UserWarning)
        with op.batch_alter_table("outbox", recreate="always") as batch:
            batch.create_check_constraint("outbox_kind", check)


def downgrade() -> None:
    raise NotImplementedError("Ondo's schema only moves forward")
