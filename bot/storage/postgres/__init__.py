"""The shared store: one PostgreSQL database for any number of replicas."""

from bot.storage.postgres.store import PostgresStore

__all__ = ["PostgresStore"]
