"""The embedded store: one SQLite file (the default, and all a single machine needs)."""

from bot.storage.sqlite.store import SQLiteStore

__all__ = ["SQLiteStore"]
