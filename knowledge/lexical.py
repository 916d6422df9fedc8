"""Korean-aware lexical matching: kiwipiepy morphemes, light English stems, character n-grams.

Korean attaches particles and endings to words and spaces them loosely ("환불요청하려면" vs
"환불 요청 하려면"), so plain word matching fails; morphemes catch the content words and
character unigrams and bigrams catch the rest.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer

from knowledge.morphology import tokenize

_CONTENT_TAGS = ("NNG", "NNP", "NNB", "NR", "VV", "VA", "XR", "SL", "SN", "MAG", "SH")
_WORD_RE = re.compile(r"[a-z0-9]+|[\uac00-\ud7a3]+")
_HANGUL_RE = re.compile(r"[\uac00-\ud7a3]")
_EN_STOP = frozenset(
    [
        "a",
        "an",
        "the",
        "i",
        "me",
        "my",
        "we",
        "our",
        "you",
        "your",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "am",
        "do",
        "does",
        "did",
        "to",
        "of",
        "in",
        "on",
        "at",
        "for",
        "with",
        "and",
        "or",
        "it",
        "this",
        "that",
        "can",
        "could",
        "would",
        "should",
        "will",
        "how",
        "what",
        "where",
        "when",
        "which",
        "who",
        "please",
        "hi",
        "hello",
        "there",
        "have",
        "has",
        "had",
        "get",
        "got",
        "so",
        "just",
    ]
)
_SUFFIXES = ("ingly", "edly", "ings", "ing", "ies", "ied", "ed", "es", "s", "ly")


def _stem(word: str) -> str:
    for suffix in _SUFFIXES:
        if len(word) > len(suffix) + 2 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def tokens(text: str) -> list[str]:
    """Lexical features of ``text``: morphemes/stems (``w:``) and character n-grams (``c:``)."""
    lowered = text.lower()
    feats: list[str] = []
    if _HANGUL_RE.search(lowered):
        morphs = tokenize(lowered)
        for token in morphs:
            if token.tag.startswith(_CONTENT_TAGS):
                form = token.form
                if token.tag == "SL":
                    if form in _EN_STOP:
                        continue
                    form = _stem(form)
                feats.append("w:" + form)
    else:
        feats.extend("w:" + _stem(w) for w in _WORD_RE.findall(lowered) if w not in _EN_STOP)
    # Single characters and pairs across the words (space included): a Hangul syllable alone
    # carries meaning, and paraphrases reorder words, which longer n-grams punish.
    spaced = " ".join(_WORD_RE.findall(lowered))
    for n in (1, 2):
        feats.extend("c:" + spaced[i : i + n] for i in range(len(spaced) - n + 1))
    return feats


class LexicalIndex:
    """TF-IDF over :func:`tokens`, scored by cosine similarity (0..1)."""

    name = "lexical"

    def __init__(self, texts: Sequence[str]) -> None:
        self._vectorizer = TfidfVectorizer(
            analyzer=tokens, sublinear_tf=True, norm="l2", dtype=np.float32
        )
        self._matrix: sparse.csr_matrix = sparse.csr_matrix(
            self._vectorizer.fit_transform(list(texts) or [""])
        )
        # Features × texts, row-compressed: a query touches only the rows of its own features
        # (transposing on every search would rebuild the whole index).
        self._by_feature: sparse.csr_matrix = sparse.csr_matrix(self._matrix.T)

    def transform(self, texts: Sequence[str]) -> sparse.csr_matrix:
        """Vectorize queries in the index's vocabulary."""
        return sparse.csr_matrix(self._vectorizer.transform(list(texts)))

    def scores(self, queries: Sequence[str]) -> NDArray[np.float32]:
        """Cosine similarity of each query (rows) to each indexed text (columns)."""
        product = self.transform(queries) @ self._by_feature
        return np.asarray(product.toarray(), dtype=np.float32)

    def self_scores(self, rows: NDArray[np.int64]) -> NDArray[np.float32]:
        """Similarity of the indexed texts at ``rows`` to every indexed text."""
        product = self._matrix[rows] @ self._by_feature
        return np.asarray(product.toarray(), dtype=np.float32)
