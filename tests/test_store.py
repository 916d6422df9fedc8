"""The store on both backends (SQLite file, PostgreSQL schema): idempotent inbound recording
(across restarts and processes), replies, state compare-and-set, history, handoffs, the embedding
cache and imported entries."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import numpy as np
import psycopg
import pytest

import bot.storage.sql.store
from bot.storage import schema
from bot.storage.records import StoreError
from bot.storage.sql.store import SqlStore
from bot.storage.sqlite import SQLiteStore
from bot.types import Emotion, Message
from knowledge.entries import Entry
from tests.backends import Backend, raw

KEY = "discord:guild/channel"


@pytest.fixture
def store(any_store: SqlStore) -> SqlStore:
    """Every test below taking ``store`` runs on both backends."""
    return any_store


def msg(message_id: str, text: str = "환불은 어떻게 하나요?", key: str = KEY) -> Message:
    """An inbound customer message on Discord."""
    return Message(
        platform="discord",
        conversation_key=key,
        user="u1",
        text=text,
        timestamp=time.time(),
        message_id=message_id,
    )


def entry(entry_id: str, ko: str = "환불 신청을 눌러 주세요.", en: str = "Press refund.") -> Entry:
    return Entry(
        id=entry_id,
        category="refund",
        questions={"ko": ("환불은 어떻게 하나요?",), "en": ("How do I get a refund?",)},
        answer={"ko": ko, "en": en},
        agent_steps=("Check the order.",),
        source="faq.yaml",
    )


# --- opening and migrations ------------------------------------------------------------------


ONDO_TABLES = (
    "conversations",
    "messages",
    "handoffs",
    "embeddings",
    "kb_entries",
    "ratings",
    "seen_events",
    "corrections",
    "kb_changes",
    "replicas",
    "outbox",
    "journey_events",
    "journey_customers",
    "journey_identities",
    "journey_sends",
    "journey_consent",
    "reviews",
    "thread_states",
    "desk_agents",
    "desk_reminders",
    "csat",
)


def test_migrate_is_idempotent(db_path: Path) -> None:
    for _ in range(3):
        store = SQLiteStore.open(db_path)
        rows = store._db.execute("SELECT version_num FROM alembic_version").fetchall()
        tables = store._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        names = sorted(row[0] for row in tables.fetchall())
        store.close()
        assert rows == [(schema.head(),)]
        assert names == sorted([*ONDO_TABLES, "alembic_version", "sqlite_sequence"])


def test_open_garbage_file_raises_store_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "not-a-db.db"
    path.write_bytes(b"this is not a database, just bytes \x00\x01\x02" * 200)
    with pytest.raises(StoreError) as caught:
        SQLiteStore.open(path)
    assert str(path) in str(caught.value)


def test_open_creates_parent_folders(tmp_path: Path) -> None:
    store = SQLiteStore.open(tmp_path / "a" / "b" / "ondo.db")
    store.close()
    assert (tmp_path / "a" / "b" / "ondo.db").is_file()


# --- inbound messages ------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["환불은 어떻게 하나요?", "How do I get a refund?"])
async def test_second_delivery_is_duplicate_and_not_processed(store: SqlStore, text: str) -> None:
    first = await store.record_inbound(msg("m1", text))
    second = await store.record_inbound(msg("m1", text))
    assert (first.duplicate, first.process) == (False, True)
    assert (second.duplicate, second.process) == (True, False)
    assert second.id == first.id


async def test_same_id_on_another_platform_is_not_a_duplicate(store: SqlStore) -> None:
    await store.record_inbound(msg("m1"))
    other = Message("slack", "slack:C1/1.0", "u1", "hi", time.time(), "m1")
    assert (await store.record_inbound(other)).duplicate is False


async def test_duplicate_across_restart(backend: Backend) -> None:
    store = backend.open()
    first = await store.record_inbound(msg("m1"))
    store.close()
    reopened = backend.open()
    try:
        again = await reopened.record_inbound(msg("m1"))
    finally:
        reopened.close()
    assert (again.duplicate, again.process, again.id) == (True, False, first.id)


async def test_duplicate_across_two_processes_sharing_the_database(backend: Backend) -> None:
    one, two = backend.open(), backend.open()
    try:
        first = await one.record_inbound(msg("m1", "Where is my parcel?"))
        second = await two.record_inbound(msg("m1", "Where is my parcel?"))
    finally:
        one.close()
        two.close()
    assert (first.duplicate, first.process) == (False, True)
    assert (second.duplicate, second.process, second.id) == (True, False, first.id)


async def test_one_reply_per_inbound(store: SqlStore) -> None:
    inbound = await store.record_inbound(msg("m1"))
    first = await store.record_reply(
        inbound.id, KEY, "discord", "주문 내역에서 환불 신청을 누르세요."
    )
    second = await store.record_reply(inbound.id, KEY, "discord", "Press refund.")
    assert isinstance(first, int) and first > inbound.id
    assert second is None
    assert await store.count_replies(inbound.id) == 1


async def test_release_lets_a_redelivery_be_processed(store: SqlStore) -> None:
    inbound = await store.record_inbound(msg("m1"))
    reply = await store.record_reply(inbound.id, KEY, "discord", "답변")
    assert reply is not None
    await store.release(inbound.id, reply)
    assert await store.count_replies(inbound.id) == 0
    redelivered = await store.record_inbound(msg("m1"))
    assert (redelivered.duplicate, redelivered.process) == (True, True)
    # The new claim holds: a third delivery right after is not processed.
    assert (await store.record_inbound(msg("m1"))).process is False


async def test_expired_claim_without_reply_is_processed_again(
    store: SqlStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    inbound = await store.record_inbound(msg("m1"))
    monkeypatch.setattr(bot.storage.sql.store, "CLAIM_LEASE_SECONDS", -1.0)
    again = await store.record_inbound(msg("m1"))
    assert (again.id, again.duplicate, again.process) == (inbound.id, True, True)


async def test_handled_message_is_never_processed_again(
    store: SqlStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    inbound = await store.record_inbound(msg("m1"))
    await store.mark_handled(inbound.id)
    monkeypatch.setattr(bot.storage.sql.store, "CLAIM_LEASE_SECONDS", -1.0)
    assert (await store.record_inbound(msg("m1"))).process is False


async def test_replied_message_is_never_processed_again(
    store: SqlStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    inbound = await store.record_inbound(msg("m1", "Where is my order?"))
    reply_id = await store.record_reply(inbound.id, KEY, "discord", "It shipped yesterday.")
    assert reply_id is not None
    await store.set_platform_id(reply_id, "posted-1")
    monkeypatch.setattr(bot.storage.sql.store, "CLAIM_LEASE_SECONDS", -1.0)
    assert (await store.record_inbound(msg("m1", "Where is my order?"))).process is False
    assert await store.unfinished_inbound(since=0, max_attempts=5, platforms=["discord"]) == []


async def test_reply_recorded_but_never_posted_is_taken_up_again(
    store: SqlStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The process died between recording the reply and posting it.
    inbound = await store.record_inbound(msg("m1", "Where is my order?"))
    reply_id = await store.record_reply(inbound.id, KEY, "discord", "It shipped yesterday.")
    assert await store.unfinished_inbound(since=0, max_attempts=5, platforms=["discord"]) == []
    monkeypatch.setattr(bot.storage.sql.store, "CLAIM_LEASE_SECONDS", -1.0)
    [pending] = await store.unfinished_inbound(since=0, max_attempts=5, platforms=["discord"])
    assert pending.id == inbound.id
    assert await store.unposted_reply(inbound.id) == (reply_id, "It shipped yesterday.")
    assert (await store.record_inbound(msg("m1", "Where is my order?"))).process is True


async def test_ticket_claim_is_exclusive_until_it_expires(
    store: SqlStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    await store.record_inbound(msg("m1"))
    handoff_id = await store.open_handoff(
        KEY, reason="angry", summary="s", intent="refund", emotion="angry", language="ko"
    )
    assert await store.claim_ticket(handoff_id) is False  # opening it claimed it
    monkeypatch.setattr(bot.storage.sql.store, "CLAIM_LEASE_SECONDS", -1.0)
    assert await store.claim_ticket(handoff_id) is True
    monkeypatch.setattr(bot.storage.sql.store, "CLAIM_LEASE_SECONDS", 120.0)
    assert await store.claim_ticket(handoff_id) is False
    await store.release_ticket(handoff_id)
    assert await store.claim_ticket(handoff_id) is True
    await store.update_handoff(handoff_id, thread_ref="slack:C1:1.0")
    await store.release_ticket(handoff_id)
    assert await store.claim_ticket(handoff_id) is False  # posted already


async def test_annotate_inbound_and_unknown_field(store: SqlStore) -> None:
    inbound = await store.record_inbound(msg("m1"))
    await store.annotate_inbound(inbound.id, language="ko", emotion="angry", intent="refund")
    [stored] = await store.history(KEY)
    assert (stored.emotion, stored.intent) == ("angry", "refund")
    with pytest.raises(ValueError, match="nope"):
        await store.annotate_inbound(inbound.id, nope="x")


# --- conversations ---------------------------------------------------------------------------


async def test_new_conversation_starts_with_the_bot(store: SqlStore) -> None:
    conversation = await store.conversation(KEY, "discord")
    assert (conversation.state, conversation.misses, conversation.context_since) == ("bot", 0, 0)


async def test_set_state_with_expected_is_compare_and_set(store: SqlStore) -> None:
    await store.conversation(KEY, "discord")
    assert await store.set_state(KEY, "waiting_human", expected=("bot",)) is True
    assert await store.set_state(KEY, "waiting_human", expected=("bot",)) is False
    assert await store.set_state(KEY, "human", expected=("bot", "closed")) is False
    assert (await store.conversation(KEY, "discord")).state == "waiting_human"
    assert await store.set_state(KEY, "human", expected=("waiting_human",)) is True
    assert await store.set_state(KEY, "bot") is True
    assert (await store.conversation(KEY, "discord")).state == "bot"
    assert await store.set_state("discord:unknown", "bot") is False


async def test_note_turn(store: SqlStore) -> None:
    await store.conversation(KEY, "discord")
    await store.note_turn(KEY, language="ko", emotion=Emotion("angry", 0.9), misses=2)
    conversation = await store.conversation(KEY, "discord")
    assert (conversation.language, conversation.last_emotion, conversation.misses) == (
        "ko",
        "angry",
        2,
    )


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ("배송이 아직 안 왔어요 😡", "비밀번호를 바꾸고 싶어요"),
        ("My parcel never arrived!", "How do I change my password?"),
    ],
)
async def test_history_respects_clear_context(store: SqlStore, before: str, after: str) -> None:
    first = await store.record_inbound(msg("m1", before))
    await store.record_reply(first.id, KEY, "discord", "reply one")
    await store.note_turn(KEY, language="ko", emotion=Emotion("angry", 0.8), misses=1)
    assert [(m.role, m.text) for m in await store.history(KEY)] == [
        ("customer", before),
        ("bot", "reply one"),
    ]
    await store.clear_context(KEY)
    assert await store.history(KEY) == []
    assert (await store.conversation(KEY, "discord")).misses == 0
    await store.record_inbound(msg("m2", after))
    assert [(m.role, m.text) for m in await store.history(KEY)] == [("customer", after)]


async def test_history_limit_keeps_the_newest_oldest_first(store: SqlStore) -> None:
    for i in range(5):
        await store.record_inbound(msg(f"m{i}", f"메시지 {i}"))
    assert [m.text for m in await store.history(KEY, limit=2)] == ["메시지 3", "메시지 4"]


async def test_korean_text_round_trips(store: SqlStore) -> None:
    text = "주문번호 ORD-1 환불해 주세요 ㅠㅠ 🙏 — 'quote' \"double\""
    inbound = await store.record_inbound(msg("m1", text))
    await store.record_outbound(KEY, "discord", "상담원이 곧 답변드릴게요.", role="agent")
    history = await store.history(KEY)
    assert (history[0].id, history[0].role, history[0].text) == (inbound.id, "customer", text)
    assert history[1].text == "상담원이 곧 답변드릴게요."


# --- handoffs --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("summary", "language"),
    [
        ("[상담원 연결 요청] 사유: 고객이 화가 났어요", "ko"),
        ("[Handoff request] Reason: angry", "en"),
    ],
)
async def test_handoff_open_current_update(store: SqlStore, summary: str, language: str) -> None:
    await store.conversation(KEY, "discord")
    assert await store.current_handoff(KEY) is None
    handoff_id = await store.open_handoff(
        KEY, reason="angry", summary=summary, intent="refund", emotion="angry", language=language
    )
    current = await store.current_handoff(KEY)
    assert current is not None
    assert (current.id, current.reason, current.summary, current.agent) == (
        handoff_id,
        "angry",
        summary,
        None,
    )
    await store.update_handoff(handoff_id, agent="U_AGENT", thread_ref="C1/123.4", taken_at=10.0)
    current = await store.current_handoff(KEY)
    assert current is not None
    assert (current.agent, current.thread_ref, current.taken_at) == ("U_AGENT", "C1/123.4", 10.0)
    await store.update_handoff(handoff_id, resolved_at=20.0)
    assert await store.current_handoff(KEY) is None
    with pytest.raises(ValueError, match="summary"):
        await store.update_handoff(handoff_id, summary="x")


# --- embedding cache -------------------------------------------------------------------------


def test_vectors_round_trip_beyond_one_chunk(store: SqlStore) -> None:
    rng = np.random.default_rng(7)
    items = {f"h{i:04d}": rng.random((1, 8), dtype=np.float32) for i in range(1234)}
    store.put_vectors("use-multilingual-v3", items)
    wanted = [*items, "missing-1", "missing-2"]
    got = store.get_vectors("use-multilingual-v3", wanted)
    assert set(got) == set(items)
    for key, vector in items.items():
        assert got[key].dtype == np.float32
        assert got[key].shape == (1, 8)
        np.testing.assert_array_equal(got[key], vector)
    assert store.get_vectors("all-minilm-l6-v2", wanted) == {}


def test_put_vectors_overwrites(store: SqlStore) -> None:
    store.put_vectors("m", {"h": np.ones((1, 4), dtype=np.float32)})
    store.put_vectors("m", {"h": np.full((1, 4), 2.0, dtype=np.float32)})
    np.testing.assert_array_equal(store.get_vectors("m", ["h"])["h"], [[2.0, 2.0, 2.0, 2.0]])


# --- imported entries ------------------------------------------------------------------------


async def test_import_entries_reports_added_updated_unchanged(store: SqlStore) -> None:
    entries = [entry("refund-how"), entry("refund-time", "3~5영업일 걸려요.", "3-5 business days.")]
    assert await store.import_entries(entries, "faq.csv") == (2, 0)
    # Both unchanged: neither added nor updated.
    assert await store.import_entries(entries, "faq.csv") == (0, 0)
    changed = [entry("refund-how", ko="바뀐 답변입니다."), entries[1], entry("new-one")]
    assert await store.import_entries(changed, "faq.csv") == (1, 1)
    assert store.imported_entries_sync() == sorted(changed, key=lambda e: e.id)


async def test_imported_policy_entry_round_trips(store: SqlStore) -> None:
    policy = Entry(
        id="ops#환불-승인-권한",
        category="policy",
        questions={"ko": ("환불 승인 권한", "운영 지침 › 환불 승인 권한\n본문")},
        answer={"ko": "100,000원 이하는 상담원이 승인합니다."},
        source="ops.md § 환불 승인 권한",
        kind="policy",
    )
    assert await store.import_entries([policy], "ops.md") == (1, 0)
    assert store.imported_entries_sync() == [policy]


# --- ratings ---------------------------------------------------------------------------------


async def answered_reply(store: SqlStore, message_id: str, text: str, entry_id: str | None) -> int:
    """An inbound message answered (or not) from ``entry_id``, and the bot's reply row id."""
    inbound = await store.record_inbound(msg(message_id, text))
    await store.annotate_inbound(
        inbound.id,
        language="ko" if any("가" <= c <= "힣" for c in text) else "en",
        entry_id=entry_id,
        answered=entry_id is not None,
    )
    reply_id = await store.record_reply(inbound.id, KEY, "discord", "answer")
    assert reply_id is not None
    return reply_id


