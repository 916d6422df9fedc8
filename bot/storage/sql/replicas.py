"""Replicas sharing one database: each joins with an id, beats every few seconds, and leaves.

A claim (an inbound message being answered, a ticket being posted) records which replica holds
it. A replica whose heartbeat is older than :data:`DEAD_AFTER_SECONDS` is dead: its claims are
free at once for the others' recovery sweep, instead of after the claim's lease.
"""

from __future__ import annotations

import os
import socket
import time

from bot.storage.records import DEAD_AFTER_SECONDS, Replica
from bot.storage.sql.database import Bound


def free_claim(at: str, by: str) -> str:
    """SQL true when the claim in columns ``at`` (time) and ``by`` (replica) is free: its lease
    expired, or its replica is dead. Takes two parameters: the lease's and the heartbeat's
    cut-off times (:func:`cutoffs`)."""
    return (
        f"({at} < ? OR ({by} IS NOT NULL AND NOT EXISTS (SELECT 1 FROM replicas rp "
        f"WHERE rp.id = {by} AND rp.heartbeat_at >= ?)))"
    )


def cutoffs(now: float, lease: float) -> list[float]:
    """The two parameters of :func:`free_claim` at ``now`` for a claim lease of ``lease``."""
    return [now - lease, now - DEAD_AFTER_SECONDS]


class SqlReplicas(Bound):
    """:class:`bot.storage.interface.Replicas` over the database (``store.replicas``)."""

    current: str | None = None
    """This process's replica id once it joined (its claims carry it), else ``None``."""

    async def join(self, replica_id: str, *, platforms: tuple[str, ...], shards: str = "") -> None:
        """Announce this process as replica ``replica_id`` serving ``platforms`` (and Discord
        ``shards``); from now on its claims carry the id."""
        now = time.time()

        def run() -> None:
            with self._write():
                self._sql.execute(
                    "INSERT INTO replicas (id, host, pid, platforms, shards, started_at, "
                    "heartbeat_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
                    "platforms = excluded.platforms, shards = excluded.shards, "
                    "heartbeat_at = excluded.heartbeat_at",
                    [
                        replica_id,
                        socket.gethostname(),
                        os.getpid(),
                        ",".join(platforms),
                        shards,
                        now,
                        now,
                    ],
                )

        await self._run(run)
        self.current = replica_id

    async def heartbeat(self, shards: str | None = None) -> None:
        """Report this replica alive (and, if given, the shards it now holds); also forget
        replicas silent for an hour."""
        if self.current is None:
            return
        now = time.time()
        replica = self.current

        def run() -> None:
            with self._write():
                if shards is None:
                    self._sql.execute(
                        "UPDATE replicas SET heartbeat_at = ? WHERE id = ?", [now, replica]
                    )
                else:
                    self._sql.execute(
                        "UPDATE replicas SET heartbeat_at = ?, shards = ? WHERE id = ?",
                        [now, shards, replica],
                    )
                self._sql.execute("DELETE FROM replicas WHERE heartbeat_at < ?", [now - 3600.0])

        await self._run(run)

    async def leave(self) -> None:
        """Stop being a replica (a clean shutdown): claims it still holds are free at once."""
        if self.current is None:
            return
        replica, self.current = self.current, None

        def run() -> None:
            with self._write():
                self._sql.execute("DELETE FROM replicas WHERE id = ?", [replica])

        await self._run(run)

    async def live(self) -> list[Replica]:
        """The replicas whose last heartbeat is recent, oldest first."""
        cutoff = time.time() - DEAD_AFTER_SECONDS

        def run() -> list[Replica]:
            rows = self._sql.execute(
                "SELECT id, host, pid, platforms, shards, started_at, heartbeat_at FROM replicas "
                "WHERE heartbeat_at >= ? ORDER BY started_at, id",
                [cutoff],
            ).fetchall()
            return [
                Replica(
                    str(r[0]),
                    str(r[1]),
                    int(r[2]),
                    tuple(p for p in str(r[3]).split(",") if p),
                    str(r[4]),
                    float(r[5]),
                    float(r[6]),
                )
                for r in rows
            ]

        return await self._run(run)
