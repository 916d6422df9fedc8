"""The outbox: posts one replica cannot make (it does not hold that platform's connection),
written to the database and delivered by a replica that holds it.

On PostgreSQL every new row wakes the replicas with ``NOTIFY ondo_outbox`` (sent when the row's
transaction commits, so a woken replica always finds it); they also look every few seconds, in
case a notification was missed. A row is claimed like an inbound message (``FOR UPDATE SKIP
LOCKED``, by a live replica, for a lease), so one replica posts it.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence

from bot.storage.records import OUTBOX_MAX_ATTEMPTS, OutboxKind, Outgoing, Post
from bot.storage.sql.database import Bound
from bot.storage.sql.replicas import cutoffs, free_claim

CHANNEL = "ondo_outbox"
"""The notification channel; the payload is the platform the new row is for."""
LEASE_SECONDS = 60.0
"""A claimed row whose delivery never finished (its replica froze) may be taken again after."""

_KINDS: tuple[OutboxKind, ...] = ("send", "relay", "note", "ticket", "dm")


class SqlOutbox(Bound):
    """:class:`bot.storage.interface.Outbox` over the database (``store.outbox``)."""

    async def put(
        self,
        platform: str,
        kind: OutboxKind,
        target: str,
        *,
        text: str | None = None,
        ref: str | None = None,
        author: str | None = None,
        language: str | None = None,
    ) -> int:
        """Queue one post for a replica holding ``platform``; returns the row's number."""
        post = Post(platform, kind, target, text, ref, author, language)

        def run() -> int:
            with self._write():
                return self.write(post)

        return await self._run(run)

    def write(self, post: Post) -> int:
        """Insert ``post`` (and notify the replicas) inside the caller's unit of work, so it
        commits with the state change it belongs to."""
        now = time.time()
        sealed = self.cipher.seal(post.text) if post.text is not None else None
        fields = (post.platform, post.kind, post.target, post.ref, post.author, sealed)
        row = self._sql.insert(
            "INSERT INTO outbox (platform, kind, target, ref, author, text, language, "
            "created_at, due_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [*fields, post.language, now, now],
        )
        self._database.notify(CHANNEL, post.platform)
        assert row is not None
        return row

    async def take(
        self, platforms: Sequence[str], replica: str | None, limit: int = 20
    ) -> list[Outgoing]:
        """Claim up to ``limit`` due rows for ``platforms`` as ``replica``, oldest first."""
        if not platforms:
            return []
        now = time.time()
        marks = ", ".join("?" for _ in platforms)

        def run() -> list[Outgoing]:
            with self._transaction():
                rows = self._sql.execute(
                    "SELECT o.id, o.platform, o.kind, o.target, o.ref, o.author, o.text, "
                    "o.language, o.attempts, o.created_at FROM outbox o "
                    f"WHERE o.platform IN ({marks}) "
                    "AND o.delivered_at IS NULL AND o.due_at <= ? AND o.attempts < ? AND "
                    f"(o.claimed_at IS NULL OR {free_claim('o.claimed_at', 'o.claimed_by')}) "
                    f"ORDER BY o.id LIMIT ?{self._database.skip_locked}",
                    [
                        *platforms,
                        now,
                        OUTBOX_MAX_ATTEMPTS,
                        *cutoffs(now, LEASE_SECONDS),
                        limit,
                    ],
                ).fetchall()
                for row in rows:
                    self._sql.execute(
                        "UPDATE outbox SET claimed_at = ?, claimed_by = ?, "
                        "attempts = attempts + 1 WHERE id = ?",
                        [now, replica, row[0]],
                    )
            return [
                Outgoing(
                    int(r[0]),
                    str(r[1]),
                    next(k for k in _KINDS if k == r[2]),
                    str(r[3]),
                    r[4],
                    r[5],
                    self.cipher.open(r[6]) if r[6] is not None else None,
                    r[7],
                    int(r[8]) + 1,
                    float(r[9]),
                )
                for r in rows
            ]

        return await self._run(run)

    async def delivered(self, item_id: int) -> None:
        """Row ``item_id`` was posted: never again."""
        now = time.time()

        def run() -> None:
            with self._write():
                self._sql.execute(
                    "UPDATE outbox SET delivered_at = ?, error = NULL WHERE id = ?", [now, item_id]
                )

        await self._run(run)

    async def failed(self, item_id: int, error: str, retry_in: float) -> None:
        """Posting row ``item_id`` failed with ``error``: free it to be tried ``retry_in``
        seconds from now (a row tried :data:`OUTBOX_MAX_ATTEMPTS` times stays given up)."""
        now = time.time()

        def run() -> None:
            with self._write():
                self._sql.execute(
                    "UPDATE outbox SET claimed_at = NULL, claimed_by = NULL, due_at = ?, "
                    "error = ? WHERE id = ?",
                    [now + retry_in, error[:500], item_id],
                )

        await self._run(run)

    def wakeups(self) -> AsyncIterator[str] | None:
        """The platforms new rows are for, as they are queued by any replica (``None``: this
        database cannot tell, poll instead)."""
        return self._database.listen(CHANNEL)

    async def waiting(self, platform: str | None = None) -> int:
        """How many rows (for ``platform``, if given) wait to be delivered."""
        only = " AND platform = ?" if platform is not None else ""
        params = [OUTBOX_MAX_ATTEMPTS, *([platform] if platform is not None else [])]
        row = await self._run(
            lambda: self._one(
                f"SELECT COUNT(*) FROM outbox WHERE delivered_at IS NULL AND attempts < ?{only}",
                params,
            )
        )
        return int(row[0]) if row else 0
