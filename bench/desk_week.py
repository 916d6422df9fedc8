"""A simulated help-desk week through the real desk service:
``python -m bench.desk_week [--customers N] [--seed S] [--step SECONDS] [--database URL]
[--out PATH]``.

The week of Chuseok 2026 in Seoul (Monday 2026-09-21 00:00 to Sunday 24:00; Thursday 24 to
Saturday 26 are Korean public holidays), the desk of ``knowledge/sample/desk.yaml``
(Mon–Fri 09:00–18:00 Asia/Seoul, KR holidays, its SLA targets, round robin, stale 24 h / 48 h,
CSAT on). Through the real parts: the ``Router`` and ``Engine`` (sample knowledge base on hash
embedders, the shipped emotion detector) on a real store (a SQLite file, or a fresh schema of
the PostgreSQL database ``--database`` names), a ``MemoryDesk`` for Slack and the
:class:`~bot.desk.service.DeskService` installed as ``bot/serve.py`` installs it, ticked every
``--step`` seconds (60). The store stamps rows with ``time.time()``: the simulation moves it
with its clock (``unittest.mock.patch``), the one the service reads, so every instant is the
simulated one.

- Customers on Slack, Discord, SMS (``twilio``) and e-mail, Korean and English, write once at
  a time drawn from an hourly profile (nights and the weekend included): questions the bot
  answers, or an escalation: angry, sensitive (a lawyer, a complaint to the authorities) or a
  person asked for.
- Four agents go on and off duty (``store.desk.set_duty``, what ``/ondo duty on|off`` does)
  on the desk's business days: U1 09–18, U2 09–13 and 14–18, U3 12–18, U4 09–14 Mon–Tue.
  A ticket opened while nobody is on duty is taken at the next duty start
  (``assign_next``, the desk's policy: an agent's ``/ondo assign``). An agent works through
  their tickets one at a time, a first reply taking a drawn work time (5–25 min angry and
  sensitive, 10–120 min otherwise) counted in their own shift time; an SLA reminder that names
  them while on duty makes them act on that ticket within a drawn 2–10 minutes, when that is
  sooner than they would have (the one behaviour the naive desk, without reminders, lacks).
- After the first reply 75 % of the customers answer (5 min–3 h later) and the agent resolves
  (10–60 min of work); the rest go silent: the stale reminder, the auto-close, and 40 % of
  them write again 1–20 h after the close (a reopen with the bot). On resolve the customer is
  asked to rate it: buttons on Slack/Discord (``DeskService.csat_click``, some clicked twice),
  a digit by SMS, a line by e-mail; 15 % first write "6", "최고" or "음..." (then the score), 5 %
  write two such answers, 10 % click twice, a quarter never answer.

Printed: one table, Ondo beside a naive desk computed from the same stream (the same
tickets, shifts and drawn times): no hours (every handoff is told "a person will reply
shortly"), no assignment (the first agent free takes the ticket), no reminders, no CSAT, no
stale handling (a silent customer's ticket stays open). Both are measured in the desk's
business time with its targets. Invariants, counted from what the memory desk and customers
received (apart from the store): every reminder once, no CSAT asked twice, nothing sent to a
closed conversation but its notice until the customer writes again. Exit status 1 if one is
not 0, 2 for bad arguments or an unreachable database.
"""

from __future__ import annotations

import argparse
import asyncio
import heapq
import itertools
import logging
import random
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from unittest import mock
from zoneinfo import ZoneInfo

from bench.journeys_week import SimClock, database, open_runtime
from bench.report import update_section
from bot.conversation.routing import MemoryDesk, Router, platform_of
from bot.desk import csat, sla
from bot.desk.config import load_desk_config
from bot.desk.hours import BusinessHours
from bot.desk.service import CUSTOMER_TEXTS, REASONS, DeskService
from bot.insights.desk_stats import DeskRows, DeskStats, desk_figures, percentile
from bot.types import EscalationReason, Language, Message, Reply
from knowledge.loader import SAMPLE_DIR

