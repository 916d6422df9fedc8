"""The two languages Ondo speaks, and which one a text is written in.

It lives in ``knowledge/`` (the lowest layer) because both sides need it: the loader tags each
knowledge file's language when the file does not say, and the conversation picks the reply
language from the customer's message.
"""

from __future__ import annotations

import re
from typing import Literal

Language = Literal["ko", "en"]
LANGUAGES: tuple[Language, ...] = ("ko", "en")

# Hangul syllables, conjoining jamo (incl. extended blocks), compatibility jamo (ㅋ, ㅠ)
# and halfwidth jamo.
_HANGUL_SYLLABLE = re.compile(r"[\uac00-\ud7a3]")
_HANGUL_JAMO = re.compile(r"[\u1100-\u11ff\u3131-\u318e\ua960-\ua97f\ud7b0-\ud7ff\uffa0-\uffdc]")
# Any letter of any script: word characters minus digits and underscore.
_LETTER = re.compile(r"[^\W\d_]")

KOREAN_SHARE = 0.3
"""Weighted share of Hangul among letters at/above which a message counts as Korean."""

# A Hangul syllable block packs two or three jamo, i.e. about as much text as two Latin
# letters; weighting it 2 keeps "주문한 Samsung Galaxy 언제 와요?" Korean while
# "kimchi 김치 order" stays English.
_SYLLABLE_WEIGHT = 2


def detect_language(text: str) -> Language:
    """Return ``"ko"`` when Hangul makes up a meaningful share of the letters, else ``"en"``.

    Hangul syllables count double (see ``_SYLLABLE_WEIGHT``); jamo such as ㅋㅋ or ㅠㅠ
    count once. Text without letters (empty, emoji, digits) is ``"en"``.
    """
    syllables = len(_HANGUL_SYLLABLE.findall(text))
    jamo = len(_HANGUL_JAMO.findall(text))
    hangul = syllables + jamo
    if hangul == 0:
        return "en"
    letters = len(_LETTER.findall(text))
    other = letters - hangul
    weighted = syllables * _SYLLABLE_WEIGHT + jamo
    share = weighted / (weighted + max(other, 0))
    return "ko" if share >= KOREAN_SHARE else "en"
