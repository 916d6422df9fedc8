"""A simulated week of 온도마켓's journey events through the real service:
``python -m bench.journeys_week [--db URL] [--seed N] [--customers N] [--compact] [--out PATH]``.

Monday 2026-12-07 00:00 to Monday 2026-12-14 00:00 in Seoul, then two more days for the due
sends (a review request is due a day after its delivery, deferrals run into the morning). A few
hundred customers (Korean and English; Asia/Seoul, America/New_York, Europe/London or no zone;
VIP and regular; Slack, Discord, both or no identity; some whose platform refuses DMs) and
their events go through the real parts:

- ``JourneyService.ingest`` on a real store (a SQLite file in a temporary folder, or a fresh
  schema of the PostgreSQL database ``--db`` names, dropped afterwards), the bundled sample
  journeys, every event arriving when the clock reaches it (plus a latency); some arrive again
  (same ``event_id`` and body, and a few under a known id with another body), a few carts late
  (after the order that exits them); the shop's consent events at the start and mid-week;
- ``run_due`` on the simulation's clock, advanced in steps of ``--step`` seconds (10 minutes);
  once, mid-week, a batch is claimed and the service "dies" before deciding it: a second
  ``JourneyService`` on the same store takes over after the claim's lease;
- the real ``Courier`` and ``Router`` delivering the outbox ``dm`` rows through one
  ``MemoryDirect`` per platform, its ``refused`` users marked undeliverable by the courier;
- the customers' answers through ``Router.customer_message`` and the real ``Engine`` (the
  shipped emotion detector, the bundled sample knowledge base on hash embedders, the composer):
  "수신거부" / "stop", angry messages (the engine escalates them; an agent gives the
  conversation back hours later, so both the handoff and the anger rule are met), questions and
  thanks, and orders after a cart reminder (conversions); answers to a review request (stars,
  praise or a complaint in the customer's language) through the router's review hook,
  ``JourneyService.review`` as ``bot/serve.py`` wires it, read by the shipped emotion detector;
  some unhappy reviewers then say "네" / "yes" to the offer of a person (a handoff); a few
  click the opt-out button under a DM (``Router.opt_out_click`` =
  ``JourneyService.opt_out_category``).

The store, the outbox and the engine read ``time.time()``; the simulation moves it with its
clock (``unittest.mock.patch``) so every timestamp is the simulated one.

Printed: ONE table, a row per figure and a column per journey, their total and a baseline
measured in the same run. The figures are those ``ondo insights journeys --json`` computes
(:func:`bot.insights.journeys.compute` over :func:`bot.storage.sql.journey_insights.
journey_rows`: scheduled, sent, suppressed by reason, deferrals, cancelled by exit, replies,
reviews, opt-outs, conversions), plus the duplicate deliveries of the trigger events that were
ignored; then the invariants, computed apart from the store from what the ``MemoryDirect``
messengers posted and the simulation's own record of consent: duplicate sends, marketing
without consent, Korean marketing without "(광고)" or the opt-out line, non-transactional DMs
inside the customer's quiet hours (marketing with night consent excepted, as the law allows),
sends whose exit event had been delivered before them, deferred sends never decided. The
baseline (:func:`baseline`) is a naive scheduler on the same event deliveries with the send
rules off: every delivery, redeliveries too, starts each journey it triggers, sent at the
event's time plus the journey's delay to every customer a platform takes DMs for — no dedupe,
no exit, no consent, no quiet hours, no caps; its column shows what it would have posted and
the same invariants it breaks. Exit status 1 if one of the product's invariants is not 0, 2
for bad arguments.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import heapq
import itertools
import logging
import random
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from unittest import mock
from zoneinfo import ZoneInfo

from bench.report import update_section
from bench.table import Row, markdown
from bot.conversation.courier import Courier
from bot.conversation.direct import DirectMessage, MemoryDirect, Posted
from bot.conversation.routing import (
    MemoryCustomers,
    MemoryDesk,
    MemorySender,
    ReviewAnswer,
    Router,
)
from bot.insights.journeys import JourneyInsights, compute
from bot.insights.polarity import EmotionPolarity
from bot.journeys.definitions import SAMPLE_JOURNEYS, Journey, load_journeys
from bot.journeys.events import Event, parse_event
from bot.journeys.rules import AD_PREFIX, OPT_OUT_LINE, QuietHours, customer_zone
from bot.journeys.service import CONSENT_EVENT, JourneyService
from bot.storage.sql.journey_insights import journey_rows
from bot.types import Language, Message

SEOUL = ZoneInfo("Asia/Seoul")
START = datetime(2026, 12, 7, 0, 0, tzinfo=SEOUL).timestamp()
DAY = 86_400.0
HOUR = 3600.0
MINUTE = 60.0
WEEK = 7 * DAY
TAIL = 2 * DAY
"""After the last event: long enough for a review request due a day later, deferred overnight."""
SHOP = "온도마켓"
QUIET = QuietHours()
DESK = "slack:CDESK"

NAMES: dict[Language, tuple[str, ...]] = {
    "ko": ("김민지", "이서준", "박지우", "최하은", "정도윤", "강서연", "조예준", "윤수아"),
    "en": ("Alex", "Sam", "Jordan", "Taylor", "Morgan", "Casey", "Riley", "Jamie"),
}
ITEMS: dict[Language, tuple[str, ...]] = {
    "ko": ("제주 감귤 5kg", "유기농 현미 4kg", "수제 딸기잼", "국산 참기름", "한우 불고기 세트"),
    "en": (
        "Jeju tangerines 5 kg",
        "organic brown rice",
        "strawberry jam",
        "sesame oil",
        "gift box",
    ),
}
OPT_OUTS: dict[Language, tuple[str, ...]] = {
    "ko": ("수신거부", "수신거부 해주세요", "광고 그만 보내세요"),
    "en": ("stop", "STOP", "unsubscribe"),
}
ANGRY: dict[Language, tuple[str, ...]] = {
    "ko": (
        "진짜 화나네요 배송이 왜 이래요 최악이에요",
        "장난하세요? 환불 당장 해주세요 너무 화가 나요",
    ),
    "en": ("I am furious, this is the worst service ever", "This is unacceptable, I am so angry"),
}
REPLIES: dict[Language, tuple[str, ...]] = {
    "ko": ("배송은 언제 오나요?", "고마워요 잘 받았어요", "교환은 어떻게 하나요?"),
    "en": ("When does my order arrive?", "Thanks, got it!", "How do I return an item?"),
}
REVIEW_ANSWERS: dict[str, dict[Language, tuple[str, ...]]] = {
    "happy": {
        "ko": (
            "★★★★★ 정말 만족해요",
            "5점 만점! 감귤이 정말 달아요",
            "포장이 꼼꼼하고 신선해요 감사합니다",
        ),
        "en": (
            "★★★★★ love it",
            "5/5, fast delivery and great quality",
            "Everything arrived fresh, thank you",
        ),
    },
    "unhappy": {
        "ko": (
            "배송이 너무 늦었어요 실망이에요",
            "⭐ x2 상자가 찌그러져서 왔어요",
            "1점 상품이 상해서 왔어요",
        ),
        "en": (
            "The delivery was late and the box was damaged",
            "2/5, the jam jar was broken",
            "1 star, the rice bag was torn",
        ),
    },
}
"""Answers to a review request: a rating, praise or a complaint, in the customer's language."""
YES: dict[Language, tuple[str, ...]] = {
    "ko": ("네", "네 연결해 주세요"),
    "en": ("yes", "yes please"),
}
"""An unhappy reviewer's answer to the offer of a person."""
ZONES: dict[Language, tuple[tuple[str | None, float], ...]] = {
    "ko": (("Asia/Seoul", 0.85), (None, 0.1), ("America/New_York", 0.05)),
    "en": (("Asia/Seoul", 0.4), ("America/New_York", 0.35), ("Europe/London", 0.25)),
}
# What each journey's message says whatever the customer and the event: how a posted DM is
# told apart without asking the store (the sample journeys' templates).
MARKS: dict[str, tuple[str, str, str]] = {
    "cart_reminder": ("marketing", "장바구니에 담아 두신", "in your cart is still waiting"),
    "vip_return_offer": ("marketing", "다시 찾아 주셔서", "Welcome back"),
    "delivery_review": ("review_request", "잘 받으셨나요", "arrive safely"),
    "order_confirmation": ("transactional", "주문이 접수되었어요", "We received your order"),
}
REACTIONS: dict[str, tuple[float, float, float]] = {
    "opt_out": (0.06, 10 * MINUTE, 3 * HOUR),
    "angry": (0.04, 30 * MINUTE, 8 * HOUR),
    "reply": (0.2, 5 * MINUTE, 6 * HOUR),
}
"""After a DM: the chance of each answer, and how long after it comes (seconds)."""
REVIEW_REACTIONS: dict[str, tuple[float, float, float]] = {
    "happy": (0.3, 20 * MINUTE, 20 * HOUR),
    "unhappy": (0.15, 20 * MINUTE, 20 * HOUR),
}
"""After a review request, before the other answers: a review, and how long after it comes."""
YES_CHANCE = 0.6
"""How many unhappy reviewers say yes to the offer of a person."""
BUTTON_CHANCE = 0.03
"""How many customers click the opt-out button under a DM that has one."""
INVARIANTS = (
    "duplicate sends",
    "marketing sent without consent",
    'Korean marketing without "(광고)" and the opt-out line',
    "non-transactional DMs in the customer's quiet hours",
    "sends after an exit delivered before them",
    "deferrals never resolved",
    "redeliveries that scheduled a send",
    "sends counted sent − DMs posted",
)