SEOUL = ZoneInfo("Asia/Seoul")
START = datetime(2026, 9, 21, 0, 0, tzinfo=SEOUL).timestamp()
MINUTE, HOUR, DAY = 60.0, 3600.0, 86_400.0
END = START + 7 * DAY
DESK = "slack:CDESK"
PLATFORMS = ("slack", "discord", "twilio", "email")
SHIFTS: dict[str, tuple[tuple[str, str], ...]] = {
    "U1": (("09:00", "18:00"),),
    "U2": (("09:00", "13:00"), ("14:00", "18:00")),
    "U3": (("12:00", "18:00"),),
    "U4": (("09:00", "14:00"),),
}
U4_DAYS = (0, 1)
"""U4 works Mondays and Tuesdays only."""
HOURLY = (1, 1, 0.5, 0.5, 0.5, 0.5, 1, 2, 4, 6, 8, 8, 7, 8, 8, 7, 7, 6, 6, 6, 6, 5, 4, 2)
"""Relative chance of a customer's first message per hour of the day (Seoul)."""
KINDS: dict[str, float] = {
    "question": 0.5,
    "asked_for_human": 0.3,
    "angry": 0.13,
    "sensitive": 0.07,
}
TEXTS: dict[str, dict[Language, tuple[str, ...]]] = {
    "question": {
        "ko": ("배송은 얼마나 걸려요?", "교환은 어떻게 하나요?"),
        "en": ("How long does shipping take?", "How do I return an item?"),
    },
    "asked_for_human": {
        "ko": ("상담원 연결해 주세요", "사람이랑 얘기하고 싶어요"),
        "en": ("I want to talk to a human agent", "Can I speak to a person?"),
    },
    "angry": {
        "ko": (
            "진짜 화나네요 배송이 왜 이래요 최악이에요",
            "장난하세요? 환불 당장 해주세요 너무 화가 나요",
        ),
        "en": (
            "I am furious, this is the worst service ever",
            "This is unacceptable, I am so angry",
        ),
    },
    "sensitive": {
        "ko": ("변호사와 상의해서 소송하겠습니다", "소비자원에 신고할게요"),
        "en": ("I will sue you, my lawyer will call",),
    },
    "answer": {"ko": ("주문번호는 12345예요",), "en": ("The order number is 12345",)},
    "again": {"ko": ("아직 배송이 안 왔어요",), "en": ("My parcel still has not arrived",)},
}
SCORES = (5, 5, 5, 5, 4, 4, 4, 3, 2, 1)
BAD_ANSWERS = ("6", "최고", "음...")
NAIVE_NOTICE = "a person will reply shortly"
INVARIANTS = (
    "reminders posted more than once",
    "CSAT asked twice",
    "messages to a closed conversation besides its notice",
)


@dataclass(frozen=True)
class Sent:
    """Something a customer received, when."""

    at: float
    key: str
    reply: Reply


class _Sender:
    def __init__(self, key: str, clock: SimClock, log: list[Sent]) -> None:
        self.key, self.clock, self.log = key, clock, log

    async def send(self, reply: Reply) -> str | None:
        self.log.append(Sent(self.clock(), self.key, reply))
        return f"posted-{len(self.log)}"


class Customers:
    """A customer side recording every reply with its instant."""

    def __init__(self, platform: str, clock: SimClock, log: list[Sent]) -> None:
        self.platform, self.clock, self.log = platform, clock, log

    def sender_for(self, conversation_key: str) -> _Sender | None:
        """A timed recording sender for the platform's conversations."""
        if platform_of(conversation_key) != self.platform:
            return None
        return _Sender(conversation_key, self.clock, self.log)


@dataclass
class Ticket:
    """One handoff and the draws that decide what its people do (shared with the baseline)."""

    id: int
    key: str
    user: str
    platform: str
    language: Language
    reason: str
    created_at: float
    ref: str
    first_work: float
    answers: bool
    answer_delay: float
    resolve_work: float
    reopen_delay: float | None
    rating: str
    """"click", "click_twice", "digit", "bad_then_digit", "bad_twice", "none"."""
    score: int
    owner: str | None = None
    nudge: float = 5 * MINUTE
    """How soon the owner acts on a reminder that names them while on duty."""
    version: int = 0
    planned: float = float("inf")
    """When the owner's next action on the ticket is scheduled."""
    first_at: float | None = None
    customer_at: float | None = None
    resolved: bool = False
    reopens: bool = False


@dataclass
class Action:
    at: float
    seq: int
    run: Callable[[], Awaitable[None]] = field(compare=False)

    def __lt__(self, other: Action) -> bool:
        return (self.at, self.seq) < (other.at, other.seq)


