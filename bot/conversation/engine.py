"""The conversation engine: one inbound message in, at most one reply out.

This is the flow of product.md in one place; adapters call :meth:`Engine.handle` with a
normalized :class:`Message` and a :class:`Sender`, and the agents' side calls
:meth:`take_over`, :meth:`agent_message` and :meth:`resolve`.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Literal, Protocol

from bot.conversation import handoff
from bot.conversation.brief import Brief, Line, gather_brief, render_summary
from bot.conversation.drafting import draft_reply
from bot.conversation.escalation import decide
from bot.responder.base import ReplyRequest, Responder, Turn
from bot.responder.composer import ComposerResponder, compose
from bot.responder.staff import staff_reply
from bot.storage.interface import Store
from bot.storage.records import Inbound, Post
from bot.texts import text as fixed_text
from bot.types import Emotion, Escalation, Language, Message, Reply, audience_for
from bot.understanding.emotion import EmotionDetector
from bot.understanding.normalize import emoji_emotion, for_analysis, has_words
from bot.understanding.privacy import redact, without_identifiers
from knowledge.base import KnowledgeBase
from knowledge.entries import Audience
from knowledge.language import detect_language
from knowledge.results import Match, SearchResult
from knowledge.retrieval import ANSWER_THRESHOLD

log = logging.getLogger("ondo.engine")

MAX_TEXT_CHARS = 4000
"""Longer messages are cut here before analysis (the stored text is longer)."""
MAX_STORED_CHARS = 40_000
"""Longer messages are stored cut here, with a note: a database is not a file store."""
INTENT_THRESHOLD = 0.35
"""Below the answer threshold but above this, the best match still names the intent."""
HISTORY_TURNS = 8

_ACCEPT_WORD = (
    r"(?:yes|yeah|yep|sure|ok(?:ay)?|please(?: do)?|네+|넵|예|응+|어|좋아요|좋습니다|"
    r"부탁(?:해요|드려요|드립니다|합니다)|연결\s*(?:해\s*주세요|해\s*줘|부탁(?:해요|드려요|드립니다|합니다)?))"
)
# One accepting word, or a few in a row: "yes, please", "네, 연결해 주세요".
_ACCEPT_RE = re.compile(
    rf"^\s*{_ACCEPT_WORD}(?:[\s,.!~]+{_ACCEPT_WORD}){{0,2}}[\s.!~]*$", re.IGNORECASE
)

Action = Literal["replied", "relayed", "duplicate", "suppressed"]


class Sender(Protocol):
    """Posts a reply on the platform; returns the platform's id of the posted message."""

    async def send(self, reply: Reply) -> str | None:
        """Post ``reply``; raise if it could not be posted."""
        ...


@dataclass(frozen=True)
class Analysis:
    """What the engine understood of one message."""

    language: Language
    emotion: Emotion
    intent: str
    matches: tuple[Match, ...]
    confidence: float
    answered: bool
    escalation: Escalation
    redacted: str
    misses: int = 0


@dataclass(frozen=True)
class HandoffTicket:
    """What the agents' channel receives when a conversation is handed over."""

    id: int
    conversation_key: str
    reason: str
    summary: str
    language: Language
    intent: str
    emotion: Emotion
    suggestion: str | None = None
    """The reply agents can send with one click (stored with the handoff)."""
    brief: Brief | None = None
    """What the summary was made of, for the router to finish it (see
    :func:`bot.conversation.summarizer.finish_ticket`); ``None`` once finished."""
    token: str | None = None
    """The random part of its buttons' ids (:mod:`bot.conversation.ticket_buttons`), set by the
    router."""
    attempt: int = 1
    """Which claim of posting it this is: after the first, the desk looks on the platform for
    a post that reached it before a crash, and adopts it instead of posting again."""


@dataclass(frozen=True)
class Outcome:
    """What happened to one inbound message."""

    action: Action
    inbound_id: int
    reply: Reply | None = None
    analysis: Analysis | None = None
    handoff: HandoffTicket | None = None
    relay_text: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)


