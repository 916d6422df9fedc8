"""Review polarity benchmarks: positive / negative / neutral, per domain we can test.

Gold polarity per row (both data sets are multi-label):

- GoEmotions: each label's group in ``sentiment_dict.json`` (positive / negative / ambiguous),
  ``neutral`` is neutral, and *ambiguous* (realization, surprise, curiosity, confusion) counts
  as neutral — for a shop these are questions and puzzlement, neither praise nor complaint. A
  row with both a positive and a negative label is mixed and left out.
- KOTE: the mapping :data:`KOTE_POLARITY` of its 44 labels (table in ``bench/README.md``).
  Its rows hold the union of five raters' labels (≈ 8 per row), so each label is one vote:
  more positive than negative labels is positive, more negative is negative, only neutral
  labels (없음 …) is neutral, and a tie between polar labels is mixed and left out.

- goemotions-korean: the GoEmotions rule on the machine-translated rows (same labels).
- ``tests/data/ko_reviews.yaml``: hand-written Korean reviews with their polarity.

Rows: GoEmotions test (English); KOTE test, and two keyword slices of it (KOTE does not say
which platform a comment came from, so "movies & books" and "shopping & food" are the rows
whose text names such a thing, :data:`SLICES`); goemotions-korean test; the hand-written
reviews (and their sad/scary-but-positive subset); the Korean rated reviews of the bundled
sample file, with their stars as gold. Measured in the same run: the shipped
:class:`~bot.insights.polarity.ReviewPolarity`, the previous one
(:class:`~bot.insights.polarity.EmotionReviewPolarity`, "before"), a char/word TF-IDF +
logistic regression trained on a training split, the cue lexicon and the majority class.
The Korean model is trained on KOTE val and goemotions-korean train (``bench.train_polarity``);
no test split is trained or tuned on.
"""

from __future__ import annotations

import csv
import json
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from bench import datasets, train_emotion
from bench.common import Config, Models, progress
from bench.table import Row, pct
from bench.train_emotion import Example
from bot.insights.polarity import (
    MODEL_CLASSES,
    POLARITIES,
    EmotionPolarity,
    EmotionReviewPolarity,
    Polarity,
    PolarityModel,
    ReviewPolarity,
    star_polarity,
)
from bot.insights.reading import SAMPLE_REVIEWS, read_reviews
from bot.insights.star_adaptation import FOLDS, read_polarities
from bot.types import Language
from bot.understanding.emotion import CueEmotionDetector
from knowledge.language import detect_language

_KOTE_POSITIVE = frozenset(train_emotion.KOTE_GROUPS["positive"])
_KOTE_NEUTRAL = frozenset(("없음", "깨달음", "놀람", "신기함/관심", "비장함"))
KOTE_POLARITY: dict[str, Polarity] = {
    # The positive labels are the four-way detector's positive group; every other label but
    # the few neutral ones is negative.
    label: "positive"
    if label in _KOTE_POSITIVE
    else "neutral"
    if label in _KOTE_NEUTRAL
    else "negative"
    for label in train_emotion.KOTE_LABELS
}
"""Every KOTE label's polarity (13 positive, 5 neutral, 26 negative)."""


def goemotions_korean(root: Path, split: str) -> list[Example]:
    """goemotions-korean ``split``.tsv: ``text \\t label ids`` (no id column)."""
    path = root / "goemotions-korean" / f"{split}.tsv"
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))
    return [
        Example(row[0], tuple(int(i) for i in row[1].split(","))) for row in rows if len(row) >= 2
    ]


def goemotions_gold(root: Path) -> Callable[[Sequence[int]], Polarity | None]:
    """The GoEmotions row -> polarity rule, from ``sentiment_dict.json`` (None: mixed)."""
    groups = json.loads((root / "goemotions" / "sentiment_dict.json").read_text("utf-8"))
    group_of = {name: group for group, names in groups.items() for name in names}
    names = train_emotion.GOEMOTIONS_LABELS
    polarity_of: dict[int, Polarity] = {}
    for i, name in enumerate(names):
        group = group_of.get(name, "neutral")
        polarity_of[i] = group if group in ("positive", "negative") else "neutral"

    def gold(ids: Sequence[int]) -> Polarity | None:
        found = {polarity_of[i] for i in ids}
        if {"positive", "negative"} <= found:
            return None
        return next((p for p in ("positive", "negative") if p in found), "neutral")

    return gold