def shifts(hours: BusinessHours) -> dict[str, list[tuple[float, float]]]:
    """Each agent's on-duty intervals in the week: their hours on the desk's open days."""
    out: dict[str, list[tuple[float, float]]] = {a: [] for a in SHIFTS}
    for n in range(7):
        day = (datetime.fromtimestamp(START, SEOUL) + timedelta(days=n)).date()
        if hours.is_day_off(day) or not hours.is_open(
            datetime(day.year, day.month, day.day, 12, tzinfo=SEOUL).timestamp()
        ):
            continue
        for agent, ranges in SHIFTS.items():
            if agent == "U4" and day.weekday() not in U4_DAYS:
                continue
            for a, b in ranges:
                ha, ma = map(int, a.split(":"))
                hb, mb = map(int, b.split(":"))
                base = datetime(day.year, day.month, day.day, tzinfo=SEOUL)
                out[agent].append(
                    (
                        (base + timedelta(hours=ha, minutes=ma)).timestamp(),
                        (base + timedelta(hours=hb, minutes=mb)).timestamp(),
                    )
                )
    return out


def work_at(spans: Sequence[tuple[float, float]], t: float, seconds: float) -> float:
    """When ``seconds`` of on-duty work started at ``t`` end (``inf``: not within the week)."""
    left = seconds
    for a, b in spans:
        if b <= t:
            continue
        begin = max(a, t)
        if begin + left <= b:
            return begin + left
        left -= b - begin
    return float("inf")


def on_duty(spans: Sequence[tuple[float, float]], t: float) -> bool:
    """Whether ``t`` falls in one of ``spans``."""
    return any(a <= t < b for a, b in spans)


