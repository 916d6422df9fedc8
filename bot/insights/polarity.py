"""Review polarity (positive / negative / neutral): what ``ondo insights reviews`` reports.

:class:`ReviewPolarity` reads Korean reviews with a dedicated review polarity model
(:class:`PolarityModel`, weights in ``bot/insights/models/polarity_ko.npz``, trained by
``python -m bench.train_polarity`` on KOTE val.tsv, goemotions-korean train.tsv and a small
hand-written supplement): a multinomial logistic regression over sublinear TF-IDF of in-word
character 1-3-grams and kiwipiepy morphemes (form/tag unigrams and bigrams), so "슬프/VA" and
"울/VV 었/EP" are features of their own and a sad or scary film that the reviewer praises reads as
praise, plus (a quarter as loud) a second one over the packaged multilingual Universal Sentence
Encoder's vectors of the review, and a verdict of praise (:func:`praised`: 강추, 최고의 …)
outweighing sad or scary words about the content. English reviews keep the emotion detector's
grouped probabilities plus review-problem cues (:class:`EmotionReviewPolarity`; no English
review model beat it on GoEmotions dev).

:class:`EmotionPolarity` is the plain emotion-label mapping (:func:`from_emotion`), and
:func:`lexicon_polarity` its deterministic, model-free variant for tests. Accuracy of all of
them on the KOTE, GoEmotions(-Korean) test splits and a hand-written review set is measured by
``bench/polarity.py`` (``python -m bench.run --only polarity``).

Star ratings are *not* read by :class:`ReviewPolarity`: it reads text alone.
:mod:`bot.insights.star_adaptation` recalibrates its Korean probabilities on a file's own
rated reviews (cross-fitted, so the report's text-vs-stars agreement stays honest);
:func:`star_polarity` buckets stars into the three polarities.
"""

from __future__ import annotations

import itertools
import math
import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

import numpy as np
from numpy.typing import NDArray

from bot.types import EmotionLabel, Language
from bot.understanding.emotion import CueEmotionDetector, EmotionDetector
from knowledge.morphology import tokenize_many

if TYPE_CHECKING:
    from bot.understanding.emotion_model import TrainedEmotionDetector

Polarity = Literal["positive", "negative", "neutral"]
POLARITIES: tuple[Polarity, ...] = ("positive", "negative", "neutral")

MODELS_DIR = Path(__file__).resolve().parent / "models"
KOREAN_MODEL = MODELS_DIR / "polarity_ko.npz"
MODEL_CLASSES: tuple[Polarity, ...] = ("negative", "neutral", "positive")
"""Order of the model's weight columns (sorted, as scikit-learn orders the classes)."""
FEATURE_VERSION = 2
"""Bumped whenever the features change; the weights file records its version (2: a sentence
embedding head beside the n-gram one)."""
READABLE_VERSIONS = (1, 2)
"""Versions :meth:`PolarityModel.load` reads (1: the n-gram head alone, as first shipped)."""
MAX_CHARS = 2000
"""Only this many characters of a review are read (its head and tail)."""

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


# --- features of the Korean review model ---------------------------------------------------

_REPEAT = re.compile(r"(.)\1{2,}")


def clip_review(text: str) -> str:
    """At most :data:`MAX_CHARS` characters of ``text``: its head and tail."""
    if len(text) <= MAX_CHARS:
        return text
    half = MAX_CHARS // 2
    return f"{text[:half]} {text[-half:]}"


def normalize_review(text: str) -> str:
    """NFKC, lower case, runs of 3+ equal characters cut to 2 ("ㅋㅋㅋㅋ" = "ㅋㅋ"), clipped."""
    text = clip_review(unicodedata.normalize("NFKC", text).lower())
    return _REPEAT.sub(r"\1\1", text)


def morphemes(texts: Sequence[str]) -> list[list[tuple[str, str]]]:
    """kiwipiepy ``(form, tag)`` morphemes of each normalized text (one analyzer, locked)."""
    analysed = tokenize_many(list(texts))
    return [[(token.form, token.tag) for token in tokens] for tokens in analysed]


def char_features(text: str) -> list[str]:
    """In-word character 1-3-grams of a normalized text, each word padded with spaces."""
    out: list[str] = []
    for word in text.split():
        padded = f" {word} "
        for n in (1, 2, 3):
            out.extend(padded[i : i + n] for i in range(len(padded) - n + 1))
    return out


def morpheme_features(analysed: Sequence[tuple[str, str]]) -> list[str]:
    """``form/TA`` morphemes (the tag's first two letters: VV, VA, NN, EF …) and their bigrams.

    Bigrams keep what a unigram loses: "울/VV 었/EP", "무섭/VA 지/EC" before "않/VX".
    """
    units = [f"{form}/{tag[:2]}" for form, tag in analysed]
    return units + [f"{a} {b}" for a, b in itertools.pairwise(units)]