@pytest.mark.parametrize(
    ("text", "language"), [("환불은 어떻게 하나요?", "ko"), ("How do I get a refund?", "en")]
)
async def test_rate_stores_against_entry_and_second_click_updates(
    store: SqlStore, text: str, language: str
) -> None:
    reply_id = await answered_reply(store, "m1", text, "refund-how")
    assert await store.reply_language(reply_id) == language
    assert await store.rate(reply_id, "u1", -1) == "refund-how"
    assert await store.ratings_for("refund-how") == (0, 1)
    assert await store.rate(reply_id, "u1", 1) == "refund-how"
    assert await store.ratings_for("refund-how") == (1, 0)
    assert await store.rate(reply_id, "u2", 1) == "refund-how"
    assert await store.ratings_for("refund-how") == (2, 0)
    rows = raw(store, 'SELECT message_id, "user", rating FROM ratings ORDER BY id')
    assert rows == [(reply_id, "u1", 1), (reply_id, "u2", 1)]


async def test_rate_refuses_unknown_or_unanswered_replies(store: SqlStore) -> None:
    unanswered = await answered_reply(store, "m1", "아무말", None)
    inbound = (await store.record_inbound(msg("m2"))).id
    assert await store.rate(unanswered, "u1", 1) is None
    assert await store.rate(inbound, "u1", 1) is None  # a customer message, not a reply
    assert await store.rate(99_999, "u1", -1) is None
    assert raw(store, "SELECT COUNT(*) FROM ratings") == [(0,)]
    assert await store.ratings_for("nothing") == (0, 0)
    with pytest.raises(ValueError, match="rating"):
        await store.rate(unanswered, "u1", 5)