class Simulation:
    """The week: the store, router, desk service, clock and the scheduled actions."""

    def __init__(self, rng: random.Random, runtime: Any, clock: SimClock, customers: int) -> None:
        self.rng, self.runtime, self.store, self.clock = rng, runtime, runtime.store, clock
        self.config = load_desk_config(SAMPLE_DIR / "desk.yaml")
        self.hours = BusinessHours(self.config)
        self.shifts = shifts(self.hours)
        self.router = Router(runtime.engine, handoff_channel=DESK)
        self.desk = MemoryDesk("slack")
        self.router.set_desk(self.desk)
        self.sent: list[Sent] = []
        for platform in PLATFORMS:
            self.router.add_customer_side(Customers(platform, clock, self.sent))
        self.service = DeskService(self.router, self.config, clock=clock)
        self.service.install()
        self.customers = customers
        self.queue: list[Action] = []
        self.seq = itertools.count()
        self.ids = itertools.count(1)
        self.tickets: dict[int, Ticket] = {}
        self.unassigned: list[Ticket] = []
        self.busy: dict[str, float] = dict.fromkeys(SHIFTS, 0.0)
        self.counts: Counter[str] = Counter()
        self.wrote: list[tuple[float, str]] = []
        """(instant, conversation key) of every customer message."""
        self.seen_posts = 0
        self.seen_sent = 0

    def at(self, when: float, run: Callable[[], Awaitable[None]]) -> None:
        """Do ``run`` when the clock reaches ``when`` (dropped past the week)."""
        if when < END:
            heapq.heappush(self.queue, Action(when, next(self.seq), run))

    # --- customers ---

    def plan(self) -> None:
        """Every customer's first message, and the agents' duty changes."""
        rng = self.rng
        for n in range(self.customers):
            day = rng.randrange(7)
            hour = rng.choices(range(24), weights=HOURLY)[0]
            when = START + day * DAY + hour * HOUR + rng.uniform(0, HOUR)
            language: Language = "ko" if rng.random() < 0.7 else "en"
            platform = rng.choice(PLATFORMS)
            kind = rng.choices(list(KINDS), weights=list(KINDS.values()))[0]
            key = f"{platform}:T1:D{n}:1.{n:06d}"
            self.at(when, self.first(key, f"cust-{n}", language, kind))
        for agent, spans in self.shifts.items():
            for a, b in spans:
                self.at(a, self.duty(agent, True))
                self.at(b, self.duty(agent, False))

    async def say(
        self, key: str, user: str, text: str, language: Language, *, later: bool = True
    ) -> Any:
        """The customer of ``key`` writes ``text`` through the router; a handoff it opens is
        a ticket of the week (a later message may open one too: a reopened conversation, a
        rating answer the bot cannot answer)."""
        self.wrote.append((self.clock(), key))
        message = Message(platform_of(key), key, user, text, self.clock(), f"m-{next(self.ids)}")
        notified = len(self.desk.notified)
        outcome = await self.router.customer_message(message)
        if outcome.handoff is not None and outcome.handoff.id not in self.tickets:
            self.open(outcome.handoff, key, user, language, notified)
            if later:
                self.counts[f"later handoffs: {outcome.handoff.reason}"] += 1
                self.counts["later handoffs"] += 1
        return outcome

    def first(
        self, key: str, user: str, language: Language, kind: str
    ) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            await self.say(key, user, self.rng.choice(TEXTS[kind][language]), language, later=False)
            self.counts[f"messages: {kind}"] += 1

        return run

    def open(self, handoff: Any, key: str, user: str, language: Language, notified: int) -> None:
        """Record a new ticket and the draws of what its people will do."""
        rng, now = self.rng, self.clock()
        urgent = handoff.reason in ("angry", "sensitive")
        roll = rng.random()
        rating = (
            "none"
            if roll < 0.25
            else "bad_then_digit"
            if roll < 0.40
            else "bad_twice"
            if roll < 0.45
            else "click_twice"
            if roll < 0.55
            else "click"
        )
        if rating.startswith("click") and platform_of(key) in ("twilio", "email"):
            rating = "digit"
        answers = rng.random() < 0.75
        ticket = Ticket(
            id=handoff.id,
            key=key,
            user=user,
            platform=platform_of(key),
            language=language,
            reason=handoff.reason,
            created_at=now,
            ref=f"slack:ticket-{handoff.id}",
            first_work=rng.uniform(5, 25) * MINUTE if urgent else rng.uniform(10, 120) * MINUTE,
            answers=answers,
            answer_delay=rng.uniform(5 * MINUTE, 3 * HOUR),
            resolve_work=rng.uniform(10, 60) * MINUTE,
            reopen_delay=None if answers or rng.random() >= 0.4 else rng.uniform(1, 20) * HOUR,
            rating=rating,
            score=rng.choice(SCORES),
            nudge=rng.uniform(2, 10) * MINUTE,
        )
        self.tickets[ticket.id] = ticket
        self.counts["handoffs"] += 1
        notice = [s.reply.text for s in self.sent if s.key == key][-1]
        if not self.hours.is_open(now):
            self.counts["out of hours"] += 1
            line = self.hours.handoff_notice(now, language)
            if line and line in notice:
                self.counts["out of hours told when"] += 1
        if len(self.desk.notified) > notified:
            ticket.owner = self.desk.notified[-1][0]
            self.counts["assigned at once"] += 1
            self.schedule_first(ticket)
        else:
            self.unassigned.append(ticket)

    # --- agents ---

    def duty(self, agent: str, on: bool) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            await self.store.desk.set_duty("slack", agent, on, self.clock())
            if on and self.unassigned:
                waiting, self.unassigned = self.unassigned, []
                for ticket in waiting:
                    owner = await self.store.desk.assign_next(
                        ticket.id, "slack", self.service.pick, self.clock()
                    )
                    ticket.owner = owner
                    if owner is None:
                        self.unassigned.append(ticket)
                    else:
                        self.schedule_first(ticket)

        return run

    def schedule_first(self, ticket: Ticket, soon: float | None = None) -> None:
        assert ticket.owner is not None
        spans = self.shifts[ticket.owner]
        if soon is None:
            when = work_at(spans, max(self.clock(), self.busy[ticket.owner]), ticket.first_work)
            self.busy[ticket.owner] = when if when != float("inf") else self.busy[ticket.owner]
        else:
            when = soon
        ticket.version += 1
        ticket.planned = when
        version = ticket.version
        self.at(when, lambda: self.reply_first(ticket, version))

    async def reply_first(self, ticket: Ticket, version: int) -> None:
        if version != ticket.version or ticket.first_at is not None:
            return
        text = (
            "확인해 볼게요. 주문번호 알려주세요."
            if ticket.language == "ko"
            else "Let me check. Your order number?"
        )
        result = await self.router.agent_message(
            platform="slack",
            event_id=f"a-{next(self.ids)}",
            thread_ref=ticket.ref,
            agent=ticket.owner or "U1",
            text=text,
        )
        if result != "relayed":
            self.counts[f"agent messages {result}"] += 1
            return
        ticket.first_at = self.clock()
        if ticket.answers:
            self.at(ticket.first_at + ticket.answer_delay, self.customer_answers(ticket))

    def customer_answers(self, ticket: Ticket) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            await self.say(
                ticket.key, ticket.user, TEXTS["answer"][ticket.language][0], ticket.language
            )
            ticket.customer_at = self.clock()
            self.schedule_resolve(ticket)

        return run

    def schedule_resolve(self, ticket: Ticket, soon: float | None = None) -> None:
        assert ticket.owner is not None
        when = soon or work_at(self.shifts[ticket.owner], self.clock(), ticket.resolve_work)
        ticket.version += 1
        ticket.planned = when
        version = ticket.version
        self.at(when, lambda: self.resolve(ticket, version))

    async def resolve(self, ticket: Ticket, version: int) -> None:
        if version != ticket.version or ticket.resolved:
            return
        if await self.router.resolve(ticket.key, ticket.owner or "U1"):
            ticket.resolved = True
            self.counts["resolved"] += 1
            self.rate(ticket)

    def rate(self, ticket: Ticket) -> None:
        """The customer's answer to the rating question, as drawn."""
        rng, now = self.rng, self.clock()
        later = now + rng.uniform(MINUTE, 2 * HOUR)
        digit = str(ticket.score)
        if ticket.platform == "email":
            digit = f"{ticket.score} {'친절했어요' if ticket.language == 'ko' else 'thanks'}"
        if ticket.rating == "none":
            return
        if ticket.rating.startswith("click"):
            self.at(later, self.click(ticket))
            if ticket.rating == "click_twice":
                self.at(later + 30.0, self.click(ticket, rng.choice(SCORES)))
            return
        if ticket.rating.startswith("bad"):
            self.at(later, self.text(ticket, rng.choice(BAD_ANSWERS)))
            later += rng.uniform(MINUTE, 10 * MINUTE)
            if ticket.platform in ("slack", "discord") and ticket.rating == "bad_then_digit":
                self.at(later, self.click(ticket))
                return
            if ticket.rating == "bad_twice":
                digit = rng.choice(BAD_ANSWERS)
        self.at(later, self.text(ticket, digit))

    def click(self, ticket: Ticket, score: int | None = None) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            self.counts["rating clicks"] += 1
            said = await self.service.csat_click(ticket.id, score or ticket.score, ticket.user)
            if said is None:
                self.counts["rating clicks ignored"] += 1

        return run

    def text(self, ticket: Ticket, text: str) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            outcome = await self.say(ticket.key, ticket.user, text, ticket.language)
            self.counts["rating bad inputs"] += csat.read_score(text) is None
            if "csat" in outcome.notes and csat.read_score(text) is None:
                self.counts["rating retries asked"] += 1

        return run

    # --- the clock ---

    def react(self) -> None:
        """Agents answer the reminders that name them; silent customers who come back."""
        for where, text in self.desk.posts[self.seen_posts :]:
            if not text.startswith(("⏰", "🚨")):
                continue
            ticket = self.tickets.get(int(where.rpartition("-")[2]))
            if ticket is None or ticket.owner is None or ticket.owner not in text:
                continue
            if not on_duty(self.shifts[ticket.owner], self.clock()):
                continue
            soon = self.clock() + ticket.nudge
            if soon >= ticket.planned:
                continue  # already on it
            if text.split(" ")[1] == "First" and ticket.first_at is None:
                self.counts["answered after a reminder"] += 1
                self.schedule_first(ticket, soon)
            elif "Resolution" in text and ticket.customer_at is not None and not ticket.resolved:
                self.counts["resolved after a reminder"] += 1
                self.schedule_resolve(ticket, soon)
        self.seen_posts = len(self.desk.posts)
        closed = {lang: CUSTOMER_TEXTS["stale_closed"][lang] for lang in ("ko", "en")}
        for sent in self.sent[self.seen_sent :]:
            if sent.reply.text not in closed.values():
                continue
            for ticket in self.tickets.values():
                again = ticket.reopen_delay is not None and not ticket.reopens
                if ticket.key == sent.key and again:
                    ticket.reopens = True
                    self.at(sent.at + (ticket.reopen_delay or 0.0), self.reopen(ticket))
        self.seen_sent = len(self.sent)

    def reopen(self, ticket: Ticket) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            before = await self.store.conversation(ticket.key, ticket.platform)
            again = TEXTS["again"][ticket.language][0]
            outcome = await self.say(ticket.key, ticket.user, again, ticket.language)
            if before is not None and before.state == "closed" and outcome.action == "replied":
                self.counts["reopened"] += 1

        return run

    async def run(self, step: float) -> None:
        """Advance the clock through the week, the desk ticked every ``step`` seconds."""
        self.plan()
        while self.clock.now < END:
            while self.queue and self.queue[0].at <= self.clock.now:
                await heapq.heappop(self.queue).run()
                self.react()
            await self.service.tick(self.clock.now)
            self.react()
            self.clock.now += step


