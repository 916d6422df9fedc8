"""The one-method interface every responder implements, and what it is given."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from bot.types import Emotion, EscalationReason, Language
from knowledge.results import Match


@dataclass(frozen=True)
class Turn:
    """One earlier message of the conversation, already redacted."""

    role: Literal["customer", "bot", "agent"]
    text: str


@dataclass(frozen=True)
class ReplyRequest:
    """Everything a responder may use. ``text`` and ``history`` are already redacted.

    ``answered`` is true when ``matches[0]`` clears the shipped confidence threshold; the
    reply must then answer from it. ``handoff`` is true when this message hands the
    conversation to a person; the reply must then say so, in ``language``.
    """

    text: str
    language: Language
    emotion: Emotion
    matches: tuple[Match, ...]
    answered: bool
    handoff: bool = False
    escalation_reason: EscalationReason | None = None
    history: tuple[Turn, ...] = ()


class Responder(Protocol):
    """Turns a request into the text the customer gets."""

    async def reply(self, request: ReplyRequest) -> str:
        """Return the reply text; never raise for a well-formed request."""
        ...
