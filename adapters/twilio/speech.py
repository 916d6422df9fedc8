"""An answer written for a screen, made fit to be spoken on a call.

Markup is dropped (Markdown emphasis, code, list marks, links keep their words), URLs are not
read out letter by letter: they are removed and one sentence says how to get the link (by
texting the shop; a call is never followed by an SMS the caller did not ask for). Answers are
cut to a couple of sentences at a sentence end: a caller cannot scroll back.
"""

from __future__ import annotations

import re

from bot.texts import text as fixed_text
from bot.types import Language

MAX_SENTENCES = 2
MAX_CHARS = 320
"""About twenty seconds of speech."""

_LINK_RE = re.compile(r"\[([^\]]*)\]\((?:[^)\s]*)\)")
_URL_RE = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_TAG_RE = re.compile(r"<[^>]{0,200}>")
_MARK_RE = re.compile(r"[*_`#>~|]+")
_BULLET_RE = re.compile(r"^\s*(?:[-•·]|\d+[.)])\s+", re.MULTILINE)
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_SENTENCE_RE = re.compile(r"[^.!?。？！]+(?:[.!?。？！]+|$)")


def for_speech(text: str, language: Language) -> str:
    """``text`` as a ``<Say>`` should speak it (see the module docstring)."""
    text = _CONTROL_RE.sub(" ", text)
    text = _LINK_RE.sub(r"\1", text)
    had_url = bool(_URL_RE.search(text))
    text = _URL_RE.sub(" ", text)
    text = _TAG_RE.sub(" ", text)
    text = _BULLET_RE.sub("", text)
    text = _MARK_RE.sub(" ", text)
    text = re.sub(r"\(\s*\)|:\s*(?=[.!?]|$)", " ", text)
    flat = " ".join(text.split())
    sentences = [s.strip() for s in _SENTENCE_RE.findall(flat) if s.strip()]
    spoken = ""
    for sentence in sentences[:MAX_SENTENCES]:
        candidate = f"{spoken} {sentence}".strip()
        if spoken and len(candidate) > MAX_CHARS:
            break
        spoken = candidate
    if len(spoken) > MAX_CHARS:
        spoken = spoken[: MAX_CHARS - 1].rsplit(" ", 1)[0] + "."
    if had_url:
        spoken = f"{spoken} {fixed_text('voice.link', language)}".strip()
    return spoken


def locale(language: Language) -> str:
    """The BCP-47 tag of ``language`` for ``<Say>`` and ``<Gather>``."""
    return "ko-KR" if language == "ko" else "en-US"
