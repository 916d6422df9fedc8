"""What a retriever learns from its own knowledge base, and the cache that makes it learn once.

Two things are learned when a knowledge base loads:

- a softmax classifier over the concatenated embeddings (class = entry), when entries have
  several example questions each (one question per entry teaches nothing nearest-neighbour
  search does not already know), and
- the calibrator that turns the best entry's score into the probability that it answers.

The calibrator needs scores for questions the model has not seen, both answerable ones (their
entry is in the knowledge base) and unanswerable ones (it is not). They come from cross-fitting:
the entries are split into folds, and so are each entry's questions; for each fold a model is
trained without that fold's entries and questions, then asked the held-out questions. Without a
classifier, leaving one question (and then its whole entry) out of nearest-neighbour search is
enough and costs no training. The other unanswerable examples are the shipped off-topic pool
(:mod:`knowledge.scope`), asked of the trained model; the pool messages this knowledge base
answers as well as its own questions are left out, and the rest are remembered with the model.

Everything learned is stored through the embedding cache under a hash of what it was learned
from (the example questions, their entries, the signals and these settings), so a restart with
an unchanged knowledge base loads it instead of training again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from knowledge import classifier as softmax
from knowledge import scope as scopes
from knowledge.calibration import Calibrator, FloatArray, features
from knowledge.classifier import SoftmaxClassifier
from knowledge.entries import Entry
from knowledge.scope import OffTopic, Scope
from knowledge.vectors import Probe, Scored, VectorCache, single_blas_thread, text_hash

CLASSIFIER_SHARE = 0.3
"""An entry's score is this much classifier probability plus the rest fused similarity."""
MODEL_VERSION = 2
"""Bump when anything that changes what is learned changes, so cached models are not reused."""
CACHE_MODEL = "ondo-learned-retrieval"
"""The ``model`` name learned weights are stored under in the :class:`VectorCache`."""

FOLDS = 3
ITERATIONS = 30
"""L-BFGS iterations per classifier; more does not help held-out accuracy."""
MAX_CLASSIFIER_CELLS = 4_000_000
"""Questions × entries above which training would take too long for a start-up; kNN only."""
ROWS_PER_FOLD = 700
"""Held-out questions scored per fold and kind (answerable, unanswerable)."""
_LOO_ROWS = 2000
_CHUNK = 400
COVERED_QUANTILE = 25.0
"""An off-topic message scoring at least this percentile of the right held-out answers is one
the knowledge base covers (it is answered like its own questions): not an unanswerable example."""


class Retriever(Protocol):
    """What learning needs of a retriever (:class:`knowledge.retrieval.Retriever`): its example
    questions and entries, and scoring them against each other."""

    @property
    def entries(self) -> tuple[Entry, ...]:
        """The entries, in row-entry order."""
        ...

    @property
    def row_entry(self) -> NDArray[np.int64]:
        """The entry index of each example question (row)."""
        ...

    @property
    def row_text(self) -> list[str]:
        """The example questions."""
        ...

    @property
    def row_features(self) -> NDArray[np.float32] | None:
        """The classifier input of each row, or None without a classifier."""
        ...

    @property
    def signals(self) -> tuple[str, ...]:
        """The names of the similarity signals."""
        ...

    @property
    def weights(self) -> Mapping[str, Mapping[str, float]]:
        """Signal weights by query language."""
        ...

    @property
    def scope(self) -> Scope:
        """How unanswerable questions are learned."""
        ...

    @property
    def off_topic(self) -> OffTopic | None:
        """The off-topic pool embedded with this retriever's models, or None without them."""
        ...

    def entry_rows(self, entry: int) -> tuple[int, int]:
        """The first and one-past-last row of ``entry``."""
        ...

    def probe_rows(self, rows: NDArray[np.int64]) -> Probe:
        """Rows ``rows`` as queries, already embedded."""
        ...

    def probe_off_topic(self) -> Probe:
        """The off-topic pool's messages as queries, already embedded."""
        ...

    def row_off_topic(self, kept: NDArray[np.bool_]) -> FloatArray:
        """Each row's proximity to the nearest ``kept`` off-topic message."""
        ...

    def score(self, probe: Probe, classifier: SoftmaxClassifier | None) -> Scored:
        """Scores of ``probe`` against every entry."""
        ...


