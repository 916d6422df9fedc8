"""SMS length: what a text costs in segments, and a reply shortened to fit a few.

GSM-7 texts take 160 characters in one segment and 153 per part of a longer one (the rest of
each part is the joining header); one character outside GSM-7 (any Korean, an emoji, a curly
quote) makes the whole message UCS-2: 70 in one, 67 per part, counted in UTF-16 units. So
punctuation that merely looks typographic is written in its GSM-7 form first, and a reply
longer than :data:`MAX_SEGMENTS` keeps its leading sentences that fit, never a cut sentence
unless the first alone is too long (then cut at a word, with an ellipsis).
"""

from __future__ import annotations

import re

MAX_SEGMENTS = 3
"""A bot reply's longest: three segments (459 GSM-7 characters, 201 Korean ones)."""
MAX_RELAY_SEGMENTS = 10
"""An agent's message: Twilio's own limit is 1,600 characters, ten segments."""

_GSM_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ ÆæßÉ!\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENDED = set("^{}\\[~]|€\f")
_LOOKALIKES = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u2013": "-",
        "\u2014": "-",
        "\u00a0": " ",
        "\u2026": "...",
        "\u200b": "",
    }
)
_SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s+|\n+")


def plain_punctuation(text: str) -> str:
    """``text`` with typographic quotes, dashes and ellipses in their GSM-7 forms."""
    return text.translate(_LOOKALIKES)


def is_gsm7(text: str) -> bool:
    """Whether ``text`` is sent in GSM-7 (every character in its basic or extended table)."""
    return all(c in _GSM_BASIC or c in _GSM_EXTENDED for c in text)


def units(text: str) -> tuple[int, bool]:
    """``text``'s length in its encoding's units (septets, or UTF-16 units) and whether GSM-7."""
    if is_gsm7(text):
        return sum(2 if c in _GSM_EXTENDED else 1 for c in text), True
    return len(text.encode("utf-16-le")) // 2, False


def segments(text: str) -> int:
    """How many segments ``text`` is billed as."""
    length, gsm = units(text)
    single, part = (160, 153) if gsm else (70, 67)
    if length <= single:
        return 1
    return -(-length // part)


def fit(text: str, max_segments: int = MAX_SEGMENTS) -> str:
    """``text`` (punctuation made plain) shortened to ``max_segments`` at a sentence end.

    A reply's last line is kept whole when it fits beside something: it carries what the
    customer must read (a handoff's "a person is coming", the offer of one); the sentences
    dropped are the last ones of the lines before it.
    """
    text = plain_punctuation(text).strip()
    if segments(text) <= max_segments:
        return text
    lines = [line.strip() for line in text.split("\n") if line.strip()]
    if len(lines) > 1 and segments(lines[-1]) < max_segments:
        head = _leading_sentences(" ".join(lines[:-1]), max_segments, "\n" + lines[-1])
        if head:
            return head + "\n" + lines[-1]
    return _leading_sentences(text, max_segments) or _cut_words(
        _SENTENCE_END.split(text)[0], max_segments
    )


def _leading_sentences(text: str, max_segments: int, after: str = "") -> str:
    """The leading whole sentences of ``text`` that fit in ``max_segments`` with ``after``."""
    kept: list[str] = []
    for sentence in (s.strip() for s in _SENTENCE_END.split(text) if s.strip()):
        if segments(" ".join([*kept, sentence]) + after) > max_segments:
            break
        kept.append(sentence)
    return " ".join(kept)


def _cut_words(text: str, max_segments: int) -> str:
    """The longest word-boundary prefix of ``text`` that fits with an ellipsis after it."""
    ellipsis = "..." if is_gsm7(text) else "…"
    low, high = 0, len(text)
    while low < high:  # the longest prefix that fits, found by halving
        middle = (low + high + 1) // 2
        if segments(text[:middle].rstrip() + ellipsis) <= max_segments:
            low = middle
        else:
            high = middle - 1
    prefix = text[:low]
    space = prefix.rfind(" ")
    if space > low // 2:
        prefix = prefix[:space]
    return prefix.rstrip(" ,;:") + ellipsis