class SimClock:
    """The simulation's time, which the service, the store and the engine all read."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass
class Customer:
    """One simulated customer and what the simulation knows of them."""

    customer_id: str
    language: Language
    name: str
    zone: str | None
    tier: str | None
    identities: dict[str, str]
    items: list[str]
    consent: list[tuple[float, bool, bool]] = field(default_factory=list)
    """(time, granted, night) of marketing, as the shop reported it or the customer replied."""

    def ref(self) -> dict[str, Any]:
        """The ``customer`` object of this customer's events."""
        who: dict[str, Any] = {
            "customer_id": self.customer_id,
            "name": self.name,
            "language": self.language,
            "identities": dict(self.identities),
        }
        if self.zone:
            who["time_zone"] = self.zone
        if self.tier:
            who["tier"] = self.tier
        return who

    def marketing_at(self, at: float) -> tuple[bool, bool]:
        """(granted, night) for marketing at ``at``, from the simulation's own record."""
        granted, night = False, False
        for when, given, at_night in sorted(self.consent):
            if when <= at:
                granted, night = given, at_night
        return granted, night

    def key(self, platform: str) -> str:
        """The conversation the customer's DM and their answers in it share."""
        return f"{platform}:dm:{self.identities[platform]}"


@dataclass(frozen=True)
class Dm:
    """One DM a messenger posted, when, and to whom."""

    at: float
    platform: str
    user: str
    text: str
    language: Language
    button: str | None = None
    """The category the DM's opt-out button opts out of (``None``: no button)."""


