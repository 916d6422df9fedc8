"""Which store ``ONDO_DB`` names, opened with the key of ``ONDO_ENCRYPTION_KEY``."""

from __future__ import annotations

from bot.settings import Settings
from bot.storage.crypto import cipher_for
from bot.storage.interface import Store
from bot.storage.sqlite import SQLiteStore


def open_store(settings: Settings) -> Store:
    """The store of ``ONDO_DB`` with the cipher of ``ONDO_ENCRYPTION_KEY``: every command opens
    it this way, so none refuses an encrypted database that the key opens."""
    return SQLiteStore.open(settings.db_path, cipher_for(settings.encryption_key))