async def test_ratings_survive_reopen_and_schema_enforces_them(backend: Backend) -> None:
    store = backend.open()
    try:
        reply_id = await answered_reply(store, "m1", "Refund please", "refund-how")
        await store.rate(reply_id, "u1", 1)
    finally:
        store.close()
    again = backend.open()
    try:
        assert await again.ratings_for("refund-how") == (1, 0)
        with pytest.raises((sqlite3.IntegrityError, psycopg.IntegrityError)):
            raw(
                again,
                'INSERT INTO ratings (message_id, entry_id, rating, "user", created_at) '
                "VALUES (?, 'refund-how', 1, 'u1', 0)",
                [reply_id],
            )
        with pytest.raises((sqlite3.IntegrityError, psycopg.IntegrityError)):
            raw(
                again,
                'INSERT INTO ratings (message_id, entry_id, rating, "user", created_at) '
                "VALUES (?, 'refund-how', 0, 'u9', 0)",
                [reply_id],
            )
    finally:
        again.close()


# --- what recovery and the router need ----------------------------------------------------


@pytest.mark.parametrize("text", ["환불은 어떻게 하나요?", "How do I get a refund?"])
async def test_unfinished_inbound_lists_only_unanswered_free_messages(
    store: SqlStore, text: str
) -> None:
    released = await store.record_inbound(msg("m1", text))
    reply = await store.record_reply(released.id, KEY, "discord", "답변")
    assert reply is not None
    await store.release(released.id, reply)  # a failed post: waits for recovery
    busy = await store.record_inbound(msg("m2", text))  # being processed right now
    answered = await store.record_inbound(msg("m3", text))
    await store.record_reply(answered.id, KEY, "discord", "답변")
    handled = await store.record_inbound(msg("m4", text))
    await store.mark_handled(handled.id)
    since = time.time() - 60
    [pending] = await store.unfinished_inbound(since=since, max_attempts=5, platforms=["discord"])
    assert (pending.id, pending.message.text, pending.message.message_id) == (
        released.id,
        text,
        "m1",
    )
    assert pending.message.conversation_key == KEY and pending.attempts == 0
    assert busy.id not in {p.id for p in [pending]}
    assert await store.unfinished_inbound(since=since, max_attempts=5, platforms=["slack"]) == []
    assert (
        await store.unfinished_inbound(since=time.time() + 1, max_attempts=5, platforms=["discord"])
        == []
    )
    # Each re-claim counts as an attempt; at the limit the message is no longer offered.
    assert (await store.record_inbound(msg("m1", text))).process
    await store.release(released.id, -1)
    [again] = await store.unfinished_inbound(since=since, max_attempts=5, platforms=["discord"])
    assert again.attempts == 1
    assert await store.unfinished_inbound(since=since, max_attempts=1, platforms=["discord"]) == []


