"""Trained emotion detector: per-language n-gram linear models combined with the cue lexicon.

Each language has one small linear model over TF-IDF word and character n-grams (weights in
``bot/understanding/models/emotion_<lang>.npz``, trained by ``python -m bench.train_emotion``) with
two heads: an anger head trained on the data set's own anger label and a four-way head (positive,
neutral, disappointed, angry). A tiny mixing layer (in ``bot/understanding/models/emotion.json``),
fitted on held-out data, combines each head with the cue points of :mod:`bot.understanding.emotion`
and calibrates the anger head into a probability; a :class:`Calibration`, fitted on the same
held-out data, scales the four-way probabilities, moves ``angry`` to ``disappointed`` when
nothing speaks for anger (:func:`gate_anger`) and sets the probability a label needs.
:func:`combine` then applies the customer-service rules: plain questions are neutral, the cue
lexicon's verdicts stand (so what it escalated still escalates), the model's anger probability
escalates at/above :data:`bot.understanding.emotion.ANGER_THRESHOLD`, and otherwise a label is
given only when it is genuinely likely. See ``bench/README.md`` for the figures.

Everything loads with ``numpy.load(allow_pickle=False)`` and ``json``; nothing is unpickled.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from bot.types import Emotion, EmotionLabel, Language
from bot.understanding.emotion import (
    ANGER_THRESHOLD,
    CuePoints,
    blank_formulas,
    cue_emotion,
    cue_points,
)

MODELS_DIR = Path(__file__).resolve().parent / "models"
MANIFEST = "emotion.json"
LABELS: tuple[EmotionLabel, ...] = ("positive", "neutral", "disappointed", "angry")
"""Order of the four-way head's outputs."""
_ANGRY = LABELS.index("angry")
_DISAPPOINTED = LABELS.index("disappointed")
_NEUTRAL = LABELS.index("neutral")
FEATURE_VERSION = 1
"""Bumped whenever :func:`ngrams` changes; the manifest records the version it was trained on."""

MAX_CHARS = 2000
"""Only this many characters are featurized (the head and tail of longer messages)."""

_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*|!+|\?+|[^\w\s]")
_PUNCT_RUN = re.compile(r"([!?])\1{2,}")


@dataclass(frozen=True)
class FeatureSpec:
    """Which n-grams a model reads: word n-grams and character n-grams (0 = off).

    Character n-grams stay inside each word when ``char_across`` is false (like
    scikit-learn's ``char_wb``) and run across spaces when it is true (like ``char``).
    """

    word_min: int
    word_max: int
    char_min: int
    char_max: int
    char_across: bool = False

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FeatureSpec:
        """Read the ``features`` object of the manifest."""
        return cls(
            int(data["word_min"]),
            int(data["word_max"]),
            int(data["char_min"]),
            int(data["char_max"]),
            bool(data.get("char_across", False)),
        )

    def to_json(self) -> dict[str, Any]:
        """The ``features`` object of the manifest."""
        return {
            "word_min": self.word_min,
            "word_max": self.word_max,
            "char_min": self.char_min,
            "char_max": self.char_max,
            "char_across": self.char_across,
        }


def clip(text: str) -> str:
    """``text``, or for a longer one its first and last ``MAX_CHARS / 2`` characters."""
    if len(text) <= MAX_CHARS:
        return text
    half = MAX_CHARS // 2
    return text[:half] + "\n" + text[-half:]


def normalize(text: str) -> str:
    """Clipped, NFKC, lower case, politeness formulas blanked, punctuation runs cut to three."""
    text = clip(text)
    text = blank_formulas(unicodedata.normalize("NFKC", text).replace("\u2019", "'").lower())
    return _PUNCT_RUN.sub(r"\1\1\1", text)


