"""The offline composer: tone opener + knowledge base answer + closing. No model, no network."""

from __future__ import annotations

import re

from bot.responder.base import ReplyRequest
from bot.texts import text
from knowledge.results import Match

SUGGEST_MIN_SCORE = 0.35
"""Below the answer threshold, a best match this close is offered as "did you mean"."""


class ComposerResponder:
    """Deterministic replies from fixed sentences and the knowledge base's own answers."""

    async def reply(self, request: ReplyRequest) -> str:
        """Compose the reply for ``request``."""
        return compose(request)


def compose(request: ReplyRequest) -> str:
    """Compose synchronously (also used as the LLM path's fallback)."""
    lang = request.language
    mood = request.emotion.label
    parts: list[str] = []
    # "Thank you, that's lovely to hear!" answers a compliment, not a request or a handoff.
    thanked = mood == "positive" and not request.handoff and not is_request(request.text)
    if mood != "neutral" and (mood != "positive" or thanked):
        parts.append(text(f"opener.{mood}", lang))
    best = request.matches[0] if request.matches else None
    if request.answered and best is not None:
        parts.append(best.entry.answer_in(lang))
        if best.entry.kind == "policy" and best.entry.source:
            parts.append(text("source", lang, source=best.entry.source))
    if request.handoff:
        parts.append(text(f"handoff.{request.escalation_reason or 'asked_for_human'}", lang))
    elif request.answered and best is not None:
        parts.append(text(f"closing.{mood}", lang))
    else:
        parts.append(text("unsure", lang))
        if best is not None and best.score >= SUGGEST_MIN_SCORE and best.entry.kind == "faq":
            parts.append(text("unsure.suggest", lang, question=_question_in(best, lang)))
    return "\n".join(p for p in parts if p)


_REQUEST_RE = re.compile(
    r"\?|주세요|줘요|해\s*줘|해줄래|할까요|되나요|인가요|나요\b|까요|어떻게|언제|어디|뭐|무엇|왜|알려|"
    r"하고\s*싶|원해|필요해|\bplease\b|\bpls\b|\bcan\s+(i|you)\b|\bcould\s+you\b|\bhow\b|"
    r"\bwhat\b|\bwhere\b|\bwhen\b|\bwhy\b|\bi\s+(want|need|would\s+like)\b|\bconnect\b",
    re.IGNORECASE,
)


def is_request(message: str) -> bool:
    """Whether the customer asks for something (a question or a request), not only praises."""
    return _REQUEST_RE.search(message) is not None


def _question_in(match: Match, lang: str) -> str:
    same_language = match.entry.questions.get(lang)
    return same_language[0] if same_language else match.question
