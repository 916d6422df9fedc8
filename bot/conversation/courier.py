"""The outbox's other end: posts other replicas queued for a platform this one holds.

A replica without a platform's connection queues what it must post there (a reply to a
customer, a relay or note in a ticket thread, a ticket) in the shared database
(:meth:`bot.storage.interface.Store.outbox`); the courier of a replica holding that platform
claims each row once, posts it through the same sender or desk as its own posts, and marks it
delivered, or retries it later with a growing pause. It wakes on PostgreSQL's notification of a
new row and looks every few seconds anyway, in case one was missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from bot.conversation.direct import DirectMessage, Posted, Undeliverable, opt_out_category
from bot.conversation.routing import Router, ticket_of
from bot.storage.journey_records import send_of_ref
from bot.storage.records import OUTBOX_MAX_ATTEMPTS, Outgoing
from bot.types import Language, Reply

log = logging.getLogger("ondo.courier")

POLL_SECONDS = 2.0
"""How often the courier looks for due rows without being woken."""
MAX_PAUSE_SECONDS = 60.0
"""The longest wait before a failed post is tried again."""


class Courier:
    """Delivers the outbox rows for the platforms ``router`` holds in this process."""

    def __init__(self, router: Router) -> None:
        self.router = router
        self._wake = asyncio.Event()

    @property
    def platforms(self) -> list[str]:
        """The platforms this replica posts on: its customers' and the agents' desk's."""
        held = set(self.router.customers) | set(self.router.direct)
        if self.router.desk is not None:
            held.add(self.router.desk.platform)
        return sorted(held)

    async def deliver_due(self) -> int:
        """Claim and post the due rows for this replica's platforms; returns how many were
        delivered."""
        store = self.router.engine.store
        items = await store.outbox.take(self.platforms, store.replicas.current)
        delivered = 0
        for item in items:
            delivered += await self._deliver(item)
        return delivered

    async def _deliver(self, item: Outgoing) -> bool:
        outbox = self.router.engine.store.outbox
        try:
            await self._post(item)
        except Exception as exc:
            reason = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
            pause = min(MAX_PAUSE_SECONDS, 2.0**item.attempts)
            last = item.attempts >= OUTBOX_MAX_ATTEMPTS
            log.log(
                logging.ERROR if last else logging.WARNING,
                "outbox %s #%d for %s failed (attempt %d/%d): %s%s",
                item.kind,
                item.id,
                item.platform,
                item.attempts,
                OUTBOX_MAX_ATTEMPTS,
                reason or type(exc).__name__,
                "; giving up" if last else "",
            )
            await outbox.failed(item.id, reason or type(exc).__name__, pause)
            return False
        await outbox.delivered(item.id)
        return True

    async def _post(self, item: Outgoing) -> None:
        router = self.router
        if item.kind == "send":
            sender = router.sender_for(item.target)
            if sender is None:
                raise ConnectionError(f"{item.platform} is not running in this process")
            language: Language = "ko" if item.language == "ko" else "en"
            # ``queued_at`` tells a sender whose platform cannot take a post twice safely (SMS)
            # that an earlier attempt may have reached it: it looks before posting again.
            raw = {"outbox_id": item.id, "queued_at": item.created_at, "attempt": item.attempts}
            await sender.send(Reply(item.target, item.text or "", item.ref or "", language, raw))
            return
        if item.kind == "dm":
            await self._direct(item)
            return
        desk = router.desk
        if desk is None:
            raise ConnectionError("the agents' desk is not running in this process")
        if item.kind == "relay":
            await desk.relay(item.target, item.author, item.text or "(empty)")
        elif item.kind == "note":
            await desk.post_in_thread(item.target, item.text or "")
        elif item.kind == "ticket":
            handoff = await router.engine.store.handoff_by_id(int(item.target))
            if handoff is None or handoff.resolved_at is not None or handoff.thread_ref:
                return  # forgotten, resolved, or posted already: nothing to do
            if await router.open_ticket(ticket_of(handoff)) is None:
                raise ConnectionError(f"the ticket of handoff #{handoff.id} was not posted")

    async def _direct(self, item: Outgoing) -> None:
        """Post a journey DM (target: the platform user id). A user the platform refuses for
        good is marked undeliverable, and so is the journey's send (its ``ref``); the row
        counts as delivered: never retried. A posted DM is recorded as the bot's message of the
        conversation the customer's answer lands in.

        The row's id is the DM's idempotency token: from the second attempt on (the first may
        have posted it and died before the delivered mark) the messenger looks for it on the
        platform first, so a crash there never posts it twice."""
        messenger = self.router.direct_messenger(item.platform)
        if messenger is None:
            raise ConnectionError(f"direct messages on {item.platform} are not posted here")
        language: Language = "ko" if item.language == "ko" else "en"
        message = DirectMessage(
            item.target,
            item.text or "",
            language,
            opt_out=opt_out_category(item.ref),
            token=item.id,
            retry=item.attempts > 1,
            queued_at=item.created_at or None,
        )
        try:
            posted = await messenger.send_dm(message)
        except Undeliverable as exc:
            journeys = self.router.engine.store.journeys
            await journeys.mark_undeliverable(item.platform, item.target, exc.reason)
            send_id = send_of_ref(item.ref)
            if send_id is not None:
                # Not "sent": the figures, the frequency caps and the opt-out's "last message"
                # count only what the customer got.
                await journeys.undeliverable(send_id, exc.reason)
            log.warning(
                "outbox dm #%d: %s user %s cannot be messaged (%s); marked undeliverable",
                item.id,
                item.platform,
                item.target,
                exc.reason,
            )
            return
        await self._record_dm(item, posted, retry=message.retry)

    async def _record_dm(self, item: Outgoing, posted: Posted, *, retry: bool) -> None:
        """Put the posted DM in its conversation's history as the bot's message (once: a
        retry that found the DM posted may have recorded it too). It is posted already: a
        failure here is logged, never retried (that would post it twice)."""
        store = self.router.engine.store
        try:
            if retry and posted.message_id:
                known = await store.corrections.reply_by_platform_id(
                    item.platform, posted.message_id
                )
                if known is not None:
                    return
            await store.conversation(posted.conversation_key, item.platform)
            message_id = await store.record_outbound(
                posted.conversation_key, item.platform, item.text or "", "bot"
            )
            if posted.message_id:
                await store.set_platform_id(message_id, posted.message_id)
        except Exception as exc:
            log.warning(
                "outbox dm #%d posted but not recorded in %s: %s",
                item.id,
                posted.conversation_key,
                (str(exc).splitlines() or [type(exc).__name__])[0][:200],
            )

    async def run(self, stop: asyncio.Event, poll: float = POLL_SECONDS) -> None:
        """Deliver due rows until ``stop`` is set, woken by notifications or every ``poll``."""
        listener = asyncio.create_task(self._listen(stop, poll))
        try:
            while not stop.is_set():
                try:
                    if await self.deliver_due():
                        continue  # there may be more
                except Exception as exc:
                    log.warning("outbox sweep failed: %s", (str(exc).splitlines() or ["?"])[0])
                waiter = asyncio.create_task(self._wake.wait())
                stopper = asyncio.create_task(stop.wait())
                await asyncio.wait([waiter, stopper], timeout=poll, return_when="FIRST_COMPLETED")
                waiter.cancel()
                stopper.cancel()
                self._wake.clear()
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await listener

    async def _listen(self, stop: asyncio.Event, pause: float) -> None:
        """Set the wake-up whenever a row for one of this replica's platforms is queued."""
        while not stop.is_set():
            wakeups = self.router.engine.store.outbox.wakeups()
            if wakeups is None:
                return  # this database cannot notify: the poll alone
            try:
                async for platform in wakeups:
                    if platform in self.platforms:
                        self._wake.set()
            except Exception as exc:
                log.warning("outbox notifications lost (%s); polling meanwhile", type(exc).__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), pause)
