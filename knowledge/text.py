"""How text is compared: one normalisation for every check that reads a message or an answer.

Full-width letters, compatibility forms, invisible (format) characters, variation selectors,
Hangul fillers and non-ASCII digits would otherwise let the same words pass for different
ones: in retrieval and emotion, in the staff-text check and in the model output guard.
"""

from __future__ import annotations

import unicodedata


def normalise(text: str) -> str:
    """``text`` in NFKC, without invisible (format) characters, with ASCII digits."""
    text = unicodedata.normalize("NFKC", text)
    out: list[str] = []
    for ch in text:
        category = unicodedata.category(ch)
        if category == "Cf" or ch in "\u034f\u115f\u1160\u3164\uffa0" or "\ufe00" <= ch <= "\ufe0f":
            continue  # zero-width, bidi controls, variation selectors, Hangul fillers
        if category == "Nd" and not ch.isascii():
            out.append(str(unicodedata.decimal(ch)))
            continue
        out.append(ch)
    return "".join(out)
