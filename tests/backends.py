"""The two store backends for the store's contract tests: a SQLite file, and a PostgreSQL
schema of its own on the machine's real server, created and dropped per test.

PostgreSQL being unreachable fails the tests that need it: it is a required service here.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
import pytest

from bot.storage.crypto import Cipher
from bot.storage.postgres import PostgresStore
from bot.storage.sql.store import SqlStore
from bot.storage.sqlite import SQLiteStore

PG_SERVER = os.environ.get("ONDO_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
"""The server the tests use (trust authentication, database ``test``)."""
BACKENDS = ("sqlite", "postgresql")


def pg_admin() -> psycopg.Connection[Any]:
    """An autocommit connection to the test server, or a test failure saying how to start it."""
    try:
        return psycopg.connect(PG_SERVER, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.fail(
            f"PostgreSQL is required at {PG_SERVER} and is not reachable ({exc}); start it with "
            "`pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`",
            pytrace=False,
        )


@contextmanager
def pg_schema() -> Iterator[str]:
    """A URL whose connections work in a fresh schema of the test database, dropped after."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    with pg_admin() as admin:
        admin.execute(f"CREATE SCHEMA {name}".encode())
    separator = "&" if "?" in PG_SERVER else "?"
    try:
        yield f"{PG_SERVER}{separator}options={quote(f'-csearch_path={name}')}"
    finally:
        with pg_admin() as admin:
            admin.execute(f"DROP SCHEMA {name} CASCADE".encode())


@dataclass
class Backend:
    """One database of one backend; :meth:`open` opens a store on it (again and again: a
    restart, or a second process)."""

    name: str
    target: str
    opened: list[SqlStore] = field(default_factory=list)

    def open(self, cipher: Cipher | None = None) -> SqlStore:
        """A new store on this database."""
        store: SqlStore
        if self.name == "postgresql":
            store = PostgresStore.open(self.target, cipher, size=2)
        else:
            store = SQLiteStore.open(self.target, cipher)
        self.opened.append(store)
        return store

    def close_all(self) -> None:
        """Close every store :meth:`open` returned that is still open."""
        for store in self.opened:
            with suppress(Exception):
                store.close()


@contextmanager
def backend_for(name: str, tmp_path: Path) -> Iterator[Backend]:
    """A fresh database of backend ``name``."""
    if name == "postgresql":
        with pg_schema() as url:
            backend = Backend(name, url)
            try:
                yield backend
            finally:
                backend.close_all()
    else:
        backend = Backend(name, str(tmp_path / "ondo.db"))
        try:
            yield backend
        finally:
            backend.close_all()


def raw(store: SqlStore, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """Rows of ``sql`` (``?`` placeholders) read straight from the store's database, past the
    store's code: what is really stored, on either backend."""
    database = store._database

    def run() -> list[tuple[Any, ...]]:
        cursor = database.sql.execute(sql, params)
        if cursor.description is None:  # a write: nothing to fetch
            return []
        return [tuple(row) for row in cursor.fetchall()]

    return database.locked(run)


def seed_embeddings(url: str, warm_sqlite: Path) -> None:
    """Copy the embedding cache of a warmed SQLite database into the (migrated) PostgreSQL
    database at ``url``, so a runtime built on it does not embed the sample shop again."""
    import sqlite3

    from bot.storage.postgres import PostgresStore

    PostgresStore.open(url, size=1).close()  # create the schema
    source = sqlite3.connect(f"file:{warm_sqlite}?mode=ro", uri=True)
    try:
        rows = source.execute("SELECT model, text_hash, dim, vector FROM embeddings").fetchall()
    finally:
        source.close()
    with psycopg.connect(url, autocommit=True) as conn, conn.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO embeddings (model, text_hash, dim, vector) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT DO NOTHING",
            rows,
        )
