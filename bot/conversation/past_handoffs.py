"""What a handoff is given from the past: the customer's turns so far and how similar
handoffs were resolved, redacted here (the store returns them in clear)."""

from __future__ import annotations

from dataclasses import dataclass

from bot.storage.interface import Store
from bot.texts import shorten
from bot.types import Language
from bot.understanding.privacy import redact

MAX_TURNS = 200
"""The customer messages a summary looks at (the whole conversation, in practice)."""


@dataclass(frozen=True)
class CustomerTurn:
    """One customer message since the conversation's context was last cleared, redacted."""

    text: str
    emotion: str | None
    entry_id: str | None
    """The knowledge entry the bot answered it from (``None``: not answered from one)."""


@dataclass(frozen=True)
class PastHandoff:
    """A resolved handoff with the same intent: what agents wrote and how long it took."""

    id: int
    minutes: float
    agent_lines: tuple[str, ...]


async def customer_turns(store: Store, key: str, language: Language) -> list[CustomerTurn]:
    """The customer's messages of conversation ``key`` since its context was cleared, oldest
    first, redacted (in each message's own language, else ``language``)."""
    turns = []
    for message in await store.customer_messages(key, MAX_TURNS):
        own: Language = message.language if message.language in ("ko", "en") else language  # type: ignore[assignment]
        turns.append(CustomerTurn(redact(message.text, own), message.emotion, message.entry_id))
    return turns


async def similar_resolved(
    store: Store,
    intent: str,
    *,
    language: Language,
    limit: int = 3,
    lines_each: int = 2,
    clip: int = 140,
) -> list[PastHandoff]:
    """The latest ``limit`` resolved handoffs with ``intent``, each with its first
    ``lines_each`` agent messages (redacted, clipped to ``clip`` characters)."""
    found = []
    for past in await store.resolved_handoffs(intent, limit=limit, lines_each=lines_each):
        own: Language = past.language if past.language in ("ko", "en") else language  # type: ignore[assignment]
        lines = tuple(shorten(redact(line, own), clip) for line in past.agent_lines)
        found.append(PastHandoff(past.id, past.minutes, lines))
    return found
