"""The live knowledge base: entries from files plus imported ones, and a swappable retriever."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from knowledge.audience import StaffText, visible_to
from knowledge.embedders import Embedder
from knowledge.entries import Audience, Entry, KnowledgeError
from knowledge.loader import load_paths
from knowledge.results import SearchResult
from knowledge.retrieval import Retriever
from knowledge.vectors import VectorCache

log = logging.getLogger("ondo.knowledge")


class Views:
    """The retrievers over one list of entries: customers' entries, and staff-only ones.

    A customer searches the first alone, so a staff entry is never scored for them and the
    confidence is calibrated on what customers can get. Staff search both, each calibrated
    on its own entries, and get the more confident answer: a handbook of a few long sections
    is not outvoted by an FAQ of many example questions.
    """

    def __init__(
        self, entries: Sequence[Entry], embedders: Sequence[Embedder], cache: VectorCache | None
    ) -> None:
        self.entries = tuple(entries)
        self.customers = Retriever(visible_to("customers", entries), embedders, cache=cache)
        staff_only = [e for e in entries if e.audience == "staff"]
        self.staff_only = Retriever(staff_only, embedders, cache=cache) if staff_only else None
        self.staff_text = StaffText(entries)

    def for_audience(self, audience: Audience) -> tuple[Entry, ...]:
        """The entries a reader of ``audience`` may see."""
        return self.entries if audience == "staff" else self.customers.entries

    def search(self, text: str, k: int, language: str | None, audience: Audience) -> SearchResult:
        """Search what ``audience`` may see (blocking)."""
        result = self.customers.search(text, k, language)
        if audience != "staff" or self.staff_only is None:
            return result
        internal = self.staff_only.search(text, k, language)
        return internal if internal.confidence >= result.confidence else result


class KnowledgeBase:
    """Searchable knowledge: the loaded entries and one retriever per audience over them.

    Every search names its audience; ``customers`` is the default, so a caller that forgets
    fails closed.
    """

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
        self._views = Views(entries, embedders, cache)
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
        staff = sum(e.audience == "staff" for e in entries)
        log.info(
            "knowledge base: %d entries (%d for customers, %d for staff only) from %s",
            len(entries),
            len(entries) - staff,
            staff,
            ", ".join(map(str, paths)),
        )
        return cls(entries, embedders, cache, base=files)

    @property
    def embedders(self) -> tuple[Embedder, ...]:
        """The sentence models the entries are searched with (shared with other readers of
        text, so a process loads each once)."""
        return self._embedders

    @property
    def entries(self) -> tuple[Entry, ...]:
        """Every entry currently searched, of both audiences."""
        return self._views.entries

    def entries_for(self, audience: Audience) -> tuple[Entry, ...]:
        """The entries a reader of ``audience`` may see."""
        return self._views.for_audience(audience)

    @property
    def staff_text(self) -> StaffText:
        """The staff text that must never reach a customer."""
        return self._views.staff_text

    def search_sync(
        self,
        text: str,
        k: int = 5,
        language: str | None = None,
        *,
        audience: Audience = "customers",
    ) -> SearchResult:
        """Search the entries ``audience`` may see, on the calling thread."""
        return self._views.search(text, k, language, audience)

    async def search(
        self,
        text: str,
        k: int = 5,
        language: str | None = None,
        *,
        audience: Audience = "customers",
    ) -> SearchResult:
        """Search the entries ``audience`` may see, without blocking the event loop."""
        return await asyncio.to_thread(self._views.search, text, k, language, audience)

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
            self._views = Views(entries, self._embedders, self._cache)
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