def review_features(text: str) -> tuple[list[str], list[str]]:
    """The two feature blocks of one review: character n-grams, morphemes."""
    normalized = normalize_review(text)
    return char_features(normalized), morpheme_features(morphemes([normalized])[0])


PRAISE = re.compile(
    r"강추|강력\s*추천|추천(해|합|드려|드립|함|이요|!|\s*$)|최고의|최고(예요|에요|다|입니다|였|야|!|\s*$)"
    r"|꼭\s*보세요|무조건\s*보|인생\s*(영화|작|책|드라마)|명작|재밌|재미있|대박|갓겜|필수"
)
"""A Korean verdict of praise: 강추, 최고의 …, 꼭 보세요, 재밌 …"""
PRAISE_DENIED = re.compile(
    r"비추|추천\s*(안|못|하지|드리지|할\s*수\s*없)|재미\s*(없|가\s*없|도\s*없)"
    r"|재밌(지|을\s*줄|다고|다더니|다는)|재미있(지|을\s*줄|다고|다더니|다는)|최악|별로|실망"
    r"|아깝|아까워|낭비|후회|최고(라|라더니|라고|라는)|명작(이라|이라더니)"
)
"""What takes the praise back: 비추, 추천 안 …, 재미없 …, 재밌다더니, 최악, 실망 …"""


def praised(text: str) -> bool:
    """Whether a Korean review states a verdict of praise and nothing takes it back.

    Such a verdict outweighs sad or scary words that describe the thing reviewed
    ("무서워서 잠을 못 잤어요 강추"): the model adds its ``verdict_bonus`` to the positive logit.
    """
    return bool(PRAISE.search(text)) and not PRAISE_DENIED.search(text)


def _vocabulary(blob: NDArray[np.uint8]) -> dict[str, int]:
    text = blob.tobytes().decode("utf-8")
    return {key: i for i, key in enumerate(text.split("\n"))} if text else {}


class Embed(Protocol):
    """A sentence embedder (``knowledge.embedders.USEEmbedder``): unit vectors, one per text."""

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """The vectors of ``texts``, one row each."""
        ...


@cache
def sentence_embedder() -> Embed:
    """The packaged multilingual Universal Sentence Encoder, loaded once per process."""
    from knowledge.embedders import USEEmbedder

    return USEEmbedder()


@dataclass(frozen=True)
class SentenceHead:
    """A linear head over sentence embeddings, added to the n-gram logits times ``scale``."""

    weights: NDArray[np.float32]
    bias: NDArray[np.float32]
    scale: float


_POSITIVE = MODEL_CLASSES.index("positive")


