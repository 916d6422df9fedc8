"""The live knowledge base: entries from files plus imported ones, and a swappable retriever."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Sequence
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
        *,
        base: Sequence[Entry] | None = None,
    ) -> None:
        """``base``: the entries live changes are merged onto (default ``entries``)."""
        self._embedders = tuple(embedders)
        self._cache = cache
        self._base = tuple(entries if base is None else base)
        self._retriever = Retriever(entries, embedders, cache=cache)
        self._rebuilding = threading.Lock()
        self.version: object = None
        """A tag of what the entries were built from (see :meth:`sync`); ``None`` at start."""

    @classmethod
    def from_paths(
        cls,
        paths: Sequence[Path],
        embedders: Sequence[Embedder],
        cache: VectorCache | None = None,
        extra: Sequence[Entry] = (),
    ) -> KnowledgeBase:
        """Load files (then ``extra`` entries, which override same-id file entries)."""
        files = load_paths(paths)
        entries = merge(files, extra)
        log.info("knowledge base: %d entries from %s", len(entries), ", ".join(map(str, paths)))
        return cls(entries, embedders, cache, base=files)

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

    # --- live changes --------------------------------------------------------------------

    def sync(self, version: object, extra: Callable[[], Sequence[Entry]]) -> bool:
        """Rebuild over the file entries plus ``extra()`` (stored entries, which override
        same-id file entries) unless already built for ``version``; returns whether it did.

        Blocking (seconds for a new question): call it from a worker thread. The new
        retriever is swapped in at once when built; searches meanwhile keep the old one (each
        reads it once), and only changed texts are embedded again. Concurrent calls are
        serialized, so a slow older rebuild never replaces a newer one.
        """
        with self._rebuilding:
            if version == self.version:
                return False
            entries = merge(self._base, extra())
            self._retriever = Retriever(entries, self._embedders, cache=self._cache)
            self.version = version
            log.info("knowledge base rebuilt: %d entries", len(entries))
            return True


def merge(base: Sequence[Entry], extra: Sequence[Entry]) -> list[Entry]:
    """``base`` with ``extra`` added; an ``extra`` entry replaces a ``base`` one of the same id."""
    overrides = {e.id: e for e in extra}
    merged = [overrides.pop(e.id, e) for e in base]
    merged.extend(e for e in extra if e.id in overrides)
    return merged


__all__ = ["KnowledgeBase", "KnowledgeError", "merge"]
