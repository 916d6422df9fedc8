"""Routing between platforms: customers on one, the agents' desk on the same or another.

Each running adapter registers a :class:`CustomerSide` (how to post into one of its
customers' conversations, found by conversation key), and the adapter of the platform that
``ONDO_HANDOFF_CHANNEL`` names registers the :class:`AgentDesk` (the agents' channel). The
:class:`Router` then carries a Discord customer's handoff to agents in Slack as readily as a
Slack customer's, relays both ways, and gives the conversation back on Resolve.

The help desk (:class:`DeskHooks`, set by ``bot.serve``) is told of a posted ticket, an
agent's reply, a handed-over customer's message and a resolve, and may answer a customer's
message before the bot (a satisfaction rating); its event hooks never fail a message.

It also keeps the promise that nothing is lost: :meth:`Router.recover` re-handles customer
messages that were recorded but never answered (a reply whose post failed after the platform
had been acknowledged, a crash mid-way) and re-posts tickets the desk could not post.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Literal, Protocol, TypeVar

from bot.conversation.direct import DirectMessenger, OptOutClick
from bot.conversation.engine import Engine, HandoffTicket, Outcome, Sender, storable
from bot.conversation.handoff import InvalidTransition, bot_speaks
from bot.conversation.summarizer import finish_ticket
from bot.storage.records import Handoff, Inbound, Pending, Post
from bot.types import Emotion, EmotionLabel, Language, Message, Reply
from bot.understanding.privacy import redact
from knowledge.language import detect_language

_T = TypeVar("_T")
log = logging.getLogger("ondo.routing")

RECOVERY_WINDOW_SECONDS = 24 * 3600.0
"""Unanswered customer messages older than this are not answered any more."""
RECOVERY_MAX_ATTEMPTS = 5
"""A message whose handling failed this many times is given up (and logged as an error)."""
RECOVERY_INTERVAL_SECONDS = 30.0
RECOVERY_CONVERSATIONS = 8
"""A sweep re-handles this many conversations side by side (each one's messages in order):
after a replica dies, its customers are answered together, not one after another."""

OptOutHook = Callable[[str, str, str, str], Awaitable[str | None]]
"""``(platform, user, text, language)`` -> the confirmation to send when ``text`` opts the
user out of messages (the journeys' service records it), ``""`` when it was recorded and the
platform answers it itself (an SMS STOP, which Twilio confirms), or ``None`` for any other
text."""


@dataclass(frozen=True)
class ReviewAnswer:
    """The review hook's answer to a customer's message it stored as a review."""

    text: str
    """The bot's reply (thanks; for an unhappy review, an apology and the offer of a person)."""
    emotion: Emotion
    """The emotion noted on the customer's message."""
    offers_person: bool
    """Whether ``text`` offers a person: a plain "yes" next asks for one."""


REVIEW_INTENT = "review"
"""The intent noted on a message the review hook answered (in its outcome's ``notes``)."""

ReviewHook = Callable[[Message, int], Awaitable[ReviewAnswer | None]]
"""``(message, inbound id)`` -> the answer when the message answers a review request and was
stored as a review (once per message: a redelivery finds it stored), or ``None`` for any other
message (the bot answers it as usual)."""


class DeskHooks(Protocol):
    """The help desk's part in routing (:class:`bot.desk.service.DeskService`), set as
    :attr:`Router.desk_hooks`. Each event hook's failure is logged and swallowed: a ticket's
    clock or owner never costs a customer their message."""

    async def ticket_posted(self, ticket: HandoffTicket, thread_ref: str) -> None:
        """A new ticket reached the desk: its due times, its owner, its line in the thread."""
        ...

    async def agent_replied(self, handoff: Handoff, agent: str, at: float | None = None) -> None:
        """An agent's message reached (or was queued for) the customer."""
        ...

    async def customer_relayed(self, conversation_key: str) -> None:
        """The customer of a handed-over conversation wrote (it went to the agents)."""
        ...

    async def resolved(self, handoff: Handoff, language: Language) -> None:
        """A handoff was resolved and its notice sent: the satisfaction question follows."""
        ...

    async def csat_answer(self, message: Message) -> str | None:
        """The bot's answer when ``message`` answers a pending satisfaction question (the
        thanks, or the one retry), else ``None``: the bot answers it as usual."""
        ...


CSAT_INTENT = "csat"
"""The intent noted on a message the desk's satisfaction hook answered."""

AgentResult = Literal["relayed", "duplicate", "not_a_ticket", "refused", "undelivered"]

AGENT_NOTES = {
    "refused": "This conversation is not handed over any more; nothing was sent.",
    "undelivered": "Could not deliver this to the customer ({reason}); please try again.",
}


def platform_of(key_or_ref: str) -> str:
    """The platform prefix of a conversation key or thread reference (``slack:...``)."""
    return key_or_ref.partition(":")[0]


class CustomerSide(Protocol):
    """One platform's customers: where replies and agents' relayed messages are posted."""

    platform: str

    def sender_for(self, conversation_key: str) -> Sender | None:
        """A sender posting into the conversation ``conversation_key``; ``None`` if the key
        is not one of this platform's conversations."""
        ...


class AgentDesk(Protocol):
    """The agents' channel on one platform: one thread per handoff."""

    platform: str
    agent_language: Language | None
    """``ONDO_AGENT_LANGUAGE``: tickets get a line in it when the customer wrote another."""

    async def open_ticket(self, ticket: HandoffTicket) -> str | None:
        """Post the ticket, its buttons carrying ``ticket.token``; return its thread reference
        (``<platform>:...``), or ``None`` when it could not be posted (the router retries
        later). From ``ticket.attempt`` 2 on, first look for the ticket on the platform (an
        earlier post may have reached it just before a crash) and return that one if found."""
        ...

    async def post_in_thread(self, thread_ref: str, text: str) -> None:
        """Post Ondo's own ``text`` (a note, its markup intended) in the ticket thread
        ``thread_ref``; raise if it could not."""
        ...

    async def relay(self, thread_ref: str, author: str | None, text: str) -> None:
        """Post a customer's ``text`` in the ticket thread, made inert for the desk's
        platform, after a mention of ``author`` (their user id on the desk's platform) or
        "Customer" when ``None``; raise if it could not."""
        ...

    def mention(self, agent_id: str) -> str:
        """How a desk post names agent ``agent_id`` so they are notified (``<@U…>``)."""
        ...


class Router:
    """Connects customers' conversations, the engine and the agents' desk across platforms."""

    def __init__(self, engine: Engine, *, handoff_channel: str | None = None) -> None:
        self.engine = engine
        self.handoff_channel = handoff_channel
        self.customers: dict[str, CustomerSide] = {}
        self.desk: AgentDesk | None = None
        self.direct: dict[str, DirectMessenger] = {}
        self.opt_out: OptOutHook | None = None
        """Set by the journeys' service: asked about every customer message before the bot."""
        self.opt_out_click: OptOutClick | None = None
        """Set by the journeys' service: the opt-out button under a journey DM."""
        self.review: ReviewHook | None = None
        """Set by the journeys' service: asked after the opt-out hook, in the bot's hands only."""
        self.desk_hooks: DeskHooks | None = None
        """Set by the help desk's service: SLA clocks, assignment, satisfaction (see
        :class:`DeskHooks`)."""

    @property
    def desk_platform(self) -> str | None:
        """The platform of the agents' channel (``slack`` / ``discord``), if one is set."""
        return platform_of(self.handoff_channel) if self.handoff_channel else None

    def add_customer_side(self, side: CustomerSide) -> None:
        """Register a platform whose customers this process serves."""
        self.customers[side.platform] = side

    def add_direct_messenger(self, messenger: DirectMessenger) -> None:
        """Register how this process posts direct messages (journey DMs) on a platform."""
        self.direct[messenger.platform] = messenger

    def direct_messenger(self, platform: str) -> DirectMessenger | None:
        """The direct messenger of ``platform``, if it runs in this process."""
        return self.direct.get(platform)

    def set_desk(self, desk: AgentDesk) -> None:
        """Register the agents' desk; it must live on the platform ``ONDO_HANDOFF_CHANNEL``
        names."""
        if desk.platform != self.desk_platform:
            raise ValueError(
                f"the handoff channel is on {self.desk_platform}, not on {desk.platform}"
            )
        self.desk = desk

    def sender_for(self, key: str) -> Sender | None:
        """The sender that reaches the customer of conversation ``key``, if its platform runs."""
        side = self.customers.get(platform_of(key))
        return side.sender_for(key) if side is not None else None

    async def held_elsewhere(self, platform: str | None) -> bool:
        """Whether another live replica sharing the database holds ``platform``: then what
        this one cannot post there goes to the outbox, for that replica to post."""
        store = self.engine.store
        if platform is None or not store.shared:
            return False
        me = store.replicas.current
        return any(platform in r.platforms and r.id != me for r in await store.replicas.live())

    # --- the customer's side -------------------------------------------------------------

    async def record(self, message: Message, is_agent: Callable[[str], Awaitable[bool]]) -> Inbound:
        """Record an inbound message as its author's: the conversation's owner (the customer
        who opened it), an agent (``is_agent(user)``, the platform's facts: the desk's
        members, the staff role) or a third party. ``is_agent`` is only asked about people
        writing in somebody else's conversation; if it fails they are a third party."""
        owner = await self.engine.store.conversation_owner(message.conversation_key)
        role = "customer"
        if owner is not None and owner != message.user:
            try:
                role = "agent" if await is_agent(message.user) else "third_party"
            except Exception as exc:
                log.warning("cannot tell whether %s is an agent (%s)", message.user, _reason(exc))
                role = "third_party"
        return await self.engine.store.record_inbound(storable(message), role)

    async def customer_message(
        self, message: Message, sender: Sender | None = None, *, inbound: Inbound | None = None
    ) -> Outcome:
        """Handle a customer's message: the engine answers; a handoff opens a ticket at the
        desk; while a person has the conversation the message is relayed to the ticket.
        ``inbound``: the message's record, when the adapter recorded it already (see
        :meth:`record`). A message that is not the conversation owner's goes to
        :meth:`third_party_message` instead."""
        outcome = await self._customer_message(message, sender, inbound, wait=True)
        assert outcome is not None  # waiting, the hold is always had
        return outcome

    async def _customer_message(
        self, message: Message, sender: Sender | None, inbound: Inbound | None, *, wait: bool
    ) -> Outcome | None:
        """:meth:`customer_message`; without ``wait``, ``None`` at once when another task or
        replica is handling the conversation (a sweep does not queue behind it)."""
        sender = sender or self.sender_for(message.conversation_key)
        # One message of a conversation at a time, here and in every replica: two quick
        # messages are answered in the order they came.
        async with self.engine.store.conversation_lock(message.conversation_key, wait=wait) as held:
            if not held:
                return None
            if inbound is None:
                inbound = await self.engine.receive(message)
            if inbound.role != "customer":
                return await self.third_party_message(message, inbound)
            confirmation = await self._opt_out_reply(message, inbound)
            if confirmation == "":
                await self.engine.store.annotate_inbound(inbound.id, intent="opt_out")
                await self.engine.store.mark_handled(inbound.id)
                return Outcome("suppressed", inbound.id, notes=("opt_out",))
            if confirmation is not None:
                # An opt-out is answered with its confirmation alone, whoever has the
                # conversation: the bot does not also answer "stop" as a question.
                return await self.engine.fixed_reply(message, inbound, confirmation, sender)
            if await self._hooks_apply(message, inbound):
                review = await self._hooked(inbound, self._review(message, inbound.id))
                if review is not None:
                    turn = (review.emotion, review.offers_person)
                    return await self.engine.fixed_reply(
                        message, inbound, review.text, sender, intent=REVIEW_INTENT, turn=turn
                    )
                csat = await self._hooked(inbound, self._csat(message))
                if csat is not None:
                    return await self.engine.fixed_reply(
                        message, inbound, csat, sender, intent=CSAT_INTENT
                    )
            outcome = await self.engine.handle(message, sender, inbound=inbound)
            relay = outcome.action == "relayed" and outcome.relay_text is not None
            if outcome.handoff is None and relay:
                await self._relay_to_desk(message, outcome)
                key = message.conversation_key
                await self._desk_event("customer_relayed", lambda d: d.customer_relayed(key))
        # The ticket is posted outside the hold: the customer's next messages are handled
        # meanwhile (they wait for its thread, and open_ticket relays them once it exists).
        if outcome.handoff is not None:
            await self.open_ticket(outcome.handoff, claimed=True)
        return outcome

    async def _opt_out_reply(self, message: Message, inbound: Inbound) -> str | None:
        """The opt-out hook's confirmation for a customer's message, or ``None`` (no hook, a
        duplicate, a staff question, a redelivery whose reply only waits to be posted again,
        or a text that is no opt-out). A failing hook raises: the message stays unanswered
        for the recovery sweep rather than an opt-out being answered as a question."""
        if self.opt_out is None or not inbound.process or message.role == "staff":
            return None
        if inbound.duplicate and await self.engine.store.unposted_reply(inbound.id) is not None:
            return None  # the engine posts the recorded reply again
        language = detect_language(message.text)
        try:
            return await self.opt_out(message.platform, message.user, message.text, language)
        except Exception:
            await self.engine.store.unclaim(inbound.id)  # a redelivery or the sweep retries
            raise

    async def _hooks_apply(self, message: Message, inbound: Inbound) -> bool:
        """Whether the review and satisfaction hooks may answer ``message``: a hook is set,
        it is the bot's to answer (no duplicate whose reply only waits to be posted again, no
        staff question, no conversation a person has or is about to have)."""
        if self.review is None and self.desk_hooks is None:
            return False
        if not inbound.process or message.role == "staff":
            return False
        store = self.engine.store
        if inbound.duplicate and await store.unposted_reply(inbound.id) is not None:
            return False  # the engine posts the recorded reply again
        conversation = await store.conversation(message.conversation_key, message.platform)
        return bot_speaks(conversation.state)

    async def _review(self, message: Message, inbound_id: int) -> ReviewAnswer | None:
        """The review hook's answer: ``message`` stored as a review, or ``None``."""
        return await self.review(message, inbound_id) if self.review is not None else None

    async def _csat(self, message: Message) -> str | None:
        """The satisfaction hook's answer to a pending rating question, or ``None``."""
        hooks = self.desk_hooks
        return await hooks.csat_answer(message) if hooks is not None else None

    async def _hooked(self, inbound: Inbound, step: Awaitable[_T]) -> _T:
        """A hook's answer; a failing hook raises, as the opt-out hook does, with the message
        unclaimed so a redelivery or the recovery sweep handles it again."""
        try:
            return await step
        except Exception:
            await self.engine.store.unclaim(inbound.id)
            raise

    async def _desk_event(self, name: str, call: Callable[[DeskHooks], Awaitable[None]]) -> None:
        """Tell the desk (``call`` on its hooks, named ``name`` in the log); its failure is
        logged in one line, never raised."""
        if self.desk_hooks is None:
            return
        try:
            await call(self.desk_hooks)
        except Exception as exc:
            log.error("desk hook %s failed: %s", name, _reason(exc))

    async def open_ticket(self, ticket: HandoffTicket, *, claimed: bool = False) -> str | None:
        """Post ``ticket`` at the desk and remember its thread; ``None`` if that failed or
        another sweep is posting it. ``claimed``: the caller opened the handoff (which claims
        its ticket); otherwise the ticket is claimed here first, so it is posted once."""
        store = self.engine.store
        if self.desk is None and await self.held_elsewhere(self.desk_platform):
            # The desk's replica posts it: free our claim and tell it.
            assert self.desk_platform is not None
            post = Post(self.desk_platform, "ticket", str(ticket.id))
            if claimed:
                await store.release_ticket(ticket.id, post)
            else:
                await store.outbox.put(post.platform, post.kind, post.target)
            log.info("handoff #%d: ticket queued for the %s replica", ticket.id, self.desk_platform)
            return None
        if self.desk is None:
            log.warning(
                "conversation %s handed over, but no agents' desk is running (%s)",
                ticket.conversation_key,
                self.handoff_channel or "ONDO_HANDOFF_CHANNEL is not set",
            )
            return None
        if not claimed and not await store.claim_ticket(ticket.id):
            return None
        stored = await store.handoff_by_id(ticket.id)
        if stored is None or stored.resolved_at is not None or stored.notice_failed_at:
            return None  # forgotten, resolved or put off meanwhile: no ticket to post
        if stored.thread_ref:
            # Posted already (by a sweep, while a notice that then failed took too long).
            return stored.thread_ref
        ticket = replace(ticket, token=stored.token, attempt=max(1, stored.ticket_attempts))
        # After the customer's notice, bounded: the LLM's summary, the agents' line, the reply.
        ticket = await finish_ticket(
            ticket,
            store=store,
            responder=self.engine.responder,
            agent_language=self.desk.agent_language,
        )
        try:
            ref = await self.desk.open_ticket(ticket)
        except Exception as exc:  # a platform failure must not lose the handoff
            log.error("handoff ticket #%d could not be posted: %s", ticket.id, _reason(exc))
            ref = None
        if ref is None:
            await store.release_ticket(ticket.id)
            return None
        await store.update_handoff(ticket.id, thread_ref=ref)
        posted = ticket
        await self._desk_event("ticket_posted", lambda d: d.ticket_posted(posted, ref))
        # Messages the customer wrote while the ticket was being posted waited for its thread.
        await self._handle_pending(ticket.conversation_key)
        return ref

    async def _relay_to_desk(self, message: Message, outcome: Outcome) -> None:
        """Post a customer's message in their ticket's thread; it counts as handled once
        posted. Without a thread yet (the ticket is being posted) or when the post fails it
        stays unhandled, for :meth:`open_ticket` or the recovery sweep to relay later."""
        key = message.conversation_key
        ticket = await self.engine.store.current_handoff(key)
        elsewhere = self.desk is None and await self.held_elsewhere(self.desk_platform)
        if self.desk is None and not elsewhere:
            log.warning("message in %s not relayed: no agents' desk is running", key)
            await self.engine.relayed(outcome)
            return
        if ticket is None or not ticket.thread_ref:
            log.info("message in %s waits for its handoff's agents' thread", key)
            await self.engine.store.unclaim(outcome.inbound_id)
            return
        # A mention names the customer on their own platform (desks post with mentions
        # disabled, so nobody is pinged); across platforms it would be noise.
        same_platform = platform_of(key) == platform_of(ticket.thread_ref)
        author = message.user if same_platform else None
        text = outcome.relay_text or "(empty)"
        try:
            if self.desk is None:
                # The desk's replica relays it: queued as the message is marked handled.
                assert self.desk_platform is not None
                relay = Post(self.desk_platform, "relay", ticket.thread_ref, text, None, author)
                await self.engine.relayed(outcome, relay)
                return
            await self.desk.relay(ticket.thread_ref, author, text)
        except Exception as exc:
            log.error("relay of a message in %s to the agents failed: %s", key, _reason(exc))
            await self.engine.store.unclaim(outcome.inbound_id)
            return
        await self.engine.relayed(outcome)

    async def third_party_message(self, message: Message, inbound: Inbound) -> Outcome:
        """Somebody other than the customer wrote in the customer's conversation (recorded as
        theirs, ``inbound.role``). The bot never answers it, and it neither changes the state
        nor escalates: it does not act for the customer. While a handoff is open, a third
        party's words go to the ticket's thread labelled as a third party's; an agent's
        (visible to the customer already) take the conversation over, as a reply would."""
        if not inbound.process:
            return Outcome("duplicate", inbound.id)
        store, key = self.engine.store, message.conversation_key
        ticket = await store.current_handoff(key)
        try:
            if inbound.role == "agent":
                if ticket is not None and await self.take_over(key, message.user):
                    log.info("agent %s answered in %s: taken over", message.user, key)
                    taken, user = ticket, message.user
                    await self._desk_event("agent_replied", lambda d: d.agent_replied(taken, user))
                    if ticket.agent is None and ticket.thread_ref:
                        who = self._who(message, ticket.thread_ref, "An agent")
                        note = f"{who} took this over in the customer's thread."
                        await self._note(ticket.thread_ref, note)
                return Outcome("suppressed", inbound.id)
            log.info("message by a third party in %s recorded, not answered", key)
            if ticket is None or not ticket.thread_ref:
                return Outcome("suppressed", inbound.id)
            if self.desk is None and not await self.held_elsewhere(self.desk_platform):
                return Outcome("suppressed", inbound.id)
            relay = redact(message.text, detect_language(message.text)) or "(empty)"
            who = self._who(message, ticket.thread_ref, "Someone")
            await self._note(ticket.thread_ref, f"Third party (not the customer) {who}: {relay}")
            return Outcome("relayed", inbound.id, relay_text=relay)
        finally:
            # Not retried by the recovery sweep: that answers customers, and this is no one's.
            await store.mark_handled(inbound.id)

    @staticmethod
    def _who(message: Message, thread_ref: str, otherwise: str) -> str:
        """A mention of the author for a desk on their own platform (desks post with mentions
        disabled); across platforms an id would be noise."""
        same = platform_of(message.conversation_key) == platform_of(thread_ref)
        return f"<@{message.user}>" if same else otherwise

    # --- the agents' side ----------------------------------------------------------------

    async def agent_message(
        self, *, platform: str, event_id: str, thread_ref: str, agent: str, text: str
    ) -> AgentResult:
        """An agent wrote in a ticket thread: relay it to the customer (once per event)."""
        ticket = await self.engine.store.handoff_by_thread(thread_ref)
        if ticket is None:
            return "not_a_ticket"
        if not await self.engine.store.first_sighting(platform, event_id, "agent_message"):
            return "duplicate"
        key = ticket.conversation_key
        sender = self.sender_for(key)
        elsewhere = sender is None and await self.held_elsewhere(platform_of(key))
        try:
            # Held elsewhere, the reply is queued for that replica with its record.
            reply = await self.engine.agent_message(key, agent, text, queue=elsewhere)
        except InvalidTransition:
            log.info("agent %s wrote in the closed ticket #%d; nothing relayed", agent, ticket.id)
            await self._note(thread_ref, AGENT_NOTES["refused"])
            return "refused"
        if elsewhere:
            await self._desk_event("agent_replied", lambda d: d.agent_replied(ticket, agent))
            return "relayed"
        reason = f"{platform_of(key)} is not running in this process" if sender is None else ""
        if sender is not None:
            try:
                await sender.send(reply)
                await self._desk_event("agent_replied", lambda d: d.agent_replied(ticket, agent))
                return "relayed"
            except Exception as exc:
                reason = _reason(exc)
        log.error("agent message for %s not delivered: %s", key, reason)
        await self._note(thread_ref, AGENT_NOTES["undelivered"].format(reason=reason))
        return "undelivered"

    async def take_over(self, key: str, agent: str) -> bool:
        """An agent takes the conversation; ``False`` if nothing was waiting for a person."""
        return await self.engine.take_over(key, agent)

    async def resolve(self, key: str, agent: str) -> bool:
        """Give the conversation back to the bot and tell the customer; ``False`` if it was
        already with the bot."""
        sender = self.sender_for(key)
        elsewhere = sender is None and await self.held_elsewhere(platform_of(key))
        handoff = await self.engine.store.current_handoff(key)
        notice = await self.engine.resolve(key, agent, queue=elsewhere)
        if notice is None:
            return False
        try:
            if elsewhere:
                pass  # queued for the replica holding the customer's platform
            elif sender is None:
                raise ConnectionError(f"{platform_of(key)} is not running in this process")
            else:
                await sender.send(notice)
        except Exception as exc:
            log.error("resolve notice for %s not delivered: %s", key, _reason(exc))
        if handoff is not None:
            resolved, language = handoff, notice.language
            await self._desk_event("resolved", lambda d: d.resolved(resolved, language))
        return True

    async def note(self, thread_ref: str, text: str) -> None:
        """Post Ondo's own ``text`` in the ticket thread ``thread_ref`` (queued for the desk's
        replica when it runs elsewhere); a failure is logged, never raised."""
        await self._note(thread_ref, text)

    async def relay_note(self, thread_ref: str, text: str) -> None:
        """Post a customer's ``text`` in the ticket thread ``thread_ref`` made inert (as a
        relay is: "Customer: …"), not as Ondo's markup; queued for the desk's replica when it
        runs elsewhere; a failure is logged, never raised."""
        if self.desk is None:
            if await self.held_elsewhere(platform_of(thread_ref)):
                await self.engine.store.outbox.put(
                    platform_of(thread_ref), "relay", thread_ref, text=text
                )
            return
        try:
            await self.desk.relay(thread_ref, None, text)
        except Exception as exc:
            log.error("relay in agents' thread %s failed: %s", thread_ref, _reason(exc))

    async def _note(self, thread_ref: str, text: str) -> None:
        if self.desk is None:
            if await self.held_elsewhere(platform_of(thread_ref)):
                await self.engine.store.outbox.put(
                    platform_of(thread_ref), "note", thread_ref, text=text
                )
            return
        try:
            await self.desk.post_in_thread(thread_ref, text)
        except Exception as exc:
            log.error("note in agents' thread %s failed: %s", thread_ref, _reason(exc))

    # --- nothing lost --------------------------------------------------------------------

    async def recover(self) -> int:
        """Re-handle unanswered customer messages and re-post tickets that never reached the
        desk; returns how many messages were answered now."""
        store = self.engine.store
        # Tickets first: customers' messages waiting to be relayed need their threads.
        if self.desk is not None:
            since = time.time() - RECOVERY_WINDOW_SECONDS
            for ticket in await store.open_handoffs():
                # Sharing the database, the desk's replica posts every platform's tickets.
                ours = platform_of(ticket.conversation_key) in self.customers or store.shared
                if ticket.thread_ref is None and ticket.created_at >= since and ours:
                    await self.open_ticket(ticket_of(ticket))
        return await self._handle_pending()

    async def _handle_pending(self, conversation_key: str | None = None) -> int:
        """Re-handle unfinished customer messages (of one conversation, or all): each
        conversation's in order, up to :data:`RECOVERY_CONVERSATIONS` conversations at once.
        A sweep of all skips a conversation another task or replica is handling right now
        (it answers them itself, or the next sweep does) instead of queueing behind it."""
        pending = await self.engine.store.unfinished_inbound(
            since=time.time() - RECOVERY_WINDOW_SECONDS,
            max_attempts=RECOVERY_MAX_ATTEMPTS,
            platforms=sorted(self.customers),
            conversation_key=conversation_key,
        )
        conversations: dict[str, list[Pending]] = {}
        for item in pending:
            conversations.setdefault(item.message.conversation_key, []).append(item)
        room = asyncio.Semaphore(RECOVERY_CONVERSATIONS)

        async def one(items: list[Pending]) -> int:
            async with room:
                return await self._handle_conversation(items, wait=conversation_key is not None)

        counts = await asyncio.gather(*(one(items) for items in conversations.values()))
        return sum(counts)

    async def _handle_conversation(self, pending: list[Pending], *, wait: bool) -> int:
        """Re-handle one conversation's unfinished messages in order; how many were answered."""
        answered = 0
        for item in pending:
            key = item.message.conversation_key
            try:
                outcome = await self._customer_message(item.message, None, None, wait=wait)
                if outcome is None:
                    log.info("conversation %s is being handled elsewhere; the sweep skips it", key)
                    return answered
            except Exception as exc:
                attempt = item.attempts + 1
                level = logging.ERROR if attempt >= RECOVERY_MAX_ATTEMPTS else logging.WARNING
                log.log(
                    level,
                    "retry %d/%d of message %d in %s failed: %s%s",
                    attempt,
                    RECOVERY_MAX_ATTEMPTS,
                    item.id,
                    key,
                    _reason(exc),
                    "; giving up" if attempt >= RECOVERY_MAX_ATTEMPTS else "",
                )
                continue
            if outcome.action == "replied":
                answered += 1
                log.info("message %d in %s answered on retry", item.id, key)
        return answered

    async def run_recovery(
        self, stop: asyncio.Event, interval: float = RECOVERY_INTERVAL_SECONDS
    ) -> None:
        """Call :meth:`recover` now and every ``interval`` seconds until ``stop`` is set."""
        while not stop.is_set():
            try:
                await self.recover()
            except Exception:
                log.exception("recovery sweep failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)


def ticket_of(handoff: Handoff) -> HandoffTicket:
    """The ticket for a stored handoff (to post it again)."""
    language: Language = "ko" if handoff.language == "ko" else "en"
    labels: tuple[EmotionLabel, ...] = ("positive", "neutral", "disappointed", "angry")
    label: EmotionLabel = next((x for x in labels if x == handoff.emotion), "neutral")
    return HandoffTicket(
        handoff.id,
        handoff.conversation_key,
        handoff.reason,
        handoff.summary,
        language,
        handoff.intent or "other",
        Emotion(label, 0.0),
    )


def _reason(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:300]


# --- deterministic fakes for tests -------------------------------------------------------


@dataclass
class MemorySender:
    """A sender that records what it would post; ``fail_next`` makes the next posts raise."""

    sent: list[Reply] = field(default_factory=list)
    fail_next: int = 0

    async def send(self, reply: Reply) -> str | None:
        """Record ``reply`` (or raise ``ConnectionError`` while ``fail_next`` is positive)."""
        if self.fail_next:
            self.fail_next -= 1
            raise ConnectionError("platform unavailable")
        self.sent.append(reply)
        return f"posted-{len(self.sent)}"


@dataclass
class MemoryCustomers:
    """A :class:`CustomerSide` whose conversations each get a :class:`MemorySender`."""

    platform: str
    senders: dict[str, MemorySender] = field(default_factory=dict)

    def sender_for(self, conversation_key: str) -> Sender | None:
        """The recording sender of ``conversation_key`` (created on first use)."""
        if platform_of(conversation_key) != self.platform:
            return None
        return self.senders.setdefault(conversation_key, MemorySender())


@dataclass
class MemoryDesk:
    """An :class:`AgentDesk` that records tickets and thread posts."""

    platform: str
    tickets: list[HandoffTicket] = field(default_factory=list)
    posts: list[tuple[str, str]] = field(default_factory=list)
    fail_next: int = 0
    agent_language: Language | None = None
    adopted: int = 0
    """Repeated attempts that found their ticket already posted."""
    notified: list[tuple[str, str]] = field(default_factory=list)
    """Notifications sent to agents (:meth:`notify`), ``(agent, text)``."""

    async def open_ticket(self, ticket: HandoffTicket) -> str | None:
        """Record the ticket; its thread is ``<platform>:ticket-<id>``. A repeated attempt
        adopts a ticket recorded before, as the real desks look on their platform."""
        if self.fail_next:
            self.fail_next -= 1
            raise ConnectionError("desk unavailable")
        ref = f"{self.platform}:ticket-{ticket.id}"
        if ticket.attempt > 1 and any(t.id == ticket.id for t in self.tickets):
            self.adopted += 1
            return ref
        self.tickets.append(ticket)
        return ref

    async def post_in_thread(self, thread_ref: str, text: str) -> None:
        """Record a post in a ticket thread."""
        self.posts.append((thread_ref, text))

    async def relay(self, thread_ref: str, author: str | None, text: str) -> None:
        """Record a relayed customer message as ``<@author>: text`` (or ``Customer: text``)."""
        who = f"<@{author}>" if author else "Customer"
        await self.post_in_thread(thread_ref, f"{who}: {text}")

    def mention(self, agent_id: str) -> str:
        """The plain id (a memory desk notifies nobody)."""
        return agent_id

    async def notify(self, agent_id: str, text: str) -> None:
        """Record a notification to ``agent_id`` (a real desk would DM them)."""
        self.notified.append((agent_id, text))
