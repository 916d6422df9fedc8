"""What the retriever learns from its knowledge base: the classifier, its cache, the calibrator."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pytest

from bot.storage.sqlite import SQLiteStore
from knowledge import classifier as softmax
from knowledge import learning
from knowledge.calibration import Calibrator, features
from knowledge.classifier import SoftmaxClassifier
from knowledge.embedders import Embedder, HashEmbedder, Vectors
from knowledge.entries import Entry
from knowledge.retrieval import ANSWER_THRESHOLD, Retriever
from knowledge.vectors import MemoryVectorCache
from tests.test_retrieval import KB, faq


def clusters(n_classes: int, per_class: int, dim: int = 16, seed: int = 0) -> tuple:
    """Well separated Gaussian blobs on the unit sphere."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(n_classes, dim))
    x = np.repeat(centers, per_class, axis=0) + 0.2 * rng.normal(size=(n_classes * per_class, dim))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    labels = np.repeat(np.arange(n_classes), per_class)
    return x.astype(np.float32), labels.astype(np.int64)


class CountingCache(MemoryVectorCache):
    """A memory cache that counts what was stored under the learned-model name."""

    def __init__(self) -> None:
        super().__init__()
        self.learned_puts = 0

    def put_vectors(self, model: str, items: Mapping[str, Vectors]) -> None:
        if model == learning.CACHE_MODEL:
            self.learned_puts += 1
        super().put_vectors(model, items)


