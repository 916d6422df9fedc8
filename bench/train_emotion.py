"""Train the shipped emotion models: ``python -m bench.train_emotion --data ../shared/datasets``.

English: GoEmotions train.tsv trains the n-gram heads, dev.tsv fits the mixing/calibration
layer. Korean: KOTE val.tsv (its only training split here) trains the heads; the mixing layer
is fitted on 5-fold out-of-fold predictions over the same file. No test split is read.
Writes ``bot/understanding/models/emotion_en.npz``, ``bot/understanding/models/emotion_ko.npz`` and
``bot/understanding/models/emotion.json``; the run is deterministic (fixed seed, deterministic
solvers). See ``bench/README.md`` for the label mappings.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import hashlib
import io
import json
import math
import sys
import zipfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import sparse

from bench.common import progress
from bot.types import Emotion, EmotionLabel, Language
from bot.understanding.emotion import ANGER_THRESHOLD, CuePoints, cue_points
from bot.understanding.emotion_model import (
    CUE_FEATURES,
    FEATURE_VERSION,
    LABELS,
    MANIFEST,
    MODELS_DIR,
    UNCALIBRATED,
    Calibration,
    FeatureSpec,
    combine,
    cue_vector,
    gate_anger,
    ngrams,
    plain_request,
    rule_verdict,
)

SEED = 0
FOLDS = 5

GOEMOTIONS_LABELS = [
    "admiration",
    "amusement",
    "anger",
    "annoyance",
    "approval",
    "caring",
    "confusion",
    "curiosity",
    "desire",
    "disappointment",
    "disapproval",
    "disgust",
    "embarrassment",
    "excitement",
    "fear",
    "gratitude",
    "grief",
    "joy",
    "love",
    "nervousness",
    "optimism",
    "pride",
    "realization",
    "relief",
    "remorse",
    "sadness",
    "surprise",
    "neutral",
]
KOTE_LABELS = [
    "불평/불만",
    "환영/호의",
    "감동/감탄",
    "지긋지긋",
    "고마움",
    "슬픔",
    "화남/분노",
    "존경",
    "기대감",
    "우쭐댐/무시함",
    "안타까움/실망",
    "비장함",
    "의심/불신",
    "뿌듯함",
    "편안/쾌적",
    "신기함/관심",
    "아껴주는",
    "부끄러움",
    "공포/무서움",
    "절망",
    "한심함",
    "역겨움/징그러움",
    "짜증",
    "어이없음",
    "없음",
    "패배/자기혐오",
    "귀찮음",
    "힘듦/지침",
    "즐거움/신남",
    "깨달음",
    "죄책감",
    "증오/혐오",
    "흐뭇함(귀여움/예쁨)",
    "당황/난처",
    "경악",
    "부담/안_내킴",
    "서러움",
    "재미없음",
    "불쌍함/연민",
    "놀람",
    "행복",
    "불안/걱정",
    "기쁨",
    "안심/신뢰",
]
GOEMOTIONS_ANGER = GOEMOTIONS_LABELS.index("anger")
KOTE_ANGER = KOTE_LABELS.index("화남/분노")

# Four-way mapping (tables in bench/README.md). Every label of each data set is either in a
# group or in the *_UNMAPPED tuple; unmapped labels cast no vote.
GOEMOTIONS_GROUPS: dict[EmotionLabel, tuple[str, ...]] = {
    "angry": ("anger", "annoyance", "disgust"),
    "disappointed": ("disappointment", "sadness", "grief", "remorse"),
    "positive": (
        "joy",
        "gratitude",
        "admiration",
        "love",
        "optimism",
        "approval",
        "relief",
        "excitement",
        "amusement",
        "pride",
        "caring",
    ),
    # Questions, puzzlement and wishes: what a customer-service bot treats as neutral.
    "neutral": ("neutral", "curiosity", "confusion", "realization", "surprise", "desire"),
}
GOEMOTIONS_UNMAPPED = ("disapproval", "fear", "nervousness", "embarrassment")
KOTE_GROUPS: dict[EmotionLabel, tuple[str, ...]] = {
    "angry": ("화남/분노", "짜증", "증오/혐오", "역겨움/징그러움", "지긋지긋"),
    "disappointed": (
        "안타까움/실망",
        "슬픔",
        "절망",
        "서러움",
        "패배/자기혐오",
        "힘듦/지침",
        "죄책감",
    ),
    "positive": (
        "환영/호의",
        "감동/감탄",
        "고마움",
        "존경",
        "기대감",
        "뿌듯함",
        "편안/쾌적",
        "아껴주는",
        "즐거움/신남",
        "흐뭇함(귀여움/예쁨)",
        "행복",
        "기쁨",
        "안심/신뢰",
    ),
    "neutral": ("없음", "신기함/관심", "깨달음", "놀람"),
}
KOTE_UNMAPPED = (
    "불평/불만",
    "우쭐댐/무시함",
    "비장함",
    "의심/불신",
    "부끄러움",
    "공포/무서움",
    "한심함",
    "어이없음",
    "귀찮음",
    "당황/난처",
    "경악",
    "부담/안_내킴",
    "재미없음",
    "불쌍함/연민",
    "불안/걱정",
)
GROUP_PRIORITY: tuple[EmotionLabel, ...] = ("angry", "disappointed", "positive", "neutral")
"""Tie-break when two groups get the same number of votes."""


def _group_index(
    names: Sequence[str], groups: dict[EmotionLabel, tuple[str, ...]], unmapped: Sequence[str]
) -> dict[int, int]:
    label_of = {name: LABELS.index(group) for group, members in groups.items() for name in members}
    if sorted([*label_of, *unmapped]) != sorted(names):
        raise ValueError("every label must be in exactly one group or unmapped")
    return {i: label_of[name] for i, name in enumerate(names) if name in label_of}


GOEMOTIONS_TO_FOUR = _group_index(GOEMOTIONS_LABELS, GOEMOTIONS_GROUPS, GOEMOTIONS_UNMAPPED)
KOTE_TO_FOUR = _group_index(KOTE_LABELS, KOTE_GROUPS, KOTE_UNMAPPED)


def four_way(ids: Sequence[int], mapping: dict[int, int]) -> int | None:
    """The mapped label index (into LABELS) of a multi-label row, or None if no label maps.

    Each mapped label is one vote for its group; the group with most votes wins, ties go
    to the earlier group of GROUP_PRIORITY (angry, disappointed, positive, neutral).
    """
    votes = Counter(mapping[i] for i in ids if i in mapping)
    if not votes:
        return None
    most = max(votes.values())
    return next(LABELS.index(g) for g in GROUP_PRIORITY if votes.get(LABELS.index(g), 0) == most)


@dataclass(frozen=True)
class Example:
    """One text with all its label ids."""

    text: str
    ids: tuple[int, ...]

    def has(self, label: int) -> bool:
        """True when ``label`` is among the ids."""
        return label in self.ids


def _tsv(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return [row for row in csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE) if row]


def _ids(field: str) -> tuple[int, ...]:
    return tuple(int(part) for part in field.split(",") if part.strip())


def goemotions(root: Path, split: str) -> list[Example]:
    """GoEmotions ``train``/``dev``/``test`` with all label ids."""
    return [Example(r[0], _ids(r[1])) for r in _tsv(root / "goemotions" / f"{split}.tsv")]


def kote(root: Path, split: str) -> list[Example]:
    """KOTE ``val``/``test`` with all label ids (union of the raters)."""
    return [Example(r[1], _ids(r[2])) for r in _tsv(root / "kote" / f"{split}.tsv")]


@dataclass(frozen=True)
class Recipe:
    """How one language's model is trained."""

    language: Language
    spec: FeatureSpec
    word_min_df: int
    char_min_df: int
    char_weight: float
    anger_c: float
    four_c: float
    mapping: dict[int, int]
    anger_label: int


