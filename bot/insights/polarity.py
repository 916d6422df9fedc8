"""Review polarity (positive / negative / neutral) from the shipped emotion detector.

:class:`ReviewPolarity` (what ``ondo insights reviews`` uses) reads the detector's four-way
probabilities and groups them: positive = p(positive), negative = p(disappointed) + p(angry)
+ :data:`ISSUE_WEIGHT` per review-problem cue ("지연", "파손", "late", "damaged" …: customers
state problems flatly, which the detector, built for chat, reads as neutral), neutral =
p(neutral) + :data:`NEUTRAL_BIAS`; the largest wins. The two constants were chosen on the
GoEmotions dev and KOTE val splits only. The plain label mapping (:func:`from_emotion`:
``positive`` -> positive, ``disappointed``/``angry`` -> negative, ``neutral`` -> neutral) is
:class:`EmotionPolarity`. Accuracy of both on the GoEmotions and KOTE test splits is measured
by ``bench/polarity.py`` and reported in ``docs/benchmarks.md``.

Star ratings are *not* mixed in: the ratio always comes from the text, so files with and
without ratings are comparable and the measured accuracy is the accuracy of what is shown.
Stars are reported beside it (:func:`star_polarity` buckets them, and the report shows how
often text and stars agree).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Literal, Protocol

from bot.types import EmotionLabel, Language
from bot.understanding.emotion import CueEmotionDetector, EmotionDetector

if TYPE_CHECKING:
    from bot.understanding.emotion_model import TrainedEmotionDetector

Polarity = Literal["positive", "negative", "neutral"]
POLARITIES: tuple[Polarity, ...] = ("positive", "negative", "neutral")

_FROM_EMOTION: dict[EmotionLabel, Polarity] = {
    "positive": "positive",
    "disappointed": "negative",
    "angry": "negative",
    "neutral": "neutral",
}


def from_emotion(label: EmotionLabel) -> Polarity:
    """The review polarity of one of the detector's emotion labels."""
    return _FROM_EMOTION[label]


def star_polarity(stars: float) -> Polarity:
    """Stars on a 1..5 scale: 4 and up positive, 2 and below negative, in between neutral."""
    if stars >= 4:
        return "positive"
    if stars <= 2:
        return "negative"
    return "neutral"


class PolarityDetector(Protocol):
    """Anything that labels a review positive, negative or neutral."""

    def polarity(self, text: str, language: Language) -> Polarity:
        """The polarity of ``text``, written in ``language``."""
        ...


class EmotionPolarity:
    """Polarity from an emotion detector: the shipped trained one unless another is given.

    ``EmotionPolarity(CueEmotionDetector())`` is the deterministic, model-free variant for
    tests (see :func:`lexicon_polarity`).
    """

    def __init__(self, detector: EmotionDetector | None = None) -> None:
        if detector is None:
            from bot.understanding.emotion_model import default_detector

            detector = default_detector()
        self.detector = detector

    def polarity(self, text: str, language: Language) -> Polarity:
        """The polarity of ``text``: the detector's emotion, mapped."""
        return from_emotion(self.detector.detect(text, language).label)


def lexicon_polarity() -> EmotionPolarity:
    """The cue-lexicon polarity: deterministic and model-free, a fake for tests."""
    return EmotionPolarity(CueEmotionDetector())


ISSUE_WEIGHT = 0.3
"""Added to the negative score per review-problem cue (chosen on dev/val splits)."""
NEUTRAL_BIAS = -0.1
"""Added to p(neutral) (chosen on dev/val splits)."""

ISSUE_CUES = re.compile(
    r"지연|늦[게었어은네]|파손|깨[져졌]|찢어|불량|엉망|엉성|허술|작아서|커서|안\s*와|안\s*왔"
    r"|안\s*돼|안\s*되|없어요|없네|없습니다|답답|느려|느리|실망|최악|연락도\s*없|오래\s*걸"
    r"|\blate\b|\bdelay|\bdamaged?\b|\bbroken\b|\bcrushed\b|\bleak|\bwrong\b|\bpoor\b"
    r"|\bslow\b|\bnever\b|\bno refund|\bstill waiting|\bstill no\b"
    r"|\btoo (?:small|big|large|tight|long)\b|\bflimsy\b|\bcheap\b|\boverpriced\b|\bwet\b"
    r"|\bripped\b|\bmissing\b|\bdefective\b|\bfaulty\b|\bworse\b|\brude\b",
    re.IGNORECASE,
)
"""Flat statements of a delivery, packaging, product or service problem, in both languages."""


class ReviewPolarity:
    """Polarity from the trained detector's grouped probabilities plus review-problem cues."""

    def __init__(
        self,
        detector: TrainedEmotionDetector | None = None,
        issue_weight: float = ISSUE_WEIGHT,
        neutral_bias: float = NEUTRAL_BIAS,
    ) -> None:
        if detector is None:
            from bot.understanding.emotion_model import default_detector

            detector = default_detector()
        self.detector = detector
        self.issue_weight = issue_weight
        self.neutral_bias = neutral_bias

    def scores(self, text: str, language: Language) -> dict[Polarity, float]:
        """The three scores compared by :meth:`polarity` (not probabilities)."""
        positive, neutral, disappointed, angry = self.detector.read(text, language).four
        issues = len(ISSUE_CUES.findall(text))
        return {
            "positive": positive,
            "negative": disappointed + angry + self.issue_weight * issues,
            "neutral": neutral + self.neutral_bias,
        }

    def polarity(self, text: str, language: Language) -> Polarity:
        """The polarity with the highest score (ties: positive, negative, neutral)."""
        scores = self.scores(text, language)
        return max(POLARITIES, key=lambda p: scores[p])
