"""Facts an agent needs from a conversation: order numbers, amounts, dates, files the customer
sent (a channel's line starting with :data:`FILES_MARK`), emotion shifts.

Everything here is pure and works on text that is already redacted: order numbers survive
redaction on purpose (:func:`bot.understanding.privacy.find_order_numbers`), personal data does not.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from bot.understanding.privacy import find_order_numbers

FILES_MARK = "📎"
"""Starts the line a channel adds to a customer's text for the files that came with it (names,
kinds, sizes; never content): the ticket lists it apart from the text."""

_AMOUNT = re.compile(
    r"(?:₩|\$|US\$|KRW ?)\s?\d{1,3}(?:,\d{3})+(?:\.\d{1,2})?(?!\d|,\d)"
    r"|(?:₩|\$|US\$|KRW ?)\s?\d{1,9}(?:\.\d{1,2})?(?!\d|,\d)"
    r"|(?<![\d,.])\d{1,4}\s?만(?:\s?\d{1,4}\s?천)?\s?원"
    r"|(?<![\d,.])\d{1,3}(?:,\d{3})+(?:\.\d{1,2})?\s?(?:원|만\s?원|달러|dollars?|USD|KRW)"
    r"|(?<![\d,.])\d{1,9}(?:\.\d{1,2})?\s?(?:원|만\s?원|천\s?원|달러|dollars?|USD|KRW)(?![A-Za-z])",
    re.IGNORECASE,
)
_MONTHS = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?"
_DATE = re.compile(
    r"(?<!\d)20\d{2}[-./](?:0?[1-9]|1[0-2])[-./](?:0?[1-9]|[12]\d|3[01])(?![\d-])"
    r"|(?<!\d)(?:0?[1-9]|1[0-2])월\s?(?:0?[1-9]|[12]\d|3[01])일"
    rf"|\b{_MONTHS}\s(?:0?[1-9]|[12]\d|3[01])(?:st|nd|rd|th)?\b"
    rf"|\b(?:0?[1-9]|[12]\d|3[01])(?:st|nd|rd|th)?\s(?:of\s)?{_MONTHS}(?![a-z])",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Shift:
    """The customer's emotion became ``label`` at their ``turn``-th message (1-based)."""

    label: str
    turn: int


@dataclass(frozen=True)
class Facts:
    """What the conversation says that an agent would otherwise scroll for."""

    order_numbers: tuple[str, ...] = ()
    amounts: tuple[str, ...] = ()
    dates: tuple[str, ...] = ()
    files: tuple[str, ...] = ()
    """The channels' lines about files the customer sent (each starting with FILES_MARK)."""


def extract_facts(texts: Iterable[str], *, limit: int = 5) -> Facts:
    """Order numbers, amounts and dates in ``texts`` (redacted), each once, in order of
    appearance, at most ``limit`` of each."""
    orders: list[str] = []
    amounts: list[str] = []
    dates: list[str] = []
    files: list[str] = []
    for text in texts:
        _extend(orders, (span.text for span in find_order_numbers(text)), limit)
        _extend(amounts, (" ".join(m.group().split()) for m in _AMOUNT.finditer(text)), limit)
        _extend(dates, (m.group() for m in _DATE.finditer(text)), limit)
        _extend(files, file_lines(text), limit)
    return Facts(tuple(orders), tuple(amounts), tuple(dates), tuple(files))


def file_lines(text: str) -> list[str]:
    """The lines of ``text`` that note files (starting with :data:`FILES_MARK`)."""
    return [line.strip() for line in text.splitlines() if line.lstrip().startswith(FILES_MARK)]


def without_file_lines(text: str) -> str:
    """``text`` without its file lines (the ticket shows them apart)."""
    if FILES_MARK not in text:
        return text
    kept = [line for line in text.splitlines() if not line.lstrip().startswith(FILES_MARK)]
    return "\n".join(kept).strip()


def emotion_path(emotions: Sequence[str | None]) -> tuple[Shift, ...]:
    """The customer's emotion over their messages (``None`` = not analysed, skipped), keeping
    only the messages where it changed: ``neutral@1 → disappointed@2 → angry@4``."""
    path: list[Shift] = []
    for turn, label in enumerate(emotions, start=1):
        if label and (not path or path[-1].label != label):
            path.append(Shift(label, turn))
    return tuple(path)


def _extend(found: list[str], new: Iterable[str], limit: int) -> None:
    for item in new:
        if len(found) >= limit:
            return
        if item not in found:
            found.append(item)