def word_ngrams(text: str, low: int, high: int) -> list[str]:
    """Word (and punctuation/emoji token) n-grams of normalized ``text``, joined by spaces."""
    if low <= 0:
        return []
    tokens = _WORD.findall(text)
    out: list[str] = []
    for n in range(low, high + 1):
        out.extend(" ".join(tokens[i : i + n]) for i in range(len(tokens) - n + 1))
    return out


def char_ngrams(text: str, low: int, high: int, across: bool = False) -> list[str]:
    """Character n-grams of each space-padded word, or of the whole text when ``across``."""
    if low <= 0:
        return []
    out: list[str] = []
    chunks = [" ".join(text.split())] if across else text.split()
    for chunk in filter(None, chunks):
        padded = f" {chunk} "
        size = len(padded)
        for n in range(low, high + 1):
            if n > size:
                if n == low:
                    out.append(padded)
                break
            out.extend(padded[i : i + n] for i in range(size - n + 1))
    return out


def ngrams(text: str, spec: FeatureSpec) -> tuple[Counter[str], Counter[str]]:
    """Counts of the word n-grams and character n-grams of ``text`` (not normalized yet)."""
    norm = normalize(text)
    return (
        Counter(word_ngrams(norm, spec.word_min, spec.word_max)),
        Counter(char_ngrams(norm, spec.char_min, spec.char_max, spec.char_across)),
    )


def cue_vector(points: CuePoints) -> list[float]:
    """The cue signals the mixing layer reads, in :data:`CUE_FEATURES` order.

    The raw points per emotion, amplifiers and shouting, then the cue detector's own verdict
    (its score in the column of its label, for the three emotional labels).
    """
    verdict = cue_emotion(points)
    return [
        points.anger,
        points.disappointment,
        points.positive,
        points.amplifier,
        1.0 if points.shouting else 0.0,
        *(verdict.score if verdict.label == label else 0.0 for label in _CUE_VERDICTS),
    ]


_CUE_VERDICTS: tuple[EmotionLabel, ...] = ("angry", "disappointed", "positive")
CUE_FEATURES = (
    "anger",
    "disappointment",
    "positive",
    "amplifier",
    "shouting",
    "cue_angry",
    "cue_disappointed",
    "cue_positive",
)


def _sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def _softmax(z: NDArray[np.float64]) -> NDArray[np.float64]:
    e = np.exp(z - z.max())
    out: NDArray[np.float64] = e / e.sum()
    return out


def _vocabulary(blob: NDArray[np.uint8]) -> dict[str, int]:
    text = blob.tobytes().decode("utf-8")
    return {key: i for i, key in enumerate(text.split("\n"))} if text else {}


class LinearModel:
    """One language's n-gram model: vocabularies, idf, and the five head columns."""

    def __init__(
        self,
        spec: FeatureSpec,
        words: dict[str, int],
        chars: dict[str, int],
        idf: NDArray[np.float32],
        weights: NDArray[np.float32],
        bias: NDArray[np.float32],
        char_weight: float,
    ) -> None:
        self.spec = spec
        self.words = words
        self.chars = chars
        self.idf = idf
        self.weights = weights
        self.bias = bias
        self.char_weight = char_weight

    @classmethod
    def load(cls, path: Path, spec: FeatureSpec, char_weight: float) -> LinearModel:
        """Read ``emotion_<lang>.npz`` (plain arrays, no pickle)."""
        with np.load(path, allow_pickle=False) as data:
            words = _vocabulary(data["words"])
            chars = _vocabulary(data["chars"])
            idf = data["idf"].astype(np.float32)
            weights = data["weights"].astype(np.float32)
            bias = data["bias"].astype(np.float32)
        if len(idf) != len(words) + len(chars) or weights.shape != (len(idf), 5):
            raise ValueError(f"{path.name}: vocabulary and weights do not match")
        return cls(spec, words, chars, idf, weights, bias, char_weight)

    def scores(self, text: str) -> NDArray[np.float64]:
        """The five raw head outputs: anger logit, then the four-way logits.

        Each block (word n-grams, character n-grams) is a sublinear TF-IDF vector, L2-normalized
        on its own; the character block is then scaled by ``char_weight``.
        """
        word_counts, char_counts = ngrams(text, self.spec)
        out = self.bias.astype(np.float64)
        blocks = (
            (word_counts, self.words, 0, 1.0),
            (char_counts, self.chars, len(self.words), self.char_weight),
        )
        for counts, vocabulary, offset, scale in blocks:
            index: list[int] = []
            tf: list[int] = []
            for key, count in counts.items():
                i = vocabulary.get(key)
                if i is not None:
                    index.append(offset + i)
                    tf.append(count)
            if not index:
                continue
            rows = np.asarray(index, dtype=np.intp)
            values = (1.0 + np.log(np.asarray(tf, dtype=np.float64))) * self.idf[rows]
            values *= scale / math.sqrt(float(values @ values))
            out += values @ self.weights[rows]
        return out


