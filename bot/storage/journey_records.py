"""The plain values customer journeys store and read back (``store.journeys``): events, shop
customers and their platform identities, scheduled sends, consent and the figures.

Kept apart from :mod:`bot.storage.records`: journeys are their own concern. Text comes and goes
in clear; the store seals names, payloads, message text and consent evidence at rest.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

SendState = Literal["pending", "sending", "sent", "suppressed", "cancelled", "undeliverable"]
"""A scheduled send's life: ``pending`` until due, ``sending`` while one replica decides it
(claimed, nothing posted yet), then one of the final states."""
FinalState = Literal["sent", "suppressed", "cancelled", "undeliverable"]
"""Where a claimed send ends (:meth:`bot.storage.journey_interface.Journeys.finish`)."""
SEND_STATES: tuple[SendState, ...] = (
    "pending",
    "sending",
    "sent",
    "suppressed",
    "cancelled",
    "undeliverable",
)
FINAL_STATES: tuple[FinalState, ...] = ("sent", "suppressed", "cancelled", "undeliverable")
SEND_LEASE_SECONDS = 60.0
"""A claimed send whose replica neither finished nor deferred it may be claimed again after this
(at once when that replica is dead): nothing was posted for it, see ``finish``."""
SEND_MAX_CLAIMS = 5
"""A send claimed this often without a decision (it crashes whoever takes it) is given up as
``undeliverable`` with reason ``stuck``, instead of being taken forever."""
MAX_PAYLOAD_BYTES = 64 * 1024
"""The largest event payload stored (as JSON, UTF-8)."""
MAX_ID_CHARS = 200
"""The longest event id, customer id, journey name, category or dedupe key accepted."""


def send_of_ref(ref: str | None) -> int | None:
    """The send a DM's outbox ``ref`` names (``journey:<send id>[:<category>]``, see
    :func:`bot.conversation.direct.journey_ref`), or ``None``."""
    prefix, _, rest = (ref or "").partition(":")
    number = rest.partition(":")[0]
    ok = prefix == "journey" and number.isascii() and number.isdigit()
    return int(number) if ok else None


class JourneyStoreError(ValueError):
    """A value given to ``store.journeys`` cannot be stored (empty, too long, malformed); the
    message says which and why, in one line."""


@dataclass(frozen=True)
class JourneyEvent:
    """One event from the shop, as stored (once per ``event_id``)."""

    event_id: str
    type: str
    occurred_at: float
    customer_id: str
    payload: Mapping[str, Any]
    received_at: float


@dataclass(frozen=True)
class Identity:
    """A platform user linked to a shop customer."""

    platform: str
    user: str
    customer_id: str
    linked_at: float
    undeliverable_at: float | None = None
    undeliverable_reason: str | None = None


@dataclass(frozen=True)
class Customer:
    """A shop customer as their latest event (or ``ondo journey link``) described them."""

    customer_id: str
    name: str | None
    language: str | None
    time_zone: str | None
    tier: str | None
    updated_at: float
    identities: tuple[Identity, ...] = ()


@dataclass(frozen=True)
class ScheduledSend:
    """One message a journey means to send a customer, and where it stands."""

    id: int
    journey: str
    customer_id: str
    trigger_event_id: str | None
    category: str
    dedupe_key: str
    match_value: str | None
    due_at: float
    state: SendState
    reason: str | None
    platform: str | None
    text: str | None
    language: str | None
    attempts: int
    deferrals: int
    claimed_at: float | None
    claimed_by: str | None
    sent_at: float | None
    outbox_id: int | None
    created_at: float


@dataclass(frozen=True)
class Attention:
    """What the conversations of a customer's platform identities say at send time: whether
    a person is (or is about to be) on them, and when the customer was last angry."""

    handoff_open: bool = False
    """A handoff not yet resolved, or a conversation waiting for a person."""
    human_active: bool = False
    """A person has one of the conversations (state ``human``)."""
    last_anger_at: float | None = None
    """When the customer last wrote a message read as ``angry``, on any linked identity."""
    last_seen: Mapping[tuple[str, str], float] = field(default_factory=dict)
    """``(platform, user)`` → when that identity last wrote to us (where the customer is)."""


@dataclass(frozen=True)
class Consent:
    """One entry of the consent ledger: what the customer said for one category, and how."""

    customer_id: str
    category: str
    granted: bool
    night: bool
    """Consent to messages at night (21:00–08:00 their time), asked separately."""
    source: str
    """How it was given: ``webhook``, ``cli``, ``opt-out message``, ``button`` …"""
    evidence: str | None
    """What proves it (the customer's words, a form's reference), sealed at rest."""
    at: float


@dataclass(frozen=True)
class JourneyStats:
    """One journey's sends created in a window, by outcome."""

    journey: str
    scheduled: int
    pending: int
    sent: int
    cancelled: int
    undeliverable: int
    deferred: int
    """How many times a send was put off (quiet hours and the like), not a count of sends."""
    suppressed: Mapping[str, int] = field(default_factory=dict)
    """Suppressed sends by reason (``consent``, ``cap``, ``handoff``, ``anger`` …)."""
