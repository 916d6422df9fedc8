"""What the rest of Ondo asks of a store: the typed interface every backend implements.

:class:`bot.storage.sqlite.SQLiteStore` is the embedded one; a PostgreSQL store implements the
same protocols. Everything crosses it as plain values (:mod:`bot.storage.records`, ``str``,
``int``, ``float``, numpy vectors): no connection, cursor or row type of a driver leaks through,
and text goes in and comes out in clear (the store seals it at rest when a key is set).

The store itself holds what a message's path needs (conversations, messages, handoffs, ratings,
the embedding cache and imported knowledge); the rarely used concerns are parts reached by
attribute: ``store.corrections``, ``store.retention`` and ``store.insights``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

from bot.storage.crypto import Cipher
from bot.storage.desk_records import Csat, DeskTicket, DutyAgent, SlaRow
from bot.storage.journey_interface import Journeys
from bot.storage.records import (
    Conversation,
    Correction,
    CustomerMessage,
    Handoff,
    Inbound,
    KbChange,
    KnowledgeVersion,
    OutboxKind,
    Outgoing,
    Pending,
    Post,
    RecentActivity,
    Replica,
    ReplyContext,
    ResolvedHandoff,
    ReviewPolarity,
    StoredMessage,
    StoredReview,
    WindowRows,
)
from bot.types import Emotion, Message, State
from knowledge.entries import Entry
from knowledge.vectors import VectorCache


class CorrectionRecords(Protocol):
    """The correction queue and the knowledge changes (``store.corrections``)."""

    async def reply_by_platform_id(self, platform: str, platform_message_id: str) -> int | None:
        """The id of the bot answer posted on ``platform`` as ``platform_message_id``."""
        ...

    async def asker_of(self, reply_id: int) -> str | None:
        """The user whose message bot answer ``reply_id`` answers (who may rate it)."""
        ...

    async def reply_context(self, reply_id: int) -> ReplyContext | None:
        """What bot answer ``reply_id`` answered; ``None`` when it is no answer of the bot."""
        ...

    async def propose(self, reply_id: int, answer: str, by: str) -> int | None:
        """Record ``answer`` by ``by`` as the right one for bot answer ``reply_id``: into its
        pending correction (a 👎) if it has one, else a new correction. Returns the
        correction's id; ``None`` when ``reply_id`` is no answer of the bot."""
        ...

    async def queue_rating(self, reply_id: int) -> int | None:
        """Queue bot answer ``reply_id`` after a 👎; ``None`` when it was queued before (one
        correction per answer) or is no answer of the bot."""
        ...

    async def get(self, correction_id: int) -> Correction | None:
        """Correction ``correction_id``, if there is one."""
        ...

    async def pending(self) -> list[Correction]:
        """Every correction waiting for a decision, oldest first."""
        ...

    async def history(self, entry_id: str | None = None) -> list[KbChange]:
        """Knowledge changes (of ``entry_id``, if given), oldest first."""
        ...

    async def reject(self, correction_id: int, by: str) -> bool:
        """Reject pending correction ``correction_id``; ``False`` if it is not pending."""
        ...

    async def approve(
        self, correction_id: int, by: str, old: Entry | None, new: Entry, source: str
    ) -> KbChange | None:
        """Approve pending correction ``correction_id``: store ``new`` (replacing ``old``, if
        any) and the change, atomically and once; ``None`` if it is not pending."""
        ...