@dataclass(frozen=True)
class Mixer:
    """The held-out-fitted layer: raw heads + cue points -> calibrated probabilities."""

    anger_coef: tuple[float, ...]
    """Weights of (anger logit, *cue features); then :attr:`anger_bias`."""
    anger_bias: float
    four_coef: tuple[tuple[float, ...], ...]
    """Per label: weights of (four logits, *cue features)."""
    four_bias: tuple[float, ...]

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Mixer:
        """Read the ``mixer`` object of the manifest."""
        return cls(
            tuple(float(x) for x in data["anger_coef"]),
            float(data["anger_bias"]),
            tuple(tuple(float(x) for x in row) for row in data["four_coef"]),
            tuple(float(x) for x in data["four_bias"]),
        )

    def anger(self, raw: NDArray[np.float64], cues: Sequence[float]) -> float:
        """Calibrated probability that the message is angry."""
        inputs = (float(raw[0]), *cues)
        return _sigmoid(
            self.anger_bias + sum(w * x for w, x in zip(self.anger_coef, inputs, strict=True))
        )

    def four_logits(self, raw: NDArray[np.float64], cues: Sequence[float]) -> NDArray[np.float64]:
        """The four-way layer's logits, in :data:`LABELS` order."""
        inputs = np.asarray([*raw[1:], *cues], dtype=np.float64)
        coef = np.asarray(self.four_coef, dtype=np.float64)
        out: NDArray[np.float64] = coef @ inputs + np.asarray(self.four_bias, dtype=np.float64)
        return out

    def four(self, raw: NDArray[np.float64], cues: Sequence[float]) -> NDArray[np.float64]:
        """Probabilities of :data:`LABELS` (before :class:`Calibration`)."""
        return _softmax(self.four_logits(raw, cues))


@dataclass(frozen=True)
class Calibration:
    """How one language's four-way probabilities are calibrated and turned into a label.

    Fitted by ``bench.train_emotion`` on held-out data (GoEmotions dev.tsv; KOTE val.tsv
    out-of-fold), never on a test split; ``bench/README.md`` documents the choices.
    """

    temperature: float = 1.0
    """The mixing layer's four-way logits are divided by it (temperature scaling)."""
    min_probability: float = 0.0
    """A label other than ``neutral`` needs at least this calibrated probability."""
    anger_evidence: float = 0.0
    """Anger probability at/above which the anger head alone counts as evidence of anger (the
    held-out base rate of the anger label: the message makes anger more likely than usual)."""
    cue_scaling: tuple[tuple[EmotionLabel, float, float], ...] = ()
    """Platt scaling of a standing cue verdict's score, per label: ``(label, slope,
    intercept)``, ``sigmoid(slope * cue score + intercept)``; a label not listed keeps its cue
    score."""

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Calibration:
        """Read the ``calibration`` object of the manifest."""
        scaling = data.get("cue_scaling", {})
        return cls(
            float(data["temperature"]),
            float(data["min_probability"]),
            float(data["anger_evidence"]),
            tuple(
                (label, float(scaling[label][0]), float(scaling[label][1]))
                for label in LABELS
                if label in scaling
            ),
        )

    def cue_score(self, label: EmotionLabel, score: float) -> float:
        """The calibrated score of a standing cue verdict of ``label`` scored ``score``."""
        for name, slope, intercept in self.cue_scaling:
            if name == label:
                return round(_sigmoid(slope * score + intercept), 3)
        return score

    def probabilities(self, logits: NDArray[np.float64]) -> NDArray[np.float64]:
        """Calibrated probabilities of :data:`LABELS` from the four-way logits."""
        return _softmax(np.asarray(logits, dtype=np.float64) / self.temperature)


