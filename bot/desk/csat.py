"""The satisfaction question after a resolved handoff — its pure part: what the customer is
asked on each kind of channel, how an answer is read, and what the bot says back.

Decisions:

- **Channels.** ``buttons`` (Slack, Discord): a question and five buttons whose payload is
  ``csat:<handoff id>:<score>`` (:func:`button_value`, read back by :func:`read_button`);
  ``sms``: a digit; ``email``: a line answered with a digit. SMS texts stay short (a Korean
  SMS segment is 70 characters).
- **What counts as a score** (:func:`read_score`): what
  :func:`bot.understanding.ratings.parse_rating` reads as stars — ``5``, ``5점``, ``4/5``, ``4
  out of 5``, ``★★★★``, ``⭐ x3``, a digit leading the answer (``5 - quick``) — after full-width
  and keycap digits (``３``, ``5️⃣``) are made plain; ``5점 만점에 4점``; a digit ending the answer
  (``Great, 5``, ``매우 만족 5``); and an English number word as the whole answer (``five``, ``Four
  stars``): here they answer a 1-5 question. A word verdict (``최고``, ``great``) is not a number:
  the customer is asked once more (:func:`retry_text`; the caller asks only once, then drops
  it).
- **One score, or none.** An answer naming a second number of two digits at most that is not
  a quantity (``2일``, ``3 days``) is ambiguous and gives None: ``5 stars but 6 would be
  better``. Longer numbers (an order number, a price) are not scores and are ignored. More
  than five stars (``★★★★★★``), a fraction (``4.5``), ``0``, ``6``, ``10``, ``1234`` give None.
- **Low** is 2 or less (:func:`is_low`): the thanks says a person will follow up, and the
  caller opens a follow-up note in the ticket thread.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from typing import Final, Literal, NamedTuple

from bot.types import Language
from bot.understanding.ratings import parse_rating

Channel = Literal["buttons", "sms", "email"]
CHANNELS: Final[tuple[Channel, ...]] = ("buttons", "sms", "email")
SCORES: Final = (1, 2, 3, 4, 5)
LOW_SCORE: Final = 2
BUTTON_PREFIX: Final = "csat"
MAX_ANSWER_CHARS: Final = 500
"""Only an answer's first characters are read: a score leads a short reply."""

TEXTS: Final[Mapping[str, Mapping[Language, str]]] = {
    "ask.buttons": {
        "ko": "상담은 어떠셨나요? 1–5점 중에 골라 주세요.",
        "en": "How was your conversation with us? Please pick a score from 1 to 5.",
    },
    "ask.sms": {
        "ko": "상담이 어떠셨나요? 1(별로)~5(아주 좋음) 숫자로 답해 주세요.",
        "en": "How did we do? Reply with a number from 1 (poor) to 5 (great).",
    },
    "ask.email": {
        "ko": "상담은 어떠셨나요? 이 메일에 1~5 숫자 하나로 답장해 주세요"
        " (1 별로, 5 아주 좋음). 한 줄 의견을 덧붙이셔도 좋아요.",
        "en": "How did we do? Just reply to this e-mail with one number from 1 to 5"
        " (1 poor, 5 great); a line of comment is welcome too.",
    },
    "retry": {
        "ko": "1부터 5까지 숫자 하나로 답해 주시겠어요? (예: 5)",
        "en": "Could you answer with one number from 1 to 5? (for example: 5)",
    },
    "thanks.low": {
        "ko": "솔직한 평가 감사합니다. 불편을 드려 죄송해요."
        " 담당자가 내용을 살펴보고 다시 연락드릴게요.",
        "en": "Thank you for telling us, and I'm sorry it wasn't better. A person from our"
        " team will look into it and follow up with you.",
    },
    "thanks.mid": {
        "ko": "평가해 주셔서 감사합니다. 더 나은 상담이 되도록 노력할게요.",
        "en": "Thank you for rating us. We'll keep working to do better.",
    },
    "thanks.high": {
        "ko": "좋게 평가해 주셔서 감사합니다! 좋은 하루 보내세요.",
        "en": "Thank you, that's lovely to hear! Have a great day.",
    },
}
BUTTON_LABELS: Final[Mapping[Language, tuple[str, str, str, str, str]]] = {
    "ko": (
        "1 😞 별로예요",
        "2 🙁 아쉬워요",
        "3 😐 보통이에요",
        "4 🙂 좋았어요",
        "5 😄 아주 좋았어요",
    ),
    "en": ("1 😞 Poor", "2 🙁 Not great", "3 😐 OK", "4 🙂 Good", "5 😄 Great"),
}
_WORDS: Final = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5}
_WORD_ANSWER = re.compile(
    r"\s*(one|two|three|four|five)(?:\s*(?:stars?|points?|out\s+of\s+five))?\s*[.!~]*\s*",
    re.IGNORECASE,
)
_KEYCAP = re.compile("\ufe0f?\u20e3")
_STAR_RUN = re.compile(r"[★⭐🌟]{6,}")
_SHORT_NUMBER = re.compile(r"(?<![\d.,/])\d{1,2}(?![\d.,])")
_QUANTITY = re.compile(
    r"\s*(?:days?|weeks?|hours?|times?|items?|pcs|minutes?|mins?|months?|years?|won|원|일|주|"
    r"시간|번|개|분|벌|장|달|개월|년|시|월|살|명|박|회|차|초)",
    re.IGNORECASE,
)
_SCALE = re.compile(r"/\s*5(?!\d)|out\s+of\s+5(?!\d)|5\s*점\s*만점(?:에서|에|중)?", re.IGNORECASE)
_KO_OUT_OF = re.compile(r"5\s*점\s*만점(?:에서|에|중)?\s*([1-5])(?!\d)")
_TAIL_DIGIT = re.compile(r"(?:^|(?<!\d)[\s,:.!~-])([1-5])\s*[.!~]*\s*$")
_DECIMAL = re.compile(r"(?<![\d.,])\d[.,]\d(?![\d.,])")
_BUTTON = re.compile(rf"{BUTTON_PREFIX}:([1-9][0-9]{{0,17}}):([1-5])")


