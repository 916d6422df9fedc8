"""The help desk in the database (``store.desk``): agents on and off duty, a ticket's owner
and clocks (columns of ``handoffs``), the reminders posted, and satisfaction ratings.

Once-only lives in the schema: a reminder is one row per ``(handoff, kind)`` and a rating one
row per handoff, so two replicas racing (or a restart) post and ask once. Assignment is a
compare-and-set on the handoff; :meth:`SqlDesk.assign_next` picks and assigns in one
transaction that holds the platform's on-duty agents (SQLite's write lock, PostgreSQL's row
locks), so two tickets assigned at once never read the same round-robin pointer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from bot.storage.desk_records import (
    CSAT_COMMENT_MAX_CHARS,
    STALE,
    Csat,
    DeskTicket,
    DutyAgent,
    SlaRow,
)
from bot.storage.sql.database import Bound

Pick = Callable[[Sequence[DutyAgent]], str | None]
"""Assignment policy: the agent (one of those given) to own a new ticket, or ``None``."""

_POINTER_STEP = 0.001
"""How far past the newest assignment the round-robin pointer moves at least (seconds)."""
_OPEN = "h.resolved_at IS NULL AND h.notice_failed_at IS NULL"
_LOAD = f"(SELECT COUNT(*) FROM handoffs h WHERE h.assignee = a.agent AND {_OPEN})"
_DUTY = f"SELECT a.platform, a.agent, {_LOAD}, a.last_assigned_at, a.changed_at FROM desk_agents a"
_TICKET = (
    "SELECT h.id, h.conversation_key, h.reason, h.language, h.thread_ref, h.agent, h.assignee, "
    "h.created_at, h.assigned_at, h.first_response_at, h.first_due_at, h.resolution_due_at, "
    "h.waiting_since FROM handoffs h"
)
_CSAT = (
    "SELECT handoff_id, agent, conversation_key, platform, intent, reason, language, asked_at, "
    "score, comment, answered_at, retries FROM csat"
)
_SLA = (
    "SELECT id, reason, intent, language, agent, assignee, created_at, first_response_at, "
    "resolved_at, first_due_at, resolution_due_at, closed_reason FROM handoffs"
)


def _clean(value: str) -> str:
    """``value`` fit for a text column: NULs and lone surrogates gone."""
    return value.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")


def _comment(value: str | None) -> str | None:
    if value is None:
        return None
    text = _clean(value).strip()
    if not text:
        return None
    if len(text) > CSAT_COMMENT_MAX_CHARS:
        cut = len(text) - CSAT_COMMENT_MAX_CHARS
        text = text[:CSAT_COMMENT_MAX_CHARS] + f" […{cut} characters cut]"
    return text


def _time(value: Any) -> float | None:
    return None if value is None else float(value)


class SqlDesk(Bound):
    """:class:`bot.storage.interface.DeskRecords` over the database."""

    # --- agents and assignment -------------------------------------------------------------

    async def set_duty(self, platform: str, agent: str, on: bool, at: float) -> bool:
        """Put ``agent`` (platform-qualified, ``slack:U123``) of desk ``platform`` on or off
        duty; whether that changed anything (a second ``on`` is no change)."""

        def run() -> bool:
            with self._write():
                cursor = self._sql.execute(
                    "INSERT INTO desk_agents (platform, agent, on_duty, changed_at) "
                    "VALUES (?, ?, ?, ?) ON CONFLICT (platform, agent) DO UPDATE SET "
                    "on_duty = excluded.on_duty, changed_at = excluded.changed_at "
                    "WHERE desk_agents.on_duty != excluded.on_duty",
                    [platform, agent, 1 if on else 0, at],
                )
            return cursor.rowcount == 1

        return await self._run(run)

    async def on_duty(self, platform: str) -> list[DutyAgent]:
        """The on-duty agents of desk ``platform`` by id, each with their open-ticket load and
        when the desk last assigned them a ticket."""
        return await self._run(lambda: self._duty(platform))

    def _duty(self, platform: str) -> list[DutyAgent]:
        rows = self._sql.execute(
            f"{_DUTY} WHERE a.platform = ? AND a.on_duty = 1 ORDER BY a.agent", [platform]
        ).fetchall()
        return [
            DutyAgent(str(p), str(a), int(load), _time(last), float(changed))
            for p, a, load, last, changed in rows
        ]

    async def open_load(self, agent: str) -> int:
        """How many open tickets ``agent`` owns."""
        row = await self._run(
            lambda: self._one(
                f"SELECT COUNT(*) FROM handoffs h WHERE h.assignee = ? AND {_OPEN}", [agent]
            )
        )
        return int(row[0]) if row else 0

    async def assign(
        self, handoff_id: int, agent: str, at: float, *, only_unassigned: bool = False
    ) -> bool:
        """Make ``agent`` the owner of handoff ``handoff_id`` (``/ondo assign``, taking over);
        ``False`` when it is resolved or closed (or, with ``only_unassigned``, owned already).
        The round-robin pointer does not move: only :meth:`assign_next` moves it."""

        def run() -> bool:
            sql = (
                "UPDATE handoffs SET assignee = ?, assigned_at = ? "
                "WHERE id = ? AND resolved_at IS NULL"
            )
            if only_unassigned:
                sql += " AND assignee IS NULL"
            with self._write():
                return self._sql.execute(sql, [agent, at, handoff_id]).rowcount == 1

        return await self._run(run)

    async def assign_next(
        self, handoff_id: int, platform: str, pick: Pick, at: float
    ) -> str | None:
        """Assign unowned open handoff ``handoff_id`` to the on-duty agent of desk ``platform``
        that ``pick`` (the policy: round-robin, least-loaded; pure and quick, it runs inside
        the transaction) chooses from them, and move that agent's round-robin pointer. The
        agent assigned, or ``None`` (nobody on duty, ``pick`` chose nobody, the handoff is
        resolved or owned already). Race-safe: concurrent calls for one platform take turns,
        each seeing the assignments before it."""

        def run() -> str | None:
            with self._transaction():
                if self._database.dialect == "postgresql":
                    # Row locks on the platform's agents: another replica's assign_next waits
                    # here, then its next statement sees this one's committed pointer and load.
                    self._sql.execute(
                        "SELECT id FROM desk_agents WHERE platform = ? ORDER BY id FOR UPDATE",
                        [platform],
                    ).fetchall()
                open_row = self._one(
                    "SELECT 1 FROM handoffs WHERE id = ? AND resolved_at IS NULL "
                    "AND assignee IS NULL",
                    [handoff_id],
                )
                if open_row is None:
                    return None
                agents = self._duty(platform)
                chosen = pick(agents) if agents else None
                if chosen is None or chosen not in {a.agent for a in agents}:
                    return None
                self._sql.execute(
                    "UPDATE handoffs SET assignee = ?, assigned_at = ? WHERE id = ?",
                    [chosen, at, handoff_id],
                )
                # The pointer moves strictly forward, even when two replicas' clocks give the
                # same instant or one lags: else round-robin would tie or go back.
                newest = max((a.last_assigned_at or 0.0 for a in agents), default=0.0)
                self._sql.execute(
                    "UPDATE desk_agents SET last_assigned_at = ? WHERE platform = ? AND agent = ?",
                    [max(at, newest + _POINTER_STEP), platform, chosen],
                )
                return chosen

        return await self._run(run)

    # --- clocks ----------------------------------------------------------------------------

    async def set_due(
        self, handoff_id: int, first_due_at: float | None, resolution_due_at: float | None
    ) -> None:
        """Record handoff ``handoff_id``'s SLA due times (computed in business hours)."""

        def run() -> None:
            with self._write():
                self._sql.execute(
                    "UPDATE handoffs SET first_due_at = ?, resolution_due_at = ? WHERE id = ?",
                    [first_due_at, resolution_due_at, handoff_id],
                )

        await self._run(run)

    async def mark_first_response(self, handoff_id: int, at: float) -> bool:
        """The first agent message to the customer of handoff ``handoff_id`` was at ``at``;
        ``False`` (nothing changes) when one was recorded before."""

        def run() -> bool:
            with self._write():
                return (
                    self._sql.execute(
                        "UPDATE handoffs SET first_response_at = ? "
                        "WHERE id = ? AND first_response_at IS NULL",
                        [at, handoff_id],
                    ).rowcount
                    == 1
                )

        return await self._run(run)

    async def set_waiting(self, conversation_key: str, since: float | None) -> bool:
        """Conversation ``conversation_key``'s open handoff waits for the customer ``since``
        an agent's message (``None``: the customer answered; its stale reminder is forgotten
        too, so a later wait gets one of its own). Whether an open handoff was there."""

        def run() -> bool:
            with self._transaction():
                row = self._one(
                    f"SELECT h.id FROM handoffs h WHERE h.conversation_key = ? AND {_OPEN} "
                    "ORDER BY h.id DESC LIMIT 1",
                    [conversation_key],
                )
                if row is None:
                    return False
                self._sql.execute(
                    "UPDATE handoffs SET waiting_since = ? WHERE id = ?", [since, row[0]]
                )
                if since is None:
                    self._sql.execute(
                        "DELETE FROM desk_reminders WHERE handoff_id = ? AND kind = ?",
                        [row[0], STALE],
                    )
                return True

        return await self._run(run)

    async def stale_candidates(self, now: float, older_than: float) -> list[DeskTicket]:
        """Open handoffs that have waited for their customer ``older_than`` seconds or more
        at ``now``, oldest wait first."""

        def run() -> list[DeskTicket]:
            rows = self._sql.execute(
                f"{_TICKET} WHERE {_OPEN} AND h.waiting_since IS NOT NULL "
                "AND h.waiting_since <= ? ORDER BY h.waiting_since, h.id",
                [now - older_than],
            ).fetchall()
            return self._tickets(rows)

        return await self._run(run)

    async def close_stale(self, handoff_id: int, at: float, waiting_before: float) -> bool:
        """Close handoff ``handoff_id`` as stale (``closed_reason`` ``stale``, resolved at
        ``at``) and its conversation (state ``closed``: the customer's next message reopens it
        with the bot), only if it is open and still waits for the customer since before
        ``waiting_before``: a customer who answered meanwhile keeps it open. Whether it was
        closed (once: a second call, or another replica's, gets ``False``)."""

        def run() -> bool:
            with self._transaction():
                closed = self._sql.execute(
                    "UPDATE handoffs SET resolved_at = ?, closed_reason = ? WHERE id = ? "
                    "AND resolved_at IS NULL AND notice_failed_at IS NULL "
                    "AND waiting_since IS NOT NULL AND waiting_since <= ?",
                    [at, STALE, handoff_id, waiting_before],
                ).rowcount
                if closed != 1:
                    return False
                self._sql.execute(
                    "UPDATE conversations SET state = 'closed', updated_at = ? WHERE key = "
                    "(SELECT conversation_key FROM handoffs WHERE id = ?) "
                    "AND state IN ('waiting_human', 'human')",
                    [at, handoff_id],
                )
                return True

        return await self._run(run)

    # --- reminders -------------------------------------------------------------------------

    async def claim_reminder(self, handoff_id: int, kind: str, at: float) -> bool:
        """Claim posting reminder ``kind`` of handoff ``handoff_id``: ``True`` for the one
        caller (of every replica, ever) whose claim is recorded; post only then."""

        def run() -> bool:
            with self._write():
                return (
                    self._sql.execute(
                        "INSERT INTO desk_reminders (handoff_id, kind, sent_at) VALUES (?, ?, ?) "
                        "ON CONFLICT DO NOTHING",
                        [handoff_id, kind, at],
                    ).rowcount
                    == 1
                )

        return await self._run(run)

    async def handoffs_needing_reminders(self) -> list[DeskTicket]:
        """Open handoffs the ticker still has to watch, oldest first: a first response due
        and not given with its breach reminder not yet sent, a resolution due with its breach
        reminder not yet sent, or no owner with the ``unassigned`` reminder not yet sent. Each
        says which reminders were sent (the ticker decides what is due, in business hours)."""

        def sent(kind: str) -> str:
            return (
                "EXISTS (SELECT 1 FROM desk_reminders r WHERE r.handoff_id = h.id "
                f"AND r.kind = '{kind}')"
            )

        def run() -> list[DeskTicket]:
            rows = self._sql.execute(
                f"{_TICKET} WHERE {_OPEN} AND ("
                "(h.first_due_at IS NOT NULL AND h.first_response_at IS NULL "
                f"AND NOT {sent('first_breach')}) OR "
                f"(h.resolution_due_at IS NOT NULL AND NOT {sent('resolution_breach')}) OR "
                f"(h.assignee IS NULL AND NOT {sent('unassigned')})) ORDER BY h.id"
            ).fetchall()
            return self._tickets(rows)

        return await self._run(run)

    def _tickets(self, rows: Sequence[Sequence[Any]]) -> list[DeskTicket]:
        if not rows:
            return []
        ids = [int(r[0]) for r in rows]
        kinds: dict[int, set[str]] = {i: set() for i in ids}
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            for handoff_id, kind in self._sql.execute(
                "SELECT handoff_id, kind FROM desk_reminders "
                f"WHERE handoff_id IN ({', '.join('?' for _ in chunk)})",
                chunk,
            ).fetchall():
                kinds[int(handoff_id)].add(str(kind))
        return [
            DeskTicket(
                id=int(r[0]),
                conversation_key=str(r[1]),
                reason=str(r[2]),
                language=None if r[3] is None else str(r[3]),
                thread_ref=None if r[4] is None else str(r[4]),
                agent=None if r[5] is None else str(r[5]),
                assignee=None if r[6] is None else str(r[6]),
                created_at=float(r[7]),
                assigned_at=_time(r[8]),
                first_response_at=_time(r[9]),
                first_due_at=_time(r[10]),
                resolution_due_at=_time(r[11]),
                waiting_since=_time(r[12]),
                sent=frozenset(kinds[int(r[0])]),
            )
            for r in rows
        ]

    # --- satisfaction ----------------------------------------------------------------------

    async def ask_csat(self, handoff_id: int, at: float, *, agent: str | None = None) -> bool:
        """Record that the customer of handoff ``handoff_id`` is asked for a rating (its
        conversation, platform, intent, reason and language copied from it; ``agent``, else
        its owner, else who took it); ``True`` once per handoff: ask only then."""

        def run() -> bool:
            with self._write():
                return (
                    self._sql.execute(
                        "INSERT INTO csat (handoff_id, agent, conversation_key, platform, intent, "
                        "reason, language, asked_at) SELECT h.id, COALESCE(?, h.assignee, "
                        "h.agent), h.conversation_key, c.platform, h.intent, h.reason, "
                        "h.language, ? FROM handoffs h JOIN conversations c "
                        "ON c.key = h.conversation_key WHERE h.id = ? ON CONFLICT DO NOTHING",
                        [agent, at, handoff_id],
                    ).rowcount
                    == 1
                )

        return await self._run(run)

    async def csat(self, handoff_id: int) -> Csat | None:
        """The rating question of handoff ``handoff_id`` and its answer, comment opened."""

        def run() -> Csat | None:
            row = self._one(f"{_CSAT} WHERE handoff_id = ?", [handoff_id])
            return self._csat(row, comments=True) if row else None

        return await self._run(run)

    async def csat_for_conversation(self, conversation_key: str) -> Csat | None:
        """The newest rating question of conversation ``conversation_key`` still unanswered
        (the caller decides how long a question stays open by its ``asked_at``)."""

        def run() -> Csat | None:
            row = self._one(
                f"{_CSAT} WHERE conversation_key = ? AND answered_at IS NULL "
                "ORDER BY asked_at DESC, id DESC LIMIT 1",
                [conversation_key],
            )
            return self._csat(row, comments=False) if row else None

        return await self._run(run)

    async def answer_csat(
        self, handoff_id: int, score: int, comment: str | None, at: float
    ) -> bool:
        """Store the customer's ``score`` (1..5) and optional ``comment`` (sealed, long ones
        cut) for handoff ``handoff_id``; ``False`` when it was not asked or was answered
        already (the first answer stays). Raises ``ValueError`` for a score outside 1..5."""
        if isinstance(score, bool) or not isinstance(score, int) or not 1 <= score <= 5:
            raise ValueError(f"a CSAT score is 1..5, not {score!r}")
        text = _comment(comment)
        sealed = None if text is None else self.cipher.seal(text)

        def run() -> bool:
            with self._write():
                return (
                    self._sql.execute(
                        "UPDATE csat SET score = ?, comment = ?, answered_at = ? "
                        "WHERE handoff_id = ? AND answered_at IS NULL",
                        [score, sealed, at, handoff_id],
                    ).rowcount
                    == 1
                )

        return await self._run(run)

    async def add_csat_comment(self, handoff_id: int, comment: str) -> bool:
        """Attach a comment sent after the score (a button click, then a line) to handoff
        ``handoff_id``'s answered rating; ``False`` when it is unanswered or has one."""
        text = _comment(comment)
        if text is None:
            return False
        sealed = self.cipher.seal(text)

        def run() -> bool:
            with self._write():
                return (
                    self._sql.execute(
                        "UPDATE csat SET comment = ? WHERE handoff_id = ? "
                        "AND answered_at IS NOT NULL AND comment IS NULL",
                        [sealed, handoff_id],
                    ).rowcount
                    == 1
                )

        return await self._run(run)

    async def note_csat_retry(self, handoff_id: int) -> int:
        """Count one unusable answer ("6", "최고") to handoff ``handoff_id``'s rating question;
        the count so far (the caller asks again only after the first). ``0`` when there is no
        unanswered question."""

        def run() -> int:
            with self._transaction():
                changed = self._sql.execute(
                    "UPDATE csat SET retries = retries + 1 "
                    "WHERE handoff_id = ? AND answered_at IS NULL",
                    [handoff_id],
                ).rowcount
                if changed != 1:
                    return 0
                row = self._one("SELECT retries FROM csat WHERE handoff_id = ?", [handoff_id])
                return int(row[0]) if row else 0

        return await self._run(run)

    async def csat_rows(self, since: float, until: float, *, comments: bool = False) -> list[Csat]:
        """The rating questions asked in ``[since, until)``, oldest first (answered or not);
        comments opened only with ``comments`` (the figures need none)."""

        def run() -> list[Csat]:
            rows = self._sql.execute(
                f"{_CSAT} WHERE asked_at >= ? AND asked_at < ? ORDER BY asked_at, id",
                [since, until],
            ).fetchall()
            return [self._csat(tuple(r), comments=comments) for r in rows]

        return await self._run(run)

    def _csat(self, row: Sequence[Any], *, comments: bool) -> Csat:
        comment = row[9]
        return Csat(
            handoff_id=int(row[0]),
            agent=None if row[1] is None else str(row[1]),
            conversation_key=str(row[2]),
            platform=str(row[3]),
            intent=None if row[4] is None else str(row[4]),
            reason=None if row[5] is None else str(row[5]),
            language=None if row[6] is None else str(row[6]),
            asked_at=float(row[7]),
            score=None if row[8] is None else int(row[8]),
            comment=self.cipher.open(str(comment)) if comments and comment is not None else None,
            answered_at=_time(row[10]),
            retries=int(row[11]),
        )

    # --- insights --------------------------------------------------------------------------

    async def sla_rows(self, since: float, until: float) -> list[SlaRow]:
        """The handoffs created in ``[since, until)`` with their clocks, oldest first (not
        those whose customer notice failed and that were never reopened)."""

        def run() -> list[SlaRow]:
            rows = self._sql.execute(
                f"{_SLA} WHERE created_at >= ? AND created_at < ? "
                "AND notice_failed_at IS NULL ORDER BY created_at, id",
                [since, until],
            ).fetchall()
            return [
                SlaRow(
                    handoff_id=int(r[0]),
                    reason=str(r[1]),
                    intent=None if r[2] is None else str(r[2]),
                    language=None if r[3] is None else str(r[3]),
                    agent=None if r[4] is None else str(r[4]),
                    assignee=None if r[5] is None else str(r[5]),
                    created_at=float(r[6]),
                    first_response_at=_time(r[7]),
                    resolved_at=_time(r[8]),
                    first_due_at=_time(r[9]),
                    resolution_due_at=_time(r[10]),
                    closed_reason=None if r[11] is None else str(r[11]),
                )
                for r in rows
            ]

        return await self._run(run)
