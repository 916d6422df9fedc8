"""The correction loop: answers marked wrong wait for review; an approval changes the knowledge.

An agent marks a bot answer as wrong and proposes the right one, or a customer's 👎 queues the
answer without a proposal. A reviewer approves (the proposal, or an answer given then) or
rejects. Approving either adds a new entry whose example question is the customer's question
(``new``, the default: the match was wrong, and no other question's answer changes) or
replaces the answer of the entry the bot answered from, in the customer's language (``update``:
the match was right, its answer was wrong). The result is stored in ``kb_entries`` (it
survives restarts and overrides a file entry of the same id) and every change is kept in
``kb_changes`` with who, when, and what it replaced. :mod:`bot.corrections.live` makes running bots
use it.

The customer's question is stored sealed like message text, shown redacted, and enters the
knowledge base redacted.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from bot.storage.sqlite import Store, _entry_from_json, _entry_json
from bot.texts import shorten
from bot.types import Language
from bot.understanding.privacy import redact
from knowledge.entries import Audience, Entry
from knowledge.language import detect_language

Source = Literal["agent", "rating"]
Status = Literal["pending", "approved", "rejected"]
Mode = Literal["new", "update"]

_COLUMNS = (
    "id, source, reply_id, question, bot_answer, language, entry_id, proposed_answer, "
    "proposed_by, status, decided_by, decided_at, created_at, audience"
)
NEW_ENTRY_CATEGORY = "other"
"""Category of an entry added for a question the bot matched to no entry."""


class CorrectionError(ValueError):
    """A review action that cannot be done; the message says why, in one line."""


@dataclass(frozen=True)
class Correction:
    """One answer marked wrong, with the customer's question in clear (redact to show it)."""

    id: int
    source: Source
    reply_id: int
    question: str
    bot_answer: str
    language: Language
    entry_id: str | None
    proposed_answer: str | None
    proposed_by: str | None
    status: Status
    decided_by: str | None
    decided_at: float | None
    created_at: float
    audience: Audience = "customers"
    """Who asked: a staff question's correction proposes a staff entry."""

    @property
    def shown_question(self) -> str:
        """The customer's question with personal data redacted (for reviewers and the KB)."""
        return redact(self.question, self.language)


@dataclass(frozen=True)
class KbChange:
    """One change of the knowledge base made by an approval."""

    id: int
    entry_id: str
    action: Literal["add", "update"]
    changed_by: str
    changed_at: float
    old: Entry | None
    new: Entry
    correction_id: int | None


