"""The embedded store: the store's SQL on one SQLite file."""

from __future__ import annotations

from pathlib import Path

import sqlite_utils

from bot.storage.crypto import Cipher
from bot.storage.sql.store import SqlStore
from bot.storage.sqlite.database import SQLiteDatabase


class SQLiteStore(SqlStore):
    """The SQLite :class:`bot.storage.interface.Store`. Open with :meth:`open`; close with
    :meth:`close`."""

    def __init__(self, database: SQLiteDatabase) -> None:
        super().__init__(database)
        self._file = database
        self.path = database.path

    @classmethod
    def open(cls, path: str | Path, cipher: Cipher | None = None) -> SQLiteStore:
        """Open (creating if needed) and migrate the database at ``path`` (``:memory:`` works);
        with a ``cipher`` that encrypts, customer text is stored sealed."""
        return cls(SQLiteDatabase.open(path, cipher))

    @property
    def _db(self) -> sqlite_utils.Database:
        """The file itself, for tests and tools that read it directly."""
        return self._file.db