class Engine:
    """The platform-free core. Build once per process; share between adapters."""

    def __init__(
        self,
        store: Store,
        knowledge: KnowledgeBase,
        responder: Responder,
        detector: EmotionDetector,
        *,
        staff_contact: str | None = None,
    ) -> None:
        """``staff_contact``: who staff are told to ask when the handbook has no answer."""
        self.store = store
        self.knowledge = knowledge
        self.responder = responder
        self.detector = detector
        self.staff_contact = staff_contact
        self._composer = ComposerResponder()
        self.notice_suffix: Callable[[Language], str | None] | None = None
        """Set by the help desk: a line added to a new handoff's notice in the customer's
        language (the desk's honest "a person reads this tomorrow at 9" when it is closed),
        or ``None``. The desk reads its own clock; the engine knows nothing of its hours."""

    async def analyze(
        self, text: str, *, misses_before: int = 0, audience: Audience = "customers"
    ) -> Analysis:
        """Language, emotion, intent, matches and the escalation decision for ``text``.

        ``misses_before`` counts the bot's consecutive unanswered messages so far; after each
        one it offered a person, so a plain "yes" now is a request for one. ``audience``: the
        knowledge the asker may see; a staff member's question never escalates (a colleague
        asking how to calm an angry customer is not an angry customer).
        """
        text = for_analysis(text) or text
        language = detect_language(text)
        redacted = redact(text, language)
        meaning = without_identifiers(redacted) or redacted
        if has_words(meaning):
            emotion = self.detector.detect(meaning, language)
            result = await self.knowledge.search(meaning, k=5, language=language, audience=audience)
        else:
            # Emoji alone: how the customer feels, but nothing to answer from.
            emotion = emoji_emotion(meaning)
            result = SearchResult((), 0.0)
        best = result.best
        answered = best is not None and result.confidence >= ANSWER_THRESHOLD
        intent = "other"
        if best is not None and result.confidence >= INTENT_THRESHOLD:
            intent = best.entry.category
        misses = 0 if answered else misses_before + 1
        if audience == "staff":
            escalation = Escalation.none()
            misses = 0
        elif misses_before and _ACCEPT_RE.match(redacted):
            # "Yes" to the bot's offer to connect a person is a request for one.
            escalation = Escalation(True, "asked_for_human")
        else:
            escalation = decide(redacted, emotion, answered=answered, consecutive_misses=misses)
        return Analysis(
            language,
            emotion,
            intent,
            result.matches,
            result.confidence,
            answered,
            escalation,
            redacted,
            misses,
        )

    async def receive(self, message: Message) -> Inbound:
        """Record an inbound message, as early as possible: an adapter whose platform does
        not redeliver once acknowledged records it before acknowledging, then passes the
        result to :meth:`handle`."""
        return await self.store.record_inbound(storable(message))

    async def handle(
        self, message: Message, sender: Sender | None = None, *, inbound: Inbound | None = None
    ) -> Outcome:
        """Process one inbound customer message end to end (see the module docstring);
        ``inbound``: what :meth:`receive` recorded for it, if it was recorded already."""
        message = storable(message)
        if inbound is None:
            inbound = await self.store.record_inbound(message)
        if not inbound.process:
            log.info("duplicate delivery of %s:%s ignored", message.platform, message.message_id)
            return Outcome("duplicate", inbound.id)
        key = message.conversation_key
        conversation = await self.store.conversation(key, message.platform)
        if inbound.duplicate:
            unposted = await self.store.unposted_reply(inbound.id)
            if unposted is not None:
                return await self._resend(message, inbound.id, *unposted, sender)
        if not handoff.bot_speaks(conversation.state):
            return _relay(message, inbound.id)
        if conversation.state == "closed":
            await self.store.set_state(key, "bot", expected=("closed",))
        text = " ".join(message.text.split())
        notes: list[str] = []
        staff = message.role == "staff"
        if not text:
            language: Language = "ko" if conversation.language == "ko" else "en"
            empty = fixed_text("staff.empty", language) if staff else None
            return await self._deliver(
                message, inbound.id, _empty_analysis(language), sender, None, (), empty
            )
        if len(text) > MAX_TEXT_CHARS:
            text = text[:MAX_TEXT_CHARS]
            notes.append("too_long")
        analysis = await self.analyze(
            text, misses_before=conversation.misses, audience=audience_for(message.role)
        )
        best = analysis.matches[0] if analysis.matches else None
        await self.store.annotate_inbound(
            inbound.id,
            language=analysis.language,
            emotion=analysis.emotion.label,
            emotion_score=analysis.emotion.score,
            intent=analysis.intent,
            entry_id=best.entry.id if best and analysis.answered else None,
            confidence=analysis.confidence,
            answered=analysis.answered,
        )
        await self.store.note_turn(
            key, language=analysis.language, emotion=analysis.emotion, misses=analysis.misses
        )
        history = await self.store.history(key, HISTORY_TURNS + 1)
        lines = [
            Line(m.role, redact(m.text, analysis.language), m.emotion)
            for m in history
            if m.id != inbound.id
        ]
        request = ReplyRequest(
            text=analysis.redacted,
            language=analysis.language,
            emotion=analysis.emotion,
            matches=analysis.matches,
            answered=analysis.answered,
            handoff=analysis.escalation.escalate,
            escalation_reason=analysis.escalation.reason,
            history=tuple(_turn(line) for line in lines[-HISTORY_TURNS:]),
        )
        if staff:
            # The handbook's own words with their source; no model rewrites a policy.
            reply_text = staff_reply(
                analysis.language, analysis.matches, analysis.answered, self.staff_contact
            )
        else:
            # A handoff notice must always reach the customer, so it never depends on the LLM.
            responder = self._composer if request.handoff else self.responder
            reply_text = self._without_staff_text(await responder.reply(request), request)
        if "too_long" in notes:
            reply_text = fixed_text("too_long", analysis.language) + "\n" + reply_text
        ticket = None
        if analysis.escalation.escalate:
            ticket = await self._escalate(key, analysis, lines, reply_text)
            suffix = self._notice_suffix(analysis.language) if ticket is not None else None
            if suffix:
                reply_text = f"{reply_text}\n{suffix}"
        return await self._deliver(
            message, inbound.id, analysis, sender, ticket, tuple(notes), reply_text
        )

    def _notice_suffix(self, language: Language) -> str | None:
        """The desk's line for a new handoff's notice; a failing hook adds nothing (the notice
        must reach the customer)."""
        if self.notice_suffix is None:
            return None
        try:
            return self.notice_suffix(language)
        except Exception as exc:
            log.error("handoff notice line failed: %s: %s", type(exc).__name__, exc)
            return None

    def _without_staff_text(self, reply_text: str, request: ReplyRequest) -> str:
        """``reply_text``, unless it quotes staff knowledge: then the offline answer from the
        customer's own matches, or the "not sure" sentence. The customer's search never sees
        a staff entry; this catches what came from anywhere else (a model that knows more)."""
        guard = self.knowledge.staff_text
        if not guard.leaks(reply_text):
            return reply_text
        log.warning("reply withheld: it quoted staff-only knowledge; the offline answer is sent")
        fallback = compose(request)
        return fallback if not guard.leaks(fallback) else fixed_text("withheld", request.language)

    async def _escalate(
        self, key: str, analysis: Analysis, lines: list[Line], reply_text: str
    ) -> HandoffTicket | None:
        reason = analysis.escalation.reason or "asked_for_human"
        best = analysis.matches[0] if analysis.matches else None
        # Only a confident match may speak for the customer: a weak one ("I'm furious, third
        # time!!" near "I was charged twice") would tell the agent a story they did not tell.
        entry = best.entry if best is not None and analysis.answered else None
        wants = best.question if entry is not None and best is not None else analysis.redacted
        brief = await gather_brief(
            self.store,
            key,
            language=analysis.language,
            reason=reason,
            intent=analysis.intent,
            emotion=analysis.emotion,
            wants=wants,
            history=[
                *lines,
                Line("customer", analysis.redacted, analysis.emotion.label),
                *([Line("bot", reply_text)] if analysis.answered else []),
            ],
            entry=entry,
        )
        summary = render_summary(brief)
        suggestion = draft_reply(brief)
        # The state moves and the handoff is opened (or reopened, after a failed notice,
        # under its number) in one transaction: a crash leaves no handoff-less waiting.
        handoff_id = await self.store.escalate(
            key,
            reason=reason,
            summary=summary,
            intent=analysis.intent,
            emotion=analysis.emotion.label,
            language=analysis.language,
        )
        if handoff_id is None:
            return None
        await self.store.save_suggestion(handoff_id, suggestion)
        log.info("conversation %s handed to a human (%s)", key, reason)
        return HandoffTicket(
            handoff_id,
            key,
            reason,
            summary,
            analysis.language,
            analysis.intent,
            analysis.emotion,
            suggestion,
            brief,
        )

    async def _deliver(
        self,
        message: Message,
        inbound_id: int,
        analysis: Analysis,
        sender: Sender | None,
        ticket: HandoffTicket | None,
        notes: tuple[str, ...],
        reply_text: str | None = None,
    ) -> Outcome:
        key = message.conversation_key
        if reply_text is None:
            reply_text = fixed_text("empty", analysis.language)
        # Re-check right before posting: an agent may have taken over meanwhile.
        state = (await self.store.conversation(key, message.platform)).state
        allowed = ("waiting_human",) if ticket is not None else ("bot",)
        if state not in allowed:
            log.info("reply to %s suppressed: conversation is now %s", key, state)
            if ticket is None and not handoff.bot_speaks(state):
                # A person has the conversation now: the message goes to them instead.
                return _relay(message, inbound_id)
            await self.store.mark_handled(inbound_id)
            return Outcome("suppressed", inbound_id, analysis=analysis, notes=notes)
        reply_id = await self.store.record_reply(inbound_id, key, message.platform, reply_text)
        if reply_id is None:
            return Outcome("duplicate", inbound_id, analysis=analysis, notes=notes)
        # An answer from the knowledge base (not a handoff notice) can be rated by the customer;
        # ``raw`` tells the sender which stored reply it posts.
        rateable = analysis.answered and ticket is None and not analysis.escalation.escalate
        reply = Reply(
            key,
            reply_text,
            message.message_id,
            analysis.language,
            raw={"reply_id": reply_id, "rateable": rateable},
        )
        if sender is not None:
            try:
                platform_id = await sender.send(reply)
            except Exception:
                # Unrecord so a redelivery of the same message can answer it: nothing lost.
                # A handoff the customer was never told about is put off; the retry hands
                # over again, notice first, under the same handoff number.
                await self.store.release(inbound_id, reply_id)
                if ticket is not None:
                    await self.store.cancel_handoff(ticket.id)
                raise
            if platform_id:
                await self.store.set_platform_id(reply_id, platform_id)
        await self.store.mark_handled(inbound_id)
        return Outcome("replied", inbound_id, reply, analysis, ticket, notes=notes)

    async def _resend(
        self, message: Message, inbound_id: int, reply_id: int, text: str, sender: Sender | None
    ) -> Outcome:
        """Post a reply that was recorded but never posted (the process died in between)."""
        key = message.conversation_key
        state = (await self.store.conversation(key, message.platform)).state
        if state == "human":
            await self.store.mark_handled(inbound_id)
            log.info("unposted reply to %s dropped: an agent has the conversation", key)
            return Outcome("suppressed", inbound_id)
        language: Language = "ko" if detect_language(text) == "ko" else "en"
        reply = Reply(
            key,
            text,
            message.message_id,
            language,
            raw={"reply_id": reply_id, "rateable": False, "resent": True},
        )
        if sender is not None:
            try:
                platform_id = await sender.send(reply)
            except Exception:
                await self.store.unclaim(inbound_id)
                raise
            if platform_id:
                await self.store.set_platform_id(reply_id, platform_id)
        await self.store.mark_handled(inbound_id)
        log.info("reply %d to %s posted after a restart", reply_id, key)
        return Outcome("replied", inbound_id, reply)

    async def fixed_reply(
        self,
        message: Message,
        inbound: Inbound,
        text: str,
        sender: Sender | None,
        *,
        intent: str = "opt_out",
        turn: tuple[Emotion, bool] | None = None,
    ) -> Outcome:
        """Answer a recorded customer message with the fixed ``text`` (an opt-out's
        confirmation, the thanks for a review), recorded as the bot's reply once, whatever
        the conversation's state: the message and the answer are in the history, and the bot
        does not analyse it. ``intent`` is noted on the message. ``turn``: the emotion the
        message showed and whether ``text`` offers a person (then a plain "yes" next asks
        for one, as after an unanswered question). A failed post is released as
        :meth:`handle` does, so a redelivery or the recovery sweep answers it."""
        message = storable(message)
        if not inbound.process:
            return Outcome("duplicate", inbound.id)
        key = message.conversation_key
        language = detect_language(message.text)
        if turn is None:
            await self.store.annotate_inbound(inbound.id, language=language, intent=intent)
        else:
            emotion, offers = turn
            await self.store.annotate_inbound(
                inbound.id, language=language, intent=intent, emotion=emotion.label
            )
            # The offer is remembered as a miss is: the next "yes" is a request for a person.
            await self.store.note_turn(key, language=language, emotion=emotion, misses=int(offers))
        text = utf8(text)
        reply_id = await self.store.record_reply(inbound.id, key, message.platform, text)
        if reply_id is None:
            return Outcome("duplicate", inbound.id)
        reply = Reply(
            key, text, message.message_id, language, raw={"reply_id": reply_id, "rateable": False}
        )
        if sender is not None:
            try:
                platform_id = await sender.send(reply)
            except Exception:
                await self.store.release(inbound.id, reply_id)
                raise
            if platform_id:
                await self.store.set_platform_id(reply_id, platform_id)
        await self.store.mark_handled(inbound.id)
        return Outcome("replied", inbound.id, reply, notes=(intent,))

    async def relayed(self, outcome: Outcome, post: Post | None = None) -> None:
        """Mark a relayed message handled once it reached the agents (or could not, for good),
        or once ``post`` (its relay by another replica) is queued with it."""
        await self.store.mark_handled(outcome.inbound_id, post)

    # --- the agents' side ----------------------------------------------------------------

    async def take_over(self, key: str, agent: str) -> bool:
        """An agent takes the conversation; ``False`` if it was not waiting for one."""
        moved = await self.store.set_state(key, "human", expected=handoff.sources("take"))
        ticket = await self.store.current_handoff(key)
        if moved and ticket is not None and ticket.taken_at is None:
            await self.store.update_handoff(ticket.id, agent=agent, taken_at=time.time())
        return moved

    async def agent_message(self, key: str, agent: str, text: str, *, queue: bool = False) -> Reply:
        """Relay an agent's message to the customer; the conversation becomes ``human``.
        ``queue``: another replica holds the customer's platform, so the reply is queued in
        the outbox with its record (the caller posts it otherwise).

        Raises :class:`handoff.InvalidTransition` when the conversation has no open handoff.
        """
        if not await self.take_over(key, agent):
            raise handoff.InvalidTransition(f"conversation {key} has no open handoff")
        conversation = await self.store.conversation(key, "")
        text = utf8(text)
        language: Language = "ko" if conversation.language == "ko" else "en"
        post = _send(conversation.platform, key, text, "agent", language) if queue else None
        message_id = await self.store.record_outbound(
            key, conversation.platform, text, "agent", post
        )
        return Reply(key, text, f"agent:{message_id}", language)

    async def resolve(self, key: str, agent: str, *, queue: bool = False) -> Reply | None:
        """End the handoff: back to the bot with the stale context cleared; returns the notice
        (``queue``: queued in the outbox with its record, for the replica holding the
        customer's platform)."""
        moved = await self.store.set_state(key, "bot", expected=handoff.sources("resolve"))
        if not moved:
            return None
        ticket = await self.store.current_handoff(key)
        if ticket is not None:
            await self.store.update_handoff(
                ticket.id, agent=ticket.agent or agent, resolved_at=time.time()
            )
        conversation = await self.store.conversation(key, "")
        language: Language = "ko" if conversation.language == "ko" else "en"
        notice = fixed_text("resolved", language)
        post = _send(conversation.platform, key, notice, "resolve", language) if queue else None
        message_id = await self.store.record_outbound(
            key, conversation.platform, notice, "system", post
        )
        await self.store.clear_context(key)
        log.info("conversation %s resolved by %s, back to the bot", key, agent)
        return Reply(key, notice, f"resolve:{message_id}", language)