def kote_gold(ids: Sequence[int]) -> Polarity | None:
    """The KOTE row -> polarity vote of :data:`KOTE_POLARITY` (None: a polar tie)."""
    votes = Counter(KOTE_POLARITY[train_emotion.KOTE_LABELS[i]] for i in ids)
    if votes["positive"] > votes["negative"]:
        return "positive"
    if votes["negative"] > votes["positive"]:
        return "negative"
    return "neutral" if votes["positive"] == 0 else None


@dataclass(frozen=True)
class Gold:
    """Texts with a gold polarity, and how many rows were left out as mixed."""

    texts: list[str]
    labels: list[Polarity]
    mixed: int

    @classmethod
    def of(
        cls, examples: Sequence[Example], rule: Callable[[Sequence[int]], Polarity | None]
    ) -> Gold:
        """Label ``examples`` with ``rule``; mixed rows are counted and dropped."""
        texts: list[str] = []
        labels: list[Polarity] = []
        mixed = 0
        for example in examples:
            label = rule(example.ids)
            if label is None:
                mixed += 1
            else:
                texts.append(example.text)
                labels.append(label)
        return cls(texts, labels, mixed)


def accuracy(predicted: Sequence[str], gold: Sequence[str]) -> float:
    """Share of exact matches."""
    return sum(p == g for p, g in zip(predicted, gold, strict=True)) / len(gold) if gold else 0.0


def macro_f1(predicted: Sequence[str], gold: Sequence[str]) -> float:
    """Mean F1 over the three polarities (0 for a class with no predictions and no gold)."""
    scores = []
    for label in POLARITIES:
        tp = sum(p == g == label for p, g in zip(predicted, gold, strict=True))
        n_pred, n_gold = predicted.count(label), gold.count(label)
        if n_pred + n_gold == 0:
            continue
        scores.append(2 * tp / (n_pred + n_gold))
    return sum(scores) / len(scores) if scores else 0.0


def cell(predicted: Sequence[str], gold: Sequence[str]) -> str:
    """``accuracy (macro-F1 0.xx)``."""
    return f"{pct(accuracy(predicted, gold))} (macro-F1 {macro_f1(predicted, gold):.2f})"


HAND_REVIEWS = Path(__file__).resolve().parents[1] / "tests" / "data" / "ko_reviews.yaml"
"""Hand-written Korean reviews (the project's own writing), a test set only."""
VALIDATION_REVIEWS = Path(__file__).resolve().parent / "data" / "ko_reviews_validation.yaml"
"""Other hand-written Korean reviews, the validation set the model's settings were chosen on."""
PREVIOUS_MODEL = Path(__file__).resolve().parent / "baselines" / "polarity_ko_v1.npz"
"""The Korean review model as first shipped (n-grams only), byte-identical copy, the
"previous" cells."""


@cache
def previous() -> ReviewPolarity:
    """:class:`ReviewPolarity` with the previous Korean model (English is the same scorer)."""
    return ReviewPolarity(model=PolarityModel.load(PREVIOUS_MODEL))


SLICES: dict[str, re.Pattern[str]] = {
    "movies & books": re.compile(r"영화|배우|연기|드라마|감독|극장|책|소설|작가|작품|웹툰"),
    "shopping & food": re.compile(
        r"배송|택배|제품|상품|구매|주문|포장|사이즈|가격|반품|환불|맛있|맛없|음식|식당|맛집|메뉴"
    ),
}
"""Keyword slices of KOTE test: rows whose text names a film/book, or a purchase/meal."""


