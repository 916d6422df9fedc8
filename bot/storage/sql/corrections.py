"""The correction queue and the knowledge changes in the database.

A part of :class:`bot.storage.sql.store.SqlStore` (``store.corrections``); the rules of
the loop (who may approve what, how an approval changes an entry) are in
:mod:`bot.corrections.loop`. The customer's question and both answers are sealed at rest.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, Literal

from bot.storage.records import Correction, KbChange, ReplyContext, Source, Status
from bot.storage.sql.database import Bound
from bot.storage.sql.entries import dump_entry, load_entry, upsert_entry
from knowledge.entries import Audience, Entry
from knowledge.language import detect_language

_COLUMNS = (
    "id, source, reply_id, question, bot_answer, language, entry_id, proposed_answer, "
    "proposed_by, status, decided_by, decided_at, created_at, audience"
)


class SqlCorrections(Bound):
    """:class:`bot.storage.interface.CorrectionRecords` over the database."""

    async def reply_by_platform_id(self, platform: str, platform_message_id: str) -> int | None:
        """The id of the bot answer posted on ``platform`` as ``platform_message_id``."""

        def run() -> int | None:
            row = self._one(
                "SELECT id FROM messages WHERE platform = ? AND platform_message_id = ? "
                "AND direction = 'out' AND role = 'bot' ORDER BY id DESC LIMIT 1",
                [platform, platform_message_id],
            )
            return int(row[0]) if row else None

        return await self._run(run)

    async def asker_of(self, reply_id: int) -> str | None:
        """The user whose message bot answer ``reply_id`` answers (who may rate it)."""

        def run() -> str | None:
            row = self._one(
                'SELECT i."user" FROM messages r JOIN messages i ON i.id = r.in_reply_to '
                "WHERE r.id = ? AND r.direction = 'out' AND r.role = 'bot'",
                [reply_id],
            )
            return str(row[0]) if row else None

        return await self._run(run)

    async def reply_context(self, reply_id: int) -> ReplyContext | None:
        """What bot answer ``reply_id`` answered; ``None`` when it is no answer of the bot."""
        return await self._run(lambda: self._reply(reply_id))

    async def propose(self, reply_id: int, answer: str, by: str) -> int | None:
        """Record ``answer`` by ``by`` as the right one for bot answer ``reply_id``: into its
        pending correction (a 👎) if it has one, else a new correction. Returns the
        correction's id; ``None`` when ``reply_id`` is no answer of the bot."""

        def run() -> int | None:
            with self._write():
                pending = self._one(
                    "SELECT id FROM corrections WHERE reply_id = ? AND status = 'pending'",
                    [reply_id],
                )
                if pending is not None:
                    self._sql.execute(
                        "UPDATE corrections SET proposed_answer = ?, proposed_by = ? WHERE id = ?",
                        [self.cipher.seal(answer), by, pending[0]],
                    )
                    return int(pending[0])
                return self._insert(reply_id, "agent", answer, by)

        return await self._run(run)

    async def queue_rating(self, reply_id: int) -> int | None:
        """Queue bot answer ``reply_id`` after a 👎; ``None`` when it was queued before (one
        correction per answer) or is no answer of the bot."""

        def run() -> int | None:
            with self._write():
                if self._one("SELECT 1 FROM corrections WHERE reply_id = ?", [reply_id]):
                    return None
                return self._insert(reply_id, "rating", None, None)

        return await self._run(run)

    def _reply(self, reply_id: int) -> ReplyContext | None:
        row = self._one(
            "SELECT i.text, r.text, i.language, i.entry_id, i.audience FROM messages r "
            "JOIN messages i ON i.id = r.in_reply_to "
            "WHERE r.id = ? AND r.direction = 'out' AND r.role = 'bot'",
            [reply_id],
        )
        if row is None:
            return None
        question = self.cipher.open(row[0])
        language = row[2] or detect_language(question)
        audience: Audience = "staff" if row[4] == "staff" else "customers"
        return ReplyContext(
            question,
            self.cipher.open(row[1]),
            "ko" if language == "ko" else "en",
            row[3],
            audience,
        )

    def _insert(
        self, reply_id: int, source: Source, answer: str | None, by: str | None
    ) -> int | None:
        found = self._reply(reply_id)
        if found is None:
            return None
        seal = self.cipher.seal
        return self._sql.insert(
            "INSERT INTO corrections (source, reply_id, question, bot_answer, language, "
            "entry_id, proposed_answer, proposed_by, created_at, audience) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                source,
                reply_id,
                seal(found.question),
                seal(found.answer),
                found.language,
                found.entry_id,
                seal(answer) if answer is not None else None,
                by,
                time.time(),
                "staff" if found.audience == "staff" else None,
            ],
        )

    async def get(self, correction_id: int) -> Correction | None:
        """Correction ``correction_id``, if there is one."""
        row = await self._run(
            lambda: self._one(f"SELECT {_COLUMNS} FROM corrections WHERE id = ?", [correction_id])
        )
        return self._correction(row) if row else None

    async def pending(self) -> list[Correction]:
        """Every correction waiting for a decision, oldest first."""

        def run() -> list[Correction]:
            rows = self._sql.execute(
                f"SELECT {_COLUMNS} FROM corrections WHERE status = 'pending' ORDER BY id"
            ).fetchall()
            return [self._correction(r) for r in rows]

        return await self._run(run)

    async def history(self, entry_id: str | None = None) -> list[KbChange]:
        """Knowledge changes (of ``entry_id``, if given), oldest first."""

        def run() -> list[KbChange]:
            sql = (
                "SELECT id, entry_id, action, changed_by, changed_at, old_data, new_data, "
                "correction_id FROM kb_changes"
            )
            params: list[Any] = []
            if entry_id is not None:
                sql += " WHERE entry_id = ?"
                params.append(entry_id)
            rows = self._sql.execute(sql + " ORDER BY id", params).fetchall()
            return [
                KbChange(
                    r[0],
                    r[1],
                    r[2],
                    r[3],
                    r[4],
                    load_entry(r[5]) if r[5] else None,
                    load_entry(r[6]),
                    r[7],
                )
                for r in rows
            ]

        return await self._run(run)

    def _correction(self, row: Sequence[Any]) -> Correction:
        cipher = self.cipher
        proposed = cipher.open(row[7]) if row[7] is not None else None
        return Correction(
            row[0],
            row[1],
            row[2],
            cipher.open(row[3]),
            cipher.open(row[4]),
            "ko" if row[5] == "ko" else "en",
            row[6],
            proposed,
            row[8],
            row[9],
            row[10],
            row[11],
            row[12],
            "staff" if row[13] == "staff" else "customers",
        )

    async def reject(self, correction_id: int, by: str) -> bool:
        """Reject pending correction ``correction_id``; ``False`` if it is not pending."""

        def run() -> bool:
            with self._write():
                return self._decide(correction_id, "rejected", by)

        return await self._run(run)

    async def approve(
        self, correction_id: int, by: str, old: Entry | None, new: Entry, source: str
    ) -> KbChange | None:
        """Approve pending correction ``correction_id``: store ``new`` (replacing ``old``, if
        any) and the change, atomically and once; ``None`` if it is not pending."""

        def run() -> KbChange | None:
            now = time.time()
            with self._write():
                if not self._decide(correction_id, "approved", by):
                    return None
                upsert_entry(self._sql, new, source, now)
                self._database.notify("ondo_kb", "approve")
                action: Literal["add", "update"] = "add" if old is None else "update"
                change_id = self._sql.insert(
                    "INSERT INTO kb_changes (entry_id, action, changed_by, changed_at, old_data,"
                    " new_data, correction_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [
                        new.id,
                        action,
                        by,
                        now,
                        dump_entry(old) if old else None,
                        dump_entry(new),
                        correction_id,
                    ],
                )
                assert change_id is not None
                return KbChange(change_id, new.id, action, by, now, old, new, correction_id)

        return await self._run(run)

    def _decide(self, correction_id: int, status: Status, by: str) -> bool:
        cursor = self._sql.execute(
            "UPDATE corrections SET status = ?, decided_by = ?, decided_at = ? "
            "WHERE id = ? AND status = 'pending'",
            [status, by, time.time(), correction_id],
        )
        return cursor.rowcount == 1
