"""``ondo insights journeys``: per journey, what was scheduled and what became of it.

Per journey: scheduled, sent, pending, cancelled (an exit event), suppressed by reason
(:data:`SUPPRESSION_REASONS`; ``quiet_hours`` counts deferrals, since a quiet-hours send is put
off, never dropped), and what followed a sent DM:

- **replies**: sent DMs the customer answered (a message from one of their linked platform
  users) within :data:`REPLY_WINDOW`. A message counts for the latest DM sent before it only.
- **opt-outs**: sent DMs after which the customer withdrew consent for the DM's category
  within :data:`OPT_OUT_WINDOW` (again the latest such DM only).
- **conversions**: for journeys triggered by ``cart.abandoned``, sent reminders followed by an
  ``order.placed`` of the same customer within :data:`CONVERSION_WINDOW`.
- **reviews**: reviews whose ``send_id`` is one of the journey's sends in the window (the
  answers to a review request); for ``review_request`` journeys also how many were unhappy
  (polarity negative) and the mean stars of those that gave stars. Shown for review-request
  journeys and any other journey a review answers.

The figures are computed from plain rows (see :class:`Rows`), which the store reads
(``bot.storage.sql.journey_insights``); this module never touches the database.
"""

from __future__ import annotations

import bisect
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from bot.insights import html
from bot.types import Language, unhappy_review

DAY = 86_400.0
REPLY_WINDOW = 3 * DAY
"""A customer message this soon after a sent DM is a reply to it."""
OPT_OUT_WINDOW = 7 * DAY
"""A consent withdrawal this soon after a sent DM (same category) is an opt-out it caused."""
CONVERSION_WINDOW = 7 * DAY
"""An order this soon after a sent cart reminder is a conversion."""
REVIEW_CATEGORY = "review_request"
"""Journeys of this category ask for reviews: their reviews, unhappy ones and stars count."""
CART_TRIGGER = "cart.abandoned"
"""Journeys triggered by this event are cart reminders: their conversions are counted."""
SUPPRESSION_REASONS = ("consent", "quiet_hours", "cap", "handoff", "anger", "undeliverable")
"""Always reported, zero or not; any other reason the store holds is reported after them."""


class SendLike(Protocol):
    """One scheduled send, as the store reads it."""

    @property
    def journey(self) -> str: ...
    @property
    def customer_id(self) -> str: ...
    @property
    def category(self) -> str: ...
    @property
    def state(self) -> str: ...
    @property
    def reason(self) -> str | None: ...
    @property
    def deferrals(self) -> int: ...
    @property
    def sent_at(self) -> float | None: ...
    @property
    def created_at(self) -> float: ...
    @property
    def trigger_type(self) -> str | None: ...
    @property
    def language(self) -> str | None: ...
    @property
    def id(self) -> int | None: ...


class ReviewLike(Protocol):
    """A review answering a journey's send: the send, its polarity and its stars."""

    @property
    def send_id(self) -> int: ...
    @property
    def polarity(self) -> str: ...
    @property
    def rating(self) -> int | None: ...


class MomentLike(Protocol):
    """A customer's message, consent withdrawal (with its ``category``) or order, and when."""

    @property
    def customer_id(self) -> str: ...
    @property
    def at(self) -> float: ...
    @property
    def category(self) -> str | None: ...


class Rows(Protocol):
    """A window's rows: sends created in it, and the customers' moments from its start on."""

    @property
    def sends(self) -> Sequence[SendLike]: ...
    @property
    def replies(self) -> Sequence[MomentLike]: ...
    @property
    def revocations(self) -> Sequence[MomentLike]: ...
    @property
    def orders(self) -> Sequence[MomentLike]: ...
    @property
    def reviews(self) -> Sequence[ReviewLike]: ...


