"""What the store remembers that a handoff needs: the customer's turns so far, how similar
handoffs were resolved, and the handoff's suggested reply (sealed at rest like its summary).

Small SQL queries over :class:`bot.storage.sqlite.Store`'s connection, run on its worker thread.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.storage.crypto import CipherError
from bot.storage.sqlite import Store
from bot.texts import shorten
from bot.types import Language
from bot.understanding.privacy import redact

MAX_TURNS = 200
"""The customer messages a summary looks at (the whole conversation, in practice)."""


@dataclass(frozen=True)
class CustomerTurn:
    """One customer message since the conversation's context was last cleared, redacted."""

    text: str
    emotion: str | None
    entry_id: str | None
    """The knowledge entry the bot answered it from (``None``: not answered from one)."""


@dataclass(frozen=True)
class PastHandoff:
    """A resolved handoff with the same intent: what agents wrote and how long it took."""

    id: int
    minutes: float
    agent_lines: tuple[str, ...]


async def customer_turns(store: Store, key: str, language: Language) -> list[CustomerTurn]:
    """The customer's messages of conversation ``key`` since its context was cleared, oldest
    first, redacted (in each message's own language, else ``language``)."""

    def run() -> list[CustomerTurn]:
        rows = store._db.execute(
            "SELECT m.text, m.emotion, m.entry_id, m.answered, m.language FROM messages m "
            "JOIN conversations c ON c.key = m.conversation_key "
            "WHERE m.conversation_key = ? AND m.id > c.context_since AND m.direction = 'in' "
            "AND m.role = 'customer' ORDER BY m.id DESC LIMIT ?",
            [key, MAX_TURNS],
        ).fetchall()
        turns = []
        for text, emotion, entry_id, answered, lang in reversed(rows):
            own: Language = lang if lang in ("ko", "en") else language
            opened = redact(store.cipher.open(text), own)
            turns.append(CustomerTurn(opened, emotion, entry_id if answered else None))
        return turns

    return await store._run(run)


async def similar_resolved(
    store: Store,
    intent: str,
    *,
    language: Language,
    limit: int = 3,
    lines_each: int = 2,
    clip: int = 140,
) -> list[PastHandoff]:
    """The latest ``limit`` resolved handoffs with ``intent``, each with its first
    ``lines_each`` agent messages (redacted, clipped to ``clip`` characters)."""

    def run() -> list[PastHandoff]:
        rows = store._db.execute(
            "SELECT id, conversation_key, created_at, resolved_at, language FROM handoffs "
            "WHERE intent = ? AND resolved_at IS NOT NULL ORDER BY resolved_at DESC LIMIT ?",
            [intent, limit],
        ).fetchall()
        found = []
        for handoff_id, key, created, resolved, lang in rows:
            texts = store._db.execute(
                "SELECT text FROM messages WHERE conversation_key = ? AND role = 'agent' "
                "AND created_at BETWEEN ? AND ? ORDER BY id LIMIT ?",
                [key, created, resolved, lines_each],
            ).fetchall()
            own: Language = lang if lang in ("ko", "en") else language
            lines = tuple(shorten(redact(store.cipher.open(t[0]), own), clip) for t in texts)
            found.append(PastHandoff(int(handoff_id), (resolved - created) / 60.0, lines))
        return found

    return await store._run(run)


async def save_suggestion(store: Store, handoff_id: int, text: str) -> None:
    """Store the suggested reply of handoff ``handoff_id`` (sealed)."""

    def run() -> None:
        with store._db.conn:
            store._db.execute(
                "UPDATE handoffs SET suggestion = ? WHERE id = ?",
                [store.cipher.seal(text), handoff_id],
            )

    await store._run(run)


async def suggestion_of(store: Store, handoff_id: int) -> str | None:
    """The suggested reply of handoff ``handoff_id``; ``None`` if it has none (or it was
    sealed with a key the store no longer has)."""

    def run() -> str | None:
        row = store._one("SELECT suggestion FROM handoffs WHERE id = ?", [handoff_id])
        if row is None or not row[0]:
            return None
        try:
            return store.cipher.open(row[0])
        except CipherError:
            return None

    return await store._run(run)


async def save_summary(store: Store, handoff_id: int, summary: str) -> None:
    """Replace the stored summary of handoff ``handoff_id`` (sealed), e.g. with the LLM's."""

    def run() -> None:
        with store._db.conn:
            store._db.execute(
                "UPDATE handoffs SET summary = ? WHERE id = ?",
                [store.cipher.seal(summary), handoff_id],
            )

    await store._run(run)
