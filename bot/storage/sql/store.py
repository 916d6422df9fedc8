"""The store, written once for SQLite and PostgreSQL: conversations, messages, handoffs,
ratings, embeddings and imported knowledge, with its corrections, retention and insights as
parts over the same database.

Uniqueness lives in the schema (see :mod:`bot.storage.schema`), which is what makes duplicate
handling hold across restarts and across processes sharing the database.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from contextvars import ContextVar
from typing import Any, Literal

import numpy as np

from bot.storage.crypto import CipherError
from bot.storage.records import (
    Conversation,
    CustomerMessage,
    Handoff,
    Inbound,
    KnowledgeVersion,
    Pending,
    Post,
    RecentActivity,
    ResolvedHandoff,
    StoredMessage,
    new_token,
)
from bot.storage.sql.corrections import SqlCorrections
from bot.storage.sql.database import Bound, Database, Sql
from bot.storage.sql.desk import SqlDesk
from bot.storage.sql.entries import load_entry, upsert_entry
from bot.storage.sql.insights import SqlInsights
from bot.storage.sql.journeys import SqlJourneys
from bot.storage.sql.outbox import SqlOutbox
from bot.storage.sql.replicas import SqlReplicas, cutoffs, free_claim
from bot.storage.sql.retention import SqlRetention
from bot.storage.sql.reviews import SqlReviews
from bot.types import Emotion, Message, State
from knowledge.embedders import Vectors
from knowledge.entries import Entry

_HANDOFF_COLUMNS = (
    "id, conversation_key, reason, summary, agent, thread_ref, created_at, taken_at, resolved_at,"
    " intent, emotion, language, button_token, notice_failed_at, ticket_attempts"
)
_OPEN = "resolved_at IS NULL AND notice_failed_at IS NULL"
"""An open handoff: not resolved, and its customer's notice did not fail."""
_OPEN_H = "h.resolved_at IS NULL AND h.notice_failed_at IS NULL"
CLAIM_LEASE_SECONDS = 120.0
"""A claimed inbound message whose processing never finished may be retried after this."""
KNOWLEDGE_CHANNEL = "ondo_kb"
"""Notified (on PostgreSQL) in the transaction of every change to the stored knowledge."""
_HELD: ContextVar[tuple[int, frozenset[str]]] = ContextVar(
    "ondo_held_conversations", default=(0, frozenset())
)
"""The conversations the running task holds, with the task's id: a task it starts inherits the
variable but not the hold (:meth:`SqlStore.conversation_lock` re-enters only in the holder)."""
_POSTED_REPLY = (
    "SELECT 1 FROM messages r WHERE r.in_reply_to = ? AND r.direction = 'out' "
    "AND (r.platform_message_id IS NOT NULL OR r.role != 'bot')"
)
"""A reply that reached the platform (a bot reply gets its platform id once posted)."""


