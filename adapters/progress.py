"""How many platform events an adapter has fully handled (tests and health checks wait on it)."""

from __future__ import annotations

import asyncio


class CountsCompletions:
    """Mixin: ``completed`` counts handled events; :meth:`wait_completed` waits for a count."""

    completed: int = 0
    _done: asyncio.Condition | None = None

    def _condition(self) -> asyncio.Condition:
        if self._done is None:
            self._done = asyncio.Condition()
        return self._done

    async def _finished(self) -> None:
        done = self._condition()
        async with done:
            self.completed += 1
            done.notify_all()

    async def wait_completed(self, count: int, timeout: float = 10.0) -> None:
        """Wait until ``count`` events (messages, clicks, commands) have been fully handled."""
        done = self._condition()
        async with asyncio.timeout(timeout), done:
            await done.wait_for(lambda: self.completed >= count)
