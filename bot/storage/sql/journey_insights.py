"""The read-only rows behind ``ondo insights journeys``: a window's scheduled sends and what
followed them (customer messages, consent revocations, orders, reviews answering them).

Nothing here writes and no sealed text is opened: the figures need only who, what and when.
Functions take the store (any :class:`~bot.storage.sql.database.Bound` over the database).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.storage.sql.database import Bound

ORDER_EVENT = "order.placed"
"""The event type that counts as a conversion."""


@dataclass(frozen=True)
class SendRow:
    """One scheduled send created in the window."""

    journey: str
    customer_id: str
    category: str
    state: str
    reason: str | None
    deferrals: int
    sent_at: float | None
    created_at: float
    trigger_type: str | None
    """The type of the event that scheduled it (``cart.abandoned``), if it is still stored."""
    language: str | None
    id: int | None = None
    """The send's id (what a review's ``send_id`` names)."""


@dataclass(frozen=True)
class ReviewRow:
    """A review that answers a journey's send: which send, its polarity and its stars."""

    send_id: int
    polarity: str
    rating: int | None


@dataclass(frozen=True)
class CustomerMoment:
    """Something a customer did at a time: wrote to the bot, revoked consent, ordered."""

    customer_id: str
    at: float
    category: str | None = None
    """For a consent revocation, the category revoked."""


@dataclass(frozen=True)
class JourneyRows:
    """Everything the journey figures of one window are computed from."""

    sends: tuple[SendRow, ...]
    replies: tuple[CustomerMoment, ...]
    """Customer messages (inbound, role customer) from a platform user linked to a customer."""
    revocations: tuple[CustomerMoment, ...]
    """Consent ledger entries that withdraw consent."""
    orders: tuple[CustomerMoment, ...]
    """``order.placed`` events, at the time they occurred."""
    reviews: tuple[ReviewRow, ...] = ()
    """Reviews answering a journey's send, stored from ``since`` on (no text is opened)."""


async def journey_rows(store: Bound, since: float, until: float) -> JourneyRows:
    """The sends created at or after ``since`` and before ``until``, and the customers'
    messages, revocations, orders and reviews of sends from ``since`` on (what followed a
    send may come after ``until``)."""

    def run() -> JourneyRows:
        return JourneyRows(
            _sends(store, since, until),
            _moments(
                store,
                "SELECT i.customer_id, m.created_at, NULL FROM messages m "
                'JOIN journey_identities i ON i.platform = m.platform AND i."user" = m."user" '
                "WHERE m.direction = 'in' AND m.role = 'customer' AND m.created_at >= ? "
                "ORDER BY m.created_at, m.id",
                [since],
            ),
            _moments(
                store,
                "SELECT customer_id, at, category FROM journey_consent "
                "WHERE granted = 0 AND at >= ? ORDER BY at, id",
                [since],
            ),
            _moments(
                store,
                "SELECT customer_id, occurred_at, NULL FROM journey_events "
                "WHERE type = ? AND occurred_at >= ? ORDER BY occurred_at, id",
                [ORDER_EVENT, since],
            ),
            _reviews(store, since),
        )

    return await store._run(run)


def _sends(store: Bound, since: float, until: float) -> tuple[SendRow, ...]:
    rows = store._sql.execute(
        "SELECT s.journey, s.customer_id, s.category, s.state, s.reason, s.deferrals, "
        "s.sent_at, s.created_at, e.type, s.language, s.id FROM journey_sends s "
        "LEFT JOIN journey_events e ON e.event_id = s.trigger_event_id "
        "WHERE s.created_at >= ? AND s.created_at < ? ORDER BY s.created_at, s.id",
        [since, until],
    ).fetchall()
    return tuple(
        SendRow(
            str(journey),
            str(customer),
            str(category),
            str(state),
            None if reason is None else str(reason),
            int(deferrals or 0),
            None if sent_at is None else float(sent_at),
            float(created_at),
            None if trigger is None else str(trigger),
            None if language is None else str(language),
            int(send_id),
        )
        for (
            journey,
            customer,
            category,
            state,
            reason,
            deferrals,
            sent_at,
            created_at,
            trigger,
            language,
            send_id,
        ) in rows
    )


def _reviews(store: Bound, since: float) -> tuple[ReviewRow, ...]:
    rows = store._sql.execute(
        "SELECT send_id, polarity, rating FROM reviews "
        "WHERE send_id IS NOT NULL AND created_at >= ? ORDER BY created_at, id",
        [since],
    ).fetchall()
    return tuple(
        ReviewRow(int(send_id), str(polarity), None if rating is None else int(rating))
        for send_id, polarity, rating in rows
    )


def _moments(store: Bound, sql: str, params: list[Any]) -> tuple[CustomerMoment, ...]:
    return tuple(
        CustomerMoment(str(customer), float(at), None if category is None else str(category))
        for customer, at, category in store._sql.execute(sql, params).fetchall()
    )
