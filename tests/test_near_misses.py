"""Near misses of the escalation cues (tests/data/near_misses.yaml) through the real path.

Each quiet message (a product question, compliment, story, name, topic or homograph) must not
hand the conversation to a person; its pair must, for the expected reason. The path is the
engine's for an answered customer message: normalise, detect the language, redact, the shipped
emotion detector on the text without identifiers, then ``decide`` on the redacted text.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.conversation.escalation import decide, is_sensitive
from bot.types import Escalation
from bot.understanding.emotion import CueEmotionDetector, cue_points, escalates
from bot.understanding.emotion_model import default_detector
from bot.understanding.normalize import for_analysis
from bot.understanding.privacy import redact, without_identifiers
from knowledge.language import detect_language

TABLE: dict[str, list[dict[str, Any]]] = yaml.safe_load(
    (Path(__file__).parent / "data" / "near_misses.yaml").read_text(encoding="utf-8")
)
REASONS = {"sensitive", "angry", "asked_for_human"}
KINDS = {"homograph", "product", "question", "story", "compliment", "mention", "topic", "name"}
PAIRS = [(language, pair) for language, pairs in TABLE.items() for pair in pairs]


def escalation(text: str) -> Escalation:
    """What the engine decides for ``text`` as an answered customer message."""
    text = for_analysis(text) or text
    language = detect_language(text)
    redacted = redact(text, language)
    meaning = without_identifiers(redacted) or redacted
    emotion = default_detector().detect(meaning, language)
    return decide(redacted, emotion, answered=True, consecutive_misses=0)


def test_the_table_has_a_hundred_pairs_per_language_and_is_well_formed() -> None:
    assert set(TABLE) == {"ko", "en"}
    for pairs in TABLE.values():
        assert len(pairs) >= 100
        for pair in pairs:
            assert set(pair) == {"kind", "reason", "quiet", "fires"}
            assert pair["reason"] in REASONS and pair["kind"] in KINDS
    texts = [p[key] for _, p in PAIRS for key in ("quiet", "fires")]
    assert len(texts) == len(set(texts))


@pytest.mark.parametrize(
    ("language", "pair"), PAIRS, ids=[f"{lang}-{p['quiet'][:30]}" for lang, p in PAIRS]
)
def test_the_quiet_message_does_not_escalate(language: str, pair: dict[str, Any]) -> None:
    assert detect_language(pair["quiet"]) == language
    assert escalation(pair["quiet"]) == Escalation.none()


@pytest.mark.parametrize(
    ("language", "pair"), PAIRS, ids=[f"{lang}-{p['fires'][:30]}" for lang, p in PAIRS]
)
def test_the_firing_message_escalates_for_its_reason(language: str, pair: dict[str, Any]) -> None:
    assert detect_language(pair["fires"]) == language
    assert escalation(pair["fires"]) == Escalation(True, pair["reason"])


@pytest.mark.parametrize(
    ("quiet", "fires"),
    [
        ("이 과자 고소하겠다", "고소하겠습니다"),  # "this will be savory" / "I will sue"
        ("고소한 맛이 좋아요", "고소하려고요"),
        ("카드사 할인 되나요?", "카드사에 이의제기 할게요"),
        ("친구가 소비자원에 신고했대요", "소비자원에 신고했어요"),  # hearsay / done
        ("소송하는 장면이 멋있었어요", "소송하겠습니다"),  # a modifier / an act
    ],
)
def test_korean_acts_are_read_from_their_predicate(quiet: str, fires: str) -> None:
    assert not is_sensitive(quiet)
    assert is_sensitive(fires)


def test_the_cue_detector_reads_whole_words_too() -> None:
    # The lexicon the trained model reads is the one the cue detector uses.
    cue = CueEmotionDetector()
    assert not escalates(cue.detect("신제품 출시발표 언제 하나요?", "ko"))  # not 시발
    assert escalates(cue.detect("시발 배송 언제 와요", "ko"))
    assert cue_points("우롱차 티백 있나요?").anger == 0.0
    assert cue_points("고객을 우롱하네요").anger > 0.0


def test_a_named_anger_word_is_not_felt() -> None:
    # Topics count as negated anger: the trained model's anger alone does not escalate them.
    for text in ("악성 고객은 어떻게 대응해야 해?", "How do I handle angry customers?"):
        points = cue_points(text)
        assert points.anger == 0.0 and points.negated_anger > 0.0