class Messenger(MemoryDirect):
    """A :class:`MemoryDirect` that also notes when each DM was posted (the simulated time)."""

    def __init__(self, platform: str, clock: SimClock, log: list[Dm]) -> None:
        super().__init__(platform)
        self.clock = clock
        self.log = log

    async def send_dm(self, message: DirectMessage) -> Posted:
        """Post as :class:`MemoryDirect` does, and log it (a retry finding it posted: once)."""
        before = len(self.sent)
        posted = await super().send_dm(message)
        if len(self.sent) > before:
            self.log.append(
                Dm(
                    self.clock(),
                    self.platform,
                    message.user,
                    message.text,
                    message.language,
                    message.opt_out,
                )
            )
        return posted


@dataclass
class Week:
    """What one run did and found."""

    backend: str
    customers: int
    seed: int
    insights: JourneyInsights
    duplicates: Counter[str]
    invariants: dict[str, Counter[str]]
    """Per invariant, the count per journey (``""``: not a journey's)."""
    baseline: Baseline
    counts: Counter[str]
    seconds: float

    def total(self, name: str) -> int:
        """An invariant's count over every journey."""
        return sum(self.invariants[name].values())


# --- the customers and their events ---------------------------------------------------------


def make_customers(rng: random.Random, n: int) -> list[Customer]:
    """``n`` customers: languages, zones, tiers, identities, refused platforms, consent."""
    customers = []
    for i in range(n):
        language: Language = "ko" if rng.random() < 0.65 else "en"
        zones = ZONES[language]
        zone = rng.choices([z for z, _ in zones], [w for _, w in zones])[0]
        roll = rng.random()
        identities: dict[str, str] = {}
        if roll < 0.45:
            identities["slack"] = f"U{i:06d}"
        elif roll < 0.75:
            identities["discord"] = str(900_000_000_000_000_000 + i)
        elif roll < 0.9:
            identities = {"slack": f"U{i:06d}", "discord": str(900_000_000_000_000_000 + i)}
        items = list(ITEMS[language])
        rng.shuffle(items)
        customers.append(
            Customer(
                f"cust-{i:04d}",
                language,
                rng.choice(NAMES[language]),
                zone,
                "VIP" if rng.random() < 0.2 else None,
                identities,
                items,
            )
        )
    return customers


@dataclass(order=True)
class Action:
    """Something that happens at ``at``: an event arriving, a customer writing, an agent."""

    at: float
    seq: int
    run: Callable[[], Awaitable[None]] = field(compare=False)


