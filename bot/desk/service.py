"""The help desk at work: business hours, SLA clocks, assignment, satisfaction and stale
conversations, tied into the router through its :class:`~bot.conversation.routing.DeskHooks`
and the engine's ``notice_suffix``.

Decisions:

- **Layer.** The service sits above :mod:`bot.conversation` (it drives the router); the
  conversation layer knows the desk only as the hooks it is given, so the engine never reads
  the desk's hours and the router never imports it. ``bot.serve`` wires both
  (:meth:`DeskService.install`).
- **Clock.** Every instant comes from ``clock`` (epoch seconds; ``time.time`` when served) or
  is passed in (:meth:`tick`); a ticket's SLA counts from its handoff's stored ``created_at``.
- **Out of hours.** A new handoff's notice gets
  :meth:`bot.desk.hours.BusinessHours.handoff_notice`'s line for the customer's language; the
  ticket is opened as always.
- **New ticket.** Due times from :func:`bot.desk.sla.due`, an owner by the configured policy
  (:mod:`bot.desk.assign`) among the desk platform's on-duty agents, one line in the ticket
  thread (both due times in the desk's zone, the owner mentioned with the desk's
  ``mention``) and, when the desk has a ``notify(agent, text)`` method (a DM: platform work),
  a notification to the owner. Agents' lines are in the desk's ``agent_language`` (English
  when unset), as the router's own notes are.
- **Clocks of a reply.** An agent's message marks the first response (once) and starts the
  wait for the customer; the customer's next message ends it.
- **Satisfaction.** On resolve (csat on) the customer is asked once (``store.desk.ask_csat``),
  the question's ``Reply.raw`` carrying ``{"csat": handoff_id}`` so a desk's sender can add
  buttons. A pending question (asked within :data:`CSAT_WINDOW_SECONDS`) is answered before
  the bot: a score is stored with the rest of the message as its comment and thanked; a low
  one (:func:`bot.desk.csat.is_low`) puts a follow-up note in the ticket thread. A message
  that is no score gets the retry line once; a second goes to the bot, and the question is
  dropped (its ``retries`` count past one means dropped).
- **Ticker** (:meth:`tick`, every :data:`TICK_SECONDS` when served). SLA reminders at 80 %
  and at breach, each claimed once in the store (``claim_reminder``: once across replicas
  and restarts; a ticker down past both posts only the breach). A reminder mentions the
  owner, or when unassigned the on-duty group (``group_mention``, else each on-duty agent's
  mention, else says nobody is on duty) the first time only (the ``unassigned`` reminder,
  claimed once), then says "unassigned" in plain text: never a flood.
- **Stale.** A handoff waiting for its customer ``remind_after`` gets one reminder to the
  customer (claimed once: the ``stale`` reminder, forgotten when the customer answers);
  after ``close_after`` it is closed (``close_stale``, the conversation goes ``closed``) with
  a notice to the customer and a note in the thread; the customer's next message reopens it
  with the bot (the engine moves ``closed`` to ``bot``). A ticker down past both closes
  without the reminder. A stale close asks no rating: nobody resolved anything.
- **Customer notices** (question, stale reminder, closing) are recorded in the history as
  the bot's and posted through the router's sender for the key, or queued in the outbox for
  the replica holding that platform.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Callable
from datetime import datetime

from bot.conversation.engine import HandoffTicket
from bot.conversation.escalation import asks_for_human, is_sensitive
from bot.conversation.routing import Router, platform_of
from bot.desk import assign, csat, sla
from bot.desk.config import DeskConfig
from bot.desk.hours import BusinessHours
from bot.storage.desk_records import DeskTicket
from bot.storage.interface import DeskRecords
from bot.storage.records import Handoff, Post
from bot.types import EscalationReason, Language, Message, Reply
from knowledge.language import detect_language

log = logging.getLogger("ondo.desk")

TICK_SECONDS = 60.0
"""How often ``ondo serve`` runs :meth:`DeskService.tick`."""
CSAT_WINDOW_SECONDS = 7 * 24 * 3600.0
"""A satisfaction question older than this is not taken as answered by a message."""
REASONS: tuple[EscalationReason, ...] = ("angry", "asked_for_human", "no_answer", "sensitive")

CUSTOMER_TEXTS: dict[str, dict[Language, str]] = {
    "stale_reminder": {
        "ko": "아직 도움이 필요하시면 이 대화에 답장해 주세요. 답이 없으면 곧 상담을 종료할게요.",
        "en": "Are you still there? Reply here if you still need help; "
        "otherwise we'll close this conversation soon.",
    },
    "stale_closed": {
        "ko": "답이 없어 상담을 종료했어요. 다시 도움이 필요하시면 언제든 메시지를 보내 주세요.",
        "en": "We've closed this conversation as we didn't hear back. "
        "Write any time and we'll pick it up again.",
    },
}
AGENT_TEXTS: dict[str, dict[Language, str]] = {
    "ticket": {
        "ko": "⏱ 첫 응답 기한 {first}, 해결 기한 {resolution} ({zone}) · 담당: {owner}",
        "en": "⏱ First response due {first}, resolution due {resolution} ({zone}) · "
        "Assigned to {owner}",
    },
    "unassigned": {
        "ko": "담당자 없음 (근무 중인 상담원이 없어요)",
        "en": "nobody (no agent is on duty)",
    },
    "notify": {
        "ko": "새 티켓 #{id}이 배정됐어요 · 첫 응답 기한 {first} ({zone})",
        "en": "New ticket #{id} is yours · first response due {first} ({zone})",
    },
    "first_80": {
        "ko": "⏰ 첫 응답 기한 {due}이 다가와요 (80%) · {who}",
        "en": "⏰ First response due {due} (80% of the time used) · {who}",
    },
    "first_breach": {
        "ko": "🚨 첫 응답 기한 {due}을 넘겼어요 · {who}",
        "en": "🚨 First response overdue since {due} · {who}",
    },
    "resolution_80": {
        "ko": "⏰ 해결 기한 {due}이 다가와요 (80%) · {who}",
        "en": "⏰ Resolution due {due} (80% of the time used) · {who}",
    },
    "resolution_breach": {
        "ko": "🚨 해결 기한 {due}을 넘겼어요 · {who}",
        "en": "🚨 Resolution overdue since {due} · {who}",
    },
    "unassigned_plain": {"ko": "담당자 없음", "en": "unassigned"},
    "nobody": {"ko": "근무 중인 상담원이 없어요", "en": "nobody is on duty"},
    "low_csat": {
        "ko": "⚠️ 만족도 {score}점 · 고객에게 후속 연락 부탁드려요.",
        "en": "⚠️ Satisfaction {score}/5 · please follow up with the customer.",
    },
    "no_comment": {"ko": "(의견 없음)", "en": "(no comment)"},
    "stale_closed": {
        "ko": "고객의 답이 없어 상담을 종료했어요. 고객이 다시 쓰면 봇이 이어받아요.",
        "en": "Closed: the customer did not answer. If they write again, the bot picks it up.",
    },
}
_LEADING_SCORE = re.compile(
    r"^\s*[1-5１-５]\s*(?:점|/\s*5|out of 5|stars?)?\s*[-–—:,.!)]*\s*", re.IGNORECASE
)
_TRAILING_SCORE = re.compile(r"[\s,.:!-]*[1-5１-５]\s*(?:점|/\s*5|stars?)?\s*[.!]*\s*$")


def _asks_something_else(text: str) -> bool:
    """Whether a message that gives no score is about something else than the rating."""
    return (
        "?" in text
        or "？" in text
        or len(text.strip()) > 80
        or asks_for_human(text)
        or is_sensitive(text)
    )


def channel_of(conversation_key: str) -> csat.Channel:
    """How a conversation's customer answers a rating: a digit by SMS, a line in e-mail,
    buttons on Slack and Discord."""
    platform = platform_of(conversation_key)
    if platform in ("twilio", "sms"):
        return "sms"
    if platform == "email":
        return "email"
    return "buttons"


def comment_of(text: str) -> str | None:
    """The words of a rating answer besides its score (``"2 배송이 늦었어요"`` -> ``"배송이
    늦었어요"``), or ``None`` when the answer is the score alone."""
    rest = _LEADING_SCORE.sub("", text, count=1)
    if rest == text:
        rest = _TRAILING_SCORE.sub("", text, count=1)
    rest = " ".join(rest.split())
    return rest if re.search(r"\w", rest) else None


def _language(value: str | None) -> Language:
    return "ko" if value == "ko" else "en"


class DeskService:
    """The help desk's behaviour around the router (see the module docstring)."""

    def __init__(
        self,
        router: Router,
        config: DeskConfig,
        *,
        clock: Callable[[], float] = time.time,
        group_mention: str | None = None,
    ) -> None:
        """``group_mention``: how a desk post names the on-duty group (``<!subteam^S1>``,
        ``<@&role>``); unset, each on-duty agent is mentioned."""
        self.router = router
        self.config = config
        self.hours = BusinessHours(config)
        self.clock = clock
        self.group_mention = group_mention
        self.pick = assign.policy(config.assignment)

    def install(self) -> None:
        """Hook the service into its router and the router's engine."""
        self.router.desk_hooks = self
        self.router.engine.notice_suffix = self.notice_suffix

    @property
    def _records(self) -> DeskRecords:
        return self.router.engine.store.desk

    # --- texts -----------------------------------------------------------------------------

    def _agent_language(self) -> Language:
        desk = self.router.desk
        return "ko" if desk is not None and desk.agent_language == "ko" else "en"

    def _at(self, t: float, language: Language) -> str:
        """An instant in the desk's zone: ``12월 9일 10:15`` / ``Dec 9 10:15``."""
        local = datetime.fromtimestamp(t, self.config.zone)
        if language == "ko":
            return f"{local.month}월 {local.day}일 {local:%H:%M}"
        return f"{local:%b} {local.day} {local:%H:%M}"

    def _mention(self, agent: str) -> str:
        desk = self.router.desk
        return desk.mention(agent) if desk is not None else agent

    # --- hooks -----------------------------------------------------------------------------

    def notice_suffix(self, language: Language) -> str | None:
        """The out-of-hours line for a handoff opened now (``None`` while the desk is open)."""
        return self.hours.handoff_notice(self.clock(), language)

    async def ticket_posted(self, ticket: HandoffTicket, thread_ref: str) -> None:
        """Due times, an owner and the ticket's line (and the owner's notification)."""
        records = self._records
        now = self.clock()
        stored = await self.router.engine.store.handoff_by_id(ticket.id)
        created = stored.created_at if stored is not None else now
        reason = ticket.reason if ticket.reason in REASONS else "asked_for_human"
        due = sla.due(created, reason, self.hours, self.config.sla)
        await records.set_due(ticket.id, due.first_response_at, due.resolution_at)
        platform = platform_of(thread_ref)
        owner = await records.assign_next(ticket.id, platform, self.pick, now)
        language = self._agent_language()
        first = self._at(due.first_response_at, language)
        who = self._mention(owner) if owner else AGENT_TEXTS["unassigned"][language]
        line = AGENT_TEXTS["ticket"][language].format(
            first=first,
            resolution=self._at(due.resolution_at, language),
            zone=self.config.timezone,
            owner=who,
        )
        await self.router.note(thread_ref, line)
        log.info("ticket #%d assigned to %s", ticket.id, owner or "nobody")
        notify = getattr(self.router.desk, "notify", None)
        if owner and notify is not None:
            text = AGENT_TEXTS["notify"][language].format(
                id=ticket.id, first=first, zone=self.config.timezone
            )
            try:
                await notify(owner, text)
            except Exception as exc:
                log.warning("notification of ticket #%d failed: %s", ticket.id, _reason(exc))

    async def agent_replied(self, handoff: Handoff, agent: str, at: float | None = None) -> None:
        """The first response (once) and the wait for the customer start now; an agent who
        answers an unowned ticket becomes its owner (taking over by typing)."""
        now = self.clock() if at is None else at
        await self._records.assign(handoff.id, agent, now, only_unassigned=True)
        await self._records.mark_first_response(handoff.id, now)
        await self._records.set_waiting(handoff.conversation_key, now)

    async def customer_relayed(self, conversation_key: str) -> None:
        """The customer answered: the handoff no longer waits for them."""
        await self._records.set_waiting(conversation_key, None)

    async def resolved(self, handoff: Handoff, language: Language) -> None:
        """Ask the customer for a rating, once per handoff (when csat is on)."""
        if not self.config.csat:
            return
        now = self.clock()
        if not await self._records.ask_csat(handoff.id, now):
            return
        key = handoff.conversation_key
        text = csat.ask_text(language, channel_of(key))
        await self._tell(key, text, language, "csat", {"csat": handoff.id})

    async def csat_answer(self, message: Message) -> str | None:
        """The thanks or the one retry for an answer to a pending rating question."""
        records = self._records
        pending = await records.csat_for_conversation(message.conversation_key)
        now = self.clock()
        if pending is None or pending.retries > 1 or now - pending.asked_at > CSAT_WINDOW_SECONDS:
            return None
        language = _language(pending.language or detect_language(message.text))
        score = csat.read_score(message.text)
        if score is None:
            if _asks_something_else(message.text):
                # A question, a person asked for, a long message: the customer has moved on.
                # The rating is dropped and the bot (or the handoff) answers it at once.
                for _ in range(2):
                    if await records.note_csat_retry(pending.handoff_id) in (0, 2):
                        break
                return None
            tries = await records.note_csat_retry(pending.handoff_id)
            return csat.retry_text(language) if tries == 1 else None
        return await self._answer(pending.handoff_id, score, comment_of(message.text), language)

    async def csat_click(self, handoff_id: int, score: int, user: str) -> str | None:
        """A rating button (validated upstream by :func:`bot.desk.csat.read_button`) pressed
        by ``user``: the thanks, or ``None`` when it is not theirs, not pending or answered."""
        pending = await self._records.csat(handoff_id)
        if pending is None or pending.answered_at is not None or not 1 <= score <= 5:
            return None
        owner = await self.router.engine.store.conversation_owner(pending.conversation_key)
        if owner is not None and owner != user:
            return None
        return await self._answer(handoff_id, score, None, _language(pending.language))

    async def _answer(
        self, handoff_id: int, score: int, comment: str | None, language: Language
    ) -> str | None:
        now = self.clock()
        if not await self._records.answer_csat(handoff_id, score, comment, now):
            return None
        if csat.is_low(score):
            handoff = await self.router.engine.store.handoff_by_id(handoff_id)
            if handoff is not None and handoff.thread_ref:
                agents = self._agent_language()
                note = AGENT_TEXTS["low_csat"][agents].format(score=score)
                if not comment:
                    note += f" {AGENT_TEXTS['no_comment'][agents]}"
                await self.router.note(handoff.thread_ref, note)
                if comment:
                    # The customer's words are theirs: relayed inert, never as Ondo's markup.
                    await self.router.relay_note(handoff.thread_ref, comment)
        return csat.thanks_text(score, language)

    # --- the ticker ------------------------------------------------------------------------

    async def tick(self, now: float) -> None:
        """Post the SLA reminders and handle stale conversations due at ``now``."""
        for ticket in await self._records.handoffs_needing_reminders():
            await self._sla_reminders(ticket, now)
        await self._stale(now)

    async def _sla_reminders(self, ticket: DeskTicket, now: float) -> None:
        targets = (
            ("first", ticket.first_due_at, ticket.first_response_at is None),
            ("resolution", ticket.resolution_due_at, True),
        )
        for name, due_at, pending in targets:
            if due_at is None or not pending:
                continue
            point = sla.reminder_due(now, ticket.created_at, due_at, self.hours)
            if point is None:
                continue
            kind = f"{name}_{point}"
            if kind in ticket.sent or not ticket.thread_ref:
                continue
            if not await self._records.claim_reminder(ticket.id, kind, now):
                continue
            language = self._agent_language()
            who = await self._who(ticket, now)
            text = AGENT_TEXTS[kind][language].format(due=self._at(due_at, language), who=who)
            await self.router.note(ticket.thread_ref, text)

    async def _who(self, ticket: DeskTicket, now: float) -> str:
        """Whom a reminder names: the owner; else the on-duty group, the first time only."""
        if ticket.assignee:
            return self._mention(ticket.assignee)
        if "unassigned" not in ticket.sent and await self._records.claim_reminder(
            ticket.id, "unassigned", now
        ):
            return await self._group()
        return AGENT_TEXTS["unassigned_plain"][self._agent_language()]

    async def _group(self) -> str:
        """The on-duty group's mention, for a ticket nobody owns."""
        if self.group_mention:
            return self.group_mention
        platform = self.router.desk_platform
        agents = await self._records.on_duty(platform) if platform else []
        if agents:
            return " ".join(self._mention(a.agent) for a in agents)
        return AGENT_TEXTS["nobody"][self._agent_language()]

    async def _stale(self, now: float) -> None:
        stale = self.config.stale
        for ticket in await self._records.stale_candidates(now, stale.remind_after):
            if ticket.waiting_since is None:
                continue
            language = _language(ticket.language)
            key = ticket.conversation_key
            if now - ticket.waiting_since >= stale.close_after:
                if await self._records.close_stale(ticket.id, now, now - stale.close_after):
                    log.info("handoff #%d closed: the customer did not answer", ticket.id)
                    await self._tell(key, CUSTOMER_TEXTS["stale_closed"][language], language)
                    if ticket.thread_ref:
                        agents = self._agent_language()
                        await self.router.note(
                            ticket.thread_ref, AGENT_TEXTS["stale_closed"][agents]
                        )
                continue
            if "stale" not in ticket.sent and await self._records.claim_reminder(
                ticket.id, "stale", now
            ):
                await self._tell(key, CUSTOMER_TEXTS["stale_reminder"][language], language)

    async def _tell(
        self,
        key: str,
        text: str,
        language: Language,
        kind: str = "desk",
        raw: dict[str, object] | None = None,
    ) -> None:
        """Post the desk's ``text`` to the customer of ``key`` (recorded as the bot's; queued
        for the replica holding the platform when it is elsewhere); a failure is logged."""
        platform = platform_of(key)
        sender = self.router.sender_for(key)
        elsewhere = sender is None and await self.router.held_elsewhere(platform)

        def queued(message_id: int) -> Post:
            ref = f"{kind}:{message_id}"
            return Post(platform, "send", key, text=text, ref=ref, language=language)

        store = self.router.engine.store
        message_id = await store.record_outbound(
            key, platform, text, "system", queued if elsewhere else None
        )
        if sender is None:
            if not elsewhere:
                log.warning("desk notice for %s not sent: %s is not running", key, platform)
            return
        try:
            await sender.send(Reply(key, text, f"{kind}:{message_id}", language, raw=raw or {}))
        except Exception as exc:
            log.error("desk notice for %s not delivered: %s", key, _reason(exc))

    async def run(self, stop: asyncio.Event, interval: float = TICK_SECONDS) -> None:
        """:meth:`tick` with the clock's instant now and every ``interval`` seconds until
        ``stop`` is set; a failing tick is logged and the next one tries again."""
        while not stop.is_set():
            try:
                await self.tick(self.clock())
            except Exception as exc:
                log.error("desk tick failed: %s", _reason(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)


def _reason(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:300]
