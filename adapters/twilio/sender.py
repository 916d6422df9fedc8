"""Posting SMS: the :class:`bot.conversation.engine.Sender` of one phone conversation.

Every text goes through Twilio's REST ``Messages.create`` from the shop number the customer
wrote to, shortened to a few segments (:mod:`adapters.twilio.segments`). Replies are not put
in the webhook's TwiML: a lost HTTP answer would lose the reply with no trace.

Nothing lost, nothing twice. ``Messages.create`` has no idempotency key, so a call that fails
without an answer may still have sent the text. A failed call is therefore never repeated
blindly: the text is queued in the outbox (a ``send`` row of platform ``sms``) and counts as
handed over; the courier retries it with a growing pause, and before each retry lists the
messages already sent to that number since the first attempt: one with the same body means
it went out, and nothing is sent again. "At most once" is thus: never a second SMS for one
reply, as far as Twilio's own message list can tell; a list that cannot be read means no
send (the row waits for the next retry). A refusal for good (the number opted out, 21610,
or cannot get SMS) is logged and not retried.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import Any

from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from adapters.twilio.client import REQUEST_SECONDS
from adapters.twilio.identity import Numbers, PhoneBook, mask
from adapters.twilio.segments import MAX_RELAY_SEGMENTS, MAX_SEGMENTS, fit
from bot.conversation.engine import Sender
from bot.storage.interface import Store
from bot.types import Reply

log = logging.getLogger("ondo.twilio")

PLATFORM = "sms"
REFUSED_FOR_GOOD = frozenset({21610, 21211, 21612, 21614, 21408, 21606})
"""Twilio error codes after which that message can never be sent: unsubscribed recipient
(21610), invalid or unreachable To (21211, 21612, 21614), region not enabled (21408), From not
able to send to it (21606)."""
LOOK_BACK_SECONDS = 300.0
"""How far before the queued time a sent copy is looked for (clocks differ)."""


class SmsFailed(ConnectionError):
    """A send failed; the message names the Twilio code, never a number or the text."""


def describe(exc: BaseException) -> str:
    """A reason for a log line without personal data (Twilio's messages quote numbers)."""
    if isinstance(exc, TwilioRestException):
        return f"Twilio error {exc.code} (HTTP {exc.status})"
    if isinstance(exc, TimeoutError):
        return f"no answer within {REQUEST_SECONDS:g}s"
    return type(exc).__name__


class SmsSender:
    """Sends into one phone conversation."""

    def __init__(self, client: Client, store: Store, key: str, numbers: Numbers) -> None:
        self.client = client
        self.store = store
        self.key = key
        self.numbers = numbers

    async def send(self, reply: Reply) -> str | None:
        """Send ``reply``; the message's sid, or ``None`` when it was queued for a retry (a
        failed call) or refused for good. An outbox delivery (``reply.raw["queued_at"]``)
        raises when it failed, for the courier to try again later."""
        limit = MAX_RELAY_SEGMENTS if reply.in_reply_to.startswith("agent:") else MAX_SEGMENTS
        body = fit(reply.text, limit)
        queued_at = reply.raw.get("queued_at")
        if isinstance(queued_at, int | float):
            return await self._redeliver(body, float(queued_at))
        try:
            return await self._create(body)
        except TwilioRestException as exc:
            if exc.code in REFUSED_FOR_GOOD:
                self._refused(exc)
                return None
            reason = describe(exc)
        except Exception as exc:
            reason = describe(exc)
        log.warning(
            "SMS to %s failed (%s); queued for a retry", mask(self.numbers.customer), reason
        )
        language = reply.language
        await self.store.outbox.put(
            PLATFORM, "send", self.key, text=body, ref=reply.in_reply_to, language=language
        )
        return None

    async def _create(self, body: str) -> str | None:
        async with asyncio.timeout(REQUEST_SECONDS):
            message = await self.client.messages.create_async(
                to=self.numbers.customer, from_=self.numbers.shop, body=body
            )
        sid = message.sid
        return str(sid) if sid else None

    async def _redeliver(self, body: str, queued_at: float) -> str | None:
        try:
            sent = await self._sent_already(body, queued_at)
            if sent is not None:
                log.info(
                    "SMS to %s had gone out already; not sent again", mask(self.numbers.customer)
                )
                return sent
            return await self._create(body)
        except TwilioRestException as exc:
            if exc.code in REFUSED_FOR_GOOD:
                self._refused(exc)
                return None
            raise SmsFailed(describe(exc)) from None
        except Exception as exc:
            raise SmsFailed(describe(exc)) from None

    async def _sent_already(self, body: str, queued_at: float) -> str | None:
        """The sid of a message with ``body`` sent to this number since the first attempt."""
        since = dt.datetime.fromtimestamp(queued_at - LOOK_BACK_SECONDS, dt.UTC)
        async with asyncio.timeout(REQUEST_SECONDS):
            recent = await self.client.messages.list_async(
                to=self.numbers.customer, from_=self.numbers.shop, limit=20, page_size=20
            )
        for message in recent:
            created: Any = message.date_created
            if message.body == body and (created is None or created >= since):
                return str(message.sid)
        return None

    def _refused(self, exc: TwilioRestException) -> None:
        who = mask(self.numbers.customer)
        log.warning("SMS to %s refused for good (%s); not retried", who, describe(exc))


class SmsCustomers:
    """The SMS :class:`bot.conversation.routing.CustomerSide`: a key names its two numbers."""

    platform = PLATFORM

    def __init__(self, client: Client, store: Store, phones: PhoneBook) -> None:
        self.client = client
        self.store = store
        self.phones = phones

    def sender_for(self, conversation_key: str) -> Sender | None:
        """The sender of an ``sms:`` key; ``None`` for another platform's or an unreadable one."""
        if not conversation_key.startswith(f"{PLATFORM}:"):
            return None
        numbers = self.phones.numbers_of(conversation_key)
        if numbers is None:
            return None
        return SmsSender(self.client, self.store, conversation_key, numbers)