class Simulation:
    """The week: the store, the service, the router and courier, the clock and the actions."""

    def __init__(
        self, rng: random.Random, customers: Sequence[Customer], runtime: Any, clock: SimClock
    ) -> None:
        self.rng = rng
        self.customers = {c.customer_id: c for c in customers}
        self.by_user = {(p, u): c for c in customers for p, u in c.identities.items()}
        self.runtime = runtime
        self.store = runtime.store
        self.clock = clock
        self.journeys = load_journeys(SAMPLE_JOURNEYS)
        # Reviews read by the engine's shipped emotion detector: the Korean review model needs
        # the multilingual sentence model, which the week (on hash embedders) does not load.
        self.polarity = EmotionPolarity(runtime.engine.detector).polarity
        self.service = self._service()
        self.dms: list[Dm] = []
        self.router = Router(runtime.engine, handoff_channel=DESK)
        self.router.set_desk(MemoryDesk("slack"))
        self.messengers = {p: Messenger(p, clock, self.dms) for p in ("slack", "discord")}
        for platform, messenger in self.messengers.items():
            self.router.add_direct_messenger(messenger)
            self.router.add_customer_side(MemoryCustomers(platform))
        # Wired as bot/serve.py wires them, to the current service (a restart replaces it).
        self.router.opt_out = self._opt_out
        self.router.opt_out_click = self._opt_out_click
        self.router.review = self._review
        self.stream: list[tuple[float, Event]] = []
        """Every delivery (redeliveries too) and when it arrived: the baseline's input."""
        self.courier = Courier(self.router)
        self.sender = MemorySender()
        self.queue: list[Action] = []
        self.seq = itertools.count()
        self.ids = itertools.count(1)
        self.counts: Counter[str] = Counter()
        self.duplicates: Counter[str] = Counter()
        self.redelivery_schedules = 0
        self.seen_dms = 0
        self.carts: dict[tuple[str, str], str] = {}
        """(customer id, first item) -> the cart's id: items are never repeated per customer."""

    def _service(self) -> JourneyService:
        return JourneyService(
            self.store,
            self.journeys,
            shop_name=SHOP,
            quiet_hours=QUIET,
            clock=self.clock,
            polarity=self.polarity,
        )

    async def _opt_out(self, platform: str, user: str, text: str, language: str) -> str | None:
        # The hook the router asks; always the current service (a restart replaces it).
        return await self.service.opt_out(platform, user, text, language)

    async def _opt_out_click(
        self, platform: str, user: str, category: str, language: str
    ) -> str | None:
        return await self.service.opt_out_category(platform, user, category, language)

    async def _review(self, message: Message, inbound_id: int) -> ReviewAnswer | None:
        return await self.service.review(message, inbound_id)

    def at(self, when: float, run: Callable[[], Awaitable[None]]) -> None:
        """Do ``run`` when the clock reaches ``when``."""
        heapq.heappush(self.queue, Action(when, next(self.seq), run))

    # --- events ---

    def event(self, customer: Customer, kind: str, at: float, **payload: Any) -> dict[str, Any]:
        """An event body of ``customer``, occurring at ``at``."""
        return {
            "event_id": f"ev-{next(self.ids):06d}",
            "type": kind,
            "occurred_at": at,
            "customer": customer.ref(),
            "payload": payload,
        }

    def deliver(self, body: dict[str, Any], at: float | None = None) -> None:
        """The shop posts ``body`` (at ``at``, else a little after it occurred); some bodies
        are posted again later, as a shop retries a delivery it thinks failed."""
        when = at if at is not None else float(body["occurred_at"]) + self.rng.uniform(0, 120)
        self.at(when, lambda: self._ingest(body))
        if self.rng.random() < 0.1:
            self.at(when + self.rng.uniform(MINUTE, 10 * HOUR), lambda: self._ingest(body))
        elif self.rng.random() < 0.01:
            other = {**body, "payload": {**body["payload"], "note": "changed"}}
            self.at(when + self.rng.uniform(MINUTE, HOUR), lambda: self._ingest(other))

    async def _ingest(self, body: dict[str, Any]) -> None:
        event = parse_event(body)
        self.stream.append((self.clock(), event))
        done = await self.service.ingest(event)
        self.counts["events delivered"] += 1
        if done.duplicate:
            self.counts["duplicate deliveries"] += 1
            for journey in self.journeys.triggered_by(event):
                self.duplicates[journey.name] += 1
            # Every first delivery here completed: a redelivery must schedule nothing.
            self.redelivery_schedules += done.scheduled
        if event.type == CONSENT_EVENT and event.payload.get("category") == "marketing":
            customer = self.customers[event.customer.customer_id]
            granted, night = bool(event.payload["granted"]), bool(event.payload.get("night"))
            customer.consent.append((min(event.occurred_at, self.clock()), granted, night))

    def plan_events(self) -> None:
        """Every customer's week of events."""
        rng = self.rng
        for customer in self.customers.values():
            if rng.random() < 0.6:
                night = rng.random() < 0.2
                self.deliver(self.consent(customer, START, True, night), at=START)
            if rng.random() < 0.08:  # the customer changes their mind on the shop's site
                granted = not customer.marketing_at(START)[0]
                at = START + rng.uniform(DAY, 5 * DAY)
                self.deliver(self.consent(customer, at, granted, False))
            for n in range(rng.choice((0, 1, 1, 2, 3))):
                self.plan_cart(customer, n)
            for _ in range(rng.choice((0, 0, 1, 1, 2))):
                self.plan_order(customer, START + rng.uniform(0, WEEK))
            if customer.tier == "VIP" and rng.random() < 0.7:
                at = START + rng.uniform(0, WEEK)
                self.deliver(self.event(customer, "customer.returned", at, visit_id=f"v-{at:.0f}"))
            if customer.identities and rng.random() < 0.03:  # upset before any message of ours
                platform = next(iter(customer.identities))
                self.at(START + rng.uniform(DAY, 5 * DAY), self.writes(customer, platform, "angry"))

    def consent(self, customer: Customer, at: float, granted: bool, night: bool) -> dict[str, Any]:
        """A consent event for marketing."""
        payload = {"category": "marketing", "granted": granted, "night": night}
        body = self.event(customer, CONSENT_EVENT, at, **payload)
        body["customer"] = {"customer_id": customer.customer_id}
        return body

    def plan_cart(self, customer: Customer, n: int) -> None:
        """An abandoned cart; a quarter are ordered before the reminder is due (its exit), and
        some of those carts arrive late, after their order."""
        rng = self.rng
        at = START + rng.uniform(0, WEEK - HOUR)
        cart_id = f"cart-{customer.customer_id}-{n}"
        self.carts[(customer.customer_id, customer.items[n])] = cart_id
        body = self.event(
            customer, "cart.abandoned", at, cart_id=cart_id, items=[{"name": customer.items[n]}]
        )
        if rng.random() < 0.25:
            ordered = at + rng.uniform(5 * MINUTE, 50 * MINUTE)
            self.plan_order(customer, ordered, cart_id)
            if rng.random() < 0.15:
                self.counts["carts arriving after their order"] += 1
                self.deliver(body, at=ordered + HOUR)
                return
        self.deliver(body)

    def plan_order(self, customer: Customer, at: float, cart_id: str | None = None) -> None:
        """An order; most are delivered a day or three later, some of those returned before
        the review request is due."""
        rng = self.rng
        order_id = f"o-{next(self.ids):06d}"
        payload: dict[str, Any] = {"order_id": order_id}
        if cart_id:
            payload["cart_id"] = cart_id
        self.deliver(self.event(customer, "order.placed", at, **payload))
        if rng.random() < 0.8:
            delivered = at + rng.uniform(DAY, 3 * DAY)
            if delivered < START + WEEK:
                self.deliver(self.event(customer, "order.delivered", delivered, order_id=order_id))
                if rng.random() < 0.15:
                    returned = delivered + rng.uniform(2 * HOUR, 20 * HOUR)
                    body = self.event(customer, "order.returned", returned, order_id=order_id)
                    self.deliver(body)

    # --- the customers answer ---

    def writes(self, customer: Customer, platform: str, kind: str) -> Callable[[], Awaitable[None]]:
        """The customer writes a message of ``kind`` (opt_out, angry, reply) in their DM."""

        async def run() -> None:
            texts = {"opt_out": OPT_OUTS, "angry": ANGRY, "reply": REPLIES, "yes": YES}
            texts.update(REVIEW_ANSWERS)
            text = self.rng.choice(texts[kind][customer.language])
            user = customer.identities[platform]
            message = Message(
                platform, customer.key(platform), user, text, self.clock(), f"m-{next(self.ids)}"
            )
            outcome = await self.router.customer_message(message, self.sender)
            self.counts[f"customer messages ({kind})"] += 1
            if kind == "opt_out" and "opt_out" in outcome.notes:
                customer.consent.append((self.clock(), False, False))
            if kind == "opt_out" and "opt_out" not in outcome.notes:
                self.counts["opt-outs not recognised"] += 1
            if kind in REVIEW_ANSWERS and "review" in outcome.notes:
                self.counts[f"reviews answered ({kind})"] += 1
                if kind == "unhappy" and self.rng.random() < YES_CHANCE:
                    later = self.clock() + self.rng.uniform(MINUTE, 30 * MINUTE)
                    self.at(later, self.writes(customer, platform, "yes"))
            if outcome.handoff is not None:
                self.counts["handoffs opened"] += 1
                if kind == "yes":
                    self.counts["people asked for after an unhappy review"] += 1
                later = self.clock() + self.rng.uniform(2 * HOUR, 10 * HOUR)
                self.at(later, self.resolves(customer.key(platform)))

        return run

    def resolves(self, key: str) -> Callable[[], Awaitable[None]]:
        """An agent gives the conversation back to the bot."""

        async def run() -> None:
            if await self.router.resolve(key, "agent-1"):
                self.counts["handoffs resolved"] += 1

        return run

    def clicks(self, customer: Customer, dm: Dm) -> Callable[[], Awaitable[None]]:
        """The customer clicks the opt-out button under ``dm``, as the adapter passes it on."""

        async def run() -> None:
            assert dm.button is not None and self.router.opt_out_click is not None
            said = await self.router.opt_out_click(dm.platform, dm.user, dm.button, dm.language)
            self.counts["opt-out buttons clicked"] += 1
            if said is not None and dm.button == "marketing":
                customer.consent.append((self.clock(), False, False))

        return run

    def react(self, dm: Dm) -> None:
        """What the customer does after a DM: review it (a review request), click its opt-out
        button, opt out, get angry, answer, or order the cart."""
        rng = self.rng
        customer = self.by_user[(dm.platform, dm.user)]
        journey = category_of(dm.text)
        reactions = dict(REACTIONS)
        if journey is not None and journey[1] == "review_request":
            reactions = {**REVIEW_REACTIONS, **reactions}
        roll = rng.random()
        if dm.button is not None and roll < BUTTON_CHANCE:
            self.at(dm.at + rng.uniform(MINUTE, 2 * HOUR), self.clicks(customer, dm))
            roll = 1.0  # nothing else
        for kind, (chance, low, high) in reactions.items():
            if roll < chance:
                at = dm.at + rng.uniform(low, high)
                self.at(at, self.writes(customer, dm.platform, kind))
                break
            roll -= chance
        cart_id = None
        if journey is not None and journey[0] == "cart_reminder":
            items = [item for item in customer.items if item in dm.text]
            cart_id = self.carts.get((customer.customer_id, items[0])) if items else None
        if cart_id is not None and rng.random() < 0.3:
            at = dm.at + rng.uniform(20 * MINUTE, 2 * DAY)
            self.counts["orders after a reminder"] += 1
            self.plan_order(customer, at, cart_id)

    # --- the clock ---

    async def run(self, step: float, crash_at: float) -> None:
        """Advance the clock to the end of the week and its tail, step by step."""
        self.plan_events()
        crashed = False
        while self.clock.now <= START + WEEK + TAIL:
            while self.queue and self.queue[0].at <= self.clock.now:
                await heapq.heappop(self.queue).run()
            if not crashed and self.clock.now >= crash_at:
                crashed = await self.crash()
            while await self.service.run_due(None) >= 50:
                pass
            while await self.courier.deliver_due():
                pass
            for dm in self.dms[self.seen_dms :]:
                self.react(dm)
            self.seen_dms = len(self.dms)
            self.clock.now += step

    async def crash(self) -> bool:
        """Claim the due sends and die before deciding them; a new service takes over (after
        the claims' lease, on a later step). ``False`` while nothing is due."""
        claimed = await self.store.journeys.take_due(self.clock(), None, 50)
        if not claimed:
            return False
        self.counts["sends claimed by the crashed service"] += len(claimed)
        self.service = self._service()
        return True


