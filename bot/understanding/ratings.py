"""Stars a customer gives in words or symbols: ``★★★★``, ``⭐ x4``, ``5점``, ``4/5``, ``4 stars``,
``4 out of 5``, or a bare digit 1-5 heading the message ("5", "4 - fine", "5!"), never inside a
sentence ("came 2 days late"); spelled-out numbers are not read (rare and ambiguous).

Shared by the review capture (:mod:`bot.journeys.reviews`) and the help desk's satisfaction
question (:mod:`bot.desk.csat`).
"""

from __future__ import annotations

import re

_STAR_RUN = re.compile(r"[★⭐🌟]{1,5}")
_STAR_TIMES = re.compile(r"[★⭐🌟]\ufe0f?\s*[x×*]\s*([1-5])\b", re.IGNORECASE)
_OUT_OF = re.compile(r"(?<![\d.])([1-5])\s*(?:/\s*5|점|out\s+of\s+5|stars?\b|개\s*(?:별|만점))")
_HEAD_DIGIT = re.compile(r"^\s*([1-5])(?:\s*$|\s*[-–—:!.,~)]|\s+(?=\S))")
_UNITS = re.compile(
    r"^\s*[1-5]\s*(?:days?|weeks?|hours?|times?|items?|pcs|minutes?|일|주|시간|번|개|분|벌|장|달)",
    re.IGNORECASE,
)


def parse_rating(text: str) -> int | None:
    """The stars ``text`` gives (1..5), if it gives any (see the module's decisions)."""
    times = _STAR_TIMES.search(text)
    if times:
        return int(times.group(1))
    out_of = _OUT_OF.search(text)
    if out_of:
        return int(out_of.group(1))
    stars = max((len(run) for run in _STAR_RUN.findall(text.replace("\ufe0f", ""))), default=0)
    if stars:
        return min(stars, 5)
    if _UNITS.match(text):
        return None
    head = _HEAD_DIGIT.match(text)
    return int(head.group(1)) if head else None
