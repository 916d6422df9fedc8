"""Turn retrieval scores into a calibrated probability that the best match answers the query.

The knowledge base trains its own calibrator when it loads (see :mod:`knowledge.learning`):
its example questions are asked again by a model that has not seen them, once with their entry
still there (the answer is usually found, under another wording) and once with their whole
topic held out (the answer is gone, as for a question the base cannot answer); messages of the
shipped off-topic pool (:mod:`knowledge.scope`) are asked too, as the greetings, chit-chat and
other errands of real traffic. A logistic regression on the best score, and on how close the
message is to that off-topic pool, learns where "found it" ends and "do not know" begins, so
one shipped threshold works across knowledge bases.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]

N_FEATURES = 4
"""Best score, margin, off-topic proximity, bias."""
_SIGNS = (1.0, 1.0, -1.0)
"""The direction each score feature may move confidence: more score or margin never lowers it,
more likeness to off-topic messages never raises it."""


def features(top1: float, top2: float, off_topic: float = 0.0) -> FloatArray:
    """The calibrator's inputs: best score, its margin over the runner-up, how close the query
    is to the nearest off-topic message (:mod:`knowledge.scope`), and a bias."""
    return np.array([top1, top1 - top2, off_topic, 1.0])


@dataclass(frozen=True)
class Calibrator:
    """Logistic regression over :func:`features`, monotone in each score feature."""

    weights: tuple[float, ...]

    def __call__(self, top1: float, top2: float, off_topic: float = 0.0) -> float:
        """Probability that the best match is right."""
        z = float(np.dot(self._full(), features(top1, top2, off_topic)))
        return float(1.0 / (1.0 + np.exp(-np.clip(z, -30.0, 30.0))))

    def _full(self) -> FloatArray:
        # Weights stored before the off-topic feature existed are (top1, margin, bias).
        w = self.weights
        if len(w) == 3:
            return np.array([w[0], w[1], 0.0, w[2]])
        return np.asarray(w, dtype=np.float64)

    @classmethod
    def default(cls) -> Calibrator:
        """A prior for tiny knowledge bases that give too few examples to fit."""
        return cls((12.0, 8.0, 0.0, -6.0))

    @classmethod
    def fit(
        cls,
        x: FloatArray,
        y: NDArray[np.int_],
        weight: FloatArray | None = None,
        l2: float = 1e-2,
        *,
        margin: bool = True,
        off_topic: bool = False,
    ) -> Calibrator:
        """Fit by weighted Newton's method; falls back to :meth:`default` without both classes.

        ``x`` rows are :func:`features`. ``margin=False`` leaves the margin out and
        ``off_topic=False`` the off-topic proximity (their weights are 0). A score feature whose
        weight comes out against its direction (``_SIGNS``) is dropped and the rest refitted.
        """
        if len(y) < 8 or y.min() == y.max():
            return cls.default()
        sample_weight = np.ones(len(y)) if weight is None else weight
        active = [0] + ([1] if margin else []) + ([2] if off_topic else []) + [3]
        while True:
            w = _newton(x[:, active], y, sample_weight, l2)
            wrong = [c for c, v in zip(active[:-1], w[:-1], strict=True) if v * _SIGNS[c] < 0]
            if not wrong:
                break
            active = [c for c in active if c not in wrong]
        full = np.zeros(N_FEATURES)
        full[active] = w
        return cls(tuple(float(v) for v in full))


def _newton(x: FloatArray, y: NDArray[np.int_], weight: FloatArray, l2: float) -> FloatArray:
    """Weighted L2-penalized logistic regression; the last column is the unpenalized bias."""
    w = np.zeros(x.shape[1])
    penalty = l2 * np.eye(x.shape[1])
    penalty[-1, -1] = 0.0
    for _ in range(50):
        p = 1.0 / (1.0 + np.exp(-np.clip(x @ w, -30.0, 30.0)))
        gradient = x.T @ (weight * (p - y)) + penalty @ w
        curvature = weight * p * (1 - p)
        hessian = (x * curvature[:, None]).T @ x + penalty + 1e-9 * np.eye(len(w))
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if float(np.abs(step).max()) < 1e-8:
            break
    return w
