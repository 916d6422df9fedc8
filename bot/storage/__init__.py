"""Where conversations, handoffs, corrections and caches are kept: the store interface
(:mod:`bot.storage.interface`) and its SQLite implementation, with migrations, retention and
encryption at rest."""
