"""``store.desk`` on both backends (revision 0006): duty, assignment (compare-and-set and
race-safe round-robin), SLA clocks, reminders exactly once across replicas, stale closing,
CSAT once with its retry and sealed comment, retention, and the migration from 0005."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy.pool import StaticPool

from bot.storage import schema
from bot.storage.crypto import PREFIX, FernetCipher, generate_key
from bot.storage.desk_records import DutyAgent
from bot.storage.sql.store import SqlStore
from bot.storage.sqlite import SQLiteStore
from bot.types import Message
from tests.backends import BACKENDS, Backend, backend_for, raw

NOW = 1_796_700_000.0
HOUR = 3600.0
DAY = 24 * HOUR
DESK_TABLES = ("csat", "desk_agents", "desk_reminders")
DESK_COLUMNS = (
    "assignee",
    "assigned_at",
    "first_response_at",
    "first_due_at",
    "resolution_due_at",
    "waiting_since",
    "closed_reason",
)


async def open_handoff(
    store: SqlStore, key: str, user: str, *, text: str = "환불해 주세요", reason: str = "angry"
) -> int:
    """A conversation of ``user`` handed over to the desk: its handoff's id."""
    platform = key.split(":", 1)[0]
    await store.record_inbound(Message(platform, key, user, text, time.time(), f"m-{key}"))
    handoff_id = await store.escalate(
        key, reason=reason, summary=text, intent="refund", emotion="angry", language="ko"
    )
    assert handoff_id is not None
    return handoff_id


def round_robin(agents: Sequence[DutyAgent]) -> str | None:
    """Whoever was assigned longest ago (never first), by id on a tie."""
    return min(agents, key=lambda a: (a.last_assigned_at or 0.0, a.agent)).agent


def least_loaded(agents: Sequence[DutyAgent]) -> str | None:
    """The fewest open tickets, then round-robin."""
    return min(agents, key=lambda a: (a.load, a.last_assigned_at or 0.0, a.agent)).agent


# --- duty and assignment ---------------------------------------------------------------------


async def test_agents_go_on_and_off_duty(any_store: SqlStore) -> None:
    desk = any_store.desk
    assert await desk.on_duty("slack") == []
    assert await desk.set_duty("slack", "slack:U2", True, NOW) is True
    assert await desk.set_duty("slack", "slack:U1", True, NOW + 1) is True
    assert await desk.set_duty("slack", "slack:U1", True, NOW + 2) is False  # no change
    assert await desk.set_duty("discord", "discord:42", True, NOW) is True
    agents = await desk.on_duty("slack")
    assert [(a.agent, a.load, a.last_assigned_at, a.changed_at) for a in agents] == [
        ("slack:U1", 0, None, NOW + 1),
        ("slack:U2", 0, None, NOW),
    ]
    assert await desk.set_duty("slack", "slack:U1", False, NOW + 3) is True
    assert [a.agent for a in await desk.on_duty("slack")] == ["slack:U2"]
    assert [a.agent for a in await desk.on_duty("discord")] == ["discord:42"]
    assert raw(any_store, "SELECT COUNT(*) FROM desk_agents") == [(3,)]


async def test_assignment_is_compare_and_set_on_an_open_handoff(any_store: SqlStore) -> None:
    desk = any_store.desk
    first = await open_handoff(any_store, "slack:C1:1", "slack:U9")
    assert await desk.assign(first, "slack:U1", NOW) is True
    assert await desk.assign(first, "slack:U2", NOW + 1, only_unassigned=True) is False
    assert await desk.open_load("slack:U1") == 1
    assert await desk.assign(first, "slack:U2", NOW + 2) is True  # reassigned by hand
    assert await desk.open_load("slack:U1") == 0 and await desk.open_load("slack:U2") == 1
    assert raw(any_store, "SELECT assignee, assigned_at FROM handoffs") == [("slack:U2", NOW + 2)]
    await any_store.update_handoff(first, resolved_at=NOW + 3)
    assert await desk.assign(first, "slack:U1", NOW + 4) is False
    assert await desk.open_load("slack:U2") == 0  # a resolved ticket is no load
    assert await desk.assign(9999, "slack:U1", NOW) is False


