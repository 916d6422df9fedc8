"""Embeddings kept between runs and compared: the cache interface, cached embedding, the
scores of a batch of queries, and running small matrix products on one thread.

Shared by :mod:`knowledge.retrieval` (which searches) and :mod:`knowledge.learning` (which
trains on what retrieval scores), so neither imports the other's internals.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from knowledge.calibration import FloatArray
from knowledge.embedders import Embedder, Vectors


class VectorCache(Protocol):
    """Where embeddings are kept between runs, keyed by model name and text hash."""

    def get_vectors(self, model: str, hashes: Sequence[str]) -> dict[str, Vectors]:
        """Return the cached vectors (1-row arrays) among ``hashes``."""
        ...

    def put_vectors(self, model: str, items: Mapping[str, Vectors]) -> None:
        """Store vectors (1-row arrays) by text hash."""
        ...


class MemoryVectorCache:
    """In-memory :class:`VectorCache` for tests and benchmarks."""

    def __init__(self) -> None:
        self._data: dict[tuple[str, str], Vectors] = {}

    def get_vectors(self, model: str, hashes: Sequence[str]) -> dict[str, Vectors]:
        """Return the known vectors among ``hashes``."""
        return {h: self._data[(model, h)] for h in hashes if (model, h) in self._data}

    def put_vectors(self, model: str, items: Mapping[str, Vectors]) -> None:
        """Remember vectors."""
        for h, v in items.items():
            self._data[(model, h)] = v


def text_hash(text: str) -> str:
    """Content hash of one text, the cache key of its embedding."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def embed_cached(embedder: Embedder, texts: Sequence[str], cache: VectorCache | None) -> Vectors:
    """Embed ``texts``, reusing and filling ``cache`` so unchanged texts are never re-embedded."""
    if not texts:
        return np.zeros((0, embedder.dim), dtype=np.float32)
    hashes = [text_hash(t) for t in texts]
    known = cache.get_vectors(embedder.name, sorted(set(hashes))) if cache else {}
    missing = sorted({h: t for h, t in zip(hashes, texts, strict=True) if h not in known}.items())
    if missing:
        vectors = embedder.embed([t for _, t in missing])
        fresh = {h: vectors[i : i + 1] for i, (h, _) in enumerate(missing)}
        if cache:
            cache.put_vectors(embedder.name, fresh)
        known = {**known, **fresh}
    return np.vstack([known[h] for h in hashes]).astype(np.float32)


@lru_cache(maxsize=1)
def _blas() -> Any:
    from threadpoolctl import ThreadpoolController  # type: ignore[import-untyped]

    return ThreadpoolController()


@contextmanager
def single_blas_thread(enabled: bool = True) -> Iterator[None]:
    """Run numpy's matrix products on one thread: for one query the products are small, and
    handing them to a second thread costs more than it saves (far more on a busy machine)."""
    if not enabled:
        yield
        return
    with _blas().limit(limits=1, user_api="blas"):
        yield


@dataclass(frozen=True)
class Scored:
    """Scores of a batch of queries against every entry."""

    final: FloatArray  # (queries, entries): what ranks entries and feeds the calibrator
    fused_rows: FloatArray  # (queries, rows): to show the question that matched best


@dataclass(frozen=True)
class Probe:
    """A batch of queries, already embedded: per-signal row similarities, classifier input,
    and each sentence model's query vectors (what the off-topic proximity reads)."""

    languages: list[str]
    signals: list[tuple[str, NDArray[np.float32]]]  # (name, (queries, rows))
    features: NDArray[np.float32] | None  # (queries, concatenated embedding dims)
    vectors: tuple[NDArray[np.float32], ...] = ()  # per embedder: (queries, its dims)