# --- the figures ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Naive:
    """The naive desk's figures on the same tickets and draws."""

    first: list[float]
    resolution: list[float]
    breaches: Counter[str]
    tickets: int
    open_at_end: int
    waiting: int


def naive(sim: Simulation) -> Naive:
    """First agent free takes each ticket in arrival order; no reminders, no stale close: a
    silent customer's ticket stays open until they write again (the same instant as in Ondo's
    run would be: 48 h after the first reply plus their drawn delay)."""
    busy = dict.fromkeys(SHIFTS, 0.0)
    first: list[float] = []
    resolution: list[float] = []
    breaches: Counter[str] = Counter()
    open_at_end = waiting = 0
    for t in sorted(sim.tickets.values(), key=lambda t: t.created_at):
        ends = {a: work_at(sim.shifts[a], max(t.created_at, busy[a]), t.first_work) for a in SHIFTS}
        agent = min(SHIFTS, key=lambda a: (ends[a], a))
        replied = ends[agent]
        if not any(on_duty(s, t.created_at) for s in sim.shifts.values()):
            waiting += 1
        reason: EscalationReason = t.reason if t.reason in REASONS else "asked_for_human"
        due = sla.due(t.created_at, reason, sim.hours, sim.config.sla)
        if replied == float("inf") or replied >= END:
            open_at_end += 1
            breaches[f"first:{t.reason}"] += due.first_response_at < END
            breaches[f"resolution:{t.reason}"] += due.resolution_at < END
            continue
        busy[agent] = replied
        first.append(sim.hours.business_seconds(t.created_at, replied))
        breaches[f"first:{t.reason}"] += replied > due.first_response_at
        back = replied + t.answer_delay if t.answers else None
        if back is None and t.reopen_delay is not None:
            back = replied + sim.config.stale.close_after + t.reopen_delay
        done = work_at(sim.shifts[agent], back, t.resolve_work) if back is not None else None
        if done is None or done >= END:
            open_at_end += 1
            breaches[f"resolution:{t.reason}"] += due.resolution_at < END
            continue
        resolution.append(sim.hours.business_seconds(t.created_at, done))
        breaches[f"resolution:{t.reason}"] += done > due.resolution_at
    return Naive(first, resolution, breaches, len(sim.tickets), open_at_end, waiting)


