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
    """:func:`refresh` every ``interval`` seconds until ``stop`` is set; failures are logged
    and the current knowledge stays in use."""
    while not stop.is_set():
        try:
            await refresh(store, knowledge)
        except Exception:
            log.exception("knowledge refresh failed; answering from the previous version")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)
