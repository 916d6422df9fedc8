"""Platform adapters: thin translators between a platform's events and the core's Message/Reply."""
