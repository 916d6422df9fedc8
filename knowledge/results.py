"""What a knowledge search returns."""

from __future__ import annotations

from dataclasses import dataclass

from knowledge.entries import Entry


@dataclass(frozen=True)
class Match:
    """One candidate entry, with its fused score and the example question that matched best."""

    entry: Entry
    score: float
    question: str


@dataclass(frozen=True)
class SearchResult:
    """Candidates best first, and the calibrated probability that the first one answers."""

    matches: tuple[Match, ...]
    confidence: float

    @property
    def best(self) -> Match | None:
        """The best match, if any."""
        return self.matches[0] if self.matches else None
