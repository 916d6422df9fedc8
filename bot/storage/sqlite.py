"""All persistent state in one SQLite file: conversations, messages, handoffs, ratings,
embeddings.

Every call runs on one worker thread that owns the connection, so the event loop never blocks
on disk and writes are serialized. Uniqueness lives in the schema (see ``migrations``), which
is what makes duplicate handling hold across restarts and across processes sharing the file.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import sqlite_utils

from bot.settings import Settings
from bot.storage.crypto import PREFIX, Cipher, CipherError, PlainCipher, cipher_for
from bot.storage.files import create_private
from bot.storage.migrations import migrate
from bot.storage.retention import SEALED_COLUMNS, RetentionMixin
from bot.types import Emotion, Message, State
from knowledge.embedders import Vectors
from knowledge.entries import Entry

T = TypeVar("T")

_HANDOFF_COLUMNS = (
    "id, conversation_key, reason, summary, agent, thread_ref, created_at, taken_at, resolved_at,"
    " intent, emotion, language, button_token, notice_failed_at, ticket_attempts"
)
_OPEN = "resolved_at IS NULL AND notice_failed_at IS NULL"
"""An open handoff: not resolved, and its customer's notice did not fail."""
CLAIM_LEASE_SECONDS = 120.0
"""A claimed inbound message whose processing never finished may be retried after this."""
_POSTED_REPLY = (
    "SELECT 1 FROM messages r WHERE r.in_reply_to = ? AND r.direction = 'out' "
    "AND (r.platform_message_id IS NOT NULL OR r.role != 'bot')"
)
"""A reply that reached the platform (a bot reply gets its platform id once posted)."""


class StoreError(RuntimeError):
    """The database cannot be opened or used; the message says which file and why."""


@dataclass(frozen=True)
class Inbound:
    """The stored row of an inbound message and whether this delivery should be processed."""

    id: int
    duplicate: bool
    process: bool
    role: str = "customer"
    """Whose message it is: ``customer`` (the conversation's owner), ``agent`` or
    ``third_party`` (someone else writing in the customer's thread)."""


@dataclass(frozen=True)
class Conversation:
    """A conversation's durable state."""

    key: str
    platform: str
    state: State
    language: str | None
    last_emotion: str | None
    misses: int
    context_since: int


@dataclass(frozen=True)
class Pending:
    """An inbound customer message that still waits for its answer."""

    id: int
    message: Message
    attempts: int


@dataclass(frozen=True)
class StoredMessage:
    """One stored message, for history and summaries."""

    id: int
    role: str
    text: str
    emotion: str | None
    intent: str | None
    created_at: float


@dataclass(frozen=True)
class Handoff:
    """One hand-over of a conversation to people."""

    id: int
    conversation_key: str
    reason: str
    summary: str
    agent: str | None
    thread_ref: str | None
    created_at: float
    taken_at: float | None
    resolved_at: float | None
    intent: str | None = None
    emotion: str | None = None
    language: str | None = None
    token: str | None = None
    """The random part of its ticket's button ids (``None`` for handoffs from before it)."""
    notice_failed_at: float | None = None
    """Set while the customer's notice could not be posted: the handoff waits, closed to
    agents, for the retry that reopens it under the same number."""
    ticket_attempts: int = 0
    """How many times posting its ticket was claimed (a second one looks first)."""


def new_token() -> str:
    """A fresh button token: 64 random bits, never guessed from the handoff's number."""
    return secrets.token_hex(8)