RECIPES: dict[Language, Recipe] = {
    # C and the n-gram ranges were chosen on GoEmotions dev.tsv / 5-fold CV over KOTE val.tsv.
    "en": Recipe(
        language="en",
        spec=FeatureSpec(word_min=1, word_max=2, char_min=2, char_max=5),
        word_min_df=2,
        char_min_df=5,
        char_weight=1.0,
        anger_c=1.0,
        four_c=1.0,
        mapping=GOEMOTIONS_TO_FOUR,
        anger_label=GOEMOTIONS_ANGER,
    ),
    "ko": Recipe(
        language="ko",
        spec=FeatureSpec(word_min=0, word_max=0, char_min=1, char_max=5),
        word_min_df=2,
        char_min_df=2,
        char_weight=1.0,
        anger_c=3.0,
        four_c=1.0,
        mapping=KOTE_TO_FOUR,
        anger_label=KOTE_ANGER,
    ),
}


class Vectorizer:
    """Builds the same sparse TF-IDF vectors as
    :class:`bot.understanding.emotion_model.LinearModel`."""

    def __init__(self, recipe: Recipe, texts: Sequence[str]) -> None:
        self.recipe = recipe
        counted = [ngrams(t, recipe.spec) for t in texts]
        word_df: Counter[str] = Counter()
        char_df: Counter[str] = Counter()
        for words, chars in counted:
            word_df.update(words.keys())
            char_df.update(chars.keys())
        self.words = sorted(k for k, df in word_df.items() if df >= recipe.word_min_df)
        self.chars = sorted(k for k, df in char_df.items() if df >= recipe.char_min_df)
        n = len(texts)
        dfs = np.asarray([word_df[k] for k in self.words] + [char_df[k] for k in self.chars])
        self.idf = (np.log((1 + n) / (1 + dfs)) + 1.0).astype(np.float32)
        self._word_index = {k: i for i, k in enumerate(self.words)}
        self._char_index = {k: i for i, k in enumerate(self.chars)}
        self._cache = dict(zip(texts, counted, strict=False))

    @property
    def size(self) -> int:
        """Number of columns."""
        return len(self.idf)

    def _block(
        self, counts: Counter[str], index: dict[str, int], offset: int, scale: float
    ) -> tuple[list[int], list[float]]:
        cols: list[int] = []
        vals: list[float] = []
        for key, count in counts.items():
            i = index.get(key)
            if i is not None:
                cols.append(offset + i)
                vals.append((1.0 + math.log(count)) * float(self.idf[offset + i]))
        norm = math.sqrt(sum(v * v for v in vals))
        return cols, [scale * v / norm for v in vals] if norm > 0 else vals

    def transform(self, texts: Sequence[str]) -> sparse.csr_matrix:
        """The CSR matrix of ``texts``."""
        indptr, indices, data = [0], [], []
        for text in texts:
            words, chars = self._cache.get(text) or ngrams(text, self.recipe.spec)
            wc, wv = self._block(words, self._word_index, 0, 1.0)
            cc, cv = self._block(chars, self._char_index, len(self.words), self.recipe.char_weight)
            indices.extend(wc + cc)
            data.extend(wv + cv)
            indptr.append(len(indices))
        return sparse.csr_matrix(
            (np.asarray(data, dtype=np.float64), indices, indptr), shape=(len(texts), self.size)
        )


