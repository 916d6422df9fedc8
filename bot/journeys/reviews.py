"""Reading a customer's answer to a review request: is it a review, how many stars, and how
the bot answers it — the pure part of review capture (the service ties it to the store).

Decisions:

- **A question is not a review.** A question mark, a question's wording ("how do I…",
  "…나요?", "어떻게"), asking for a person or a sensitive topic (a refund dispute, a lawyer)
  goes to the bot as any message does: the customer wants an answer, not a thank-you. So
  does a support request: a refund, an exchange, a return, a cancellation or a re-send asked
  for ("교환하고 싶어요", "환불해 주세요", "반품 부탁드려요", "I want a refund", "please
  replace it"), read on morphemes in Korean — the same nouns in a story of what happened
  ("환불이 빨라서 좋았어요") or a wish for next time ("다음엔 더 빨리 보내주세요") leave it a
  review.
- **Stars.** ``★★★★``, ``⭐⭐⭐⭐`` or ``⭐ x4``, ``5점``, ``4/5``, ``4 stars``, ``4 out of 5``,
  ``별 다섯 개`` is not read (spelled-out numbers are rare and ambiguous), and a bare digit
  1-5 counts only as the message's head ("5", "4 - fine", "5!"), never inside a sentence
  ("came 2 days late").
- **Unhappy.** Two stars or fewer, or text the polarity detector reads negative — unless the
  customer gave four or five stars themselves (their stars are the verdict; "5 stars, a bit
  slow" is a happy review). An unhappy review is answered with an apology and an offer of a
  person.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from bot.conversation.escalation import asks_for_human, is_sensitive
from bot.texts import text as fixed_text
from bot.types import EmotionLabel, Language, unhappy_review
from bot.understanding.ratings import parse_rating
from bot.understanding.words import Token, mood, words

Polarity = Literal["positive", "negative", "neutral"]

__all__ = ["parse_rating"]  # read here by the journeys (it lives in bot.understanding.ratings)

REVIEW_WINDOW_SECONDS = 7 * 24 * 3600.0
"""An answer counts as a review up to this long after the review request was sent."""

_QUESTION = re.compile(
    r"[?？]"
    r"|^\s*(?:how|what|when|where|why|which|who|can|could|would|do|does|did|is|are|should)"
    r"(?=\s)"
    r"|(?:나요|까요|습니까|는지요|인가요|건가요|을까|할까|되나|있나|없나)\s*[.!~]*\s*$"
    r"|어떻게|언제|어디서|어디로|얼마나|무엇|뭐가|뭔가요|왜\s*(?:아직|안)",
    re.IGNORECASE | re.MULTILINE,
)
_SUPPORT_NOUNS = frozenset({"환불", "교환", "반품", "취소", "반송", "재발송", "재배송", "발송"})
"""What a customer asks the shop to do, as Kiwi reads the noun (재발송: 재 + 발송)."""
_SUPPORT_STEMS = ("환불", "교환", "반품", "취소", "반송", "발송", "배송")
"""Text without any of these asks nothing of the sort: the analyzer is spared."""
_ASKING_NOUNS = frozenset({"부탁", "요청", "신청", "접수", "원"})
"""Nouns that make a support noun before them a request: 환불 부탁드려요, 교환 원해요."""
_ASKING_MOODS = frozenset({"request", "intent", "question"})
_EN_REQUEST = re.compile(
    r"\b(?:i\s+(?:want|need|would\s+like)|i'd\s+like|i\s+wanna|please|pls|can\s+(?:i|you|we)"
    r"|could\s+(?:i|you|we))\b[^.!?\n]{0,40}?"
    r"\b(?:refund|exchange|return|replace|replacement|cancel|money\s+back|resend|re-send)"
    r"|^\s*(?:refund|exchange|replace|return|cancel|resend)\s+(?:it|this|that|my|the|them)\b"
    r"|\b(?:refund|replacement|exchange)\s+please\b",
    re.IGNORECASE | re.MULTILINE,
)
_WORD = re.compile(r"[^\W\d_]", re.UNICODE)
_STAR_CHARS = re.compile(r"[★☆⭐🌟\ufe0f]")


def asks_something(text: str) -> bool:
    """Whether ``text`` asks the bot something (a question, a person, a sensitive topic): it
    is answered as any message, not stored as a review."""
    return (
        bool(_QUESTION.search(text))
        or support_request(text)
        or asks_for_human(text)
        or is_sensitive(text)
    )


def support_request(text: str) -> bool:
    """Whether ``text`` asks for a refund, an exchange, a return, a cancellation or a
    re-send (see the module's decisions), in Korean or English."""
    if _EN_REQUEST.search(text[:2000]):
        return True
    lowered = text[:2000].lower()
    if not any(noun in lowered for noun in _SUPPORT_STEMS):
        return False  # no support noun: spare the analyzer
    analysed = words(lowered)
    seen: set[int] = set()
    for at in range(len(lowered)):
        tokens = analysed.sentence(at)
        if not tokens or id(tokens) in seen:
            continue
        seen.add(id(tokens))
        for i, token in enumerate(tokens):
            if token.pos != "NNG" or not _support_noun(tokens, i):
                continue
            after = tokens[i + 1 : i + 4]
            if any(t.pos == "NNG" and t.form in _ASKING_NOUNS for t in after):
                return True
            said = mood(tokens, i)
            if said in _ASKING_MOODS or (said == "bare" and len(tokens) <= 3):
                return True  # 교환하고 싶어요, 환불해 주세요; "교환이요" alone asks too
            verb = next((j for j in range(i + 1, len(tokens)) if tokens[j].pos == "VV"), None)
            if verb is not None and verb <= i + 2 and mood(tokens, verb) in _ASKING_MOODS:
                return True  # 환불받고 싶어요, 교환 받을게요
    return False


def _support_noun(tokens: Sequence[Token], i: int) -> bool:
    """Whether the noun at ``i`` is a support act (발송 only as 재발송)."""
    form = tokens[i].form
    if form == "발송" or form == "배송":
        return i > 0 and tokens[i - 1].form == "재"
    return form in _SUPPORT_NOUNS


def has_words(text: str) -> bool:
    """Whether ``text`` says something beyond its stars (letters of any script)."""
    return bool(_WORD.search(_STAR_CHARS.sub("", text)))


def star_polarity(rating: int) -> Polarity:
    """Stars as a polarity: 4 and 5 positive, 1 and 2 negative, 3 neutral."""
    return "positive" if rating >= 4 else "negative" if rating <= 2 else "neutral"


@dataclass(frozen=True)
class ReviewReading:
    """What a review says: its stars, its polarity, and whether it is unhappy."""

    rating: int | None
    polarity: Polarity
    unhappy: bool

    @property
    def emotion(self) -> EmotionLabel:
        """The emotion noted on the customer's message."""
        if self.unhappy:
            return "disappointed"
        return "positive" if self.polarity == "positive" else "neutral"

    def reply(self, language: Language) -> str:
        """The bot's answer: thanks, or an apology with the offer of a person."""
        return fixed_text("review.sorry" if self.unhappy else "review.thanks", language)


def read_review(text: str, text_polarity: Polarity | None) -> ReviewReading:
    """Read a review from its (redacted) ``text`` and the detector's polarity of it
    (``None`` when it says nothing beyond stars: then the stars give the polarity)."""
    rating = parse_rating(text)
    polarity: Polarity = text_polarity or "neutral"
    if text_polarity is None and rating is not None:
        polarity = star_polarity(rating)
    return ReviewReading(rating, polarity, unhappy_review(polarity, rating))