UNCALIBRATED = Calibration()
"""The behaviour before calibration: raw probabilities, plain argmax, no evidence needed."""


def anger_evident(anger: float, points: CuePoints, calibration: Calibration) -> bool:
    """True when something in the message speaks for anger: an anger cue that is not negated
    (shouting counts), or an anger probability at/above ``calibration.anger_evidence``."""
    return points.anger > 0 or anger >= calibration.anger_evidence


def gate_anger(
    probabilities: NDArray[np.float64] | Sequence[float],
    anger: float,
    points: CuePoints,
    calibration: Calibration,
) -> NDArray[np.float64]:
    """The probabilities with ``angry`` moved to ``disappointed`` when anger is not evident.

    The four-way head learned ``angry`` from annoyance and disgust as well as anger, so mild
    negativity ("재미 없음", "not great") often scores highest there; without anger evidence
    (:func:`anger_evident`) that negative mass is disappointment. The sum stays 1.
    """
    p = np.array(probabilities, dtype=np.float64)
    if not anger_evident(anger, points, calibration):
        p[_DISAPPOINTED] += p[_ANGRY]
        p[_ANGRY] = 0.0
    return p


@dataclass(frozen=True)
class LanguageModel:
    """One language's n-gram model, mixing layer and calibration."""

    linear: LinearModel
    mixer: Mixer
    calibration: Calibration = UNCALIBRATED


@dataclass(frozen=True)
class Reading:
    """Everything the detector computed for one message (for benchmarks and debugging)."""

    anger: float
    """Calibrated probability of anger (the data set's own anger label)."""
    four: tuple[float, float, float, float]
    """The mixing layer's probabilities of :data:`LABELS`, before calibration."""
    cue: Emotion
    """What the cue lexicon alone says."""
    emotion: Emotion
    """The detector's answer."""
    probabilities: tuple[float, float, float, float] = (0.0, 1.0, 0.0, 0.0)
    """Calibrated probabilities of :data:`LABELS` with the anger gate applied
    (:func:`gate_anger`): what the label is chosen from; they sum to 1."""


CUE_FLOOR = ANGER_THRESHOLD
"""Where the cue lexicon's own anger scores escalate (they were designed around it: one strong
anger cue scores 0.63, a lone weak one 0.39); :func:`combine` keeps those escalations."""


RuleName = Literal["plain", "cue_angry", "model_angry", "cue"]


def rule_verdict(
    anger: float, points: CuePoints, plain: bool, threshold: float = ANGER_THRESHOLD
) -> tuple[RuleName, Emotion] | None:
    """Steps 1-4 of :func:`combine`: which rule decides and its uncalibrated verdict, or None
    when the model's probabilities decide."""
    cue = cue_emotion(points)
    if plain:
        return "plain", Emotion("neutral", cue.score)
    if cue.label == "angry":
        return "cue_angry", Emotion("angry", round(max(anger, cue.score), 3))
    other = cue.label in ("disappointed", "positive")
    if anger >= threshold and not _negated_only(points) and not (other and cue.score > anger):
        return "model_angry", Emotion("angry", round(anger, 3))
    if other:
        return "cue", cue
    return None


def _negated_only(points: CuePoints) -> bool:
    return points.negated_anger > 0 and points.anger == 0