@pytest.fixture
def trainings(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts classifier trainings (the final model and each cross-fitting fold)."""
    calls: list[int] = []
    real = softmax.train

    def counted(*args: object, **kwargs: object) -> SoftmaxClassifier:
        calls.append(1)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(softmax, "train", counted)
    return calls


def build(embedders: Sequence[Embedder], entries: Sequence[Entry] = KB, **kw: object) -> Retriever:
    kw.setdefault("lexical", False)  # Korean lexical features load kiwipiepy (seconds)
    return Retriever(entries, embedders, **kw)  # type: ignore[arg-type]


# --- the classifier ------------------------------------------------------------------------


def test_classifier_learns_separable_classes() -> None:
    x, labels = clusters(4, 12)
    model = softmax.train(x, labels, 4)
    probabilities = model.probabilities(x)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    assert (probabilities.argmax(axis=1) == labels).all()
    assert probabilities.max(axis=1).min() > 0.5


def test_classifier_never_predicts_a_class_without_examples() -> None:
    x, labels = clusters(3, 10)
    model = softmax.train(x, labels, 5)  # classes 3 and 4 have no example
    probabilities = model.probabilities(x)
    assert probabilities[:, 3:].max() < 1e-6


def test_classifier_round_trips_through_a_vector() -> None:
    x, labels = clusters(3, 5)
    model = softmax.train(x, labels, 3)
    again = SoftmaxClassifier.from_vector(model.to_vector())
    assert (again.n_features, again.n_classes) == (16, 3)
    np.testing.assert_array_equal(again.logits(x), model.logits(x))


def test_learned_round_trips_through_a_vector() -> None:
    x, labels = clusters(3, 5)
    with_model = learning.Learned(softmax.train(x, labels, 3), Calibrator((9.0, 0.0, -4.5)))
    again = learning.Learned.from_vector(with_model.to_vector())
    assert again.calibrator == with_model.calibrator
    assert again.classifier is not None and with_model.classifier is not None
    np.testing.assert_array_equal(again.classifier.weights, with_model.classifier.weights)
    without = learning.Learned(None, Calibrator.default())
    assert learning.Learned.from_vector(without.to_vector()) == without


@pytest.mark.parametrize(
    ("rows", "entries", "wanted"),
    [(30, 5, True), (9, 5, False), (10, 1, False), (15_000, 150, True), (10_000, 10_000, False)],
)
def test_classifier_only_when_entries_have_several_questions(
    rows: int, entries: int, wanted: bool
) -> None:
    assert learning.wants_classifier(rows, entries) is wanted


# --- the retriever learns from its knowledge base -------------------------------------------


def test_retriever_trains_a_classifier_over_its_entries(
    fake_embedders: Sequence[Embedder],
) -> None:
    built = build(fake_embedders)
    assert built.classifier is not None
    assert built.classifier.n_classes == len(KB)
    assert built.classifier.n_features == sum(e.dim for e in fake_embedders)
    for entry in KB:
        for _, question in entry.all_questions():
            best = built.search(question).best
            assert best is not None and best.entry.id == entry.id


def test_nearest_neighbour_only_when_asked(fake_embedders: Sequence[Embedder]) -> None:
    assert build(fake_embedders, classifier=False).classifier is None
    assert build((), lexical=True).classifier is None  # no embeddings to classify


def test_second_build_loads_the_learned_model(
    fake_embedders: Sequence[Embedder], trainings: list[int]
) -> None:
    cache = CountingCache()
    first = build(fake_embedders, cache=cache)
    assert len(trainings) == 1 + learning.FOLDS
    assert cache.learned_puts == 1
    trainings.clear()
    second = build(fake_embedders, cache=cache)
    assert trainings == []
    assert cache.learned_puts == 1
    assert second.calibrator == first.calibrator
    assert first.classifier is not None and second.classifier is not None
    np.testing.assert_array_equal(second.classifier.weights, first.classifier.weights)
    for query in ("환불 어떻게 해요", "when will my parcel arrive?"):
        assert second.search(query) == first.search(query)


def test_changed_knowledge_base_retrains(
    fake_embedders: Sequence[Embedder], trainings: list[int]
) -> None:
    cache = CountingCache()
    build(fake_embedders, cache=cache)
    trainings.clear()
    edited = [*KB[:-1], faq("cancel-order", ["주문 취소 요청", "취소할래요"], ["cancel it now"])]
    rebuilt = build(fake_embedders, edited, cache=cache)
    assert len(trainings) == 1 + learning.FOLDS
    assert cache.learned_puts == 2
    best = rebuilt.search("cancel it now").best
    assert best is not None and best.entry.id == "cancel-order"


def test_store_keeps_the_learned_model(
    store: SQLiteStore, fake_embedders: Sequence[Embedder], trainings: list[int]
) -> None:
    first = build(fake_embedders, cache=store)
    trainings.clear()
    second = build(fake_embedders, cache=store)
    assert trainings == []
    for query in ("환불은 어떻게 신청하나요?", "reset password", "화성의 날씨"):
        assert second.search(query) == first.search(query)


def test_cache_key_depends_on_questions_signals_and_settings(
    fake_embedders: Sequence[Embedder],
) -> None:
    built = build(fake_embedders)
    key = learning.cache_key(built, calibrate=True, use_classifier=True)
    assert key == learning.cache_key(build(fake_embedders), True, True)
    assert key != learning.cache_key(built, calibrate=False, use_classifier=True)
    assert key != learning.cache_key(build(fake_embedders[:1]), True, True)
    moved = [KB[1], KB[0], *KB[2:]]  # same questions, other entries
    assert key != learning.cache_key(build(fake_embedders, moved), True, True)


@pytest.mark.parametrize("entries", [[], KB[:1]])
def test_empty_and_one_entry_knowledge_bases(
    fake_embedders: Sequence[Embedder], entries: list[Entry], trainings: list[int]
) -> None:
    built = build(fake_embedders, entries, lexical=True)
    assert built.classifier is None
    assert built.calibrator == Calibrator.default()
    assert trainings == []
    result = built.search("환불해 주세요")
    assert len(result.matches) == len(entries)
    assert 0.0 <= result.confidence <= 1.0


def test_one_question_per_entry_needs_no_classifier(fake_embedders: Sequence[Embedder]) -> None:
    single = [
        Entry(e.id, e.category, {"en": e.questions["en"][:1]}, {"en": e.answer["en"]}) for e in KB
    ]
    built = build(fake_embedders, single)
    assert built.classifier is None
    best = built.search(single[2].questions["en"][0]).best
    assert best is not None and best.entry.id == single[2].id


# --- calibration -----------------------------------------------------------------------------


def test_learned_confidence_separates_known_from_unrelated(
    fake_embedders: Sequence[Embedder],
) -> None:
    built = build(fake_embedders)
    for question in ("How do I request a refund?", "비밀번호를 잊어버렸어요"):
        assert built.search(question).confidence >= ANSWER_THRESHOLD
    for unrelated in ("zebra quantum xylophone", "화성 여행 패키지"):
        assert built.search(unrelated).confidence < ANSWER_THRESHOLD


def test_learned_calibrator_never_decreases_with_the_score(
    fake_embedders: Sequence[Embedder],
) -> None:
    calibrator = build(fake_embedders).calibrator
    assert all(w >= 0 for w in calibrator.weights[:2])
    grid = np.linspace(0.0, 1.0, 21)
    for gap in (0.0, 0.1, 0.3):
        values = [calibrator(top1, max(0.0, top1 - gap)) for top1 in grid]
        assert values == sorted(values)


def test_calibrator_drops_a_feature_that_would_lower_confidence() -> None:
    rng = np.random.default_rng(1)
    top1 = rng.random(200)
    right = (top1 + 0.1 * rng.normal(size=200) > 0.5).astype(int)
    # The margin is made anti-correlated with being right: it must not get a negative weight.
    margin = np.where(right == 1, 0.05, 0.3) + 0.02 * rng.random(200)
    x = np.array([features(t, t - m) for t, m in zip(top1, margin, strict=True)])
    calibrator = Calibrator.fit(x, right)
    assert calibrator.weights[0] > 0
    assert calibrator.weights[1] == 0.0
    assert calibrator(0.9, 0.5) > calibrator(0.3, 0.1)


def test_calibrator_without_margin_ignores_the_runner_up() -> None:
    rng = np.random.default_rng(2)
    top1 = rng.random(100)
    right = (top1 > 0.5).astype(int)
    x = np.array([features(t, t * rng.random()) for t in top1])
    calibrator = Calibrator.fit(x, right, margin=False)
    assert calibrator.weights[1] == 0.0
    assert calibrator(0.8, 0.79) == calibrator(0.8, 0.0)


def test_topic_folds_keep_similar_entries_together() -> None:
    # Two topics of three entries each: entries of one topic share most of their words.
    words = {"refund": ["refund money back", "refund card"], "ship": ["ship parcel", "courier"]}
    entries = [
        Entry(
            f"{topic}-{i}",
            topic,
            {"en": tuple(f"{w} {topic} {i}" for w in base)},
            {"en": "a"},
        )
        for topic, base in words.items()
        for i in range(3)
    ]
    built = build([HashEmbedder("all-minilm-l6-v2", 128)], entries, classifier=False)
    folds = learning.topic_folds(built, 2, np.random.default_rng(0))
    assert len(set(folds[:3])) == 1
    assert len(set(folds[3:])) == 1
    assert folds[0] != folds[3]
