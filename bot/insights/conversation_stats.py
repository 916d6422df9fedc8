"""The figures of ``ondo insights conversations``, as pure functions over rows from the store.

Volume by intent and by day, the emotion mix per day, escalation and deflection rates,
answer ratings per knowledge entry, and unanswered questions clustered into suggested FAQ
entries. Nothing here touches the database; ``store.insights`` reads the rows.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from typing import Any

import numpy as np
from numpy.typing import NDArray

from bot.conversation.escalation import asks_for_human, is_sensitive
from bot.insights.desk_stats import EMPTY as NO_DESK
from bot.insights.desk_stats import DeskStats
from bot.storage.records import HandoffRow, InboundRow, RatingRow, UnansweredRow, WindowRows
from bot.types import Language
from bot.understanding.privacy import PLACEHOLDERS, redact
from knowledge.embedders import Embedder

EMOTIONS = ("positive", "neutral", "disappointed", "angry")
REASONS = ("angry", "asked_for_human", "no_answer", "sensitive")
CLUSTER_SIMILARITY = 0.6
"""Average cosine similarity (sentence embeddings) at or above which questions are one cluster."""
MAX_SUGGESTIONS = 10
MAX_EXAMPLES = 3
MAX_CLUSTERED = 2000
"""Distinct unanswered texts clustered per language (the most frequent); keeps it to seconds."""

# A placeholder says nothing about the question, but "my number is [PHONE]" pulls a question
# away from its paraphrases; clustering reads the text without them.
_PLACEHOLDER_RE = re.compile(
    "|".join(re.escape(p) for by_language in PLACEHOLDERS.values() for p in by_language.values())
)
# Thanks, greetings and acknowledgements on their own are no question for the FAQ.
_SMALL_TALK_RE = re.compile(
    r"^\W*(?:(?:thanks|thank\s+you|thx|ty|ok(?:ay)?|cool|great|got\s+it|bye|hi|hello|hey"
    r"|good\s+(?:morning|afternoon|evening)|so\s+much|a\s+lot|very\s+much|again"
    r"|감사(?:합니다|해요|드립니다)|고맙(?:습니다|아요)|안녕하세요|넵|네|예|알겠(?:습니다|어요)"
    r"|확인(?:했습니다|했어요)|좋아요|수고하세요)[\W_ㅎㅋ~^]*)+$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class DayFigures:
    """One calendar day: customer messages, conversations with a message, emotions."""

    day: date
    messages: int
    conversations: int
    emotions: dict[str, int]


@dataclass(frozen=True)
class EntryRatings:
    """👍 and 👎 on the answers from one knowledge entry, and how often it answered."""

    entry_id: str
    up: int
    down: int
    answers: int


@dataclass(frozen=True)
class Suggestion:
    """A suggested new FAQ entry: a cluster of similar unanswered questions (redacted)."""

    language: str
    question: str
    count: int
    conversations: int
    examples: tuple[str, ...]
    category: str | None


@dataclass(frozen=True)
class ConversationStats:
    """Every figure of the conversations report for one window."""

    since: float
    until: float
    tz: tzinfo
    conversations: int
    messages: int
    languages: dict[str, int]
    by_intent: dict[str, int]
    by_day: tuple[DayFigures, ...]
    emotions: dict[str, int]
    escalated: int
    handoffs: int
    reasons: dict[str, int]
    deflected: int
    ratings: tuple[EntryRatings, ...]
    unanswered: int
    suggestions: tuple[Suggestion, ...] = field(default_factory=tuple)
    staff: StaffStats | None = None
    """Staff members' questions to the handbook, apart from every customer figure."""
    desk: DeskStats | None = None
    """The help desk's figures: response and resolution times, SLAs, satisfaction."""

    @property
    def escalation_rate(self) -> float:
        """Share of conversations handed to a person (0 when there were none)."""
        return _rate(self.escalated, self.conversations)

    @property
    def deflection_rate(self) -> float:
        """Share of conversations the bot handled without a person (0 when there were none)."""
        return _rate(self.deflected, self.conversations)

    def to_json(self) -> dict[str, Any]:
        """The figures as one JSON-ready object (the ``--json`` output)."""
        return {
            "since": _iso(self.since, self.tz),
            "until": _iso(self.until, self.tz),
            "conversations": self.conversations,
            "messages": self.messages,
            "languages": self.languages,
            "by_intent": self.by_intent,
            "by_day": [
                {
                    "date": d.day.isoformat(),
                    "messages": d.messages,
                    "conversations": d.conversations,
                    "emotions": d.emotions,
                }
                for d in self.by_day
            ],
            "emotions": self.emotions,
            "escalation": {
                "conversations": self.escalated,
                "rate": round(self.escalation_rate, 4),
                "handoffs": self.handoffs,
                "reasons": self.reasons,
            },
            "deflection": {
                "conversations": self.deflected,
                "rate": round(self.deflection_rate, 4),
            },
            "ratings": [
                {"entry_id": r.entry_id, "up": r.up, "down": r.down, "answers": r.answers}
                for r in self.ratings
            ],
            "unanswered": {
                "messages": self.unanswered,
                "suggestions": [_suggestion_json(s) for s in self.suggestions],
            },
            "staff": (self.staff or StaffStats(0, 0, 0, 0)).to_json(),
            "desk": (self.desk or NO_DESK).to_json(),
        }