def invariants(sim: Simulation) -> dict[str, int]:
    """The invariants, from what the memory desk and customers received."""
    kinds = Counter(
        (where, text.split(" · ")[0].split(" ")[0] + text.split(" ")[1])
        for where, text in sim.desk.posts
        if text.startswith(("⏰", "🚨"))
    )
    asked = Counter(s.reply.raw.get("csat") for s in sim.sent if s.reply.raw.get("csat"))
    closed = set(CUSTOMER_TEXTS["stale_closed"].values())
    extra = 0
    for key in {s.key for s in sim.sent}:
        closed_at: float | None = None
        writes = [at for at, k in sim.wrote if k == key]
        for s in (s for s in sim.sent if s.key == key):
            if closed_at is not None and not any(closed_at <= w <= s.at for w in writes):
                extra += 1
            if s.reply.text in closed:
                closed_at = s.at
            elif closed_at is not None and any(closed_at <= w <= s.at for w in writes):
                closed_at = None
    return {
        INVARIANTS[0]: sum(n - 1 for n in kinds.values() if n > 1),
        INVARIANTS[1]: sum(n - 1 for n in asked.values() if n > 1),
        INVARIANTS[2]: extra,
    }


@dataclass
class Week:
    """One simulated week's results."""

    backend: str
    seed: int
    customers: int
    stats: DeskStats
    naive: Naive
    counts: Counter[str]
    posts: Counter[str]
    breaches: Counter[str]
    low_scores: int
    invariants: dict[str, int]
    seconds: float


