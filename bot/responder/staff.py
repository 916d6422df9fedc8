"""The staff desk's answers: the handbook's own words and where they stand, nothing more.

A colleague asking about policy wants the rule and its source, not a customer's apology or a
ticket: no tone openers, no closings, and when nothing answers, who to ask instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from bot.texts import text
from bot.types import Language
from knowledge.entries import Entry
from knowledge.results import Match

SAME_LANGUAGE_MARGIN = 0.08
"""A match in the asker's language this close to the best one is preferred to it."""


def citation(entry: Entry) -> str:
    """Where an answer comes from: ``file.md § Heading`` for documents, ``file § id`` else."""
    if entry.kind == "policy" and entry.source:
        return entry.source
    return f"{Path(entry.source).name or 'knowledge base'} § {entry.id}"


def pick(matches: Sequence[Match], language: Language) -> Match | None:
    """The best match, or a nearly as good one written in ``language``."""
    if not matches:
        return None
    best = matches[0]
    if best.entry.answer.get(language):
        return best
    for match in matches[1:]:
        if match.entry.answer.get(language) and match.score >= best.score - SAME_LANGUAGE_MARGIN:
            return match
    return best


def staff_reply(
    language: Language, matches: Sequence[Match], answered: bool, contact: str | None
) -> str:
    """The answer to a staff question: the entry's text with its citation, or who to ask."""
    match = pick(matches, language) if answered else None
    if match is None:
        who = contact or text("staff.contact", language)
        return text("staff.unsure", language, contact=who)
    entry = match.entry
    parts = [entry.answer_in(language), text("staff.source", language, source=citation(entry))]
    if not entry.answer.get(language):
        parts.append(text("staff.other_language", language))
    return "\n".join(parts)