class CsatClick(NamedTuple):
    """A satisfaction button pressed: which handoff, what score."""

    handoff_id: int
    score: int


def ask_text(language: Language, channel: Channel) -> str:
    """The satisfaction question for ``channel`` (``buttons``, ``sms``, ``email``)."""
    if channel not in CHANNELS:
        raise ValueError(f"no satisfaction question for channel {channel!r}")
    return TEXTS[f"ask.{channel}"][language]


def button_labels(language: Language) -> tuple[str, str, str, str, str]:
    """The five buttons' labels, score 1 first."""
    return BUTTON_LABELS[language]


def button_value(handoff_id: int, score: int) -> str:
    """The payload of the button giving ``score`` for handoff ``handoff_id``."""
    if handoff_id < 1 or score not in SCORES:
        raise ValueError(f"no satisfaction button for handoff {handoff_id}, score {score}")
    return f"{BUTTON_PREFIX}:{handoff_id}:{score}"


def read_button(value: object) -> CsatClick | None:
    """The handoff and score of a button payload ``csat:<handoff id>:<score>``, or None for
    anything else (an empty click, another button, a forged or malformed value)."""
    if not isinstance(value, str) or len(value) > 40:
        return None
    match = _BUTTON.fullmatch(value)
    return CsatClick(int(match.group(1)), int(match.group(2))) if match else None


def read_score(text: object) -> int | None:
    """The score 1-5 an answer gives, or None (see the module's decisions)."""
    if not isinstance(text, str):
        return None
    plain = _plain(text[:MAX_ANSWER_CHARS])
    if not plain.strip() or _STAR_RUN.search(plain) or _DECIMAL.search(plain):
        return None
    word = _WORD_ANSWER.fullmatch(plain)
    if word:
        return _WORDS[word.group(1).lower()]
    out_of = _KO_OUT_OF.search(plain)  # 5점 만점에 4점: parse_rating would read the 5
    score = int(out_of.group(1)) if out_of else parse_rating(plain)
    if score is None:
        tail = _TAIL_DIGIT.search(plain)
        score = int(tail.group(1)) if tail else None
    if score is None:
        return None
    return None if _another_number(plain, score) else score


def _plain(text: str) -> str:
    """Full-width digits and slashes as ASCII (NFKC), keycaps (5️⃣) as their digit."""
    return unicodedata.normalize("NFKC", _KEYCAP.sub("", text))


def _another_number(text: str, score: int) -> bool:
    """Whether ``text`` names a short number besides ``score`` that is not a quantity (the
    ``5`` of ``4/5`` and ``out of 5`` is the scale, not a number)."""
    scale = _SCALE.sub(" ", text)
    others = {
        int(m.group(0))
        for m in _SHORT_NUMBER.finditer(scale)
        if not _QUANTITY.match(scale, m.end())
    }
    return bool(others - {score})


def is_low(score: int) -> bool:
    """Whether ``score`` asks for a person's follow-up (2 or less)."""
    return score <= LOW_SCORE


def thanks_text(score: int, language: Language) -> str:
    """What the bot says to a score: a low one is told a person will follow up."""
    if score not in SCORES:
        raise ValueError(f"a satisfaction score is 1 to 5, not {score}")
    level = "low" if is_low(score) else "mid" if score == 3 else "high"
    return TEXTS[f"thanks.{level}"][language]


def retry_text(language: Language) -> str:
    """What the bot says to an answer it cannot read as a score (said once only)."""
    return TEXTS["retry"][language]
