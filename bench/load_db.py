"""What ``bench.load`` reads from and does to Ondo's database, on either backend: a SQLite file
(``sqlite3``, read-only) or a PostgreSQL URL (psycopg, read-only transactions).

The load check reads the ``messages`` rows, the world looks up a ticket's conversation as an
agent's tool would, the kill picks the replica holding claims, and the database fault holds a
lock as another process would: SQLite's write lock (``BEGIN IMMEDIATE``), or on PostgreSQL
``LOCK TABLE messages IN EXCLUSIVE MODE`` (what a migration or maintenance job does to a table
while replicas serve: reads go on, every write waits).
"""

from __future__ import annotations

import sqlite3
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg

from bot.storage.postgres.database import is_postgres_url


@dataclass(frozen=True)
class Row:
    """The columns of the ``messages`` table the check needs."""

    id: int
    key: str
    platform: str
    platform_message_id: str | None
    direction: str
    role: str
    in_reply_to: int | None
    handled_at: float | None
    attempts: int
    claimed_at: float | None
    """When the message was last claimed (recorded, or taken over by a recovery sweep)."""
    claimed_by: str | None


def _query(target: str, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """Rows of ``sql`` (``?`` placeholders) read from ``target`` without writing anything."""
    if is_postgres_url(target):
        with psycopg.connect(target, autocommit=True, connect_timeout=10) as pg:
            pg.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
            return [tuple(r) for r in pg.execute(sql.replace("?", "%s"), list(params))]
    if not Path(target).exists():
        return []
    conn = sqlite3.connect(f"file:{target}?mode=ro", uri=True, timeout=30.0)
    try:
        return [tuple(r) for r in conn.execute(sql, list(params)).fetchall()]
    finally:
        conn.close()


def read_rows(target: str) -> list[Row]:
    """Every message row of Ondo's database."""
    rows = _query(
        target,
        "SELECT id, conversation_key, platform, platform_message_id, direction, role, "
        "in_reply_to, handled_at, attempts, claimed_at, claimed_by FROM messages ORDER BY id",
    )
    return [Row(*row) for row in rows]


def handoff_conversation(target: str, handoff_id: int) -> str | None:
    """The conversation of handoff ``handoff_id``."""
    rows = _query(target, "SELECT conversation_key FROM handoffs WHERE id = ?", [handoff_id])
    return str(rows[0][0]) if rows else None


_HELD = (
    "FROM messages i WHERE i.direction = 'in' AND i.role = 'customer' AND i.handled_at IS NULL "
    "AND i.claimed_by IS NOT NULL AND NOT EXISTS (SELECT 1 FROM messages r "
    "WHERE r.in_reply_to = i.id AND r.direction = 'out')"
)


def claims_by_replica(target: str) -> dict[str, int]:
    """How many customer messages each replica holds a claim on and has not answered yet."""
    rows = _query(target, f"SELECT i.claimed_by, COUNT(*) {_HELD} GROUP BY i.claimed_by")
    return {str(replica): int(count) for replica, count in rows}


def held_by(target: str, replica: str) -> list[tuple[str, str]]:
    """``(platform, platform message id)`` of the unanswered messages ``replica`` holds."""
    rows = _query(
        target, f"SELECT i.platform, i.platform_message_id {_HELD} AND i.claimed_by = ?", [replica]
    )
    return [(str(p), str(m)) for p, m in rows]


def hold_lock(target: str, hold: float) -> float | None:
    """Block every write to ``target`` for ``hold`` seconds from another connection, as a
    second process would; the seconds spent waiting for the lock, ``None`` if it could not
    be taken (no database yet)."""
    if is_postgres_url(target):
        return _pg_table_lock(target, hold)
    return _sqlite_write_lock(target, hold)


def _sqlite_write_lock(db_path: str, hold: float) -> float | None:
    if not Path(db_path).exists():
        return None
    conn = sqlite3.connect(db_path, timeout=30.0, isolation_level=None)
    try:
        start = time.monotonic()
        conn.execute("BEGIN IMMEDIATE")
        waited = time.monotonic() - start
        time.sleep(hold)
        conn.execute("ROLLBACK")
        return waited
    except sqlite3.Error:
        return None
    finally:
        conn.close()


def _pg_table_lock(url: str, hold: float) -> float | None:
    try:
        with psycopg.connect(url, connect_timeout=10) as conn:
            start = time.monotonic()
            conn.execute("LOCK TABLE messages IN EXCLUSIVE MODE")
            waited = time.monotonic() - start
            time.sleep(hold)
            conn.rollback()
            return waited
    except psycopg.Error:
        return None


def lock_description(target: str) -> str:
    """The database fault, as the table names it."""
    if is_postgres_url(target):
        return "PostgreSQL LOCK TABLE messages IN EXCLUSIVE MODE"
    return "SQLite write lock"


# --- PostgreSQL schemas for a run ----------------------------------------------------------


def schema_url(server: str, schema: str) -> str:
    """``server`` (a PostgreSQL URL) with every connection working in ``schema``."""
    separator = "&" if "?" in server else "?"
    return f"{server}{separator}options={quote(f'-csearch_path={schema}')}"


@contextmanager
def fresh_schema(server: str, *, keep: bool = False) -> Iterator[str]:
    """A URL on a new, empty schema of the database at ``server``, dropped afterwards
    unless ``keep``."""
    name = f"ondo_load_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server, autocommit=True, connect_timeout=10) as admin:
        admin.execute(f"CREATE SCHEMA {name}".encode())
    try:
        yield schema_url(server, name)
    finally:
        if not keep:
            with psycopg.connect(server, autocommit=True, connect_timeout=10) as admin:
                admin.execute(f"DROP SCHEMA {name} CASCADE".encode())


def copy_embedding_cache(sqlite_path: str, url: str) -> int:
    """Copy the embedding cache (vectors and learned models) of a SQLite database into the
    PostgreSQL database at ``url``, whose schema is brought up to date first; how many rows.
    Replicas then start warm, as they do on a deployment's existing database."""
    from bot.storage import schema

    schema.upgrade_postgres(url)
    rows = _query(sqlite_path, "SELECT model, text_hash, dim, vector FROM embeddings")
    with psycopg.connect(url, connect_timeout=10) as conn, conn.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO embeddings (model, text_hash, dim, vector) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT DO NOTHING",
            [(m, h, d, bytes(v)) for m, h, d, v in rows],
        )
    return len(rows)
