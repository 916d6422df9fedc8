"""Customer journeys in the database (``store.journeys``): the shop's events, its customers and
their platform identities, the scheduled sends, and the consent ledger.

At most once per scheduled send, across crashes and replicas: a due send is claimed
(``sending``, for a lease, like an outbox row) while one replica checks the rules; nothing is
posted in that state. Sending it is :meth:`SqlJourneys.finish` with state ``sent`` and the
``dm`` post, which moves the row from ``sending`` to ``sent`` and writes the outbox row in one
transaction. So a claimed row whose replica crashed (lease over, or the replica dead) was not
posted and is simply claimed again; a late ``finish`` from the replica that lost the claim
changes nothing (the row is no longer ``sending``), so only one outbox row is ever written per
send. From there the outbox's own delivery applies.

Names, payloads, message text and consent evidence are sealed with the store's cipher.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from collections.abc import Mapping, Sequence
from typing import Any

from bot.storage.journey_records import (
    FINAL_STATES,
    MAX_ID_CHARS,
    MAX_PAYLOAD_BYTES,
    SEND_LEASE_SECONDS,
    SEND_MAX_CLAIMS,
    SEND_STATES,
    Attention,
    Consent,
    Customer,
    FinalState,
    Identity,
    JourneyEvent,
    JourneyStats,
    JourneyStoreError,
    ScheduledSend,
    SendState,
)
from bot.storage.records import Post
from bot.storage.sql.database import Bound, Database
from bot.storage.sql.outbox import SqlOutbox
from bot.storage.sql.replicas import cutoffs, free_claim

_SEND_COLUMNS = (
    "id, journey, customer_id, trigger_event_id, category, dedupe_key, match_value, due_at, "
    "state, reason, platform, text, language, attempts, deferrals, claimed_at, claimed_by, "
    "sent_at, outbox_id, created_at"
)
_CONSENT_COLUMNS = "customer_id, category, granted, night, source, evidence, at"
_MAX_TEXT_CHARS = 20_000


def _key(what: str, value: object) -> str:
    """``value`` as an identifier (an id, a name, a category), or a one-line error."""
    if not isinstance(value, str) or not value.strip():
        raise JourneyStoreError(f"{what} must be a non-empty string")
    if len(value) > MAX_ID_CHARS:
        raise JourneyStoreError(f"{what} is longer than {MAX_ID_CHARS} characters")
    if "\x00" in value:
        raise JourneyStoreError(f"{what} contains a NUL character")
    return value


def _text(what: str, value: str | None, limit: int = _MAX_TEXT_CHARS) -> str | None:
    """Optional free text (a name, a message), or a one-line error."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise JourneyStoreError(f"{what} must be a string")
    if len(value) > limit:
        raise JourneyStoreError(f"{what} is longer than {limit} characters")
    if "\x00" in value:
        raise JourneyStoreError(f"{what} contains a NUL character")
    return value


