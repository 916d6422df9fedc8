"""Shared pieces: run configuration, loaded models, progress output, timing helpers."""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from knowledge.embedders import Embedder, Vectors

_START = time.perf_counter()


def progress(message: str) -> None:
    """One progress line on stderr, stamped with the seconds since start."""
    print(f"[{time.perf_counter() - _START:7.1f}s] {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Config:
    """Sizes of one run; :meth:`quick` subsamples everything for a smoke test."""

    data: Path
    quick: bool = False
    queries: int | None = None
    """Cap on evaluation queries per retrieval benchmark (None: all)."""
    clinc_train_per_intent: int | None = None
    """Cap on CLINC150 train questions per intent (None: all 100)."""
    banking_train: int | None = None
    """Cap on BANKING77 train questions for the full-train row (None: all 10,003)."""
    emotion_train: int | None = None
    """Cap on emotion training rows (None: all)."""
    emotion_test: int | None = None
    """Cap on emotion test rows (None: all)."""
    latency_messages: int = 300
    big_kb_entries: int = 10_000
    big_kb_searches: int = 200

    @classmethod
    def full(cls, data: Path) -> Config:
        """The protocol of docs/benchmarks.md."""
        return cls(data=data)

    @classmethod
    def quick_run(cls, data: Path) -> Config:
        """Small subsamples, about two minutes on 2 cores; figures are not comparable."""
        return cls(
            data=data,
            quick=True,
            queries=200,
            clinc_train_per_intent=5,
            banking_train=1000,
            emotion_train=1000,
            emotion_test=500,
            latency_messages=30,
            big_kb_entries=1000,
            big_kb_searches=30,
        )


@dataclass
class Models:
    """The two sentence models, loaded once per run, and how long loading took."""

    minilm: Embedder
    use: Embedder
    load_seconds: dict[str, float] = field(default_factory=dict)

    @property
    def both(self) -> tuple[Embedder, Embedder]:
        """Both embedders, in the order the product loads them."""
        return (self.minilm, self.use)


def load_models() -> Models:
    """Load MiniLM and USE (forcing USE's lazy load with one embedding) and time each."""
    from knowledge.embedders import MiniLMEmbedder, USEEmbedder

    start = time.perf_counter()
    minilm = MiniLMEmbedder()
    minilm.embed(["warm up"])
    minilm_s = time.perf_counter() - start
    start = time.perf_counter()
    use = USEEmbedder()
    use.embed(["warm up"])
    use_s = time.perf_counter() - start
    return Models(minilm, use, {minilm.name: minilm_s, use.name: use_s})


class MemoEmbedder:
    """Wraps an embedder and remembers every text's vector.

    Used only by the accuracy benchmarks, where the shipped retriever and a dense-only
    baseline embed the same queries: results are identical, the second pass is free.
    Never used for timing.
    """

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.name = inner.name
        self.dim = inner.dim
        self._memo: dict[str, Vectors] = {}

    def embed(self, texts: Sequence[str]) -> Vectors:
        """Embed the texts not seen before, return all rows in order."""
        missing = list(dict.fromkeys(t for t in texts if t not in self._memo))
        if missing:
            vectors = self.inner.embed(missing)
            self._memo.update(zip(missing, vectors, strict=True))
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self._memo[t] for t in texts]).astype(np.float32)


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) of ``values``."""
    return float(np.percentile(np.asarray(values, dtype=np.float64), q))


def median(values: Sequence[float]) -> float:
    """The median of ``values``."""
    return float(statistics.median(values))