# --- the figures ----------------------------------------------------------------------------


def category_of(text: str) -> tuple[str, str] | None:
    """(journey, category) of a posted DM, from what its template always says."""
    for journey, (category, ko, en) in MARKS.items():
        if ko in text or en in text:
            return journey, category
    return None


def invariants(
    sim: Simulation, undecided: Counter[str], sent: Mapping[str, int] | None = None
) -> dict[str, Counter[str]]:
    """The invariants per journey (``""``: a DM no journey's template makes), from the
    messengers' logs and the simulation's own consent record; ``undecided``: the deferred
    sends never decided, per journey; ``sent``: the sends the figures count as sent per journey
    (each must be a posted DM). Sends after an exit are counted by :func:`after_exit`."""
    found: dict[str, Counter[str]] = {name: Counter() for name in INVARIANTS}
    posted: Counter[str] = Counter()
    seen: set[tuple[str, str, str]] = set()
    for dm in sim.dms:
        customer = sim.by_user[(dm.platform, dm.user)]
        kind = category_of(dm.text)
        journey, category = kind if kind else ("", "unknown")
        posted[journey] += 1
        if (dm.platform, dm.user, dm.text) in seen:
            found["duplicate sends"][journey] += 1
        seen.add((dm.platform, dm.user, dm.text))
        granted, night = customer.marketing_at(dm.at)
        if category == "marketing" and not granted:
            found["marketing sent without consent"][journey] += 1
        labelled = dm.text.startswith(AD_PREFIX["ko"]) and OPT_OUT_LINE["ko"] in dm.text
        if category == "marketing" and dm.language == "ko" and not labelled:
            found['Korean marketing without "(광고)" and the opt-out line'][journey] += 1
        if night_send(customer, category, night, dm.at):
            found["non-transactional DMs in the customer's quiet hours"][journey] += 1
    found["deferrals never resolved"].update(undecided)
    found["redeliveries that scheduled a send"][""] = sim.redelivery_schedules
    for journey in set(posted) | set(sent or {}):
        if sent is not None:
            found["sends counted sent − DMs posted"][journey] = abs(
                sent.get(journey, 0) - posted[journey]
            )
    return found