@dataclass(frozen=True)
class JourneyFigures:
    """One journey's figures over the window."""

    journey: str
    category: str
    scheduled: int = 0
    sent: int = 0
    pending: int = 0
    cancelled: int = 0
    suppressed: Mapping[str, int] = field(default_factory=dict)
    replies: int = 0
    opt_outs: int = 0
    conversions: int | None = None
    """``None`` for a journey that is not a cart reminder."""
    reviews: int | None = None
    """``None`` for a journey that asks for no review and that no review answers."""
    unhappy: int | None = None
    """Reviews with a negative polarity; ``None`` unless the journey is a review request."""
    mean_stars: float | None = None
    """The mean stars of the reviews that gave some; ``None`` without any (or no request)."""
    rated: int = 0
    """How many of the reviews gave stars."""

    def to_json(self) -> dict[str, object]:
        """The figures as JSON values."""
        return {
            "journey": self.journey,
            "category": self.category,
            "scheduled": self.scheduled,
            "sent": self.sent,
            "pending": self.pending,
            "cancelled": self.cancelled,
            "suppressed": dict(self.suppressed),
            "replies": self.replies,
            "opt_outs": self.opt_outs,
            "conversions": self.conversions,
            "reviews": self.reviews,
            "unhappy_reviews": self.unhappy,
            "mean_stars": None if self.mean_stars is None else round(self.mean_stars, 2),
            "rated_reviews": self.rated if self.unhappy is not None else None,
        }


@dataclass(frozen=True)
class JourneyInsights:
    """Every journey's figures for the sends created from ``since`` to ``until``."""

    since: float
    until: float
    journeys: tuple[JourneyFigures, ...]
    languages: Mapping[str, int] = field(default_factory=dict)
    """Sends by message language, to pick the report's language."""

    def to_json(self) -> dict[str, object]:
        """The figures as one JSON object."""
        return {
            "since": _iso(self.since),
            "until": _iso(self.until),
            "windows_days": {
                "reply": REPLY_WINDOW / DAY,
                "opt_out": OPT_OUT_WINDOW / DAY,
                "conversion": CONVERSION_WINDOW / DAY,
            },
            "journeys": [j.to_json() for j in self.journeys],
        }


def compute(rows: Rows, *, since: float, until: float) -> JourneyInsights:
    """The per-journey figures of ``rows`` (sends of the window and what followed them)."""
    sends = list(rows.sends)
    sent = [s for s in sends if s.state == "sent" and s.sent_at is not None]
    replied = _attributed(sent, rows.replies, REPLY_WINDOW, lambda s, m: True)
    opted = _attributed(
        sent, rows.revocations, OPT_OUT_WINDOW, lambda s, m: m.category == s.category
    )
    cart = [s for s in sent if s.trigger_type == CART_TRIGGER]
    converted = _attributed(cart, rows.orders, CONVERSION_WINDOW, lambda s, m: True)
    reviews_of: dict[int, list[ReviewLike]] = defaultdict(list)
    for review in rows.reviews:
        reviews_of[review.send_id].append(review)
    by_journey: dict[str, list[int]] = defaultdict(list)
    for index, send in enumerate(sends):
        by_journey[send.journey].append(index)
    figures = []
    for name in sorted(by_journey):
        mine = [sends[i] for i in by_journey[name]]
        states = Counter(s.state for s in mine)
        suppressed: dict[str, int] = dict.fromkeys(SUPPRESSION_REASONS, 0)
        for send in mine:
            suppressed["quiet_hours"] += send.deferrals
            if send.state == "undeliverable":
                suppressed["undeliverable"] += 1
            elif send.state == "suppressed":
                reason = send.reason or "unknown"
                suppressed[reason] = suppressed.get(reason, 0) + 1
        ids = {id(s) for s in mine}
        is_cart = any(s.trigger_type == CART_TRIGGER for s in mine)
        category = Counter(s.category for s in mine).most_common(1)[0][0]
        answers = [r for s in mine if s.id is not None for r in reviews_of.get(s.id, ())]
        asks = category == REVIEW_CATEGORY
        stars = [r.rating for r in answers if r.rating is not None]
        unhappy = sum(unhappy_review(r.polarity, r.rating) for r in answers)
        figures.append(
            JourneyFigures(
                journey=name,
                category=category,
                scheduled=len(mine),
                sent=states["sent"],
                pending=states["pending"] + states["sending"],
                cancelled=states["cancelled"],
                suppressed=suppressed,
                replies=sum(1 for s in replied if id(s) in ids),
                opt_outs=sum(1 for s in opted if id(s) in ids),
                conversions=sum(1 for s in converted if id(s) in ids) if is_cart else None,
                reviews=len(answers) if asks or answers else None,
                unhappy=unhappy if asks else None,
                mean_stars=sum(stars) / len(stars) if asks and stars else None,
                rated=len(stars),
            )
        )
    languages = Counter(s.language for s in sends if s.language in ("ko", "en"))
    return JourneyInsights(since, until, tuple(figures), {k: v for k, v in languages.items() if k})


