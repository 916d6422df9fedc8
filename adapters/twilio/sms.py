"""``POST /twilio/sms``: an SMS in, recorded once, answered by REST in the background.

The webhook answers as soon as the message is recorded (an empty ``<Response/>``, well inside
Twilio's 15 seconds whatever the engine and its LLM take); the answer is sent by the REST
client (:mod:`adapters.twilio.sender`). A redelivery of the same ``MessageSid`` (Twilio's
retry, its fallback URL) is recorded once and answered once. If the process dies between the
record and the answer, the router's recovery sweep answers the recorded message.

Carriers' keywords (STOP, START, HELP and their synonyms) are Twilio's to answer: its
opt-out handling, on for every number by default, replies and blocks further texts to a
stopped number at once. Ondo records the consent change in the journeys' ledger and stays
silent (``TWILIO_ANSWER_KEYWORDS=1``: Ondo answers them, for numbers whose handling at Twilio
is off). This happens in the router's opt-out hook (:meth:`TwilioSms.opt_out`, in front of
the journeys' one), inside the conversation's hold, so the recovery sweep treats a keyword
as the webhook does. Korean "수신거부" and every other opt-out sentence go to the journeys'
opt-out like any platform's, since a phone identity is linked (platform ``sms``) on its first
message.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from aiohttp import web
from multidict import MultiDict
from twilio.rest import Client
from twilio.twiml.messaging_response import MessagingResponse

from adapters.twilio.config import TwilioConfig
from adapters.twilio.events import Keyword, SmsError, keyword, parse_sms, to_message
from adapters.twilio.identity import CHANNELS, IDENTITY_PLATFORM, PhoneBook
from adapters.twilio.sender import PLATFORM, SmsCustomers
from adapters.twilio.signature import plain, signed
from bot.conversation.routing import Router
from bot.storage.records import Inbound
from bot.texts import text as fixed_text
from bot.types import Language, Message

log = logging.getLogger("ondo.twilio")

SMS_PATH = "/twilio/sms"
RECORD_SECONDS = 8.0
"""The longest the webhook waits for the message to be recorded; then 503 (Twilio's fallback
URL or retry redelivers it, and a record that did land dedupes the redelivery)."""
STOP_CATEGORIES = ("marketing", "review_request", "transactional")
"""STOP at the carrier stops every text to that number, so every category is recorded off."""
CONSENT_SOURCE = "sms_keyword"


def empty_twiml() -> web.Response:
    """``<Response/>``: nothing for Twilio to send (the answer goes by REST)."""
    return web.Response(text=str(MessagingResponse()), content_type="text/xml")


class TwilioSms:
    """The SMS webhook around one router; register :attr:`customers` with the router."""

    def __init__(
        self,
        router: Router,
        config: TwilioConfig,
        client: Client,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.router = router
        self.config = config
        self.store = router.engine.store
        self.phones = PhoneBook(config.phone_key)
        self.customers = SmsCustomers(client, self.store, self.phones)
        self.clock = clock
        self._tasks: set[asyncio.Task[None]] = set()
        # Keywords first, then the hook set before (serve sets the journeys' one first).
        self._next_opt_out = router.opt_out
        router.opt_out = self.opt_out

    def add_routes(self, web_app: web.Application) -> None:
        """Serve :data:`SMS_PATH` on ``web_app``."""
        web_app.router.add_post(SMS_PATH, signed(self.config, self._webhook))

    async def _webhook(self, request: web.Request, form: MultiDict[str]) -> web.StreamResponse:
        try:
            sms = parse_sms(form)
        except SmsError as exc:
            return plain(400, str(exc))
        if not self.config.is_shop_number(sms.shop):
            log.warning("SMS %s to a number not in TWILIO_NUMBERS ignored", sms.sid)
            return empty_twiml()
        message = to_message(sms, self.phones, self.clock())
        recording = asyncio.ensure_future(self._record(message))
        try:
            inbound = await asyncio.wait_for(asyncio.shield(recording), RECORD_SECONDS)
        except TimeoutError:
            log.error("SMS %s not recorded within %gs; 503", sms.sid, RECORD_SECONDS)
            return plain(503, "the message could not be recorded in time")
        except Exception as exc:
            log.error("SMS %s not recorded: %s", sms.sid, type(exc).__name__)
            return plain(503, "the message could not be recorded")
        if inbound.process:
            task = asyncio.create_task(self._answer(message, inbound))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        else:
            log.info("SMS %s delivered again; answered once", sms.sid)
        return empty_twiml()

    async def _record(self, message: Message) -> Inbound:
        await self.customer_id(message.user)
        return await self.router.record(message, _nobody_is_an_agent)

    async def _answer(self, message: Message, inbound: Inbound) -> None:
        """Answer one recorded SMS; a failure is left to the recovery sweep."""
        try:
            await self.router.customer_message(message, inbound=inbound)
        except Exception as exc:
            log.error(
                "SMS %s in %s not answered now (%s); the recovery sweep retries",
                message.message_id,
                message.conversation_key,
                type(exc).__name__,
            )

    async def opt_out(self, platform: str, user: str, text: str, language: str) -> str | None:
        """The router's opt-out hook: an SMS carriers' keyword is recorded here (``""``: Twilio
        answers it; or Ondo's answer with ``TWILIO_ANSWER_KEYWORDS``); anything else goes to
        the hook that was set before (the journeys' service), so the recovery sweep treats a
        keyword as the webhook does."""
        if platform == PLATFORM:
            word = keyword(text)
            if word is not None and (word != "start" or await self._start_counts(user, text)):
                return await self._keyword(user, text, word, language)
        if self._next_opt_out is None:
            return None
        # A caller's "수신거부" is the phone identity's, as their texts are.
        ledger = IDENTITY_PLATFORM if platform in CHANNELS else platform
        return await self._next_opt_out(ledger, user, text, language)

    async def _start_counts(self, user: str, text: str) -> bool:
        """START and UNSTOP always resubscribe; YES only a stopped number (else it is an
        answer to the bot, such as accepting the offer of a person)."""
        if text.strip().upper().rstrip(".!?") != "YES":
            return True
        customer_id = await self.customer_id(user)
        current = await self.store.journeys.consent(customer_id, "transactional")
        return current is not None and not current.granted and current.source == CONSENT_SOURCE

    async def _keyword(self, user: str, text: str, word: Keyword, language: str) -> str:
        """Record what a carriers' keyword changes; Ondo's answer, or ``""`` (Twilio's)."""
        journeys = self.store.journeys
        customer_id = await self.customer_id(user)
        now = self.clock()
        evidence = f"sms keyword {text.strip()[:20].upper()}"
        if word == "stop":
            for category in STOP_CATEGORIES:
                await journeys.set_consent(
                    customer_id,
                    category,
                    granted=False,
                    source=CONSENT_SOURCE,
                    evidence=evidence,
                    at=now,
                )
                await journeys.cancel_pending(customer_id, category=category, reason="opted out")
        elif word == "start":
            # The carrier's block is lifted; marketing needs the customer's own yes again.
            await journeys.set_consent(
                customer_id,
                "transactional",
                granted=True,
                source=CONSENT_SOURCE,
                evidence=evidence,
                at=now,
            )
        log.info("SMS keyword %s of user %s recorded", word, user)
        if not self.config.answer_keywords:
            return ""
        answer_language: Language = "ko" if language == "ko" else "en"
        return fixed_text(f"sms.{word}", answer_language, shop=self.config.shop_name)

    async def customer_id(self, user: str) -> str:
        """The journeys' customer of phone user ``user`` (SMS or voice), linked on first
        sight."""
        journeys = self.store.journeys
        customer_id = await journeys.customer_for(IDENTITY_PLATFORM, user)
        if customer_id is None:
            customer_id = f"{PLATFORM}:{user}"
            await journeys.link(customer_id, IDENTITY_PLATFORM, user)
        return customer_id

    async def drain(self) -> None:
        """Wait for the answers being written (at shutdown)."""
        with contextlib.suppress(Exception):
            await asyncio.gather(*self._tasks, return_exceptions=True)


async def _nobody_is_an_agent(user: str) -> bool:
    """Only the customer writes in their own SMS conversation."""
    return False
