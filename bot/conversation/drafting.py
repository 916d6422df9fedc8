"""The suggested reply's offline draft: what an agent can send to the customer with one click.

Built from fixed sentences, the tone opener for the customer's emotion (the same as the
composer's) and the matched knowledge entry's answer, in the customer's language. With an LLM
configured, :mod:`bot.conversation.summarizer` may write a better one, with this draft as the
fallback; :mod:`bot.conversation.suggestions` sends either.
"""

from __future__ import annotations

from collections.abc import Mapping

from bot.conversation.brief import Brief
from bot.texts import TEXTS
from bot.texts import text as fixed_text
from bot.types import Language

DRAFT_TEXTS: Mapping[str, Mapping[Language, str]] = {
    part: TEXTS[f"draft.{part}"] for part in ("greeting", "order", "check", "closing")
}
"""The draft's fixed sentences (kept in :data:`bot.texts.TEXTS` with the others)."""


def draft_reply(brief: Brief) -> str:
    """The offline draft for ``brief``, in the customer's language."""
    language = brief.language
    parts = [fixed_text("draft.greeting", language)]
    opener = fixed_text(f"opener.{brief.emotion.label}", language)
    if opener:
        parts.append(opener)
    if brief.facts.order_numbers:
        parts.append(fixed_text("draft.order", language, order=brief.facts.order_numbers[0]))
    answer = brief.entry.answer_in(language) if brief.entry is not None else ""
    parts.append(answer or fixed_text("draft.check", language))
    parts.append(fixed_text("draft.closing", language))
    return "\n".join(parts)