def _attributed(
    sent: Sequence[SendLike],
    moments: Sequence[MomentLike],
    window: float,
    fits: _Fits,
) -> list[SendLike]:
    """The sends at least one moment is attributed to: each moment goes to the latest fitting
    send of its customer at or before it, when that send is at most ``window`` earlier."""
    per_customer: dict[str, list[SendLike]] = defaultdict(list)
    for send in sorted(sent, key=lambda s: s.sent_at or 0.0):
        per_customer[send.customer_id].append(send)
    times = {c: [s.sent_at or 0.0 for s in sends] for c, sends in per_customer.items()}
    hit: dict[int, SendLike] = {}
    for moment in moments:
        candidates = per_customer.get(moment.customer_id, [])
        position = bisect.bisect_right(times.get(moment.customer_id, []), moment.at)
        for send in reversed(candidates[:position]):
            if moment.at - (send.sent_at or 0.0) > window:
                break
            if fits(send, moment):
                hit[id(send)] = send
                break
    return list(hit.values())


class _Fits(Protocol):
    def __call__(self, send: SendLike, moment: MomentLike, /) -> bool: ...


# --- the terminal summary and the HTML page -----------------------------------------------

_TEXTS: dict[str, dict[Language, str]] = {
    "title": {"en": "Journey insights", "ko": "여정 인사이트"},
    "heading": {"en": "Journeys, sends created {a} to {b}", "ko": "여정: {a} ~ {b}에 예약된 발송"},
    "nothing": {
        "en": "no journey sends in the last {w} (events come in on POST /v1/events)",
        "ko": "최근 {w} 동안 여정 발송이 없습니다 (이벤트는 POST /v1/events로 들어옵니다)",
    },
    "scheduled": {"en": "scheduled", "ko": "예약"},
    "sent": {"en": "sent", "ko": "발송"},
    "pending": {"en": "pending", "ko": "대기"},
    "cancelled": {"en": "cancelled", "ko": "취소"},
    "suppressed": {"en": "suppressed", "ko": "발송 안 함"},
    "replies": {"en": "replies", "ko": "답장"},
    "opt_outs": {"en": "opt-outs", "ko": "수신거부"},
    "conversions": {"en": "conversions", "ko": "전환"},
    "reviews": {"en": "reviews", "ko": "리뷰"},
    "unhappy": {"en": "unhappy", "ko": "불만"},
    "mean_stars": {"en": "mean stars", "ko": "평균 별점"},
    "stars_of": {"en": "mean stars {m} of {n} rated", "ko": "평균 별점 {m} ({n}건 별점)"},
    "journey": {"en": "journey", "ko": "여정"},
    "category": {"en": "category", "ko": "분류"},
    "reason": {"en": "reason", "ko": "사유"},
    "consent": {"en": "no consent", "ko": "동의 없음"},
    "quiet_hours": {"en": "quiet hours (deferred)", "ko": "야간 시간 (연기)"},
    "cap": {"en": "frequency cap", "ko": "발송 한도"},
    "handoff": {"en": "with a person", "ko": "상담원 연결 중"},
    "anger": {"en": "customer upset", "ko": "고객 불만"},
    "undeliverable": {"en": "undeliverable", "ko": "전달 불가"},
    "outcomes": {"en": "Outcomes", "ko": "결과"},
    "outcome_chart": {"en": "Sends by outcome", "ko": "결과별 발송"},
    "suppressed_chart": {"en": "Not sent, by reason", "ko": "사유별 미발송"},
    "after": {"en": "After a sent message", "ko": "발송 이후"},
    "windows": {
        "en": "Replies within {r} days, opt-outs within {o} days, conversions (an order after "
        "a cart reminder) within {c} days of a sent message; reviews are the answers stored "
        "for a journey's message (unhappy: two stars or fewer, or negative words without "
        "stars).",
        "ko": "발송 후 답장 {r}일, 수신거부 {o}일, 전환(장바구니 알림 후 주문) {c}일 이내를 "
        "셉니다. 리뷰는 여정 메시지에 대한 답으로 저장된 리뷰입니다 "
        "(불만: 별점 2점 이하, 또는 별점 없이 부정적인 내용).",
    },
    "summary": {"en": "All journeys", "ko": "전체 여정"},
    "none": {"en": "none", "ko": "없음"},
}

