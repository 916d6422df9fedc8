"""Deterministic fakes of the outside world (LLM server, platforms) for the tests."""
