"""The rules of a send, checked when a send is scheduled and again when it is due: pure
functions over a :class:`SendContext` (every fact and the time passed in) to a
:class:`Decision` — send, defer until a moment, or suppress for one reason.

The rules, in the order they are checked (the first that applies decides):

1. ``undeliverable``: the customer has no platform identity we can message, or the platform
   refused a DM (Discord 50007, Slack ``cannot_dm_bot``/``user_not_found``).
2. ``consent``: marketing needs prior, explicit consent (정보통신망법 제50조 ①; we do not
   use its exception for a recent buyer and the same kind of goods: every marketing send
   needs the consent on record). A review request and a transactional message go unless the
   customer opted out of that category.
   *Why a review request needs no prior opt-in*: it asks about an order the customer made
   and offers nothing for sale. We read it, like an order or delivery notice, as information
   that follows the transaction (거래관계에 따른 정보), not a commercial advertisement. It
   stays opt-out-able, capped and inside the quiet hours. A shop whose review request carries
   an incentive (points, a coupon) must make that journey ``marketing``, and then every
   marketing rule applies. This is a reading of the law, not legal advice: a shop can make
   the stricter choice by declaring its review journeys ``marketing``.
3. ``handoff``: not while a handoff is open or a person has the conversation — for every
   category, so a journey never talks over an agent.
4. ``anger``: not within :data:`ANGER_WINDOW` (3 days) of an angry message; transactional
   messages are exempt (an order confirmation is owed even to an unhappy customer).
5. ``cap``: each of the journey's caps (:class:`bot.journeys.definitions.Cap`), over the
   customer's earlier sends of the journey or of its category in the cap's window.
6. ``quiet_hours``: by default 21:00–08:00 in the customer's time zone (Asia/Seoul when
   unknown): deferred to the next allowed moment, computed with zoneinfo so it is 08:00 local
   on a DST day too; never dropped. Korean law forbids advertising at night (21–08) without a
   separate night consent: marketing with night consent goes at night, and marketing
   without it is deferred out of the configured quiet hours *and* the legal night, so a shop
   that narrows its quiet hours cannot narrow the law. Transactional messages are exempt
   (the customer is waiting for them now).

What 제50조 asks of an advertisement, :func:`compose_message` writes: "(광고)" first (with
시행령 제61조), the sender's name (and contact, if given), and a free way to opt out
(④, ⑥). :func:`bot.journeys.optout.opt_out_confirmation` is the result notice of an opt-out
(⑦). Re-confirming marketing consent every two years (⑧) is the consent store's job.

We apply all of it to messenger DMs (Slack, Discord), not only to SMS and e-mail: 제50조
speaks of any 전자적 전송매체, which a DM is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any, Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.journeys.definitions import Cap, Category, Journey, JourneyError, plain
from bot.journeys.events import Event
from bot.types import Language

Reason = Literal["consent", "quiet_hours", "cap", "handoff", "anger", "undeliverable"]
REASONS: tuple[Reason, ...] = get_args(Reason)
DEFAULT_ZONE = "Asia/Seoul"
ANGER_WINDOW = 3 * 86400.0
"""Seconds after an angry message during which no journey message is sent."""

OPT_OUT_LINE: Mapping[Language, str] = {
    "ko": "수신거부: '수신거부'라고 답장해 주세요 (무료)",
    "en": "To unsubscribe, reply STOP (free).",
}
AD_PREFIX: Mapping[Language, str] = {"ko": "(광고)", "en": "(Ad)"}


@dataclass(frozen=True, slots=True)
class QuietHours:
    """A daily window of local wall-clock time (``start`` <= t < ``end``; it may cross
    midnight, as the default 21:00–08:00 does; equal ends mean no window)."""

    start: time = time(21, 0)
    end: time = time(8, 0)

    @classmethod
    def parse(cls, text: str) -> QuietHours:
        """``"21:00-08:00"`` (a setting's value) as a window; ValueError with a one-line
        reason if it is not one."""
        start, sep, end = text.strip().partition("-")
        try:
            if not sep:
                raise ValueError
            return cls(time.fromisoformat(start.strip()), time.fromisoformat(end.strip()))
        except ValueError:
            raise ValueError(f"quiet hours {text[:40]!r}: expected HH:MM-HH:MM") from None

    def contains(self, moment: time) -> bool:
        """Whether the local time ``moment`` is inside the window."""
        if self.start == self.end:
            return False
        if self.start < self.end:
            return self.start <= moment < self.end
        return moment >= self.start or moment < self.end

    def leaves_at(self, now: float, zone: ZoneInfo) -> float | None:
        """When the window that holds ``now`` ends (epoch seconds), or None if ``now`` is
        outside it. The end is a wall-clock time in ``zone``, so it is right across DST."""
        local = datetime.fromtimestamp(now, zone)
        if not self.contains(local.time()):
            return None
        day = local.date()
        if self.start > self.end and local.time() >= self.start:
            day += timedelta(days=1)
        # A wall time in a DST gap (none of 08:00 anywhere today) maps past the gap (fold=0).
        return datetime.combine(day, self.end, tzinfo=zone).timestamp()


LEGAL_NIGHT = QuietHours(time(21, 0), time(8, 0))
"""The night of 정보통신망법 제50조 ③: advertising needs a separate consent then."""


@dataclass(frozen=True, slots=True)
class SendContext:
    """Everything the rules read about one due send, as plain values.

    ``consent`` holds the customer's consent per category: ``True`` granted, ``False``
    refused or opted out, absent/``None`` never asked. ``journey_sends`` and
    ``category_sends`` are the epoch times of this customer's earlier sends of the journey and
    of its category (at least as far back as the longest cap window)."""

    now: float
    category: Category
    consent: Mapping[Category, bool | None] = field(default_factory=dict)
    night_consent: bool = False
    handoff_open: bool = False
    human_active: bool = False
    last_anger_at: float | None = None
    journey_sends: Sequence[float] = ()
    category_sends: Sequence[float] = ()
    caps: Sequence[Cap] = ()
    time_zone: str | None = None
    deliverable: bool = True
    quiet_hours: QuietHours = QuietHours()

    @classmethod
    def for_journey(cls, journey: Journey, now: float, **facts: Any) -> SendContext:
        """A context for a send of ``journey``: its category and caps, and ``facts`` (the
        other fields by name)."""
        return cls(now=now, category=journey.category, caps=journey.caps, **facts)


@dataclass(frozen=True, slots=True)
class Decision:
    """What to do with a due send: ``send``; ``defer`` to ``until`` (epoch seconds, with
    the reason ``quiet_hours``); or ``suppress`` for ``reason``."""

    action: Literal["send", "defer", "suppress"]
    until: float | None = None
    reason: Reason | None = None

    @classmethod
    def send(cls) -> Decision:
        """Send now."""
        return cls("send")

    @classmethod
    def defer(cls, until: float, reason: Reason = "quiet_hours") -> Decision:
        """Try again at ``until``."""
        return cls("defer", until, reason)

    @classmethod
    def suppress(cls, reason: Reason) -> Decision:
        """Do not send, for ``reason``."""
        return cls("suppress", None, reason)


def decide(ctx: SendContext) -> Decision:
    """The first rule that stops or defers the send, else :meth:`Decision.send` (see the
    module's docstring for the rules and their order)."""
    for rule in (deliverable, consented, no_handoff, calm, under_caps, outside_quiet_hours):
        decision = rule(ctx)
        if decision is not None:
            return decision
    return Decision.send()


def deliverable(ctx: SendContext) -> Decision | None:
    """Suppress if the customer cannot be messaged."""
    return None if ctx.deliverable else Decision.suppress("undeliverable")


def consented(ctx: SendContext) -> Decision | None:
    """Marketing needs consent ``True``; the other categories only not ``False``."""
    given = ctx.consent.get(ctx.category)
    if ctx.category == "marketing":
        return None if given is True else Decision.suppress("consent")
    return Decision.suppress("consent") if given is False else None


def no_handoff(ctx: SendContext) -> Decision | None:
    """Suppress while a handoff is open or a person has the conversation."""
    return Decision.suppress("handoff") if ctx.handoff_open or ctx.human_active else None


def calm(ctx: SendContext) -> Decision | None:
    """Suppress a non-transactional send within :data:`ANGER_WINDOW` of anger."""
    if ctx.category == "transactional" or ctx.last_anger_at is None:
        return None
    # A time ahead of ``now`` (another replica's clock) still counts as recent.
    recent = ctx.last_anger_at > ctx.now - ANGER_WINDOW
    return Decision.suppress("anger") if recent else None


def under_caps(ctx: SendContext) -> Decision | None:
    """Suppress if any cap already has its limit of sends in its window."""
    for cap in ctx.caps:
        sends = ctx.journey_sends if cap.scope == "journey" else ctx.category_sends
        inside = sum(1 for at in sends if at > ctx.now - cap.window)
        if inside >= cap.limit:
            return Decision.suppress("cap")
    return None


def outside_quiet_hours(ctx: SendContext) -> Decision | None:
    """Defer a send inside the quiet hours (and marketing inside the legal night without a
    night consent) to the first moment outside them."""
    if ctx.category == "transactional":
        return None
    windows: tuple[QuietHours, ...]
    if ctx.category == "marketing" and ctx.night_consent:
        windows = ()
    elif ctx.category == "marketing":
        windows = (ctx.quiet_hours, LEGAL_NIGHT)
    else:
        windows = (ctx.quiet_hours,)
    zone = customer_zone(ctx.time_zone)
    at = ctx.now
    for _ in range(4):  # windows that touch each other are left one after the other
        later = [end for w in windows if (end := w.leaves_at(at, zone)) is not None]
        if not later:
            break
        at = max(later)
    return Decision.defer(at) if at > ctx.now else None


def customer_zone(name: str | None) -> ZoneInfo:
    """The customer's zone, or :data:`DEFAULT_ZONE` when it is unknown or not a zone."""
    if name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return ZoneInfo(DEFAULT_ZONE)


def compose_message(
    journey: Journey,
    event: Event,
    language: Language,
    shop_name: str,
    contact: str | None = None,
) -> str:
    """The message a journey sends: its rendered template, and for marketing what 제50조 ④
    asks of an advertisement — "(광고)" and the sender's name (and ``contact``, if given)
    first, a free way to opt out last. English messages get the same in English."""
    body = journey.render(event, language)
    if journey.category != "marketing":
        return body
    body = body.removeprefix(AD_PREFIX[language]).lstrip()  # a template that wrote it itself
    sender = plain(shop_name, 80)
    if not sender:
        raise JourneyError(f"{journey.where}: a marketing message needs the shop's name")
    if contact and plain(contact, 80):
        label = "연락처" if language == "ko" else "contact"
        sender = f"{sender} ({label}: {plain(contact, 80)})"
    return f"{AD_PREFIX[language]} {sender}\n{body}\n\n{OPT_OUT_LINE[language]}"