class Corrections:
    """The review queue and the knowledge changes, over the store's database."""

    def __init__(self, store: Store) -> None:
        self.store = store

    # --- enqueueing ----------------------------------------------------------------------

    async def reply_by_platform_id(self, platform: str, platform_message_id: str) -> int | None:
        """The id of the bot answer posted on ``platform`` as ``platform_message_id``."""

        def run() -> int | None:
            row = self.store._one(
                "SELECT id FROM messages WHERE platform = ? AND platform_message_id = ? "
                "AND direction = 'out' AND role = 'bot' ORDER BY id DESC LIMIT 1",
                [platform, platform_message_id],
            )
            return int(row[0]) if row else None

        return await self.store._run(run)

    async def asker_of(self, reply_id: int) -> str | None:
        """The user whose message bot answer ``reply_id`` answers (who may rate it)."""

        def run() -> str | None:
            row = self.store._one(
                "SELECT i.user FROM messages r JOIN messages i ON i.id = r.in_reply_to "
                "WHERE r.id = ? AND r.direction = 'out' AND r.role = 'bot'",
                [reply_id],
            )
            return str(row[0]) if row else None

        return await self.store._run(run)

    async def mark_wrong(self, reply_id: int, answer: str, by: str) -> Correction:
        """An agent says bot answer ``reply_id`` is wrong and ``answer`` is right. Fills in a
        pending correction of the same answer (a 👎) instead of queueing a second one."""
        answer = answer.strip()
        if not answer:
            raise CorrectionError("the right answer is empty")

        def run() -> int:
            with self.store._db.conn:
                pending = self.store._one(
                    "SELECT id FROM corrections WHERE reply_id = ? AND status = 'pending'",
                    [reply_id],
                )
                if pending is not None:
                    self.store._db.execute(
                        "UPDATE corrections SET proposed_answer = ?, proposed_by = ? WHERE id = ?",
                        [self.store.cipher.seal(answer), by, pending[0]],
                    )
                    return int(pending[0])
                return self._insert(reply_id, "agent", answer, by)

        return await self._get_or_fail(await self.store._run(run))

    async def thumbs_down(self, reply_id: int) -> Correction | None:
        """Queue bot answer ``reply_id`` after a customer's 👎; ``None`` when it was queued
        before (one correction per answer, however often it is clicked) or is no answer."""

        def run() -> int | None:
            with self.store._db.conn:
                if self.store._one("SELECT 1 FROM corrections WHERE reply_id = ?", [reply_id]):
                    return None
                try:
                    return self._insert(reply_id, "rating", None, None)
                except CorrectionError:
                    return None

        correction_id = await self.store._run(run)
        return await self.get(correction_id) if correction_id is not None else None

    async def preview(self, reply_id: int) -> Correction | None:
        """What a correction of bot answer ``reply_id`` would hold (nothing is stored; its
        ``id`` is 0); ``None`` when it is no answer of the bot."""

        def run() -> Correction | None:
            row = self._reply(reply_id)
            if row is None:
                return None
            question, answer, language, entry_id, audience = row
            return Correction(
                0, "agent", reply_id, question, answer, language, entry_id,
                None, None, "pending", None, None, time.time(), audience,
            )  # fmt: skip

        return await self.store._run(run)

    def _reply(self, reply_id: int) -> tuple[str, str, Language, str | None, Audience] | None:
        row = self.store._one(
            "SELECT i.text, r.text, i.language, i.entry_id, i.audience FROM messages r "
            "JOIN messages i ON i.id = r.in_reply_to "
            "WHERE r.id = ? AND r.direction = 'out' AND r.role = 'bot'",
            [reply_id],
        )
        if row is None:
            return None
        cipher = self.store.cipher
        question = cipher.open(row[0])
        language = row[2] or detect_language(question)
        audience: Audience = "staff" if row[4] == "staff" else "customers"
        return question, cipher.open(row[1]), "ko" if language == "ko" else "en", row[3], audience

    def _insert(self, reply_id: int, source: Source, answer: str | None, by: str | None) -> int:
        found = self._reply(reply_id)
        if found is None:
            raise CorrectionError(f"message {reply_id} is not an answer of the bot")
        question, bot_answer, language, entry_id, audience = found
        cipher = self.store.cipher
        cursor = self.store._db.execute(
            "INSERT INTO corrections (source, reply_id, question, bot_answer, language, "
            "entry_id, proposed_answer, proposed_by, created_at, audience) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                source,
                reply_id,
                cipher.seal(question),
                cipher.seal(bot_answer),
                language,
                entry_id,
                cipher.seal(answer) if answer is not None else None,
                by,
                time.time(),
                "staff" if audience == "staff" else None,
            ],
        )
        return int(cursor.lastrowid or 0)

    # --- reading -------------------------------------------------------------------------

    async def get(self, correction_id: int) -> Correction | None:
        """Correction ``correction_id``, if there is one."""
        row = await self.store._run(
            lambda: self.store._one(
                f"SELECT {_COLUMNS} FROM corrections WHERE id = ?", [correction_id]
            )
        )
        return self._correction(row) if row else None

    async def pending(self) -> list[Correction]:
        """Every correction waiting for a decision, oldest first."""

        def run() -> list[Correction]:
            rows = self.store._db.execute(
                f"SELECT {_COLUMNS} FROM corrections WHERE status = 'pending' ORDER BY id"
            ).fetchall()
            return [self._correction(r) for r in rows]

        return await self.store._run(run)

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
            rows = self.store._db.execute(sql + " ORDER BY id", params).fetchall()
            return [
                KbChange(
                    r[0],
                    r[1],
                    r[2],
                    r[3],
                    r[4],
                    _entry_from_json(json.loads(r[5])) if r[5] else None,
                    _entry_from_json(json.loads(r[6])),
                    r[7],
                )
                for r in rows
            ]

        return await self.store._run(run)

    def _correction(self, row: Sequence[Any]) -> Correction:
        cipher = self.store.cipher
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

    async def _get_or_fail(self, correction_id: int) -> Correction:
        correction = await self.get(correction_id)
        if correction is None:
            raise CorrectionError(f"no correction #{correction_id}")
        return correction

    # --- deciding ------------------------------------------------------------------------

    async def reject(self, correction_id: int, by: str) -> Correction:
        """Reject a pending correction; the knowledge base stays as it is."""
        correction = await self._pending(correction_id)

        def run() -> bool:
            with self.store._db.conn:
                return self._decide(correction_id, "rejected", by)

        if not await self.store._run(run):
            raise CorrectionError(f"correction #{correction_id} was decided meanwhile")
        return replace(correction, status="rejected", decided_by=by)

    async def approve(
        self,
        correction_id: int,
        by: str,
        entries: Sequence[Entry],
        *,
        mode: Mode | None = None,
        answer: str | None = None,
        audience: Audience | None = None,
    ) -> KbChange:
        """Approve a pending correction against the current ``entries``: store the new or
        updated entry and the change (atomically, once, however many approve at once).

        ``answer`` overrides the proposed one and is required for a bare 👎. ``mode`` is
        ``new`` by default; ``update`` needs the entry the bot answered from. ``audience``:
        who the stored entry is for, only when the approver says so; otherwise a new entry is
        for whoever asked and an updated one keeps its audience (a staff entry never becomes
        a customer one by default, nor does a staff question rewrite a customer answer).
        """
        correction = await self._pending(correction_id)
        text = (answer if answer is not None else correction.proposed_answer or "").strip()
        if not text:
            raise CorrectionError(
                f"correction #{correction_id} has no proposed answer (a customer's 👎): "
                "give the right answer"
            )
        old, new = _change(correction, entries, mode or "new", text, audience)
        source = f"correction #{correction_id} by {by}"

        def run() -> KbChange | None:
            now = time.time()
            with self.store._db.conn:
                if not self._decide(correction_id, "approved", by):
                    return None
                self.store._db.table("kb_entries").upsert(
                    {
                        "id": new.id,
                        "category": new.category,
                        "kind": new.kind,
                        "content_hash": new.content_hash(),
                        "data": _dump(new),
                        "source": source,
                        "imported_at": now,
                    },
                    pk="id",
                )
                action: Literal["add", "update"] = "add" if old is None else "update"
                cursor = self.store._db.execute(
                    "INSERT INTO kb_changes (entry_id, action, changed_by, changed_at, old_data,"
                    " new_data, correction_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [
                        new.id,
                        action,
                        by,
                        now,
                        _dump(old) if old else None,
                        _dump(new),
                        correction_id,
                    ],
                )
                return KbChange(
                    int(cursor.lastrowid or 0), new.id, action, by, now, old, new, correction_id
                )

        change = await self.store._run(run)
        if change is None:
            raise CorrectionError(f"correction #{correction_id} was decided meanwhile")
        return change

    async def _pending(self, correction_id: int) -> Correction:
        correction = await self._get_or_fail(correction_id)
        if correction.status != "pending":
            raise CorrectionError(
                f"correction #{correction_id} was {correction.status} by {correction.decided_by}"
            )
        return correction

    def _decide(self, correction_id: int, status: Status, by: str) -> bool:
        cursor = self.store._db.execute(
            "UPDATE corrections SET status = ?, decided_by = ?, decided_at = ? "
            "WHERE id = ? AND status = 'pending'",
            [status, by, time.time(), correction_id],
        )
        return cursor.rowcount == 1