@dataclass(frozen=True)
class StaffStats:
    """Questions staff asked the handbook: how many were answered, and what it lacks."""

    questions: int
    conversations: int
    answered: int
    unanswered: int
    suggestions: tuple[Suggestion, ...] = field(default_factory=tuple)
    """Unanswered staff questions clustered: sections the handbook should gain."""

    @property
    def answer_rate(self) -> float:
        """Share of staff questions answered from the knowledge base (0 when none)."""
        return _rate(self.answered, self.questions)

    def to_json(self) -> dict[str, Any]:
        """The ``staff`` object of ``--json``."""
        return {
            "questions": self.questions,
            "conversations": self.conversations,
            "answered": self.answered,
            "answer_rate": round(self.answer_rate, 4),
            "unanswered": {
                "messages": self.unanswered,
                "suggestions": [_suggestion_json(s) for s in self.suggestions],
            },
        }


def _suggestion_json(s: Suggestion) -> dict[str, Any]:
    return {
        "language": s.language,
        "question": s.question,
        "count": s.count,
        "conversations": s.conversations,
        "examples": list(s.examples),
        "category": s.category,
    }


def staff_figures(rows: WindowRows, embedder: Embedder) -> StaffStats:
    """The staff figures of the window (handbook suggestions from unanswered questions)."""
    candidates = faq_candidates(rows.staff_unanswered)
    return StaffStats(
        questions=len(rows.staff_inbound),
        conversations=len({row.conversation_key for row in rows.staff_inbound}),
        answered=sum(bool(row.answered) for row in rows.staff_inbound),
        unanswered=len(candidates),
        suggestions=tuple(suggest_faq(candidates, embedder)),
    )


def summarize(
    rows: WindowRows,
    *,
    since: float,
    until: float,
    tz: tzinfo,
    embedder: Embedder,
    desk: DeskStats | None = None,
) -> ConversationStats:
    """All figures for the window ``[since, until)``; days are calendar days in ``tz``.

    ``embedder`` clusters unanswered questions; it is only called when there are some.
    ``desk`` is the help desk's figures of the window
    (:func:`bot.insights.desk_stats.desk_figures`).
    """
    candidates = faq_candidates(rows.unanswered)
    conversations = {row.conversation_key for row in rows.inbound}
    escalated = conversations & {h.conversation_key for h in rows.handoffs}
    return ConversationStats(
        since=since,
        until=until,
        tz=tz,
        conversations=len(conversations),
        messages=len(rows.inbound),
        languages=message_languages(rows.inbound),
        by_intent=volume_by_intent(rows.inbound),
        by_day=tuple(by_day(rows.inbound, tz)),
        emotions=emotion_mix(rows.inbound),
        escalated=len(escalated),
        handoffs=len(rows.handoffs),
        reasons=escalation_reasons(rows.handoffs),
        deflected=len(conversations - escalated),
        ratings=tuple(ratings_per_entry(rows.ratings, rows.inbound)),
        unanswered=len(candidates),
        suggestions=tuple(suggest_faq(candidates, embedder)),
        staff=staff_figures(rows, embedder),
        desk=desk,
    )