class Retention(Protocol):
    """Re-encryption, purging by age, and one customer's rights (``store.retention``)."""

    async def reseal(self, new: Cipher) -> int:
        """Re-encrypt every stored text with ``new`` (opening it with the current cipher) in
        one transaction; then compact the file so no old form of the text stays on disk.
        Returns how many values were rewritten. The store uses ``new`` afterwards."""
        ...

    async def purge(self, older_than: float) -> dict[str, int]:
        """Delete conversations whose last activity is older than ``older_than`` seconds ago,
        with their messages, handoffs and ratings; returns what was deleted, by table."""
        ...

    async def export_user(self, user: str) -> dict[str, Any]:
        """Everything stored about the customer ``user`` (a platform user id), as plain data:
        the conversations they own with the bot's and agents' messages in them (not other
        people's), the messages they wrote in other people's conversations, their handoffs
        and ratings. Per author: nothing another person wrote is exported as theirs."""
        ...

    async def forget_user(self, user: str) -> dict[str, int]:
        """Delete everything stored about the customer ``user``: the conversations they own,
        the messages they wrote in other people's (with any bot reply to them), and their
        ratings; other people's messages stay. Returns what was deleted."""
        ...

    async def forget_customer(self, customer_id: str) -> dict[str, int]:
        """Delete everything journeys stored about shop customer ``customer_id`` (events,
        profile, links, sends, consent); returns what was deleted, by table."""
        ...


class InsightsReader(Protocol):
    """Read-only rows for the conversation reports (``store.insights``)."""

    async def read_window(self, since: float, until: float) -> WindowRows:
        """The rows created at or after ``since`` and before ``until`` (epoch seconds), for
        the conversation figures. Only reads; customer text is opened only for unanswered
        questions, the one figure that needs it."""
        ...


class Reviews(Protocol):
    """Customers' reviews, whichever channel they came through (``store.reviews``)."""

    async def record_review(
        self,
        source: str,
        ref: str,
        *,
        polarity: ReviewPolarity,
        text: str,
        customer_id: str | None = None,
        platform: str | None = None,
        conversation_key: str | None = None,
        send_id: int | None = None,
        language: str | None = None,
        rating: int | None = None,
        at: float | None = None,
    ) -> int | None:
        """Store a review once per message (``source`` and ``ref``): the id of the review of
        that message, stored now or before (a redelivery stores nothing new); ``None`` when
        ``send_id`` was answered by another message's review already (nothing stored). A
        ``rating`` outside 1..5 is stored as none; long text is cut."""
        ...

    async def review_for_send(self, send_id: int) -> StoredReview | None:
        """The review answering journey send ``send_id``, if it was answered."""
        ...

    async def reviews(self, since: float, until: float) -> list[StoredReview]:
        """The reviews created at or after ``since`` and before ``until``, oldest first, their
        text opened."""
        ...