def _send(
    platform: str, key: str, text: str, kind: str, language: Language
) -> Callable[[int], Post]:
    """The outbox row sending ``text`` into conversation ``key``, given its message's id (the
    reply's reference, ``<kind>:<id>``, as when posted here)."""
    return lambda message_id: Post(
        platform, "send", key, text=text, ref=f"{kind}:{message_id}", language=language
    )


def _relay(message: Message, inbound_id: int) -> Outcome:
    """The outcome for a message a person should read: redacted, left unhandled until the
    caller has passed it on (:meth:`Engine.relayed`)."""
    relay = redact(message.text, detect_language(message.text))
    return Outcome("relayed", inbound_id, relay_text=relay)


def utf8(text: str) -> str:
    """``text`` with anything UTF-8 cannot encode (lone surrogates) replaced by ``?``."""
    return text.encode("utf-8", "replace").decode("utf-8")


def storable(message: Message) -> Message:
    """``message`` with text that UTF-8 can encode: a lone surrogate (possible in JSON
    escapes from a platform) becomes ``?`` instead of failing the database write."""
    text = message.text
    if len(text) > MAX_STORED_CHARS:
        text = text[:MAX_STORED_CHARS] + f" […{len(text) - MAX_STORED_CHARS} characters cut]"
    fields = (message.conversation_key, message.user, text, message.message_id)
    clean = [utf8(f) for f in fields]
    if clean == [message.conversation_key, message.user, message.text, message.message_id]:
        return message
    return replace(
        message, conversation_key=clean[0], user=clean[1], text=clean[2], message_id=clean[3]
    )


def _turn(line: Line) -> Turn:
    role: Literal["customer", "bot", "agent"] = (
        "bot" if line.role in ("bot", "system") else "agent" if line.role == "agent" else "customer"
    )
    return Turn(role, line.text)


def _empty_analysis(language: Language) -> Analysis:
    return Analysis(
        language, Emotion("neutral", 1.0), "other", (), 0.0, False, Escalation.none(), ""
    )