@dataclass(frozen=True)
class Learned:
    """The classifier (if any), the calibrator, and which off-topic messages this knowledge base
    does not answer (``kept``, one flag per pool message; None when the pool is not used)."""

    classifier: SoftmaxClassifier | None
    calibrator: Calibrator
    kept: tuple[bool, ...] | None = None

    def to_vector(self) -> NDArray[np.float32]:
        """Flat float32 form for the cache: calibrator weights, pool flags, then the classifier."""
        flags = [] if self.kept is None else [float(k) for k in self.kept]
        head = [float(len(self.calibrator.weights)), *self.calibrator.weights]
        head += [float(len(flags) if self.kept is not None else -1), *flags]
        parts = [np.array(head, dtype=np.float32)]
        if self.classifier is not None:
            parts.append(self.classifier.to_vector())
        return np.concatenate(parts).astype(np.float32)

    @classmethod
    def from_vector(cls, vector: NDArray[np.float32]) -> Learned:
        """Inverse of :meth:`to_vector`."""
        flat = np.asarray(vector, dtype=np.float32).ravel()
        n = int(flat[0])
        calibrator = Calibrator(tuple(float(v) for v in flat[1 : 1 + n]))
        n_flags = int(flat[1 + n])
        start = 2 + n + max(0, n_flags)
        kept = None if n_flags < 0 else tuple(bool(v) for v in flat[2 + n : start])
        rest = flat[start:]
        classifier = SoftmaxClassifier.from_vector(rest) if len(rest) else None
        return cls(classifier, calibrator, kept)


def wants_classifier(n_rows: int, n_entries: int) -> bool:
    """Whether a classifier is worth training: several questions per entry, affordable size."""
    return n_entries >= 2 and n_rows >= 2 * n_entries and n_rows * n_entries <= MAX_CLASSIFIER_CELLS


def cache_key(retriever: Retriever, calibrate: bool, use_classifier: bool) -> str:
    """Hash of everything the learned model depends on."""
    scope = retriever.scope
    payload = {
        "version": MODEL_VERSION,
        "signals": retriever.signals,
        "weights": {k: dict(v) for k, v in retriever.weights.items()},
        "share": CLASSIFIER_SHARE,
        "c": softmax.DEFAULT_C,
        "iterations": ITERATIONS,
        "folds": FOLDS,
        "scope": [scope.negative_share, scope.off_topic_share, scope.off_topic],
        "pool": scopes.pool_hash() if _pool(retriever) is not None else None,
        "covered": COVERED_QUANTILE,
        "calibrate": calibrate,
        "classifier": use_classifier,
        "rows": [
            [int(e), text_hash(t)]
            for e, t in zip(retriever.row_entry, retriever.row_text, strict=True)
        ],
    }
    blob = json.dumps(payload, sort_keys=True).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()


def learn(
    retriever: Retriever, cache: VectorCache | None, *, calibrate: bool, classifier: bool
) -> Learned:
    """The learned model for ``retriever``'s knowledge base: from ``cache``, else trained."""
    n_rows, n_entries = len(retriever.row_text), len(retriever.entries)
    use_classifier = (
        classifier and retriever.row_features is not None and wants_classifier(n_rows, n_entries)
    )
    if not use_classifier and not (calibrate and n_entries > 1):
        return Learned(None, Calibrator.default())
    key = cache_key(retriever, calibrate, use_classifier)
    if cache is not None:
        found = cache.get_vectors(CACHE_MODEL, [key])
        if key in found:
            return Learned.from_vector(found[key])
    with single_blas_thread():
        learned = train(retriever, calibrate=calibrate, use_classifier=use_classifier)
    vector = learned.to_vector()
    if cache is not None:
        cache.put_vectors(CACHE_MODEL, {key: vector[None, :]})
    # The stored (float32) numbers, so a restart answers exactly like this run.
    return Learned.from_vector(vector)


def train(retriever: Retriever, *, calibrate: bool, use_classifier: bool) -> Learned:
    """Train the classifier (if wanted) on every question, and the calibrator on held-out ones."""
    fitted: SoftmaxClassifier | None = None
    if use_classifier:
        assert retriever.row_features is not None
        fitted = softmax.train(
            retriever.row_features,
            retriever.row_entry,
            len(retriever.entries),
            max_iterations=ITERATIONS,
        )
    if not calibrate or len(retriever.entries) < 2:
        return Learned(fitted, Calibrator.default())
    if use_classifier:
        x, y, rows = _cross_fitted(retriever)
    else:
        x, y, rows = _left_out(retriever)
    return _calibrated(retriever, fitted, x, y, rows)


def negative_share(scope: Scope, n_answerable: int, n_pool: int) -> float:
    """The unanswerable examples' total weight for a base with ``n_answerable`` answerable
    held-out examples and ``n_pool`` off-topic ones.

    A handbook of a few sections gives few answerable examples, and a fixed-size pool would
    then place the cut instead of the base's own questions: below as many answerable examples
    as pool messages, the weight moves toward the old calibrator's in proportion.
    """
    if n_pool == 0 or n_answerable >= n_pool:
        return scope.negative_share
    old = scopes.BEFORE.negative_share
    return old + (scope.negative_share - old) * n_answerable / n_pool


