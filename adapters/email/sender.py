"""Sending mail: the :class:`bot.conversation.engine.Sender` of one e-mail conversation.

Each reply is composed by :func:`adapters.email.compose.reply_to` in the customer's thread and
delivered by SMTP. Its Message-ID is made from the conversation key, the message it answers and
its text, so an outbox retry sends the very same Message-ID (a copy that did arrive is one
message in the customer's client). A :class:`TransientFailure` queues the reply in the outbox
(a ``send`` row of platform ``email``) for the courier to retry with backoff; a
:class:`PermanentFailure` is logged and not retried. Log lines name hashes, never an address.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import MutableMapping

from adapters.email.compose import reply_to
from adapters.email.identity import PLATFORM, AddressBook, Thread
from adapters.email.parse import InboundMail, MailError
from adapters.email.smtp import MailSender, PermanentFailure, TransientFailure
from adapters.email.threads import mail_of_state
from bot.conversation.engine import Sender
from bot.storage.interface import Store
from bot.types import Reply
from knowledge.language import Language

log = logging.getLogger("ondo.email")


class EmailFailed(ConnectionError):
    """An outbox delivery failed for now; the message names no address."""


class EmailSender:
    """Sends into one e-mail conversation (one customer's thread)."""

    def __init__(
        self,
        smtp: MailSender,
        store: Store,
        key: str,
        mail: InboundMail | Thread,
        *,
        address: str,
        name: str,
        domain: str,
    ) -> None:
        """``mail``: the thread's latest mail, or only the thread when this process has not
        read it (its kept state is then read from the store at the first send)."""
        self.smtp = smtp
        self.store = store
        self.key = key
        self.mail = mail
        self.address = address
        self.name = name
        self.domain = domain

    def token(self, reply: Reply) -> str:
        """What the reply's Message-ID is made from: the same reply, the same Message-ID."""
        text = hashlib.sha256(reply.text.encode("utf-8")).hexdigest()
        return f"{self.key}|{reply.in_reply_to}|{text}"

    async def send(self, reply: Reply) -> str | None:
        """Send ``reply``; its Message-ID, or ``None`` when queued for a retry or refused for
        good. An outbox delivery (``reply.raw["queued_at"]``) raises when it failed again."""
        queued = "queued_at" in reply.raw
        language: Language = "ko" if reply.language == "ko" else "en"
        if isinstance(self.mail, Thread):
            self.mail = mail_of_state(self.mail, await self.store.thread_state(self.key))
        try:
            message = reply_to(
                self.mail,
                reply.text,
                from_address=self.address,
                from_name=self.name,
                domain=self.domain,
                language=language,
                token=self.token(reply),
                quote=not reply.in_reply_to.startswith("agent:"),
            )
        except MailError as exc:
            log.error("e-mail reply in %s cannot be written (%s); not sent", self.key, exc)
            return None
        try:
            return await self.smtp.deliver(message)
        except PermanentFailure as exc:
            log.error("e-mail reply in %s refused for good (%s); not retried", self.key, exc)
            return None
        except TransientFailure as exc:
            if queued:
                raise EmailFailed(str(exc)) from None
            reason = str(exc)
        log.warning("e-mail reply in %s not sent (%s); queued for a retry", self.key, reason)
        await self.store.outbox.put(
            PLATFORM, "send", self.key, text=reply.text, ref=reply.in_reply_to, language=language
        )
        return None


class EmailCustomers:
    """The e-mail :class:`bot.conversation.routing.CustomerSide`: a key names its thread."""

    platform = PLATFORM

    def __init__(
        self,
        smtp: MailSender,
        store: Store,
        book: AddressBook,
        *,
        address: str,
        name: str,
        domain: str,
    ) -> None:
        self.smtp = smtp
        self.store = store
        self.book = book
        self.address = address
        self.name = name
        self.domain = domain
        self.latest: MutableMapping[str, InboundMail] = {}
        """The last mail read in each conversation (this process's): answers thread under it
        and quote it; without it, the thread's state kept in the store stands in."""

    def sender_for(self, conversation_key: str) -> Sender | None:
        """The sender of an ``email:`` key; ``None`` for another platform's or unreadable one."""
        thread = self.book.thread_of(conversation_key)
        if thread is None:
            return None
        mail = self.latest.get(conversation_key) or thread
        return EmailSender(
            self.smtp,
            self.store,
            conversation_key,
            mail,
            address=self.address,
            name=self.name,
            domain=self.domain,
        )