def night_send(customer: Customer, category: str, night_consent: bool, at: float) -> bool:
    """Whether a DM of ``category`` at ``at`` breaks the customer's quiet hours (transactional
    DMs and marketing with night consent may be sent then)."""
    local = datetime.fromtimestamp(at, customer_zone(customer.zone)).time()
    exempt = category == "transactional" or (category == "marketing" and night_consent)
    return not exempt and QUIET.contains(local)


async def after_exit(sim: Simulation, people: Sequence[Customer]) -> Counter[str]:
    """Per journey, the sent sends whose trigger an exit event delivered before the send
    had already cancelled (an exit delivered after the send could not have stopped it)."""
    firsts: dict[str, Event] = {}
    for _, event in sim.stream:
        firsts.setdefault(event.event_id, event)
    exits = exit_events(sim)
    named = {j.name: j for j in sim.journeys.journeys}
    found: Counter[str] = Counter()
    for customer in people:
        for send in await sim.store.journeys.sends(customer.customer_id):
            trigger = firsts.get(send.trigger_event_id or "")
            if send.state != "sent" or send.sent_at is None or trigger is None:
                continue
            journey = named.get(send.journey)
            if journey is not None and exited(journey, trigger, send.sent_at, exits):
                found[send.journey] += 1
    return found


def exit_events(sim: Simulation) -> dict[str, list[tuple[float, Event]]]:
    """Per customer, the deliveries of exit-type events and when they arrived."""
    types = sim.journeys.exit_types
    exits: dict[str, list[tuple[float, Event]]] = {}
    for arrived, event in sim.stream:
        if event.type in types:
            exits.setdefault(event.customer.customer_id, []).append((arrived, event))
    return exits


def exited(
    journey: Journey, trigger: Event, at: float, exits: Mapping[str, list[tuple[float, Event]]]
) -> bool:
    """Whether an exit of ``trigger``'s send had been delivered by ``at``."""
    return any(
        arrived <= at and journey.exits(trigger, event)
        for arrived, event in exits.get(trigger.customer.customer_id, ())
    )


# --- the baseline ---------------------------------------------------------------------------


@dataclass
class Baseline:
    """A naive scheduler on the same event deliveries: the send rules off."""

    scheduled: Counter[str] = field(default_factory=Counter)
    """Sends it would have started, per journey (unreachable customers too)."""
    sent: Counter[str] = field(default_factory=Counter)
    """DMs it would have posted, per journey."""
    violations: dict[str, Counter[str]] = field(default_factory=dict)
    """Per invariant it breaks, per journey."""


BASELINE_INVARIANTS = (
    "duplicate sends",
    "marketing sent without consent",
    "non-transactional DMs in the customer's quiet hours",
    "sends after an exit delivered before them",
    "redeliveries that scheduled a send",
)


def baseline(sim: Simulation) -> Baseline:
    """Every delivery of every event, redeliveries too, starts each journey it triggers,
    sent at the event's time plus the journey's delay (not before it arrived), to each
    customer with a platform that takes DMs: no dedupe, no exit, no consent, no quiet hours,
    no caps. Its breaches are counted as :func:`invariants` counts the product's."""
    found = Baseline(violations={name: Counter() for name in BASELINE_INVARIANTS})
    exits = exit_events(sim)
    seen: set[tuple[str, str]] = set()
    for arrived, event in sim.stream:
        customer = sim.customers.get(event.customer.customer_id)
        if customer is None:
            continue
        for journey in sim.journeys.triggered_by(event):
            at = max(event.occurred_at + journey.delay, arrived)
            name = journey.name
            found.scheduled[name] += 1
            if not reachable(sim, customer):
                continue  # no platform takes the DM: nothing posted, nothing broken
            found.sent[name] += 1
            if (name, event.event_id) in seen:
                found.violations["duplicate sends"][name] += 1
                found.violations["redeliveries that scheduled a send"][name] += 1
            seen.add((name, event.event_id))
            granted, night = customer.marketing_at(at)
            if journey.category == "marketing" and not granted:
                found.violations["marketing sent without consent"][name] += 1
            if night_send(customer, journey.category, night, at):
                found.violations["non-transactional DMs in the customer's quiet hours"][name] += 1
            if exited(journey, event, at, exits):
                found.violations["sends after an exit delivered before them"][name] += 1
    return found


def reachable(sim: Simulation, customer: Customer) -> bool:
    """Whether one of the customer's platforms takes their DMs."""
    return any(
        user not in sim.messengers[platform].refused
        for platform, user in customer.identities.items()
    )


# --- the table ------------------------------------------------------------------------------

TOTAL = "total"
BASELINE = "naive baseline: total (per journey)"
"""The baseline's column: its total, then each journey's figure in the table's order."""