class PolarityModel:
    """The Korean review polarity model: two TF-IDF blocks, a three-way linear head, and
    (from feature version 2) a second linear head over sentence embeddings.

    Each block is ``(1 + ln tf) * idf``, L2-normalized on its own (as scikit-learn's
    ``TfidfVectorizer(sublinear_tf=True)`` computes it); the heads are multinomial logistic
    regressions, columns in :data:`MODEL_CLASSES` order. With a :class:`SentenceHead`, the
    logits are the n-gram head's plus ``scale`` times the embedding head's; a review that
    :func:`praised` gets ``verdict_bonus`` more on the positive side.
    """

    def __init__(
        self,
        chars: dict[str, int],
        morphs: dict[str, int],
        idf: NDArray[np.float32],
        weights: NDArray[np.float32],
        bias: NDArray[np.float32],
        sentence: SentenceHead | None = None,
        embedder: Embed | None = None,
        verdict_bonus: float = 0.0,
    ) -> None:
        if len(idf) != len(chars) + len(morphs) or weights.shape != (len(idf), 3):
            raise ValueError("polarity model: vocabulary and weights do not match")
        if sentence is not None and sentence.weights.shape[1:] != (3,):
            raise ValueError("polarity model: sentence head and classes do not match")
        self.chars = chars
        self.morphs = morphs
        self.idf = idf
        self.weights = weights
        self.bias = bias
        self.sentence = sentence
        self._embedder = embedder
        self.verdict_bonus = verdict_bonus

    @classmethod
    def load(cls, path: Path = KOREAN_MODEL, embedder: Embed | None = None) -> PolarityModel:
        """Read a weights file (plain arrays, ``allow_pickle=False``: nothing is unpickled).

        Version 1 files (n-grams only) still load: the benchmark's previous model is one.
        """
        with np.load(path, allow_pickle=False) as data:
            version = int(data["version"][0])
            if version not in READABLE_VERSIONS:
                raise ValueError(
                    f"{path.name}: features version {version}, this code reads "
                    f"{READABLE_VERSIONS}; retrain with python -m bench.train_polarity"
                )
            sentence = None
            if "sentence_weights" in data.files:
                sentence = SentenceHead(
                    data["sentence_weights"].astype(np.float32),
                    data["sentence_bias"].astype(np.float32),
                    float(data["sentence_scale"][0]),
                )
            return cls(
                _vocabulary(data["chars"]),
                _vocabulary(data["morphs"]),
                data["idf"].astype(np.float32),
                data["weights"].astype(np.float32),
                data["bias"].astype(np.float32),
                sentence,
                embedder,
                float(data["verdict_bonus"][0]) if "verdict_bonus" in data.files else 0.0,
            )

    def _ngram_logits(self, chars: list[str], morphs: list[str]) -> NDArray[np.float64]:
        out = self.bias.astype(np.float64)
        for keys, vocabulary, offset in (
            (chars, self.chars, 0),
            (morphs, self.morphs, len(self.chars)),
        ):
            counts = Counter(k for k in keys if k in vocabulary)
            if not counts:
                continue
            rows = np.asarray([offset + vocabulary[k] for k in counts], dtype=np.intp)
            tf = np.asarray(list(counts.values()), dtype=np.float64)
            values = (1.0 + np.log(tf)) * self.idf[rows]
            values /= math.sqrt(float(values @ values))
            out = out + values @ self.weights[rows]
        return out

    def logits_many(self, texts: Sequence[str]) -> NDArray[np.float64]:
        """The three raw scores of each text, one row each (:data:`MODEL_CLASSES` order)."""
        if not texts:
            return np.zeros((0, len(MODEL_CLASSES)), dtype=np.float64)
        normalized = [normalize_review(t) for t in texts]
        analysed = morphemes(normalized)
        out = np.vstack(
            [
                self._ngram_logits(char_features(t), morpheme_features(m))
                for t, m in zip(normalized, analysed, strict=True)
            ]
        )
        if self.sentence is not None:
            embedder = self._embedder or sentence_embedder()
            vectors = embedder.embed([clip_review(t) for t in texts]).astype(np.float64)
            head = vectors @ self.sentence.weights + self.sentence.bias
            out += self.sentence.scale * head
        if self.verdict_bonus:
            out[:, _POSITIVE] += self.verdict_bonus * np.asarray([praised(t) for t in normalized])
        return out

    def logits(self, text: str) -> NDArray[np.float64]:
        """The three raw scores of ``text`` (:data:`MODEL_CLASSES` order)."""
        row: NDArray[np.float64] = self.logits_many([text])[0]
        return row

    def probabilities_many(self, texts: Sequence[str]) -> NDArray[np.float64]:
        """The class probabilities of each text, one row each (:data:`MODEL_CLASSES` order)."""
        z = self.logits_many(texts)
        e = np.exp(z - z.max(axis=1, keepdims=True))
        p: NDArray[np.float64] = e / e.sum(axis=1, keepdims=True)
        return p

    def probabilities(self, text: str) -> dict[Polarity, float]:
        """P(positive), P(negative), P(neutral) of ``text``."""
        p = self.probabilities_many([text])[0]
        return {c: float(p[MODEL_CLASSES.index(c)]) for c in POLARITIES}


@cache
def default_model() -> PolarityModel:
    """The shipped Korean review polarity model, loaded once per process."""
    return PolarityModel.load()


# --- detectors ------------------------------------------------------------------------------


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


class EmotionReviewPolarity:
    """Polarity from the trained emotion detector's grouped probabilities plus problem cues.

    What :class:`ReviewPolarity` uses for English, and what it used for both languages before
    the Korean review model (the benchmark's "before" row).
    """

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


class ReviewPolarity:
    """Korean: the review polarity model; English: :class:`EmotionReviewPolarity`.

    Each part loads on first use, so a Korean-only file never loads the emotion detector.
    """

    def __init__(
        self,
        model: PolarityModel | None = None,
        english: EmotionReviewPolarity | None = None,
    ) -> None:
        self._model = model
        self._english = english

    @property
    def model(self) -> PolarityModel:
        """The Korean model (the shipped one unless another was given)."""
        if self._model is None:
            self._model = default_model()
        return self._model

    @property
    def english(self) -> EmotionReviewPolarity:
        """The English scorer (over the shipped emotion detector unless another was given)."""
        if self._english is None:
            self._english = EmotionReviewPolarity()
        return self._english

    def korean_probabilities(self, texts: Sequence[str]) -> NDArray[np.float64]:
        """The Korean model's probabilities of ``texts``: one row each, MODEL_CLASSES order."""
        return self.model.probabilities_many(texts)

    def scores(self, text: str, language: Language) -> dict[Polarity, float]:
        """Korean: the model's probabilities; English: the emotion scores (not probabilities)."""
        if language == "ko":
            return self.model.probabilities(text)
        return self.english.scores(text, language)

    def polarity(self, text: str, language: Language) -> Polarity:
        """The polarity with the highest score (ties: positive, negative, neutral)."""
        scores = self.scores(text, language)
        return max(POLARITIES, key=lambda p: scores[p])
