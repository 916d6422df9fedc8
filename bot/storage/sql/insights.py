"""The read-only queries behind ``ondo insights conversations``: a time window's rows.

Nothing here writes. Customer text is opened (with the store's cipher) only for unanswered
questions, the one figure that needs it.
"""

from __future__ import annotations

from bot.storage.records import HandoffRow, InboundRow, RatingRow, UnansweredRow, WindowRows
from bot.storage.sql.database import Bound


class SqlInsights(Bound):
    """:class:`bot.storage.interface.InsightsReader` over the SQLite database."""

    async def read_window(self, since: float, until: float) -> WindowRows:
        """The rows created at or after ``since`` and before ``until`` (epoch seconds), for
        the conversation figures. Only reads; customer text is opened only for unanswered
        questions, the one figure that needs it."""
        return await self._run(lambda: self._read_window([since, until]))

    def _read_window(self, window: list[float]) -> WindowRows:
        handoffs = tuple(
            HandoffRow(key, reason, float(at), taken, resolved)
            for key, reason, at, taken, resolved in self._sql.execute(
                "SELECT conversation_key, reason, created_at, taken_at, resolved_at FROM handoffs "
                "WHERE created_at >= ? AND created_at < ? ORDER BY created_at, id",
                window,
            ).fetchall()
        )
        ratings = tuple(
            RatingRow(str(entry_id), int(rating), float(at))
            for entry_id, rating, at in self._sql.execute(
                "SELECT entry_id, rating, created_at FROM ratings WHERE entry_id IS NOT NULL "
                "AND created_at >= ? AND created_at < ? ORDER BY created_at, id",
                window,
            ).fetchall()
        )
        return WindowRows(
            self._inbound_rows(window, _CUSTOMERS),
            handoffs,
            ratings,
            self._unanswered_rows(window, _CUSTOMERS),
            self._inbound_rows(window, _STAFF),
            self._unanswered_rows(window, _STAFF),
        )

    def _inbound_rows(self, window: list[float], audience: str) -> tuple[InboundRow, ...]:
        return tuple(
            InboundRow(key, float(at), language, emotion, intent, entry_id, _flag(answered))
            for key, at, language, emotion, intent, entry_id, answered in self._sql.execute(
                "SELECT conversation_key, created_at, language, emotion, intent, entry_id, "
                f"answered FROM messages WHERE direction = 'in' AND role = 'customer' AND "
                f"{audience} AND created_at >= ? AND created_at < ? ORDER BY created_at, id",
                window,
            ).fetchall()
        )

    def _unanswered_rows(self, window: list[float], audience: str) -> tuple[UnansweredRow, ...]:
        return tuple(
            UnansweredRow(key, self.cipher.open(text), language, intent, float(at))
            for key, text, language, intent, at in self._sql.execute(
                "SELECT conversation_key, text, language, intent, created_at FROM messages "
                f"WHERE direction = 'in' AND role = 'customer' AND {audience} AND answered = 0 "
                "AND language IS NOT NULL AND created_at >= ? AND created_at < ? "
                "ORDER BY created_at, id",
                window,
            ).fetchall()
        )


_CUSTOMERS = "audience IS NULL"
_STAFF = "audience = 'staff'"


def _flag(value: object) -> bool | None:
    return None if value is None else bool(value)
