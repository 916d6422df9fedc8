"""What a message is read as: NFKC text, and what emoji alone say.

Full-width letters ("ＲＥＦＵＮＤ　ｐｌｅａｓｅ"), compatibility forms and invisible characters
would otherwise miss every model and lexicon; a message of emoji only has no words to search
for, but "😡🤬" still says how the customer feels.
"""

from __future__ import annotations

import re

from bot.types import Emotion
from knowledge.text import normalise

_WORD_RE = re.compile(r"[^\W_]", re.UNICODE)

ANGRY_EMOJI = frozenset("😡🤬👿💢😠😤🖕👊💀🔥")
SAD_EMOJI = frozenset("😞😢😭😔😟😩😫☹🙁💔😿😓😥")
HAPPY_EMOJI = frozenset("😀😃😄😁😊🙂😍🥰😘👍👏🙏💕💖❤♥🎉✨😆🤗")


def for_analysis(text: str) -> str:
    """``text`` normalised (:func:`knowledge.text.normalise`), white space folded."""
    return " ".join(normalise(text).split())


def has_words(text: str) -> bool:
    """Whether ``text`` has a letter or digit to search with (not emoji or symbols only)."""
    return _WORD_RE.search(text) is not None


def emoji_emotion(text: str) -> Emotion:
    """The emotion of a message of emoji and symbols only: angry, disappointed, positive or
    neutral by the emoji it holds (anger wins: "👍😡" is not a compliment)."""
    chars = set(text)
    if chars & ANGRY_EMOJI:
        angry = sum(ch in ANGRY_EMOJI for ch in text)
        return Emotion("angry", 0.6 if angry == 1 else 0.8)
    if chars & SAD_EMOJI:
        return Emotion("disappointed", 0.6)
    if chars & HAPPY_EMOJI:
        return Emotion("positive", 0.6)
    return Emotion("neutral", 0.6)