def table(week: Week) -> str:
    """ONE markdown table: a row per figure, a column per journey, the total, and the naive
    baseline measured in the same run on the same event deliveries."""
    journeys = list(week.insights.journeys)
    names = [j.journey for j in journeys]
    header = ["figure", *(f"{j.journey} ({j.category})" for j in journeys), TOTAL, BASELINE]
    header.append("target")
    base = week.baseline

    def split(counts: Mapping[str, int]) -> str:
        each = " / ".join(str(counts.get(n, 0)) for n in names)
        return f"{sum(counts.values())} ({each})"

    def row(name: str, values: Sequence[object], baseline: str, target: str = "—") -> list[str]:
        cells = ["—" if v is None else str(v) for v in values]
        numbers = [v for v in values if isinstance(v, int)]
        total = str(sum(numbers)) if numbers else "—"
        return [name, *cells, total, baseline, target]

    lines = [row("scheduled", [j.scheduled for j in journeys], split(base.scheduled))]
    lines.append(row("sent (DMs posted)", [j.sent for j in journeys], split(base.sent)))
    reasons = list(dict.fromkeys(r for j in journeys for r in j.suppressed))
    for reason in reasons:
        label = "deferrals (quiet hours)" if reason == "quiet_hours" else f"suppressed: {reason}"
        lines.append(row(label, [j.suppressed.get(reason, 0) for j in journeys], "0 (no rules)"))
    lines.append(row("cancelled by exit", [j.cancelled for j in journeys], "0 (no exit)"))
    lines.append(row("pending at the end", [j.pending for j in journeys], "—", "0"))
    dupes = [week.duplicates.get(n, 0) for n in names]
    lines.append(row("duplicate deliveries ignored", dupes, "0 (no dedupe)"))
    lines.append(row("replies", [j.replies for j in journeys], "—"))
    lines.append(row("reviews", [j.reviews for j in journeys], "—"))
    lines.append(row("reviews: unhappy", [j.unhappy for j in journeys], "—"))
    stars = [
        "—" if j.mean_stars is None else f"{j.mean_stars:.2f} ({j.rated} rated)" for j in journeys
    ]
    lines.append(["reviews: mean stars", *stars, "—", "—", "—"])
    lines.append(row("opt-outs", [j.opt_outs for j in journeys], "—"))
    lines.append(row("conversions", [j.conversions for j in journeys], "—"))
    for name in INVARIANTS:
        counts = week.invariants[name]
        values = [counts.get(n, 0) for n in names]
        other = counts.get("", 0)
        cells = row(f"invariant: {name}", values, "—", "0")
        cells[len(names) + 1] = str(sum(values) + other)
        if name in base.violations:
            cells[len(names) + 2] = split(base.violations[name])
        lines.append(cells)
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |" for cells in lines]
    return "\n".join(out)


# --- the run --------------------------------------------------------------------------------


@contextlib.contextmanager
def database(url: str | None) -> Iterator[tuple[str, str]]:
    """(backend name, database): a SQLite file in a temporary folder, or a fresh schema of the
    PostgreSQL database at ``url`` (dropped afterwards)."""
    if url is None:
        with tempfile.TemporaryDirectory(prefix="ondo-week-") as folder:
            yield "SQLite", str(Path(folder) / "ondo.db")
        return
    from bench.load_db import fresh_schema

    with fresh_schema(url) as schema:
        yield "PostgreSQL", schema


def open_runtime(db: str) -> Any:
    """The real runtime on ``db``: store, the sample knowledge base on hash embedders (no model
    is loaded; answers are not what is measured), the shipped emotion detector, the composer."""
    from bot.app import build_runtime
    from bot.settings import Settings
    from knowledge.embedders import HashEmbedder

    embedders = [HashEmbedder("all-minilm-l6-v2", 128), HashEmbedder("use-multilingual-v3", 128)]
    return build_runtime(Settings(db_path=db, shop_name=SHOP), embedders=embedders)


async def simulate(
    db: str | None = None, *, seed: int = 0, customers: int = 300, step: float = 600.0
) -> Week:
    """Run the week on a fresh database (``db``: a PostgreSQL URL, else SQLite)."""
    began = time.perf_counter()
    clock = SimClock(START - HOUR)
    rng = random.Random(seed)
    people = make_customers(rng, customers)
    with database(db) as (backend, target), mock.patch("time.time", clock):
        runtime = open_runtime(target)
        try:
            sim = Simulation(rng, people, runtime, clock)
            for customer in people:  # some platforms refuse DMs to this user for good
                if customer.identities and rng.random() < 0.08:
                    platform = sorted(customer.identities)[-1]  # slack if both: discord is left
                    user = customer.identities[platform]
                    reason = "cannot_dm_bot" if platform == "slack" else "50007"
                    sim.messengers[platform].refused[user] = reason
            await sim.run(step, crash_at=START + 2 * DAY + 10 * HOUR)
            until = clock.now
            rows = await journey_rows(runtime.store, START - HOUR, until)
            insights = compute(rows, since=START - HOUR, until=until)
            undecided = sum(1 for s in rows.sends if s.state in ("pending", "sending"))
            deferred = Counter(
                s.journey for s in rows.sends if s.state in ("pending", "sending") and s.deferrals
            )
            found = invariants(sim, deferred, {j.journey: j.sent for j in insights.journeys})
            found["sends after an exit delivered before them"] = await after_exit(sim, people)
            naive = baseline(sim)
            sim.counts["sends never decided"] = undecided
            sim.counts["DMs posted"] = len(sim.dms)
            sim.counts["customers"] = len(people)
            sim.counts["unlinked customers"] = sum(1 for c in people if not c.identities)
            sim.counts["users refusing DMs"] = sum(len(m.refused) for m in sim.messengers.values())
        finally:
            runtime.close()
    return Week(
        backend,
        customers,
        seed,
        insights,
        sim.duplicates,
        found,
        naive,
        sim.counts,
        time.perf_counter() - began,
    )


def header(week: Week) -> str:
    """One line: what was simulated, on what, how long it took."""
    c = week.counts
    return (
        f"Journeys week · {week.backend} · seed {week.seed} · {week.customers} customers "
        f"({c['unlinked customers']} unlinked, {c['users refusing DMs']} refusing DMs) · "
        f"{c['events delivered']} event deliveries ({c['duplicate deliveries']} again under a "
        f"known id, {c['carts arriving after their order']} carts after their order) · "
        f"{c['DMs posted']} DMs posted · customer messages: {c['customer messages (reply)']} "
        f"answers, {c['customer messages (opt_out)']} opt-outs, "
        f"{c['customer messages (angry)']} angry, "
        f"{c['customer messages (happy)'] + c['customer messages (unhappy)']} answers to a "
        f"review request ({c['customer messages (unhappy)']} unhappy; "
        f"{c['customer messages (yes)']} said yes to a person) · "
        f"{c['handoffs opened']} handoffs, {c['handoffs resolved']} given back · "
        f"{c['opt-out buttons clicked']} opt-out buttons clicked · "
        f"{c['orders after a reminder']} orders after "
        f"a reminder · crash: {c['sends claimed by the crashed service']} claimed sends taken "
        f"over by a second service · run took {week.seconds:.0f} s"
    )