class DeskRecords(Protocol):
    """The help desk's rows (``store.desk``): duty, a ticket's owner and clocks, reminders
    posted once, and satisfaction ratings. Times are epoch seconds, passed in."""

    async def set_duty(self, platform: str, agent: str, on: bool, at: float) -> bool:
        """Put ``agent`` of desk ``platform`` on or off duty; whether anything changed."""
        ...

    async def on_duty(self, platform: str) -> list[DutyAgent]:
        """The on-duty agents of desk ``platform`` with their load and round-robin pointer."""
        ...

    async def open_load(self, agent: str) -> int:
        """How many open tickets ``agent`` owns."""
        ...

    async def assign(
        self, handoff_id: int, agent: str, at: float, *, only_unassigned: bool = False
    ) -> bool:
        """Make ``agent`` the owner of an unresolved handoff (compare-and-set)."""
        ...

    async def assign_next(
        self,
        handoff_id: int,
        platform: str,
        pick: Callable[[Sequence[DutyAgent]], str | None],
        at: float,
    ) -> str | None:
        """Assign an unowned open handoff to the on-duty agent ``pick`` chooses, atomically
        (concurrent calls take turns); the agent, or ``None``."""
        ...

    async def set_due(
        self, handoff_id: int, first_due_at: float | None, resolution_due_at: float | None
    ) -> None:
        """Record a handoff's SLA due times."""
        ...

    async def mark_first_response(self, handoff_id: int, at: float) -> bool:
        """Record the first agent message to the customer (only the first time)."""
        ...

    async def set_waiting(self, conversation_key: str, since: float | None) -> bool:
        """The open handoff waits for its customer ``since`` (``None``: they answered)."""
        ...

    async def stale_candidates(self, now: float, older_than: float) -> list[DeskTicket]:
        """Open handoffs waiting for their customer ``older_than`` seconds or more."""
        ...

    async def close_stale(self, handoff_id: int, at: float, waiting_before: float) -> bool:
        """Close a handoff (and its conversation) as stale, once, if it still waits."""
        ...

    async def claim_reminder(self, handoff_id: int, kind: str, at: float) -> bool:
        """``True`` for the one caller ever that may post reminder ``kind`` of a handoff."""
        ...

    async def handoffs_needing_reminders(self) -> list[DeskTicket]:
        """Open handoffs with a reminder still possibly due, with the kinds already sent."""
        ...

    async def ask_csat(self, handoff_id: int, at: float, *, agent: str | None = None) -> bool:
        """Record the rating question of a handoff; ``True`` once per handoff."""
        ...

    async def csat(self, handoff_id: int) -> Csat | None:
        """A handoff's rating question and answer, comment opened."""
        ...

    async def csat_for_conversation(self, conversation_key: str) -> Csat | None:
        """The conversation's newest unanswered rating question, if any."""
        ...

    async def answer_csat(
        self, handoff_id: int, score: int, comment: str | None, at: float
    ) -> bool:
        """Store the answer once (a second does not overwrite)."""
        ...

    async def add_csat_comment(self, handoff_id: int, comment: str) -> bool:
        """Attach a comment sent after the score, once."""
        ...

    async def note_csat_retry(self, handoff_id: int) -> int:
        """Count one unusable answer; the count so far (0: nothing pending)."""
        ...

    async def csat_rows(self, since: float, until: float, *, comments: bool = False) -> list[Csat]:
        """The rating questions asked in ``[since, until)``, for insights."""
        ...

    async def sla_rows(self, since: float, until: float) -> list[SlaRow]:
        """The handoffs created in ``[since, until)`` with their clocks, for insights."""
        ...


class Replicas(Protocol):
    """The serving processes sharing the database (``store.replicas``)."""

    @property
    def current(self) -> str | None:
        """This process's replica id once it joined, else ``None``."""
        ...

    async def join(self, replica_id: str, *, platforms: tuple[str, ...], shards: str = "") -> None:
        """Announce this process as replica ``replica_id``; its claims carry the id after."""
        ...

    async def heartbeat(self, shards: str | None = None) -> None:
        """Report this replica alive (and the Discord shards it holds, if given)."""
        ...

    async def leave(self) -> None:
        """Stop being a replica: the claims it still holds are free at once."""
        ...

    async def live(self) -> list[Replica]:
        """The replicas whose last heartbeat is recent."""
        ...


class Outbox(Protocol):
    """Posts for a platform another replica holds (``store.outbox``)."""

    async def put(
        self,
        platform: str,
        kind: OutboxKind,
        target: str,
        *,
        text: str | None = None,
        ref: str | None = None,
        author: str | None = None,
        language: str | None = None,
    ) -> int:
        """Queue one post for a replica holding ``platform``."""
        ...

    async def take(
        self, platforms: Sequence[str], replica: str | None, limit: int = 20
    ) -> list[Outgoing]:
        """Claim due posts for ``platforms`` (one replica gets each)."""
        ...

    async def delivered(self, item_id: int) -> None:
        """A claimed post was made."""
        ...

    async def failed(self, item_id: int, error: str, retry_in: float) -> None:
        """A claimed post failed: try again ``retry_in`` seconds from now."""
        ...

    def wakeups(self) -> AsyncIterator[str] | None:
        """Platforms of posts as they are queued (``None``: poll)."""
        ...

    async def waiting(self, platform: str | None = None) -> int:
        """How many posts wait to be made."""
        ...


