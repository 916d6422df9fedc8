"""The Korean review polarity model: clear cases per polarity and language, and how it ships.

The cases are written for this file: none is in the benchmark's hand-written review set
(tests/data/ko_reviews.yaml) or in the training supplement of bench/train_polarity.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest

from bot.insights.polarity import (
    KOREAN_MODEL,
    MODEL_CLASSES,
    EmotionReviewPolarity,
    PolarityModel,
    ReviewPolarity,
    char_features,
    default_model,
    morpheme_features,
    normalize_review,
    praised,
    review_features,
)

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def polarity() -> ReviewPolarity:
    return ReviewPolarity()


KOREAN = [
    ("positive", "색감이 예쁘고 마감이 훌륭해요. 만족합니다"),
    ("positive", "음식이 정말 맛있고 직원분들도 친절했어요"),
    ("positive", "빠른 배송 감사합니다! 정말 만족해요."),
    ("negative", "포장 상태가 엉망이었어요."),
    ("negative", "배송이 2주나 걸렸고 연락도 없었어요"),
    ("negative", "한 번 쓰고 고장 났어요. 최악입니다"),
    ("neutral", "사이즈는 라지로 주문했습니다"),
    ("neutral", "내일 오후에 받을 예정이에요"),
    ("neutral", "주문번호는 문자로 받았어요"),
]
GENRE = [
    # Sad or scary words about the film or book, praise as the verdict.
    ("positive", "울면서 봤는데 보고 나니 마음이 꽉 찬 느낌이에요. 정말 추천해요"),
    ("positive", "무서워서 소리 지르면서 봤어요 ㅋㅋ 공포영화 팬이라면 필수"),
    ("positive", "너무 슬픈 소설이지만 읽기를 잘했어요. 최고의 책"),
    ("positive", "소름 끼치게 무서운 스릴러, 완전 재밌어요"),
    # The same kind of words with a complaint as the verdict.
    ("negative", "하나도 안 무섭고 지루한 공포영화였어요"),
    # The issue's own examples (issue 15).
    ("positive", "너무 슬퍼서 펑펑 울었어요 최고의 영화"),
    ("positive", "무서워서 잠을 못 잤어요 강추"),
    ("negative", "무서워서 잠을 못 잤어요 비추"),
]
ENGLISH = [
    ("positive", "Great quality, fast shipping. Love it!"),
    ("negative", "The box was crushed and the item was damaged."),
    ("neutral", "Ordered the blue one in size M."),
]


@pytest.mark.parametrize(("expected", "text"), KOREAN + GENRE)
def test_korean_reviews(polarity: ReviewPolarity, expected: str, text: str) -> None:
    assert polarity.polarity(text, "ko") == expected


@pytest.mark.parametrize(("expected", "text"), ENGLISH)
def test_english_reviews(polarity: ReviewPolarity, expected: str, text: str) -> None:
    assert polarity.polarity(text, "en") == expected


@pytest.mark.xfail(strict=True, reason="English reviews use the emotion scorer: no genre model")
def test_english_sad_but_positive_is_not_handled(polarity: ReviewPolarity) -> None:
    text = "So sad I cried the whole movie, loved it, highly recommend"
    assert polarity.polarity(text, "en") == "positive"


def test_korean_scores_are_probabilities(polarity: ReviewPolarity) -> None:
    scores = polarity.scores("너무 슬픈 소설이지만 읽기를 잘했어요. 최고의 책", "ko")
    assert set(scores) == {"positive", "negative", "neutral"}
    assert sum(scores.values()) == pytest.approx(1.0)
    assert max(scores, key=lambda p: scores[p]) == "positive"


def test_korean_reviews_never_load_the_emotion_detector() -> None:
    class Refuses(EmotionReviewPolarity):
        def __init__(self) -> None:  # no detector at all
            pass

        def scores(self, text: str, language: str) -> dict[str, float]:  # type: ignore[override]
            raise AssertionError("the English scorer was asked about a Korean review")

    polarity = ReviewPolarity(english=Refuses())
    assert polarity.polarity("정말 만족합니다", "ko") == "positive"
    with pytest.raises(AssertionError):
        polarity.polarity("Love it", "en")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("무서워서 혼났어요 강추", True),
        ("눈물 없이 못 보는 명작", True),
        ("스릴러 좋아하면 꼭 보세요", True),
        ("최고의 배우들이 나오는데 지루해요 비추", False),
        ("재밌다더니 하나도 안 재밌어요", False),
        ("추천 안 합니다", False),
        ("최고라는 말에 샀는데 실망이에요", False),
        ("배송 빠르고 포장 깔끔해요", False),
    ],
)
def test_a_verdict_of_praise(text: str, expected: bool) -> None:
    assert praised(text) is expected


def test_the_verdict_bonus_moves_only_praised_reviews(polarity: ReviewPolarity) -> None:
    model = polarity.model
    assert model.verdict_bonus > 0
    texts = ["무서워서 잠을 못 잤어요 강추", "무서워서 잠을 못 잤어요"]
    with_bonus = model.logits_many(texts)
    model.verdict_bonus, bonus = 0.0, model.verdict_bonus
    try:
        without = model.logits_many(texts)
    finally:
        model.verdict_bonus = bonus
    positive = MODEL_CLASSES.index("positive")
    assert with_bonus[0, positive] == pytest.approx(without[0, positive] + bonus)
    assert np.allclose(with_bonus[1], without[1])


def test_features() -> None:
    assert normalize_review("ＡＢ  좋아요!!!!") == "ab  좋아요!!"
    assert normalize_review("ㅋㅋㅋㅋㅋ") == normalize_review("ㅋㅋ")
    assert char_features("좋아") == [" ", "좋", "아", " ", " 좋", "좋아", "아 ", " 좋아", "좋아 "]
    assert morpheme_features([("울", "VV"), ("었", "EP")]) == ["울/VV", "었/EP", "울/VV 었/EP"]
    chars, morphs = review_features("무서워서 울었어요 강추")
    assert {"무섭/VA", "울/VV 었/EP", "강추/IC"} <= set(morphs)
    assert " 강추" in chars


def test_the_model_ships_inside_the_package() -> None:
    assert KOREAN_MODEL.parent == REPO / "bot" / "insights" / "models"
    assert KOREAN_MODEL.is_file() and KOREAN_MODEL.stat().st_size < 3_000_000
    assert KOREAN_MODEL.with_suffix(".json").is_file()
    data = tomllib.loads((REPO / "pyproject.toml").read_text("utf-8"))
    assert "insights/models/*.npz" in data["tool"]["setuptools"]["package-data"]["bot"]
    assert default_model() is default_model()  # loaded once


def test_the_model_loads_without_the_datasets(tmp_path: Path) -> None:
    """A fresh interpreter, elsewhere, with no datasets folder, never importing bench."""
    code = (
        "import sys\n"
        "from bot.insights.polarity import ReviewPolarity\n"
        "print(ReviewPolarity().polarity('정말 만족합니다 또 살게요', 'ko'))\n"
        "assert not any(m == 'bench' or m.startswith('bench.') for m in sys.modules)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO), "ONDO_DATASETS": str(tmp_path / "none")}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "positive"


def test_the_model_has_a_sentence_head_and_batches_agree(polarity: ReviewPolarity) -> None:
    model = polarity.model
    assert model.sentence is not None and model.sentence.weights.shape == (512, 3)
    texts = ["배송이 빠르고 포장도 꼼꼼했어요", "사흘 만에 고장 났어요", "파란색으로 샀어요"]
    batch = model.probabilities_many(texts)
    one = np.asarray([[model.probabilities(t)[c] for c in MODEL_CLASSES] for t in texts])
    assert np.allclose(batch, one, atol=1e-5)
    assert np.allclose(batch.sum(axis=1), 1.0)
    assert model.probabilities_many([]).shape == (0, 3)


def test_the_previous_model_still_loads() -> None:
    previous = PolarityModel.load(REPO / "bench" / "baselines" / "polarity_ko_v1.npz")
    assert previous.sentence is None  # version 1: n-grams only, no embedder loaded
    p = previous.probabilities("정말 만족합니다 또 살게요")
    assert max(p, key=lambda k: p[k]) == "positive"


def test_a_mismatched_weights_file_is_refused(tmp_path: Path) -> None:
    with np.load(KOREAN_MODEL, allow_pickle=False) as data:
        arrays = {name: data[name] for name in data.files}
    old = tmp_path / "old.npz"
    np.savez(old, **{**arrays, "version": np.asarray([0], dtype=np.int32)})
    with pytest.raises(ValueError, match="retrain"):
        PolarityModel.load(old)
    short = tmp_path / "short.npz"
    np.savez(short, **{**arrays, "bias": arrays["bias"], "idf": arrays["idf"][:-1]})
    with pytest.raises(ValueError, match="do not match"):
        PolarityModel.load(short)
    head = tmp_path / "head.npz"
    np.savez(head, **{**arrays, "sentence_weights": arrays["sentence_weights"][:, :2]})
    with pytest.raises(ValueError, match="sentence head"):
        PolarityModel.load(head)
    assert MODEL_CLASSES == ("negative", "neutral", "positive")
