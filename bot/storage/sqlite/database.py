"""One SQLite file, opened, migrated and worked on by one worker thread.

Every call runs on the thread that owns the connection, so the event loop never blocks on disk
and writes are serialized. :class:`Database` is shared by the store and its parts
(:class:`Bound`): they hold it, they do not inherit from each other.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, TypeVar

import sqlite_utils

from bot.storage.crypto import PREFIX, Cipher, CipherError, PlainCipher
from bot.storage.files import create_private
from bot.storage.records import StoreError
from bot.storage.sqlite.migrations import migrate

T = TypeVar("T")

SEALED_COLUMNS = (
    ("messages", "text"),
    ("handoffs", "summary"),
    ("handoffs", "suggestion"),
    ("corrections", "question"),
    ("corrections", "bot_answer"),
    ("corrections", "proposed_answer"),
)
"""Every column that holds text sealed with the cipher (some may be NULL)."""

_READONLY_HINT = " (the file and its folder must be writable by the user running ondo)"


class Database:
    """The connection, its lock and worker thread, and the cipher of the text in it."""

    def __init__(self, db: sqlite_utils.Database, path: str, cipher: Cipher | None = None) -> None:
        self.db = db
        self.path = path
        self.cipher: Cipher = cipher or PlainCipher()
        self.lock = threading.Lock()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ondo-db")

    @classmethod
    def open(cls, path: str | Path, cipher: Cipher | None = None) -> Database:
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
            probe_write(db)
        except (sqlite3.DatabaseError, OSError, CipherError) as exc:
            if conn is not None:
                conn.close()
            hint = _READONLY_HINT if "readonly" in str(exc) else ""
            raise StoreError(f"cannot open database {name}: {exc}{hint}") from None
        return cls(db, name, cipher)

    def close(self) -> None:
        """Finish pending work and close the connection."""
        self._executor.shutdown(wait=True)
        with self.lock:
            self.db.conn.close()

    async def run(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the worker thread, holding the lock."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self.locked, fn)

    def locked(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` here, holding the lock (for start-up, before the loop runs)."""
        with self.lock:
            return fn()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Several statements as one: sqlite-utils commits each write on its own unless a
        transaction is open, so ``with conn:`` alone does not make them atomic."""
        with self.db.conn:
            self.db.execute("BEGIN IMMEDIATE")
            yield

    def one(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        """The first row of ``sql``, if any."""
        row = self.db.execute(sql, list(params)).fetchone()
        return tuple(row) if row is not None else None


class Bound:
    """Works over one :class:`Database`: the store and each of its parts."""

    def __init__(self, database: Database) -> None:
        self._database = database

    @property
    def _db(self) -> sqlite_utils.Database:
        return self._database.db

    @property
    def cipher(self) -> Cipher:
        """The cipher stored text is sealed with (replaced by a re-encryption)."""
        return self._database.cipher

    async def _run(self, fn: Callable[[], T]) -> T:
        return await self._database.run(fn)

    def _one(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        return self._database.one(sql, params)

    def _transaction(self) -> AbstractContextManager[None]:
        return self._database.transaction()


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


def probe_write(db: sqlite_utils.Database) -> None:
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