class SqlStore(Bound):
    """:class:`bot.storage.interface.Store` over a :class:`Database` of either backend (opened
    by :class:`bot.storage.sqlite.SQLiteStore` or :class:`bot.storage.postgres.PostgresStore`);
    close with :meth:`close`."""

    def __init__(self, database: Database) -> None:
        super().__init__(database)
        self.corrections = SqlCorrections(database)
        self.retention = SqlRetention(database)
        self.insights = SqlInsights(database)
        self.replicas = SqlReplicas(database)
        self.outbox = SqlOutbox(database)
        self.journeys = SqlJourneys(database, self.outbox)
        self.reviews = SqlReviews(database)
        self.desk = SqlDesk(database)
        self._locks: dict[str, asyncio.Lock] = {}

    @property
    def shared(self) -> bool:
        """Whether processes on other machines may share this store (PostgreSQL)."""
        return self._database.shared

    @property
    def label(self) -> str:
        """The database's name for health reports and logs (never with a password)."""
        return self._database.name

    async def exclusive(self, name: str, *, wait: bool) -> AbstractAsyncContextManager[None] | None:
        """Hold ``name`` (a Discord shard) against every other process until the returned
        context exits; ``None`` when another holds it and ``wait`` is false."""
        return await self._database.exclusive(name, wait=wait)

    @asynccontextmanager
    async def conversation_lock(self, key: str, *, wait: bool = True) -> AsyncIterator[bool]:
        """Hold conversation ``key`` while one message of it is handled: other tasks here wait
        their turn in order (an ``asyncio.Lock``), other replicas on the database's lock. A
        task that holds it already (a ticket's thread opening, then the messages that waited
        for it) goes on. Yields whether it is held: without ``wait`` (the recovery sweep),
        ``False`` at once when another task or replica holds it."""
        owner, held = _HELD.get()
        task = id(asyncio.current_task())
        if owner != task:
            held = frozenset()
        if key in held:
            yield True
            return
        lock = self._locks.setdefault(key, asyncio.Lock())
        if lock.locked() and not wait:
            yield False
            return
        try:
            async with lock, self._database.conversation_lock(key, wait=wait) as mine:
                if not mine:
                    yield False
                    return
                token = _HELD.set((task, held | {key}))
                try:
                    yield True
                finally:
                    _HELD.reset(token)
        finally:
            if not lock.locked() and self._locks.get(key) is lock:
                del self._locks[key]

    def close(self) -> None:
        """Finish pending work and close the connection."""
        self._database.close()

    async def writable(self) -> bool:
        """Whether the database takes writes right now (for health checks)."""

        def run() -> bool:
            try:
                self._database.probe_write()
                return True
            except Exception:
                return False

        try:
            return await asyncio.wait_for(self._run(run), 5.0)
        except TimeoutError:
            return False

    # --- conversations -------------------------------------------------------------------

    async def conversation(self, key: str, platform: str) -> Conversation:
        """The conversation ``key``, created in state ``bot`` when new."""
        return await self._run(lambda: self._conversation(key, platform))

    def _conversation(self, key: str, platform: str) -> Conversation:
        now = time.time()
        with self._write():
            self._sql.execute(
                "INSERT INTO conversations (key, platform, created_at, updated_at) "
                "VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                [key, platform, now, now],
            )
        row = self._one(
            "SELECT key, platform, state, language, last_emotion, misses, context_since "
            "FROM conversations WHERE key = ?",
            [key],
        )
        assert row is not None
        return Conversation(*row)

    async def conversation_owner(self, key: str) -> str | None:
        """The user who opened conversation ``key`` (whose conversation it is), if known."""
        row = await self._run(
            lambda: self._one("SELECT owner FROM conversations WHERE key = ?", [key])
        )
        return str(row[0]) if row and row[0] else None

    async def has_conversation(self, key: str) -> bool:
        """Whether ``key`` is a stored conversation (without creating it)."""
        row = await self._run(lambda: self._one("SELECT 1 FROM conversations WHERE key = ?", [key]))
        return row is not None

    async def set_state(self, key: str, state: State, *, expected: Sequence[State] = ()) -> bool:
        """Move ``key`` to ``state``; with ``expected``, only from one of those states.

        Returns whether the row changed, so two racing writers cannot both win.
        """

        def run() -> bool:
            sql = "UPDATE conversations SET state = ?, updated_at = ? WHERE key = ?"
            params: list[Any] = [state, time.time(), key]
            if expected:
                sql += f" AND state IN ({', '.join('?' for _ in expected)})"
                params.extend(expected)
            with self._write():
                return self._sql.execute(sql, params).rowcount == 1

        return await self._run(run)

    async def note_turn(self, key: str, *, language: str, emotion: Emotion, misses: int) -> None:
        """Remember the latest language, emotion and consecutive-miss count."""

        def run() -> None:
            with self._write():
                self._sql.execute(
                    "UPDATE conversations SET language = ?, last_emotion = ?, "
                    "last_emotion_score = ?, misses = ?, updated_at = ? WHERE key = ?",
                    [language, emotion.label, emotion.score, misses, time.time(), key],
                )

        await self._run(run)

    async def clear_context(self, key: str) -> None:
        """Forget the conversation's context: later history starts after the newest message."""

        def run() -> None:
            with self._write():
                self._sql.execute(
                    "UPDATE conversations SET misses = 0, context_since = "
                    "(SELECT COALESCE(MAX(id), 0) FROM messages WHERE conversation_key = ?), "
                    "updated_at = ? WHERE key = ?",
                    [key, time.time(), key],
                )

        await self._run(run)

    # --- messages ------------------------------------------------------------------------

    async def record_inbound(self, message: Message, role: str = "customer") -> Inbound:
        """Store an inbound message before anything else happens to it.

        A second delivery of the same platform message id is a duplicate; it is processed
        again only if the first delivery never finished (no reply, claim expired).

        The first customer to write in a conversation owns it; a ``customer`` message by
        anybody else there is recorded (and returned) as ``third_party``: it is theirs, never
        the owner's. The returned :attr:`Inbound.role` is the role stored.
        """
        return await self._run(lambda: self._record_inbound(message, role))

    def _record_inbound(self, message: Message, role: str) -> Inbound:
        now = time.time()
        key = message.conversation_key
        self._conversation(key, message.platform)
        with self._write():
            if role == "customer":
                # One statement, so two people writing first at once cannot both own it.
                self._sql.execute(
                    "UPDATE conversations SET owner = ? WHERE key = ? AND owner IS NULL",
                    [message.user, key],
                )
                owner = self._one("SELECT owner FROM conversations WHERE key = ?", [key])
                if owner is not None and owner[0] != message.user:
                    role = "third_party"
            new_id = self._sql.insert(
                "INSERT INTO messages (conversation_key, platform, platform_message_id,"
                ' direction, role, "user", text, claimed_at, created_at, audience, claimed_by) '
                "VALUES (?, ?, ?, 'in', ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                [
                    message.conversation_key,
                    message.platform,
                    message.message_id,
                    role,
                    message.user,
                    self.cipher.seal(message.text),
                    now,
                    now,
                    "staff" if message.role == "staff" else None,
                    self.replicas.current,
                ],
            )
            if new_id is not None:
                return Inbound(new_id, duplicate=False, process=True, role=role)
            row = self._one(
                "SELECT id, role FROM messages WHERE platform = ? AND platform_message_id = ? "
                "AND direction = 'in'",
                [message.platform, message.message_id],
            )
            assert row is not None
            inbound_id, role = int(row[0]), str(row[1])
            claimed = self._sql.execute(
                "UPDATE messages SET claimed_at = ?, claimed_by = ?, attempts = attempts + 1 "
                "WHERE id IN (SELECT m.id FROM messages m WHERE m.id = ? AND "
                f"{free_claim('m.claimed_at', 'm.claimed_by')} AND m.handled_at IS NULL "
                f"AND NOT EXISTS ({_POSTED_REPLY}){self._database.skip_locked})",
                [
                    now,
                    self.replicas.current,
                    inbound_id,
                    *cutoffs(now, CLAIM_LEASE_SECONDS),
                    inbound_id,
                ],
            ).rowcount
        return Inbound(inbound_id, duplicate=True, process=claimed == 1, role=role)

    async def annotate_inbound(self, inbound_id: int, **fields: str | float | bool | None) -> None:
        """Attach analysis results (language, emotion, intent, ...) to an inbound row."""
        allowed = {
            "language",
            "emotion",
            "emotion_score",
            "intent",
            "entry_id",
            "confidence",
            "answered",
            "text",
        }
        unknown = set(fields) - allowed
        if unknown:
            raise ValueError(f"unknown message fields: {sorted(unknown)}")

        values = dict(fields)
        if isinstance(values.get("text"), str):
            values["text"] = self.cipher.seal(str(values["text"]))

        def run() -> None:
            with self._write():
                _update(self._sql, "messages", inbound_id, values)

        await self._run(run)

    async def mark_handled(self, inbound_id: int, post: Post | None = None) -> None:
        """Mark an inbound message as fully handled: a later duplicate is never processed.
        ``post``: queued in the outbox in the same transaction (a relay another replica
        makes)."""

        def run() -> None:
            with self._transaction():
                self._sql.execute(
                    "UPDATE messages SET handled_at = ? WHERE id = ?", [time.time(), inbound_id]
                )
                if post is not None:
                    self.outbox.write(post)

        await self._run(run)

    async def unclaim(self, inbound_id: int) -> None:
        """Give up the claim on an inbound message so the recovery sweep can take it now."""

        def run() -> None:
            with self._write():
                self._sql.execute("UPDATE messages SET claimed_at = 0 WHERE id = ?", [inbound_id])

        await self._run(run)

    async def unposted_reply(self, inbound_id: int) -> tuple[int, str] | None:
        """``(reply id, text)`` of a reply to ``inbound_id`` recorded but never marked posted
        (the process died between recording and posting it)."""
        row = await self._run(
            lambda: self._one(
                "SELECT id, text FROM messages WHERE in_reply_to = ? AND direction = 'out' "
                "AND platform_message_id IS NULL",
                [inbound_id],
            )
        )
        return (int(row[0]), self.cipher.open(row[1])) if row else None

    async def release(self, inbound_id: int, reply_id: int) -> None:
        """Undo a reply that could not be posted, so a redelivery of the inbound is processed."""

        def run() -> None:
            with self._write():
                self._sql.execute(
                    "DELETE FROM messages WHERE id = ? AND direction = 'out'", [reply_id]
                )
                self._sql.execute("UPDATE messages SET claimed_at = 0 WHERE id = ?", [inbound_id])

        await self._run(run)

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
        keys = [] if conversation_key is None else [conversation_key]
        only_key = " AND i.conversation_key = ?" if keys else ""

        def run() -> list[Pending]:
            marks = ", ".join("?" for _ in platforms)
            now = time.time()
            rows = self._sql.execute(
                'SELECT i.id, i.platform, i.conversation_key, i."user", i.text, i.created_at, '
                "i.platform_message_id, i.attempts, i.audience FROM messages i "
                f"WHERE i.direction = 'in' AND i.role = 'customer' AND i.platform IN ({marks}) "
                "AND i.handled_at IS NULL AND i.created_at >= ? "
                f"AND {free_claim('i.claimed_at', 'i.claimed_by')} "
                "AND i.attempts < ? AND i.platform_message_id IS NOT NULL "
                f"AND NOT EXISTS ({_POSTED_REPLY.replace('= ?', '= i.id')}){only_key} "
                "ORDER BY i.id",
                [*platforms, since, *cutoffs(now, CLAIM_LEASE_SECONDS), max_attempts, *keys],
            ).fetchall()
            return [
                Pending(
                    int(row[0]),
                    Message(
                        platform=row[1],
                        conversation_key=row[2],
                        user=row[3],
                        text=self.cipher.open(row[4]),
                        timestamp=float(row[5]),
                        message_id=row[6],
                        role="staff" if row[8] == "staff" else "customer",
                    ),
                    int(row[7]),
                )
                for row in rows
            ]

        if not platforms:
            return []
        return await self._run(run)

    async def recent_activity(
        self, platform: str, *, lookback: float, limit: int
    ) -> RecentActivity | None:
        """The newest inbound message time on ``platform`` and up to ``limit`` conversations
        with inbound messages in the ``lookback`` seconds before it, most recent first;
        ``None`` when nothing was ever recorded there."""

        def run() -> RecentActivity | None:
            row = self._one(
                "SELECT MAX(created_at) FROM messages WHERE platform = ? AND direction = 'in'",
                [platform],
            )
            if row is None or row[0] is None:
                return None
            last = float(row[0])
            keys = self._sql.execute(
                "SELECT conversation_key FROM messages WHERE platform = ? AND direction = 'in' "
                "AND created_at >= ? GROUP BY conversation_key ORDER BY MAX(created_at) DESC "
                "LIMIT ?",
                [platform, last - lookback, limit],
            ).fetchall()
            return RecentActivity(last, tuple(str(k[0]) for k in keys))

        return await self._run(run)

    async def first_sighting(self, platform: str, event_id: str, kind: str) -> bool:
        """Record a platform event that is not a customer message (an agent's reply, a slash
        command); ``False`` if it was seen before, so a retried delivery is not acted on twice."""

        def run() -> bool:
            with self._write():
                cursor = self._sql.execute(
                    "INSERT INTO seen_events (platform, event_id, kind, seen_at) "
                    "VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                    [platform, event_id, kind, time.time()],
                )
            return cursor.rowcount == 1

        return await self._run(run)

    async def record_reply(
        self, inbound_id: int, conversation_key: str, platform: str, text: str
    ) -> int | None:
        """Record the bot's reply to ``inbound_id``; ``None`` if one was already recorded."""

        def run() -> int | None:
            with self._write():
                return self._sql.insert(
                    "INSERT INTO messages (conversation_key, platform, direction, role,"
                    " text, in_reply_to, created_at) VALUES (?, ?, 'out', 'bot', ?, ?, ?)"
                    " ON CONFLICT DO NOTHING",
                    [conversation_key, platform, self.cipher.seal(text), inbound_id, time.time()],
                )

        return await self._run(run)

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
        transaction (when another replica posts it)."""

        def run() -> int:
            with self._transaction():
                new_id = self._sql.insert(
                    "INSERT INTO messages (conversation_key, platform, direction, role, text,"
                    " created_at) VALUES (?, ?, 'out', ?, ?, ?)",
                    [conversation_key, platform, role, self.cipher.seal(text), time.time()],
                )
                assert new_id is not None
                if post is not None:
                    self.outbox.write(post(new_id))
            return new_id

        return await self._run(run)

    async def set_platform_id(self, message_id: int, platform_message_id: str) -> None:
        """Remember the platform's id of a message the bot posted."""

        def run() -> None:
            with self._write():
                self._sql.execute(
                    "UPDATE messages SET platform_message_id = ? WHERE id = ?",
                    [platform_message_id, message_id],
                )

        await self._run(run)

    async def history(self, key: str, limit: int = 10) -> list[StoredMessage]:
        """The conversation's latest messages since its context was last cleared, oldest first;
        third parties' messages are not part of it (they are not the customer's words)."""

        def run() -> list[StoredMessage]:
            rows = self._sql.execute(
                "SELECT m.id, m.role, m.text, m.emotion, m.intent, m.created_at FROM messages m "
                "JOIN conversations c ON c.key = m.conversation_key "
                "WHERE m.conversation_key = ? AND m.id > c.context_since "
                "AND m.role != 'third_party' "
                "ORDER BY m.id DESC LIMIT ?",
                [key, limit],
            ).fetchall()
            return [
                StoredMessage(row[0], row[1], self.cipher.open(row[2]), *row[3:])
                for row in reversed(rows)
            ]

        return await self._run(run)

    async def count_replies(self, inbound_id: int) -> int:
        """How many bot replies are recorded for ``inbound_id`` (0 or 1 by construction)."""
        row = await self._run(
            lambda: self._one(
                "SELECT COUNT(*) FROM messages WHERE in_reply_to = ? AND direction = 'out'",
                [inbound_id],
            )
        )
        return int(row[0]) if row else 0

    # --- ratings -------------------------------------------------------------------------

    async def rate(self, reply_id: int, user: str, rating: int) -> str | None:
        """Rate the bot reply ``reply_id`` (+1 or -1) as ``user``; a second rating by the same
        user replaces the first. Returns the knowledge entry it answered from, or ``None``
        (nothing stored) when ``reply_id`` is not a bot reply answered from the knowledge base.
        """
        if rating not in (1, -1):
            raise ValueError(f"a rating is +1 or -1, not {rating!r}")

        def run() -> str | None:
            row = self._one(
                "SELECT i.entry_id FROM messages r JOIN messages i ON i.id = r.in_reply_to "
                "WHERE r.id = ? AND r.direction = 'out' AND r.role = 'bot'",
                [reply_id],
            )
            if row is None or row[0] is None:
                return None
            entry_id = str(row[0])
            with self._write():
                self._sql.execute(
                    'INSERT INTO ratings (message_id, entry_id, rating, "user", created_at) '
                    'VALUES (?, ?, ?, ?, ?) ON CONFLICT (message_id, "user") DO UPDATE SET '
                    "rating = excluded.rating, created_at = excluded.created_at",
                    [reply_id, entry_id, rating, user, time.time()],
                )
            return entry_id

        return await self._run(run)

    async def ratings_for(self, entry_id: str) -> tuple[int, int]:
        """``(up, down)``: how many 👍 and 👎 the answers from ``entry_id`` received."""
        row = await self._run(
            lambda: self._one(
                "SELECT COALESCE(SUM(CASE WHEN rating = 1 THEN 1 ELSE 0 END), 0), "
                "COALESCE(SUM(CASE WHEN rating = -1 THEN 1 ELSE 0 END), 0) "
                "FROM ratings WHERE entry_id = ?",
                [entry_id],
            )
        )
        return (int(row[0]), int(row[1])) if row else (0, 0)

    async def reply_language(self, reply_id: int) -> str | None:
        """The language of the customer message the bot reply ``reply_id`` answers."""
        row = await self._run(
            lambda: self._one(
                "SELECT i.language FROM messages r JOIN messages i ON i.id = r.in_reply_to "
                "WHERE r.id = ? AND r.direction = 'out'",
                [reply_id],
            )
        )
        return str(row[0]) if row and row[0] else None

    # --- handoffs ------------------------------------------------------------------------

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
        now = time.time()

        def run() -> int:
            with self._write():
                return self._insert_handoff(key, reason, summary, intent, emotion, language, now)

        return await self._run(run)

    def _insert_handoff(
        self,
        key: str,
        reason: str,
        summary: str,
        intent: str,
        emotion: str,
        language: str,
        now: float,
    ) -> int:
        token = new_token()
        new_id = self._sql.insert(
            "INSERT INTO handoffs (conversation_key, reason, summary, intent, emotion, language,"
            " created_at, ticket_claimed_at, button_token, ticket_attempts, ticket_claimed_by)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?)",
            [
                key,
                reason,
                self.cipher.seal(summary),
                intent,
                emotion,
                language,
                now,
                now,
                token,
                self.replicas.current,
            ],
        )
        assert new_id is not None
        return new_id

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
        now = time.time()

        def run() -> int | None:
            with self._transaction():
                moved = self._sql.execute(
                    "UPDATE conversations SET state = 'waiting_human', updated_at = ? "
                    "WHERE key = ? AND state = 'bot'",
                    [now, key],
                ).rowcount
                if moved != 1:
                    return None
                row = self._one(
                    "SELECT id FROM handoffs WHERE conversation_key = ? AND resolved_at IS NULL "
                    "AND notice_failed_at IS NOT NULL ORDER BY id DESC LIMIT 1",
                    [key],
                )
                if row is None:
                    return self._insert_handoff(
                        key, reason, summary, intent, emotion, language, now
                    )
                self._sql.execute(
                    "UPDATE handoffs SET reason = ?, summary = ?, intent = ?, emotion = ?, "
                    "language = ?, notice_failed_at = NULL, ticket_claimed_at = ?, "
                    "ticket_claimed_by = ?, ticket_attempts = ticket_attempts + 1 WHERE id = ?",
                    [
                        reason,
                        self.cipher.seal(summary),
                        intent,
                        emotion,
                        language,
                        now,
                        self.replicas.current,
                        row[0],
                    ],
                )
                return int(row[0])

        return await self._run(run)

    async def current_handoff(self, key: str) -> Handoff | None:
        """The conversation's open handoff (not resolved, its notice not failed), if any."""

        def run() -> Handoff | None:
            row = self._one(
                f"SELECT {_HANDOFF_COLUMNS} FROM handoffs WHERE "
                f"conversation_key = ? AND {_OPEN} ORDER BY id DESC LIMIT 1",
                [key],
            )
            return self._handoff(row) if row else None

        return await self._run(run)

    async def handoff_by_thread(self, thread_ref: str) -> Handoff | None:
        """The newest handoff whose agents' thread is ``thread_ref`` (resolved or not)."""

        def run() -> Handoff | None:
            row = self._one(
                f"SELECT {_HANDOFF_COLUMNS} FROM handoffs WHERE "
                "thread_ref = ? "
                "ORDER BY id DESC LIMIT 1",
                [thread_ref],
            )
            return self._handoff(row) if row else None

        return await self._run(run)

    async def cancel_handoff(self, handoff_id: int) -> None:
        """Put off a handoff whose notice never reached the customer: the conversation is the
        bot's again, so the retry of the message hands it over again, notice first, and
        :meth:`escalate` then reopens this handoff under the same number (its ticket's buttons,
        if one was posted, stay bound to it). Meanwhile it is not open: agents' clicks on it are
        refused and no ticket is posted for it. Nothing changes once somebody has taken the
        conversation (the handoff is theirs)."""
        now = time.time()

        def run() -> None:
            with self._transaction():
                row = self._one(
                    "SELECT conversation_key FROM handoffs WHERE id = ? AND resolved_at IS NULL",
                    [handoff_id],
                )
                if row is None:
                    return
                moved = self._sql.execute(
                    "UPDATE conversations SET state = 'bot', updated_at = ? "
                    "WHERE key = ? AND state = 'waiting_human'",
                    [now, row[0]],
                ).rowcount
                if moved == 1:
                    self._sql.execute(
                        "UPDATE handoffs SET notice_failed_at = ?, ticket_claimed_at = NULL "
                        "WHERE id = ?",
                        [now, handoff_id],
                    )

        await self._run(run)

    async def claim_ticket(self, handoff_id: int) -> bool:
        """Claim posting the ticket of an open handoff that has no thread yet and whose last
        claim (at creation, or by another sweep) has expired; ``False`` if someone holds it."""
        now = time.time()

        def run() -> bool:
            with self._write():
                cursor = self._sql.execute(
                    "UPDATE handoffs SET ticket_claimed_at = ?, ticket_claimed_by = ?, "
                    "ticket_attempts = ticket_attempts + 1 WHERE id IN (SELECT h.id FROM "
                    f"handoffs h WHERE h.id = ? AND h.thread_ref IS NULL AND {_OPEN_H} AND "
                    "(h.ticket_claimed_at IS NULL OR "
                    f"{free_claim('h.ticket_claimed_at', 'h.ticket_claimed_by')})"
                    f"{self._database.skip_locked})",
                    [now, self.replicas.current, handoff_id, *cutoffs(now, CLAIM_LEASE_SECONDS)],
                )
            return cursor.rowcount == 1

        return await self._run(run)

    async def release_ticket(self, handoff_id: int, post: Post | None = None) -> None:
        """Free the claim on a ticket that could not be posted, for the next sweep.
        ``post``: queued in the outbox in the same transaction (the desk's replica posts
        the ticket)."""

        def run() -> None:
            with self._transaction():
                self._sql.execute(
                    "UPDATE handoffs SET ticket_claimed_at = NULL WHERE id = ?", [handoff_id]
                )
                if post is not None:
                    self.outbox.write(post)

        await self._run(run)

    async def handoff_by_id(self, handoff_id: int) -> Handoff | None:
        """The handoff numbered ``handoff_id`` (the ``#id`` on its ticket)."""
        row = await self._run(
            lambda: self._one(f"SELECT {_HANDOFF_COLUMNS} FROM handoffs WHERE id = ?", [handoff_id])
        )
        return self._handoff(row) if row else None

    async def open_handoffs(self) -> list[Handoff]:
        """Every open handoff (not resolved, its notice not failed), oldest first."""

        def run() -> list[Handoff]:
            rows = self._sql.execute(
                f"SELECT {_HANDOFF_COLUMNS} FROM handoffs WHERE {_OPEN} ORDER BY id"
            ).fetchall()
            return [self._handoff(row) for row in rows]

        return await self._run(run)

    def _handoff(self, row: Sequence[Any]) -> Handoff:
        return Handoff(row[0], row[1], row[2], self.cipher.open(row[3]), *row[4:])

    async def update_handoff(self, handoff_id: int, **fields: str | float | None) -> None:
        """Set ``agent``, ``thread_ref``, ``taken_at`` or ``resolved_at`` of a handoff."""
        unknown = set(fields) - {"agent", "thread_ref", "taken_at", "resolved_at"}
        if unknown:
            raise ValueError(f"unknown handoff fields: {sorted(unknown)}")

        def run() -> None:
            with self._write():
                _update(self._sql, "handoffs", handoff_id, dict(fields))

        await self._run(run)

    async def save_summary(self, handoff_id: int, summary: str) -> None:
        """Replace the stored summary of handoff ``handoff_id`` (sealed), e.g. with the LLM's."""
        await self._seal_into(handoff_id, "summary", summary)

    async def save_suggestion(self, handoff_id: int, text: str) -> None:
        """Store the suggested reply of handoff ``handoff_id`` (sealed)."""
        await self._seal_into(handoff_id, "suggestion", text)

    async def _seal_into(
        self, handoff_id: int, column: Literal["summary", "suggestion"], text: str
    ) -> None:
        def run() -> None:
            with self._write():
                self._sql.execute(
                    f"UPDATE handoffs SET {column} = ? WHERE id = ?",
                    [self.cipher.seal(text), handoff_id],
                )

        await self._run(run)

    async def save_thread_state(self, key: str, state: str) -> None:
        """Keep ``state`` (a channel's JSON, sealed at rest) for conversation ``key``, replacing
        what was kept; it goes with the conversation when that is deleted."""
        sealed = self.cipher.seal(state)

        def run() -> None:
            with self._write():
                self._sql.execute(
                    "INSERT INTO thread_states (conversation_key, state, updated_at) "
                    "VALUES (?, ?, ?) ON CONFLICT (conversation_key) DO UPDATE SET "
                    "state = excluded.state, updated_at = excluded.updated_at",
                    [key, sealed, time.time()],
                )

        await self._run(run)

    async def thread_state(self, key: str) -> str | None:
        """The state kept for conversation ``key``; ``None`` when none is (or it was sealed
        with a key the store no longer has)."""

        sql = "SELECT state FROM thread_states WHERE conversation_key = ?"
        return await self._run(lambda: self._opened(sql, [key]))

    async def suggestion_of(self, handoff_id: int) -> str | None:
        """The suggested reply of handoff ``handoff_id``; ``None`` if it has none (or it was
        sealed with a key the store no longer has)."""

        sql = "SELECT suggestion FROM handoffs WHERE id = ?"
        return await self._run(lambda: self._opened(sql, [handoff_id]))

    def _opened(self, sql: str, params: list[Any]) -> str | None:
        """The sealed text ``sql`` selects, opened; ``None`` when there is none (or it was
        sealed with a key the store no longer has)."""
        row = self._one(sql, params)
        if row is None or not row[0]:
            return None
        try:
            return self.cipher.open(row[0])
        except CipherError:
            return None

    async def customer_messages(self, key: str, limit: int) -> list[CustomerMessage]:
        """The customer's latest ``limit`` messages of conversation ``key`` since its context
        was cleared, oldest first (not third parties')."""

        def run() -> list[CustomerMessage]:
            rows = self._sql.execute(
                "SELECT m.text, m.emotion, m.entry_id, m.answered, m.language FROM messages m "
                "JOIN conversations c ON c.key = m.conversation_key "
                "WHERE m.conversation_key = ? AND m.id > c.context_since AND m.direction = 'in' "
                "AND m.role = 'customer' ORDER BY m.id DESC LIMIT ?",
                [key, limit],
            ).fetchall()
            return [
                CustomerMessage(
                    self.cipher.open(text), emotion, entry_id if answered else None, language
                )
                for text, emotion, entry_id, answered, language in reversed(rows)
            ]

        return await self._run(run)

    async def resolved_handoffs(
        self, intent: str, *, limit: int, lines_each: int
    ) -> list[ResolvedHandoff]:
        """The latest ``limit`` resolved handoffs with ``intent``, newest first, each with its
        first ``lines_each`` agent messages."""

        def run() -> list[ResolvedHandoff]:
            rows = self._sql.execute(
                "SELECT id, conversation_key, created_at, resolved_at, language FROM handoffs "
                "WHERE intent = ? AND resolved_at IS NOT NULL ORDER BY resolved_at DESC LIMIT ?",
                [intent, limit],
            ).fetchall()
            found = []
            for handoff_id, key, created, resolved, language in rows:
                texts = self._sql.execute(
                    "SELECT text FROM messages WHERE conversation_key = ? AND role = 'agent' "
                    "AND created_at BETWEEN ? AND ? ORDER BY id LIMIT ?",
                    [key, created, resolved, lines_each],
                ).fetchall()
                lines = tuple(self.cipher.open(text[0]) for text in texts)
                found.append(
                    ResolvedHandoff(int(handoff_id), (resolved - created) / 60.0, lines, language)
                )
            return found

        return await self._run(run)

    # --- knowledge -----------------------------------------------------------------------

    def get_vectors(self, model: str, hashes: Sequence[str]) -> dict[str, Vectors]:
        """Cached embeddings among ``hashes`` (a :class:`knowledge.vectors.VectorCache`)."""

        def run() -> dict[str, Vectors]:
            out: dict[str, Vectors] = {}
            for start in range(0, len(hashes), 500):
                chunk = list(hashes[start : start + 500])
                rows = self._sql.execute(
                    "SELECT text_hash, dim, vector FROM embeddings WHERE model = ? AND "
                    f"text_hash IN ({', '.join('?' for _ in chunk)})",
                    [model, *chunk],
                ).fetchall()
                for text_hash, dim, blob in rows:
                    out[text_hash] = np.frombuffer(bytes(blob), dtype=np.float32).reshape(1, dim)
            return out

        return self._database.locked(run)

    def put_vectors(self, model: str, items: Mapping[str, Vectors]) -> None:
        """Store embeddings by text hash."""
        rows = [
            (model, h, int(v.shape[-1]), np.ascontiguousarray(v, dtype=np.float32).tobytes())
            for h, v in items.items()
        ]

        def run() -> None:
            with self._write():
                self._sql.executemany(
                    "INSERT INTO embeddings (model, text_hash, dim, vector) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (model, text_hash) DO UPDATE SET dim = excluded.dim, "
                    "vector = excluded.vector",
                    rows,
                )

        self._database.locked(run)

    async def import_entries(self, entries: Sequence[Entry], source: str) -> tuple[int, int]:
        """Upsert imported entries; returns ``(added, updated)``; unchanged ones are neither."""

        def run() -> tuple[int, int]:
            added = updated = 0
            now = time.time()
            with self._write():
                for entry in entries:
                    row = self._one("SELECT content_hash FROM kb_entries WHERE id = ?", [entry.id])
                    digest = entry.content_hash()
                    if row and row[0] == digest:
                        continue
                    added += row is None
                    updated += row is not None
                    upsert_entry(self._sql, entry, source, now)
                if added or updated:
                    self._database.notify(KNOWLEDGE_CHANNEL, "import")
            return added, updated

        return await self._run(run)

    def imported_entries_sync(self) -> list[Entry]:
        """Entries added with ``ondo kb import`` (for start-up, before the loop runs)."""
        rows = self._database.locked(
            lambda: self._sql.execute("SELECT data FROM kb_entries ORDER BY id").fetchall()
        )
        return [load_entry(r[0]) for r in rows]

    def knowledge_changes(self) -> AsyncIterator[str] | None:
        """A notification each time any process changes the stored knowledge (``None``: this
        database cannot notify; poll :meth:`knowledge_version`)."""
        return self._database.listen(KNOWLEDGE_CHANNEL)

    async def knowledge_version(self) -> KnowledgeVersion:
        """The stored knowledge's version (see :data:`bot.storage.records.KnowledgeVersion`)."""
        return await self._run(self._knowledge_version)

    def knowledge_version_sync(self) -> KnowledgeVersion:
        """:meth:`knowledge_version`, blocking (for start-up, before the loop runs)."""
        return self._database.locked(self._knowledge_version)

    def _knowledge_version(self) -> KnowledgeVersion:
        row = self._one(
            "SELECT (SELECT COALESCE(MAX(id), 0) FROM kb_changes), (SELECT COUNT(*) FROM "
            "kb_entries), (SELECT COALESCE(MAX(imported_at), 0) FROM kb_entries)"
        )
        assert row is not None
        return int(row[0]), int(row[1]), float(row[2])


def _update(sql: Sql, table: str, row_id: int, values: Mapping[str, Any]) -> None:
    """Set ``values`` (column names checked by the caller) on row ``row_id`` of ``table``."""
    if values:
        columns = ", ".join(f"{name} = ?" for name in values)
        sql.execute(f"UPDATE {table} SET {columns} WHERE id = ?", [*values.values(), row_id])
