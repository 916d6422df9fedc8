"""Hybrid retrieval: English dense + multilingual dense + Korean-aware lexical, fused.

Each signal scores every example question; an entry takes its best question per signal, and
the signals are summed with weights that depend on the query's language (the English model
cannot read Korean, so it barely counts there). A calibrator trained on the knowledge base's
own questions turns the fused scores into ``confidence``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from knowledge.calibration import Calibrator, FloatArray, features
from knowledge.embedders import Embedder, Vectors
from knowledge.entries import Entry
from knowledge.lexical import LexicalIndex
from knowledge.results import Match, SearchResult

ANSWER_THRESHOLD = 0.5
"""The shipped threshold: at or above it the bot answers from the best match."""

_HANGUL_RE = re.compile(r"[\uac00-\ud7a3]")

# Signal weights by query language. Keys are embedder names or "lexical"; a signal that is
# not present in a retriever simply drops out.
DEFAULT_WEIGHTS: Mapping[str, Mapping[str, float]] = {
    "en": {"all-minilm-l6-v2": 0.50, "use-multilingual-v3": 0.30, "lexical": 0.15},
    "ko": {"all-minilm-l6-v2": 0.20, "use-multilingual-v3": 0.60, "lexical": 0.20},
}
FALLBACK_WEIGHT = 0.5
_CALIBRATION_ROWS = 2000
# Held-out entries stand for questions the knowledge base cannot answer; in support traffic
# those are the minority, so they weigh less than "answerable" examples.
_NEGATIVE_WEIGHT = 0.3


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


def query_language(text: str) -> str:
    """``ko`` if the text has Hangul syllables, else ``en`` (retrieval's own cheap check)."""
    return "ko" if _HANGUL_RE.search(text) else "en"


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


@dataclass(frozen=True)
class _Scored:
    fused: FloatArray  # (queries, entries)
    fused_rows: FloatArray  # (queries, rows): to show the question that matched best


class Retriever:
    """Searches a fixed list of entries. Build a new one when the knowledge base changes."""

    def __init__(
        self,
        entries: Sequence[Entry],
        embedders: Sequence[Embedder] = (),
        *,
        lexical: bool = True,
        cache: VectorCache | None = None,
        weights: Mapping[str, Mapping[str, float]] = DEFAULT_WEIGHTS,
        calibrate: bool = True,
    ) -> None:
        self.entries = tuple(entries)
        rows: list[tuple[int, str]] = [
            (i, q) for i, e in enumerate(self.entries) for _, q in e.all_questions()
        ]
        self._row_entry = np.array([i for i, _ in rows], dtype=np.int64)
        self._row_text = [q for _, q in rows]
        self._starts = np.searchsorted(self._row_entry, np.arange(len(self.entries)))
        self._embedders = tuple(embedders)
        self._dense = [embed_cached(e, self._row_text, cache) for e in self._embedders]
        self._lexical = LexicalIndex(self._row_text) if lexical and rows else None
        self._weights = weights
        self.calibrator = Calibrator.default()
        if calibrate and len(self.entries) > 1:
            self.calibrator = self._fit_calibrator()

    @property
    def signals(self) -> tuple[str, ...]:
        """Names of the signals this retriever fuses."""
        names = tuple(e.name for e in self._embedders)
        return names + (("lexical",) if self._lexical is not None else ())

    def _weight(self, language: str, signal: str) -> float:
        return self._weights.get(language, {}).get(signal, FALLBACK_WEIGHT)

    def _row_signal_scores(
        self, queries: Sequence[str], rows: NDArray[np.int64] | None = None
    ) -> list[tuple[str, NDArray[np.float32]]]:
        """Per signal, similarity of each query to each row (``rows``: queries are rows)."""
        out: list[tuple[str, NDArray[np.float32]]] = []
        for embedder, matrix in zip(self._embedders, self._dense, strict=True):
            q = matrix[rows] if rows is not None else embedder.embed(queries)
            out.append((embedder.name, q @ matrix.T))
        if self._lexical is not None:
            lex = (
                self._lexical.self_scores(rows)
                if rows is not None
                else self._lexical.scores(queries)
            )
            out.append(("lexical", lex))
        return out

    def _fuse(
        self, signal_scores: list[tuple[str, NDArray[np.float32]]], languages: Sequence[str]
    ) -> _Scored:
        n_queries = len(languages)
        weights = {
            name: np.array([self._weight(lang, name) for lang in languages])[:, None]
            for name, _ in signal_scores
        }
        fused_rows = np.zeros((n_queries, len(self._row_text)))
        fused = np.zeros((n_queries, len(self.entries)))
        for name, scores in signal_scores:
            fused_rows += weights[name] * scores
            fused += weights[name] * np.maximum.reduceat(scores, self._starts, axis=1)
        return _Scored(fused, fused_rows)

    def search(self, text: str, k: int = 5, language: str | None = None) -> SearchResult:
        """Best ``k`` entries for ``text`` with the calibrated confidence of the first."""
        return self.search_many([text], k, [language or query_language(text)])[0]

    def search_many(
        self, texts: Sequence[str], k: int = 5, languages: Sequence[str] | None = None
    ) -> list[SearchResult]:
        """Batch :meth:`search` (one embedding pass per model)."""
        if not texts:
            return []
        langs = list(languages) if languages else [query_language(t) for t in texts]
        if not self.entries:
            return [SearchResult((), 0.0) for _ in texts]
        scored = self._fuse(self._row_signal_scores(texts), langs)
        return [self._result(scored, i, k) for i in range(len(texts))]

    def _result(self, scored: _Scored, i: int, k: int) -> SearchResult:
        fused = scored.fused[i]
        top = np.argsort(-fused, kind="stable")[: max(k, 2)]
        top1 = float(fused[top[0]])
        top2 = float(fused[top[1]]) if len(top) > 1 else 0.0
        matches = tuple(
            Match(self.entries[j], round(float(fused[j]), 4), self._best_question(scored, i, j))
            for j in top[:k]
        )
        return SearchResult(matches, round(self.calibrator(top1, top2), 4))

    def _fit_calibrator(self) -> Calibrator:
        rng = np.random.default_rng(0)
        n_rows = len(self._row_text)
        rows = np.arange(n_rows)
        if n_rows > _CALIBRATION_ROWS:
            rows = np.sort(rng.choice(n_rows, _CALIBRATION_ROWS, replace=False))
        x: list[FloatArray] = []
        y: list[int] = []
        for chunk in np.array_split(rows, max(1, len(rows) // 400)):
            langs = [query_language(self._row_text[r]) for r in chunk]
            signal_scores = self._row_signal_scores([], chunk)
            own_entry = self._row_entry[chunk]
            same_entry = self._row_entry[None, :] == own_entry[:, None]
            for _, scores in signal_scores:
                # Hold the question itself out: it must not find itself.
                scores[np.arange(len(chunk)), chunk] = -1.0
            held_question = self._fuse(signal_scores, langs).fused
            for _, scores in signal_scores:
                # Hold its whole entry out: whatever comes first is wrong.
                scores[same_entry] = -1.0
            held_entry = self._fuse(signal_scores, langs).fused
            for i in range(len(chunk)):
                entry = own_entry[i]
                if self._starts_count(entry) > 1:
                    top1, top2, best = _top_two(held_question[i])
                    x.append(features(top1, top2))
                    y.append(int(best == entry))
                top1, top2, _ = _top_two(np.delete(held_entry[i], entry))
                x.append(features(top1, top2))
                y.append(0)
        labels = np.array(y)
        weight = np.where(labels == 1, 1.0, _NEGATIVE_WEIGHT)
        return Calibrator.fit(np.array(x), labels, weight)

    def _best_question(self, scored: _Scored, query: int, entry: int) -> str:
        """The entry's example question with the best fused score for this query."""
        start = int(self._starts[entry])
        end = start + self._starts_count(entry)
        return self._row_text[start + int(np.argmax(scored.fused_rows[query, start:end]))]

    def _starts_count(self, entry: int) -> int:
        end = self._starts[entry + 1] if entry + 1 < len(self._starts) else len(self._row_text)
        return int(end - self._starts[entry])


def _top_two(scores: FloatArray) -> tuple[float, float, int]:
    if len(scores) == 0:
        return 0.0, 0.0, -1
    order = np.argsort(-scores, kind="stable")[:2]
    top2 = float(scores[order[1]]) if len(order) > 1 else 0.0
    return float(scores[order[0]]), top2, int(order[0])
