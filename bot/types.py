"""Plain, frozen value types shared by every part of the core."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from knowledge.entries import Audience
from knowledge.language import LANGUAGES, Language

__all__ = [
    "LANGUAGES",
    "Audience",
    "Emotion",
    "EmotionLabel",
    "Escalation",
    "EscalationReason",
    "Language",
    "Message",
    "Reply",
    "Role",
    "State",
    "audience_for",
]

EmotionLabel = Literal["positive", "neutral", "disappointed", "angry"]
EscalationReason = Literal["angry", "asked_for_human", "no_answer", "sensitive"]
State = Literal["bot", "waiting_human", "human", "closed"]
Role = Literal["customer", "staff"]
"""Who asks: a ``customer`` (the default: anyone the adapter cannot prove is staff) or a
``staff`` member asking the internal handbook. Decided by the adapter from platform facts,
never from message text."""


@dataclass(frozen=True)
class Message:
    """One inbound customer (or agent) message, normalized away from its platform."""

    platform: str
    conversation_key: str
    user: str
    text: str
    timestamp: float
    message_id: str
    raw: Mapping[str, Any] = field(default_factory=dict)
    role: Role = "customer"


@dataclass(frozen=True)
class Reply:
    """One outbound message the bot wants to post in a conversation."""

    conversation_key: str
    text: str
    in_reply_to: str
    language: Language
    raw: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Emotion:
    """The customer's emotional temperature: a label and how sure/intense it is (0..1)."""

    label: EmotionLabel
    score: float


@dataclass(frozen=True)
class Escalation:
    """Whether this message hands the conversation to a human, and why."""

    escalate: bool
    reason: EscalationReason | None = None

    @classmethod
    def none(cls) -> Escalation:
        """No escalation."""
        return cls(False, None)


def audience_for(role: Role) -> Audience:
    """The knowledge ``role`` may read: ``staff`` (both audiences) or ``customers`` only."""
    return "staff" if role == "staff" else "customers"


def unhappy_review(polarity: str, rating: int | None) -> bool:
    """Whether a review is unhappy: two stars or fewer, three with negative text, or negative
    text without stars — the customer's own stars are the verdict ("5 stars, a bit slow" is
    happy). The bot answers an unhappy review with an apology and the offer of a person, and
    the journeys' figures count it as one."""
    if rating is not None:
        return rating <= 2 or (rating == 3 and polarity == "negative")
    return polarity == "negative"
