"""What the store does for privacy: re-encryption, retention, and a customer's rights.

A part of :class:`bot.storage.sql.store.SqlStore` (``store.retention``), kept apart from
the store's day-to-day code: these are rarely run, whole-database operations.
"""

from __future__ import annotations

import time
from typing import Any

from bot.storage.crypto import Cipher
from bot.storage.sql.database import SEALED_COLUMNS, Bound, Sql


class SqlRetention(Bound):
    """:class:`bot.storage.interface.Retention` over the database: re-encryption,
    purging by age, and export / deletion of one customer's data."""

    async def reseal(self, new: Cipher) -> int:
        """Re-encrypt every stored text with ``new`` (opening it with the current cipher) in
        one transaction; then compact the file so no old form of the text stays on disk.
        Returns how many values were rewritten. The store uses ``new`` afterwards."""

        def run() -> int:
            count = 0
            with self._write():
                for table, column in SEALED_COLUMNS:
                    rows = self._sql.execute(
                        f"SELECT id, {column} FROM {table} WHERE {column} IS NOT NULL"
                    ).fetchall()
                    for row_id, value in rows:
                        self._sql.execute(
                            f"UPDATE {table} SET {column} = ? WHERE id = ?",
                            [new.seal(self.cipher.open(value)), row_id],
                        )
                        count += 1
            self._database.compact()
            self._database.cipher = new
            return count

        return await self._run(run)

    async def purge(self, older_than: float) -> dict[str, int]:
        """Delete conversations whose last activity is older than ``older_than`` seconds ago,
        with their messages, handoffs and ratings; returns what was deleted, by table."""
        cutoff = time.time() - older_than

        def run() -> dict[str, int]:
            with self._write():
                keys = [
                    r[0]
                    for r in self._sql.execute(
                        "SELECT key FROM conversations WHERE updated_at < ? AND NOT EXISTS "
                        "(SELECT 1 FROM messages m WHERE m.conversation_key = key "
                        "AND m.created_at >= ?)",
                        [cutoff, cutoff],
                    ).fetchall()
                ]
                counts = _delete_conversations(self._sql, keys)
                counts["seen_events"] = self._sql.execute(
                    "DELETE FROM seen_events WHERE seen_at < ?", [cutoff]
                ).rowcount
                # Posts queued for another replica: delivered or given up long ago.
                self._sql.execute("DELETE FROM outbox WHERE created_at < ?", [cutoff])
                counts |= _purge_journeys(self._sql, cutoff)
                # Reviews follow the messages' policy: a review is a customer's words too.
                _count(counts, "reviews", _delete_reviews(self._sql, "created_at < ?", [cutoff]))
            self._database.compact()
            return counts

        return await self._run(run)

    async def export_user(self, user: str) -> dict[str, Any]:
        """Everything stored about the customer ``user`` (a platform user id), as plain data:
        the conversations they own with the bot's and agents' messages in them (not other
        people's), the messages they wrote in other people's conversations, their handoffs
        and ratings. Per author: nothing another person wrote is exported as theirs."""

        def run() -> dict[str, Any]:
            keys = _owned_conversations(self._sql, user)
            out: dict[str, Any] = {"user": user, "conversations": [], "ratings": []}
            for key in keys:
                conversation = _row_dict(
                    self._sql, "SELECT * FROM conversations WHERE key = ?", [key]
                )
                messages = [
                    m | {"text": self.cipher.open(m["text"])}
                    for m in _rows(
                        self._sql,
                        f"SELECT {_MESSAGE_FIELDS} FROM messages WHERE conversation_key = ? "
                        f"AND {_NOT_SOMEONE_ELSES} ORDER BY id",
                        [key, user],
                    )
                ]
                handoffs = [
                    h | {"summary": self.cipher.open(h["summary"])}
                    for h in _rows(
                        self._sql,
                        "SELECT id, reason, summary, intent, emotion, language, agent, "
                        "created_at, taken_at, resolved_at FROM handoffs "
                        "WHERE conversation_key = ? ORDER BY id",
                        [key],
                    )
                ]
                thread = self._sql.execute(
                    "SELECT state FROM thread_states WHERE conversation_key = ?", [key]
                ).fetchone()
                csat = [
                    c | {"comment": self.cipher.open(c["comment"]) if c["comment"] else None}
                    for c in _rows(
                        self._sql,
                        "SELECT handoff_id, agent, platform, intent, reason, language, asked_at, "
                        "score, comment, answered_at FROM csat WHERE conversation_key = ? "
                        "ORDER BY id",
                        [key],
                    )
                ]
                out["conversations"].append(
                    (conversation or {"key": key})
                    | {"messages": messages, "handoffs": handoffs}
                    | ({"thread_state": self.cipher.open(thread[0])} if thread else {})
                    | ({"csat": csat} if csat else {})
                )
            out["messages_elsewhere"] = [
                m | {"text": self.cipher.open(m["text"])}
                for m in _rows(
                    self._sql,
                    f"SELECT conversation_key, {_MESSAGE_FIELDS} FROM messages "
                    "WHERE direction = 'in' AND \"user\" = ? AND conversation_key NOT IN "
                    "(SELECT key FROM conversations WHERE owner = ?) ORDER BY id",
                    [user, user],
                )
            ]
            out["ratings"] = _rows(
                self._sql,
                'SELECT message_id, entry_id, rating, created_at FROM ratings WHERE "user" = ?',
                [user],
            )
            out["journeys"] = [
                self._export_customer(customer_id)
                for customer_id in _linked_customers(self._sql, user)
            ]
            out["corrections"] = [
                c
                | {
                    name: self.cipher.open(c[name]) if c[name] is not None else None
                    for name in ("question", "bot_answer", "proposed_answer")
                }
                for key in keys
                for c in _rows(
                    self._sql,
                    "SELECT id, source, reply_id, question, bot_answer, proposed_answer, "
                    "entry_id, status, created_at FROM corrections WHERE reply_id IN "
                    "(SELECT id FROM messages WHERE conversation_key = ?) ORDER BY id",
                    [key],
                )
            ]
            reviews = [
                r | {"text": self.cipher.open(r["text"])}
                for r in _rows(
                    self._sql,
                    "SELECT id, source, customer_id, platform, conversation_key, send_id, "
                    "language, rating, polarity, text, created_at FROM reviews WHERE "
                    "conversation_key IN (SELECT key FROM conversations WHERE owner = ?) OR "
                    'customer_id IN (SELECT customer_id FROM journey_identities WHERE "user" = ?) '
                    "ORDER BY id",
                    [user, user],
                )
            ]
            if reviews:  # named only when there are any, as journeys' tables are
                out["reviews"] = reviews
            return out

        return await self._run(run)

    async def forget_user(self, user: str) -> dict[str, int]:
        """Delete everything stored about the customer ``user``: the conversations they own,
        the messages they wrote in other people's (with any bot reply to them), and their
        ratings; other people's messages stay. The journey rows of the shop customers ``user``
        is linked to go too (counted by table, ``journey_*``, only when there were links).
        Returns what was deleted."""

        def run() -> dict[str, int]:
            with self._write():
                keys = _owned_conversations(self._sql, user)
                counts = _delete_conversations(self._sql, keys)
                for key in keys:
                    where = "conversation_key = ?"
                    _count(counts, "reviews", _delete_reviews(self._sql, where, [key]))
                _delete_messages_elsewhere(self._sql, user, counts)
                counts["ratings"] += self._sql.execute(
                    'DELETE FROM ratings WHERE "user" = ?', [user]
                ).rowcount
                for customer_id in _linked_customers(self._sql, user):
                    for table, count in _delete_journey_customer(self._sql, customer_id).items():
                        counts[table] = counts.get(table, 0) + count
                    where = "customer_id = ?"
                    _count(counts, "reviews", _delete_reviews(self._sql, where, [customer_id]))
            self._database.compact()
            return counts

        return await self._run(run)

    async def forget_customer(self, customer_id: str) -> dict[str, int]:
        """Delete everything journeys stored about shop customer ``customer_id``: their
        events, profile, platform links, scheduled sends (with the DMs still queued for them)
        and consent ledger. Their conversations are a platform user's: :meth:`forget_user`
        of each linked user (which also does this). Returns what was deleted, by table."""

        def run() -> dict[str, int]:
            with self._write():
                counts = _delete_journey_customer(self._sql, customer_id)
                where = "customer_id = ?"
                _count(counts, "reviews", _delete_reviews(self._sql, where, [customer_id]))
            self._database.compact()
            return counts

        return await self._run(run)

    def _export_customer(self, customer_id: str) -> dict[str, Any]:
        """What journeys stored about shop customer ``customer_id``, opened."""
        db, seal = self._sql, self.cipher

        def opened(rows: list[dict[str, Any]], column: str) -> list[dict[str, Any]]:
            return [
                r | {column: seal.open(r[column]) if r[column] is not None else None} for r in rows
            ]

        where = "WHERE customer_id = ? ORDER BY id"
        customer = _row_dict(
            db,
            "SELECT customer_id, name, language, time_zone, tier, updated_at "
            "FROM journey_customers WHERE customer_id = ?",
            [customer_id],
        )
        return {
            "customer_id": customer_id,
            "profile": opened([customer], "name")[0] if customer else None,
            "identities": _rows(
                db,
                'SELECT platform, "user", linked_at, undeliverable_at, undeliverable_reason '
                "FROM journey_identities WHERE customer_id = ? ORDER BY linked_at",
                [customer_id],
            ),
            "events": opened(
                _rows(
                    db,
                    "SELECT event_id, type, occurred_at, payload, received_at "
                    f"FROM journey_events {where}",
                    [customer_id],
                ),
                "payload",
            ),
            "sends": opened(
                _rows(
                    db,
                    "SELECT id, journey, category, state, reason, platform, text, due_at, "
                    f"sent_at, created_at FROM journey_sends {where}",
                    [customer_id],
                ),
                "text",
            ),
            "consent": opened(
                _rows(
                    db,
                    "SELECT category, granted, night, source, evidence, at "
                    f"FROM journey_consent {where}",
                    [customer_id],
                ),
                "evidence",
            ),
        }


