"""A tiny conversation driver so engine tests read like a chat: say this, expect that."""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field

from bot.conversation.engine import Engine, Outcome
from bot.conversation.routing import MemorySender
from bot.types import Message

_ids = itertools.count(1)


@dataclass
class Chat:
    """One customer's conversation with the engine."""

    engine: Engine
    key: str = field(default_factory=lambda: f"test:conv:{next(_ids)}")
    sender: MemorySender = field(default_factory=MemorySender)
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
