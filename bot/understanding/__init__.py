"""What the bot reads from one message: its emotion, personal data to redact, and the text as
it is analysed (normalised). Language detection lives lower, in :mod:`knowledge.language`."""
