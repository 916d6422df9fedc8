"""Splitting long text into Discord messages (2,000 characters each) at natural boundaries."""

from __future__ import annotations

import re

MESSAGE_LIMIT = 2000

# A sentence ends at ., !, ?, … (and full-width forms) with any closing quotes or brackets, or
# at a Korean sentence-final ending (Korean often omits the full stop), when a space or the end
# follows (so "example.com" and "3.5" do not end one); or at a line break.
_SENTENCE_END = re.compile(
    r"""(?:[.!?…。！？]+["'”’)\]」』]*"""
    r"|니다|니까|어요|아요|에요|예요|세요|해요|까요|네요|지요|군요|데요|나요|게요|죠"
    r"|었다|았다|였다|했다|겠다|있다|없다|이다|한다|된다|는다)(?:\s+|$)|\n+"
)
_WORD_END = re.compile(r"\s+")


def size(text: str) -> int:
    """Length as Discord may count it: UTF-16 code units (an emoji counts as two)."""
    return len(text.encode("utf-16-le")) // 2


def split_message(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """``text`` as messages of at most ``limit`` characters: whole sentences where they fit,
    a longer sentence at spaces, and a longer word cut hard. Blank text gives ``[]``."""
    text = text.strip()
    if not text:
        return []
    chunks = _split(text, limit, (_SENTENCE_END, _WORD_END))
    return [c.strip() for c in chunks if c.strip()]


def _split(text: str, limit: int, boundaries: tuple[re.Pattern[str], ...]) -> list[str]:
    if size(text) <= limit:
        return [text]
    if not boundaries:
        return _hard_cut(text, limit)
    chunks: list[str] = []
    current = ""
    for piece in _pieces(text, boundaries[0]):
        if size((current + piece).rstrip()) <= limit:
            current += piece
            continue
        if current.strip():
            chunks.append(current.rstrip())
        current = piece
        if size(piece.rstrip()) > limit:
            *done, current = _split(piece.rstrip(), limit, boundaries[1:])
            chunks.extend(done)
            current += piece[len(piece.rstrip()) :]
    if current.strip():
        chunks.append(current.rstrip())
    return chunks


def _pieces(text: str, boundary: re.Pattern[str]) -> list[str]:
    """``text`` cut after every ``boundary`` match (each piece keeps its trailing separator)."""
    pieces, start = [], 0
    for match in boundary.finditer(text):
        if match.end() > start:
            pieces.append(text[start : match.end()])
            start = match.end()
    if start < len(text):
        pieces.append(text[start:])
    return pieces


def _hard_cut(text: str, limit: int) -> list[str]:
    chunks, current, used = [], "", 0
    for char in text:
        width = size(char)
        if used + width > limit:
            # An escaping backslash goes with the character it escapes.
            carry = "\\" if current.endswith("\\") and not current.endswith("\\\\") else ""
            chunks.append(current[: len(current) - len(carry)])
            current, used = carry, len(carry)
        current += char
        used += width
    if current:
        chunks.append(current)
    return chunks