@dataclass
class Heads:
    """The five head columns (anger logit, four-way logits) of one n-gram model."""

    weights: NDArray[np.float32]
    bias: NDArray[np.float32]

    def scores(self, x: sparse.csr_matrix) -> NDArray[np.float64]:
        """Raw head outputs for the rows of ``x``."""
        out: NDArray[np.float64] = x @ self.weights.astype(np.float64) + self.bias.astype(
            np.float64
        )
        return out


def fit_heads(recipe: Recipe, x: sparse.csr_matrix, examples: Sequence[Example]) -> Heads:
    """Fit the anger head (balanced binary LR) and the four-way head (multinomial LR)."""
    from sklearn.linear_model import LogisticRegression

    anger = np.asarray([e.has(recipe.anger_label) for e in examples])
    binary = LogisticRegression(
        C=recipe.anger_c,
        class_weight="balanced",
        solver="liblinear",
        max_iter=5000,
        random_state=SEED,
    ).fit(x, anger)
    four = [four_way(e.ids, recipe.mapping) for e in examples]
    rows = [i for i, y in enumerate(four) if y is not None]
    multi = LogisticRegression(C=recipe.four_c, max_iter=5000, random_state=SEED).fit(
        x[rows], [four[i] for i in rows]
    )
    weights = np.hstack([binary.coef_.T, multi.coef_.T]).astype(np.float16)
    bias = np.concatenate([binary.intercept_, multi.intercept_]).astype(np.float32)
    return Heads(weights.astype(np.float32), bias)