async def test_first_sighting_is_once_per_platform_event(backend: Backend) -> None:
    store = backend.open()
    assert await store.first_sighting("slack", "C1:1.0", "agent_message")
    assert not await store.first_sighting("slack", "C1:1.0", "agent_message")
    assert await store.first_sighting("discord", "C1:1.0", "agent_message")
    store.close()
    reopened = backend.open()  # also across a restart
    try:
        assert not await reopened.first_sighting("slack", "C1:1.0", "agent_message")
    finally:
        reopened.close()


async def test_cancel_handoff_gives_the_conversation_back_unless_taken(store: SqlStore) -> None:
    await store.conversation(KEY, "discord")
    first = await store.escalate(
        KEY, reason="angry", summary="s", intent="refund", emotion="angry", language="ko"
    )
    assert first is not None and [h.id for h in await store.open_handoffs()] == [first]
    assert (await store.handoff_by_id(first)).intent == "refund"  # type: ignore[union-attr]
    await store.cancel_handoff(first)
    # Put off, not deleted: closed to agents, its number kept for the retry.
    assert await store.open_handoffs() == [] and await store.current_handoff(KEY) is None
    kept = await store.handoff_by_id(first)
    assert kept is not None and kept.notice_failed_at is not None
    assert (await store.conversation(KEY, "discord")).state == "bot"
    assert not await store.claim_ticket(first)  # no ticket for a put-off handoff

    again = await store.escalate(
        KEY,
        reason="asked_for_human",
        summary="s2",
        intent="refund",
        emotion="angry",
        language="ko",
    )
    assert again == first  # the retry reopens it under the same number
    reopened = await store.handoff_by_id(first)
    assert reopened is not None and reopened.notice_failed_at is None
    assert reopened.token == kept.token and reopened.reason == "asked_for_human"
    assert [h.id for h in await store.open_handoffs()] == [first]

    await store.set_state(KEY, "human")  # an agent took it meanwhile: the handoff is theirs
    await store.cancel_handoff(first)
    assert (await store.conversation(KEY, "discord")).state == "human"
    assert [h.id for h in await store.open_handoffs()] == [first]
    await store.cancel_handoff(12345)  # unknown: nothing happens


