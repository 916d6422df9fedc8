"""A tiny conversation driver so engine tests read like a chat: say this, expect that."""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field

from bot.engine import Engine, Outcome
from bot.types import Message, Reply

_ids = itertools.count(1)


@dataclass
class RecordingSender:
    """A :class:`bot.engine.Sender` that records what would be posted."""

    sent: list[Reply] = field(default_factory=list)
    fail_next: int = 0

    async def send(self, reply: Reply) -> str | None:
        if self.fail_next:
            self.fail_next -= 1
            raise ConnectionError("platform unavailable")
        self.sent.append(reply)
        return f"posted-{len(self.sent)}"


@dataclass
class Chat:
    """One customer's conversation with the engine."""

    engine: Engine
    key: str = field(default_factory=lambda: f"test:conv:{next(_ids)}")
    sender: RecordingSender = field(default_factory=RecordingSender)
    platform: str = "test"

    def message(self, text: str, message_id: str | None = None) -> Message:
        return Message(
            platform=self.platform,
            conversation_key=self.key,
            user="customer-1",
            text=text,
            timestamp=time.time(),
            message_id=message_id or f"m{next(_ids)}",
        )

    async def say(self, text: str, message_id: str | None = None) -> Outcome:
        return await self.engine.handle(self.message(text, message_id), self.sender)

    async def state(self) -> str:
        return (await self.engine.store.conversation(self.key, self.platform)).state
