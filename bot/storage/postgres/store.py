"""The shared store: the store's SQL on a PostgreSQL database that replicas share."""

from __future__ import annotations

from bot.storage.crypto import Cipher
from bot.storage.postgres.database import POOL_SIZE, PostgresDatabase
from bot.storage.sql.store import SqlStore


class PostgresStore(SqlStore):
    """The PostgreSQL :class:`bot.storage.interface.Store`. Open with :meth:`open`; close with
    :meth:`close`."""

    def __init__(self, database: PostgresDatabase) -> None:
        super().__init__(database)
        self.pg = database

    @classmethod
    def open(
        cls, url: str, cipher: Cipher | None = None, *, size: int = POOL_SIZE
    ) -> PostgresStore:
        """Connect to the database at ``url`` (creating its schema when empty); with a
        ``cipher`` that encrypts, customer text is stored sealed."""
        return cls(PostgresDatabase.open(url, cipher, size=size))
