"""The values the store keeps and returns: plain frozen records, the same whichever database
is behind :class:`bot.storage.interface.Store`. Text in them is in clear (the store seals and
opens it); nothing here knows SQL.
"""

from __future__ import annotations

import os
import secrets
import socket
from dataclasses import dataclass
from typing import Literal

from bot.types import Language, Message, State
from bot.understanding.privacy import redact
from knowledge.entries import Audience, Entry

Source = Literal["agent", "rating"]
Status = Literal["pending", "approved", "rejected"]

KnowledgeVersion = tuple[int, int, float]
"""The stored knowledge's version: the newest change, how many entries were imported and when
the newest was; it changes whenever a process approves a correction or imports entries."""


class StoreError(RuntimeError):
    """The database cannot be opened or used; the message says which file and why."""


@dataclass(frozen=True)
class Inbound:
    """The stored row of an inbound message and whether this delivery should be processed."""

    id: int
    duplicate: bool
    process: bool
    role: str = "customer"
    """Whose message it is: ``customer`` (the conversation's owner), ``agent`` or
    ``third_party`` (someone else writing in the customer's thread)."""


@dataclass(frozen=True)
class Conversation:
    """A conversation's durable state."""

    key: str
    platform: str
    state: State
    language: str | None
    last_emotion: str | None
    misses: int
    context_since: int


@dataclass(frozen=True)
class Pending:
    """An inbound customer message that still waits for its answer."""

    id: int
    message: Message
    attempts: int


@dataclass(frozen=True)
class StoredMessage:
    """One stored message, for history and summaries."""

    id: int
    role: str
    text: str
    emotion: str | None
    intent: str | None
    created_at: float


@dataclass(frozen=True)
class Handoff:
    """One hand-over of a conversation to people."""

    id: int
    conversation_key: str
    reason: str
    summary: str
    agent: str | None
    thread_ref: str | None
    created_at: float
    taken_at: float | None
    resolved_at: float | None
    intent: str | None = None
    emotion: str | None = None
    language: str | None = None
    token: str | None = None
    """The random part of its ticket's button ids (``None`` for handoffs from before it)."""
    notice_failed_at: float | None = None
    """Set while the customer's notice could not be posted: the handoff waits, closed to
    agents, for the retry that reopens it under the same number."""
    ticket_attempts: int = 0
    """How many times posting its ticket was claimed (a second one looks first)."""


def new_token() -> str:
    """A fresh button token: 64 random bits, never guessed from the handoff's number."""
    return secrets.token_hex(8)


@dataclass(frozen=True)
class RecentActivity:
    """When a platform's newest customer message was recorded, and the conversations active
    shortly before it (most recent first): where a restarted adapter catches up."""

    last_at: float
    conversation_keys: tuple[str, ...]


@dataclass(frozen=True)
class CustomerMessage:
    """One customer message since the conversation's context was cleared (text in clear)."""

    text: str
    emotion: str | None
    entry_id: str | None
    """The knowledge entry the bot answered it from (``None``: not answered from one)."""
    language: str | None


@dataclass(frozen=True)
class ResolvedHandoff:
    """A resolved handoff: how long it took and its first agent messages (text in clear)."""

    id: int
    minutes: float
    agent_lines: tuple[str, ...]
    language: str | None


@dataclass(frozen=True)
class ReplyContext:
    """What a bot answer replied to: the customer's question and the answer (in clear)."""

    question: str
    answer: str
    language: Language
    entry_id: str | None
    audience: Audience


@dataclass(frozen=True)
class Correction:
    """One answer marked wrong, with the customer's question in clear (redact to show it)."""

    id: int
    source: Source
    reply_id: int
    question: str
    bot_answer: str
    language: Language
    entry_id: str | None
    proposed_answer: str | None
    proposed_by: str | None
    status: Status
    decided_by: str | None
    decided_at: float | None
    created_at: float
    audience: Audience = "customers"
    """Who asked: a staff question's correction proposes a staff entry."""

    @property
    def shown_question(self) -> str:
        """The customer's question with personal data redacted (for reviewers and the KB)."""
        return redact(self.question, self.language)