def combine(
    anger: float,
    probabilities: NDArray[np.float64] | Sequence[float],
    points: CuePoints,
    plain: bool,
    threshold: float = ANGER_THRESHOLD,
    calibration: Calibration | None = None,
) -> Emotion:
    """The detector's answer from the model's probabilities and the cue lexicon's points.

    ``probabilities`` are the calibrated four-way probabilities after :func:`gate_anger`;
    ``calibration`` gives the minimum probability and the cue verdicts' scaling (None: the
    uncalibrated behaviour).

    1. A plain request (:func:`plain_request`) is neutral.
    2. A cue verdict of ``angry`` is angry, scored ``max(anger, cue score)``: what the lexicon
       escalated before (cue score at/above :data:`CUE_FLOOR`) still escalates.
    3. The model's anger probability at/above ``threshold`` is angry, unless the only anger
       words were negated ("I'm not angry") or a disappointed/positive cue verdict scores
       higher.
    4. A disappointed or positive cue verdict stands.
    5. Otherwise the most probable label if its probability reaches the minimum, else
       neutral (no label is genuinely likely). An ``angry`` label is scored with ``anger``, so
       it stays below the threshold; with only negated anger words, ``angry`` is left out.

    Scores: ``angry`` keeps the escalation contract (``score >= threshold`` exactly when it
    escalates); a label of step 5 is scored with its calibrated probability (``neutral``
    included); a cue verdict of step 4 with the held-out precision of such verdicts
    (:meth:`Calibration.cue_score`); the plain request of step 1 keeps the cue score.
    """
    calibration = calibration or UNCALIBRATED
    decided = rule_verdict(anger, points, plain, threshold)
    if decided is not None:
        name, emotion = decided
        if name == "cue":
            return Emotion(emotion.label, calibration.cue_score(emotion.label, emotion.score))
        return emotion
    p = np.asarray(probabilities, dtype=np.float64)
    if _negated_only(points):
        p = p * (np.arange(len(LABELS)) != _ANGRY)
        p = p / max(float(p.sum()), 1e-12)
    top = int(np.argmax(p))
    if p[top] < calibration.min_probability:
        top = _NEUTRAL
    label = LABELS[top]
    score = anger if label == "angry" else float(p[top])
    return Emotion(label, round(score, 3))


PLAIN_MAX_CHARS = 150
# A polite question or request: a final -나요/-까요/-가요/-는지요/-니까, -세요 (주세요,
# 알려주세요), -싶어요, -겠습니다, -게요, any -요 with a question mark, or any -요 after a
# question word. Rhetorical questions in informal speech (-냐, -니?) do not count.
_PLAIN_KO = re.compile(
    r"(?:[나가까]요|는지요|니까|세요|싶어요|싶습니다|겠습니다|게요|요\s*[?？])[?？.~!\s]*$"
    # or a question word with any polite ending: "교환하려면 어떻게 해야 돼요"
    r"|(?:어떻게|언제|어디|얼마|몇|무슨|어느|뭐|무엇)[^.!?]*요[?？.~\s]*$"
)
_PLAIN_EN = re.compile(
    r"\?\s*$|\bplease\W*$"
    r"|^\W*(?:(?:hi|hello|hey|good\s+(?:morning|afternoon|evening))\W+)?"
    r"(?:how|where|what|when|which|who|can|could|would|will|do|does|did|is|are|was|were|may"
    r"|should|have|has|i'?d\s+like|i\s+would\s+like|i\s+want\s+to|i\s+need\s+to|please"
    r"|kindly)\b",
    re.IGNORECASE,
)


def plain_request(text: str, points: CuePoints, language: Language) -> bool:
    """True for a short question or request that carries no emotional cue at all.

    Customer-service traffic is mostly such messages, and the training data (Reddit
    comments, Korean news comments) has few of them: there, questions about refunds and
    exchanges are mostly rhetorical and angry. So these are neutral, whatever the n-gram
    model says.
    """
    if len(text) > PLAIN_MAX_CHARS or points.shouting or points.amplifier >= 0.15:
        return False
    if cue_emotion(points).label != "neutral":
        return False
    pattern = _PLAIN_KO if language == "ko" else _PLAIN_EN
    return bool(pattern.search(text.strip()))