@dataclass
class HeldOut:
    """Raw head outputs and cue readings on data the heads were not trained on."""

    language: Language
    texts: list[str]
    raw: NDArray[np.float64]
    anger: NDArray[np.bool_]
    four: list[int | None]
    cues: NDArray[np.float64] = field(init=False)
    points: list[CuePoints] = field(init=False)
    plain: NDArray[np.bool_] = field(init=False)

    def __post_init__(self) -> None:
        points = [cue_points(t) for t in self.texts]
        self.cues = np.asarray([cue_vector(p) for p in points], dtype=np.float64).reshape(
            len(points), len(CUE_FEATURES)
        )
        self.points = points
        self.plain = np.asarray(
            [plain_request(t, p, self.language) for t, p in zip(self.texts, points, strict=True)],
            dtype=bool,
        )

    def subset(self, index: Sequence[int] | NDArray[np.intp]) -> HeldOut:
        """The rows at ``index``."""
        rows = [int(i) for i in index]
        return HeldOut(
            self.language,
            [self.texts[i] for i in rows],
            self.raw[rows],
            self.anger[rows],
            [self.four[i] for i in rows],
        )


def held_out(recipe: Recipe, heads: Heads, vec: Vectorizer, examples: Sequence[Example]) -> HeldOut:
    """Score ``examples`` with ``heads``."""
    texts = [e.text for e in examples]
    return HeldOut(
        recipe.language,
        texts,
        heads.scores(vec.transform(texts)),
        np.asarray([e.has(recipe.anger_label) for e in examples]),
        [four_way(e.ids, recipe.mapping) for e in examples],
    )


def out_of_fold(recipe: Recipe, examples: Sequence[Example]) -> HeldOut:
    """Held-out scores for every example from FOLDS models, each trained on the other folds."""
    from sklearn.model_selection import StratifiedKFold

    anger = np.asarray([e.has(recipe.anger_label) for e in examples])
    raw = np.zeros((len(examples), 5))
    folds = StratifiedKFold(FOLDS, shuffle=True, random_state=SEED)
    for k, (train, test) in enumerate(folds.split(np.zeros(len(examples)), anger)):
        part = [examples[i] for i in train]
        vec = Vectorizer(recipe, [e.text for e in part])
        heads = fit_heads(recipe, vec.transform([e.text for e in part]), part)
        raw[test] = heads.scores(vec.transform([examples[i].text for i in test]))
        progress(f"[{recipe.language}] fold {k + 1}/{FOLDS} done")
    return HeldOut(
        recipe.language,
        [e.text for e in examples],
        raw,
        anger,
        [four_way(e.ids, recipe.mapping) for e in examples],
    )


def fit_mixer(data: HeldOut) -> dict[str, Any]:
    """Logistic layers over (head logits, cue features), fitted on held-out data.

    The anger layer is unweighted, so its output is a calibrated probability of the data
    set's anger label on the held-out distribution.
    """
    from sklearn.linear_model import LogisticRegression

    x_anger = np.hstack([data.raw[:, :1], data.cues])
    anger = LogisticRegression(C=1.0, max_iter=5000).fit(x_anger, data.anger)
    rows = [i for i, y in enumerate(data.four) if y is not None]
    x_four = np.hstack([data.raw[:, 1:], data.cues])[rows]
    four = LogisticRegression(C=1.0, max_iter=5000).fit(x_four, [data.four[i] for i in rows])
    return {
        "inputs_anger": ["anger_logit", *CUE_FEATURES],
        "inputs_four": [f"{label}_logit" for label in LABELS] + list(CUE_FEATURES),
        "anger_coef": [round(float(w), 6) for w in anger.coef_[0]],
        "anger_bias": round(float(anger.intercept_[0]), 6),
        "four_coef": [[round(float(w), 6) for w in row] for row in four.coef_],
        "four_bias": [round(float(b), 6) for b in four.intercept_],
    }


