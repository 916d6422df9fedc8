"""Hybrid retrieval with deterministic fake embedders, the embedding cache, and calibration."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from bot.storage.sqlite import SQLiteStore
from knowledge.calibration import Calibrator, features
from knowledge.embedders import Embedder, HashEmbedder, Vectors
from knowledge.entries import Entry
from knowledge.results import SearchResult
from knowledge.retrieval import ANSWER_THRESHOLD, Retriever, query_language
from knowledge.vectors import MemoryVectorCache, embed_cached, text_hash


def faq(entry_id: str, ko: Sequence[str], en: Sequence[str]) -> Entry:
    return Entry(
        id=entry_id,
        category=entry_id.split("-")[0],
        questions={"ko": tuple(ko), "en": tuple(en)},
        answer={"ko": f"{entry_id} 답변", "en": f"{entry_id} answer"},
    )


KB: list[Entry] = [
    faq(
        "refund-how",
        ["환불은 어떻게 신청하나요?", "환불 방법 알려주세요", "돈 돌려받고 싶어요"],
        ["How do I request a refund?", "refund process", "I want my money back"],
    ),
    faq(
        "shipping-time",
        ["배송은 얼마나 걸려요?", "택배 언제 와요", "배송 기간이 궁금해요"],
        ["How long does shipping take?", "when will my parcel arrive", "delivery time"],
    ),
    faq(
        "account-password",
        ["비밀번호를 잊어버렸어요", "비밀번호 재설정 방법", "로그인이 안 돼요"],
        ["I forgot my password", "reset password", "I can't log in"],
    ),
    faq(
        "promotion-coupon",
        ["쿠폰은 어디서 받아요?", "할인 쿠폰 사용법", "쿠폰 코드 입력"],
        ["Where can I get a coupon?", "how to use a discount coupon", "enter coupon code"],
    ),
    faq(
        "cancel-order",
        ["주문 취소하고 싶어요", "주문을 취소하려면 어떻게 하나요?", "결제 취소 방법"],
        ["I want to cancel my order", "how do I cancel an order", "cancel payment"],
    ),
]


class RecordingEmbedder(HashEmbedder):
    """A HashEmbedder that remembers every batch it was asked to embed."""

    def __init__(self, name: str = "use-multilingual-v3", dim: int = 64) -> None:
        super().__init__(name, dim)
        self.batches: list[list[str]] = []

    def embed(self, texts: Sequence[str]) -> Vectors:
        self.batches.append(list(texts))
        return super().embed(texts)


def retriever(
    embedders: Sequence[Embedder], entries: Sequence[Entry] = KB, **kw: object
) -> Retriever:
    kw.setdefault("lexical", False)  # Korean lexical features load kiwipiepy (seconds)
    return Retriever(entries, embedders, **kw)  # type: ignore[arg-type]


def entry_questions(entry: Entry) -> set[str]:
    return {q for _, q in entry.all_questions()}


# --- finding entries -------------------------------------------------------------------------


EXACT = [(q, e.id) for e in KB for _, q in e.all_questions()]


@pytest.mark.parametrize(("query", "expected"), EXACT)
def test_exact_question_finds_its_entry(
    fake_embedders: Sequence[Embedder], query: str, expected: str
) -> None:
    result = retriever(fake_embedders).search(query)
    assert result.best is not None
    assert result.best.entry.id == expected
    assert result.best.question == query


NEAR = [
    ("환불 어떻게 신청해요?", "refund-how"),
    ("배송 얼마나 걸리나요", "shipping-time"),
    ("비밀번호 잊어버림", "account-password"),
    ("쿠폰 어디서 받나요", "promotion-coupon"),
    ("주문 취소 하고싶어요", "cancel-order"),
    ("how can I request a refund", "refund-how"),
    ("how long will shipping take?", "shipping-time"),
    ("forgot my password!!", "account-password"),
    ("where do I get coupons", "promotion-coupon"),
    ("I'd like to cancel my order", "cancel-order"),
]


@pytest.mark.parametrize(("query", "expected"), NEAR)
def test_near_question_finds_its_entry(
    fake_embedders: Sequence[Embedder], query: str, expected: str
) -> None:
    result = retriever(fake_embedders).search(query)
    assert result.best is not None
    assert result.best.entry.id == expected
    # The shown question is one of the entry's own, in the query's language.
    assert result.best.question in result.best.entry.questions[query_language(query)]


@pytest.mark.parametrize(
    ("query", "expected"),
    [("How long does shipping take?", "shipping-time"), ("refund process", "refund-how")],
)
def test_with_lexical_signal_in_english(
    fake_embedders: Sequence[Embedder], query: str, expected: str
) -> None:
    english = [
        Entry(e.id, e.category, {"en": e.questions["en"]}, {"en": e.answer["en"]}) for e in KB
    ]
    built = retriever(fake_embedders, english, lexical=True)
    assert built.signals == ("all-minilm-l6-v2", "use-multilingual-v3", "lexical")
    result = built.search(query)
    assert result.best is not None
    assert result.best.entry.id == expected


@pytest.mark.parametrize(
    ("exact", "unrelated"),
    [
        ("환불은 어떻게 신청하나요?", "화성의 날씨는 오늘 어떤가요"),
        ("How do I request a refund?", "What is the weather like on Mars today"),
    ],
)
def test_confidence_is_a_probability_and_ranks_exact_above_unrelated(
    fake_embedders: Sequence[Embedder], exact: str, unrelated: str
) -> None:
    built = retriever(fake_embedders)
    sure, unsure = built.search(exact), built.search(unrelated)
    for result in (sure, unsure):
        assert 0.0 <= result.confidence <= 1.0
    assert sure.confidence >= ANSWER_THRESHOLD
    assert sure.confidence > unsure.confidence
    assert sure.confidence - unsure.confidence > 0.3
    assert sure.matches[0].score > unsure.matches[0].score


@pytest.mark.parametrize("query", ["환불 방법 알려주세요", "reset password", "택배 언제", "coupon"])
def test_every_match_question_belongs_to_its_entry(
    fake_embedders: Sequence[Embedder], query: str
) -> None:
    result = retriever(fake_embedders).search(query, k=5)
    assert len(result.matches) == 5
    assert len({m.entry.id for m in result.matches}) == 5
    scores = [m.score for m in result.matches]
    assert scores == sorted(scores, reverse=True)
    for match in result.matches:
        assert match.question in entry_questions(match.entry)


def test_k_limits_matches(fake_embedders: Sequence[Embedder]) -> None:
    assert len(retriever(fake_embedders).search("환불", k=2).matches) == 2
    assert len(retriever(fake_embedders).search("refund", k=1).matches) == 1


def test_empty_knowledge_base(fake_embedders: Sequence[Embedder]) -> None:
    built = retriever(fake_embedders, [], lexical=True)
    for query in ("환불해 주세요", "refund please"):
        assert built.search(query) == SearchResult((), 0.0)
    assert built.search_many([]) == []


def test_search_many_equals_search_one_by_one(fake_embedders: Sequence[Embedder]) -> None:
    built = retriever(fake_embedders)
    queries = [
        "환불 어떻게 해요",
        "when will my parcel arrive?",
        "쿠폰 코드",
        "I forgot my password",
    ]
    assert built.search_many(queries, k=3) == [built.search(q, k=3) for q in queries]


@pytest.mark.parametrize(("text", "language"), [("배송 언제 와요", "ko"), ("Where is it?", "en")])
def test_query_language(text: str, language: str) -> None:
    assert query_language(text) == language


# --- embedding cache -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "texts", [["환불 방법", "배송 기간", "환불 방법"], ["refund", "shipping", "refund"]]
)
def test_embed_cached_reuses_unchanged_texts(texts: list[str]) -> None:
    embedder, cache = RecordingEmbedder(), MemoryVectorCache()
    first = embed_cached(embedder, texts, cache)
    assert embedder.calls == 1
    assert sorted(embedder.batches[0]) == sorted(set(texts))  # each distinct text once
    np.testing.assert_array_equal(first, embedder.embed(texts))
    embedder.batches.clear()
    embedder.calls = 0
    again = embed_cached(embedder, texts, cache)
    assert embedder.calls == 0
    np.testing.assert_array_equal(again, first)
    edited = [*texts[:-1], texts[-1] + "!"]
    embed_cached(embedder, edited, cache)
    assert embedder.batches == [[texts[-1] + "!"]]


def test_embed_cached_without_cache_and_empty() -> None:
    embedder = RecordingEmbedder(dim=16)
    assert embed_cached(embedder, [], None).shape == (0, 16)
    assert embedder.calls == 0
    vectors = embed_cached(embedder, ["환불", "refund"], None)
    assert vectors.shape == (2, 16)
    assert vectors.dtype == np.float32


def test_retriever_reembeds_only_changed_questions() -> None:
    cache = MemoryVectorCache()
    first = RecordingEmbedder()
    retriever([first], cache=cache)
    assert first.calls == 2  # the example questions, then the off-topic pool (knowledge.scope)
    second = RecordingEmbedder()
    retriever([second], cache=cache)
    assert second.calls == 0
    edited = [*KB[:-1], faq("cancel-order", ["주문 취소 요청"], ["cancel my order now"])]
    third = RecordingEmbedder()
    built = retriever([third], edited, cache=cache)
    assert third.batches == [sorted(["주문 취소 요청", "cancel my order now"], key=text_hash)]
    assert built.search("주문 취소 요청").matches[0].entry.id == "cancel-order"


def test_store_works_as_the_vector_cache(store: SQLiteStore) -> None:
    first = RecordingEmbedder()
    built = retriever([first], cache=store)
    assert first.calls == 2  # the example questions and the off-topic pool
    second = RecordingEmbedder()
    rebuilt = retriever([second], cache=store)
    assert second.calls == 0
    for query in ("환불은 어떻게 신청하나요?", "reset password"):
        assert rebuilt.search(query) == built.search(query)


# --- calibration -----------------------------------------------------------------------------


def separable() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    right = [features(0.8 + 0.15 * rng.random(), 0.3 + 0.1 * rng.random()) for _ in range(40)]
    wrong = [features(0.2 + 0.15 * rng.random(), 0.15 + 0.1 * rng.random()) for _ in range(40)]
    return np.array(right + wrong), np.array([1] * 40 + [0] * 40)


def test_calibrator_fit_on_separable_data() -> None:
    x, y = separable()
    calibrator = Calibrator.fit(x, y)
    assert calibrator != Calibrator.default()
    assert calibrator(0.9, 0.5) > 0.95
    assert calibrator(0.25, 0.2) < 0.05
    assert 0.0 <= calibrator(-5.0, 5.0) <= 1.0


@pytest.mark.parametrize(
    "labels", [np.ones(20, dtype=int), np.zeros(20, dtype=int), np.array([0, 1, 0, 1, 0])]
)
def test_calibrator_falls_back_to_default(labels: np.ndarray) -> None:
    x = np.array([features(0.5, 0.1)] * len(labels))
    assert Calibrator.fit(x, labels) == Calibrator.default()


def test_default_calibrator_prior() -> None:
    default = Calibrator.default()
    assert default(1.0, 0.5) > 0.99
    assert default(0.1, 0.05) < 0.02
    assert default(0.0, 0.0) < 0.01


def test_single_entry_uses_default_calibrator(fake_embedders: Sequence[Embedder]) -> None:
    built = retriever(fake_embedders, KB[:1])
    assert built.calibrator == Calibrator.default()
    assert len(built.search("환불").matches) == 1