async def test_round_robin_and_least_loaded_with_agents_going_off_duty(
    any_store: SqlStore,
) -> None:
    desk = any_store.desk
    for n, agent in enumerate(("slack:U1", "slack:U2", "slack:U3")):
        await desk.set_duty("slack", agent, True, NOW + n)
    ids = [await open_handoff(any_store, f"slack:C1:{n}", f"slack:V{n}") for n in range(6)]
    picked = [await desk.assign_next(ids[n], "slack", round_robin, NOW + 10 + n) for n in range(3)]
    assert picked == ["slack:U1", "slack:U2", "slack:U3"]
    await desk.set_duty("slack", "slack:U1", False, NOW + 20)
    assert await desk.assign_next(ids[3], "slack", round_robin, NOW + 21) == "slack:U2"
    assert await desk.assign_next(ids[3], "slack", round_robin, NOW + 22) is None  # owned
    # Least loaded: U2 has two, U3 one.
    assert await desk.assign_next(ids[4], "slack", least_loaded, NOW + 23) == "slack:U3"
    loads = {a.agent: a.load for a in await desk.on_duty("slack")}
    assert loads == {"slack:U2": 2, "slack:U3": 2}
    # Nobody on duty, or a policy choosing nobody / somebody off duty: left unassigned.
    assert await desk.assign_next(ids[5], "slack", lambda _: "slack:U1", NOW + 24) is None
    await desk.set_duty("slack", "slack:U2", False, NOW + 25)
    await desk.set_duty("slack", "slack:U3", False, NOW + 25)
    assert await desk.assign_next(ids[5], "slack", round_robin, NOW + 26) is None
    assert raw(any_store, "SELECT assignee FROM handoffs WHERE id = ?", [ids[5]]) == [(None,)]


async def test_two_replicas_assigning_at_once_do_not_share_a_pointer(backend: Backend) -> None:
    stores = [backend.open(), backend.open()]
    agents = ("slack:U1", "slack:U2", "slack:U3", "slack:U4")
    for agent in agents:
        await stores[0].desk.set_duty("slack", agent, True, NOW)
    ids = [await open_handoff(stores[0], f"slack:C1:{n}", f"slack:V{n}") for n in range(8)]
    picked = await asyncio.gather(
        *(
            stores[n % 2].desk.assign_next(handoff_id, "slack", round_robin, NOW + 1)
            for n, handoff_id in enumerate(ids)
        )
    )
    # Every ticket assigned, each agent twice: no two picks read the same stale pointer.
    assert sorted(p or "" for p in picked) == sorted(agents * 2)
    loads = {a.agent: a.load for a in await stores[1].desk.on_duty("slack")}
    assert loads == dict.fromkeys(agents, 2)


# --- clocks, reminders, stale ----------------------------------------------------------------


async def test_due_times_and_the_first_response_once(any_store: SqlStore) -> None:
    desk = any_store.desk
    handoff_id = await open_handoff(any_store, "discord:g:1", "discord:7")
    await desk.set_due(handoff_id, NOW + HOUR, NOW + 8 * HOUR)
    assert await desk.mark_first_response(handoff_id, NOW + 60) is True
    assert await desk.mark_first_response(handoff_id, NOW + 120) is False
    [row] = await desk.sla_rows(0, time.time() + 1)
    assert (row.handoff_id, row.reason, row.intent, row.first_response_at) == (
        handoff_id,
        "angry",
        "refund",
        NOW + 60,
    )
    assert (row.first_due_at, row.resolution_due_at, row.resolved_at) == (
        NOW + HOUR,
        NOW + 8 * HOUR,
        None,
    )
    assert await desk.sla_rows(time.time() + 1, time.time() + 2) == []


