"""A PostgreSQL database shared by every replica: a pool of connections, each unit of work one
transaction on one of them, on a pool of worker threads.

The store's SQL is SQLite's dialect where both agree; the little that differs is bridged here:
``?`` placeholders become psycopg's ``%s``, an insert's new id comes from ``RETURNING id``, and
Python booleans are stored as the integers the schema declares. psycopg 3 is the maintained
PostgreSQL driver (sync and async APIs, server-side binding, a pool package of its own); the
store's units of work are short and written once for both backends as blocking code, so they
run on worker threads as SQLite's do, each holding one pooled connection.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import (
    AbstractAsyncContextManager,
    asynccontextmanager,
    contextmanager,
    nullcontext,
    suppress,
)
from functools import lru_cache
from typing import Any, TypeVar

import psycopg
from psycopg import conninfo
from psycopg_pool import AsyncConnectionPool, ConnectionPool

from bot.storage import schema
from bot.storage.crypto import Cipher
from bot.storage.records import StoreError
from bot.storage.sql.database import SEALED_COLUMNS, Cursor, Database

T = TypeVar("T")

POOL_SIZE = 4
"""Connections (and worker threads) per process unless the settings say otherwise."""
LOCK_CONNECTIONS = 4
"""Connections per process for waiting on a conversation another replica holds (rare: a
process holds every conversation lock it can take at once on one shared connection); more
waiters queue for them."""


def lock_number(name: str) -> int:
    """A stable signed 64-bit number for advisory lock ``name`` (the same in every replica)."""
    return int.from_bytes(
        hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True
    )


def is_postgres_url(target: str) -> bool:
    """Whether ``ONDO_DB`` names a PostgreSQL database rather than a SQLite file."""
    return target.startswith(("postgresql://", "postgres://"))


def safe_name(url: str) -> str:
    """``url`` without its password (for messages and logs)."""
    try:
        parts = conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "postgresql://(unparseable URL)"
    user = f"{parts['user']}@" if parts.get("user") else ""
    port = f":{parts['port']}" if parts.get("port") else ""
    return f"postgresql://{user}{parts.get('host', '')}{port}/{parts.get('dbname', '')}"


@lru_cache(maxsize=1024)
def _dialect(sql: str) -> str:
    """The statement with psycopg's placeholders (a literal ``%`` doubled)."""
    return sql.replace("%", "%%").replace("?", "%s")


def _param(value: Any) -> Any:
    if isinstance(value, bool):
        return int(value)  # the schema's flags are integers, as in SQLite
    if isinstance(value, str) and "\x00" in value:
        # PostgreSQL's text cannot hold NUL; SQLite kept it. Never refuse a customer's message
        # for it: store the replacement character instead.
        return value.replace("\x00", "\ufffd")
    return value


def _params(params: Sequence[Any]) -> list[Any]:
    return [_param(value) for value in params]


class PostgresSql:
    """:class:`bot.storage.sql.database.Sql` over one pooled connection, inside the unit of
    work's transaction (committed when the unit of work ends)."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor:
        """Run one statement with ``?`` placeholders."""
        if not params:
            return self.conn.execute(sql.encode())  # no placeholders: '%' stays literal
        return self.conn.execute(_dialect(sql), _params(params))

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """Run one statement once per row of parameters."""
        with self.conn.cursor() as cursor:
            cursor.executemany(_dialect(sql), [_params(row) for row in rows])

    def insert(self, sql: str, params: Sequence[Any] = ()) -> int | None:
        """The new row's id (``RETURNING id``), or ``None`` when a conflict inserted nothing."""
        row = self.conn.execute(_dialect(sql + " RETURNING id"), _params(params)).fetchone()
        return int(row[0]) if row is not None else None

    def write(self) -> nullcontext[None]:
        """Nothing to do: the unit of work is one transaction, committed at its end."""
        return nullcontext()

    def transaction(self) -> nullcontext[None]:
        """Nothing to do: the unit of work is already one transaction; rows it updates stay
        locked against other replicas until it commits."""
        return nullcontext()