def detector_labels(detector: Any, texts: Sequence[str]) -> list[str]:
    """The polarity of every text, language detected per text as in the product (a
    :class:`ReviewPolarity` reads its Korean texts in batches: the same labels, faster)."""
    languages = [detect_language(t) for t in texts]
    if not isinstance(detector, ReviewPolarity):
        return [detector.polarity(t, lang) for t, lang in zip(texts, languages, strict=True)]
    labels = [
        "" if lang == "ko" else detector.polarity(t, lang)
        for t, lang in zip(texts, languages, strict=True)
    ]
    korean = [i for i, lang in enumerate(languages) if lang == "ko"]
    for start in range(0, len(korean), 256):
        chunk = korean[start : start + 256]
        p = detector.korean_probabilities([texts[i] for i in chunk])
        for i, j in zip(chunk, p.argmax(axis=1), strict=True):
            labels[i] = MODEL_CLASSES[int(j)]
    return labels


def tfidf_model(train: Gold, **vectorizer: Any) -> Callable[[Sequence[str]], list[str]]:
    """A TF-IDF + multinomial logistic regression trained on ``train``."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    vec = TfidfVectorizer(sublinear_tf=True, min_df=2, **vectorizer)
    model = LogisticRegression(max_iter=2000, C=4.0)
    model.fit(vec.fit_transform(train.texts), train.labels)
    return lambda texts: [str(label) for label in model.predict(vec.transform(list(texts)))]


def mix(gold: Sequence[str]) -> str:
    """``n positive / n negative / n neutral``."""
    counts = Counter(gold)
    return " / ".join(f"{counts[p]} {p}" for p in POLARITIES)


def majority(gold: Sequence[str]) -> str:
    """``majority class (label) xx.x %``."""
    label, n = Counter(gold).most_common(1)[0]
    return f"majority class ({label}) {pct(n / len(gold))}"


@dataclass(frozen=True)
class Predicted:
    """Every predictor's labels on one test set."""

    gold: list[str]
    shipped: list[str]
    previous: list[str]
    before: list[str]
    baseline: list[str]
    cue: list[str]

    @classmethod
    def of(cls, test: Gold, baseline: Callable[[Sequence[str]], list[str]]) -> Predicted:
        """Run the shipped, previous, emotion-only, baseline and cue predictors on ``test``."""
        return cls(
            list(test.labels),
            detector_labels(ReviewPolarity(), test.texts),
            detector_labels(previous(), test.texts),
            detector_labels(EmotionReviewPolarity(), test.texts),
            baseline(test.texts),
            detector_labels(EmotionPolarity(CueEmotionDetector()), test.texts),
        )

    def subset(self, keep: Sequence[bool]) -> Predicted:
        """The same predictions on the rows where ``keep`` is true."""

        def pick(labels: list[str]) -> list[str]:
            return [label for label, k in zip(labels, keep, strict=True) if k]

        fields = (self.gold, self.shipped, self.previous, self.before, self.baseline, self.cue)
        return Predicted(*(pick(x) for x in fields))


def row(
    name: str,
    p: Predicted,
    baseline_name: str,
    protocol: str,
    *,
    extra: str = "",
    extra_previous: str = "",
    extra_before: str = "",
    target: str = "",
) -> Row:
    """One table row: shipped, previous and before in the Ondo cell, the baseline, anchors."""
    return Row(
        benchmark=f"{name} ({len(p.gold)} rows: {mix(p.gold)})",
        metric="accuracy (macro-F1)",
        ondo=(
            f"ReviewPolarity {cell(p.shipped, p.gold)}{extra}; "
            f"previous model {cell(p.previous, p.gold)}{extra_previous}; "
            f"before {cell(p.before, p.gold)}{extra_before}"
        ),
        lexical=f"{baseline_name} {cell(p.baseline, p.gold)}",
        dense="— (not run: no embedding)",
        anchor=f"{majority(p.gold)}; cue lexicon alone {cell(p.cue, p.gold)}",
        target=target or "— (no target set)",
        protocol=protocol,
    )


ONDO = (
    "Ondo = the shipped `ReviewPolarity` (Korean: the review model of `bench.train_polarity`, "
    "n-gram head + sentence-embedding head, trained on KOTE val + goemotions-korean train + a "
    "hand-written supplement; English: the emotion detector's grouped probabilities + "
    "review-problem cues); *previous model* = the same with the first Korean review model "
    "(n-grams only, `bench/baselines/polarity_ko_v1.npz`); *before* = the English scorer for "
    "both languages (`EmotionReviewPolarity`, what shipped before any review model)."
)
KO_TARGET = "≥ 85 % on Korean review text"