_MESSAGE_FIELDS = (
    'id, platform, direction, role, "user", text, language, emotion, intent, created_at'
)
_NOT_SOMEONE_ELSES = "(direction = 'out' OR \"user\" = ?)"
"""A message of the owner's conversation that is not another person's: the owner's own, and
what the bot and agents posted to them. Bystanders' messages belong to the bystanders."""


def _owned_conversations(db: Sql, user: str) -> list[str]:
    return [
        r[0]
        for r in db.execute(
            "SELECT key FROM conversations WHERE owner = ? ORDER BY key", [user]
        ).fetchall()
    ]


def _delete_messages_elsewhere(db: Sql, user: str, counts: dict[str, int]) -> None:
    """Delete what ``user`` wrote in conversations owned by somebody else, with the bot's
    replies to it (a bystander recorded before third parties were told apart got answers)."""
    mine = (
        "SELECT id FROM messages WHERE direction = 'in' AND \"user\" = ? "
        "AND conversation_key NOT IN (SELECT key FROM conversations WHERE owner = ?)"
    )
    replies = f"SELECT id FROM messages WHERE in_reply_to IN ({mine})"
    for table, column in (("corrections", "reply_id"), ("ratings", "message_id")):
        for ids in (replies, mine):
            counts[table] += db.execute(
                f"DELETE FROM {table} WHERE {column} IN ({ids})", [user, user]
            ).rowcount
    counts["messages"] += db.execute(
        f"DELETE FROM messages WHERE id IN ({replies})", [user, user]
    ).rowcount
    counts["messages"] += db.execute(
        f"DELETE FROM messages WHERE id IN ({mine})", [user, user]
    ).rowcount