def _duration(values: Sequence[float]) -> str:
    median, p90 = percentile(values, 0.5), percentile(values, 0.9)
    if median is None or p90 is None:
        return "—"
    return f"{median / 60:.0f} / {p90 / 60:.0f} min ({len(values)} tickets)"


def table(week: Week) -> str:
    """ONE markdown table: a row per figure, Ondo beside the naive desk."""
    s, n, c, p = week.stats, week.naive, week.counts, week.posts
    ondo_first = (
        f"{_minutes(s.first_response.median)} / {_minutes(s.first_response.p90)} min "
        f"({s.first_response.count} tickets)"
    )
    ondo_res = (
        f"{_minutes(s.resolution.median)} / {_minutes(s.resolution.p90)} min "
        f"({s.resolution.count} tickets)"
    )
    rows: list[tuple[str, str, str]] = [
        ("tickets (handoffs)", str(s.tickets), str(n.tickets)),
        (
            "assigned at once / waiting for an agent on duty",
            f"{c['assigned at once']} / {s.tickets - c['assigned at once']}",
            f"— (nobody owns a ticket) / {n.waiting}",
        ),
        ("first response, business time: median / p90", ondo_first, _duration(n.first)),
        ("resolution, business time: median / p90", ondo_res, _duration(n.resolution)),
    ]
    for reason in REASONS:
        group = next((g for g in s.by_reason if g.name == reason), None)
        mine = (
            "—"
            if group is None
            else f"{group.first_response.breached} / {group.resolution.breached}"
        )
        theirs = f"{n.breaches[f'first:{reason}']} / {n.breaches[f'resolution:{reason}']}"
        rows.append((f"SLA breaches {reason}: first response / resolution", mine, theirs))
    rows += [
        (
            "SLA reminders posted: 80 % / breach / duplicates",
            f"{p['80']} / {p['breach']} / {week.invariants[INVARIANTS[0]]}",
            "0 / 0 / 0 (no reminders)",
        ),
        (
            "reminders that made the owner act sooner",
            str(c["answered after a reminder"] + c["resolved after a reminder"]),
            "—",
        ),
        (
            f"out-of-hours handoffs ({c['out of hours']}): told when a person reads it / "
            "promised 'a person will reply shortly'",
            f"{c['out of hours told when']} / 0",
            f"0 / {c['out of hours']} (dishonest promises)",
        ),
        (
            "CSAT asked / answered / mean",
            f"{s.csat.asked} / {s.csat.answered} / {_mean(s.csat.mean)}",
            "0 / 0 / —",
        ),
        (
            "CSAT low scores (1–2) / followed up in the thread",
            f"{week.low_scores} / {p['low']}",
            "—",
        ),
        (
            "CSAT: bad answers typed (6, 최고, …) / retries asked / second clicks ignored",
            f"{c['rating bad inputs']} / {c['rating retries asked']} / "
            f"{c['rating clicks ignored']}",
            "—",
        ),
        (
            "stale reminders / auto-closed / reopened by the customer",
            f"{p['stale']} / {s.stale_closed} / {c['reopened']}",
            f"0 / 0 / — ({n.open_at_end} tickets still open at Sun 24:00)",
        ),
        ("tickets open at Sun 24:00", str(s.open), str(n.open_at_end)),
    ]
    rows += [(f"invariant: {name}", str(v), "—") for name, v in week.invariants.items()]
    out = ["| figure | Ondo | naive desk (same stream) |", "|---|---|---|"]
    out += [f"| {a} | {b} | {d} |" for a, b, d in rows]
    return "\n".join(out)


