"""The conversation: one message through the engine, the handoff to a person and back, and
what agents are given (the brief, the summary, the suggested reply)."""