def _blob(keys: Sequence[str]) -> NDArray[np.uint8]:
    if any("\n" in k for k in keys):
        raise ValueError("a vocabulary key contains a newline")
    return np.frombuffer("\n".join(keys).encode("utf-8"), dtype=np.uint8)


def save_weights(path: Path, vec: Vectorizer, heads: Heads) -> str:
    """Write one language's arrays as a deflated ``.npz``; return its SHA-256.

    Written entry by entry with a fixed timestamp (``np.savez_compressed`` stamps the current
    time), so the same training run gives byte-identical files. No object arrays, so
    ``np.load(allow_pickle=False)`` reads it.
    """
    arrays = {
        "words": _blob(vec.words),
        "chars": _blob(vec.chars),
        "idf": vec.idf.astype(np.float32),
        "weights": heads.weights.astype(np.float16),
        "bias": heads.bias.astype(np.float32),
    }
    with zipfile.ZipFile(path, "w") as archive:
        for name, array in arrays.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.ascontiguousarray(array), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, buffer.getvalue(), compresslevel=9)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def train_language(recipe: Recipe, data: Path) -> tuple[Vectorizer, Heads, HeldOut, str]:
    """Fit one language's heads on its training split and score its held-out data."""
    if recipe.language == "en":
        train = goemotions(data, "train")
        vec = Vectorizer(recipe, [e.text for e in train])
        heads = fit_heads(recipe, vec.transform([e.text for e in train]), train)
        held = held_out(recipe, heads, vec, goemotions(data, "dev"))
        return vec, heads, held, "GoEmotions dev.tsv"
    train = kote(data, "val")
    held = out_of_fold(recipe, train)
    vec = Vectorizer(recipe, [e.text for e in train])
    heads = fit_heads(recipe, vec.transform([e.text for e in train]), train)
    return vec, heads, held, f"KOTE val.tsv, {FOLDS}-fold out-of-fold"


def _sigmoid(x: NDArray[np.float64]) -> NDArray[np.float64]:
    out: NDArray[np.float64] = 1.0 / (1.0 + np.exp(-x))
    return out


def model_anger(mixer: dict[str, Any], data: HeldOut) -> NDArray[np.float64]:
    """The mixing layer's anger probability on held-out rows."""
    x = np.hstack([data.raw[:, :1], data.cues])
    return _sigmoid(x @ np.asarray(mixer["anger_coef"]) + mixer["anger_bias"])


def mixer_logits(mixer: dict[str, Any], data: HeldOut) -> NDArray[np.float64]:
    """The mixing layer's four-way logits on held-out rows."""
    x = np.hstack([data.raw[:, 1:], data.cues])
    out: NDArray[np.float64] = x @ np.asarray(mixer["four_coef"]).T + np.asarray(mixer["four_bias"])
    return out


def model_four(mixer: dict[str, Any], data: HeldOut) -> NDArray[np.float64]:
    """The mixing layer's four-way probabilities on held-out rows (before calibration)."""
    return _softmax_rows(mixer_logits(mixer, data))


ECE_BINS = 10
MIN_PROBABILITY_GRID = (0.0, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6)