def _pool(retriever: Retriever) -> OffTopic | None:
    pool = retriever.off_topic if retriever.scope.off_topic else None
    return pool if pool is not None and len(pool) else None


def _calibrated(
    retriever: Retriever,
    fitted: SoftmaxClassifier | None,
    x: FloatArray,
    y: NDArray[np.int_],
    rows: NDArray[np.int64],
) -> Learned:
    """Fit the calibrator on held-out examples ``x`` (top1, top2) with labels ``y`` (1 right,
    0 wrong, -1 entry held out) of KB rows ``rows``, and on the off-topic pool if used.

    Answerable examples weigh 1 in total; the unanswerable ones ``scope.negative_share``,
    ``scope.off_topic_share`` of it on the pool's messages and the rest on held-out entries.
    """
    if len(y) == 0:
        return Learned(fitted, Calibrator.default())
    scope = retriever.scope
    pool = _pool(retriever)
    answerable = y >= 0
    n_answerable, n_held = int(answerable.sum()), int((~answerable).sum())
    proximity = np.zeros(len(y))
    kept: NDArray[np.bool_] | None = None
    pool_x = np.zeros((0, 4))
    if pool is not None:
        final = retriever.score(retriever.probe_off_topic(), fitted).final
        right = x[y == 1, 0]
        bound = float(np.percentile(right, COVERED_QUANTILE)) if len(right) else np.inf
        tops = [_top_two(row) for row in final]
        kept = np.array([top1 < bound for top1, _, _ in tops], dtype=bool)
        proximity = retriever.row_off_topic(kept)[rows]
        own = pool.self_proximity(kept)
        pool_x = np.array(
            [features(t1, t2, p) for (t1, t2, _), p, k in zip(tops, own, kept, strict=True) if k]
        ).reshape(-1, 4)
    n_pool = len(pool_x)
    pool_share = scope.off_topic_share if n_pool else 0.0
    share = negative_share(scope, n_answerable, n_pool)
    held_weight = share * (1.0 - pool_share) / max(1, n_held)
    weight = np.concatenate(
        [
            np.where(answerable, 1.0 / max(1, n_answerable), held_weight),
            np.full(n_pool, share * pool_share / max(1, n_pool)),
        ]
    )
    examples = np.vstack(
        [np.array([features(t1, t2, p) for (t1, t2), p in zip(x, proximity, strict=True)]), pool_x]
    )
    labels = np.concatenate([np.maximum(y, 0), np.zeros(n_pool, dtype=np.int64)])
    calibrator = Calibrator.fit(
        examples, labels, weight * len(labels), margin=False, off_topic=pool is not None
    )
    return Learned(fitted, calibrator, None if kept is None else tuple(bool(k) for k in kept))


def _top_two(scores: FloatArray) -> tuple[float, float, int]:
    if len(scores) == 0:
        return 0.0, 0.0, -1
    order = np.argsort(-scores, kind="stable")[:2]
    top2 = float(scores[order[1]]) if len(order) > 1 else 0.0
    return float(scores[order[0]]), top2, int(order[0])


