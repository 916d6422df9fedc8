"""Out of scope: the messages no knowledge base answers, and how close a query comes to them.

Real support traffic is 40–70 % questions the knowledge base cannot answer, and a good part of
them are not about its topics at all: greetings, "are you a bot?", "ㅋㅋㅋ", the weather, a
recipe, keyboard noise. Held-out entries of the knowledge base (:mod:`knowledge.learning`)
teach the calibrator what a question on a missing topic scores; they never look like those
messages. So Ondo ships a small pool of them, written for it (``knowledge/data/off_topic_*.txt``,
English and Korean), and each knowledge base learns from the pool when it loads:

- the pool is scored against the knowledge base like any query, and its messages join the
  calibrator's unanswerable examples — except those the knowledge base answers as well as its
  own questions (a base with a "hello" entry keeps answering "hello");
- how close a query is to the nearest remaining pool message (both sentence models, weighted
  by language like the knowledge base's own signals) is one more calibrator input, never
  raising confidence.

:class:`Scope` holds the settings of that model; :data:`SHIPPED` is what the product uses and
:data:`BEFORE` reproduces the calibrator of earlier releases (benchmark baseline).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np
from numpy.typing import NDArray

from knowledge.calibration import FloatArray
from knowledge.embedders import Embedder
from knowledge.vectors import VectorCache, embed_cached

POOL_FILES = (("en", "off_topic_en.txt"), ("ko", "off_topic_ko.txt"))
"""The shipped pool: (language, file under ``knowledge/data``)."""


@dataclass(frozen=True)
class Scope:
    """How a knowledge base learns what it cannot answer.

    ``negative_share``: the unanswerable examples weigh this much of the answerable ones in
    total; ``off_topic_share`` of that weight goes to the off-topic pool, the rest to held-out
    entries. ``off_topic``: use the pool at all (examples and the proximity input). A base with
    fewer answerable held-out examples than pool messages moves ``negative_share`` toward
    :data:`BEFORE`'s in proportion (:func:`knowledge.learning.negative_share`).
    """

    negative_share: float = 0.2
    off_topic_share: float = 0.8
    off_topic: bool = True


SHIPPED = Scope()
"""What the product ships: chosen on validation splits (bench/README.md, "Out of scope")."""
BEFORE = Scope(negative_share=0.05, off_topic_share=0.0, off_topic=False)
"""The calibrator of earlier releases: held-out entries only, weighing 5 %."""


@lru_cache(maxsize=1)
def off_topic_messages() -> tuple[tuple[str, str], ...]:
    """The shipped pool as ``(language, message)`` pairs, in file order."""
    out: list[tuple[str, str]] = []
    folder = resources.files("knowledge") / "data"
    for language, name in POOL_FILES:
        for line in (folder / name).read_text(encoding="utf-8").splitlines():
            text = line.strip()
            if text and not text.startswith("#"):
                out.append((language, text))
    return tuple(out)


def pool_hash() -> str:
    """Content hash of the pool, part of the learned model's cache key."""
    blob = "\n".join(f"{lang}\t{text}" for lang, text in off_topic_messages())
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


Weight = Callable[[str, str], float]
"""``weight(language, signal)``: a retriever's signal weight."""


class OffTopic:
    """The pool embedded with a retriever's sentence models (through its vector cache)."""

    def __init__(
        self, embedders: Sequence[Embedder], cache: VectorCache | None, weight: Weight
    ) -> None:
        pairs = off_topic_messages()
        self.languages = [lang for lang, _ in pairs]
        self.texts = [text for _, text in pairs]
        self.names = [e.name for e in embedders]
        self.vectors = [embed_cached(e, self.texts, cache) for e in embedders]
        self._by_dim = [np.ascontiguousarray(v.T) for v in self.vectors]
        self._weight = weight

    def __len__(self) -> int:
        return len(self.texts)

    def similarities(
        self, query_vectors: Sequence[NDArray[np.float32]], languages: Sequence[str]
    ) -> FloatArray:
        """Fused similarity of each query (rows) to each pool message (columns)."""
        fused = np.zeros((len(languages), len(self.texts)))
        for name, q, by_dim in zip(self.names, query_vectors, self._by_dim, strict=True):
            weight = np.array([self._weight(lang, name) for lang in languages])[:, None]
            fused += weight * (q @ by_dim)
        return fused

    def proximity(
        self,
        query_vectors: Sequence[NDArray[np.float32]],
        languages: Sequence[str],
        kept: NDArray[np.bool_],
    ) -> FloatArray:
        """Each query's similarity to its nearest pool message among ``kept``."""
        if not kept.any() or not len(languages):
            return np.zeros(len(languages))
        return np.asarray(self.similarities(query_vectors, languages)[:, kept].max(axis=1))

    def self_proximity(self, kept: NDArray[np.bool_]) -> FloatArray:
        """Each pool message's similarity to its nearest *other* kept message."""
        fused = self.similarities(self.vectors, self.languages)
        np.fill_diagonal(fused, -np.inf)
        fused[:, ~kept] = -np.inf
        best = fused.max(axis=1)
        return np.asarray(np.where(np.isfinite(best), best, 0.0))