def ece_of_scores(
    confidence: Sequence[float], correct: Sequence[bool], bins: int = ECE_BINS
) -> float:
    """Expected calibration error: ``bins`` bins of equal width over the confidence, the gap
    between mean confidence and accuracy in each, weighted by the bin's share of the rows."""
    c = np.asarray(confidence, dtype=np.float64)
    ok = np.asarray(correct, dtype=bool)
    if len(c) == 0:
        return 0.0
    which = np.minimum((c * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        members = which == b
        if members.any():
            gap = abs(float(ok[members].mean()) - float(c[members].mean()))
            total += float(members.mean()) * gap
    return total


def ece(probabilities: NDArray[np.float64], gold: Sequence[int], bins: int = ECE_BINS) -> float:
    """ECE of the top label of four-way ``probabilities`` against the ``gold`` label indices."""
    p = np.asarray(probabilities, dtype=np.float64).reshape(-1, len(LABELS))
    return ece_of_scores(p.max(axis=1), p.argmax(axis=1) == np.asarray(gold), bins)


def macro_f1(predicted: Sequence[int], gold: Sequence[int], classes: int = len(LABELS)) -> float:
    """Unweighted mean of the per-class F1 (0 for a class never predicted nor present)."""
    scores = []
    for k in range(classes):
        tp = sum(p == k and g == k for p, g in zip(predicted, gold, strict=True))
        n_pred = sum(p == k for p in predicted)
        n_gold = sum(g == k for g in gold)
        scores.append(2 * tp / (n_pred + n_gold) if n_pred + n_gold else 0.0)
    return sum(scores) / classes


def _softmax_rows(z: NDArray[np.float64]) -> NDArray[np.float64]:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    out: NDArray[np.float64] = e / e.sum(axis=1, keepdims=True)
    return out


def fit_temperature(logits: NDArray[np.float64], gold: Sequence[int]) -> float:
    """The temperature minimising the negative log-likelihood of ``softmax(logits / T)``."""
    from scipy.optimize import minimize_scalar

    y = np.asarray(gold)

    def nll(t: float) -> float:
        p = _softmax_rows(logits / t)
        return -float(np.log(np.maximum(p[np.arange(len(y)), y], 1e-12)).mean())

    found = minimize_scalar(nll, bounds=(0.05, 20.0), method="bounded")
    return round(float(found.x), 4)


def cross_fitted(data: HeldOut) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Out-of-fold mixer outputs on the held-out rows: four-way logits and anger probability.

    The mixing layer is fitted on these same rows, so calibrating its in-sample outputs would
    learn nothing; each fold's outputs come from a mixer fitted on the other folds.
    """
    from sklearn.model_selection import StratifiedKFold

    logits = np.zeros((len(data.texts), len(LABELS)))
    anger = np.zeros(len(data.texts))
    folds = StratifiedKFold(FOLDS, shuffle=True, random_state=SEED)
    for train, test in folds.split(np.zeros(len(data.texts)), data.anger):
        mixer = fit_mixer(data.subset(train))
        part = data.subset(test)
        logits[test] = mixer_logits(mixer, part)
        anger[test] = model_anger(mixer, part)
    return logits, anger


def answers_with(
    calibration: Calibration, logits: NDArray[np.float64], anger: NDArray[np.float64], data: HeldOut
) -> list[Emotion]:
    """The detector's answer on each held-out row under ``calibration``."""
    out = []
    for i in range(len(data.texts)):
        p = gate_anger(
            calibration.probabilities(logits[i]), float(anger[i]), data.points[i], calibration
        )
        out.append(
            combine(
                float(anger[i]),
                p,
                data.points[i],
                bool(data.plain[i]),
                ANGER_THRESHOLD,
                calibration,
            )
        )
    return out


def labels_with(
    calibration: Calibration, logits: NDArray[np.float64], anger: NDArray[np.float64], data: HeldOut
) -> list[int]:
    """The detector's label index on each held-out row under ``calibration``."""
    return [LABELS.index(e.label) for e in answers_with(calibration, logits, anger, data)]


def fit_cue_scaling(
    anger: NDArray[np.float64], data: HeldOut, rows: Sequence[int]
) -> dict[str, list[float]]:
    """Platt scaling of standing cue verdicts (``positive``, ``disappointed``) on held-out rows.

    Per label, a logistic regression of "the mapped gold label is this one" on the cue score,
    over the mapped rows where that verdict stands (:func:`rule_verdict` says ``cue``). A
    slope below zero would make a stronger cue less sure, so then only the intercept is kept
    (the verdict's held-out precision).
    """
    from sklearn.linear_model import LogisticRegression

    scores: dict[str, list[float]] = {"positive": [], "disappointed": []}
    right: dict[str, list[bool]] = {"positive": [], "disappointed": []}
    for i in rows:
        decided = rule_verdict(float(anger[i]), data.points[i], bool(data.plain[i]))
        if decided is None or decided[0] != "cue":
            continue
        label = decided[1].label
        scores[label].append(decided[1].score)
        right[label].append(data.four[i] == LABELS.index(label))
    out: dict[str, list[float]] = {}
    for label in ("positive", "disappointed"):
        y = np.asarray(right[label])
        if len(y) < 20 or y.all() or not y.any():
            continue
        fit = LogisticRegression(C=1e4, max_iter=5000).fit(
            np.asarray(scores[label]).reshape(-1, 1), y
        )
        slope, intercept = float(fit.coef_[0][0]), float(fit.intercept_[0])
        if slope < 0:
            rate = float(y.mean())
            slope, intercept = 0.0, math.log(rate / (1 - rate))
        out[label] = [round(slope, 6), round(intercept, 6)]
    return out


def score_ece(answers: Sequence[Emotion], rows: Sequence[int], gold: Sequence[int]) -> float:
    """ECE of the answers' scores as the confidence that their label is right."""
    return ece_of_scores(
        [answers[i].score for i in rows],
        [LABELS.index(answers[i].label) == g for i, g in zip(rows, gold, strict=True)],
    )


def fit_calibration(data: HeldOut) -> dict[str, Any]:
    """Temperature, anger evidence and minimum probability, fitted on held-out rows.

    - temperature: NLL-optimal on the cross-fitted four-way logits of the mapped rows;
    - anger evidence: the held-out base rate of the anger label (an anger probability above
      it means the text makes anger more likely than the data set's average);
    - cue scaling: :func:`fit_cue_scaling`;
    - minimum probability: the one of :data:`MIN_PROBABILITY_GRID` with the best four-way
      macro-F1 of the whole detector (rules and anger gate included) on the mapped held-out
      rows, ties to the larger. Macro-F1 rather than accuracy: accuracy follows the data set's
      label shares (KOTE is 7 % neutral, customer traffic mostly neutral) and never pays for
      saying neutral; the per-class F1 does when a weak label is more often wrong than right.
    """
    logits, anger = cross_fitted(data)
    rows = [i for i, y in enumerate(data.four) if y is not None]
    gold = [int(data.four[i]) for i in rows]  # type: ignore[arg-type]
    temperature = fit_temperature(logits[rows], gold)
    evidence = round(float(data.anger.mean()), 4)
    scaling = fit_cue_scaling(anger, data, rows)
    cue_scaling = tuple(
        (label, scaling[label][0], scaling[label][1]) for label in LABELS if label in scaling
    )
    grid = []
    for tau in MIN_PROBABILITY_GRID:
        calibration = Calibration(temperature, tau, evidence, cue_scaling)
        labels = labels_with(calibration, logits, anger, data)
        predicted = [labels[i] for i in rows]
        grid.append(
            {
                "min_probability": tau,
                "accuracy": round(
                    sum(p == g for p, g in zip(predicted, gold, strict=True)) / len(gold), 4
                ),
                "macro_f1": round(macro_f1(predicted, gold), 4),
                "neutral": round(
                    sum(p == LABELS.index("neutral") for p in predicted) / len(gold), 4
                ),
            }
        )
    old = answers_with(UNCALIBRATED, logits, anger, data)
    before = [LABELS.index(old[i].label) for i in rows]
    best = max(grid, key=lambda row: (row["macro_f1"], row["min_probability"]))
    chosen = best["min_probability"]
    new = answers_with(
        Calibration(temperature, chosen, evidence, cue_scaling),
        logits,
        anger,
        data,
    )
    raw = _softmax_rows(logits[rows])
    scaled = _softmax_rows(logits[rows] / temperature)
    return {
        "temperature": temperature,
        "min_probability": chosen,
        "anger_evidence": evidence,
        "cue_scaling": scaling,
        "held_out_ece": {"before": round(ece(raw, gold), 4), "after": round(ece(scaled, gold), 4)},
        "held_out_score_ece": {
            "before": round(score_ece(old, rows, gold), 4),
            "after": round(score_ece(new, rows, gold), 4),
        },
        "held_out_grid": grid,
        "held_out_uncalibrated": {
            "accuracy": round(
                sum(p == g for p, g in zip(before, gold, strict=True)) / len(gold), 4
            ),
            "macro_f1": round(macro_f1(before, gold), 4),
            "neutral": round(sum(p == LABELS.index("neutral") for p in before) / len(gold), 4),
        },
    }


def escalations(mixer: dict[str, Any], data: HeldOut, threshold: float) -> NDArray[np.bool_]:
    """Which held-out rows the shipped detector would escalate at ``threshold``."""
    anger, four = model_anger(mixer, data), model_four(mixer, data)
    out = []
    for i in range(len(data.texts)):
        e = combine(float(anger[i]), list(four[i]), data.points[i], bool(data.plain[i]), threshold)
        out.append(e.label == "angry" and e.score >= threshold)
    return np.asarray(out, dtype=bool)


def pr_row(
    flagged: NDArray[np.bool_], gold: NDArray[np.bool_], threshold: float
) -> dict[str, float]:
    """Precision, recall, F1 and the flagged share of one operating point."""
    tp = int((flagged & gold).sum())
    p = tp / int(flagged.sum()) if flagged.sum() else 0.0
    r = tp / int(gold.sum()) if gold.sum() else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {
        "threshold": threshold,
        "precision": round(p, 3),
        "recall": round(r, 3),
        "f1": round(f, 3),
        "flagged": round(float(flagged.mean()), 3),
    }


THRESHOLDS = (0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(prog="python -m bench.train_emotion", description=__doc__)
    parser.add_argument("--data", type=Path, required=True, help="datasets folder")
    parser.add_argument("--out", type=Path, default=MODELS_DIR, help="where to write the models")
    parser.add_argument(
        "--languages", default="en,ko", help="comma-separated languages to train (default both)"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Train, write the weights and the manifest; return the exit status."""
    args = parse_args(argv)
    data = args.data.resolve()
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    manifest_path = out / MANIFEST
    manifest: dict[str, Any] = (
        json.loads(manifest_path.read_text(encoding="utf-8"))
        if manifest_path.exists()
        else {"languages": {}}
    )
    languages = [lang.strip() for lang in args.languages.split(",") if lang.strip()]
    unknown = [lang for lang in languages if lang not in RECIPES]
    if unknown or not (data / "goemotions").is_dir() or not (data / "kote").is_dir():
        problem = f"unknown language(s) {unknown}" if unknown else f"no data sets at {data}"
        print(f"error: {problem}", file=sys.stderr)
        return 2
    for language in languages:
        recipe = RECIPES[language]
        progress(f"[{language}] training")
        vec, heads, held, held_name = train_language(recipe, data)
        mixer = fit_mixer(held)
        weights = f"emotion_{language}.npz"
        digest = save_weights(out / weights, vec, heads)
        manifest["languages"][language] = {
            "weights": weights,
            "sha256": digest,
            "features": recipe.spec.to_json(),
            "min_df": {"word": recipe.word_min_df, "char": recipe.char_min_df},
            "char_weight": recipe.char_weight,
            "C": {"anger": recipe.anger_c, "four": recipe.four_c},
            "vocabulary": {"words": len(vec.words), "chars": len(vec.chars)},
            "mixer": mixer,
            "calibration": fit_calibration(held),
            "held_out": held_name,
            "held_out_pr": {
                "model": [pr_row(model_anger(mixer, held) >= t, held.anger, t) for t in THRESHOLDS],
                "detector": [
                    pr_row(escalations(mixer, held, t), held.anger, t) for t in THRESHOLDS
                ],
            },
        }
        progress(f"[{language}] wrote {out / weights}")
    manifest.update(
        {
            "anger_threshold": ANGER_THRESHOLD,
            "feature_version": FEATURE_VERSION,
            "labels": list(LABELS),
            "seed": SEED,
            "trained_by": "python -m bench.train_emotion --data ../shared/datasets",
            "data": {
                "en": "GoEmotions train.tsv (heads), dev.tsv (mixer); Apache 2.0",
                "ko": "KOTE val.tsv (heads; mixer on 5-fold out-of-fold predictions); MIT",
            },
        }
    )
    manifest_path.write_text(
        json.dumps(manifest, ensure_ascii=False, indent=1, sort_keys=True) + "\n", encoding="utf-8"
    )
    print(f"wrote {manifest_path} ({dt.date.today().isoformat()})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