def _delete_conversations(db: Sql, keys: list[str]) -> dict[str, int]:
    counts = {"conversations": 0, "messages": 0, "handoffs": 0, "ratings": 0, "corrections": 0}
    for key in keys:
        # A correction holds the customer's question: it goes with their conversation (an
        # approved one lives on, redacted, in the knowledge entry it produced).
        counts["corrections"] += db.execute(
            "DELETE FROM corrections WHERE reply_id IN "
            "(SELECT id FROM messages WHERE conversation_key = ?)",
            [key],
        ).rowcount
        counts["ratings"] += db.execute(
            "DELETE FROM ratings WHERE message_id IN "
            "(SELECT id FROM messages WHERE conversation_key = ?)",
            [key],
        ).rowcount
        # Replies point at their inbound message: delete them first.
        counts["messages"] += db.execute(
            "DELETE FROM messages WHERE conversation_key = ? AND in_reply_to IS NOT NULL", [key]
        ).rowcount
        counts["messages"] += db.execute(
            "DELETE FROM messages WHERE conversation_key = ?", [key]
        ).rowcount
        # Posts queued for their conversation or its tickets' threads hold their words too.
        db.execute(
            "DELETE FROM outbox WHERE target = ? OR target IN (SELECT thread_ref FROM handoffs "
            "WHERE conversation_key = ?) OR (kind = 'ticket' AND target IN "
            "(SELECT CAST(id AS TEXT) FROM handoffs WHERE conversation_key = ?))",
            [key, key, key],
        )
        db.execute("DELETE FROM thread_states WHERE conversation_key = ?", [key])
        # The desk's rows of its handoffs: reminders posted, the customer's rating and comment.
        of_handoffs = "handoff_id IN (SELECT id FROM handoffs WHERE conversation_key = ?)"
        _count(
            counts,
            "desk_reminders",
            db.execute(f"DELETE FROM desk_reminders WHERE {of_handoffs}", [key]).rowcount,
        )
        _count(
            counts,
            "csat",
            db.execute(
                f"DELETE FROM csat WHERE conversation_key = ? OR {of_handoffs}", [key, key]
            ).rowcount,
        )
        counts["handoffs"] += db.execute(
            "DELETE FROM handoffs WHERE conversation_key = ?", [key]
        ).rowcount
        counts["conversations"] += db.execute(
            "DELETE FROM conversations WHERE key = ?", [key]
        ).rowcount
    return counts


