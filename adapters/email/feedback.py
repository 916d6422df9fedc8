"""Whether a mail is feedback — a review, a compliment, a suggestion — rather than a question.

Decisions:

- **A marker says so.** The subject, or the opening of the new text (its first
  :data:`OPENING_CHARS` characters), names it: 피드백, 후기, 리뷰, 의견, 칭찬, 건의, 제안 (whole
  Korean words, read by morphemes: 제안 in 제안서 is no marker), or "feedback", "review",
  "testimonial", "compliment", "suggestion" (a word; "please review my order" asks, it is
  no marker) — or the mail gives stars in an explicit form (★★★★, ``4/5``, ``5점``,
  ``4 stars``; a bare digit is no rating in a subject like "3 questions").
- **A reply's subject is not a marker.** "Re: 배송 후기" is the customer answering our
  thanks: only its own new text can make it feedback again (so "네, 연결해 주세요" under
  our apology is a request for a person, and a thread is not stored twice as a review).
- **Asking wins.** A mail that asks something is a question, whatever its subject: a
  question (:func:`bot.journeys.reviews.asks_something` — also a support request such as
  환불해 주세요, a person, a sensitive topic), an inquiry (문의, 질문, "question",
  "inquiry"), or a request for help ("please fix my account", 확인 부탁드립니다,
  고쳐 주세요). A complaint that asks for something is answered, not filed; a wish for next
  time ("다음엔 더 빨리 보내주세요", "please keep it up") leaves it feedback.
- **Business mail is no review.** A partnership, advertising or sponsorship proposal
  (제휴 제안, 입점 제안, 광고 문의, "partnership suggestion") names a marker and is not a
  customer's feedback: it is answered (or handed over) as any mail.
"""

from __future__ import annotations

import re

from bot.journeys.reviews import asks_something, parse_rating
from bot.understanding.words import words

OPENING_CHARS = 160
"""How much of the new text may carry the marker (a marker deep in a letter is a mention)."""

_REPLY = re.compile(r"^\s*(?:(?:re|aw|sv|antw|답장|회신|답변)\s*(?:\[\d+\])?\s*[:：]\s*)+", re.I)
_KO_MARKER = re.compile(r"피드백|후기|리뷰|의견|칭찬|건의|제안")
_EN_MARKER = re.compile(
    r"(?<!please )(?<!pls )(?<!kindly )(?<!to )(?<!you )"
    r"\b(?:feedback|reviews?|testimonials?|compliments?|suggestions?)\b",
    re.IGNORECASE,
)
_EXPLICIT_STARS = re.compile(
    r"[★⭐🌟]|(?<![\d.])[1-5]\s*(?:/\s*5|점|out\s+of\s+5|stars?\b)", re.IGNORECASE
)
_INQUIRY = re.compile(r"문의|질문|\b(?:questions?|inquiry|enquiry|help\s+needed)\b", re.I)
_BUSINESS = re.compile(
    r"제휴|입점|광고|협찬|견적|마케팅\s*제안|\b(?:partnership|sponsor(?:ship)?|collaboration"
    r"|advertising|quotation)\b",
    re.IGNORECASE,
)
_HELP = re.compile(
    r"\b(?:please|pls|kindly)\s+(?:fix|help|check|look\s+into|contact|call|reply|respond"
    r"|get\s+back|let\s+me\s+know|send|tell|resolve|sort|update|change|delete|close)\b"
    r"|\b(?:help\s+me|i\s+need\s+(?:help|you\s+to|someone)|can\s+(?:someone|anyone))\b"
    r"|(?:확인|해결|처리|연락|답변|회신|조치|수정|환급)\s*(?:해\s*)?"
    r"(?:주세요|주십시오|주시기\s*바랍니다|주실\s*수|부탁)"
    r"|(?:알려|고쳐|도와|바꿔|해결해)\s*(?:주세요|주십시오|주시|주실)",
    re.IGNORECASE,
)


def is_feedback(subject: str, text: str) -> bool:
    """Whether a mail of ``subject`` whose new text is ``text`` is feedback to store and
    acknowledge rather than a question to answer (see the module's decisions)."""
    replying = bool(_REPLY.match(subject))
    topic = _REPLY.sub("", subject).strip()
    opening = text.strip()[:OPENING_CHARS]
    marked = (not replying and _marked(topic)) or _marked(opening)
    if not marked:
        return False
    if _BUSINESS.search(topic) or _BUSINESS.search(opening):
        return False  # a partnership or advertising proposal (제휴 제안) reviews nothing
    return not (asks(text) or (not replying and asks(topic)))


def asks(text: str) -> bool:
    """Whether ``text`` asks something of the shop (see the module's decisions)."""
    head = text[:20_000]
    return bool(_INQUIRY.search(head) or _HELP.search(head)) or asks_something(head)


def _marked(text: str) -> bool:
    """Whether ``text`` names itself feedback or gives explicit stars."""
    if not text:
        return False
    if _EN_MARKER.search(text):
        return True
    if _EXPLICIT_STARS.search(text) and parse_rating(text) is not None:
        return True
    found = list(_KO_MARKER.finditer(text))
    if not found:
        return False
    analysed = words(text.lower())
    return any(analysed.whole(m.start(), m.end()) for m in found)