async def test_each_reminder_is_posted_once_across_replicas_and_restarts(
    backend: Backend,
) -> None:
    stores = [backend.open(), backend.open()]
    handoff_id = await open_handoff(stores[0], "slack:C1:1", "slack:U9")
    await stores[0].desk.set_due(handoff_id, NOW + HOUR, NOW + 8 * HOUR)
    won = await asyncio.gather(
        *(s.desk.claim_reminder(handoff_id, "first_80", NOW) for s in stores * 3)
    )
    assert won.count(True) == 1
    stores[0].close()
    again = backend.open()  # a restart
    assert await again.desk.claim_reminder(handoff_id, "first_80", NOW + 5) is False
    assert await again.desk.claim_reminder(handoff_id, "first_breach", NOW + 6) is True
    [ticket] = await again.desk.handoffs_needing_reminders()
    assert ticket.id == handoff_id and ticket.sent == {"first_80", "first_breach"}
    assert ticket.first_due_at == NOW + HOUR and ticket.assignee is None
    # Once the breach reminders are sent and it has an owner, there is nothing to watch.
    assert await again.desk.claim_reminder(handoff_id, "resolution_breach", NOW + 7)
    assert [t.id for t in await again.desk.handoffs_needing_reminders()] == [handoff_id]
    await again.desk.assign(handoff_id, "slack:U1", NOW + 8)
    assert await again.desk.handoffs_needing_reminders() == []
    assert raw(again, "SELECT COUNT(*) FROM desk_reminders") == [(3,)]


async def test_a_stale_handoff_gets_one_reminder_then_closes_once(any_store: SqlStore) -> None:
    desk = any_store.desk
    key = "sms:+821012345678"
    handoff_id = await open_handoff(any_store, key, "sms:+821012345678")
    assert await desk.set_waiting(key, NOW) is True
    assert await desk.set_waiting("sms:nobody", NOW) is False
    assert await desk.stale_candidates(NOW + HOUR, 2 * HOUR) == []
    [ticket] = await desk.stale_candidates(NOW + 3 * HOUR, 2 * HOUR)
    assert ticket.id == handoff_id and ticket.waiting_since == NOW
    assert await desk.claim_reminder(handoff_id, "stale", NOW + 3 * HOUR) is True
    # The customer answers: the wait ends, and a later wait gets a reminder of its own.
    assert await desk.set_waiting(key, None) is True
    assert await desk.stale_candidates(NOW + 9 * HOUR, 2 * HOUR) == []
    assert await desk.close_stale(handoff_id, NOW + 9 * HOUR, NOW + 7 * HOUR) is False
    await desk.set_waiting(key, NOW + 10 * HOUR)
    assert await desk.claim_reminder(handoff_id, "stale", NOW + 13 * HOUR) is True
    assert await desk.close_stale(handoff_id, NOW + 20 * HOUR, NOW + 8 * HOUR) is False  # newer
    assert await desk.close_stale(handoff_id, NOW + 20 * HOUR, NOW + 12 * HOUR) is True
    assert await desk.close_stale(handoff_id, NOW + 21 * HOUR, NOW + 12 * HOUR) is False
    assert raw(any_store, "SELECT state FROM conversations WHERE key = ?", [key]) == [("closed",)]
    assert await any_store.current_handoff(key) is None
    [row] = await desk.sla_rows(0, time.time() + 1)
    assert (row.closed_reason, row.resolved_at) == ("stale", NOW + 20 * HOUR)


# --- satisfaction ----------------------------------------------------------------------------


