"""Hybrid retrieval that learns from the knowledge base it searches.

Three signals score every example question: an English sentence model, a multilingual one, and
Korean-aware lexical TF-IDF. An entry takes its best question per signal and the signals are
summed with weights that depend on the query's language (the English model cannot read Korean,
so it barely counts there). When the knowledge base has several example questions per entry,
a softmax classifier over both embeddings is trained on them (see :mod:`knowledge.learning`)
and its probability is blended into each entry's score. A calibrator trained on the knowledge
base's own held-out questions and on the shipped off-topic pool (:mod:`knowledge.scope`) turns
the best score, and how close the query comes to off-topic messages, into ``confidence``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache

import numpy as np
from numpy.typing import NDArray

from knowledge import learning
from knowledge.calibration import Calibrator
from knowledge.classifier import SoftmaxClassifier
from knowledge.embedders import MINILM, MINILM_BF16, Embedder, base_name
from knowledge.entries import Entry
from knowledge.learning import CLASSIFIER_SHARE
from knowledge.lexical import LexicalIndex
from knowledge.results import Match, SearchResult
from knowledge.scope import SHIPPED, OffTopic, Scope
from knowledge.vectors import Probe, Scored, VectorCache, embed_cached, single_blas_thread

ANSWER_THRESHOLD = 0.5
"""The shipped threshold, one meaning everywhere: ``confidence`` is the calibrated probability
that the best match answers the message, and below this the bot is not sure and offers a
person. The calibrator behind it is fitted per knowledge base (:mod:`knowledge.learning`) on
its held-out questions and the off-topic pool, weighted as :data:`knowledge.scope.SHIPPED`."""

_HANGUL_RE = re.compile(r"[\uac00-\ud7a3]")

# Signal weights by query language. Keys are embedder names or "lexical"; a signal that is
# not present in a retriever simply drops out.
DEFAULT_WEIGHTS: Mapping[str, Mapping[str, float]] = {
    "en": {MINILM: 0.50, MINILM_BF16: 0.50, "use-multilingual-v3": 0.30, "lexical": 0.15},
    "ko": {MINILM: 0.05, MINILM_BF16: 0.05, "use-multilingual-v3": 0.50, "lexical": 0.45},
}
FALLBACK_WEIGHT = 0.5


def query_language(text: str) -> str:
    """``ko`` if the text has Hangul syllables, else ``en`` (retrieval's own cheap check)."""
    return "ko" if _HANGUL_RE.search(text) else "en"


_SMALL_BATCH = 4


@lru_cache(maxsize=1)
def _helper() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="ondo-search")