def message_languages(inbound: Sequence[InboundRow]) -> dict[str, int]:
    """Analysed customer messages per language (``ko``, ``en``)."""
    counts = Counter(row.language for row in inbound if row.language)
    return {language: counts[language] for language in ("ko", "en")}


def volume_by_intent(inbound: Sequence[InboundRow]) -> dict[str, int]:
    """Analysed customer messages per intent, most first (messages relayed to a person while
    they had the conversation carry no intent and are not counted)."""
    counts = Counter(row.intent for row in inbound if row.intent)
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


def by_day(inbound: Sequence[InboundRow], tz: tzinfo) -> list[DayFigures]:
    """Per calendar day in ``tz``, from the first to the last day with a message (days in
    between with none included, as zeros): messages, conversations and emotion counts."""
    if not inbound:
        return []
    messages: Counter[date] = Counter()
    conversations: dict[date, set[str]] = defaultdict(set)
    emotions: dict[date, Counter[str]] = defaultdict(Counter)
    for row in inbound:
        day = datetime.fromtimestamp(row.created_at, tz).date()
        messages[day] += 1
        conversations[day].add(row.conversation_key)
        if row.emotion:
            emotions[day][row.emotion] += 1
    first, last = min(messages), max(messages)
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    return [
        DayFigures(
            day,
            messages[day],
            len(conversations.get(day, ())),
            {label: emotions[day][label] for label in EMOTIONS},
        )
        for day in days
    ]


def emotion_mix(inbound: Sequence[InboundRow]) -> dict[str, int]:
    """How many analysed customer messages carried each emotion label."""
    counts = Counter(row.emotion for row in inbound if row.emotion)
    return {label: counts[label] for label in EMOTIONS}


def escalation_reasons(handoffs: Sequence[HandoffRow]) -> dict[str, int]:
    """Handoffs per reason: the four known ones always, any other stored reason after them."""
    counts = Counter(h.reason for h in handoffs)
    known = {reason: counts.pop(reason, 0) for reason in REASONS}
    return known | dict(sorted(counts.items()))


def ratings_per_entry(
    ratings: Sequence[RatingRow], inbound: Sequence[InboundRow]
) -> list[EntryRatings]:
    """👍/👎 per knowledge entry that was rated, most 👎 first, then most ratings."""
    up: Counter[str] = Counter()
    down: Counter[str] = Counter()
    for rating in ratings:
        (up if rating.rating > 0 else down)[rating.entry_id] += 1
    answers = Counter(row.entry_id for row in inbound if row.answered and row.entry_id)
    rated = set(up) | set(down)
    out = [EntryRatings(e, up[e], down[e], answers[e]) for e in rated]
    return sorted(out, key=lambda r: (-r.down, -(r.up + r.down), r.entry_id))


def faq_candidates(unanswered: Sequence[UnansweredRow]) -> list[UnansweredRow]:
    """Unanswered messages that are questions for the FAQ, redacted: requests for a person
    and legal or regulator threats are a person's job, not a missing entry, and thanks or
    greetings are no question."""
    out: list[UnansweredRow] = []
    for row in unanswered:
        language: Language = "ko" if row.language == "ko" else "en"
        text = " ".join(redact(row.text, language).split())
        if _SMALL_TALK_RE.match(text) or not text.strip("?!.~ "):
            continue
        if not asks_for_human(text) and not is_sensitive(text):
            out.append(
                UnansweredRow(row.conversation_key, text, language, row.intent, row.created_at)
            )
    return out


