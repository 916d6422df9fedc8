"""Who may read what: per-audience views of the entries and the staff text no customer sees.

A customer's search runs over a retriever built from customer entries alone (so a staff entry
is never scored, and the confidence is calibrated on what customers can get); staff search
every entry. :class:`StaffText` is the last line of defence: it finds any run of eight words
of a staff entry (that no customer entry also says) inside text about to reach a customer.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from knowledge.entries import Audience, Entry
from knowledge.text import normalise

SHINGLE_WORDS = 8
"""A leak is this many consecutive words of a staff entry."""

_WORD_RE = re.compile(r"[0-9A-Za-z\uac00-\ud7a3\u3131-\u318e]+")


def visible_to(audience: Audience, entries: Iterable[Entry]) -> list[Entry]:
    """The entries a reader of ``audience`` may see: staff see everything."""
    if audience == "staff":
        return list(entries)
    return [e for e in entries if e.audience == "customers"]


def words(text: str) -> list[str]:
    """Lower-cased words of ``text``, normalised (:func:`knowledge.text.normalise`), without
    punctuation."""
    return _WORD_RE.findall(normalise(text).lower())


def shingles(text: str, n: int = SHINGLE_WORDS) -> set[tuple[str, ...]]:
    """Every run of ``n`` consecutive words of ``text`` (the whole text if shorter)."""
    tokens = words(text)
    if len(tokens) < n:
        return {tuple(tokens)} if len(tokens) >= 3 else set()
    return {tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)}


def entry_texts(entry: Entry) -> list[str]:
    """Everything of ``entry`` that could be quoted: answers, questions, agent steps."""
    texts = [*entry.answer.values(), *(q for _, q in entry.all_questions())]
    return [*texts, *entry.agent_steps]


class StaffText:
    """The word 8-grams of staff entries that no customer entry shares."""

    def __init__(self, entries: Sequence[Entry], n: int = SHINGLE_WORDS) -> None:
        self.n = n
        public: set[tuple[str, ...]] = set()
        private: set[tuple[str, ...]] = set()
        for entry in entries:
            target = private if entry.audience == "staff" else public
            for text in entry_texts(entry):
                target |= shingles(text, n)
        self._grams = frozenset(g for g in private - public if len(g) == n)

    def __len__(self) -> int:
        return len(self._grams)

    def leaked(self, text: str) -> list[str]:
        """The staff 8-grams found in ``text``, as text (empty: nothing leaked)."""
        if not self._grams:
            return []
        tokens = words(text)
        found = (tuple(tokens[i : i + self.n]) for i in range(max(0, len(tokens) - self.n + 1)))
        return [" ".join(g) for g in found if g in self._grams]

    def leaks(self, text: str) -> bool:
        """Whether ``text`` contains eight consecutive words of a staff entry."""
        return bool(self.leaked(text))
