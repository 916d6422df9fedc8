"""Where conversations, handoffs, corrections and caches are kept: the :class:`Store` interface
and its SQLite implementation, migrations, retention and encryption at rest."""