class PostgresDatabase(Database):
    """The pool, its worker threads, and the cipher of the text in the database."""

    dialect = "postgresql"
    shared = True
    skip_locked = " FOR UPDATE SKIP LOCKED"

    def __init__(self, url: str, pool: ConnectionPool, size: int, cipher: Cipher | None) -> None:
        super().__init__(cipher)
        self.url = url
        self.pool = pool
        self._local = threading.local()
        self._executor = ThreadPoolExecutor(max_workers=size, thread_name_prefix="ondo-pg")
        self._lock_pools: dict[asyncio.AbstractEventLoop, AsyncConnectionPool] = {}
        self._lock_sessions: dict[asyncio.AbstractEventLoop, _LockSession] = {}

    @classmethod
    def open(
        cls, url: str, cipher: Cipher | None = None, *, size: int = POOL_SIZE
    ) -> PostgresDatabase:
        """Connect to ``url``, bring its schema to the newest revision (creating it in an empty
        database) and check the key against the stored text."""
        name = safe_name(url)
        pool: ConnectionPool | None = None
        try:
            schema.upgrade_postgres(url)
            pool = ConnectionPool(
                url,
                min_size=1,
                max_size=size,
                timeout=30.0,
                open=True,
                name="ondo",
                kwargs={"connect_timeout": 10, "application_name": "ondo"},
                # A connection the server dropped (a restart, a failover) is replaced when
                # taken, rather than failing the unit of work that got it.
                check=ConnectionPool.check_connection,
            )
            pool.wait(timeout=10.0)
            database = cls(url, pool, size, cipher)
            database.locked(lambda: database.check_cipher(database.cipher))
            database.probe_write()
        except Exception as exc:
            if pool is not None:
                pool.close()
            raise StoreError(f"cannot open database {name}: {_first_line(exc)}") from None
        return database

    @property
    def sql(self) -> PostgresSql:
        """The connection of the unit of work running on this thread."""
        current: PostgresSql | None = getattr(self._local, "sql", None)
        if current is None:
            raise RuntimeError("no unit of work is running on this thread")
        return current

    @property
    def name(self) -> str:
        """The URL without its password."""
        return safe_name(self.url)

    async def run(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` as one transaction on a worker thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self.locked, fn)

    def locked(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` as one transaction on this thread (a nested call joins the outer one)."""
        if getattr(self._local, "sql", None) is not None:
            return fn()
        with self._unit() as _:
            result = fn()
        self._vacuum_if_asked()
        return result

    @contextmanager
    def _unit(self) -> Iterator[PostgresSql]:
        # The pool commits on leaving the block, or rolls back when it raised.
        with self.pool.connection() as conn:
            self._local.sql = PostgresSql(conn)
            try:
                yield self._local.sql
            finally:
                self._local.sql = None

    @asynccontextmanager
    async def conversation_lock(self, key: str, *, wait: bool = True) -> AsyncIterator[bool]:
        """Hold ``key`` with a session advisory lock: other replicas wait for it in turn, and
        a replica that dies lets go with its connection. A lock no other replica holds is
        taken at once on this process's one shared lock session (so a hundred conversations
        handled side by side cost one connection, not a hundred); one another replica holds
        is waited for on a connection of its own (async: waiting blocks no thread). Without
        ``wait``, yields ``False`` at once when another replica holds it."""
        number = lock_number(f"conversation:{key}")
        session = self._lock_session()
        if await session.try_lock(number):
            try:
                yield True
            finally:
                await session.unlock(number)
            return
        if not wait:
            yield False
            return
        pool = await self._lock_pool()
        async with pool.connection() as conn:
            await conn.execute("SELECT pg_advisory_lock(%s)", [number])
            try:
                yield True
            finally:
                await conn.execute("SELECT pg_advisory_unlock(%s)", [number])

    def _lock_session(self) -> _LockSession:
        loop = asyncio.get_running_loop()
        session = self._lock_sessions.get(loop)
        if session is None:
            session = self._lock_sessions[loop] = _LockSession(self.url)
        return session

    async def exclusive(self, name: str, *, wait: bool) -> AbstractAsyncContextManager[None] | None:
        """Hold ``name`` in every replica with a session advisory lock on a connection of its
        own; a replica that dies lets go with its connection, and a waiting one takes over."""
        conn = await psycopg.AsyncConnection.connect(
            self.url, autocommit=True, connect_timeout=10, application_name="ondo-exclusive"
        )
        number = lock_number(f"exclusive:{name}")
        try:
            if wait:
                await conn.execute("SELECT pg_advisory_lock(%s)", [number])
            else:
                row = await (
                    await conn.execute("SELECT pg_try_advisory_lock(%s)", [number])
                ).fetchone()
                if row is None or not row[0]:
                    await conn.close()
                    return None
        except BaseException:
            await conn.close()
            raise
        return _Held(conn)

    def notify(self, channel: str, payload: str) -> None:
        """``NOTIFY`` ``channel``: PostgreSQL delivers it when this unit of work commits."""
        self.sql.execute("SELECT pg_notify(?, ?)", [channel, payload])

    async def listen(self, channel: str) -> AsyncIterator[str]:
        """Every payload notified on ``channel``, on a connection of its own, for as long as the
        caller iterates; a lost connection ends the iteration (the caller polls, then listens
        again)."""
        conn = await psycopg.AsyncConnection.connect(
            self.url, autocommit=True, connect_timeout=10, application_name="ondo-listen"
        )
        try:
            await conn.execute(f"LISTEN {channel}".encode())
            async for note in conn.notifies():
                yield note.payload
        finally:
            await conn.close()

    async def _lock_pool(self) -> AsyncConnectionPool:
        loop = asyncio.get_running_loop()
        pool = self._lock_pools.get(loop)
        if pool is None:
            pool = AsyncConnectionPool(
                self.url,
                min_size=1,
                max_size=LOCK_CONNECTIONS,
                open=False,
                name="ondo-locks",
                kwargs={"autocommit": True, "connect_timeout": 10, "application_name": "ondo"},
                check=AsyncConnectionPool.check_connection,
            )
            self._lock_pools[loop] = pool
            await pool.open(wait=True, timeout=10.0)
        return pool

    def compact(self) -> None:
        """Rewrite the tables that hold sealed text once this unit of work has committed
        (``VACUUM FULL`` cannot run inside a transaction), so rewritten or deleted rows do not
        linger in their files. It locks those tables while it runs: it is for the maintenance
        commands (re-encryption, purge, forget), not the live path."""
        self._local.vacuum = True

    def _vacuum_if_asked(self) -> None:
        if not getattr(self._local, "vacuum", False):
            return
        self._local.vacuum = False
        tables = sorted({table for table, _ in SEALED_COLUMNS} | {"ratings", "conversations"})
        with psycopg.connect(self.url, autocommit=True, connect_timeout=10) as conn:
            for table in tables:
                conn.execute(f"VACUUM FULL {table}".encode())

    def probe_write(self) -> None:
        """Raise unless the server takes writes (not a standby, not read-only)."""

        def run() -> None:
            row = self.sql.execute(
                "SELECT pg_is_in_recovery(), current_setting('transaction_read_only')"
            ).fetchone()
            if row is None or row[0] or row[1] == "on":
                raise StoreError(f"database {self.name} is read-only")

        self.locked(run)

    def close(self) -> None:
        """Finish pending work and close the pools (a lock pool of a loop that still runs is
        closed on it; one of a finished loop has nothing left to close cleanly)."""
        self._executor.shutdown(wait=True)
        self.pool.close()
        for loop, pool in self._lock_pools.items():
            if loop.is_running() and not loop.is_closed():
                asyncio.run_coroutine_threadsafe(pool.close(), loop)
        for loop, session in self._lock_sessions.items():
            if loop.is_running() and not loop.is_closed():
                asyncio.run_coroutine_threadsafe(session.close(), loop)
        self._lock_pools.clear()
        self._lock_sessions.clear()


class _LockSession:
    """One connection holding every conversation lock this process could take at once.

    A session's advisory locks are its own, so many tasks share it: each takes and releases
    its key (psycopg serialises their statements on the connection; each is a few
    microseconds of server time). The store's per-key ``asyncio.Lock`` ensures no two tasks
    here ask for one key, so a key is never held twice by this session. If the connection
    drops, its locks go with it (as a dead replica's do); the next lock reconnects."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._connecting = asyncio.Lock()

    async def try_lock(self, number: int) -> bool:
        """Take lock ``number`` if no other session holds it; ``False`` otherwise."""
        for attempt in (1, 2):
            conn = await self._connection()
            try:
                row = await (
                    await conn.execute("SELECT pg_try_advisory_lock(%s)", [number])
                ).fetchone()
                return bool(row is not None and row[0])
            except psycopg.OperationalError:
                await self._drop(conn)
                if attempt == 2:
                    raise
        return False  # pragma: no cover - the loop returns or raises

    async def unlock(self, number: int) -> None:
        """Release lock ``number`` (nothing to do if the session dropped meanwhile)."""
        conn = self._conn
        if conn is None or conn.closed:
            return
        try:
            await conn.execute("SELECT pg_advisory_unlock(%s)", [number])
        except psycopg.OperationalError:
            await self._drop(conn)

    async def close(self) -> None:
        """Close the session (its locks are released with it)."""
        if self._conn is not None:
            await self._drop(self._conn)

    async def _connection(self) -> psycopg.AsyncConnection[Any]:
        async with self._connecting:
            if self._conn is None or self._conn.closed or self._conn.broken:
                self._conn = await psycopg.AsyncConnection.connect(
                    self._url, autocommit=True, connect_timeout=10, application_name="ondo-locks"
                )
            return self._conn

    async def _drop(self, conn: psycopg.AsyncConnection[Any]) -> None:
        if self._conn is conn:
            self._conn = None
        with suppress(Exception):
            await conn.close()


class _Held:
    """An advisory lock held on its own connection: released (and closed) on exit."""

    def __init__(self, conn: psycopg.AsyncConnection[Any]) -> None:
        self._conn = conn

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, *_: object) -> None:
        await self._conn.close()  # a session lock goes with its session


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