def output(week: Week, short: bool) -> str:
    """What the command prints: the header line, then the table (or the compact one)."""
    return f"{header(week)}\n\n{markdown(compact(week)) if short else table(week)}"


def section(week: Week, short: bool) -> str:
    """The section of ``docs/benchmarks.md`` for ``week``'s backend."""
    return (
        f"## Journeys: a simulated week ({week.backend})\n\n"
        "Produced by `python -m bench.journeys_week` (method: the docstring of "
        "`bench/journeys_week.py`): 온도마켓's events of 2026-12-07..14 through the real "
        "journey service, store, router, engine and courier, DMs posted by memory messengers. "
        "Figures as `ondo insights journeys --json` computes them; invariants counted from the "
        "posted DMs. The naive baseline, measured in the same run on the same event "
        "deliveries, sends every triggered journey at the trigger's time plus its delay, with "
        "no dedupe of redeliveries, no exit, no consent, no quiet hours and no caps.\n\n"
        + output(week, short)
    )


def suppressed(reasons: Mapping[str, int]) -> int:
    """Sends not sent, over every reason (quiet hours only defer: not counted)."""
    return sum(n for reason, n in reasons.items() if reason != "quiet_hours")


def failed(week: Week) -> list[str]:
    """The invariants that are not 0 (the product's; the baseline's are what it shows)."""
    return [name for name in week.invariants if week.total(name)]


def compact(week: Week) -> list[Row]:
    """One row per journey (scheduled / sent / not sent / cancelled by exit / replies /
    reviews / opt-outs / conversions), the baseline's DMs, then the invariants (the
    baseline's in the anchor column): ``bench.run``'s rows and ``--compact``."""
    label = f"Journeys week · {week.backend}"
    rows = [
        Row(
            f"{label} · {j.journey}",
            "scheduled / sent / suppressed / cancelled by exit / replies / reviews / opt-outs / "
            "conversions",
            f"{j.scheduled} / {j.sent} / {suppressed(j.suppressed)} / {j.cancelled} / "
            f"{j.replies} / {'—' if j.reviews is None else j.reviews} / {j.opt_outs} / "
            f"{'—' if j.conversions is None else j.conversions}",
            "—",
            "—",
            "—",
            "—",
        )
        for j in week.insights.journeys
    ]
    if rows:
        rows[0] = dataclasses.replace(
            rows[0],
            protocol=f"{header(week)}; `python -m bench.journeys_week` prints every figure "
            "(method: its docstring)",
        )
    base = week.baseline
    rows.append(
        Row(
            f"{label} · naive baseline (same events, send rules off)",
            "DMs it would have posted",
            str(sum(base.sent.values())),
            "—",
            "—",
            "—",
            "—",
        )
    )
    return rows + [
        Row(
            f"{label} · invariants (anchor: the naive baseline)",
            name,
            str(week.total(name)),
            "—",
            "—",
            str(sum(base.violations[name].values())) if name in base.violations else "—",
            "0",
        )
        for name in week.invariants
    ]


def suite(cfg: Any, models: Any) -> list[Row]:
    """``bench.run``'s ``journeys`` suite: the week on SQLite (60 customers with ``--quick``);
    an invariant that is not 0 fails the suite."""
    week = asyncio.run(simulate(customers=60 if cfg.quick else 300))
    if failed(week):
        raise AssertionError(f"journey invariants failed: {', '.join(failed(week))}")
    return compact(week)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(prog="python -m bench.journeys_week", description=__doc__)
    parser.add_argument("--db", default=None, help="a PostgreSQL URL (default: a SQLite file)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--customers", type=int, default=300)
    parser.add_argument("--step", type=float, default=600.0, help="clock step in seconds")
    parser.add_argument("--out", type=Path, default=None, help="markdown file to update")
    parser.add_argument(
        "--compact", action="store_true", help="one row per journey instead of one table each"
    )
    parser.add_argument("--verbose", action="store_true", help="show the service's warnings")
    args = parser.parse_args(argv)
    if not 1 <= args.customers <= 100_000:
        parser.error("--customers: expected 1 to 100000")
    if not 1.0 <= args.step <= 3600.0:
        parser.error("--step: expected 1 to 3600 seconds")
    if args.db is not None and not args.db.startswith(("postgresql://", "postgres://")):
        parser.error("--db: expected a postgresql:// URL")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = parse_args(argv)
    ondo_log = logging.getLogger("ondo")
    level = ondo_log.level
    if not args.verbose:
        ondo_log.setLevel(logging.ERROR)
    try:
        week = asyncio.run(
            simulate(args.db, seed=args.seed, customers=args.customers, step=args.step)
        )
    except Exception as exc:  # a database that cannot be reached: one line
        print(f"error: {type(exc).__name__}: {' '.join(str(exc).split())[:300]}", file=sys.stderr)
        return 2
    finally:
        ondo_log.setLevel(level)  # run from a test, the next tests' logs are theirs
    print(output(week, args.compact))
    if args.out is not None:
        update_section(args.out, f"journeys-{week.backend.lower()}", section(week, args.compact))
    bad = failed(week)
    if bad:
        print(f"invariants failed: {', '.join(bad)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