async def test_csat_is_asked_and_answered_once_with_one_retry(backend: Backend) -> None:
    stores = [backend.open(), backend.open()]
    key = "slack:C1:1"
    handoff_id = await open_handoff(stores[0], key, "slack:U9")
    await stores[0].desk.assign(handoff_id, "slack:U1", NOW)
    asked = await asyncio.gather(*(s.desk.ask_csat(handoff_id, NOW + 1) for s in stores * 2))
    assert asked.count(True) == 1
    desk = stores[1].desk
    assert await desk.ask_csat(9999, NOW) is False  # no such handoff
    pending = await desk.csat_for_conversation(key)
    assert pending is not None and pending.handoff_id == handoff_id
    assert (pending.agent, pending.platform, pending.intent, pending.reason) == (
        "slack:U1",
        "slack",
        "refund",
        "angry",
    )
    assert (pending.language, pending.score, pending.retries) == ("ko", None, 0)
    assert await desk.note_csat_retry(handoff_id) == 1  # "6", "최고"
    assert await desk.note_csat_retry(handoff_id) == 2
    with pytest.raises(ValueError):
        await desk.answer_csat(handoff_id, 6, None, NOW + 2)
    assert await desk.answer_csat(handoff_id, 2, "  너무 늦었어요  ", NOW + 3) is True
    assert await desk.answer_csat(handoff_id, 5, "great", NOW + 4) is False
    assert await desk.add_csat_comment(handoff_id, "또") is False  # it has one
    assert await desk.note_csat_retry(handoff_id) == 0
    assert await desk.csat_for_conversation(key) is None
    answer = await desk.csat(handoff_id)
    assert answer is not None
    assert (answer.score, answer.comment, answer.answered_at, answer.retries) == (
        2,
        "너무 늦었어요",
        NOW + 3,
        2,
    )
    [row] = await desk.csat_rows(NOW, NOW + 10)
    assert row.score == 2 and row.comment is None  # the figures need no comment
    [row] = await desk.csat_rows(NOW, NOW + 10, comments=True)
    assert row.comment == "너무 늦었어요"
    assert await desk.csat_rows(NOW + 2, NOW + 10) == []


async def test_a_comment_after_a_click_and_an_answer_without_one(any_store: SqlStore) -> None:
    desk = any_store.desk
    one = await open_handoff(any_store, "discord:g:1", "discord:7")
    two = await open_handoff(any_store, "discord:g:2", "discord:8")
    for handoff_id in (one, two):
        assert await desk.ask_csat(handoff_id, NOW, agent="discord:99")
    assert await desk.add_csat_comment(one, "early") is False  # not answered yet
    assert await desk.answer_csat(one, 5, None, NOW + 1)
    assert await desk.add_csat_comment(one, "") is False
    assert await desk.add_csat_comment(one, "Fast and kind, thanks!")
    assert await desk.answer_csat(two, 4, "x" * 5000, NOW + 2)
    answers = {c.handoff_id: c for c in await desk.csat_rows(0, NOW + 10, comments=True)}
    assert answers[one].comment == "Fast and kind, thanks!" and answers[one].agent == "discord:99"
    assert len(answers[two].comment or "") < 2100


async def test_the_csat_comment_is_sealed_at_rest_and_resealed(backend: Backend) -> None:
    store = backend.open(FernetCipher([generate_key()]))
    handoff_id = await open_handoff(store, "slack:C1:1", "slack:U9")
    await store.desk.ask_csat(handoff_id, NOW)
    await store.desk.answer_csat(handoff_id, 1, "민지 상담원이 불친절했어요", NOW + 1)
    [(sealed,)] = raw(store, "SELECT comment FROM csat")
    assert sealed.startswith(PREFIX) and "민지" not in sealed
    new = FernetCipher([generate_key()])
    assert await store.retention.reseal(new) >= 1
    [(resealed,)] = raw(store, "SELECT comment FROM csat")
    assert resealed != sealed and new.open(resealed) == "민지 상담원이 불친절했어요"
    answer = await store.desk.csat(handoff_id)
    assert answer is not None and answer.comment == "민지 상담원이 불친절했어요"


# --- retention -------------------------------------------------------------------------------


async def test_desk_rows_are_exported_forgotten_and_purged_with_the_conversation(
    any_store: SqlStore,
) -> None:
    desk = any_store.desk
    user, key = "slack:U9", "slack:C1:1"
    mine = await open_handoff(any_store, key, user)
    other = await open_handoff(any_store, "slack:C1:2", "slack:U8")
    for handoff_id in (mine, other):
        await desk.claim_reminder(handoff_id, "first_80", NOW)
        await desk.ask_csat(handoff_id, NOW)
        await desk.answer_csat(handoff_id, 3, "so-so", NOW + 1)
    exported = await any_store.retention.export_user(user)
    [conversation] = exported["conversations"]
    [csat] = conversation["csat"]
    assert (csat["handoff_id"], csat["score"], csat["comment"]) == (mine, 3, "so-so")
    counts = await any_store.retention.forget_user(user)
    assert counts["csat"] == 1 and counts["desk_reminders"] == 1
    assert raw(any_store, "SELECT handoff_id FROM csat") == [(other,)]
    assert raw(any_store, "SELECT handoff_id FROM desk_reminders") == [(other,)]
    # Purged by age with its conversation.
    raw(any_store, "UPDATE conversations SET updated_at = 0")
    raw(any_store, "UPDATE messages SET created_at = 0")
    counts = await any_store.retention.purge(DAY)
    assert counts["csat"] == 1 and counts["desk_reminders"] == 1
    assert raw(any_store, "SELECT COUNT(*) FROM csat") == [(0,)]
    assert raw(any_store, "SELECT COUNT(*) FROM desk_reminders") == [(0,)]