_JOURNEY_TABLES = (
    "journey_events",
    "journey_sends",
    "journey_consent",
    "journey_identities",
    "journey_customers",
)


def _linked_customers(db: Sql, user: str) -> list[str]:
    """The shop customers platform user ``user`` is linked to (on any platform)."""
    return [
        r[0]
        for r in db.execute(
            'SELECT DISTINCT customer_id FROM journey_identities WHERE "user" = ? '
            "ORDER BY customer_id",
            [user],
        ).fetchall()
    ]


def _delete_journey_customer(db: Sql, customer_id: str) -> dict[str, int]:
    # The DMs still queued for them hold a journey's words to them: they go first.
    db.execute(
        "DELETE FROM outbox WHERE id IN (SELECT outbox_id FROM journey_sends "
        "WHERE customer_id = ? AND outbox_id IS NOT NULL)",
        [customer_id],
    )
    return {
        table: db.execute(f"DELETE FROM {table} WHERE customer_id = ?", [customer_id]).rowcount
        for table in _JOURNEY_TABLES
    }


def _delete_reviews(db: Sql, where: str, params: list[Any]) -> int:
    """Delete the reviews matching ``where``; how many."""
    return int(db.execute(f"DELETE FROM reviews WHERE {where}", params).rowcount)


def _count(counts: dict[str, int], table: str, deleted: int) -> None:
    """Add ``deleted`` rows of ``table`` to ``counts``; a table with none is not named."""
    if deleted:
        counts[table] = counts.get(table, 0) + deleted


def _purge_journeys(db: Sql, cutoff: float) -> dict[str, int]:
    """Delete journey events received before ``cutoff`` and sends created before it that are
    decided (pending ones still have to be sent or not); only tables with deletions are
    counted. A redelivered event older than the cutoff is no longer known as a duplicate."""
    counts = {
        "journey_events": db.execute(
            "DELETE FROM journey_events WHERE received_at < ?", [cutoff]
        ).rowcount,
        "journey_sends": db.execute(
            "DELETE FROM journey_sends WHERE created_at < ? "
            "AND state NOT IN ('pending', 'sending')",
            [cutoff],
        ).rowcount,
    }
    return {table: count for table, count in counts.items() if count}


def _rows(db: Sql, sql: str, params: list[Any]) -> list[dict[str, Any]]:
    cursor = db.execute(sql, params)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _row_dict(db: Sql, sql: str, params: list[Any]) -> dict[str, Any] | None:
    rows = _rows(db, sql, params)
    return rows[0] if rows else None