class Store(VectorCache, Protocol):
    """Conversations, messages, handoffs, ratings, cached embeddings and imported knowledge,
    with its parts. Every ``async`` method may be called from the event loop: a backend does
    its I/O without blocking it."""

    @property
    def journeys(self) -> Journeys:
        """Customer journeys: events, customers, scheduled sends and consent."""
        ...

    @property
    def corrections(self) -> CorrectionRecords:
        """The correction queue and the knowledge changes."""
        ...

    @property
    def retention(self) -> Retention:
        """Re-encryption, purging and a customer's rights."""
        ...

    @property
    def insights(self) -> InsightsReader:
        """Rows for the conversation reports."""
        ...

    @property
    def outbox(self) -> Outbox:
        """Posts for a platform another replica holds."""
        ...

    @property
    def reviews(self) -> Reviews:
        """Customers' reviews (journey replies; e-mail later)."""
        ...

    @property
    def desk(self) -> DeskRecords:
        """The help desk's rows: duty, assignment, SLA clocks, reminders, satisfaction."""
        ...

    @property
    def replicas(self) -> Replicas:
        """The serving processes sharing the database, this one among them once it joined."""
        ...

    @property
    def cipher(self) -> Cipher:
        """The cipher stored text is sealed with."""
        ...

    @property
    def shared(self) -> bool:
        """Whether other processes on other machines may share this store (PostgreSQL)."""
        ...

    @property
    def label(self) -> str:
        """What to call the database in health reports and logs (never with a password)."""
        ...

    async def save_thread_state(self, key: str, state: str) -> None:
        """Keep a channel's ``state`` of conversation ``key`` (sealed; deleted with it)."""
        ...

    async def thread_state(self, key: str) -> str | None:
        """The channel's state kept for conversation ``key``, if any."""
        ...

    async def exclusive(self, name: str, *, wait: bool) -> AbstractAsyncContextManager[None] | None:
        """Hold ``name`` (a Discord shard) against every other process sharing the database
        until the returned context exits; ``None`` when another holds it and ``wait`` is
        false (with ``wait``, until it is free)."""
        ...

    def conversation_lock(
        self, key: str, *, wait: bool = True
    ) -> AbstractAsyncContextManager[bool]:
        """Hold conversation ``key`` for one message's handling: one replica (and one task)
        at a time, in the order they asked; re-entrant within one task. Yields whether it is
        held: without ``wait``, ``False`` at once when another task or replica holds it."""
        ...

    def close(self) -> None:
        """Finish pending work and close the connection."""
        ...

    async def writable(self) -> bool:
        """Whether the database takes writes right now (for health checks)."""
        ...

    async def conversation(self, key: str, platform: str) -> Conversation:
        """The conversation ``key``, created in state ``bot`` when new."""
        ...

    async def conversation_owner(self, key: str) -> str | None:
        """The user who opened conversation ``key`` (whose conversation it is), if known."""
        ...

    async def has_conversation(self, key: str) -> bool:
        """Whether ``key`` is a stored conversation (without creating it)."""
        ...

    async def set_state(self, key: str, state: State, *, expected: Sequence[State] = ()) -> bool:
        """Move ``key`` to ``state``; with ``expected``, only from one of those states.

        Returns whether the row changed, so two racing writers cannot both win."""
        ...

    async def note_turn(self, key: str, *, language: str, emotion: Emotion, misses: int) -> None:
        """Remember the latest language, emotion and consecutive-miss count."""
        ...

    async def clear_context(self, key: str) -> None:
        """Forget the conversation's context: later history starts after the newest message."""
        ...

    async def record_inbound(self, message: Message, role: str = "customer") -> Inbound:
        """Store an inbound message before anything else happens to it.

        A second delivery of the same platform message id is a duplicate; it is processed
        again only if the first delivery never finished (no reply, claim expired).

        The first customer to write in a conversation owns it; a ``customer`` message by
        anybody else there is recorded (and returned) as ``third_party``: it is theirs, never
        the owner's. The returned :attr:`Inbound.role` is the role stored."""
        ...

    async def annotate_inbound(self, inbound_id: int, **fields: str | float | bool | None) -> None:
        """Attach analysis results (language, emotion, intent, ...) to an inbound row."""
        ...

    async def mark_handled(self, inbound_id: int, post: Post | None = None) -> None:
        """Mark an inbound message as fully handled: a later duplicate is never processed.
        ``post``: queued in the outbox in the same transaction."""
        ...

    async def unclaim(self, inbound_id: int) -> None:
        """Give up the claim on an inbound message so the recovery sweep can take it now."""
        ...

    async def unposted_reply(self, inbound_id: int) -> tuple[int, str] | None:
        """``(reply id, text)`` of a reply to ``inbound_id`` recorded but never marked posted
        (the process died between recording and posting it)."""
        ...

    async def release(self, inbound_id: int, reply_id: int) -> None:
        """Undo a reply that could not be posted, so a redelivery of the inbound is processed."""
        ...

    async def unfinished_inbound(
        self,
        *,
        since: float,
        max_attempts: int,
        platforms: Sequence[str],
        conversation_key: str | None = None,
    ) -> list[Pending]:
        """Customer messages from ``platforms`` (and ``conversation_key``, if given) received
        after ``since`` that were never answered (no reply, or a reply recorded but never
        posted) nor otherwise handled and are not being processed now (their claim is free or
        expired), with fewer than ``max_attempts`` retries so far; oldest first."""
        ...

    async def recent_activity(
        self, platform: str, *, lookback: float, limit: int
    ) -> RecentActivity | None:
        """The newest inbound message time on ``platform`` and up to ``limit`` conversations
        with inbound messages in the ``lookback`` seconds before it, most recent first;
        ``None`` when nothing was ever recorded there."""
        ...

    async def first_sighting(self, platform: str, event_id: str, kind: str) -> bool:
        """Record a platform event that is not a customer message (an agent's reply, a slash
        command); ``False`` if it was seen before, so a retried delivery is not acted on twice."""
        ...

    async def record_reply(
        self, inbound_id: int, conversation_key: str, platform: str, text: str
    ) -> int | None:
        """Record the bot's reply to ``inbound_id``; ``None`` if one was already recorded."""
        ...

    async def record_outbound(
        self,
        conversation_key: str,
        platform: str,
        text: str,
        role: str = "system",
        post: Callable[[int], Post] | None = None,
    ) -> int:
        """Record a message the bot posted that answers no inbound (relay, notice).
        ``post``: given the new message's id, what to queue in the outbox in the same
        transaction."""
        ...

    async def set_platform_id(self, message_id: int, platform_message_id: str) -> None:
        """Remember the platform's id of a message the bot posted."""
        ...

    async def history(self, key: str, limit: int = 10) -> list[StoredMessage]:
        """The conversation's latest messages since its context was last cleared, oldest first;
        third parties' messages are not part of it (they are not the customer's words)."""
        ...

    async def count_replies(self, inbound_id: int) -> int:
        """How many bot replies are recorded for ``inbound_id`` (0 or 1 by construction)."""
        ...

    async def rate(self, reply_id: int, user: str, rating: int) -> str | None:
        """Rate the bot reply ``reply_id`` (+1 or -1) as ``user``; a second rating by the same
        user replaces the first. Returns the knowledge entry it answered from, or ``None``
        (nothing stored) when ``reply_id`` is not a bot reply answered from the knowledge base."""
        ...

    async def ratings_for(self, entry_id: str) -> tuple[int, int]:
        """``(up, down)``: how many 👍 and 👎 the answers from ``entry_id`` received."""
        ...

    async def reply_language(self, reply_id: int) -> str | None:
        """The language of the customer message the bot reply ``reply_id`` answers."""
        ...

    async def open_handoff(
        self,
        key: str,
        *,
        reason: str,
        summary: str,
        intent: str,
        emotion: str,
        language: str,
    ) -> int:
        """Record a new handoff for ``key``; its ticket is claimed by the caller, who posts it."""
        ...

    async def escalate(
        self,
        key: str,
        *,
        reason: str,
        summary: str,
        intent: str,
        emotion: str,
        language: str,
    ) -> int | None:
        """Hand ``key`` over in one transaction: the conversation moves from ``bot`` to
        ``waiting_human`` and its handoff is opened, so a crash leaves either both or neither.
        A handoff whose customer's notice failed (:meth:`cancel_handoff`) is reopened under
        its number, its ticket claimed again; otherwise a new one is recorded, its ticket
        claimed by the caller, who posts it. ``None`` (nothing changed) unless the
        conversation was the bot's."""
        ...

    async def current_handoff(self, key: str) -> Handoff | None:
        """The conversation's open handoff (not resolved, its notice not failed), if any."""
        ...

    async def handoff_by_thread(self, thread_ref: str) -> Handoff | None:
        """The newest handoff whose agents' thread is ``thread_ref`` (resolved or not)."""
        ...

    async def cancel_handoff(self, handoff_id: int) -> None:
        """Put off a handoff whose notice never reached the customer: the conversation is the
        bot's again, so the retry of the message hands it over again, notice first, and
        :meth:`escalate` then reopens this handoff under the same number (its ticket's buttons,
        if one was posted, stay bound to it). Meanwhile it is not open: agents' clicks on it are
        refused and no ticket is posted for it. Nothing changes once somebody has taken the
        conversation (the handoff is theirs)."""
        ...

    async def claim_ticket(self, handoff_id: int) -> bool:
        """Claim posting the ticket of an open handoff that has no thread yet and whose last
        claim (at creation, or by another sweep) has expired; ``False`` if someone holds it."""
        ...

    async def release_ticket(self, handoff_id: int, post: Post | None = None) -> None:
        """Free the claim on a ticket that could not be posted, for the next sweep.
        ``post``: queued in the outbox in the same transaction."""
        ...

    async def handoff_by_id(self, handoff_id: int) -> Handoff | None:
        """The handoff numbered ``handoff_id`` (the ``#id`` on its ticket)."""
        ...

    async def open_handoffs(self) -> list[Handoff]:
        """Every open handoff (not resolved, its notice not failed), oldest first."""
        ...

    async def update_handoff(self, handoff_id: int, **fields: str | float | None) -> None:
        """Set ``agent``, ``thread_ref``, ``taken_at`` or ``resolved_at`` of a handoff."""
        ...

    async def save_summary(self, handoff_id: int, summary: str) -> None:
        """Replace the stored summary of handoff ``handoff_id`` (sealed), e.g. with the LLM's."""
        ...

    async def save_suggestion(self, handoff_id: int, text: str) -> None:
        """Store the suggested reply of handoff ``handoff_id`` (sealed)."""
        ...

    async def suggestion_of(self, handoff_id: int) -> str | None:
        """The suggested reply of handoff ``handoff_id``; ``None`` if it has none (or it was
        sealed with a key the store no longer has)."""
        ...

    async def customer_messages(self, key: str, limit: int) -> list[CustomerMessage]:
        """The customer's latest ``limit`` messages of conversation ``key`` since its context
        was cleared, oldest first (not third parties')."""
        ...

    async def resolved_handoffs(
        self, intent: str, *, limit: int, lines_each: int
    ) -> list[ResolvedHandoff]:
        """The latest ``limit`` resolved handoffs with ``intent``, newest first, each with its
        first ``lines_each`` agent messages."""
        ...

    async def import_entries(self, entries: Sequence[Entry], source: str) -> tuple[int, int]:
        """Upsert imported entries; returns ``(added, updated)``; unchanged ones are neither."""
        ...

    def imported_entries_sync(self) -> list[Entry]:
        """Entries added with ``ondo kb import`` (for start-up, before the loop runs)."""
        ...

    def knowledge_changes(self) -> AsyncIterator[str] | None:
        """A notification each time any process changes the stored knowledge (``None``: poll
        :meth:`knowledge_version`)."""
        ...

    async def knowledge_version(self) -> KnowledgeVersion:
        """The stored knowledge's version (see :data:`bot.storage.records.KnowledgeVersion`)."""
        ...

    def knowledge_version_sync(self) -> KnowledgeVersion:
        """:meth:`knowledge_version`, blocking (for start-up, before the loop runs)."""
        ...
