"""Direct messages to a platform user, outside any conversation: journey DMs.

The journeys' scheduler queues an outbox row of kind ``dm`` (target = the platform user id);
the courier of the replica holding that platform posts it through the platform's
:class:`DirectMessenger`. A platform that says the user can never be messaged (they blocked
the bot, left, were deactivated) raises :class:`Undeliverable`: the user is marked so and the
row is not retried. Any other failure is transient and the courier tries again later.

A posted DM comes back as :class:`Posted`: its platform id and the key of the conversation
the customer's answer in that DM will land in, so the courier records the DM there and the
history and the handoff summary show what the bot wrote before the answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from bot.types import Language

MAX_REASON_CHARS = 200


class Undeliverable(Exception):
    """The platform refuses direct messages to this user for good."""

    def __init__(self, reason: str) -> None:
        reason = " ".join(reason.split())[:MAX_REASON_CHARS] or "undeliverable"
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Posted:
    """A posted direct message: the platform's message id and the conversation it opens."""

    message_id: str
    conversation_key: str


class DirectMessenger(Protocol):
    """Posts a direct message to one user of a platform."""

    platform: str

    async def send_dm(self, user: str, text: str, language: Language) -> Posted:
        """Post ``text`` to ``user`` (their platform id) in a DM; return the posted message's
        platform id and conversation key (as the adapter keys a reply in that DM). Raise
        :class:`Undeliverable` when the platform says the user cannot be messaged; anything
        else raised is a transient failure."""
        ...


# --- deterministic fake for tests ---------------------------------------------------------


@dataclass
class MemoryDirect:
    """A :class:`DirectMessenger` that records what it would post.

    ``refused`` maps user ids to the reason the platform would give (→ :class:`Undeliverable`);
    ``fail_next`` makes the next posts raise ``ConnectionError`` (transient)."""

    platform: str
    sent: list[tuple[str, str, Language]] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)
    fail_next: int = 0

    async def send_dm(self, user: str, text: str, language: Language) -> Posted:
        """Record the DM, or raise as scripted."""
        if user in self.refused:
            raise Undeliverable(self.refused[user])
        if self.fail_next:
            self.fail_next -= 1
            raise ConnectionError("platform unavailable")
        self.sent.append((user, text, language))
        return Posted(f"dm-{len(self.sent)}", f"{self.platform}:dm:{user}")
