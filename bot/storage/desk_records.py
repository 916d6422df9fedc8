"""The plain values the help desk stores and reads back (``store.desk``): agents on duty,
tickets with their owner and clocks, the reminders posted, and satisfaction ratings.

Kept apart from :mod:`bot.storage.records`: the desk is its own concern. Times are epoch
seconds; a CSAT comment comes and goes in clear (the store seals it at rest).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ReminderKind = Literal[
    "first_80", "first_breach", "resolution_80", "resolution_breach", "stale", "unassigned"
]
"""The reminders a ticket gets, each at most once (:meth:`DeskRecords.claim_reminder`)."""
REMINDER_KINDS: tuple[ReminderKind, ...] = (
    "first_80",
    "first_breach",
    "resolution_80",
    "resolution_breach",
    "stale",
    "unassigned",
)
STALE = "stale"
"""The ``closed_reason`` of a handoff closed because the customer stopped answering."""
CSAT_COMMENT_MAX_CHARS = 2000
"""The longest CSAT comment stored; a longer one is cut (and says so)."""


@dataclass(frozen=True)
class DutyAgent:
    """An on-duty agent of a desk platform, with what assignment policy needs: the number of
    open tickets they own and when the desk last assigned them one (``None``: never)."""

    platform: str
    agent: str
    load: int
    last_assigned_at: float | None
    changed_at: float


@dataclass(frozen=True)
class DeskTicket:
    """An open handoff as the desk's ticker sees it: owner, clocks and the reminders of it
    already posted (``sent``)."""

    id: int
    conversation_key: str
    reason: str
    language: str | None
    thread_ref: str | None
    agent: str | None
    assignee: str | None
    created_at: float
    assigned_at: float | None
    first_response_at: float | None
    first_due_at: float | None
    resolution_due_at: float | None
    waiting_since: float | None
    sent: frozenset[str]


@dataclass(frozen=True)
class Csat:
    """One handoff's satisfaction question and its answer (``score`` ``None`` until answered;
    ``comment`` opened, or ``None`` when there is none or it was not asked for)."""

    handoff_id: int
    agent: str | None
    conversation_key: str
    platform: str
    intent: str | None
    reason: str | None
    language: str | None
    asked_at: float
    score: int | None
    comment: str | None
    answered_at: float | None
    retries: int


@dataclass(frozen=True)
class SlaRow:
    """One handoff's clocks for the insights report (times in epoch seconds)."""

    handoff_id: int
    reason: str
    intent: str | None
    language: str | None
    agent: str | None
    assignee: str | None
    created_at: float
    first_response_at: float | None
    resolved_at: float | None
    first_due_at: float | None
    resolution_due_at: float | None
    closed_reason: str | None