async def test_forgetting_nothing_names_no_desk_table(any_store: SqlStore) -> None:
    await open_handoff(any_store, "slack:C1:1", "slack:U9")
    counts = await any_store.retention.forget_user("slack:U9")
    assert "csat" not in counts and "desk_reminders" not in counts


# --- schema ----------------------------------------------------------------------------------


def test_revision_0006_keeps_existing_handoffs_with_empty_desk_columns(tmp_path: Path) -> None:
    path = tmp_path / "ondo.db"
    conn = sqlite3.connect(path)
    engine = sa.create_engine("sqlite://", creator=lambda: conn, poolclass=StaticPool)
    with engine.connect() as connection:
        command.upgrade(schema.config(connection), "0005")
        connection.commit()
    conn.execute(
        "INSERT INTO conversations (key, platform, state, created_at, updated_at) "
        "VALUES ('slack:C1:1', 'slack', 'human', 1, 1)"
    )
    conn.execute(
        "INSERT INTO handoffs (id, conversation_key, reason, summary, agent, created_at) "
        "VALUES (7, 'slack:C1:1', 'angry', '환불', 'slack:U1', 1)"
    )
    conn.commit()
    conn.close()
    store = SQLiteStore.open(str(path))  # upgrades to the head
    try:
        columns = ", ".join(DESK_COLUMNS)
        assert raw(store, f"SELECT id, agent, {columns} FROM handoffs") == [
            (7, "slack:U1", *(None,) * len(DESK_COLUMNS))
        ]
        assert raw(store, "SELECT version_num FROM alembic_version") == [(schema.head(),)]
        assert schema.head() == "0006"
    finally:
        store.close()


def test_csat_score_is_checked_by_the_schema() -> None:
    store = SQLiteStore.open(":memory:")
    try:
        with pytest.raises(Exception, match="CHECK"):
            raw(
                store,
                "INSERT INTO csat (handoff_id, conversation_key, platform, asked_at, score) "
                "VALUES (1, 'k', 'slack', 0, 6)",
            )
    finally:
        store.close()


def _desk_shape(store: SqlStore) -> dict[str, list[tuple[str, bool]]]:
    """The desk tables' columns and the handoffs' new ones (name, nullable), in order."""
    tables = (*DESK_TABLES, "handoffs")
    if store._database.dialect == "sqlite":
        rows = [
            (table, r[1], not r[3] and not r[5])
            for table in tables
            for r in raw(store, f"PRAGMA table_info({table})")
        ]
    else:
        rows = [
            (r[0], r[1], r[2] == "YES")
            for r in raw(
                store,
                "SELECT table_name, column_name, is_nullable FROM information_schema.columns "
                "WHERE table_schema = current_schema() AND table_name IN "
                f"({', '.join(repr(t) for t in tables)}) ORDER BY table_name, ordinal_position",
            )
        ]
    out: dict[str, list[tuple[str, bool]]] = {}
    for table, column, nullable in rows:
        if table != "handoffs" or column in DESK_COLUMNS:
            out.setdefault(table, []).append((column, nullable))
    return out


def test_desk_tables_have_the_same_shape_on_both_backends(tmp_path: Path) -> None:
    shapes = []
    for name in BACKENDS:
        with backend_for(name, tmp_path) as backend:
            shapes.append(_desk_shape(backend.open()))
    assert sorted(shapes[0]) == sorted((*DESK_TABLES, "handoffs"))
    assert [c for c, _ in shapes[0]["handoffs"]] == list(DESK_COLUMNS)
    assert shapes[0] == shapes[1]