def _time(what: str, value: object) -> float:
    """``value`` as epoch seconds, or a one-line error."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise JourneyStoreError(f"{what} must be a finite number of epoch seconds")
    return float(value)


def _payload(value: Mapping[str, Any]) -> str:
    """The payload as JSON text, or a one-line error (not an object, not JSON, too big)."""
    if not isinstance(value, Mapping):
        raise JourneyStoreError("payload must be a JSON object")
    try:
        text = json.dumps(dict(value), ensure_ascii=False, allow_nan=False, sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise JourneyStoreError(f"payload is not JSON: {str(exc)[:80]}") from None
    if len(text.encode("utf-8")) > MAX_PAYLOAD_BYTES:
        raise JourneyStoreError(f"payload is larger than {MAX_PAYLOAD_BYTES} bytes")
    return text


def _state(value: object) -> SendState:
    return next((s for s in SEND_STATES if s == value), "pending")


class SqlJourneys(Bound):
    """:class:`bot.storage.journey_interface.Journeys` over the database."""

    def __init__(self, database: Database, outbox: SqlOutbox) -> None:
        super().__init__(database)
        self._outbox = outbox

    # --- events and customers ------------------------------------------------------------

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
        """Store an event once: ``False`` when ``event_id`` was stored before (a redelivery,
        ignored). Durable when this returns. Raises :class:`JourneyStoreError` on a value that
        cannot be stored."""
        fields = [
            _key("event_id", event_id),
            _key("type", type),
            _time("occurred_at", occurred_at),
            _key("customer_id", customer_id),
            self.cipher.seal(_payload(payload)),
            _time("received_at", received_at if received_at is not None else time.time()),
        ]

        def run() -> bool:
            with self._write():
                row = self._sql.insert(
                    "INSERT INTO journey_events (event_id, type, occurred_at, customer_id, "
                    "payload, received_at) VALUES (?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT (event_id) DO NOTHING",
                    fields,
                )
            return row is not None

        return await self._run(run)

    async def event(self, event_id: str) -> JourneyEvent | None:
        """The stored event ``event_id``, if any."""

        def run() -> JourneyEvent | None:
            row = self._one(
                "SELECT event_id, type, occurred_at, customer_id, payload, received_at "
                "FROM journey_events WHERE event_id = ?",
                [event_id],
            )
            return self._event(row) if row is not None else None

        return await self._run(run)

    async def events(
        self, customer_id: str, *, since: float | None = None, type: str | None = None
    ) -> list[JourneyEvent]:
        """``customer_id``'s stored events (that occurred at or after ``since``, of ``type``,
        when given), in the order they occurred: what a conversion is counted from."""
        sql = (
            "SELECT event_id, type, occurred_at, customer_id, payload, received_at "
            "FROM journey_events WHERE customer_id = ?"
        )
        params: list[Any] = [customer_id]
        if since is not None:
            sql += " AND occurred_at >= ?"
            params.append(since)
        if type is not None:
            sql += " AND type = ?"
            params.append(type)

        def run() -> list[JourneyEvent]:
            rows = self._sql.execute(sql + " ORDER BY occurred_at, id", params).fetchall()
            return [self._event(r) for r in rows]

        return await self._run(run)

    def _event(self, row: Sequence[Any]) -> JourneyEvent:
        payload = json.loads(self.cipher.open(row[4]))
        return JourneyEvent(row[0], row[1], float(row[2]), row[3], payload, float(row[5]))

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
        """Create or update shop customer ``customer_id``; a field given as ``None`` keeps its
        stored value (an event that omits the name does not erase it)."""
        name = _text("name", name, 500)
        params = [
            _key("customer_id", customer_id),
            self.cipher.seal(name) if name is not None else None,
            _text("language", language, 20),
            _text("time_zone", time_zone, 100),
            _text("tier", tier, 100),
            _time("at", at if at is not None else time.time()),
        ]

        def run() -> None:
            with self._write():
                self._sql.execute(
                    "INSERT INTO journey_customers (customer_id, name, language, time_zone, tier,"
                    " updated_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (customer_id) DO UPDATE "
                    "SET name = COALESCE(excluded.name, journey_customers.name), "
                    "language = COALESCE(excluded.language, journey_customers.language), "
                    "time_zone = COALESCE(excluded.time_zone, journey_customers.time_zone), "
                    "tier = COALESCE(excluded.tier, journey_customers.tier), "
                    "updated_at = excluded.updated_at",
                    params,
                )

        await self._run(run)

    async def customer(self, customer_id: str) -> Customer | None:
        """Shop customer ``customer_id`` with their linked identities, if known (a customer
        only linked, never described, comes back with empty fields)."""

        def run() -> Customer | None:
            row = self._one(
                "SELECT customer_id, name, language, time_zone, tier, updated_at "
                "FROM journey_customers WHERE customer_id = ?",
                [customer_id],
            )
            identities = self._identities(customer_id)
            if row is None:
                if not identities:
                    return None
                return Customer(customer_id, None, None, None, None, 0.0, tuple(identities))
            name = self.cipher.open(row[1]) if row[1] is not None else None
            return Customer(row[0], name, row[2], row[3], row[4], float(row[5]), tuple(identities))

        return await self._run(run)

    # --- identities ----------------------------------------------------------------------

    async def link(
        self, customer_id: str, platform: str, user: str, *, at: float | None = None
    ) -> None:
        """Link platform user ``user`` on ``platform`` to shop customer ``customer_id`` (moving
        it from another customer it was linked to; an undeliverable mark stays only when the
        customer is the same)."""
        params = [
            _key("platform", platform),
            _key("user", user),
            _key("customer_id", customer_id),
            _time("at", at if at is not None else time.time()),
        ]

        def run() -> None:
            with self._write():
                self._sql.execute(
                    'INSERT INTO journey_identities (platform, "user", customer_id, linked_at) '
                    'VALUES (?, ?, ?, ?) ON CONFLICT (platform, "user") DO UPDATE SET '
                    "undeliverable_at = CASE WHEN journey_identities.customer_id = "
                    "excluded.customer_id THEN journey_identities.undeliverable_at END, "
                    "undeliverable_reason = CASE WHEN journey_identities.customer_id = "
                    "excluded.customer_id THEN journey_identities.undeliverable_reason END, "
                    "customer_id = excluded.customer_id, linked_at = excluded.linked_at",
                    params,
                )

        await self._run(run)

    async def unlink(self, customer_id: str, platform: str, user: str) -> bool:
        """Remove the link of ``user`` on ``platform`` to ``customer_id``; whether there was."""

        def run() -> bool:
            with self._write():
                return (
                    self._sql.execute(
                        "DELETE FROM journey_identities WHERE customer_id = ? AND platform = ? "
                        'AND "user" = ?',
                        [customer_id, platform, user],
                    ).rowcount
                    == 1
                )

        return await self._run(run)

    async def customer_for(self, platform: str, user: str) -> str | None:
        """The shop customer platform user ``user`` on ``platform`` is linked to, if any."""
        row = await self._run(
            lambda: self._one(
                'SELECT customer_id FROM journey_identities WHERE platform = ? AND "user" = ?',
                [platform, user],
            )
        )
        return str(row[0]) if row else None

    async def identities(self, customer_id: str) -> list[Identity]:
        """The platform identities linked to ``customer_id``, oldest link first."""
        return await self._run(lambda: self._identities(customer_id))

    def _identities(self, customer_id: str) -> list[Identity]:
        rows = self._sql.execute(
            'SELECT platform, "user", customer_id, linked_at, undeliverable_at, '
            "undeliverable_reason FROM journey_identities WHERE customer_id = ? "
            'ORDER BY linked_at, platform, "user"',
            [customer_id],
        ).fetchall()
        return [
            Identity(r[0], r[1], r[2], float(r[3]), None if r[4] is None else float(r[4]), r[5])
            for r in rows
        ]

    async def mark_undeliverable(
        self, platform: str, user: str, reason: str, *, at: float | None = None
    ) -> bool:
        """The platform refuses DMs to ``user`` (Discord 50007, Slack ``cannot_dm_bot``): mark
        the identity so no send is tried there again; whether it is linked."""
        now = at if at is not None else time.time()

        def run() -> bool:
            with self._write():
                cursor = self._sql.execute(
                    "UPDATE journey_identities SET undeliverable_at = ?, undeliverable_reason = ?"
                    ' WHERE platform = ? AND "user" = ?',
                    [now, reason[:200], platform, user],
                )
                return cursor.rowcount == 1

        return await self._run(run)

    # --- scheduled sends -----------------------------------------------------------------

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
        """Schedule one send of ``journey`` to ``customer_id`` at ``due_at``; its id, or
        ``None`` when the same (journey, customer, dedupe key) was scheduled before."""
        text = _text("text", text)
        params = [
            _key("journey", journey),
            _key("customer_id", customer_id),
            _text("trigger_event_id", trigger_event_id, MAX_ID_CHARS),
            _key("category", category),
            _key("dedupe_key", dedupe_key),
            _text("match_value", match_value, MAX_ID_CHARS),
            _time("due_at", due_at),
            _text("platform", platform, 50),
            self.cipher.seal(text) if text is not None else None,
            _text("language", language, 20),
            _time("at", at if at is not None else time.time()),
        ]

        def run() -> int | None:
            with self._write():
                return self._sql.insert(
                    "INSERT INTO journey_sends (journey, customer_id, trigger_event_id, category, "
                    "dedupe_key, match_value, due_at, platform, text, language, created_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT (journey, customer_id, dedupe_key) DO NOTHING",
                    params,
                )

        return await self._run(run)

    async def send(self, send_id: int) -> ScheduledSend | None:
        """Scheduled send ``send_id`` as it stands, if any."""
        row = await self._run(
            lambda: self._one(f"SELECT {_SEND_COLUMNS} FROM journey_sends WHERE id = ?", [send_id])
        )
        return self._send(row) if row is not None else None

    async def sends(self, customer_id: str) -> list[ScheduledSend]:
        """Every send scheduled for ``customer_id``, oldest first."""

        def run() -> list[ScheduledSend]:
            rows = self._sql.execute(
                f"SELECT {_SEND_COLUMNS} FROM journey_sends WHERE customer_id = ? ORDER BY id",
                [customer_id],
            ).fetchall()
            return [self._send(r) for r in rows]

        return await self._run(run)

    async def cancel_pending(
        self,
        customer_id: str,
        match_value: str | None = None,
        *,
        journey: str | None = None,
        reason: str = "exit",
        category: str | None = None,
    ) -> int:
        """Cancel ``customer_id``'s sends not yet sent (pending, or claimed and still being
        decided: their ``finish`` then changes nothing) of ``journey`` (any, if ``None``) and
        ``category`` (any, if ``None``) whose match value is ``match_value`` (any, if
        ``None``); how many."""
        sql = (
            "UPDATE journey_sends SET state = 'cancelled', reason = ?, claimed_at = NULL, "
            "claimed_by = NULL WHERE customer_id = ? AND state IN ('pending', 'sending')"
        )
        params: list[Any] = [reason[:200], customer_id]
        if match_value is not None:
            sql += " AND match_value = ?"
            params.append(match_value)
        if journey is not None:
            sql += " AND journey = ?"
            params.append(journey)
        if category is not None:
            sql += " AND category = ?"
            params.append(category)

        def run() -> int:
            with self._write():
                return self._sql.execute(sql, params).rowcount

        return await self._run(run)

    async def cancel(self, send_id: int, reason: str = "exit") -> bool:
        """Cancel send ``send_id`` if it is not sent yet (pending, or claimed: its ``finish``
        then changes nothing); whether it was."""

        def run() -> bool:
            with self._write():
                return (
                    self._sql.execute(
                        "UPDATE journey_sends SET state = 'cancelled', reason = ?, "
                        "claimed_at = NULL, claimed_by = NULL WHERE id = ? "
                        "AND state IN ('pending', 'sending')",
                        [reason[:200], send_id],
                    ).rowcount
                    == 1
                )

        return await self._run(run)

    async def take_due(
        self, now: float, replica: str | None, limit: int = 20
    ) -> list[ScheduledSend]:
        """Claim up to ``limit`` sends due at ``now`` as ``replica``, earliest first: pending
        ones, and claims left by a replica that died or overran its lease (nothing was posted
        for them). One replica gets each (``FOR UPDATE SKIP LOCKED`` on PostgreSQL). A send
        claimed :data:`SEND_MAX_CLAIMS` times without a decision is given up (``stuck``).

        One send per customer is decided at a time: a customer with a live claim, or a second
        due send of one customer in this batch, waits for the next call, so a frequency cap
        counted with :meth:`count_sent` before ``finish`` is not raced by a second send of the
        same batch or of a replica that claimed before. (Two replicas claiming in the very same
        instant on PostgreSQL could still each take one send of one customer.)"""
        lease = cutoffs(now, SEND_LEASE_SECONDS)
        free = free_claim("claimed_at", "claimed_by")
        free_s = free_claim("s.claimed_at", "s.claimed_by")
        free_b = free_claim("b.claimed_at", "b.claimed_by")

        def run() -> list[ScheduledSend]:
            with self._transaction():
                self._sql.execute(
                    "UPDATE journey_sends SET state = 'undeliverable', reason = 'stuck', "
                    f"claimed_at = NULL, claimed_by = NULL WHERE state = 'sending' AND {free} "
                    "AND attempts >= ?",
                    [*lease, SEND_MAX_CLAIMS],
                )
                rows = self._sql.execute(
                    f"SELECT {_SEND_COLUMNS} FROM journey_sends s WHERE s.due_at <= ? AND "
                    f"(s.state = 'pending' OR (s.state = 'sending' AND {free_s})) "
                    "AND NOT EXISTS (SELECT 1 FROM journey_sends b WHERE b.customer_id = "
                    f"s.customer_id AND b.state = 'sending' AND b.id != s.id AND NOT {free_b}) "
                    f"ORDER BY s.due_at, s.id LIMIT ?{self._database.skip_locked}",
                    [now, *lease, *lease, max(0, limit)],
                ).fetchall()
                customers: set[str] = set()
                mine = []
                for row in rows:
                    if row[2] in customers:
                        continue
                    customers.add(row[2])
                    mine.append(row)
                    self._sql.execute(
                        "UPDATE journey_sends SET state = 'sending', claimed_at = ?, "
                        "claimed_by = ?, attempts = attempts + 1 WHERE id = ?",
                        [now, replica, row[0]],
                    )
            claimed = {"state": "sending", "claimed_at": now, "claimed_by": replica}
            return [self._send(r, **claimed) for r in mine]

        return await self._run(run)

    async def finish(
        self,
        send_id: int,
        state: FinalState,
        reason: str | None = None,
        sent_at: float | None = None,
        *,
        post: Post | None = None,
    ) -> bool:
        """Decide claimed send ``send_id``: ``sent`` (with the ``post`` to queue, written to
        the outbox in the same transaction), ``suppressed`` (with the rule's ``reason``),
        ``cancelled`` or ``undeliverable``. ``False`` when it is no longer claimed (cancelled
        meanwhile, or decided by a replica that took over the claim): then nothing is queued."""
        if state not in FINAL_STATES:
            raise JourneyStoreError(f"a send cannot finish as {state!r}")
        if post is not None and state != "sent":
            raise JourneyStoreError("only a sent send has a post")
        when = time.time() if sent_at is None and state == "sent" else sent_at

        def run() -> bool:
            with self._write():
                changed = self._sql.execute(
                    "UPDATE journey_sends SET state = ?, reason = ?, sent_at = ?, "
                    "claimed_at = NULL, claimed_by = NULL WHERE id = ? AND state = 'sending'",
                    [state, reason[:200] if reason else None, when, send_id],
                ).rowcount
                if changed != 1:
                    return False
                if post is not None:
                    outbox_id = self._outbox.write(post)
                    # The words sent are kept with the send: an answer to it is recognised
                    # by them (the DM is the bot's last message in the conversation).
                    sealed = self.cipher.seal(post.text) if post.text is not None else None
                    self._sql.execute(
                        "UPDATE journey_sends SET outbox_id = ?, platform = ?, "
                        "text = COALESCE(?, text) WHERE id = ?",
                        [outbox_id, post.platform, sealed, send_id],
                    )
                return True

        return await self._run(run)

    async def defer(self, send_id: int, due_at: float, reason: str) -> bool:
        """Put claimed send ``send_id`` off to ``due_at`` (quiet hours: the next allowed
        moment) for ``reason``; its claim is freed. ``False`` when it is no longer claimed."""
        due = _time("due_at", due_at)

        def run() -> bool:
            with self._write():
                return (
                    self._sql.execute(
                        "UPDATE journey_sends SET state = 'pending', due_at = ?, reason = ?, "
                        "deferrals = deferrals + 1, attempts = 0, claimed_at = NULL, "
                        "claimed_by = NULL WHERE id = ? AND state = 'sending'",
                        [due, reason[:200], send_id],
                    ).rowcount
                    == 1
                )

        return await self._run(run)

    async def undeliverable(self, send_id: int, reason: str, *, at: float | None = None) -> bool:
        """The platform refused send ``send_id``'s DM for good (after ``finish`` queued it):
        record it ``undeliverable`` and mark the identity it went to; whether it changed."""
        now = at if at is not None else time.time()

        def run() -> bool:
            with self._write():
                row = self._one(
                    "SELECT o.platform, o.target FROM journey_sends s JOIN outbox o ON "
                    "o.id = s.outbox_id WHERE s.id = ?",
                    [send_id],
                )
                changed = self._sql.execute(
                    "UPDATE journey_sends SET state = 'undeliverable', reason = ?, "
                    "claimed_at = NULL, claimed_by = NULL WHERE id = ? "
                    "AND state IN ('sending', 'sent')",
                    [reason[:200], send_id],
                ).rowcount
                if row is not None:
                    self._sql.execute(
                        "UPDATE journey_identities SET undeliverable_at = ?, "
                        'undeliverable_reason = ? WHERE platform = ? AND "user" = ?',
                        [now, reason[:200], row[0], row[1]],
                    )
                return changed == 1

        return await self._run(run)

    async def count_sent(
        self,
        customer_id: str,
        *,
        since: float,
        category: str | None = None,
        journey: str | None = None,
    ) -> int:
        """How many sends to ``customer_id`` were sent at or after ``since`` (of ``category``
        and/or ``journey``, when given): what a frequency cap counts."""
        sql = "SELECT COUNT(*) FROM journey_sends WHERE customer_id = ? AND state = 'sent' "
        sql += "AND sent_at >= ?"
        params: list[Any] = [customer_id, since]
        if category is not None:
            sql += " AND category = ?"
            params.append(category)
        if journey is not None:
            sql += " AND journey = ?"
            params.append(journey)
        row = await self._run(lambda: self._one(sql, params))
        return int(row[0]) if row else 0

    async def sent_times(
        self,
        customer_id: str,
        *,
        since: float,
        category: str | None = None,
        journey: str | None = None,
    ) -> list[float]:
        """When ``customer_id``'s sends (of ``category`` and/or ``journey``, when given) were
        sent, at or after ``since``, oldest first: the times a frequency cap counts."""
        sql = "SELECT sent_at FROM journey_sends WHERE customer_id = ? AND state = 'sent' "
        sql += "AND sent_at >= ?"
        params: list[Any] = [customer_id, since]
        if category is not None:
            sql += " AND category = ?"
            params.append(category)
        if journey is not None:
            sql += " AND journey = ?"
            params.append(journey)
        rows = await self._run(
            lambda: self._sql.execute(sql + " ORDER BY sent_at", params).fetchall()
        )
        return [float(r[0]) for r in rows]

    async def attention(self, identities: Sequence[tuple[str, str]]) -> Attention:
        """What the conversations of ``identities`` (``(platform, user)`` pairs) say now.

        A user's conversations are those they opened (the owner) or wrote in as the customer.
        A handoff is open while one is neither resolved nor failed, or while a conversation
        waits for a person (``waiting_human``); a person is on it in state ``human``. The
        last anger is the latest inbound message of the user read as ``angry``."""
        pairs = [(str(p), str(u)) for p, u in identities]

        def run() -> Attention:
            handoff = human = False
            anger: float | None = None
            seen: dict[tuple[str, str], float] = {}
            for platform, user in pairs:
                mine = (
                    "SELECT key FROM conversations WHERE platform = ? AND owner = ? UNION "
                    "SELECT conversation_key FROM messages WHERE platform = ? AND "
                    "\"user\" = ? AND direction = 'in' AND role = 'customer'"
                )
                who = [platform, user, platform, user]
                row = self._one(
                    "SELECT "
                    f"EXISTS (SELECT 1 FROM handoffs WHERE resolved_at IS NULL AND "
                    f"notice_failed_at IS NULL AND conversation_key IN ({mine})), "
                    f"EXISTS (SELECT 1 FROM conversations WHERE state = 'waiting_human' "
                    f"AND key IN ({mine})), "
                    f"EXISTS (SELECT 1 FROM conversations WHERE state = 'human' "
                    f"AND key IN ({mine})), "
                    '(SELECT MAX(created_at) FROM messages WHERE platform = ? AND "user" = ? '
                    "AND direction = 'in' AND emotion = 'angry'), "
                    '(SELECT MAX(created_at) FROM messages WHERE platform = ? AND "user" = ? '
                    "AND direction = 'in')",
                    [*who, *who, *who, platform, user, platform, user],
                )
                if row is None:
                    continue
                handoff = handoff or bool(row[0]) or bool(row[1])
                human = human or bool(row[2])
                if row[3] is not None and (anger is None or float(row[3]) > anger):
                    anger = float(row[3])
                if row[4] is not None:
                    seen[(platform, user)] = float(row[4])
            return Attention(handoff, human, anger, seen)

        return await self._run(run)

    def _send(self, row: Sequence[Any], **claimed: Any) -> ScheduledSend:
        text = self.cipher.open(row[11]) if row[11] is not None else None
        send = ScheduledSend(
            int(row[0]),
            row[1],
            row[2],
            row[3],
            row[4],
            row[5],
            row[6],
            float(row[7]),
            _state(row[8]),
            row[9],
            row[10],
            text,
            row[12],
            int(row[13]) + (1 if claimed else 0),
            int(row[14]),
            None if row[15] is None else float(row[15]),
            row[16],
            None if row[17] is None else float(row[17]),
            None if row[18] is None else int(row[18]),
            float(row[19]),
        )
        return dataclasses.replace(send, **claimed) if claimed else send

    # --- consent -------------------------------------------------------------------------

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
        """Record what ``customer_id`` said for ``category`` (a new ledger row: the history is
        kept); the recorded entry."""
        evidence = _text("evidence", evidence, 2000)
        record = Consent(
            _key("customer_id", customer_id),
            _key("category", category),
            bool(granted),
            bool(night),
            _key("source", source),
            evidence,
            _time("at", at if at is not None else time.time()),
        )
        sealed = self.cipher.seal(evidence) if evidence is not None else None

        def run() -> Consent:
            with self._write():
                self._sql.execute(
                    f"INSERT INTO journey_consent ({_CONSENT_COLUMNS}) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [
                        record.customer_id,
                        record.category,
                        record.granted,
                        record.night,
                        record.source,
                        sealed,
                        record.at,
                    ],
                )
            return record

        return await self._run(run)

    async def consent(self, customer_id: str, category: str) -> Consent | None:
        """``customer_id``'s current consent for ``category`` (the latest entry; of two at the
        same moment, the one recorded last), or ``None`` when they never said."""
        row = await self._run(
            lambda: self._one(
                f"SELECT {_CONSENT_COLUMNS} FROM journey_consent WHERE customer_id = ? "
                "AND category = ? ORDER BY at DESC, id DESC LIMIT 1",
                [customer_id, category],
            )
        )
        return self._consent(row) if row is not None else None

    async def consent_history(self, customer_id: str) -> list[Consent]:
        """Every consent entry of ``customer_id``, oldest first."""

        def run() -> list[Consent]:
            rows = self._sql.execute(
                f"SELECT {_CONSENT_COLUMNS} FROM journey_consent WHERE customer_id = ? "
                "ORDER BY at, id",
                [customer_id],
            ).fetchall()
            return [self._consent(r) for r in rows]

        return await self._run(run)

    def _consent(self, row: Sequence[Any]) -> Consent:
        evidence = self.cipher.open(row[5]) if row[5] is not None else None
        return Consent(row[0], row[1], bool(row[2]), bool(row[3]), row[4], evidence, float(row[6]))

    # --- figures -------------------------------------------------------------------------

    async def stats(self, since: float, until: float | None = None) -> list[JourneyStats]:
        """Per journey, the sends created at or after ``since`` (and before ``until``) by
        outcome, suppressed ones by reason; journeys by name."""
        sql = (
            "SELECT journey, state, reason, COUNT(*), SUM(deferrals) FROM journey_sends "
            "WHERE created_at >= ?"
        )
        params: list[Any] = [since]
        if until is not None:
            sql += " AND created_at < ?"
            params.append(until)
        sql += " GROUP BY journey, state, reason ORDER BY journey"

        def run() -> list[JourneyStats]:
            counts: dict[str, dict[str, Any]] = {}
            for journey, state, reason, count, deferrals in self._sql.execute(
                sql, params
            ).fetchall():
                entry = counts.setdefault(journey, {"suppressed": {}, "deferred": 0})
                entry["deferred"] += int(deferrals or 0)
                entry["scheduled"] = entry.get("scheduled", 0) + int(count)
                if state == "suppressed":
                    key = reason or "unknown"
                    entry["suppressed"][key] = entry["suppressed"].get(key, 0) + int(count)
                elif state in ("pending", "sending"):
                    entry["pending"] = entry.get("pending", 0) + int(count)
                else:
                    entry[state] = entry.get(state, 0) + int(count)
            return [
                JourneyStats(
                    name,
                    c.get("scheduled", 0),
                    c.get("pending", 0),
                    c.get("sent", 0),
                    c.get("cancelled", 0),
                    c.get("undeliverable", 0),
                    c["deferred"],
                    dict(sorted(c["suppressed"].items())),
                )
                for name, c in sorted(counts.items())
            ]

        return await self._run(run)
