"""Review polarity benchmarks: positive / negative / neutral on GoEmotions and KOTE test splits.

Gold polarity per row (both data sets are multi-label):

- GoEmotions: each label's group in ``sentiment_dict.json`` (positive / negative / ambiguous),
  ``neutral`` is neutral, and *ambiguous* (realization, surprise, curiosity, confusion) counts
  as neutral — for a shop these are questions and puzzlement, neither praise nor complaint. A
  row with both a positive and a negative label is mixed and left out.
- KOTE: the mapping :data:`KOTE_POLARITY` of its 44 labels (table in ``bench/README.md``).
  Its rows hold the union of five raters' labels (≈ 8 per row), so each label is one vote:
  more positive than negative labels is positive, more negative is negative, only neutral
  labels (없음 …) is neutral, and a tie between polar labels is mixed and left out.

Measured in the same run: the shipped :class:`~bot.insights.polarity.ReviewPolarity` (what
``ondo insights reviews`` reports), the plain emotion-label mapping, the cue lexicon alone, a
TF-IDF + logistic regression trained on the training split (GoEmotions train; KOTE val, as KOTE
ships no train split here), and the majority class. ``ReviewPolarity``'s two constants were
chosen on GoEmotions dev and KOTE val; test splits are only reported.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import datasets, train_emotion
from bench.common import Config, Models, progress
from bench.table import Row, pct
from bench.train_emotion import Example
from bot.insights.polarity import POLARITIES, EmotionPolarity, Polarity, ReviewPolarity
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


def detector_labels(detector: Any, texts: Sequence[str]) -> list[str]:
    """The polarity of every text, language detected per text as in the product."""
    return [detector.polarity(t, detect_language(t)) for t in texts]


def tfidf_labels(train: Gold, test: Gold, **vectorizer: Any) -> list[str]:
    """A TF-IDF + multinomial logistic regression trained on ``train``, applied to ``test``."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    vec = TfidfVectorizer(sublinear_tf=True, min_df=2, **vectorizer)
    model = LogisticRegression(max_iter=2000, C=4.0)
    model.fit(vec.fit_transform(train.texts), train.labels)
    return [str(label) for label in model.predict(vec.transform(test.texts))]


def rows(
    name: str, train: Gold, test: Gold, lexical: dict[str, Any], lexical_name: str, protocol: str
) -> list[Row]:
    """Measure every predictor on ``test`` and build the table row."""
    gold = test.labels
    shipped = detector_labels(ReviewPolarity(), test.texts)
    plain = detector_labels(EmotionPolarity(), test.texts)
    cue = detector_labels(EmotionPolarity(CueEmotionDetector()), test.texts)
    baseline = tfidf_labels(train, test, **lexical)
    counts = Counter(gold)
    majority, majority_n = counts.most_common(1)[0]
    mix = " / ".join(f"{counts[p]} {p}" for p in POLARITIES)
    return [
        Row(
            benchmark=f"{name} review polarity ({len(gold)} test rows: {mix})",
            metric="accuracy (macro-F1)",
            ondo=f"ReviewPolarity {cell(shipped, gold)}; emotion label mapped {cell(plain, gold)}",
            lexical=f"{lexical_name} {cell(baseline, gold)}",
            dense="— (not run: polarity reads the emotion detector, no embedding)",
            anchor=(
                f"majority class ({majority}) {pct(majority_n / len(gold))}; "
                f"cue lexicon alone {cell(cue, gold)}"
            ),
            target="— (no target set)",
            protocol=(
                f"{protocol} {test.mixed} mixed test rows left out. Ondo = the shipped "
                "`ReviewPolarity` (grouped four-way probabilities + review-problem cues; its two "
                "constants chosen on GoEmotions dev and KOTE val); *emotion label mapped* = "
                "the detector's label (positive / disappointed+angry / neutral). Baseline: "
                f"{lexical_name} trained on {len(train.labels)} training rows."
            ),
        )
    ]


def goemotions(cfg: Config, models: Models) -> list[Row]:
    """GoEmotions (English) review polarity: shipped polarity vs TF-IDF+LR and majority."""
    rule = goemotions_gold(cfg.data)
    train = Gold.of(
        datasets.subsample(train_emotion.goemotions(cfg.data, "train"), cfg.emotion_train), rule
    )
    test = Gold.of(
        datasets.subsample(train_emotion.goemotions(cfg.data, "test"), cfg.emotion_test), rule
    )
    progress(f"polarity goemotions: {len(train.labels)} train, {len(test.labels)} test")
    return rows(
        "GoEmotions",
        train,
        test,
        {"ngram_range": (1, 2)},
        "word 1-2g TF-IDF+LR",
        "Gold = `sentiment_dict.json` groups, ambiguous and `neutral` as neutral; test.tsv.",
    )


def kote(cfg: Config, models: Models) -> list[Row]:
    """KOTE (Korean) review polarity: shipped polarity vs TF-IDF+LR and majority."""
    train = Gold.of(
        datasets.subsample(train_emotion.kote(cfg.data, "val"), cfg.emotion_train), kote_gold
    )
    test = Gold.of(
        datasets.subsample(train_emotion.kote(cfg.data, "test"), cfg.emotion_test), kote_gold
    )
    progress(f"polarity kote: {len(train.labels)} train (val.tsv), {len(test.labels)} test")
    return rows(
        "KOTE",
        train,
        test,
        {"analyzer": "char_wb", "ngram_range": (1, 3)},
        "char 1-3g TF-IDF+LR",
        "Gold = label votes under the 44-label mapping of bench/README.md; test.tsv.",
    )


def polarity(cfg: Config, models: Models) -> list[Row]:
    """Both data sets (the suite registered in ``bench/run.py``)."""
    return goemotions(cfg, models) + kote(cfg, models)
