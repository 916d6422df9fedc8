"""Per-file adaptation of the Korean review model to the file's own star ratings.

A shop's stars say how *its* reviewers write: how many are happy, what a 3-star review sounds
like. :func:`read_polarities` (what ``ondo insights reviews`` uses) learns that from a file's
rated Korean reviews — a multinomial logistic regression over the review model's three
log-probabilities, star polarity (:func:`~bot.insights.polarity.star_polarity`) as the label —
and labels the file's Korean reviews with it. It learns a recalibration, not new words.

Honesty of the text-vs-stars agreement: a rated review is never labelled by a fit that saw its
own star. Rated reviews are split into :data:`FOLDS` folds by position; each fold is labelled
by a fit on the other folds alone. Unrated reviews are labelled by a fit on every rated review.
No choice between the adapted model and the plain one is made on the stars (on the bundled
sample such a choice, itself cross-fitted, flipped from fold to fold on 17-row folds and cost
agreement). English reviews, files with fewer than :data:`MIN_RATED` rated Korean reviews and
folds whose stars hold one polarity keep the model.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np
from numpy.typing import NDArray

from bot.insights.polarity import (
    MODEL_CLASSES,
    POLARITIES,
    Polarity,
    PolarityDetector,
    ReviewPolarity,
    star_polarity,
)
from bot.types import Language

MIN_RATED = 30
"""Fewer rated Korean reviews than this in a file: no adaptation (too little to fit on)."""
FOLDS = 5
"""Cross-fitting folds, for the choice to adapt and for the labels of rated reviews."""

_POLARITY: dict[str, Polarity] = {p: p for p in POLARITIES}


class Predictor(Protocol):
    """A fitted classifier over the model's log-probabilities (scikit-learn's ``predict``)."""

    def predict(self, x: NDArray[np.float64]) -> Sequence[object]:
        """One polarity name per row of ``x``."""
        ...


Learner = Callable[[NDArray[np.float64], Sequence[Polarity]], Predictor]
"""Fits a :class:`Predictor` on log-probabilities and star polarities."""


def logistic_learner(x: NDArray[np.float64], labels: Sequence[Polarity]) -> Predictor:
    """The shipped learner: a multinomial logistic regression (C = 1)."""
    from sklearn.linear_model import LogisticRegression

    model: Predictor = LogisticRegression(C=1.0, max_iter=1000).fit(x, list(labels))
    return model


def log_probabilities(base: ReviewPolarity, texts: Sequence[str]) -> NDArray[np.float64]:
    """The Korean model's log-probabilities of ``texts``, one row each (MODEL_CLASSES order)."""
    if not texts:
        return np.zeros((0, len(MODEL_CLASSES)), dtype=np.float64)
    return np.log(np.maximum(base.korean_probabilities(texts), 1e-9))


def _argmax_labels(x: NDArray[np.float64]) -> list[Polarity]:
    return [MODEL_CLASSES[int(i)] for i in np.argmax(x, axis=1)]


def _predict(model: Predictor, x: NDArray[np.float64]) -> list[Polarity]:
    return [_POLARITY[str(p)] for p in model.predict(x)] if len(x) else []


def _agreement(predicted: Sequence[Polarity], gold: Sequence[Polarity]) -> float:
    return sum(p == g for p, g in zip(predicted, gold, strict=True)) / len(gold) if gold else 0.0


def folds_of(n: int, folds: int = FOLDS) -> NDArray[np.intp]:
    """The fold of each of ``n`` rated reviews: by position, so the split ignores the stars."""
    return np.arange(n, dtype=np.intp) % folds


def cross_fit(
    x: NDArray[np.float64],
    labels: Sequence[Polarity],
    fit: Callable[[NDArray[np.float64], Sequence[Polarity]], Predictor | None],
    folds: int = FOLDS,
) -> tuple[list[Polarity], NDArray[np.bool_]]:
    """Each row's label from ``fit`` on the other folds only (the model's argmax where ``fit``
    declines, returning None), and which rows a fit labelled."""
    out = _argmax_labels(x)
    fitted = np.zeros(len(labels), dtype=np.bool_)
    fold = folds_of(len(labels), folds)
    for f in range(folds):
        held = np.flatnonzero(fold == f)
        rest = np.flatnonzero(fold != f)
        if not len(held) or not len(rest):
            continue
        model = fit(x[rest], [labels[int(i)] for i in rest])
        if model is not None:
            fitted[held] = True
            for i, label in zip(held, _predict(model, x[held]), strict=True):
                out[i] = label
    return out, fitted


