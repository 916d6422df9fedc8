"""The help desk's figures of ``ondo insights conversations``, pure over the store's rows.

From the handoffs created in the window (:class:`~bot.storage.desk_records.SlaRow`) and the
rating questions asked in it (:class:`~bot.storage.desk_records.Csat`), with the desk's
:class:`~bot.desk.hours.BusinessHours`:

- first-response and resolution times in business time, median and p90 (linear
  interpolation between the closest ranks, so the median of an even count is the mean of
  the two middle values); tickets still open without a first response are *waiting*;
- each SLA target (first response, resolution) per ticket: *within* (done by its due
  instant), *breached* (done late, or still open past it) or *pending* (open, not yet due);
  the share within target is ``within / (within + breached)``. A ticket's due instants are
  the stored ones, else computed from the desk's targets for its reason. A ticket closed as
  stale (the customer stopped answering) has no resolution target and no resolution time:
  the wait was the customer's; it is counted apart;
- breaches per reason and per agent (the assignee, else the agent who took the ticket);
- CSAT: answered of asked, the mean score and the share of 4–5, per agent, per intent and
  per ISO week (in the desk's time zone).

``now`` (the end of the window) decides whether an open ticket is past its due instant.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast, get_args

from bot.desk.hours import BusinessHours, NeverOpenError
from bot.desk.sla import breached, due, first_response_seconds, resolution_seconds
from bot.storage.desk_records import STALE, Csat, SlaRow
from bot.types import EscalationReason

_REASONS: tuple[str, ...] = get_args(EscalationReason)


@dataclass(frozen=True)
class DeskRows:
    """What the desk's figures are computed from: the window's tickets and rating questions."""

    sla: tuple[SlaRow, ...] = ()
    csat: tuple[Csat, ...] = ()


@dataclass(frozen=True)
class Durations:
    """Business seconds of one measure over the tickets it applies to."""

    count: int
    median: float | None
    p90: float | None

    def to_json(self) -> dict[str, Any]:
        """``{"count", "median_seconds", "p90_seconds"}`` (``None`` when nothing measured)."""
        return {
            "count": self.count,
            "median_seconds": _round(self.median),
            "p90_seconds": _round(self.p90),
        }


@dataclass(frozen=True)
class Target:
    """How the tickets fared against one SLA target."""

    within: int = 0
    breached: int = 0
    pending: int = 0

    @property
    def share_within(self) -> float | None:
        """``within / (within + breached)``; ``None`` when no ticket is decided yet."""
        decided = self.within + self.breached
        return self.within / decided if decided else None

    def to_json(self) -> dict[str, Any]:
        """The counts and the share within target."""
        share = self.share_within
        return {
            "within": self.within,
            "breached": self.breached,
            "pending": self.pending,
            "share_within": None if share is None else round(share, 4),
        }


@dataclass(frozen=True)
class SlaGroup:
    """The tickets of one reason or one agent (``name`` ``None``: nobody owns them)."""

    name: str | None
    tickets: int
    first_response: Target
    resolution: Target

    def to_json(self, key: str) -> dict[str, Any]:
        """The group as an object naming it under ``key`` (``reason`` or ``agent``)."""
        return {
            key: self.name,
            "tickets": self.tickets,
            "first_response": self.first_response.to_json(),
            "resolution": self.resolution.to_json(),
        }


@dataclass(frozen=True)
class CsatFigures:
    """Satisfaction over some rating questions: answered of asked, mean, share of 4–5."""

    name: str | None
    asked: int
    answered: int
    mean: float | None
    top_share: float | None
    """Share of the answers that were 4 or 5 (``None`` without answers)."""

    @property
    def response_rate(self) -> float | None:
        """``answered / asked`` (``None`` when nothing was asked)."""
        return self.answered / self.asked if self.asked else None

    def to_json(self, key: str | None = None) -> dict[str, Any]:
        """The figures, naming the group under ``key`` when given."""
        named: dict[str, Any] = {} if key is None else {key: self.name}
        rate = self.response_rate
        return named | {
            "asked": self.asked,
            "answered": self.answered,
            "response_rate": None if rate is None else round(rate, 4),
            "mean": None if self.mean is None else round(self.mean, 2),
            "share_4_5": None if self.top_share is None else round(self.top_share, 4),
        }


@dataclass(frozen=True)
class DeskStats:
    """Every help-desk figure of one window."""

    tickets: int
    open: int
    waiting: int
    """Open tickets with no first response yet."""
    stale_closed: int
    first_response: Durations
    resolution: Durations
    first_target: Target
    resolution_target: Target
    by_reason: tuple[SlaGroup, ...]
    by_agent: tuple[SlaGroup, ...]
    csat: CsatFigures
    csat_by_agent: tuple[CsatFigures, ...] = field(default_factory=tuple)
    csat_by_intent: tuple[CsatFigures, ...] = field(default_factory=tuple)
    csat_by_week: tuple[CsatFigures, ...] = field(default_factory=tuple)

    @property
    def empty(self) -> bool:
        """No ticket and no rating question in the window."""
        return not self.tickets and not self.csat.asked

    def to_json(self) -> dict[str, Any]:
        """The ``desk`` object of ``--json``."""
        return {
            "tickets": self.tickets,
            "open": self.open,
            "waiting": self.waiting,
            "stale_closed": self.stale_closed,
            "first_response": self.first_response.to_json() | self.first_target.to_json(),
            "resolution": self.resolution.to_json() | self.resolution_target.to_json(),
            "by_reason": [g.to_json("reason") for g in self.by_reason],
            "by_agent": [g.to_json("agent") for g in self.by_agent],
            "csat": self.csat.to_json()
            | {
                "by_agent": [c.to_json("agent") for c in self.csat_by_agent],
                "by_intent": [c.to_json("intent") for c in self.csat_by_intent],
                "by_week": [c.to_json("week") for c in self.csat_by_week],
            },
        }


EMPTY = DeskStats(
    tickets=0,
    open=0,
    waiting=0,
    stale_closed=0,
    first_response=Durations(0, None, None),
    resolution=Durations(0, None, None),
    first_target=Target(),
    resolution_target=Target(),
    by_reason=(),
    by_agent=(),
    csat=CsatFigures(None, 0, 0, None, None),
)
"""The figures of a window without tickets or rating questions."""


@dataclass(frozen=True)
class _Ticket:
    row: SlaRow
    first: str  # "within" | "breached" | "pending" | "none"
    resolution: str


def desk_figures(rows: DeskRows, hours: BusinessHours, *, now: float) -> DeskStats:
    """The help desk's figures of ``rows`` (see the module for what each counts)."""
    tickets = [_judge(row, hours, now) for row in rows.sla]
    first_times = [
        first_response_seconds(t.row.created_at, t.row.first_response_at, hours)
        for t in tickets
        if t.row.first_response_at is not None
    ]
    resolved_times = [
        resolution_seconds(t.row.created_at, t.row.resolved_at, hours)
        for t in tickets
        if t.row.resolved_at is not None and t.row.closed_reason != STALE
    ]
    return DeskStats(
        tickets=len(tickets),
        open=sum(t.row.resolved_at is None for t in tickets),
        waiting=sum(t.row.resolved_at is None and t.row.first_response_at is None for t in tickets),
        stale_closed=sum(t.row.closed_reason == STALE for t in tickets),
        first_response=_durations(first_times),
        resolution=_durations(resolved_times),
        first_target=_target(t.first for t in tickets),
        resolution_target=_target(t.resolution for t in tickets),
        by_reason=_groups(tickets, lambda r: r.reason, known=_REASONS),
        by_agent=_groups(tickets, lambda r: r.assignee or r.agent),
        csat=_csat(None, rows.csat),
        csat_by_agent=_csat_groups(rows.csat, lambda c: c.agent),
        csat_by_intent=_csat_groups(rows.csat, lambda c: c.intent),
        csat_by_week=tuple(
            sorted(
                _csat_groups(rows.csat, lambda c: _iso_week(c.asked_at, hours), by_mean=False),
                key=lambda c: c.name or "",
            )
        ),
    )


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q`` quantile (0–1) of ``values``, interpolated linearly between the closest
    ranks (``None`` for no values)."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _durations(values: Sequence[float]) -> Durations:
    return Durations(len(values), percentile(values, 0.5), percentile(values, 0.9))