_DURATION: dict[Language, str] = {"en": "{n} days", "ko": "{n}일"}


def report_language(insights: JourneyInsights, configured: Language | None) -> Language:
    """``configured`` when set, else the language most sends were in (Korean on a tie),
    English when there are none."""
    if configured is not None:
        return configured
    ko, en = insights.languages.get("ko", 0), insights.languages.get("en", 0)
    if not ko and not en:
        return "en"
    return "ko" if ko >= en else "en"


def describe_days(days: float, language: Language) -> str:
    """``30`` -> ``30 days`` / ``30일``."""
    shown = f"{days:g}"
    if language == "en" and shown == "1":
        return "1 day"
    return _DURATION[language].format(n=shown)


def _t(language: Language, key: str, **values: object) -> str:
    if key not in _TEXTS:
        return key  # a reason the store holds that has no label: shown as it is
    return _TEXTS[key][language].format(**values)


def summary(insights: JourneyInsights, window: str, language: Language) -> str:
    """The compact terminal summary; ``window`` is the described duration (``30 days``)."""
    if not insights.journeys:
        return _t(language, "nothing", w=window)
    lines = [_t(language, "heading", a=_date(insights.since), b=_date(insights.until))]
    for j in insights.journeys:
        lines.append(f"  {j.journey} ({j.category})")
        lines.append(
            "    "
            + " · ".join(
                f"{_t(language, key)} {value}"
                for key, value in (
                    ("scheduled", j.scheduled),
                    ("sent", j.sent),
                    ("pending", j.pending),
                    ("cancelled", j.cancelled),
                )
            )
        )
        lines.append(
            f"    {_t(language, 'suppressed')}: "
            + " · ".join(f"{_t(language, r)} {n}" for r, n in j.suppressed.items())
        )
        follow = [
            f"{_t(language, 'replies')} {j.replies}",
            f"{_t(language, 'opt_outs')} {j.opt_outs}",
        ]
        if j.conversions is not None:
            follow.append(f"{_t(language, 'conversions')} {j.conversions}{_rate(j)}")
        if j.reviews is not None:
            follow.append(f"{_t(language, 'reviews')} {j.reviews}{_review_detail(j, language)}")
        lines.append("    " + " · ".join(follow))
    return "\n".join(lines)