def suggest_faq(
    candidates: Sequence[UnansweredRow],
    embedder: Embedder,
    *,
    limit: int = MAX_SUGGESTIONS,
    similarity: float = CLUSTER_SIMILARITY,
) -> list[Suggestion]:
    """Cluster ``candidates`` (from :func:`faq_candidates`) of each language by meaning into
    suggested FAQ entries, biggest first: a representative question (the one closest to the
    rest), how many messages asked it, a few other phrasings, and the knowledge-base
    category the engine found nearest (the members' most common intent), if any."""
    by_language: dict[str, list[UnansweredRow]] = defaultdict(list)
    for row in candidates:
        by_language[row.language].append(row)
    suggestions: list[Suggestion] = []
    for language in sorted(by_language):
        suggestions.extend(_cluster_language(by_language[language], embedder, similarity))
    suggestions.sort(key=lambda s: (-s.count, -s.conversations, s.language, s.question))
    return suggestions[:limit]


@dataclass
class _Phrasing:
    text: str
    rows: list[UnansweredRow] = field(default_factory=list)


def _cluster_language(
    rows: Sequence[UnansweredRow], embedder: Embedder, similarity: float
) -> list[Suggestion]:
    phrasings: dict[str, _Phrasing] = {}
    for row in rows:
        phrasings.setdefault(_normal(row.text), _Phrasing(row.text)).rows.append(row)
    # Most asked first (stable: first asked first among equals), capped for time and memory.
    unique = sorted(phrasings.values(), key=lambda p: -len(p.rows))[:MAX_CLUSTERED]
    texts = [" ".join(_PLACEHOLDER_RE.sub(" ", p.text).split()) or p.text for p in unique]
    vectors = np.asarray(embedder.embed(texts), dtype=np.float64)
    labels = _clusters(vectors, similarity)
    groups: dict[int, list[int]] = defaultdict(list)
    for index, label in enumerate(labels):
        groups[int(label)].append(index)
    return [
        _suggestion([unique[i] for i in members], vectors[members]) for members in groups.values()
    ]


def _clusters(vectors: NDArray[np.float64], similarity: float) -> NDArray[np.int64]:
    """Average-linkage agglomerative clusters whose mean cosine similarity is >= ``similarity``."""
    if len(vectors) < 2:
        return np.zeros(len(vectors), dtype=np.int64)
    from scipy.cluster.hierarchy import fcluster, linkage

    tree = linkage(vectors, method="average", metric="cosine")
    return np.asarray(fcluster(tree, t=1.0 - similarity, criterion="distance"), dtype=np.int64)


def _suggestion(members: list[_Phrasing], vectors: NDArray[np.float64]) -> Suggestion:
    weights = np.array([len(p.rows) for p in members], dtype=np.float64)
    closeness = (vectors @ vectors.T) @ weights
    # The representative is the phrasing closest to all asks (ties: the most asked, then first).
    order = sorted(
        range(len(members)), key=lambda i: (-round(float(closeness[i]), 6), -weights[i], i)
    )
    best = order[0]
    rest = sorted(
        (i for i in range(len(members)) if i != best),
        key=lambda i: (-weights[i], -float(vectors[i] @ vectors[best]), i),
    )
    rows = [row for p in members for row in p.rows]
    intents = Counter(r.intent for r in rows if r.intent and r.intent != "other")
    category = min(intents, key=lambda c: (-intents[c], c)) if intents else None
    return Suggestion(
        language=rows[0].language,
        question=members[best].text,
        count=len(rows),
        conversations=len({r.conversation_key for r in rows}),
        examples=tuple(members[i].text for i in rest[:MAX_EXAMPLES]),
        category=category,
    )


def _normal(text: str) -> str:
    return " ".join(text.casefold().split()).rstrip(" ?!.~")


def _rate(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def _iso(timestamp: float, tz: tzinfo) -> str:
    return datetime.fromtimestamp(timestamp, tz).isoformat(timespec="seconds")