def _judge(row: SlaRow, hours: BusinessHours, now: float) -> _Ticket:
    first_due, resolution_due = row.first_due_at, row.resolution_due_at
    if (first_due is None or resolution_due is None) and row.reason in _REASONS:
        try:
            computed = due(row.created_at, cast(EscalationReason, row.reason), hours)
        except NeverOpenError:  # days off for a year on end: no due instant to miss
            computed = None
        if computed is not None:
            first_due = computed.first_response_at if first_due is None else first_due
            resolution_due = computed.resolution_at if resolution_due is None else resolution_due
    # A ticket resolved without a reply of its own no longer waits for one.
    answered = row.first_response_at if row.first_response_at is not None else row.resolved_at
    first = _outcome(answered, first_due, now)
    resolution = (
        "none" if row.closed_reason == STALE else _outcome(row.resolved_at, resolution_due, now)
    )
    return _Ticket(row, first, resolution)


def _outcome(done_at: float | None, due_at: float | None, now: float) -> str:
    if due_at is None:
        return "none"
    if breached(done_at, due_at, now):
        return "breached"
    return "within" if done_at is not None else "pending"


def _target(outcomes: Iterable[str]) -> Target:
    counts = defaultdict(int, {o: 0 for o in ("within", "breached", "pending")})
    for outcome in outcomes:
        counts[outcome] += 1
    return Target(counts["within"], counts["breached"], counts["pending"])


