"""Read-only queries behind ``ondo insights conversations``: the window's rows, decrypted.

Only reads: nothing here writes to the store. Customer text is read (and opened with the
store's cipher) only for unanswered questions, the one figure that needs it.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.storage.sqlite import Store


@dataclass(frozen=True)
class InboundRow:
    """One customer message: what the engine made of it."""

    conversation_key: str
    created_at: float
    language: str | None
    emotion: str | None
    intent: str | None
    entry_id: str | None
    answered: bool | None


@dataclass(frozen=True)
class HandoffRow:
    """One hand-over to people."""

    conversation_key: str
    reason: str
    created_at: float
    taken_at: float | None
    resolved_at: float | None


@dataclass(frozen=True)
class RatingRow:
    """One 👍 (+1) or 👎 (-1) on an answer from a knowledge entry."""

    entry_id: str
    rating: int
    created_at: float


@dataclass(frozen=True)
class UnansweredRow:
    """A customer message the bot could not answer from the knowledge base (text in clear)."""

    conversation_key: str
    text: str
    language: str
    intent: str | None
    created_at: float


@dataclass(frozen=True)
class WindowRows:
    """Everything the conversation figures are computed from, for one time window."""

    inbound: tuple[InboundRow, ...]
    handoffs: tuple[HandoffRow, ...]
    ratings: tuple[RatingRow, ...]
    unanswered: tuple[UnansweredRow, ...]
    staff_inbound: tuple[InboundRow, ...] = ()
    """Staff members' questions to the handbook, counted apart from customers'."""
    staff_unanswered: tuple[UnansweredRow, ...] = ()


async def read_window(store: Store, since: float, until: float) -> WindowRows:
    """The rows created at or after ``since`` and before ``until`` (epoch seconds)."""
    return await store._run(lambda: _read(store, since, until))


_CUSTOMERS = "audience IS NULL"
_STAFF = "audience = 'staff'"


def _inbound(store: Store, window: list[float], audience: str) -> tuple[InboundRow, ...]:
    return tuple(
        InboundRow(key, float(at), language, emotion, intent, entry_id, _flag(answered))
        for key, at, language, emotion, intent, entry_id, answered in store._db.execute(
            "SELECT conversation_key, created_at, language, emotion, intent, entry_id, answered "
            f"FROM messages WHERE direction = 'in' AND role = 'customer' AND {audience} "
            "AND created_at >= ? AND created_at < ? ORDER BY created_at, id",
            window,
        ).fetchall()
    )


def _unanswered(store: Store, window: list[float], audience: str) -> tuple[UnansweredRow, ...]:
    return tuple(
        UnansweredRow(key, store.cipher.open(text), language, intent, float(at))
        for key, text, language, intent, at in store._db.execute(
            "SELECT conversation_key, text, language, intent, created_at FROM messages "
            f"WHERE direction = 'in' AND role = 'customer' AND {audience} AND answered = 0 "
            "AND language IS NOT NULL AND created_at >= ? AND created_at < ? "
            "ORDER BY created_at, id",
            window,
        ).fetchall()
    )


def _read(store: Store, since: float, until: float) -> WindowRows:
    db = store._db
    window = [since, until]
    inbound = _inbound(store, window, _CUSTOMERS)
    handoffs = tuple(
        HandoffRow(key, reason, float(at), taken, resolved)
        for key, reason, at, taken, resolved in db.execute(
            "SELECT conversation_key, reason, created_at, taken_at, resolved_at FROM handoffs "
            "WHERE created_at >= ? AND created_at < ? ORDER BY created_at, id",
            window,
        ).fetchall()
    )
    ratings = tuple(
        RatingRow(str(entry_id), int(rating), float(at))
        for entry_id, rating, at in db.execute(
            "SELECT entry_id, rating, created_at FROM ratings WHERE entry_id IS NOT NULL "
            "AND created_at >= ? AND created_at < ? ORDER BY created_at, id",
            window,
        ).fetchall()
    )
    return WindowRows(
        inbound,
        handoffs,
        ratings,
        _unanswered(store, window, _CUSTOMERS),
        _inbound(store, window, _STAFF),
        _unanswered(store, window, _STAFF),
    )


def _flag(value: object) -> bool | None:
    return None if value is None else bool(value)