class TrainedEmotionDetector:
    """Four-way emotion with an anger probability, from the models in
    ``bot/understanding/models``."""

    def __init__(
        self, models: dict[Language, LanguageModel], threshold: float = ANGER_THRESHOLD
    ) -> None:
        self.models = models
        self.threshold = threshold
        """Anger probability at/above which the label is ``angry`` whatever the four-way head
        says (the escalation threshold; benchmarks vary it)."""

    @classmethod
    def load(cls, directory: Path = MODELS_DIR) -> TrainedEmotionDetector:
        """Load the manifest and both languages' weights from ``directory``."""
        manifest = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
        if manifest["feature_version"] != FEATURE_VERSION:
            raise ValueError(
                f"{MANIFEST} was trained with feature version {manifest['feature_version']}, "
                f"this code reads version {FEATURE_VERSION}; rerun bench.train_emotion"
            )
        models: dict[Language, LanguageModel] = {}
        for language in ("en", "ko"):
            entry = manifest["languages"][language]
            linear = LinearModel.load(
                directory / entry["weights"],
                FeatureSpec.from_json(entry["features"]),
                float(entry["char_weight"]),
            )
            models[language] = LanguageModel(
                linear, Mixer.from_json(entry["mixer"]), Calibration.from_json(entry["calibration"])
            )
        return cls(models)

    def uncalibrated(self) -> TrainedEmotionDetector:
        """The same models read as before calibration: raw four-way probabilities, the plain
        argmax, ``angry`` without anger evidence (the baseline of the benchmarks)."""
        models = {
            language: replace(model, calibration=UNCALIBRATED)
            for language, model in self.models.items()
        }
        return TrainedEmotionDetector(models, self.threshold)

    def read(self, text: str, language: Language) -> Reading:
        """The full reading of ``text`` (see :class:`Reading`)."""
        model = self.models[language]
        calibration = model.calibration
        text = clip(text)
        points = cue_points(text)
        cues = cue_vector(points)
        raw = model.linear.scores(text)
        anger = model.mixer.anger(raw, cues)
        logits = model.mixer.four_logits(raw, cues)
        four = _softmax(logits)
        calibrated = calibration.probabilities(logits)
        if not any(ch.isalnum() for ch in text) and cue_emotion(points).label == "neutral":
            four = calibrated = np.asarray([0.0, 1.0, 0.0, 0.0])  # nothing to read: emoji
        probabilities = gate_anger(calibrated, anger, points, calibration)
        plain = plain_request(text, points, language)
        emotion = combine(anger, probabilities, points, plain, self.threshold, calibration)
        return Reading(
            round(anger, 4), _rounded(four), cue_emotion(points), emotion, _rounded(probabilities)
        )

    def detect(self, text: str, language: Language) -> Emotion:
        """Label ``text`` positive, neutral, disappointed or angry, with a 0..1 score.

        For ``angry`` the score is the anger probability (or the cue lexicon's score when
        that is higher), so it reaches :data:`bot.understanding.emotion.ANGER_THRESHOLD` exactly
        when the conversation should escalate; a label is only given when its calibrated
        probability reaches the language's minimum, else ``neutral``; the other labels are
        scored with their calibrated probability (see :func:`combine`).
        """
        return self.read(text, language).emotion


def _rounded(p: NDArray[np.float64]) -> tuple[float, float, float, float]:
    r = tuple(round(float(x), 4) for x in p)
    return (r[0], r[1], r[2], r[3])


@cache
def default_detector() -> TrainedEmotionDetector:
    """The shipped detector, loaded once per process."""
    return TrainedEmotionDetector.load()
