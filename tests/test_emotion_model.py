"""TrainedEmotionDetector: the shipped weights, clear cases, the combination rules, bad input."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import numpy as np
import pytest

from bench.train_emotion import RECIPES, Heads, Vectorizer, save_weights
from bot.conversation.escalation import decide
from bot.types import Emotion, EmotionLabel, Escalation, Language
from bot.understanding.emotion import (
    ANGER_THRESHOLD,
    CueEmotionDetector,
    CuePoints,
    cue_points,
    escalates,
)
from bot.understanding.emotion_model import (
    FEATURE_VERSION,
    LABELS,
    MANIFEST,
    MODELS_DIR,
    LinearModel,
    TrainedEmotionDetector,
    combine,
    default_detector,
    plain_request,
)

DETECTOR = default_detector()
MANIFEST_DATA = json.loads((MODELS_DIR / MANIFEST).read_text(encoding="utf-8"))


def test_the_shipped_files_load_without_pickle_and_match_the_manifest() -> None:
    total = (MODELS_DIR / MANIFEST).stat().st_size
    for language in ("en", "ko"):
        entry = MANIFEST_DATA["languages"][language]
        path = MODELS_DIR / entry["weights"]
        total += path.stat().st_size
        assert hashlib.sha256(path.read_bytes()).hexdigest() == entry["sha256"]
        with np.load(path, allow_pickle=False) as data:
            assert set(data.files) == {"words", "chars", "idf", "weights", "bias"}
            assert all(data[name].dtype != object for name in data.files)
            vocabulary = entry["vocabulary"]
            assert data["weights"].shape == (vocabulary["words"] + vocabulary["chars"], 5)
    assert total < 4_000_000


def test_the_manifest_matches_the_code() -> None:
    assert MANIFEST_DATA["feature_version"] == FEATURE_VERSION
    assert MANIFEST_DATA["labels"] == list(LABELS)
    assert MANIFEST_DATA["anger_threshold"] == ANGER_THRESHOLD
    assert set(MANIFEST_DATA["languages"]) == {"en", "ko"}
    for language in ("en", "ko"):
        calibration = MANIFEST_DATA["languages"][language]["calibration"]
        assert {"temperature", "min_probability", "anger_evidence"} <= set(calibration)
        chosen = [
            r
            for r in calibration["held_out_grid"]
            if r["min_probability"] == (calibration["min_probability"])
        ]
        assert len(chosen) == 1  # the minimum is one of the grid's, chosen on held-out rows


def test_the_threshold_is_the_chosen_one() -> None:
    # Chosen from held-out precision/recall in both languages (bench/README.md).
    assert ANGER_THRESHOLD == 0.5


CLEAR: list[tuple[str, Language, EmotionLabel]] = [
    ("이거 진짜 최악이네요 당장 환불해 주세요!!", "ko", "angry"),
    ("환불 언제 해주는데 진짜 장난하냐", "ko", "angry"),
    ("아 진짜 열받네 돈은 빠져나갔는데 주문은 없다고???", "ko", "angry"),
    ("정말 감사합니다 덕분에 해결됐어요", "ko", "positive"),
    ("상담원분 너무 친절하셨어요 최고!", "ko", "positive"),
    ("빠른 배송 감사해요 😊", "ko", "positive"),
    ("배송이 늦어서 좀 아쉽네요", "ko", "disappointed"),
    ("선물로 샀는데 깨져서 와서 속상해요 ㅠㅠ", "ko", "disappointed"),
    ("안 좋아요", "ko", "disappointed"),
    ("주문 내역은 어디서 보나요?", "ko", "neutral"),
    ("환불 요청하려면 어떻게 해야 하나요?", "ko", "neutral"),
    ("배송지 변경 가능한가요?", "ko", "neutral"),
    ("영수증 발급해 주세요", "ko", "neutral"),
    ("This is the worst service ever, refund me right now!!", "en", "angry"),
    ("I am furious, nobody answers my emails", "en", "angry"),
    ("What the hell is wrong with you people?!", "en", "angry"),
    ("Thank you so much, that solved it!", "en", "positive"),
    ("Great service, thanks!", "en", "positive"),
    ("I love the jacket, it fits perfectly", "en", "positive"),
    ("The delivery was late, a bit disappointing", "en", "disappointed"),
    ("Sadly the mug arrived broken :(", "en", "disappointed"),
    ("not happy at all", "en", "disappointed"),
    ("Where can I see my order history?", "en", "neutral"),
    ("How do I return an item?", "en", "neutral"),
    ("I'd like to change my delivery address", "en", "neutral"),
    ("I'm not angry", "en", "neutral"),
]


@pytest.mark.parametrize(("text", "language", "label"), CLEAR)
def test_clear_messages(text: str, language: Language, label: EmotionLabel) -> None:
    emotion = DETECTOR.detect(text, language)
    assert emotion.label == label
    assert 0.0 <= emotion.score <= 1.0
    assert escalates(emotion) == (label == "angry")


@pytest.mark.parametrize(
    ("text", "language", "expected"),
    [
        ("이거 진짜 최악이네요 당장 환불해 주세요!!", "ko", Escalation(True, "angry")),
        ("THIS IS THE WORST SERVICE EVER!!!", "en", Escalation(True, "angry")),
        ("I am furious", "en", Escalation(True, "angry")),
        ("환불 요청하려면 어떻게 해야 하나요?", "ko", Escalation.none()),
        ("Where can I track my order?", "en", Escalation.none()),
        ("상담원 바꿔주세요", "ko", Escalation(True, "asked_for_human")),
    ],
)
def test_decide_with_the_trained_detector(
    text: str, language: Language, expected: Escalation
) -> None:
    emotion = DETECTOR.detect(text, language)
    assert decide(text, emotion, answered=True, consecutive_misses=0) == expected


def test_the_model_reads_anger_the_lexicon_misses() -> None:
    text = "일주일째 연락도 없고 환불도 안 해주네"  # no anger word at all
    assert CueEmotionDetector().detect(text, "ko").label == "neutral"
    assert escalates(DETECTOR.detect(text, "ko"))


def test_what_the_lexicon_escalated_still_escalates() -> None:
    cue = CueEmotionDetector()
    for text, language in [
        ("Your support is useless and incompetent", "en"),
        ("Fix this NOW or I'm never shopping here again", "en"),
        ("씨발 배송 언제 오냐고", "ko"),
    ]:
        assert escalates(cue.detect(text, language))
        assert escalates(DETECTOR.detect(text, language))


def test_weak_anger_is_labelled_but_does_not_escalate() -> None:
    emotion = DETECTOR.detect("I'm a bit annoyed", "en")
    assert emotion.label == "angry"
    assert not escalates(emotion)


@pytest.mark.parametrize(
    ("text", "language", "plain"),
    [
        ("환불 요청하려면 어떻게 해야 하나요?", "ko", True),
        ("주문 취소하고 싶어요", "ko", True),
        ("교환 절차 알려주세요", "ko", True),
        ("Where can I track my order?", "en", True),
        ("I'd like to cancel my order please", "en", True),
        ("도대체 언제 와요?", "ko", False),  # an intensifier is a cue of its own
        ("환불 언제 해주는데 진짜 장난하냐", "ko", False),
        ("Why is this so slow??", "en", False),
        ("The parcel arrived today", "en", False),  # a statement, not a request
    ],
)
def test_plain_requests(text: str, language: Language, plain: bool) -> None:
    assert plain_request(text, cue_points(text), language) is plain


NEUTRAL_FOUR = [0.1, 0.7, 0.1, 0.1]
ANGRY_FOUR = [0.05, 0.15, 0.1, 0.7]


def test_combine_plain_request_is_neutral_whatever_the_model_says() -> None:
    assert combine(0.99, ANGRY_FOUR, CuePoints(), plain=True) == Emotion("neutral", 0.9)


def test_combine_a_cue_verdict_of_anger_keeps_its_escalation() -> None:
    emotion = combine(0.01, NEUTRAL_FOUR, CuePoints(anger=1.0), plain=False)
    assert emotion == Emotion("angry", 0.632)
    assert escalates(emotion)


def test_combine_the_model_alone_escalates_at_the_threshold() -> None:
    assert combine(ANGER_THRESHOLD, NEUTRAL_FOUR, CuePoints(), plain=False) == Emotion(
        "angry", ANGER_THRESHOLD
    )
    below = combine(ANGER_THRESHOLD - 0.01, ANGRY_FOUR, CuePoints(), plain=False)
    assert below.label == "angry" and not escalates(below)


def test_combine_a_stronger_positive_cue_beats_the_model() -> None:
    emotion = combine(0.6, ANGRY_FOUR, CuePoints(positive=2.0), plain=False)
    assert emotion.label == "positive"


def test_combine_negated_anger_words_do_not_escalate() -> None:
    emotion = combine(0.9, ANGRY_FOUR, CuePoints(negated_anger=0.8), plain=False)
    assert emotion.label == "neutral"


@pytest.mark.parametrize(
    "text",
    ["", "   ", "\n\t", "😀😀😀", "🙏", "!!!", "???", "\x00", "ㅋ" * 3, "[PHONE] [EMAIL]"],
)
@pytest.mark.parametrize("language", ["ko", "en"])
def test_bad_input_does_not_crash(text: str, language: Language) -> None:
    emotion = DETECTOR.detect(text, language)
    assert emotion.label in LABELS
    assert 0.0 <= emotion.score <= 1.0
    assert not escalates(emotion)


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("이거 진짜 최악이네요 당장 환불해 주세요!! " * 400, "ko"),
        ("This is the worst service ever!!! " * 300, "en"),
        ("x" * 10_000, "en"),
        ("가" * 10_000, "ko"),
        ("😡" * 10_000, "en"),
    ],
)
def test_ten_thousand_characters(text: str, language: Language) -> None:
    start = time.perf_counter()
    emotion = DETECTOR.detect(text, language)
    assert time.perf_counter() - start < 1.0  # ~15 ms on 2 cores; the bound only catches blowups
    assert emotion.label in LABELS
    assert 0.0 <= emotion.score <= 1.0


def test_the_language_argument_picks_the_model_without_crashing() -> None:
    languages: tuple[Language, ...] = ("ko", "en")
    for text in ("배송이 늦어서 좀 아쉽네요", "The delivery was late", "주문 order 어디?"):
        for language in languages:
            assert DETECTOR.detect(text, language).label in LABELS


def test_detection_is_deterministic() -> None:
    again = TrainedEmotionDetector.load()
    for text, language, _ in CLEAR:
        assert DETECTOR.read(text, language) == again.read(text, language)


def test_runtime_features_match_training_and_saving_is_deterministic(tmp_path: Path) -> None:
    texts = ["I love it!!!", "worst service EVER", "where is my order?", "I love love it", "ok"]
    recipe = RECIPES["en"]
    vectorizer = Vectorizer(recipe, texts * 2)  # every n-gram reaches the min_df of 2
    rng = np.random.default_rng(0)
    weights = rng.normal(size=(vectorizer.size, 5)).astype(np.float16).astype(np.float32)
    heads = Heads(weights, rng.normal(size=5).astype(np.float32))
    digest = save_weights(tmp_path / "a.npz", vectorizer, heads)
    assert save_weights(tmp_path / "b.npz", vectorizer, heads) == digest
    linear = LinearModel.load(tmp_path / "a.npz", recipe.spec, recipe.char_weight)
    probes = [*texts, "never seen words", ""]
    expected = heads.scores(vectorizer.transform(probes))
    for text, row in zip(probes, expected, strict=True):
        np.testing.assert_allclose(linear.scores(text), row, rtol=1e-5, atol=1e-5)