class Store(RetentionMixin):
    """The SQLite store. Open with :meth:`open`; close with :meth:`close`."""

    def __init__(self, db: sqlite_utils.Database, path: str, cipher: Cipher | None = None) -> None:
        self._db = db
        self.path = path
        self.cipher: Cipher = cipher or PlainCipher()
        self._lock = threading.Lock()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ondo-db")

    @classmethod
    def open(cls, path: str | Path, cipher: Cipher | None = None) -> Store:
        """Open (creating if needed) and migrate the database at ``path`` (``:memory:`` works);
        with a ``cipher`` that encrypts, customer text is stored sealed."""
        name = str(path)
        conn: sqlite3.Connection | None = None
        try:
            if name != ":memory:":
                Path(name).parent.mkdir(parents=True, exist_ok=True)
                create_private(Path(name))  # before SQLite makes it 0644 (and its WAL too)
            conn = sqlite3.connect(name, check_same_thread=False, timeout=10.0)
            conn.execute("PRAGMA foreign_keys = ON")
            if name != ":memory:":
                _enable_wal(conn)
                # Safe in WAL mode: a crash loses nothing committed; only power loss could.
                conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA busy_timeout = 10000")
            # Deleted rows (purge, forget, re-encryption) are overwritten, not left in free pages.
            conn.execute("PRAGMA secure_delete = ON")
            db = sqlite_utils.Database(conn)
            migrate(db)
            _check_cipher(db, cipher or PlainCipher())
            _probe_write(db)
        except (sqlite3.DatabaseError, OSError, CipherError) as exc:
            if conn is not None:
                conn.close()
            hint = _READONLY_HINT if "readonly" in str(exc) else ""
            raise StoreError(f"cannot open database {name}: {exc}{hint}") from None
        return cls(db, name, cipher)

    def close(self) -> None:
        """Finish pending work and close the connection."""
        self._executor.shutdown(wait=True)
        with self._lock:
            self._db.conn.close()

    async def _run(self, fn: Callable[[], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._locked, fn)

    def _locked(self, fn: Callable[[], T]) -> T:
        with self._lock:
            return fn()

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """Several statements as one: sqlite-utils commits each write on its own unless a
        transaction is open, so ``with conn:`` alone does not make them atomic."""
        with self._db.conn:
            self._db.execute("BEGIN IMMEDIATE")
            yield

    def _one(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        row = self._db.execute(sql, list(params)).fetchone()
        return tuple(row) if row is not None else None

    async def writable(self) -> bool:
        """Whether the database takes writes right now (for health checks)."""

        def run() -> bool:
            try:
                _probe_write(self._db)
                return True
            except sqlite3.Error:
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
        with self._db.conn:
            self._db.execute(
                "INSERT OR IGNORE INTO conversations (key, platform, created_at, updated_at) "
                "VALUES (?, ?, ?, ?)",
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
            with self._db.conn:
                return self._db.execute(sql, params).rowcount == 1

        return await self._run(run)

    async def note_turn(self, key: str, *, language: str, emotion: Emotion, misses: int) -> None:
        """Remember the latest language, emotion and consecutive-miss count."""

        def run() -> None:
            with self._db.conn:
                self._db.execute(
                    "UPDATE conversations SET language = ?, last_emotion = ?, "
                    "last_emotion_score = ?, misses = ?, updated_at = ? WHERE key = ?",
                    [language, emotion.label, emotion.score, misses, time.time(), key],
                )

        await self._run(run)

    async def clear_context(self, key: str) -> None:
        """Forget the conversation's context: later history starts after the newest message."""

        def run() -> None:
            with self._db.conn:
                self._db.execute(
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
        with self._db.conn:
            if role == "customer":
                # One statement, so two people writing first at once cannot both own it.
                self._db.execute(
                    "UPDATE conversations SET owner = ? WHERE key = ? AND owner IS NULL",
                    [message.user, key],
                )
                owner = self._one("SELECT owner FROM conversations WHERE key = ?", [key])
                if owner is not None and owner[0] != message.user:
                    role = "third_party"
            cursor = self._db.execute(
                "INSERT OR IGNORE INTO messages (conversation_key, platform, platform_message_id,"
                " direction, role, user, text, claimed_at, created_at, audience) "
                "VALUES (?, ?, ?, 'in', ?, ?, ?, ?, ?, ?)",
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
                ],
            )
            if cursor.rowcount == 1:
                return Inbound(int(cursor.lastrowid or 0), duplicate=False, process=True, role=role)
            row = self._one(
                "SELECT id, role FROM messages WHERE platform = ? AND platform_message_id = ? "
                "AND direction = 'in'",
                [message.platform, message.message_id],
            )
            assert row is not None
            inbound_id, role = int(row[0]), str(row[1])
            claimed = self._db.execute(
                "UPDATE messages SET claimed_at = ?, attempts = attempts + 1 "
                "WHERE id = ? AND claimed_at < ? "
                f"AND handled_at IS NULL AND NOT EXISTS ({_POSTED_REPLY})",
                [now, inbound_id, now - CLAIM_LEASE_SECONDS, inbound_id],
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
            with self._db.conn:
                self._db.table("messages").update(inbound_id, values)

        await self._run(run)

    async def mark_handled(self, inbound_id: int) -> None:
        """Mark an inbound message as fully handled: a later duplicate is never processed."""

        def run() -> None:
            with self._db.conn:
                self._db.execute(
                    "UPDATE messages SET handled_at = ? WHERE id = ?", [time.time(), inbound_id]
                )

        await self._run(run)

    async def unclaim(self, inbound_id: int) -> None:
        """Give up the claim on an inbound message so the recovery sweep can take it now."""

        def run() -> None:
            with self._db.conn:
                self._db.execute("UPDATE messages SET claimed_at = 0 WHERE id = ?", [inbound_id])

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
            with self._db.conn:
                self._db.execute(
                    "DELETE FROM messages WHERE id = ? AND direction = 'out'", [reply_id]
                )
                self._db.execute("UPDATE messages SET claimed_at = 0 WHERE id = ?", [inbound_id])

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
            rows = self._db.execute(
                "SELECT i.id, i.platform, i.conversation_key, i.user, i.text, i.created_at, "
                "i.platform_message_id, i.attempts, i.audience FROM messages i "
                f"WHERE i.direction = 'in' AND i.role = 'customer' AND i.platform IN ({marks}) "
                "AND i.handled_at IS NULL AND i.created_at >= ? AND i.claimed_at < ? "
                "AND i.attempts < ? AND i.platform_message_id IS NOT NULL "
                f"AND NOT EXISTS ({_POSTED_REPLY.replace('= ?', '= i.id')}){only_key} "
                "ORDER BY i.id",
                [*platforms, since, time.time() - CLAIM_LEASE_SECONDS, max_attempts, *keys],
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

    async def first_sighting(self, platform: str, event_id: str, kind: str) -> bool:
        """Record a platform event that is not a customer message (an agent's reply, a slash
        command); ``False`` if it was seen before, so a retried delivery is not acted on twice."""

        def run() -> bool:
            with self._db.conn:
                cursor = self._db.execute(
                    "INSERT OR IGNORE INTO seen_events (platform, event_id, kind, seen_at) "
                    "VALUES (?, ?, ?, ?)",
                    [platform, event_id, kind, time.time()],
                )
            return cursor.rowcount == 1

        return await self._run(run)

    async def record_reply(
        self, inbound_id: int, conversation_key: str, platform: str, text: str
    ) -> int | None:
        """Record the bot's reply to ``inbound_id``; ``None`` if one was already recorded."""

        def run() -> int | None:
            with self._db.conn:
                cursor = self._db.execute(
                    "INSERT OR IGNORE INTO messages (conversation_key, platform, direction, role,"
                    " text, in_reply_to, created_at) VALUES (?, ?, 'out', 'bot', ?, ?, ?)",
                    [conversation_key, platform, self.cipher.seal(text), inbound_id, time.time()],
                )
            return int(cursor.lastrowid or 0) if cursor.rowcount == 1 else None

        return await self._run(run)

    async def record_outbound(
        self, conversation_key: str, platform: str, text: str, role: str = "system"
    ) -> int:
        """Record a message the bot posted that answers no inbound (relay, notice)."""

        def run() -> int:
            with self._db.conn:
                cursor = self._db.execute(
                    "INSERT INTO messages (conversation_key, platform, direction, role, text,"
                    " created_at) VALUES (?, ?, 'out', ?, ?, ?)",
                    [conversation_key, platform, role, self.cipher.seal(text), time.time()],
                )
            return int(cursor.lastrowid or 0)

        return await self._run(run)

    async def set_platform_id(self, message_id: int, platform_message_id: str) -> None:
        """Remember the platform's id of a message the bot posted."""

        def run() -> None:
            with self._db.conn:
                self._db.execute(
                    "UPDATE messages SET platform_message_id = ? WHERE id = ?",
                    [platform_message_id, message_id],
                )

        await self._run(run)

    async def history(self, key: str, limit: int = 10) -> list[StoredMessage]:
        """The conversation's latest messages since its context was last cleared, oldest first;
        third parties' messages are not part of it (they are not the customer's words)."""

        def run() -> list[StoredMessage]:
            rows = self._db.execute(
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
            with self._db.conn:
                self._db.execute(
                    "INSERT INTO ratings (message_id, entry_id, rating, user, created_at) "
                    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (message_id, user) DO UPDATE SET "
                    "rating = excluded.rating, created_at = excluded.created_at",
                    [reply_id, entry_id, rating, user, time.time()],
                )
            return entry_id

        return await self._run(run)

    async def ratings_for(self, entry_id: str) -> tuple[int, int]:
        """``(up, down)``: how many 👍 and 👎 the answers from ``entry_id`` received."""
        row = await self._run(
            lambda: self._one(
                "SELECT COALESCE(SUM(rating = 1), 0), COALESCE(SUM(rating = -1), 0) "
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
            with self._db.conn:
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
        cursor = self._db.execute(
            "INSERT INTO handoffs (conversation_key, reason, summary, intent, emotion, language,"
            " created_at, ticket_claimed_at, button_token, ticket_attempts)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 1)",
            [key, reason, self.cipher.seal(summary), intent, emotion, language, now, now, token],
        )
        return int(cursor.lastrowid or 0)

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
                moved = self._db.execute(
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
                self._db.execute(
                    "UPDATE handoffs SET reason = ?, summary = ?, intent = ?, emotion = ?, "
                    "language = ?, notice_failed_at = NULL, ticket_claimed_at = ?, "
                    "ticket_attempts = ticket_attempts + 1 WHERE id = ?",
                    [reason, self.cipher.seal(summary), intent, emotion, language, now, row[0]],
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
                moved = self._db.execute(
                    "UPDATE conversations SET state = 'bot', updated_at = ? "
                    "WHERE key = ? AND state = 'waiting_human'",
                    [now, row[0]],
                ).rowcount
                if moved == 1:
                    self._db.execute(
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
            with self._db.conn:
                cursor = self._db.execute(
                    "UPDATE handoffs SET ticket_claimed_at = ?, ticket_attempts = ticket_attempts"
                    f" + 1 WHERE id = ? AND thread_ref IS NULL AND {_OPEN}"
                    " AND (ticket_claimed_at IS NULL OR ticket_claimed_at < ?)",
                    [now, handoff_id, now - CLAIM_LEASE_SECONDS],
                )
            return cursor.rowcount == 1

        return await self._run(run)

    async def release_ticket(self, handoff_id: int) -> None:
        """Free the claim on a ticket that could not be posted, for the next sweep."""

        def run() -> None:
            with self._db.conn:
                self._db.execute(
                    "UPDATE handoffs SET ticket_claimed_at = NULL WHERE id = ?", [handoff_id]
                )

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
            rows = self._db.execute(
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
            with self._db.conn:
                self._db.table("handoffs").update(handoff_id, dict(fields))

        await self._run(run)

    # --- knowledge -----------------------------------------------------------------------

    def get_vectors(self, model: str, hashes: Sequence[str]) -> dict[str, Vectors]:
        """Cached embeddings among ``hashes`` (a :class:`knowledge.vectors.VectorCache`)."""
        out: dict[str, Vectors] = {}
        with self._lock:
            for start in range(0, len(hashes), 500):
                chunk = list(hashes[start : start + 500])
                rows = self._db.execute(
                    "SELECT text_hash, dim, vector FROM embeddings WHERE model = ? AND "
                    f"text_hash IN ({', '.join('?' for _ in chunk)})",
                    [model, *chunk],
                ).fetchall()
                for text_hash, dim, blob in rows:
                    out[text_hash] = np.frombuffer(blob, dtype=np.float32).reshape(1, dim)
        return out

    def put_vectors(self, model: str, items: Mapping[str, Vectors]) -> None:
        """Store embeddings by text hash."""
        rows = [
            {
                "model": model,
                "text_hash": h,
                "dim": int(v.shape[-1]),
                "vector": np.ascontiguousarray(v, dtype=np.float32).tobytes(),
            }
            for h, v in items.items()
        ]
        with self._lock, self._db.conn:
            self._db.table("embeddings").upsert_all(rows, pk=("model", "text_hash"))

    async def import_entries(self, entries: Sequence[Entry], source: str) -> tuple[int, int]:
        """Upsert imported entries; returns ``(added, updated)``; unchanged ones are neither."""

        def run() -> tuple[int, int]:
            added = updated = 0
            now = time.time()
            with self._db.conn:
                for entry in entries:
                    row = self._one("SELECT content_hash FROM kb_entries WHERE id = ?", [entry.id])
                    digest = entry.content_hash()
                    if row and row[0] == digest:
                        continue
                    added += row is None
                    updated += row is not None
                    self._db.table("kb_entries").upsert(
                        {
                            "id": entry.id,
                            "category": entry.category,
                            "kind": entry.kind,
                            "content_hash": digest,
                            "data": json.dumps(_entry_json(entry), ensure_ascii=False),
                            "source": source,
                            "imported_at": now,
                        },
                        pk="id",
                    )
            return added, updated

        return await self._run(run)

    def imported_entries_sync(self) -> list[Entry]:
        """Entries added with ``ondo kb import`` (for start-up, before the loop runs)."""
        with self._lock:
            rows = self._db.execute("SELECT data FROM kb_entries ORDER BY id").fetchall()
        return [_entry_from_json(json.loads(r[0])) for r in rows]


def open_store(settings: Settings) -> Store:
    """The store of ``ONDO_DB`` with the cipher of ``ONDO_ENCRYPTION_KEY``: every command opens
    it this way, so none refuses an encrypted database that the key opens."""
    return Store.open(settings.db_path, cipher_for(settings.encryption_key))


def _enable_wal(conn: sqlite3.Connection, attempts: int = 100) -> None:
    """Switch to WAL. SQLite answers "locked" at once, without waiting out the busy timeout,
    when another connection is switching the same fresh file at the same moment: retry."""
    for attempt in range(attempts):
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == attempts - 1:
                raise
            time.sleep(0.02)


_READONLY_HINT = " (the file and its folder must be writable by the user running ondo)"


def _probe_write(db: sqlite_utils.Database) -> None:
    """Write one row and roll it back. Taking the write lock is not enough: SQLite opens a
    file it may not write read-only without a word and only refuses the first real write."""
    try:
        db.execute("BEGIN IMMEDIATE")
        db.execute("UPDATE _migrations SET name = name WHERE version = 1")
    finally:
        if db.conn.in_transaction:
            db.execute("ROLLBACK")


def _check_cipher(db: sqlite_utils.Database, cipher: Cipher) -> None:
    """Fail at start, not mid-conversation, when stored text cannot be opened with the key."""
    for table, column in SEALED_COLUMNS:
        row = db.execute(
            f"SELECT {column} FROM {table} WHERE {column} LIKE '{PREFIX}%' ORDER BY id DESC LIMIT 1"
        ).fetchone()
        if row is not None:
            cipher.open(row[0])


def _entry_json(entry: Entry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "category": entry.category,
        "questions": {k: list(v) for k, v in entry.questions.items()},
        "answer": dict(entry.answer),
        "agent_steps": list(entry.agent_steps),
        "source": entry.source,
        "kind": entry.kind,
        "audience": entry.audience,
    }


def _entry_from_json(data: dict[str, Any]) -> Entry:
    kind = data.get("kind", "faq")
    return Entry(
        id=data["id"],
        category=data["category"],
        questions={k: tuple(v) for k, v in data["questions"].items()},
        answer=dict(data["answer"]),
        agent_steps=tuple(data.get("agent_steps", ())),
        source=data.get("source", ""),
        kind=kind,
        # Stored before audiences existed: the loader's defaults (documents are staff's).
        audience=data.get("audience") or ("staff" if kind == "policy" else "customers"),
    )
