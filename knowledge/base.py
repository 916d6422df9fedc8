"""The live knowledge base: entries from files plus imported ones, and a swappable retriever."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from pathlib import Path

from knowledge.embedders import Embedder
from knowledge.entries import Entry, KnowledgeError
from knowledge.loader import load_paths
from knowledge.results import SearchResult
from knowledge.retrieval import Retriever, VectorCache

log = logging.getLogger("ondo.knowledge")


class KnowledgeBase:
    """Searchable knowledge: the loaded entries and the retriever built over them."""

    def __init__(
        self,
        entries: Sequence[Entry],
        embedders: Sequence[Embedder],
        cache: VectorCache | None = None,
    ) -> None:
        self._retriever = Retriever(entries, embedders, cache=cache)

    @classmethod
    def from_paths(
        cls,
        paths: Sequence[Path],
        embedders: Sequence[Embedder],
        cache: VectorCache | None = None,
        extra: Sequence[Entry] = (),
    ) -> KnowledgeBase:
        """Load files (then ``extra`` entries, which override same-id file entries)."""
        entries = merge(load_paths(paths), extra)
        log.info("knowledge base: %d entries from %s", len(entries), ", ".join(map(str, paths)))
        return cls(entries, embedders, cache)

    @property
    def entries(self) -> tuple[Entry, ...]:
        """The entries currently searched."""
        return self._retriever.entries

    def search_sync(self, text: str, k: int = 5, language: str | None = None) -> SearchResult:
        """Search on the calling thread."""
        return self._retriever.search(text, k, language)

    async def search(self, text: str, k: int = 5, language: str | None = None) -> SearchResult:
        """Search without blocking the event loop."""
        return await asyncio.to_thread(self._retriever.search, text, k, language)


def merge(base: Sequence[Entry], extra: Sequence[Entry]) -> list[Entry]:
    """``base`` with ``extra`` added; an ``extra`` entry replaces a ``base`` one of the same id."""
    overrides = {e.id: e for e in extra}
    merged = [overrides.pop(e.id, e) for e in base]
    merged.extend(e for e in extra if e.id in overrides)
    return merged


__all__ = ["KnowledgeBase", "KnowledgeError", "merge"]
