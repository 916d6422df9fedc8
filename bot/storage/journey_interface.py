"""What customer journeys ask of a store (``store.journeys``): the typed interface both
backends implement (:class:`bot.storage.sql.journeys.SqlJourneys`).

Everything crosses it as plain values (:mod:`bot.storage.journey_records`); text goes in and
comes out in clear. A value that cannot be stored raises
:class:`bot.storage.journey_records.JourneyStoreError` with a one-line message.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from bot.storage.journey_records import (
    Attention,
    Consent,
    Customer,
    FinalState,
    Identity,
    JourneyEvent,
    JourneyStats,
    ScheduledSend,
)
from bot.storage.records import Post


class Journeys(Protocol):
    """Events, customers, identities, scheduled sends and consent (``store.journeys``)."""

    async def record_event(
        self,
        event_id: str,
        type: str,
        occurred_at: float,
        customer_id: str,
        payload: Mapping[str, Any],
        *,
        received_at: float | None = None,
    ) -> bool:
        """Store an event once, durably; ``False`` for an ``event_id`` stored before."""
        ...

    async def event(self, event_id: str) -> JourneyEvent | None:
        """The stored event ``event_id``, if any."""
        ...

    async def events(
        self, customer_id: str, *, since: float | None = None, type: str | None = None
    ) -> list[JourneyEvent]:
        """A customer's stored events (since ``since``, of ``type``), as they occurred."""
        ...

    async def upsert_customer(
        self,
        customer_id: str,
        *,
        name: str | None = None,
        language: str | None = None,
        time_zone: str | None = None,
        tier: str | None = None,
        at: float | None = None,
    ) -> None:
        """Create or update a shop customer; ``None`` fields keep their stored value."""
        ...

    async def customer(self, customer_id: str) -> Customer | None:
        """A shop customer with their linked identities, if known."""
        ...

    async def link(
        self, customer_id: str, platform: str, user: str, *, at: float | None = None
    ) -> None:
        """Link a platform user to a shop customer (moving it from another)."""
        ...

    async def unlink(self, customer_id: str, platform: str, user: str) -> bool:
        """Remove a link; whether there was one."""
        ...

    async def customer_for(self, platform: str, user: str) -> str | None:
        """The shop customer a platform user is linked to, if any."""
        ...

    async def identities(self, customer_id: str) -> list[Identity]:
        """The platform identities linked to a customer."""
        ...

    async def mark_undeliverable(
        self, platform: str, user: str, reason: str, *, at: float | None = None
    ) -> bool:
        """The platform refuses DMs to this user: never try there again."""
        ...

    async def schedule(
        self,
        journey: str,
        customer_id: str,
        *,
        category: str,
        dedupe_key: str,
        due_at: float,
        trigger_event_id: str | None = None,
        match_value: str | None = None,
        platform: str | None = None,
        text: str | None = None,
        language: str | None = None,
        at: float | None = None,
    ) -> int | None:
        """Schedule a send; its id, or ``None`` when its dedupe key was scheduled before."""
        ...

    async def send(self, send_id: int) -> ScheduledSend | None:
        """One scheduled send as it stands."""
        ...

    async def sends(self, customer_id: str) -> list[ScheduledSend]:
        """Every send scheduled for a customer, oldest first."""
        ...

    async def cancel_pending(
        self,
        customer_id: str,
        match_value: str | None = None,
        *,
        journey: str | None = None,
        reason: str = "exit",
        category: str | None = None,
    ) -> int:
        """Cancel a customer's sends not yet sent (an exit event, an opt-out); how many."""
        ...

    async def cancel(self, send_id: int, reason: str = "exit") -> bool:
        """Cancel one send not yet sent; whether it was pending or claimed."""
        ...

    async def take_due(
        self, now: float, replica: str | None, limit: int = 20
    ) -> list[ScheduledSend]:
        """Claim due sends (one replica gets each; a dead replica's claims are free)."""
        ...

    async def finish(
        self,
        send_id: int,
        state: FinalState,
        reason: str | None = None,
        sent_at: float | None = None,
        *,
        post: Post | None = None,
    ) -> bool:
        """Decide a claimed send; ``sent`` queues ``post`` in the same transaction. ``False``
        when it is no longer claimed (nothing queued)."""
        ...

    async def defer(self, send_id: int, due_at: float, reason: str) -> bool:
        """Put a claimed send off to ``due_at``; ``False`` when it is no longer claimed."""
        ...

    async def undeliverable(self, send_id: int, reason: str, *, at: float | None = None) -> bool:
        """The platform refused a queued send for good: record it and mark the identity."""
        ...

    async def count_sent(
        self,
        customer_id: str,
        *,
        since: float,
        category: str | None = None,
        journey: str | None = None,
    ) -> int:
        """How many sends to a customer were sent since ``since`` (for frequency caps)."""
        ...

    async def sent_times(
        self,
        customer_id: str,
        *,
        since: float,
        category: str | None = None,
        journey: str | None = None,
    ) -> list[float]:
        """When a customer's sends were sent since ``since``, oldest first (for caps)."""
        ...

    async def attention(self, identities: Sequence[tuple[str, str]]) -> Attention:
        """What the conversations of these ``(platform, user)`` identities say now: an open
        handoff, a person on it, the last angry message, when each last wrote."""
        ...

    async def set_consent(
        self,
        customer_id: str,
        category: str,
        *,
        granted: bool,
        night: bool = False,
        source: str,
        evidence: str | None = None,
        at: float | None = None,
    ) -> Consent:
        """Append a consent entry (the history is kept)."""
        ...

    async def consent(self, customer_id: str, category: str) -> Consent | None:
        """The current consent for a category (the latest entry), if any."""
        ...

    async def consent_history(self, customer_id: str) -> list[Consent]:
        """Every consent entry of a customer, oldest first."""
        ...

    async def stats(self, since: float, until: float | None = None) -> list[JourneyStats]:
        """Per journey, the sends created in the window by outcome."""
        ...