def page(insights: JourneyInsights, window: str, language: Language) -> str:
    """The self-contained HTML report (journey names and reasons are escaped, never markup)."""
    title = _t(language, "title")
    subtitle = _t(language, "heading", a=_date(insights.since), b=_date(insights.until))
    if not insights.journeys:
        return html.page(
            title,
            [html.section(title, html.paragraph(_t(language, "nothing", w=window)))],
            subtitle=subtitle,
            lang=language,
        )
    journeys = insights.journeys
    totals = [
        (_t(language, key), str(sum(getattr(j, key) for j in journeys)))
        for key in ("scheduled", "sent", "replies", "opt_outs")
    ]
    if any(j.reviews is not None for j in journeys):
        totals.append((_t(language, "reviews"), str(sum(j.reviews or 0 for j in journeys))))
    reasons = list(dict.fromkeys(r for j in journeys for r in j.suppressed))
    headers = [
        _t(language, key)
        for key in ("journey", "category", "scheduled", "sent", "pending", "cancelled")
    ]
    headers += [_t(language, r) for r in reasons]
    headers += [_t(language, k) for k in ("replies", "opt_outs", "conversions")]
    reviewed = any(j.reviews is not None for j in journeys)
    if reviewed:
        headers += [_t(language, k) for k in ("reviews", "unhappy", "mean_stars")]
    table_rows: list[list[object]] = [
        [j.journey, j.category, j.scheduled, j.sent, j.pending, j.cancelled]
        + [j.suppressed.get(r, 0) for r in reasons]
        + [j.replies, j.opt_outs, j.conversions]
        + ([j.reviews, j.unhappy, _stars(j.mean_stars)] if reviewed else [])
        for j in journeys
    ]
    sections = [
        html.figures(totals),
        html.section(_t(language, "summary"), html.table(headers, table_rows)),
    ]
    for j in journeys:
        outcomes = {
            _t(language, "sent"): j.sent,
            _t(language, "pending"): j.pending,
            _t(language, "cancelled"): j.cancelled,
            _t(language, "suppressed"): sum(
                n for r, n in j.suppressed.items() if r != "quiet_hours"
            ),
        }
        after = [
            (_t(language, "replies"), str(j.replies)),
            (_t(language, "opt_outs"), str(j.opt_outs)),
        ]
        if j.conversions is not None:
            after.append((_t(language, "conversions"), f"{j.conversions}{_rate(j)}"))
        if j.reviews is not None:
            after.append((_t(language, "reviews"), str(j.reviews)))
        if j.unhappy is not None:
            after.append((_t(language, "unhappy"), str(j.unhappy)))
            after.append((_t(language, "mean_stars"), _stars(j.mean_stars) or "—"))
        sections.append(
            html.section(
                f"{j.journey} ({j.category})",
                html.ratio_bar(_t(language, "outcome_chart"), outcomes, empty=_t(language, "none")),
                html.bar_chart(
                    _t(language, "suppressed_chart"),
                    [_t(language, r) for r in j.suppressed],
                    list(j.suppressed.values()),
                    empty=_t(language, "none"),
                ),
                html.heading(_t(language, "after")),
                html.figures(after),
            )
        )
    sections.append(
        html.paragraph(
            _t(
                language,
                "windows",
                r=f"{REPLY_WINDOW / DAY:g}",
                o=f"{OPT_OUT_WINDOW / DAY:g}",
                c=f"{CONVERSION_WINDOW / DAY:g}",
            )
        )
    )
    return html.page(title, sections, subtitle=subtitle, lang=language)


def _rate(j: JourneyFigures) -> str:
    if not j.sent or j.conversions is None:
        return ""
    return f" ({100 * j.conversions / j.sent:.0f}%)"


def _review_detail(j: JourneyFigures, language: Language) -> str:
    """`` (unhappy 1, mean stars 3.5 of 2 rated)`` for a review request, else nothing."""
    if j.unhappy is None:
        return ""
    parts = [f"{_t(language, 'unhappy')} {j.unhappy}"]
    if j.mean_stars is not None:
        parts.append(_t(language, "stars_of", m=_stars(j.mean_stars), n=j.rated))
    return f" ({', '.join(parts)})"


def _stars(mean: float | None) -> str | None:
    return None if mean is None else f"{mean:.1f}"


def _date(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).date().isoformat()


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat().replace("+00:00", "Z")
