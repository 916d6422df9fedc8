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

import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Literal

from bot.storage.interface import Store
from bot.storage.records import Correction, KbChange
from bot.texts import shorten
from knowledge.entries import Audience, Entry

Mode = Literal["new", "update"]

NEW_ENTRY_CATEGORY = "other"
"""Category of an entry added for a question the bot matched to no entry."""


class CorrectionError(ValueError):
    """A review action that cannot be done; the message says why, in one line."""


class Corrections:
    """The review queue and the knowledge changes: the loop's rules over the store's
    :class:`bot.storage.interface.CorrectionRecords`."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._records = store.corrections

    # --- enqueueing ----------------------------------------------------------------------

    async def reply_by_platform_id(self, platform: str, platform_message_id: str) -> int | None:
        """The id of the bot answer posted on ``platform`` as ``platform_message_id``."""
        return await self._records.reply_by_platform_id(platform, platform_message_id)

    async def asker_of(self, reply_id: int) -> str | None:
        """The user whose message bot answer ``reply_id`` answers (who may rate it)."""
        return await self._records.asker_of(reply_id)

    async def mark_wrong(self, reply_id: int, answer: str, by: str) -> Correction:
        """An agent says bot answer ``reply_id`` is wrong and ``answer`` is right. Fills in a
        pending correction of the same answer (a 👎) instead of queueing a second one."""
        answer = answer.strip()
        if not answer:
            raise CorrectionError("the right answer is empty")
        correction_id = await self._records.propose(reply_id, answer, by)
        if correction_id is None:
            raise CorrectionError(f"message {reply_id} is not an answer of the bot")
        return await self._get_or_fail(correction_id)

    async def thumbs_down(self, reply_id: int) -> Correction | None:
        """Queue bot answer ``reply_id`` after a customer's 👎; ``None`` when it was queued
        before (one correction per answer, however often it is clicked) or is no answer."""
        correction_id = await self._records.queue_rating(reply_id)
        return await self.get(correction_id) if correction_id is not None else None

    async def preview(self, reply_id: int) -> Correction | None:
        """What a correction of bot answer ``reply_id`` would hold (nothing is stored; its
        ``id`` is 0); ``None`` when it is no answer of the bot."""
        found = await self._records.reply_context(reply_id)
        if found is None:
            return None
        return Correction(
            0, "agent", reply_id, found.question, found.answer, found.language, found.entry_id,
            None, None, "pending", None, None, time.time(), found.audience,
        )  # fmt: skip

    # --- reading -------------------------------------------------------------------------

    async def get(self, correction_id: int) -> Correction | None:
        """Correction ``correction_id``, if there is one."""
        return await self._records.get(correction_id)

    async def pending(self) -> list[Correction]:
        """Every correction waiting for a decision, oldest first."""
        return await self._records.pending()

    async def history(self, entry_id: str | None = None) -> list[KbChange]:
        """Knowledge changes (of ``entry_id``, if given), oldest first."""
        return await self._records.history(entry_id)

    async def _get_or_fail(self, correction_id: int) -> Correction:
        correction = await self.get(correction_id)
        if correction is None:
            raise CorrectionError(f"no correction #{correction_id}")
        return correction

    # --- deciding ------------------------------------------------------------------------

    async def reject(self, correction_id: int, by: str) -> Correction:
        """Reject a pending correction; the knowledge base stays as it is."""
        correction = await self._pending(correction_id)
        if not await self._records.reject(correction_id, by):
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
        change = await self._records.approve(correction_id, by, old, new, source)
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