def _cross_fitted(
    retriever: Retriever,
) -> tuple[FloatArray, NDArray[np.int_], NDArray[np.int64]]:
    """Calibration examples from models trained without the questions (and entries) they see:
    (top1, top2) per example, its label, and the row it asks.

    Labels: 1 = best entry right, 0 = wrong, -1 = the question's entry was held out (any
    answer is wrong; marked apart so the two kinds can be weighed).
    """
    assert retriever.row_features is not None
    rng = np.random.default_rng(0)
    row_entry = retriever.row_entry
    n_entries = len(retriever.entries)
    entry_fold = topic_folds(retriever, FOLDS, rng)
    question_fold = np.full(len(row_entry), -1, dtype=np.int64)
    for entry in range(n_entries):
        start, end = retriever.entry_rows(entry)
        if end - start > 1:
            question_fold[start:end] = rng.permutation(end - start) % FOLDS
    x: list[tuple[float, float]] = []
    y: list[int] = []
    asked: list[int] = []
    for fold in range(FOLDS):
        held_entry = entry_fold[row_entry] == fold
        train_rows = ~held_entry & (question_fold != fold)
        answerable = _sample(np.flatnonzero(~held_entry & (question_fold == fold)), rng)
        unanswerable = _sample(np.flatnonzero(held_entry), rng)
        if not train_rows.any() or len(np.unique(row_entry[train_rows])) < 2:
            continue
        model = softmax.train(
            retriever.row_features[train_rows],
            row_entry[train_rows],
            n_entries,
            max_iterations=ITERATIONS,
        )
        for rows, kind in ((answerable, 1), (unanswerable, -1)):
            for chunk in np.array_split(rows, max(1, len(rows) // _CHUNK)):
                if len(chunk) == 0:
                    continue
                probe = retriever.probe_rows(chunk)
                for _, scores in probe.signals:
                    scores[:, ~train_rows] = -1.0
                final = retriever.score(probe, model).final
                for i, row in enumerate(chunk):
                    top1, top2, best = _top_two(final[i])
                    x.append((top1, top2))
                    y.append(int(best == row_entry[row]) if kind == 1 else -1)
                    asked.append(int(row))
    return _arrays(x, y, asked)


def _arrays(
    x: list[tuple[float, float]], y: list[int], rows: list[int]
) -> tuple[FloatArray, NDArray[np.int_], NDArray[np.int64]]:
    return (
        np.array(x, dtype=np.float64).reshape(-1, 2),
        np.array(y, dtype=np.int64),
        np.array(rows, dtype=np.int64),
    )


def topic_folds(retriever: Retriever, folds: int, rng: np.random.Generator) -> NDArray[np.int64]:
    """Entries grouped into ``folds`` folds by topic: clusters of entries with similar questions.

    Questions a knowledge base cannot answer are mostly about topics it does not cover at all,
    not about gaps between neighbouring entries, so whole topics are held out together.
    """
    assert retriever.row_features is not None
    n_entries = len(retriever.entries)
    centroids = np.zeros((n_entries, retriever.row_features.shape[1]), dtype=np.float64)
    np.add.at(centroids, retriever.row_entry, retriever.row_features)
    centroids /= np.maximum(np.linalg.norm(centroids, axis=1, keepdims=True), 1e-9)
    k = max(folds, round(float(np.sqrt(n_entries))))
    k = min(k, n_entries)
    # Farthest-point start: each next center is the entry least like the centers so far.
    chosen = [int(rng.integers(n_entries))]
    closeness = centroids @ centroids[chosen[0]]
    for _ in range(k - 1):
        chosen.append(int(np.argmin(closeness)))
        closeness = np.maximum(closeness, centroids @ centroids[chosen[-1]])
    centers = centroids[chosen].copy()
    cluster = np.zeros(n_entries, dtype=np.int64)
    for _ in range(20):
        cluster = np.argmax(centroids @ centers.T, axis=1)
        for c in range(k):
            members = centroids[cluster == c]
            if len(members):
                center = members.sum(axis=0)
                centers[c] = center / max(float(np.linalg.norm(center)), 1e-9)
    sizes = np.bincount(cluster, minlength=k)
    fold_of_cluster = np.zeros(k, dtype=np.int64)
    load = np.zeros(folds, dtype=np.int64)
    for c in np.argsort(-sizes, kind="stable"):
        fold_of_cluster[c] = int(np.argmin(load))
        load[fold_of_cluster[c]] += sizes[c]
    return fold_of_cluster[cluster]


def _sample(rows: NDArray[np.int64], rng: np.random.Generator) -> NDArray[np.int64]:
    if len(rows) <= ROWS_PER_FOLD:
        return rows
    return np.sort(rng.choice(rows, ROWS_PER_FOLD, replace=False))


def _left_out(retriever: Retriever) -> tuple[FloatArray, NDArray[np.int_], NDArray[np.int64]]:
    """Calibration examples from nearest-neighbour search alone, leaving out one question (an
    answerable query when its entry has others) and then its whole entry (unanswerable)."""
    rng = np.random.default_rng(0)
    n_rows = len(retriever.row_text)
    rows = np.arange(n_rows)
    if n_rows > _LOO_ROWS:
        rows = np.sort(rng.choice(n_rows, _LOO_ROWS, replace=False))
    row_entry = retriever.row_entry
    x: list[tuple[float, float]] = []
    y: list[int] = []
    asked: list[int] = []
    for chunk in np.array_split(rows, max(1, len(rows) // _CHUNK)):
        probe = retriever.probe_rows(chunk)
        own_entry = row_entry[chunk]
        same_entry = row_entry[None, :] == own_entry[:, None]
        for _, scores in probe.signals:
            # Hold the question itself out: it must not find itself.
            scores[np.arange(len(chunk)), chunk] = -1.0
        held_question = retriever.score(probe, None).final
        for _, scores in probe.signals:
            # Hold its whole entry out: whatever comes first is wrong.
            scores[same_entry] = -1.0
        held_entry = retriever.score(probe, None).final
        for i in range(len(chunk)):
            entry = int(own_entry[i])
            start, end = retriever.entry_rows(entry)
            if end - start > 1:
                top1, top2, best = _top_two(held_question[i])
                x.append((top1, top2))
                y.append(int(best == entry))
                asked.append(int(chunk[i]))
            top1, top2, _ = _top_two(np.delete(held_entry[i], entry))
            x.append((top1, top2))
            y.append(-1)
            asked.append(int(chunk[i]))
    return _arrays(x, y, asked)
