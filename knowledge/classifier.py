"""A linear softmax classifier over sentence embeddings, trained on a knowledge base's questions.

Nearest-neighbour search only asks "which stored question is closest?". A classifier trained
on every example question of every entry learns which directions of the embedding space tell
entries apart, which matters when entries are close in meaning (``card arrival`` vs ``card
delivery estimate``). Multinomial logistic regression trains in seconds on a few thousand
questions with L-BFGS on float32 matrix products.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

Float32Array = NDArray[np.float32]

DEFAULT_C = 10.0
"""Inverse L2 strength (scikit-learn's ``C``): loss summed over questions + ``|W|² / 2C``."""
MAX_ITERATIONS = 150


@dataclass(frozen=True)
class SoftmaxClassifier:
    """``softmax(x @ weights + bias)`` over ``classes`` columns."""

    weights: Float32Array  # (features, classes)
    bias: Float32Array  # (classes,)

    @property
    def n_features(self) -> int:
        """Input width."""
        return int(self.weights.shape[0])

    @property
    def n_classes(self) -> int:
        """Number of classes (columns of the output)."""
        return int(self.weights.shape[1])

    def logits(self, x: Float32Array) -> Float32Array:
        """Unnormalized log-probabilities, shape ``(rows, classes)``."""
        out: Float32Array = x @ self.weights + self.bias
        return out

    def probabilities(self, x: Float32Array) -> Float32Array:
        """Class probabilities, each row summing to 1."""
        return softmax(self.logits(x))

    def to_vector(self) -> Float32Array:
        """Flat float32 form: ``[features, classes, weights..., bias...]``."""
        head = np.array([self.n_features, self.n_classes], dtype=np.float32)
        return np.concatenate([head, self.weights.ravel(), self.bias]).astype(np.float32)

    @classmethod
    def from_vector(cls, vector: Float32Array) -> SoftmaxClassifier:
        """Inverse of :meth:`to_vector`."""
        n_features, n_classes = int(vector[0]), int(vector[1])
        size = n_features * n_classes
        weights = vector[2 : 2 + size].reshape(n_features, n_classes)
        bias = vector[2 + size : 2 + size + n_classes]
        return cls(np.ascontiguousarray(weights), np.ascontiguousarray(bias))


def softmax(z: Float32Array) -> Float32Array:
    """Row-wise softmax."""
    shifted = z - z.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    out: Float32Array = (e / e.sum(axis=1, keepdims=True)).astype(np.float32)
    return out


def train(
    x: Float32Array,
    labels: NDArray[np.int64],
    n_classes: int,
    *,
    c: float = DEFAULT_C,
    max_iterations: int = MAX_ITERATIONS,
) -> SoftmaxClassifier:
    """Multinomial logistic regression with L2 on the weights (not the bias).

    Classes with no example get a bias of -30, so they are never predicted.
    """
    from scipy.optimize import minimize

    x = np.ascontiguousarray(x, dtype=np.float32)
    n, d = x.shape
    present = np.zeros(n_classes, dtype=bool)
    present[labels] = True
    onehot = np.zeros((n, n_classes), dtype=np.float32)
    onehot[np.arange(n), labels] = 1.0
    absent = np.where(present, 0.0, -30.0).astype(np.float32)
    l2 = 1.0 / c

    def loss_and_gradient(theta: NDArray[np.float64]) -> tuple[float, NDArray[np.float64]]:
        w = theta[: d * n_classes].reshape(d, n_classes).astype(np.float32)
        b = theta[d * n_classes :].astype(np.float32) + absent
        z = x @ w + b
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        total = e.sum(axis=1, keepdims=True)
        log_likelihood = float((z * onehot).sum() - np.log(total).sum())
        residual = e / total - onehot
        grad_w = x.T @ residual + l2 * w
        grad_b = np.where(present, residual.sum(axis=0), 0.0)
        loss = -log_likelihood + 0.5 * l2 * float((w * w).sum())
        gradient = np.concatenate([grad_w.ravel(), grad_b]).astype(np.float64)
        return loss, gradient

    result = minimize(
        loss_and_gradient,
        np.zeros(d * n_classes + n_classes),
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": max_iterations, "gtol": 1e-4},
    )
    theta = result.x
    weights = theta[: d * n_classes].reshape(d, n_classes).astype(np.float32)
    bias = (theta[d * n_classes :] + absent).astype(np.float32)
    return SoftmaxClassifier(weights, bias)