def goemotions(cfg: Config) -> list[Row]:
    """GoEmotions (English) review polarity."""
    rule = goemotions_gold(cfg.data)
    train = Gold.of(
        datasets.subsample(train_emotion.goemotions(cfg.data, "train"), cfg.emotion_train), rule
    )
    test = Gold.of(
        datasets.subsample(train_emotion.goemotions(cfg.data, "test"), cfg.emotion_test), rule
    )
    progress(f"polarity goemotions: {len(train.labels)} train, {len(test.labels)} test")
    p = Predicted.of(test, tfidf_model(train, ngram_range=(1, 2)))
    protocol = (
        "Gold = `sentiment_dict.json` groups, ambiguous and `neutral` as neutral; test.tsv; "
        f"{test.mixed} mixed rows left out. {ONDO} English reads the same scorer in both, so "
        f"the two cells match. Baseline trained on {len(train.labels)} train.tsv rows."
    )
    return [row("GoEmotions review polarity", p, "word 1-2g TF-IDF+LR", protocol)]


def kote(cfg: Config, baseline: Callable[[Sequence[str]], list[str]], n_train: int) -> list[Row]:
    """KOTE (Korean) test, and its keyword slices."""
    test = Gold.of(
        datasets.subsample(train_emotion.kote(cfg.data, "test"), cfg.emotion_test), kote_gold
    )
    progress(f"polarity kote: {len(test.labels)} test")
    p = Predicted.of(test, baseline)
    protocol = (
        "Gold = label votes under the 44-label mapping of bench/README.md; test.tsv; "
        f"{test.mixed} mixed rows left out. {ONDO} Baseline trained on {n_train} val.tsv rows."
    )
    out = [row("KOTE review polarity", p, "char 1-3g TF-IDF+LR", protocol, target=KO_TARGET)]
    for name, pattern in SLICES.items():
        keep = [bool(pattern.search(t)) for t in test.texts]
        out.append(
            row(
                f"KOTE test, {name} slice",
                p.subset(keep),
                "char 1-3g TF-IDF+LR",
                f"The KOTE test rows whose text matches `{pattern.pattern}` (KOTE does not "
                "record the platform of a comment). Same predictors as the KOTE row.",
                target=KO_TARGET,
            )
        )
    return out


def goemotions_korean_rows(cfg: Config) -> list[Row]:
    """goemotions-korean (machine-translated) test."""
    rule = goemotions_gold(cfg.data)
    train = Gold.of(
        datasets.subsample(goemotions_korean(cfg.data, "train"), cfg.emotion_train), rule
    )
    test = Gold.of(datasets.subsample(goemotions_korean(cfg.data, "test"), cfg.emotion_test), rule)
    progress(f"polarity goemotions-korean: {len(train.labels)} train, {len(test.labels)} test")
    p = Predicted.of(test, tfidf_model(train, analyzer="char_wb", ngram_range=(1, 3)))
    protocol = (
        "Gold = the GoEmotions rule on goemotions-korean test.tsv (Reddit comments, machine-"
        f"translated; silver data); {test.mixed} mixed rows left out. {ONDO} Baseline trained "
        f"on {len(train.labels)} goemotions-korean train.tsv rows."
    )
    return [row("GoEmotions-Korean review polarity", p, "char 1-3g TF-IDF+LR", protocol)]


def hand_reviews(path: Path = HAND_REVIEWS) -> tuple[Gold, list[bool]]:
    """Hand-written reviews, and which are sad/scary-genre ones."""
    import yaml

    items = yaml.safe_load(path.read_text("utf-8"))["reviews"]
    gold = Gold([str(i["text"]) for i in items], [i["polarity"] for i in items], 0)
    return gold, [bool(i.get("genre", False)) for i in items]


