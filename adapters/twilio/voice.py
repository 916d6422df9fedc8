"""``POST /twilio/voice`` and its callbacks: a phone call answered by the engine, turn by turn.

The call is greeted in Korean (with a line in English); each ``<Gather>`` of speech (or one
key) comes back to :data:`~adapters.twilio.twiml.TURN_PATH` and is one customer message of
conversation ``voice:<CallSid>`` (message id ``<CallSid>:<turn>``), recorded once and answered
by the engine like any platform's; the answer is spoken with ``<Say>`` and the next turn
listened for. A key press or an English first sentence switches the call to English.
Silence is reprompted once, then the call ends politely.

Twilio waits about 15 seconds for a webhook. The engine's answer (its LLM call included) is
waited for at most ``voice_answer_seconds``; if it is not ready, the caller hears "잠시만요"
and Twilio is redirected to :data:`~adapters.twilio.twiml.WAIT_PATH`, while the answer keeps
being computed. That callback reads the answer from the store (the reply recorded for the
turn's message, once), so it is picked up on any replica sharing the store; a callback
delivered twice finds the same reply and answers the same TwiML.

"상담원 연결", pressing 0, anger or repeated misses hand the call over: the engine opens the
handoff, the router posts the ticket at the agents' desk, the call's transcript so far
(redacted) is posted in its thread, and only then is the call put through (``<Dial>``) to
``TWILIO_AGENTS_NUMBER``. The Dial action (and the call's status callback, for a caller who
hangs up before the transfer) posts the outcome in the ticket: put through, not answered,
busy, or the caller hung up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Awaitable, Callable

from aiohttp import web
from multidict import MultiDict
from twilio.twiml.voice_response import VoiceResponse

from adapters.twilio.calls import (
    MAX_SILENCES,
    PLATFORM,
    CallError,
    CallIn,
    Step,
    parse_call,
    parse_step,
    to_message,
)
from adapters.twilio.config import TwilioConfig
from adapters.twilio.identity import PhoneBook
from adapters.twilio.signature import plain, signed
from adapters.twilio.speech import for_speech
from adapters.twilio.twiml import (
    DIALED_PATH,
    STATUS_PATH,
    TURN_PATH,
    VOICE_PATH,
    WAIT_PATH,
    Speaker,
    twiml,
)
from bot.conversation.engine import Sender
from bot.conversation.routing import Router
from bot.storage.records import Inbound
from bot.texts import shorten
from bot.texts import text as fixed_text
from bot.types import Language, Message, Reply
from bot.understanding.privacy import redact
from knowledge.language import detect_language

log = logging.getLogger("ondo.twilio")

POLL_SECONDS = 0.05
"""How often a callback without the computing task looks in the store for the answer."""
MAX_WAITS = 3
"""Redirects ("잠시만요") for one answer before the caller is asked to say it again."""
ENDED = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})
_DESK_MARKUP_RE = re.compile(r"[<>&*_~`|@#\[\]]")


class VoiceSender:
    """A call's :class:`~bot.conversation.engine.Sender`: the bot's answers are spoken from
    the store by the webhook (nothing to post, so no platform id); a written message (an
    agent's relay, a resolve notice) cannot reach a caller and is refused."""

    async def send(self, reply: Reply) -> str | None:
        """Nothing to post for an answer; raise for anything else."""
        if reply.in_reply_to.startswith(("agent:", "resolve:")):
            raise ConnectionError("a phone call takes no written message")
        return None


class VoiceCustomers:
    """The voice :class:`bot.conversation.routing.CustomerSide`."""

    platform = PLATFORM

    def sender_for(self, conversation_key: str) -> Sender | None:
        """The sender of a ``voice:`` key; ``None`` for another platform's."""
        return VoiceSender() if conversation_key.startswith(f"{PLATFORM}:") else None


class TwilioVoice:
    """The voice webhooks around one router; register :attr:`customers` with the router."""

    def __init__(
        self,
        router: Router,
        config: TwilioConfig,
        *,
        link: Callable[[str], Awaitable[str]] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``link``: links a caller's pseudonym to their journeys' customer (the SMS
        adapter's, so a caller's opt-out is recorded for the phone identity)."""
        self.router = router
        self.link = link
        self.config = config
        self.store = router.engine.store
        self.phones = PhoneBook(config.phone_key)
        self.speaker = Speaker(config)
        self.customers = VoiceCustomers()
        self.clock = clock
        self.answer_seconds = config.voice_answer_seconds
        self._turns: dict[int, asyncio.Task[None]] = {}

    def add_routes(self, web_app: web.Application) -> None:
        """Serve the voice webhook and its callbacks on ``web_app``."""
        for path, handler in (
            (VOICE_PATH, self._incoming),
            (TURN_PATH, self._turn),
            (WAIT_PATH, self._wait),
            (DIALED_PATH, self._dialed),
            (STATUS_PATH, self._status),
        ):
            web_app.router.add_post(path, signed(self.config, handler))

    # --- the call's flow -----------------------------------------------------------------

    async def _incoming(self, request: web.Request, form: MultiDict[str]) -> web.StreamResponse:
        try:
            call = parse_call(form)
        except CallError as exc:
            return plain(400, str(exc))
        if not self.config.is_shop_number(call.shop):
            log.warning("call %s to a number not in TWILIO_NUMBERS refused", call.sid)
            response = VoiceResponse()
            response.reject()
            return twiml(response)
        shop = self.config.shop_name
        before: tuple[tuple[str, Language], ...] = ()
        if self.config.voice_record:
            before = ((fixed_text("voice.recording", "ko"), "ko"),)
        lines: tuple[tuple[str, Language], ...] = (
            (fixed_text("voice.greeting", "ko", shop=shop), "ko"),
            (fixed_text("voice.english", "en"), "en"),
        )
        log.info("call %s answered", call.sid)
        return twiml(self.speaker.listen(Step(), *lines, before=before))

    async def _turn(self, request: web.Request, form: MultiDict[str]) -> web.StreamResponse:
        try:
            call, step = parse_call(form), parse_step(request.query)
        except CallError as exc:
            return plain(400, str(exc))
        started = asyncio.get_running_loop().time()
        language = step.language
        if call.digits == "0":
            text = fixed_text("voice.zero", language)
        elif call.digits:
            # Any other key: English, or (in English already) the question again.
            english = Step("en", step.turn, 0)
            return twiml(self.speaker.listen(english, (fixed_text("voice.prompt", "en"), "en")))
        elif not call.speech:
            silent = step.silent + 1
            if silent >= MAX_SILENCES:
                log.info("call %s: silent twice; goodbye", call.sid)
                goodbye = fixed_text("voice.goodbye", language)
                return twiml(self.speaker.goodbye(goodbye, language))
            again = Step(language, step.turn, silent)
            reprompt = (fixed_text("voice.reprompt", language), language)
            return twiml(self.speaker.listen(again, reprompt))
        else:
            text = call.speech
            if language == "ko" and step.turn == 1 and detect_language(text) == "en":
                step = Step("en", step.turn, 0)
        message = to_message(call, text, step, self.phones, self.clock())
        deadline = started + self.answer_seconds
        recording = asyncio.ensure_future(self._record(message))
        try:
            inbound = await asyncio.wait_for(asyncio.shield(recording), self.answer_seconds)
        except Exception as exc:
            log.error("call %s turn %d not recorded (%s)", call.sid, step.turn, type(exc).__name__)
            late = fixed_text("voice.late", step.language)
            return twiml(self.speaker.listen(Step(step.language, step.turn), (late, step.language)))
        if inbound.process and inbound.id not in self._turns:
            self._start(message, inbound)
        return await self._answer(call, step, inbound.id, 0, deadline)

    async def _wait(self, request: web.Request, form: MultiDict[str]) -> web.StreamResponse:
        try:
            call, step = parse_call(form), parse_step(request.query)
            inbound, waits = request.query.get("inbound", ""), request.query.get("wait", "")
            if not inbound.isdecimal() or not waits.isdecimal() or int(waits) > MAX_WAITS:
                raise CallError("inbound and wait must be the numbers Ondo put in this URL")
        except CallError as exc:
            return plain(400, str(exc))
        deadline = asyncio.get_running_loop().time() + self.answer_seconds
        return await self._answer(call, step, int(inbound), int(waits), deadline)

    async def _record(self, message: Message) -> Inbound:
        if self.link is not None:
            await self.link(message.user)
        return await self.router.record(message, _nobody_is_an_agent)

    def _start(self, message: Message, inbound: Inbound) -> None:
        """Answer the turn in the background; the webhooks read the answer from the store."""
        task = asyncio.create_task(self._handle(message, inbound))
        self._turns[inbound.id] = task
        task.add_done_callback(lambda _: self._turns.pop(inbound.id, None))

    async def _handle(self, message: Message, inbound: Inbound) -> None:
        try:
            outcome = await self.router.customer_message(message, VoiceSender(), inbound=inbound)
            if outcome.handoff is not None:
                await self._post_transcript(message.conversation_key)
        except Exception as exc:
            log.error(
                "call turn %s not answered now (%s); the recovery sweep retries",
                message.message_id,
                type(exc).__name__,
            )

    async def _answer(
        self, call: CallIn, step: Step, inbound_id: int, waits: int, deadline: float
    ) -> web.StreamResponse:
        """The TwiML of turn ``step`` once its answer is in the store, or "잠시만요" and a
        redirect when it is not by ``deadline`` (loop time)."""
        loop = asyncio.get_running_loop()
        language = step.language
        next_turn = Step(language, min(step.turn + 1, 200), 0)
        while True:
            task = self._turns.get(inbound_id)
            remaining = deadline - loop.time()
            if task is not None and remaining > 0:
                with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                    await asyncio.wait_for(asyncio.shield(task), remaining)
            local_done = task is not None and task.done()
            found = await self.store.unposted_reply(inbound_id)
            if found is not None:
                text = found[1]
                spoken: Language = "ko" if detect_language(text) == "ko" else "en"
                state = (await self.store.conversation(call.key, PLATFORM)).state
                if state not in ("waiting_human", "human"):
                    # An answer that was all link or markup still says something.
                    said = for_speech(text, spoken) or fixed_text("voice.prompt", spoken)
                    return twiml(self.speaker.listen(next_turn, (said, spoken)))
                ticket = await self.store.current_handoff(call.key)
                posted = ticket is None or ticket.thread_ref is not None
                # The ticket reaches the desk before the agents' phone rings (if in time).
                if posted or local_done or loop.time() >= deadline:
                    # The written notice says where to write; on a call, this one says it.
                    notice = fixed_text("voice.transfer", spoken)
                    return twiml(self.speaker.transfer(spoken, notice, call.shop))
            elif local_done:
                # Handled with nothing to say (a person has the call): listen on.
                prompt = (fixed_text("voice.prompt", language), language)
                return twiml(self.speaker.listen(next_turn, prompt))
            if loop.time() >= deadline:
                break
            await asyncio.sleep(min(POLL_SECONDS, max(0.0, deadline - loop.time())))
        if waits >= MAX_WAITS:
            log.warning("call %s: no answer after %d waits; asked again", call.sid, waits)
            late = (fixed_text("voice.late", language), language)
            return twiml(self.speaker.listen(next_turn, late))
        hold = fixed_text("voice.hold", language)
        return twiml(self.speaker.hold(step, inbound_id, waits + 1, hold))

    # --- the handoff's outcome -----------------------------------------------------------

    async def _post_transcript(self, key: str) -> None:
        """The call so far, redacted, in the ticket's thread (before the transfer)."""
        ticket = await self.store.current_handoff(key)
        if ticket is None or not ticket.thread_ref:
            return
        lines = []
        for message in await self.store.history(key, 40):
            who = {"customer": "Caller", "bot": "Ondo", "agent": "Agent"}.get(message.role, "Ondo")
            said = redact(message.text, detect_language(message.text))
            lines.append(f"- {who}: {_DESK_MARKUP_RE.sub(' ', shorten(said, 300))}")
        transcript = "Call transcript (redacted):\n" + "\n".join(lines)
        await self.router.note(ticket.thread_ref, transcript)

    async def _dialed(self, request: web.Request, form: MultiDict[str]) -> web.StreamResponse:
        try:
            call, step = parse_call(form), parse_step(request.query)
        except CallError as exc:
            return plain(400, str(exc))
        status = form.get("DialCallStatus", "")[:20]
        caller_gone = call.status in ENDED
        if status in ("completed", "answered"):
            seconds = form.get("DialCallDuration", "")
            length = f" ({seconds[:6]} s)" if seconds.isdecimal() else ""
            note = f"📞 The call was put through to an agent{length}."
        elif caller_gone:
            ended = status or "ended"
            note = f"📞 The caller hung up before an agent answered (transfer: {ended})."
        else:
            note = f"📞 No agent answered the transfer ({status or 'unknown'}); the call ended."
        await self._outcome(call, note)
        if status in ("completed", "answered") or caller_gone:
            response = VoiceResponse()
            response.hangup()
            return twiml(response)
        sorry = fixed_text("voice.no_agent", step.language)
        return twiml(self.speaker.goodbye(sorry, step.language))

    async def _status(self, request: web.Request, form: MultiDict[str]) -> web.StreamResponse:
        try:
            call = parse_call(form)
        except CallError as exc:
            return plain(400, str(exc))
        if call.status in ENDED and await self.store.has_conversation(call.key):
            conversation = await self.store.conversation(call.key, PLATFORM)
            if conversation.state == "waiting_human":
                note = f"📞 The caller hung up before the transfer (call {call.status})."
                await self._outcome(call, note)
        return twiml(VoiceResponse())

    async def _outcome(self, call: CallIn, note: str) -> None:
        """Tell the ticket how the handoff's call ended, once per call."""
        ticket = await self.store.current_handoff(call.key)
        if ticket is None or ticket.resolved_at is not None:
            return
        if not await self.store.first_sighting(PLATFORM, f"{call.sid}:outcome", "call_outcome"):
            return
        log.info("call %s handoff #%d: %s", call.sid, ticket.id, note)
        if ticket.thread_ref:
            await self.router.note(ticket.thread_ref, note)
        else:
            # Not posted yet: the ticket, when the sweep posts it, says so.
            await self.store.save_summary(ticket.id, f"{ticket.summary}\n{note}")

    async def drain(self) -> None:
        """Wait for the answers being computed (at shutdown)."""
        with contextlib.suppress(Exception):
            await asyncio.gather(*self._turns.values(), return_exceptions=True)


async def _nobody_is_an_agent(user: str) -> bool:
    """Only the caller speaks in their own call's conversation."""
    return False
