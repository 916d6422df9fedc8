"""What the store's SQL runs on: a database (SQLite or PostgreSQL) and its connection.

The store's code (:mod:`bot.storage.sql.store` and its parts) is written once, in SQL both
engines speak (``?`` placeholders, ``ON CONFLICT``, ``"user"`` quoted), against :class:`Sql`.
Each backend supplies a :class:`Database`: how a unit of work reaches a connection, how a write
is committed, what a new row's id is. The parts of the store each hold the one shared
:class:`Database` (:class:`Bound`): they do not inherit from each other.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from typing import Any, Protocol, TypeVar

from bot.storage.crypto import PREFIX, Cipher, PlainCipher

T = TypeVar("T")

SEALED_COLUMNS = (
    ("messages", "text"),
    ("outbox", "text"),
    ("handoffs", "summary"),
    ("handoffs", "suggestion"),
    ("corrections", "question"),
    ("corrections", "bot_answer"),
    ("corrections", "proposed_answer"),
    ("journey_events", "payload"),
    ("journey_customers", "name"),
    ("journey_sends", "text"),
    ("journey_consent", "evidence"),
    ("reviews", "text"),
    ("thread_states", "state"),
    ("csat", "comment"),
)
"""Every column that holds text sealed with the cipher (some may be NULL)."""


class Cursor(Protocol):
    """The result of one statement (sqlite3's and psycopg's cursors both are one)."""

    @property
    def rowcount(self) -> int: ...

    @property
    def description(self) -> Any: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class Sql(Protocol):
    """A connection as the store's code sees it, on the thread that runs a unit of work."""

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor:
        """Run one statement with ``?`` placeholders."""
        ...

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """Run one statement once per row of parameters."""
        ...

    def insert(self, sql: str, params: Sequence[Any] = ()) -> int | None:
        """Run an ``INSERT`` into a table with an ``id`` column; the new row's id, or ``None``
        when ``ON CONFLICT DO NOTHING`` inserted nothing."""
        ...

    def write(self) -> AbstractContextManager[None]:
        """Commit the statements inside on leaving (or roll them back on an error)."""
        ...

    def transaction(self) -> AbstractContextManager[None]:
        """Several statements as one, holding the database's write lock from the start."""
        ...


class Database(ABC):
    """A database the store works on: its connection(s), their worker threads, and the cipher
    of the text in it."""

    dialect: str
    """``sqlite`` or ``postgresql``."""
    shared = False
    """Whether processes on other machines may share it."""
    skip_locked = ""
    """Appended to a claim's ``SELECT``: rows another replica is claiming this moment are
    skipped, not waited for (PostgreSQL's ``FOR UPDATE SKIP LOCKED``)."""

    def __init__(self, cipher: Cipher | None = None) -> None:
        self.cipher: Cipher = cipher or PlainCipher()
        self._named: dict[str, asyncio.Lock] = {}

    @property
    @abstractmethod
    def sql(self) -> Sql:
        """The connection of the unit of work running on this thread."""

    @abstractmethod
    async def run(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` as one unit of work on a worker thread, off the event loop."""

    @abstractmethod
    def locked(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` as one unit of work on this thread (for start-up and sync callers)."""

    @abstractmethod
    def compact(self) -> None:
        """Leave no old copy of deleted or rewritten rows in the database's files (after
        re-encryption, purging, forgetting); called at the end of a unit of work."""

    @abstractmethod
    def probe_write(self) -> None:
        """Raise unless the database takes a write right now (nothing is kept)."""

    @abstractmethod
    def close(self) -> None:
        """Finish pending work and close every connection."""

    @property
    @abstractmethod
    def name(self) -> str:
        """What to call the database in messages and logs (never with a password)."""

    def conversation_lock(
        self, key: str, *, wait: bool = True
    ) -> AbstractAsyncContextManager[bool]:
        """Hold ``key`` against other processes (the store holds it within this one); yields
        whether it is held (without ``wait``, ``False`` when another process holds it). Nothing
        to do for a database one machine's processes share only rarely (SQLite)."""
        del key, wait
        return _NoLock()

    async def exclusive(self, name: str, *, wait: bool) -> AbstractAsyncContextManager[None] | None:
        """Hold ``name`` (a Discord shard, say) against every other holder until the returned
        context exits; ``None`` when another holds it and ``wait`` is false. Here: within this
        process (SQLite is one machine's; a shared database holds it across replicas)."""
        lock = self._named.setdefault(name, asyncio.Lock())
        if lock.locked() and not wait:
            return None
        await lock.acquire()
        return _Release(lock)

    def notify(self, channel: str, payload: str) -> None:
        """Wake the processes listening on ``channel`` once this unit of work commits (nothing
        to do where nobody can listen: they poll)."""
        del channel, payload

    def listen(self, channel: str) -> AsyncIterator[str] | None:
        """The payloads notified on ``channel`` from now on, or ``None`` when the database has
        no notifications (then the listener polls)."""
        del channel
        return None

    def one(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        """The first row of ``sql``, if any."""
        row = self.sql.execute(sql, params).fetchone()
        return tuple(row) if row is not None else None

    def check_cipher(self, cipher: Cipher) -> None:
        """Fail at start, not mid-conversation, when stored text cannot be opened with the key."""
        for table, column in SEALED_COLUMNS:
            row = self.one(
                f"SELECT {column} FROM {table} WHERE {column} LIKE '{PREFIX}%' "
                "ORDER BY id DESC LIMIT 1"
            )
            if row is not None:
                cipher.open(row[0])


class Bound:
    """Works over one :class:`Database`: the store and each of its parts."""

    def __init__(self, database: Database) -> None:
        self._database = database

    @property
    def _sql(self) -> Sql:
        return self._database.sql

    @property
    def cipher(self) -> Cipher:
        """The cipher stored text is sealed with (replaced by a re-encryption)."""
        return self._database.cipher

    async def _run(self, fn: Callable[[], T]) -> T:
        return await self._database.run(fn)

    def _one(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        return self._database.one(sql, params)

    def _write(self) -> AbstractContextManager[None]:
        return self._database.sql.write()

    def _transaction(self) -> AbstractContextManager[None]:
        return self._database.sql.transaction()


class _Release:
    def __init__(self, lock: asyncio.Lock) -> None:
        self._lock = lock

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, *_: object) -> None:
        self._lock.release()


class _NoLock:
    async def __aenter__(self) -> bool:
        return True

    async def __aexit__(self, *_: object) -> None:
        return None