def hand_rows(baseline: Callable[[Sequence[str]], list[str]], n_train: int) -> list[Row]:
    """The hand-written Korean reviews, all and the genre subset."""
    test, genre = hand_reviews()
    p = Predicted.of(test, baseline)
    g = p.subset(genre)
    protocol = (
        f"`tests/data/ko_reviews.yaml`: {len(test.labels)} Korean reviews written for this "
        "project (products, delivery, food, movies, books, services), never trained on; the "
        f"genre cells are its {len(g.gold)} reviews whose sad or scary words belong to the "
        f"thing reviewed. {ONDO} Baseline trained on {n_train} KOTE val.tsv rows."
    )
    return [
        row(
            "Hand-written Korean reviews",
            p,
            "char 1-3g TF-IDF+LR",
            protocol,
            extra=f", genre {pct(accuracy(g.shipped, g.gold))}",
            extra_previous=f", genre {pct(accuracy(g.previous, g.gold))}",
            extra_before=f", genre {pct(accuracy(g.before, g.gold))}",
            target=KO_TARGET,
        )
    ]


def validation_rows(baseline: Callable[[Sequence[str]], list[str]], n_train: int) -> list[Row]:
    """The hand-written validation reviews (settings were chosen on them: not a test)."""
    test, genre = hand_reviews(VALIDATION_REVIEWS)
    p = Predicted.of(test, baseline)
    g = p.subset(genre)
    protocol = (
        f"`bench/data/ko_reviews_validation.yaml`: {len(test.labels)} other Korean reviews "
        "written for this project (films, series, books, shows, products, delivery, service, "
        "food, stays, apps; contrast and negation), never trained on but used to choose the "
        f"model's settings, so this row is optimistic; genre = its {len(g.gold)} sad/scary ones. "
        f"{ONDO} Baseline trained on {n_train} KOTE val.tsv rows."
    )
    return [
        row(
            "Hand-written Korean reviews, validation set",
            p,
            "char 1-3g TF-IDF+LR",
            protocol,
            extra=f", genre {pct(accuracy(g.shipped, g.gold))}",
            extra_previous=f", genre {pct(accuracy(g.previous, g.gold))}",
            extra_before=f", genre {pct(accuracy(g.before, g.gold))}",
        )
    ]


def stars_row() -> list[Row]:
    """The Korean rated reviews of the bundled sample file, stars as gold."""
    file = read_reviews(SAMPLE_REVIEWS)
    rated = [r for r in file.reviews if r.rating is not None and detect_language(r.text) == "ko"]
    test = Gold([r.text for r in rated], [star_polarity(r.rating) for r in rated if r.rating], 0)
    p = Predicted.of(test, lambda texts: [majority_label(test.labels)] * len(texts))
    reviews: list[tuple[str, Language, float | None]] = [(r.text, "ko", r.rating) for r in rated]

    def adapted(detector: ReviewPolarity) -> str:
        used = read_polarities(detector, reviews).model
        share = "—" if used.agreement is None else pct(used.agreement)
        return f"; adapted to the file's stars (cross-fitted) {share} ({used.reason})"

    protocol = (
        f"The {len(test.labels)} Korean reviews with a star rating in the bundled sample "
        "(`bot/insights/sample/reviews.csv`, fictional shop), gold = stars (4-5 positive, 3 "
        f"neutral, 1-2 negative): what the report calls agreement with stars. {ONDO} "
        "*adapted* = what `ondo insights reviews` shows (`read_polarities`): a logistic "
        "regression over the model's three log-probabilities fitted on the file's own stars, "
        f"{FOLDS}-fold cross-fitted (each review labelled by a fit without its own star)."
    )
    return [
        row(
            "Sample file, Korean text vs stars",
            p,
            "majority class",
            protocol,
            extra=adapted(ReviewPolarity()),
            extra_previous=adapted(previous()),
        )
    ]


def majority_label(labels: Sequence[str]) -> str:
    """The most common label."""
    return Counter(labels).most_common(1)[0][0]


def polarity(cfg: Config, models: Models) -> list[Row]:
    """Every polarity row (the suite registered in ``bench/run.py``)."""
    kote_train = Gold.of(
        datasets.subsample(train_emotion.kote(cfg.data, "val"), cfg.emotion_train), kote_gold
    )
    baseline = tfidf_model(kote_train, analyzer="char_wb", ngram_range=(1, 3))
    n = len(kote_train.labels)
    return (
        goemotions(cfg)
        + kote(cfg, baseline, n)
        + goemotions_korean_rows(cfg)
        + hand_rows(baseline, n)
        + validation_rows(baseline, n)
        + stars_row()
    )