# --- corrections ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "answer"),
    [
        ("환불은 어떻게 하나요?", "주문 내역에서 신청하세요."),
        ("How do I get a refund?", "Use your order history."),
    ],
)
async def test_a_correction_is_proposed_approved_once_and_kept_in_history(
    store: SqlStore, question: str, answer: str
) -> None:
    inbound = await store.record_inbound(msg("m1", question))
    await store.annotate_inbound(inbound.id, entry_id="refund-how", answered=True)
    reply = await store.record_reply(inbound.id, KEY, "discord", "잘못된 답변 / a wrong answer")
    assert reply is not None
    assert await store.corrections.queue_rating(reply) is not None
    assert await store.corrections.queue_rating(reply) is None  # one per answer
    number = await store.corrections.propose(reply, answer, "agent-1")
    [pending] = await store.corrections.pending()
    assert (pending.id, pending.question, pending.proposed_answer) == (number, question, answer)
    new = entry("refund-how", ko=answer, en=answer)
    change = await store.corrections.approve(pending.id, "admin", None, new, "correction")
    assert change is not None and change.action == "add"
    assert await store.corrections.approve(pending.id, "admin", None, new, "correction") is None
    assert await store.corrections.reject(pending.id, "admin") is False
    [kept] = await store.corrections.history("refund-how")
    assert kept.new == new and kept.correction_id == pending.id
    assert [e.id for e in store.imported_entries_sync()] == ["refund-how"]
    assert (await store.knowledge_version())[0] == kept.id