def fit_or_keep(
    learner: Learner,
) -> Callable[[NDArray[np.float64], Sequence[Polarity]], Predictor | None]:
    """``learner``, declining (None: keep the model) when the stars hold only one polarity."""

    def fit(x: NDArray[np.float64], labels: Sequence[Polarity]) -> Predictor | None:
        return learner(x, labels) if len(set(labels)) >= 2 else None

    return fit


Reason = Literal["adapted", "text_only", "few_ratings", "one_polarity"]
"""Why the Korean reviews were labelled as they were: adapted to the stars; text alone (asked,
or a detector without the Korean model); too few rated Korean reviews; stars of one polarity."""


@dataclass(frozen=True)
class ModelUsed:
    """Which Korean model labelled a file's reviews, and what its stars said about it."""

    reason: Reason
    rated: int = 0
    """Rated Korean reviews in the file."""
    rated_adapted: int = 0
    """Rated Korean reviews labelled by an adapted fit (made on the other folds)."""
    base_agreement: float | None = None
    """Share of rated Korean reviews whose label by the model alone matches their stars."""
    agreement: float | None = None
    """The same for the labels used; None without rated Korean reviews."""

    @property
    def adapted(self) -> bool:
        """Whether the file's Korean reviews were labelled by the model adapted to its stars."""
        return self.reason == "adapted"

    def to_json(self) -> dict[str, object]:
        """The ``polarity_model`` object of ``--json``."""
        return {
            "korean": self.reason,
            "adapted": self.adapted,
            "rated_korean": self.rated,
            "folds": FOLDS if self.adapted else None,
            "rated_adapted": self.rated_adapted,
            "base_agreement": _rounded(self.base_agreement),
            "agreement": _rounded(self.agreement),
        }


def _rounded(share: float | None) -> float | None:
    return None if share is None else round(share, 3)


TEXT_ONLY = ModelUsed("text_only")


@dataclass(frozen=True)
class FileReading:
    """One polarity per review of a file, and the model that gave them."""

    labels: list[Polarity]
    model: ModelUsed


def read_polarities(
    detector: PolarityDetector,
    reviews: Sequence[tuple[str, Language, float | None]],
    *,
    adapt: bool = True,
    learner: Learner = logistic_learner,
) -> FileReading:
    """The polarity of each ``(text, language, stars)`` review of one file.

    With a :class:`ReviewPolarity` and ``adapt``, Korean reviews are labelled as the module
    docstring says; ``adapt=False`` keeps the model's own labels; any other detector labels
    every review by itself.
    """
    if not isinstance(detector, ReviewPolarity):
        return FileReading([detector.polarity(t, lang) for t, lang, _ in reviews], TEXT_ONLY)
    korean = [i for i, (_, lang, _) in enumerate(reviews) if lang == "ko"]
    labels: list[Polarity] = [
        "neutral" if lang == "ko" else detector.polarity(t, lang) for t, lang, _ in reviews
    ]
    x = log_probabilities(detector, [reviews[i][0] for i in korean])
    base = _argmax_labels(x)
    for i, label in zip(korean, base, strict=True):
        labels[i] = label
    rated = [k for k, i in enumerate(korean) if reviews[i][2] is not None]
    stars = [star_polarity(s) for s in (reviews[korean[k]][2] for k in rated) if s is not None]
    base_agreement = _agreement([base[k] for k in rated], stars) if rated else None
    fit = fit_or_keep(learner)
    whole = fit(x[rated], stars) if adapt and len(rated) >= MIN_RATED else None
    if whole is None:
        reason: Reason = (
            "text_only"
            if not adapt
            else "few_ratings"
            if len(rated) < MIN_RATED
            else "one_polarity"
        )
        return FileReading(labels, ModelUsed(reason, len(rated), 0, base_agreement, base_agreement))
    unrated = [k for k, i in enumerate(korean) if reviews[i][2] is None]
    for k, label in zip(unrated, _predict(whole, x[unrated]), strict=True):
        labels[korean[k]] = label
    fitted, by_fit = cross_fit(x[rated], stars, fit)
    for k, label in zip(rated, fitted, strict=True):
        labels[korean[k]] = label
    used = ModelUsed(
        reason="adapted",
        rated=len(rated),
        rated_adapted=int(np.count_nonzero(by_fit)),
        base_agreement=base_agreement,
        agreement=_agreement(fitted, stars),
    )
    return FileReading(labels, used)
