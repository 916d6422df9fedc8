"""Which store ``ONDO_DB`` names, opened with the key of ``ONDO_ENCRYPTION_KEY``."""

from __future__ import annotations

from bot.settings import Settings
from bot.storage.crypto import cipher_for
from bot.storage.interface import Store
from bot.storage.postgres import PostgresStore
from bot.storage.sqlite import SQLiteStore


def open_store(settings: Settings) -> Store:
    """The store of ``ONDO_DB`` with the cipher of ``ONDO_ENCRYPTION_KEY``: a ``postgresql://``
    URL is the database replicas share, anything else a SQLite file (the embedded default).
    Every command opens it this way, so none refuses an encrypted database the key opens."""
    cipher = cipher_for(settings.encryption_key)
    if settings.shared_db:
        return PostgresStore.open(settings.db_path, cipher, size=settings.db_pool)
    return SQLiteStore.open(settings.db_path, cipher)