def _mean(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def _minutes(value: float | None) -> str:
    return "—" if value is None else f"{value / 60:.0f}"


def header(week: Week) -> str:
    """One line: what was simulated, on what, how long it took."""
    c = week.counts
    return (
        f"Desk week · {week.backend} · seed {week.seed} · {week.customers} customers · "
        f"2026-09-21..27 Asia/Seoul (Chuseok 24–26) · "
        f"{c['messages: question']} questions, {c['messages: asked_for_human']} asking for a "
        f"person, {c['messages: angry']} angry, {c['messages: sensitive']} sensitive · "
        f"{c['handoffs']} handoffs ({c['later handoffs']} opened by a later message: a "
        f"reopened conversation or a rating answer the bot could not answer), "
        f"{c['resolved']} resolved · run took {week.seconds:.0f} s"
    )


async def simulate(
    db: str | None = None, *, seed: int = 0, customers: int = 200, step: float = 60.0
) -> Week:
    """Run the week on a fresh database (``db``: a PostgreSQL URL, else SQLite)."""
    began = time.perf_counter()
    clock = SimClock(START)
    rng = random.Random(seed)
    with database(db) as (backend, target), mock.patch("time.time", clock):
        runtime = open_runtime(target)
        try:
            sim = Simulation(rng, runtime, clock, customers)
            await sim.run(step)
            rows = DeskRows(
                tuple(await runtime.store.desk.sla_rows(START, END)),
                tuple(await runtime.store.desk.csat_rows(START, END)),
            )
            stats = desk_figures(rows, sim.hours, now=END)
        finally:
            runtime.close()
    posts: Counter[str] = Counter()
    for _where, text in sim.desk.posts:
        if text.startswith("⏰"):
            posts["80"] += 1
        elif text.startswith("🚨"):
            posts["breach"] += 1
        elif text.startswith("⚠️"):
            posts["low"] += 1
    stale = set(CUSTOMER_TEXTS["stale_reminder"].values())
    posts["stale"] = sum(s.reply.text in stale for s in sim.sent)
    low = sum(1 for r in rows.csat if r.score is not None and csat.is_low(r.score))
    return Week(
        backend,
        seed,
        customers,
        stats,
        naive(sim),
        sim.counts,
        posts,
        Counter(),
        low,
        invariants(sim),
        time.perf_counter() - began,
    )


def output(week: Week) -> str:
    """The header line, then the table."""
    return f"{header(week)}\n\n{table(week)}"


def section(week: Week) -> str:
    """The section of ``docs/benchmarks.md`` for ``week``'s backend."""
    return (
        f"## Help desk: a simulated week ({week.backend})\n\n"
        "Produced by `python -m bench.desk_week` (method: the docstring of "
        "`bench/desk_week.py`): the Chuseok week 2026-09-21..27 through the real router, "
        "engine, store and desk service (`knowledge/sample/desk.yaml`), ticked every "
        "simulated minute, four agents on shifts. Ondo's figures as `ondo insights "
        "conversations` computes them (business time, the desk's targets); the naive desk is "
        "computed from the same tickets, shifts and drawn times, without hours, assignment, "
        "reminders, CSAT or stale handling.\n\n" + output(week)
    )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(prog="python -m bench.desk_week", description=__doc__)
    parser.add_argument("--database", "--db", dest="db", default=None, help="a PostgreSQL URL")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--step", type=float, default=60.0, help="tick step in seconds")
    parser.add_argument("--out", type=Path, default=None, help="markdown file to update")
    parser.add_argument("--verbose", action="store_true", help="show the service's warnings")
    args = parser.parse_args(argv)
    if not 1 <= args.customers <= 20_000:
        parser.error("--customers: expected 1 to 20000")
    if not 1.0 <= args.step <= 900.0:
        parser.error("--step: expected 1 to 900 seconds")
    if args.db is not None and not args.db.startswith(("postgresql://", "postgres://")):
        parser.error("--database: expected a postgresql:// URL")
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
    except Exception as exc:
        print(f"error: {type(exc).__name__}: {' '.join(str(exc).split())[:300]}", file=sys.stderr)
        return 2
    finally:
        ondo_log.setLevel(level)
    print(output(week))
    if args.out is not None:
        update_section(args.out, f"desk-{week.backend.lower()}", section(week))
    bad = [name for name, v in week.invariants.items() if v]
    if bad:
        print(f"invariants failed: {', '.join(bad)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