def _groups(
    tickets: Sequence[_Ticket],
    name: Callable[[SlaRow], str | None],
    *,
    known: tuple[str, ...] = (),
) -> tuple[SlaGroup, ...]:
    """Groups by ``name``: the ``known`` names first in their order (even without tickets),
    then the rest by most breaches, most tickets, name (nobody's last)."""
    grouped: dict[str | None, list[_Ticket]] = {k: [] for k in known}
    for ticket in tickets:
        grouped.setdefault(name(ticket.row), []).append(ticket)
    groups = [
        SlaGroup(
            key,
            len(members),
            _target(t.first for t in members),
            _target(t.resolution for t in members),
        )
        for key, members in grouped.items()
    ]
    rest = sorted(
        (g for g in groups if g.name not in known),
        key=lambda g: (
            g.name is None,
            -(g.first_response.breached + g.resolution.breached),
            -g.tickets,
            g.name or "",
        ),
    )
    return tuple([g for g in groups if g.name in known] + rest)


def _csat(name: str | None, rows: Sequence[Csat]) -> CsatFigures:
    scores = [row.score for row in rows if row.score is not None]
    return CsatFigures(
        name,
        asked=len(rows),
        answered=len(scores),
        mean=sum(scores) / len(scores) if scores else None,
        top_share=sum(s >= 4 for s in scores) / len(scores) if scores else None,
    )


def _csat_groups(
    rows: Sequence[Csat], name: Callable[[Csat], str | None], *, by_mean: bool = True
) -> tuple[CsatFigures, ...]:
    """Groups by ``name``, lowest mean first (answered before unanswered), nobody's last."""
    grouped: dict[str | None, list[Csat]] = defaultdict(list)
    for row in rows:
        grouped[name(row)].append(row)
    figures = [_csat(key, members) for key, members in grouped.items()]
    if by_mean:
        figures.sort(
            key=lambda c: (c.name is None, c.mean is None, c.mean or 0.0, -c.asked, c.name or "")
        )
    return tuple(figures)


def _iso_week(t: float, hours: BusinessHours) -> str:
    year, week, _day = datetime.fromtimestamp(t, hours.zone).isocalendar()
    return f"{year}-W{week:02d}"


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)