@dataclass(frozen=True)
class KbChange:
    """One change of the knowledge base made by an approval."""

    id: int
    entry_id: str
    action: Literal["add", "update"]
    changed_by: str
    changed_at: float
    old: Entry | None
    new: Entry
    correction_id: int | None


@dataclass(frozen=True)
class InboundRow:
    """One customer message: what the engine made of it."""

    conversation_key: str
    created_at: float
    language: str | None
    emotion: str | None
    intent: str | None
    entry_id: str | None
    answered: bool | None


@dataclass(frozen=True)
class HandoffRow:
    """One hand-over to people."""

    conversation_key: str
    reason: str
    created_at: float
    taken_at: float | None
    resolved_at: float | None


@dataclass(frozen=True)
class RatingRow:
    """One 👍 (+1) or 👎 (-1) on an answer from a knowledge entry."""

    entry_id: str
    rating: int
    created_at: float


@dataclass(frozen=True)
class UnansweredRow:
    """A customer message the bot could not answer from the knowledge base (text in clear)."""

    conversation_key: str
    text: str
    language: str
    intent: str | None
    created_at: float


@dataclass(frozen=True)
class WindowRows:
    """Everything the conversation figures are computed from, for one time window."""

    inbound: tuple[InboundRow, ...]
    handoffs: tuple[HandoffRow, ...]
    ratings: tuple[RatingRow, ...]
    unanswered: tuple[UnansweredRow, ...]
    staff_inbound: tuple[InboundRow, ...] = ()
    """Staff members' questions to the handbook, counted apart from customers'."""
    staff_unanswered: tuple[UnansweredRow, ...] = ()


HEARTBEAT_SECONDS = 2.0
"""How often a serving replica reports that it is alive."""
DEAD_AFTER_SECONDS = 10.0
"""A replica silent for this long is dead and its claims are free (generous: a busy event loop
on two cores can miss a beat or two, and taking over a live replica's claim would answer a
message twice)."""


def new_replica_id() -> str:
    """A replica id unique across hosts and restarts: host, process id and a random suffix."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


@dataclass(frozen=True)
class Replica:
    """One running ``ondo serve`` process sharing the database, as it last reported."""

    id: str
    host: str
    pid: int
    platforms: tuple[str, ...]
    shards: str
    started_at: float
    heartbeat_at: float


OutboxKind = Literal["send", "relay", "note", "ticket", "dm"]
"""What an outbox row asks of the replica holding its platform: ``send`` a reply into a
customer's conversation (``target``; ``ref`` the message it answers), ``relay`` a customer's
words into a ticket thread (``target``; ``author`` to mention), post a ``note`` in a thread,
post the ``ticket`` of handoff number ``target``, or a journey's ``dm`` to platform user
``target`` (``ref`` is ``journey:<send id>``)."""
OUTBOX_MAX_ATTEMPTS = 8
"""An outbox row that failed this often is given up (logged, kept with its error)."""


@dataclass(frozen=True)
class Post:
    """A post to queue in the outbox together with the state change it comes from (in the
    same transaction): a crash leaves both or neither."""

    platform: str
    kind: OutboxKind
    target: str
    text: str | None = None
    ref: str | None = None
    author: str | None = None
    language: str | None = None


@dataclass(frozen=True)
class Outgoing:
    """One post waiting in the outbox for a replica that holds its platform."""

    id: int
    platform: str
    kind: OutboxKind
    target: str
    ref: str | None
    author: str | None
    text: str | None
    language: str | None
    attempts: int
    created_at: float = 0.0
    """When the row was queued (an SMS ``send`` row: just after the direct attempt failed)."""
