"""Running bots use knowledge changes at once, without a restart.

The knowledge base's version is read from the database (the newest ``kb_changes`` row and the
newest stored entry), so a change made by ``ondo kb review`` or ``ondo kb import`` in another
process is seen by ``ondo serve`` on its next poll, and a change made by the serving process
itself (an approval from the agents' channel) right after it is made. A rebuild runs in a
worker thread while searches keep using the previous index.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from bot.storage.interface import Store
from knowledge.base import KnowledgeBase

log = logging.getLogger("ondo.knowledge")

POLL_SECONDS = 5.0
NOTIFIED_POLL_SECONDS = 60.0
"""The fallback poll while the database notifies every change (in case one was missed)."""


async def refresh(store: Store, knowledge: KnowledgeBase) -> bool:
    """Rebuild ``knowledge`` over the files and the stored entries if the stored version
    changed since it was built; returns whether it did."""
    current = await store.knowledge_version()
    if current == knowledge.version:
        return False
    return await asyncio.to_thread(knowledge.sync, current, store.imported_entries_sync)


async def watch(
    store: Store, knowledge: KnowledgeBase, stop: asyncio.Event, interval: float = POLL_SECONDS
) -> None:
    """:func:`refresh` when another process notifies a change (a shared database), and every
    ``interval`` seconds anyway (every :data:`NOTIFIED_POLL_SECONDS` while notifications
    arrive), until ``stop`` is set; failures are logged and the current knowledge stays."""
    changed = asyncio.Event()
    listening = asyncio.Event()
    listener = asyncio.create_task(_listen(store, changed, listening, stop, interval))
    try:
        while not stop.is_set():
            try:
                await refresh(store, knowledge)
            except Exception:
                log.exception("knowledge refresh failed; answering from the previous version")
            pause = NOTIFIED_POLL_SECONDS if listening.is_set() else interval
            waits = [asyncio.create_task(changed.wait()), asyncio.create_task(stop.wait())]
            await asyncio.wait(waits, timeout=pause, return_when="FIRST_COMPLETED")
            for task in waits:
                task.cancel()
            changed.clear()
    finally:
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await listener


async def _listen(
    store: Store,
    changed: asyncio.Event,
    listening: asyncio.Event,
    stop: asyncio.Event,
    pause: float,
) -> None:
    while not stop.is_set():
        changes = store.knowledge_changes()
        if changes is None:
            return
        try:
            listening.set()
            async for _ in changes:
                changed.set()
        except Exception as exc:
            log.warning("knowledge notifications lost (%s); polling meanwhile", type(exc).__name__)
        listening.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), pause)
