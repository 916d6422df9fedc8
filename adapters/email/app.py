"""The e-mail adapter in ``ondo serve email``: the support mailbox read, answered in its thread.

For each new mail (:meth:`EmailAdapter.handle`): parse it (unreadable: one log line, marked
handled so it is not read forever), apply the loop rules (ignored: counted by reason, marked
handled, not answered), record it with the router as a :class:`bot.types.Message` of platform
``email`` whose id is the mail's Message-ID (a redelivery, after a restart, dedupes), answer it
through :class:`adapters.email.sender.EmailSender`, and only then mark it handled: a crash
before that reads it again, and the record dedupes it, so it is answered once.

- Past the sender's hourly budget a mail is still recorded in its conversation (and relayed
  when a person has the thread), but the bot does not answer it.
- A mail that cannot be recorded now (the database down) is released, offered again after a
  pause.
- A mail that is feedback (:func:`adapters.email.feedback.is_feedback`) is marked
  ``raw["feedback"]``: the router's review hook stores it as a review and acknowledges it
  (counted as ``feedback``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable

from adapters.email.attachments import attachments_line
from adapters.email.compose import thread_root
from adapters.email.config import EmailConfig
from adapters.email.feedback import is_feedback
from adapters.email.identity import PLATFORM, AddressBook
from adapters.email.imap import ImapMailbox, Mailbox, RawMail
from adapters.email.loops import RATE_LIMITED, SenderRate, why_not_answer
from adapters.email.parse import InboundMail, MailError, parse_mail
from adapters.email.sender import EmailCustomers
from adapters.email.smtp import MailSender, SmtpSender, fingerprint
from adapters.email.threads import state_of
from bot.conversation.engine import Outcome
from bot.conversation.handoff import bot_speaks
from bot.conversation.routing import REVIEW_INTENT, Router
from bot.settings import Settings
from bot.types import Message

log = logging.getLogger("ondo.email")

MAX_THREADS_KEPT = 5000
"""Conversations whose last mail is kept for threading (older ones use the key's root)."""


class EmailAdapter:
    """One mailbox and one SMTP sender around the router; :attr:`customers` is registered."""

    def __init__(
        self,
        router: Router,
        config: EmailConfig,
        mailbox: Mailbox,
        smtp: MailSender,
        secret: str,
        *,
        rate: SenderRate | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.router = router
        self.config = config
        self.mailbox = mailbox
        self.book = AddressBook(secret)
        self.domain = config.address.rpartition("@")[2].lower() or "localhost"
        self.customers = EmailCustomers(
            smtp,
            router.engine.store,
            self.book,
            address=config.address,
            name=config.name,
            domain=self.domain,
        )
        router.add_customer_side(self.customers)
        self.rate = rate if rate is not None else SenderRate()
        self.clock = clock
        self.figures: Counter[str] = Counter()
        """mails, then what became of each: answered, feedback (stored as a review), handed_over,
        relayed (to the agent who has the thread), suppressed, duplicates, unreadable, failed,
        ``ignored:<reason>``."""

    @property
    def platforms(self) -> tuple[str, ...]:
        """The conversation platforms this adapter serves (what the replica holds)."""
        return (PLATFORM,)

    async def run(self, stop: asyncio.Event) -> None:
        """Read and answer mail until ``stop`` is set."""
        reader = asyncio.create_task(self._read())
        stopping = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait({reader, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
            await self.mailbox.close()
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
        if reader.done() and not reader.cancelled() and reader.exception() is not None:
            raise reader.exception()  # type: ignore[misc]

    async def _read(self) -> None:
        async for raw in self.mailbox.messages():
            await self.handle(raw)

    async def handle(self, raw: RawMail) -> None:
        """Parse, filter, record, answer, then mark ``raw`` handled (see the module)."""
        self.figures["mails"] += 1
        try:
            mail = parse_mail(raw.raw)
        except MailError as exc:
            self.figures["unreadable"] += 1
            log.warning("e-mail uid %d unreadable (%s); marked handled", raw.uid, exc)
            await self.mailbox.mark_handled(raw.uid, raw.uidvalidity)
            return
        mark = fingerprint(mail.message_id)
        reason = why_not_answer(
            mail, our_addresses=(self.config.address,), our_message_ids=(self.domain,)
        )
        if reason is not None:
            self.figures[f"ignored:{reason}"] += 1
            log.info("e-mail %s not answered (%s)", mark, reason)
            await self.mailbox.mark_handled(raw.uid, raw.uidvalidity)
            return
        message = self.message_of(mail)
        self._remember(message.conversation_key, mail)
        try:
            inbound = await self.router.record(message, _nobody_is_an_agent)
            if inbound.process and not inbound.duplicate:
                # Before it is answered: an agent's reply after a restart threads under it.
                await self.router.engine.store.save_thread_state(
                    message.conversation_key, state_of(mail)
                )
            if inbound.process and not await self._within_rate(mail, message):
                # Kept in its conversation (an agent sees it later), answered by nobody.
                await self.router.engine.store.mark_handled(inbound.id)
                self.figures[f"ignored:{RATE_LIMITED}"] += 1
                log.info("e-mail %s not answered (%s); kept in its thread", mark, RATE_LIMITED)
            elif inbound.process:
                outcome = await self.router.customer_message(message, inbound=inbound)
                self.figures[_figure_of(outcome)] += 1
            else:
                self.figures["duplicates"] += 1
                key = message.conversation_key
                log.info("e-mail %s in %s read again; answered once", mark, key)
        except Exception as exc:
            # Not marked: the mail is offered again (and the record dedupes what did land).
            self.figures["failed"] += 1
            log.error(
                "e-mail %s in %s not handled now (%s); read again later",
                mark,
                message.conversation_key,
                type(exc).__name__,
            )
            await self.mailbox.release(raw.uid, raw.uidvalidity)
            return
        await self.mailbox.mark_handled(raw.uid, raw.uidvalidity)

    async def _within_rate(self, mail: InboundMail, message: Message) -> bool:
        """Whether the bot may answer ``mail`` within the sender's hourly budget. A mail in a
        thread a person has is relayed to them, never answered by the bot: no budget."""
        store = self.router.engine.store
        conversation = await store.conversation(message.conversation_key, PLATFORM)
        if not bot_speaks(conversation.state):
            return True
        return self.rate.admit(mail.from_address, mail.message_id)

    def message_of(self, mail: InboundMail) -> Message:
        """The router's message of ``mail``: its thread's key, the sender's pseudonym."""
        key = self.book.key_for(thread_root(mail), mail.from_address)
        said = mail.text or mail.full_text
        text = said
        line = attachments_line(mail.attachments, mail.language)
        if line:
            text = f"{said}\n\n{line}" if said.strip() else line
        raw: dict[str, object] = {
            "subject_chars": len(mail.subject),
            "language": mail.language,
            "feedback": is_feedback(mail.subject, said),  # the customer's words, not file names
            "attachments": [
                {"filename": a.filename, "content_type": a.content_type, "size": a.size}
                for a in mail.attachments
            ],
        }
        return Message(
            platform=PLATFORM,
            conversation_key=key,
            user=self.book.user_for(mail.from_address),
            text=text,
            timestamp=self.clock(),
            message_id=mail.message_id,
            raw=raw,
        )

    def _remember(self, key: str, mail: InboundMail) -> None:
        latest = self.customers.latest
        latest.pop(key, None)
        latest[key] = mail
        while len(latest) > MAX_THREADS_KEPT:
            del latest[next(iter(latest))]


def _figure_of(outcome: Outcome) -> str:
    """The figure an answered mail counts under (feedback: acknowledged and stored)."""
    if outcome.handoff is not None:
        return "handed_over"
    if outcome.action == "replied" and REVIEW_INTENT in outcome.notes:
        return "feedback"
    if outcome.action == "replied":
        return "answered"
    return "duplicates" if outcome.action == "duplicate" else outcome.action


async def _nobody_is_an_agent(user: str) -> bool:
    """Only the customer writes in their own mail thread (agents answer from the desk)."""
    return False


def build_email(router: Router, settings: Settings) -> EmailAdapter:
    """The adapter for ``settings`` on the real IMAP and SMTP servers (call inside the running
    loop); raises :class:`adapters.email.config.EmailConfigError` when a setting is missing."""
    config = EmailConfig.from_settings(settings)
    mailbox = ImapMailbox.from_config(config)
    return EmailAdapter(router, config, mailbox, SmtpSender.from_config(config), config.key)