class Retriever:
    """Searches a fixed list of entries. Build a new one when the knowledge base changes.

    ``classifier=False`` keeps retrieval to nearest neighbours (the benchmarks' baselines);
    ``calibrate=False`` skips fitting the calibrator and uses its default prior; ``scope``: how
    unanswerable questions are learned (:data:`knowledge.scope.BEFORE` is the old calibrator).
    """

    def __init__(
        self,
        entries: Sequence[Entry],
        embedders: Sequence[Embedder] = (),
        *,
        lexical: bool = True,
        cache: VectorCache | None = None,
        weights: Mapping[str, Mapping[str, float]] = DEFAULT_WEIGHTS,
        calibrate: bool = True,
        classifier: bool = True,
        scope: Scope = SHIPPED,
    ) -> None:
        self.entries = tuple(entries)
        rows: list[tuple[int, str]] = [
            (i, q) for i, e in enumerate(self.entries) for _, q in e.all_questions()
        ]
        self.row_entry = np.array([i for i, _ in rows], dtype=np.int64)
        self.row_text = [q for _, q in rows]
        self._starts = np.searchsorted(self.row_entry, np.arange(len(self.entries)))
        self._embedders = tuple(embedders)
        # Each model embeds on one thread and the lexical analyzer is native code: building
        # them side by side uses both cores of a small machine at start-up.
        with ThreadPoolExecutor(max_workers=len(self._embedders) + 1) as pool:
            dense = [pool.submit(embed_cached, e, self.row_text, cache) for e in self._embedders]
            index = pool.submit(LexicalIndex, self.row_text) if lexical and rows else None
            self._dense = [future.result() for future in dense]
            self._lexical = index.result() if index is not None else None
        # Dims × rows, contiguous: a query's similarities read the matrix in memory order,
        # twice as fast as through a transposed view.
        self._dense_t = [np.ascontiguousarray(m.T) for m in self._dense]
        self._weights = weights
        self.row_features: NDArray[np.float32] | None = (
            np.hstack(self._dense).astype(np.float32) if self._dense and rows else None
        )
        self.scope = scope
        self.off_topic: OffTopic | None = (
            OffTopic(self._embedders, cache, self._weight)
            if scope.off_topic and self._embedders and calibrate and len(self.entries) > 1
            else None
        )
        model = learning.learn(self, cache, calibrate=calibrate, classifier=classifier)
        self.classifier: SoftmaxClassifier | None = model.classifier
        self.calibrator: Calibrator = model.calibrator
        self.kept: NDArray[np.bool_] | None = (
            np.array(model.kept, dtype=bool) if model.kept is not None else None
        )
        """The off-topic messages this knowledge base does not answer (None: pool unused)."""

    @property
    def signals(self) -> tuple[str, ...]:
        """Names of the signals this retriever fuses."""
        names = tuple(e.name for e in self._embedders)
        return names + (("lexical",) if self._lexical is not None else ())

    @property
    def weights(self) -> Mapping[str, Mapping[str, float]]:
        """Signal weights by query language."""
        return self._weights

    def entry_rows(self, entry: int) -> tuple[int, int]:
        """The ``[start, end)`` range of an entry's example questions among the rows."""
        start = int(self._starts[entry])
        end = int(self._starts[entry + 1]) if entry + 1 < len(self._starts) else len(self.row_text)
        return start, end

    def _weight(self, language: str, signal: str) -> float:
        return self._weights.get(language, {}).get(base_name(signal), FALLBACK_WEIGHT)

    def probe(self, queries: Sequence[str], languages: Sequence[str]) -> Probe:
        """Embed ``queries`` once per model and score them against every row.

        The first model runs on the calling thread while a helper thread runs the others and
        the lexical index (the models release the GIL while they compute), so a query costs
        about its slowest signal rather than the sum of all.
        """

        def dense(i: int) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
            q = self._embedders[i].embed(queries)
            return q, q @ self._dense_t[i]

        def lexical() -> NDArray[np.float32]:
            assert self._lexical is not None
            return self._lexical.scores(queries)

        others = [_helper().submit(dense, i) for i in range(1, len(self._embedders))]
        lex = _helper().submit(lexical) if self._lexical is not None else None
        done = [dense(0)] if self._embedders else []
        done += [future.result() for future in others]
        signals = [(e.name, scores) for e, (_, scores) in zip(self._embedders, done, strict=True)]
        if lex is not None:
            signals.append(("lexical", lex.result()))
        features = np.hstack([q for q, _ in done]).astype(np.float32) if done else None
        return Probe(list(languages), signals, features, tuple(q for q, _ in done))

    def probe_rows(self, rows: NDArray[np.int64]) -> Probe:
        """Like :meth:`probe`, with the knowledge base's own questions at ``rows`` as queries."""
        signals: list[tuple[str, NDArray[np.float32]]] = [
            (embedder.name, matrix[rows] @ by_dim)
            for embedder, matrix, by_dim in zip(
                self._embedders, self._dense, self._dense_t, strict=True
            )
        ]
        if self._lexical is not None:
            signals.append(("lexical", self._lexical.self_scores(rows)))
        features = self.row_features[rows] if self.row_features is not None else None
        languages = [query_language(self.row_text[r]) for r in rows]
        return Probe(languages, signals, features, tuple(m[rows] for m in self._dense))

    def probe_off_topic(self) -> Probe:
        """Like :meth:`probe`, with the off-topic pool's messages (already embedded) as queries."""
        assert self.off_topic is not None
        pool = self.off_topic
        signals: list[tuple[str, NDArray[np.float32]]] = [
            (embedder.name, vectors @ by_dim)
            for embedder, vectors, by_dim in zip(
                self._embedders, pool.vectors, self._dense_t, strict=True
            )
        ]
        if self._lexical is not None:
            signals.append(("lexical", self._lexical.scores(pool.texts)))
        features = np.hstack(pool.vectors).astype(np.float32)
        return Probe(list(pool.languages), signals, features, tuple(pool.vectors))

    def row_off_topic(self, kept: NDArray[np.bool_]) -> NDArray[np.float64]:
        """Each example question's proximity to the nearest ``kept`` off-topic message."""
        if self.off_topic is None:
            return np.zeros(len(self.row_text))
        languages = [query_language(t) for t in self.row_text]
        return self.off_topic.proximity(self._dense, languages, kept)

    def off_topic_proximity(self, probe: Probe) -> NDArray[np.float64]:
        """Each probed query's proximity to the off-topic messages this base does not answer."""
        if self.off_topic is None or self.kept is None or not probe.vectors:
            return np.zeros(len(probe.languages))
        return self.off_topic.proximity(probe.vectors, probe.languages, self.kept)

    def score(self, probe: Probe, classifier: SoftmaxClassifier | None) -> Scored:
        """Fuse the signals per entry (best question per signal) and blend in the classifier."""
        n_queries = len(probe.languages)
        fused_rows = np.zeros((n_queries, len(self.row_text)))
        fused = np.zeros((n_queries, len(self.entries)))
        for name, scores in probe.signals:
            weight = np.array([self._weight(lang, name) for lang in probe.languages])[:, None]
            fused_rows += weight * scores
            fused += weight * np.maximum.reduceat(scores, self._starts, axis=1)
        if classifier is not None and probe.features is not None:
            probabilities = classifier.probabilities(probe.features)
            fused = CLASSIFIER_SHARE * probabilities + (1.0 - CLASSIFIER_SHARE) * fused
        return Scored(fused, fused_rows)

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
        with single_blas_thread(len(texts) <= _SMALL_BATCH):
            probe = self.probe(texts, langs)
            scored = self.score(probe, self.classifier)
            off_topic = self.off_topic_proximity(probe)
            return [self._result(scored, i, k, float(off_topic[i])) for i in range(len(texts))]

    def _result(self, scored: Scored, i: int, k: int, off_topic: float) -> SearchResult:
        final = scored.final[i]
        n = max(k, 2)
        if n < len(final):
            top = np.argpartition(-final, n - 1)[:n]
            top = top[np.argsort(-final[top], kind="stable")]
        else:
            top = np.argsort(-final, kind="stable")
        top1 = float(final[top[0]])
        top2 = float(final[top[1]]) if len(top) > 1 else 0.0
        matches = tuple(
            Match(self.entries[j], round(float(final[j]), 4), self._best_question(scored, i, j))
            for j in top[:k]
        )
        return SearchResult(matches, round(self.calibrator(top1, top2, off_topic), 4))

    def _best_question(self, scored: Scored, query: int, entry: int) -> str:
        """The entry's example question with the best fused score for this query."""
        start, end = self.entry_rows(entry)
        return self.row_text[start + int(np.argmax(scored.fused_rows[query, start:end]))]
