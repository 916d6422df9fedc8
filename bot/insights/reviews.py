"""The review analysis behind ``ondo insights reviews``: polarity mix, key phrases, quotes.

Every review is redacted (:func:`bot.understanding.privacy.redact`, in its own language) before
anything is read from it, so phrases and quotes never carry personal data. The ratio is the text
polarity of :mod:`bot.insights.polarity`, recalibrated on the file's own stars when it has enough
rated Korean reviews (:mod:`bot.insights.star_adaptation`: cross-fitted, so the agreement with the
stars shown beside it stays honest), rounded to three decimals with the largest-remainder method
so the three shares sum to exactly 1.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.insights.keyphrases import Candidates, KeyPhrase, Side, candidates, rank
from bot.insights.polarity import POLARITIES, Polarity, PolarityDetector, star_polarity
from bot.insights.reading import ReviewFile
from bot.insights.star_adaptation import TEXT_ONLY, ModelUsed, read_polarities
from bot.types import Language
from bot.understanding.privacy import redact
from knowledge.language import detect_language

KEYPHRASES = 10
"""Key phrases per side."""
QUOTES = 3
"""Representative quotes per polarity."""
QUOTE_CHARS = 140
"""Quotes longer than this are cut at a sentence end, or with an ellipsis."""


@dataclass(frozen=True)
class ReadReview:
    """One review after redaction, with its language, polarity, stars and date."""

    text: str
    language: Language
    polarity: Polarity
    rating: float | None
    date: dt.date | None
    phrases: Candidates


@dataclass(frozen=True)
class Breakdown:
    """How many reviews, and the polarity ratio, of one slice (a language, a period)."""

    count: int
    counts: dict[Polarity, int]
    ratio: dict[Polarity, float]


@dataclass(frozen=True)
class Stars:
    """The star ratings of the reviews that have one (1..5 scale)."""

    count: int
    mean: float
    distribution: dict[int, int]
    agreement: float
    """Share of rated reviews whose text polarity matches their stars (4-5 positive, 3 neutral,
    1-2 negative)."""


@dataclass(frozen=True)
class ReviewsReport:
    """Everything ``ondo insights reviews`` shows."""

    source: str
    encoding: str
    overall: Breakdown
    keyphrases: dict[Side, list[KeyPhrase]]
    quotes: dict[Polarity, list[str]]
    languages: dict[Language, Breakdown]
    stars: Stars | None
    timeline: list[tuple[str, Breakdown]] = field(default_factory=list)
    """(period label, breakdown) in date order; empty when the file has no dates."""
    period: str = "day"
    """``day``, ``week`` or ``month``: the size of one timeline step."""
    model: ModelUsed = TEXT_ONLY
    """Which Korean model labelled the reviews (adapted to the stars or not)."""

    @property
    def count(self) -> int:
        """Number of reviews analysed."""
        return self.overall.count

    def to_json(self) -> dict[str, Any]:
        """The ``--json`` object: count, ratio, key phrases (best first), quotes, and more."""
        return {
            "count": self.count,
            "ratio": self.overall.ratio,
            "keyphrases": {
                side: [
                    {"phrase": p.text, "reviews": p.count, "other_side": p.other, "score": p.score}
                    for p in phrases
                ]
                for side, phrases in self.keyphrases.items()
            },
            "quotes": self.quotes,
            "counts": self.overall.counts,
            "languages": {
                language: {"count": b.count, "ratio": b.ratio}
                for language, b in self.languages.items()
            },
            "stars": None
            if self.stars is None
            else {
                "count": self.stars.count,
                "mean": self.stars.mean,
                "distribution": {str(k): v for k, v in self.stars.distribution.items()},
                "agreement": self.stars.agreement,
            },
            "polarity_model": self.model.to_json(),
            "timeline": {
                "period": self.period,
                "points": [
                    {"period": label, "count": b.count, "counts": b.counts}
                    for label, b in self.timeline
                ],
            },
            "file": {"path": self.source, "encoding": self.encoding},
        }


def analyze(file: ReviewFile, detector: PolarityDetector, *, adapt: bool = True) -> ReviewsReport:
    """Analyse the reviews of ``file`` with ``detector`` (e.g. :class:`ReviewPolarity`).

    ``adapt``: recalibrate a :class:`ReviewPolarity` on the file's rated Korean reviews
    (:func:`~bot.insights.star_adaptation.read_polarities`); False reads the text alone.
    """
    redacted: list[tuple[str, Language]] = []
    for review in file.reviews:
        language = detect_language(review.text)
        redacted.append((redact(review.text, language), language))
    reading = read_polarities(
        detector,
        [
            (text, language, r.rating)
            for (text, language), r in zip(redacted, file.reviews, strict=True)
        ],
        adapt=adapt,
    )
    reviews = [
        ReadReview(
            text=text,
            language=language,
            polarity=polarity,
            rating=review.rating,
            date=review.date,
            phrases=candidates(text, language),
        )
        for (text, language), review, polarity in zip(
            redacted, file.reviews, reading.labels, strict=True
        )
    ]
    keyphrases = rank([(r.polarity, r.phrases) for r in reviews], k=KEYPHRASES)
    languages: dict[Language, Breakdown] = {}
    for language in ("ko", "en"):
        subset = [r for r in reviews if r.language == language]
        if subset:
            languages[language] = breakdown(subset)
    period, timeline = _timeline(reviews)
    by_side: dict[str, list[KeyPhrase]] = {str(k): v for k, v in keyphrases.items()}
    return ReviewsReport(
        source=str(file.path),
        encoding=file.encoding,
        overall=breakdown(reviews),
        keyphrases=keyphrases,
        quotes={p: quotes(reviews, p, by_side.get(p, []), by_side) for p in POLARITIES},
        languages=languages,
        stars=_stars(reviews),
        timeline=timeline,
        period=period,
        model=reading.model,
    )


def breakdown(reviews: Sequence[ReadReview]) -> Breakdown:
    """Count and polarity ratio of ``reviews``."""
    counts = Counter(r.polarity for r in reviews)
    ordered = {p: counts[p] for p in POLARITIES}
    return Breakdown(len(reviews), ordered, shares(ordered))


def shares(counts: dict[Polarity, int], places: int = 3) -> dict[Polarity, float]:
    """Each count's share, rounded to ``places`` decimals so that they sum to exactly 1.

    Largest remainder: floor every share in units of ``10**-places``, then hand the missing
    units to the largest remainders. All zero counts give all zero shares.
    """
    total = sum(counts.values())
    if total == 0:
        return dict.fromkeys(counts, 0.0)
    unit = 10**places
    exact = {k: v * unit / total for k, v in counts.items()}
    floors = {k: int(v) for k, v in exact.items()}
    missing = unit - sum(floors.values())
    for k in sorted(exact, key=lambda k: (floors[k] - exact[k], list(counts).index(k)))[:missing]:
        floors[k] += 1
    return {k: round(v / unit, places) for k, v in floors.items()}


def quotes(
    reviews: Sequence[ReadReview],
    polarity: Polarity,
    phrases: Sequence[KeyPhrase],
    all_phrases: dict[str, list[KeyPhrase]] | None = None,
) -> list[str]:
    """Up to :data:`QUOTES` short reviews of ``polarity`` that are typical of its top phrases.

    Phrase by phrase (best first), among the reviews of that polarity using the phrase, the one
    using most of this side's top phrases and fewest of the other side's, then the shortest;
    then, to fill up (and for neutral reviews, which have no phrases), the shortest others.
    """
    mine = [p.text.lower() for p in phrases]
    theirs = [
        p.text.lower()
        for side, side_phrases in (all_phrases or {}).items()
        if side != polarity
        for p in side_phrases
    ]

    def order(review: ReadReview) -> tuple[int, int, int, str]:
        text = review.text.lower()
        typical = sum(m in text for m in mine) - sum(t in text for t in theirs)
        # Very short reviews ("좋아요") say little: prefer 20+ characters, then the shortest.
        return (-typical, 0 if len(text) >= 20 else 1, len(text), text)

    pool = [r for r in reviews if r.polarity == polarity]
    chosen: dict[str, None] = {}  # texts, in order; a repeated review is quoted once
    for needle in mine:
        if len(chosen) == QUOTES:
            break
        using = [r for r in pool if r.text not in chosen and needle in r.text.lower()]
        if using:
            chosen[min(using, key=order).text] = None
    for review in sorted(pool, key=order):
        if len(chosen) == QUOTES:
            break
        chosen.setdefault(review.text)
    return [shorten(text) for text in chosen]


_SENTENCE_END = re.compile(r"(?<=[.!?。])\s")


def shorten(text: str, limit: int = QUOTE_CHARS) -> str:
    """``text`` cut to ``limit`` characters: at the last sentence end that fits, else with …."""
    if len(text) <= limit:
        return text
    ends = [m.start() for m in _SENTENCE_END.finditer(text) if m.start() <= limit]
    if ends and ends[-1] >= limit // 3:
        return text[: ends[-1]]
    return text[: limit - 1].rstrip() + "…"


def _stars(reviews: Sequence[ReadReview]) -> Stars | None:
    rated = [r for r in reviews if r.rating is not None]
    if not rated:
        return None
    stars = [r.rating for r in rated if r.rating is not None]
    distribution = Counter(min(5, max(1, round(s))) for s in stars)
    agree = sum(star_polarity(r.rating) == r.polarity for r in rated if r.rating is not None)
    return Stars(
        count=len(rated),
        mean=round(sum(stars) / len(stars), 2),
        distribution={k: distribution[k] for k in range(1, 6)},
        agreement=round(agree / len(rated), 3),
    )


def _timeline(reviews: Sequence[ReadReview]) -> tuple[str, list[tuple[str, Breakdown]]]:
    dated = [r for r in reviews if r.date is not None]
    if not dated:
        return "day", []
    first = min(r.date for r in dated if r.date is not None)
    last = max(r.date for r in dated if r.date is not None)
    span = (last - first).days
    period = "day" if span <= 62 else "week" if span <= 400 else "month"
    buckets: dict[str, list[ReadReview]] = {}
    for step in _steps(first, last, period):
        buckets[step] = []
    for review in dated:
        assert review.date is not None
        buckets[_label(review.date, period)].append(review)
    return period, [(label, breakdown(items)) for label, items in buckets.items()]


def _steps(first: dt.date, last: dt.date, period: str) -> list[str]:
    if period == "month":
        months = range(first.year * 12 + first.month - 1, last.year * 12 + last.month)
        return [f"{m // 12:04d}-{m % 12 + 1:02d}" for m in months]
    step = 1 if period == "day" else 7
    day = first if period == "day" else first - dt.timedelta(days=first.weekday())
    labels: list[str] = []
    while day <= last:
        labels.append(day.isoformat())
        day += dt.timedelta(days=step)
    return labels


def _label(day: dt.date, period: str) -> str:
    if period == "day":
        return day.isoformat()
    if period == "week":
        return (day - dt.timedelta(days=day.weekday())).isoformat()
    return f"{day.year:04d}-{day.month:02d}"
