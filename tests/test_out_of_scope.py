"""Out of scope: the shipped off-topic pool, what each knowledge base learns from it, and the
"do not know" it gives greetings, chit-chat and other errands (ko and en)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

import numpy as np
import pytest

from bot.app import Runtime
from knowledge import learning, scope
from knowledge.calibration import Calibrator
from knowledge.embedders import Embedder, HashEmbedder, Vectors
from knowledge.entries import Entry
from knowledge.retrieval import ANSWER_THRESHOLD, Retriever
from knowledge.scope import BEFORE, SHIPPED, Scope, off_topic_messages
from knowledge.vectors import MemoryVectorCache
from tests.test_retrieval import KB, faq


class Recording(HashEmbedder):
    """A hashed-trigram embedder that remembers every text it embedded."""

    def __init__(self, name: str) -> None:
        super().__init__(name, 128)
        self.seen: list[str] = []

    def embed(self, texts: Sequence[str]) -> Vectors:
        self.seen += list(texts)
        return super().embed(texts)


class CountingCache(MemoryVectorCache):
    """Counts how often a learned model was stored."""

    def __init__(self) -> None:
        super().__init__()
        self.learned_puts = 0

    def put_vectors(self, model: str, items: Mapping[str, Vectors]) -> None:
        if model == learning.CACHE_MODEL:
            self.learned_puts += 1
        super().put_vectors(model, items)


def build(embedders: Sequence[Embedder], entries: Sequence[Entry] = KB, **kw: object) -> Retriever:
    kw.setdefault("lexical", False)  # Korean lexical features load kiwipiepy (seconds)
    return Retriever(entries, embedders, **kw)  # type: ignore[arg-type]


# --- the pool ----------------------------------------------------------------------------------


def test_pool_has_both_languages_and_no_comments_or_duplicates() -> None:
    pool = off_topic_messages()
    languages = {lang for lang, _ in pool}
    assert languages == {"en", "ko"}
    for language in languages:
        assert sum(lang == language for lang, _ in pool) >= 100
    for language in languages:
        texts = [text for lang, text in pool if lang == language]
        assert len(set(texts)) == len(texts), language
    texts = [text for _, text in pool]
    assert all(text and not text.startswith("#") and text == text.strip() for text in texts)


def test_pool_hash_is_stable() -> None:
    assert scope.pool_hash() == scope.pool_hash()
    assert len(scope.pool_hash()) == 64


# --- what a knowledge base learns ------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "ㅋㅋㅋㅋㅋㅋ",
        "안녕하세요!!",
        "너 혹시 로봇이야?",
        "오늘 날씨 어때요?",
        "hello?? anyone there",
        "are you a bot?",
        "what's the weather like today",
        "tell me a joke please",
    ],
)
def test_off_topic_messages_are_below_the_threshold(
    fake_embedders: Sequence[Embedder], query: str
) -> None:
    result = build(fake_embedders).search(query)
    assert result.confidence < ANSWER_THRESHOLD, (query, result.confidence)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("환불 어떻게 신청해요?", "refund-how"),
        ("비밀번호 잊어버림", "account-password"),
        ("주문 취소 하고싶어요", "cancel-order"),
        ("how can I request a refund", "refund-how"),
        ("forgot my password!!", "account-password"),
        ("I'd like to cancel my order", "cancel-order"),
    ],
)
def test_paraphrases_stay_above_the_threshold(
    fake_embedders: Sequence[Embedder], query: str, expected: str
) -> None:
    result = build(fake_embedders).search(query)
    assert result.best is not None and result.best.entry.id == expected
    assert result.confidence >= ANSWER_THRESHOLD, (query, result.confidence)


def test_off_topic_proximity_never_raises_confidence(fake_embedders: Sequence[Embedder]) -> None:
    built = build(fake_embedders)
    weights = built.calibrator.weights
    assert len(weights) == 4 and weights[2] <= 0.0 and weights[0] > 0.0
    assert built.calibrator(0.6, 0.3, 0.9) <= built.calibrator(0.6, 0.3, 0.1)


def test_pool_messages_the_base_answers_are_not_learned_as_unanswerable(
    fake_embedders: Sequence[Embedder],
) -> None:
    greetings = faq(
        "contact-greeting",
        ["안녕하세요", "안녕", "하이"],
        ["hello", "hi", "hey there", "good morning"],
    )
    built = build(fake_embedders, [*KB, greetings])
    assert built.kept is not None
    texts = [text for _, text in off_topic_messages()]
    for covered in ("hello", "hi", "안녕하세요"):
        assert not built.kept[texts.index(covered)], covered
    assert built.kept.sum() > len(texts) // 2
    for query in ("hello", "안녕하세요"):
        result = built.search(query)
        assert result.best is not None and result.best.entry.id == "contact-greeting"
        assert result.confidence >= ANSWER_THRESHOLD, (query, result.confidence)


def test_before_scope_is_the_old_calibrator(fake_embedders: Sequence[Embedder]) -> None:
    built = build(fake_embedders, scope=BEFORE)
    assert built.off_topic is None and built.kept is None
    assert built.calibrator.weights[2] == 0.0
    assert build(fake_embedders).kept is not None


def test_scope_settings_are_part_of_the_cache_key(fake_embedders: Sequence[Embedder]) -> None:
    shipped = build(fake_embedders)
    key = learning.cache_key(shipped, calibrate=True, use_classifier=True)
    before = build(fake_embedders, scope=BEFORE)
    assert key != learning.cache_key(before, calibrate=True, use_classifier=True)
    other = build(fake_embedders, scope=Scope(negative_share=0.3))
    assert key != learning.cache_key(other, calibrate=True, use_classifier=True)
    assert Scope() == SHIPPED


def test_pool_and_learned_flags_are_cached_and_reused() -> None:
    cache = CountingCache()
    first_models = [Recording("all-minilm-l6-v2"), Recording("use-multilingual-v3")]
    first = build(first_models, cache=cache)
    pool = {text for _, text in off_topic_messages()}
    assert pool <= set(first_models[0].seen)
    assert cache.learned_puts == 1
    again_models = [Recording("all-minilm-l6-v2"), Recording("use-multilingual-v3")]
    again = build(again_models, cache=cache)
    assert again_models[0].seen == [] and again_models[1].seen == []
    assert cache.learned_puts == 1
    assert again.calibrator == first.calibrator
    assert first.kept is not None and again.kept is not None
    np.testing.assert_array_equal(again.kept, first.kept)
    for query in ("ㅋㅋㅋㅋ", "are you a bot?", "환불 어떻게 해요"):
        assert again.search(query) == first.search(query)


def test_learned_round_trips_with_pool_flags() -> None:
    kept = (True, False, True)
    learned = learning.Learned(None, Calibrator((9.0, 0.0, -3.0, -4.0)), kept)
    assert learning.Learned.from_vector(learned.to_vector()) == learned
    none = learning.Learned(None, Calibrator.default(), None)
    assert learning.Learned.from_vector(none.to_vector()) == none


def test_lexical_only_and_tiny_bases_use_no_pool(fake_embedders: Sequence[Embedder]) -> None:
    assert build((), lexical=True).off_topic is None
    tiny = build(fake_embedders, KB[:1])
    assert tiny.off_topic is None and tiny.calibrator == Calibrator.default()
    assert 0.0 <= tiny.search("ㅋㅋㅋ").confidence <= 1.0


# --- the real models on the bundled sample shop ------------------------------------------------


@pytest.fixture(scope="module")
def shop(sample_runtime_factory: object) -> Runtime:
    """The sample shop with the real models, built once for this module."""
    build_runtime = sample_runtime_factory
    assert callable(build_runtime)
    runtime: Runtime = build_runtime()
    return runtime


@pytest.mark.parametrize(
    "text",
    ["ㅋㅋㅋㅋㅋㅋ", "혹시 챗봇이세요?", "lol ok", "do you like cats?"],
)
def test_sample_shop_does_not_answer_chit_chat(shop: Runtime, text: str) -> None:
    analysis = asyncio.run(shop.engine.analyze(text))
    assert not analysis.answered, (text, analysis.confidence)


@pytest.mark.parametrize(
    ("text", "entry"),
    [
        ("환불 신청은 어디서 하나요?", "refund-how-to"),
        ("비밀번호를 잊어버렸는데 어떻게 바꿔요?", "account-password-reset"),
        ("How do I get my money back for an order?", "refund-how-to"),
        ("I forgot my password, how can I reset it?", "account-password-reset"),
    ],
)
def test_sample_shop_still_answers_its_questions(shop: Runtime, text: str, entry: str) -> None:
    analysis = asyncio.run(shop.engine.analyze(text))
    assert analysis.matches[0].entry.id == entry
    assert analysis.answered, (text, analysis.confidence)
