"""A conversation belongs to the customer who opened it; everyone else's messages are theirs.

SQLiteStore level (owner, third-party role, history), the router (never answered, relayed as a
third party's while a handoff is open), the migration, and privacy export / forget per author.
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import pytest
import sqlite_utils

from bot import cli
from bot.app import Runtime
from bot.conversation.routing import MemoryCustomers, MemoryDesk, Router
from bot.storage.sqlite import SQLiteStore
from bot.storage.sqlite.migrations import MIGRATIONS, migrate
from bot.types import Message

KEY = "slack:T1:C0SUPPORT:100.000001"


def said(user: str, text: str, message_id: str, key: str = KEY) -> Message:
    return Message("slack", key, user, text, time.time(), message_id)


async def test_the_first_writer_owns_the_conversation(store: SQLiteStore) -> None:
    first = await store.record_inbound(said("U0CUSTOMER", "환불은 언제 되나요?", "m1"))
    other = await store.record_inbound(said("U0BYSTANDER", "상담원 연결해 주세요", "m2"))
    again = await store.record_inbound(said("U0CUSTOMER", "답변 기다릴게요", "m3"))
    assert (first.role, other.role, again.role) == ("customer", "third_party", "customer")
    assert await store.conversation_owner(KEY) == "U0CUSTOMER"
    # A redelivery reports the role stored the first time.
    assert (await store.record_inbound(said("U0BYSTANDER", "상담원 연결해 주세요", "m2"))).role == (
        "third_party"
    )
    # An explicit agent role is kept; history leaves third parties out.
    agent = await store.record_inbound(said("U0AGENT", "제가 도와드릴게요", "m4"), "agent")
    assert agent.role == "agent"
    assert [(m.role, m.text) for m in await store.history(KEY)] == [
        ("customer", "환불은 언제 되나요?"),
        ("customer", "답변 기다릴게요"),
        ("agent", "제가 도와드릴게요"),
    ]
    assert await store.conversation_owner("slack:T1:C0SUPPORT:none") is None


@pytest.fixture
def router(runtime: Runtime) -> tuple[Router, MemoryCustomers, MemoryDesk]:
    router = Router(runtime.engine, handoff_channel="slack:C0AGENTS")
    customers, desk = MemoryCustomers("slack"), MemoryDesk("slack")
    router.add_customer_side(customers)
    router.set_desk(desk)
    return router, customers, desk


async def not_an_agent(_user: str) -> bool:
    return False


async def an_agent(_user: str) -> bool:
    return True


@pytest.mark.parametrize(
    ("opening", "takeover", "aside"),
    [
        ("환불은 어떻게 신청하나요?", "상담원 연결해 주세요", "저도 같은 문제가 있어요"),
        ("How do I request a refund?", "I want to talk to a human", "Same problem here"),
    ],
)
async def test_a_third_party_is_recorded_never_answered_and_cannot_hand_over(
    router: tuple[Router, MemoryCustomers, MemoryDesk], opening: str, takeover: str, aside: str
) -> None:
    route, customers, desk = router
    store = route.engine.store
    answered = await route.customer_message(said("U0CUSTOMER", opening, "m1"))
    assert answered.action == "replied"
    inbound = await route.record(said("U0BYSTANDER", takeover, "m2"), not_an_agent)
    outcome = await route.customer_message(said("U0BYSTANDER", takeover, "m2"), inbound=inbound)
    assert outcome.action == "suppressed" and outcome.handoff is None
    assert len(customers.senders[KEY].sent) == 1  # only the answer to the customer
    assert (await store.conversation(KEY, "slack")).state == "bot"
    assert await store.open_handoffs() == [] and desk.tickets == []
    # Nothing left for the recovery sweep to answer later.
    assert await route.recover() == 0 and len(customers.senders[KEY].sent) == 1

    # The customer asks for a person; now a third party's words reach the ticket, labelled.
    await route.customer_message(said("U0CUSTOMER", takeover, "m3"))
    [ticket] = desk.tickets
    inbound = await route.record(said("U0BYSTANDER", aside, "m4"), not_an_agent)
    relayed = await route.customer_message(said("U0BYSTANDER", aside, "m4"), inbound=inbound)
    assert relayed.action == "relayed"
    assert desk.posts[-1] == (
        f"slack:ticket-{ticket.id}",
        f"Third party (not the customer) <@U0BYSTANDER>: {aside}",
    )
    assert (await store.conversation(KEY, "slack")).state == "waiting_human"
    # A duplicate delivery is not relayed twice, and the customer was told nothing more.
    posts, sent = len(desk.posts), len(customers.senders[KEY].sent)
    again = await route.customer_message(said("U0BYSTANDER", aside, "m4"))
    assert again.action == "duplicate"
    assert (len(desk.posts), len(customers.senders[KEY].sent)) == (posts, sent)


async def test_an_agent_in_the_customers_thread_takes_an_open_handoff_over(
    router: tuple[Router, MemoryCustomers, MemoryDesk],
) -> None:
    route, customers, desk = router
    store = route.engine.store
    await route.customer_message(said("U0CUSTOMER", "상담원 연결해 주세요", "m1"))
    [ticket] = desk.tickets
    inbound = await route.record(
        said("U0AGENT", "안녕하세요, 제가 확인해 드릴게요", "m2"), an_agent
    )
    assert inbound.role == "agent"
    outcome = await route.customer_message(said("U0AGENT", "…", "m2"), inbound=inbound)
    assert outcome.action == "suppressed"
    assert (await store.conversation(KEY, "slack")).state == "human"
    handoff = await store.handoff_by_id(ticket.id)
    assert handoff is not None and handoff.agent == "U0AGENT"
    assert desk.posts[-1][1] == "<@U0AGENT> took this over in the customer's thread."
    assert len(customers.senders[KEY].sent) == 1  # the handoff notice; no bot reply to staff


async def test_an_agent_without_a_handoff_is_only_recorded(
    router: tuple[Router, MemoryCustomers, MemoryDesk],
) -> None:
    route, customers, _desk = router
    await route.customer_message(said("U0CUSTOMER", "How do I request a refund?", "m1"))
    inbound = await route.record(said("U0AGENT", "I can help with that too", "m2"), an_agent)
    outcome = await route.customer_message(said("U0AGENT", "", "m2"), inbound=inbound)
    assert outcome.action == "suppressed"
    assert len(customers.senders[KEY].sent) == 1
    assert (await route.engine.store.conversation(KEY, "slack")).state == "bot"


async def test_is_agent_failing_makes_a_third_party(
    router: tuple[Router, MemoryCustomers, MemoryDesk],
) -> None:
    route, _customers, _desk = router

    async def broken(_user: str) -> bool:
        raise ConnectionError("slack is down")

    await route.customer_message(said("U0CUSTOMER", "How do I request a refund?", "m1"))
    inbound = await route.record(said("U0AGENT", "hi", "m2"), broken)
    assert inbound.role == "third_party"


# --- privacy per author ------------------------------------------------------------------


async def fill_thread(store: SQLiteStore) -> None:
    """민지 opens a thread with her name and order number; a bystander writes in it."""
    first = await store.record_inbound(
        said("U0CUSTOMER", "김민지입니다. 주문번호 ORD-2024-7788 환불해 주세요", "m1")
    )
    reply = await store.record_reply(first.id, KEY, "slack", "환불 안내입니다")
    assert reply is not None
    await store.record_inbound(said("U0BYSTANDER", "상담원 연결해 주세요", "m2"))
    await store.record_inbound(
        said("U0BYSTANDER", "My own question", "m3", key="slack:T1:D0DM:200.000001")
    )


async def test_export_is_per_author(store: SQLiteStore) -> None:
    await fill_thread(store)
    bystander = await store.retention.export_user("U0BYSTANDER")
    dumped = json.dumps(bystander, ensure_ascii=False)
    assert "김민지" not in dumped and "ORD-2024-7788" not in dumped and "환불 안내" not in dumped
    assert [m["text"] for m in bystander["messages_elsewhere"]] == ["상담원 연결해 주세요"]
    [own] = bystander["conversations"]
    assert [m["text"] for m in own["messages"]] == ["My own question"]

    customer = await store.retention.export_user("U0CUSTOMER")
    [conversation] = customer["conversations"]
    assert [m["text"] for m in conversation["messages"]] == [
        "김민지입니다. 주문번호 ORD-2024-7788 환불해 주세요",
        "환불 안내입니다",
    ]
    assert customer["messages_elsewhere"] == []


async def test_forget_is_per_author(store: SQLiteStore) -> None:
    await fill_thread(store)
    deleted = await store.retention.forget_user("U0BYSTANDER")
    assert deleted["conversations"] == 1 and deleted["messages"] == 2
    customer = await store.retention.export_user("U0CUSTOMER")
    assert [m["text"] for m in customer["conversations"][0]["messages"]] == [
        "김민지입니다. 주문번호 ORD-2024-7788 환불해 주세요",
        "환불 안내입니다",
    ]
    # Forgetting the customer deletes the thread she opened.
    assert (await store.retention.forget_user("U0CUSTOMER"))["conversations"] == 1
    assert await store.has_conversation(KEY) is False


async def test_forget_a_bystander_answered_before_third_parties_existed(store: SQLiteStore) -> None:
    await fill_thread(store)
    # An old row: the bystander recorded as a customer, and the bot answered them.
    legacy = await store.record_inbound(said("U0BYSTANDER", "old", "m9"), "agent")
    store._db.execute("UPDATE messages SET role = 'customer' WHERE id = ?", [legacy.id])
    store._db.conn.commit()
    reply = await store.record_reply(legacy.id, KEY, "slack", "answer to the bystander")
    assert reply is not None
    await store.annotate_inbound(legacy.id, entry_id="refund-how-to")
    assert await store.rate(reply, "U0BYSTANDER", 1) == "refund-how-to"
    deleted = await store.retention.forget_user("U0BYSTANDER")
    # Their DM, their two messages in 민지's thread and the bot's answer to the old one.
    assert deleted["messages"] == 4 and deleted["ratings"] == 1
    texts = [
        m["text"]
        for m in (await store.retention.export_user("U0CUSTOMER"))["conversations"][0]["messages"]
    ]
    assert "answer to the bystander" not in texts and len(texts) == 2


def test_privacy_cli_per_author(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import asyncio

    db = tmp_path / "cli.db"
    monkeypatch.setenv("ONDO_DB", str(db))
    monkeypatch.delenv("ONDO_ENCRYPTION_KEY", raising=False)
    store = SQLiteStore.open(db)
    asyncio.run(fill_thread(store))
    store.close()
    assert cli.main(["privacy", "export", "--user", "U0BYSTANDER"]) == 0
    out = capsys.readouterr().out
    assert "상담원 연결해 주세요" in out and "ORD-2024-7788" not in out and "김민지" not in out
    assert cli.main(["privacy", "forget", "--user", "U0BYSTANDER"]) == 0
    assert cli.main(["privacy", "export", "--user", "U0CUSTOMER"]) == 0
    out = capsys.readouterr().out
    assert "ORD-2024-7788" in out and "상담원 연결해 주세요" not in out


# --- the migration -----------------------------------------------------------------------


def test_migration_names_owners_and_allows_third_parties(tmp_path: Path) -> None:
    path = tmp_path / "v7.db"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA foreign_keys = ON")
    db = sqlite_utils.Database(conn)
    db.execute("CREATE TABLE _migrations (version INTEGER PRIMARY KEY, name TEXT, applied_at TEXT)")
    for version, step in enumerate(MIGRATIONS[:7], start=1):
        step(db)
        db.execute(
            "INSERT INTO _migrations (version, name) VALUES (?, ?)", [version, step.__name__]
        )
    db.execute(
        "INSERT INTO conversations (key, platform, created_at, updated_at) "
        "VALUES (?, 'slack', 0, 0)",
        [KEY],
    )
    for user, role in (("", "system"), ("U0CUSTOMER", "customer"), ("U0OTHER", "customer")):
        db.execute(
            "INSERT INTO messages (conversation_key, platform, direction, role, user, text, "
            "created_at) VALUES (?, 'slack', 'in', ?, ?, 'x', 0)",
            [KEY, role, user],
        )
    reply = db.execute(
        "INSERT INTO messages (conversation_key, platform, direction, role, text, in_reply_to,"
        " created_at) VALUES (?, 'slack', 'out', 'bot', 'y', 2, 0)",
        [KEY],
    ).lastrowid
    db.execute(
        "INSERT INTO ratings (message_id, rating, user, created_at) VALUES (?, 1, 'U0CUSTOMER', 0)",
        [reply],
    )
    conn.commit()
    assert migrate(db) == len(MIGRATIONS)
    conn.close()

    store = SQLiteStore.open(path)  # a new connection reads the widened schema
    try:
        row = store._db.execute("SELECT owner FROM conversations WHERE key = ?", [KEY]).fetchone()
        assert row[0] == "U0CUSTOMER"
        store._db.execute(
            "INSERT INTO messages (conversation_key, platform, direction, role, text, created_at)"
            " VALUES (?, 'slack', 'in', 'third_party', 'z', 0)",
            [KEY],
        )
        with pytest.raises(sqlite3.IntegrityError):
            store._db.execute(
                "INSERT INTO messages (conversation_key, platform, direction, role, text, "
                "created_at) VALUES (?, 'slack', 'in', 'anyone', 'z', 0)",
                [KEY],
            )
        assert store._db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert store._db.execute("PRAGMA foreign_key_check").fetchall() == []
        assert store._db.execute("SELECT COUNT(*) FROM ratings").fetchone()[0] == 1
    finally:
        store.close()
