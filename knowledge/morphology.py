"""The one Korean morphological analyzer (kiwipiepy), shared by every reader of Korean text:
lexical retrieval, the cue lists and the review polarity model load it once between them."""

from __future__ import annotations

import threading
from functools import lru_cache
from typing import Any

_lock = threading.Lock()


@lru_cache(maxsize=1)
def analyzer() -> Any:
    """The shared analyzer, loaded on first use (a second or two)."""
    from kiwipiepy import Kiwi

    # Without the optional dictionaries (proper nouns, multi-word entries, typos) the analyzer
    # loads in half the time; the morphemes of questions and cue words are all in the base model.
    return Kiwi(
        model_type="cong", load_default_dict=False, load_typo_dict=False, load_multi_dict=False
    )


def tokenize(text: str) -> list[Any]:
    """kiwipiepy's tokens of ``text``; one call at a time (the analyzer is not thread-safe)."""
    with _lock:
        return list(analyzer().tokenize(text))


def tokenize_many(texts: list[str]) -> list[list[Any]]:
    """:func:`tokenize` of each text, in one call to the analyzer."""
    with _lock:
        return [list(tokens) for tokens in analyzer().tokenize(texts)]
