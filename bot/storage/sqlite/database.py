"""One SQLite file, opened, migrated and worked on by one worker thread.

Every call runs on the thread that owns the connection, so the event loop never blocks on disk
and writes are serialized.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
import sqlite_utils
from sqlalchemy.pool import StaticPool

from bot.storage import schema
from bot.storage.crypto import Cipher, CipherError
from bot.storage.files import create_private
from bot.storage.records import StoreError
from bot.storage.sql.database import Cursor, Database
from bot.storage.sqlite.migrations import migrate as migrate_legacy

T = TypeVar("T")

_READONLY_HINT = " (the file and its folder must be writable by the user running ondo)"


class SQLiteSql:
    """:class:`bot.storage.sql.database.Sql` over one sqlite-utils database."""

    def __init__(self, db: sqlite_utils.Database) -> None:
        self.db = db

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor:
        """Run one statement with ``?`` placeholders."""
        cursor: sqlite3.Cursor = self.db.execute(sql, list(params))
        return cursor

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """Run one statement once per row of parameters."""
        self.db.conn.executemany(sql, [list(row) for row in rows])

    def insert(self, sql: str, params: Sequence[Any] = ()) -> int | None:
        """The new row's id, or ``None`` when a conflict inserted nothing."""
        cursor: sqlite3.Cursor = self.db.execute(sql, list(params))
        return int(cursor.lastrowid or 0) if cursor.rowcount == 1 else None

    def write(self) -> AbstractContextManager[None]:
        """sqlite3's own: commit on leaving, roll back on an error."""
        conn: AbstractContextManager[None] = self.db.conn  # type: ignore[assignment]
        return conn

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Several statements as one: sqlite-utils commits each write on its own unless a
        transaction is open, so ``with conn:`` alone does not make them atomic."""
        with self.db.conn:
            self.db.execute("BEGIN IMMEDIATE")
            yield


class SQLiteDatabase(Database):
    """The connection, its lock and worker thread, and the cipher of the text in it."""

    dialect = "sqlite"

    def __init__(self, db: sqlite_utils.Database, path: str, cipher: Cipher | None = None) -> None:
        super().__init__(cipher)
        self.db = db
        self.path = path
        self._sql = SQLiteSql(db)
        self.lock = threading.Lock()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ondo-db")

    @classmethod
    def open(cls, path: str | Path, cipher: Cipher | None = None) -> SQLiteDatabase:
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
            upgrade_sqlite(conn)
            database = cls(sqlite_utils.Database(conn), name, cipher)
            database.check_cipher(database.cipher)
            database.probe_write()
        except (sqlite3.DatabaseError, OSError, CipherError) as exc:
            if conn is not None:
                conn.close()
            hint = _READONLY_HINT if "readonly" in str(exc) else ""
            raise StoreError(f"cannot open database {name}: {exc}{hint}") from None
        return database

    @property
    def sql(self) -> SQLiteSql:
        """The one connection (every unit of work runs holding the lock)."""
        return self._sql

    @property
    def name(self) -> str:
        """The file's path."""
        return self.path

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

    def probe_write(self) -> None:
        """Write one row and roll it back. Taking the write lock is not enough: SQLite opens a
        file it may not write read-only without a word and only refuses the first real write."""
        probe_write(self.db)

    def compact(self) -> None:
        """Leave no old page behind: fold the WAL into the file, then rebuild the file."""
        db = self.db
        if db.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db.execute("VACUUM")
        if db.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def upgrade_sqlite(conn: sqlite3.Connection) -> None:
    """Bring the SQLite database on ``conn`` to the newest revision (creating it if empty); a
    file from before Alembic is first finished by its own runner, then stamped."""
    if _has_table(conn, "_migrations"):
        migrate_legacy(sqlite_utils.Database(conn))
    # The store's own connection, lent to SQLAlchemy: an in-memory database has no other.
    engine = sa.create_engine("sqlite://", creator=lambda: conn, poolclass=StaticPool)
    with engine.connect() as connection:
        # pysqlite begins no transaction for DDL by itself: take the write lock first, so two
        # processes opening one fresh file cannot both create it.
        connection.exec_driver_sql("BEGIN IMMEDIATE")
        legacy = _has_table(conn, "_migrations") and not _has_table(conn, "alembic_version")
        schema.upgrade(connection, stamp_baseline=legacy)
        connection.commit()


def _has_table(conn: sqlite3.Connection, name: str) -> bool:
    row = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", [name]
    ).fetchone()
    return row is not None


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
    """Write one row and roll it back (see :meth:`SQLiteDatabase.probe_write`)."""
    try:
        db.execute("BEGIN IMMEDIATE")
        db.execute("UPDATE alembic_version SET version_num = version_num")
    finally:
        if db.conn.in_transaction:
            db.execute("ROLLBACK")