def _change(
    correction: Correction,
    entries: Sequence[Entry],
    mode: Mode,
    answer: str,
    audience: Audience | None = None,
) -> tuple[Entry | None, Entry]:
    """``(entry replaced or None, entry stored)`` for approving ``correction`` with ``answer``."""
    language = correction.language
    question = correction.shown_question
    by_id = {e.id: e for e in entries}
    matched = by_id.get(correction.entry_id) if correction.entry_id else None
    if mode == "new":
        entry = Entry(
            id=f"correction-{correction.id}",
            category=matched.category if matched and matched.kind == "faq" else NEW_ENTRY_CATEGORY,
            questions={language: (question,)},
            answer={language: answer},
            audience=audience or correction.audience,
        )
        return by_id.get(entry.id), entry
    if correction.entry_id is None:
        raise CorrectionError(
            f"the bot answered #{correction.id} from no entry: approve it as a new entry"
        )
    if matched is None:
        raise CorrectionError(
            f"entry {correction.entry_id} of #{correction.id} is no longer in the knowledge "
            "base: approve it as a new entry"
        )
    if correction.audience == "staff" and matched.audience == "customers" and audience is None:
        raise CorrectionError(
            f"#{correction.id} came from a staff question: updating {matched.id} would show its "
            "answer to customers; approve it as a new (staff) entry, or say the audience "
            "(--audience customers) to publish it"
        )
    asked = tuple(matched.questions.get(language, ()))
    questions = {**matched.questions, language: asked + (() if question in asked else (question,))}
    return matched, replace(
        matched,
        questions=questions,
        answer={**matched.answer, language: answer},
        audience=audience or matched.audience,
    )


def _dump(entry: Entry) -> str:
    return json.dumps(_entry_json(entry), ensure_ascii=False)


def describe(correction: Correction, limit: int = 300) -> list[str]:
    """A correction for reviewers, in lines: what was asked (redacted), answered, proposed."""
    origin = (
        "customer 👎" if correction.source == "rating" else f"marked by {correction.proposed_by}"
    )
    proposed = (
        shorten(correction.proposed_answer, limit)
        if correction.proposed_answer
        else "(none yet: give one to approve)"
    )
    return [
        f"#{correction.id} · {origin} · {correction.language} · "
        f"entry {correction.entry_id or '(none)'}"
        + (" · asked by staff: approves a staff entry" if correction.audience == "staff" else ""),
        f"question: {shorten(correction.shown_question, limit)}",
        f"bot answered: {shorten(correction.bot_answer, limit)}",
        f"proposed: {proposed}",
    ]
