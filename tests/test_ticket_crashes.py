"""Handoffs and their tickets across crashes: one number per handoff for life, one ticket per
handoff, and buttons that act only on the handoff they were posted for.

The crash windows, in the order a handoff goes through them:

1. the conversation moves to ``waiting_human`` and the handoff is recorded: one transaction
   (:meth:`bot.storage.interface.Store.escalate`), so a kill leaves both or neither;
2. the customer's notice is posted: if that fails, the handoff is put off under its number
   and the retry reopens it (before: deleted, and the retry recorded a new one, with another
   number, in another order); a kill after the notice was recorded is the reply path's
   (re-sent once, looked up on the platform first);
3. the ticket is posted, then its thread is recorded: a kill in between left the ticket on the
   platform unrecorded, and recovery posted a second one (8 tickets for 6 handoffs in the load
   test); a repeated attempt now looks on the platform first and adopts what it finds;
4. a click: the button carries ``<number>.<token>``; a stale or made-up value is refused.

A "kill" here is an exception no handler catches, raised at the point where the process
would die; the "restart" is a new router on the same database, with the claims' lease over.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import sqlite_utils

import bot.storage.sql.store
from bot.app import Runtime
from bot.conversation.routing import MemoryCustomers, MemoryDesk, MemorySender, Router, ticket_of
from bot.conversation.suggestions import open_handoff_for
from bot.conversation.ticket_buttons import (
    STALE_BUTTON,
    button_value,
    clicked_handoff,
    handoff_value,
)
from bot.storage.records import Handoff
from bot.storage.sqlite import SQLiteStore
from bot.storage.sqlite.migrations import MIGRATIONS, _m10_handoff_ids
from bot.types import Message, Reply
from tests.discord_harness import Discord, discord_settings, fake_discord, running_discord
from tests.fakes.discord_gateway import FakeDiscord
from tests.fakes.slack_api import FakeSlack
from tests.slack_harness import (
    AGENT,
    AGENTS,
    dm,
    dm_conversation,
    fake_slack,
    running_slack,
    slack_settings,
)

KEY = "slack:T1:D1:1.000001"
OTHER = "slack:T1:D2:2.000002"
ASKS = {"ko": "상담원 연결해 주세요", "en": "I want to talk to a human agent"}
NOTICES = {"ko": "상담원", "en": "agent"}


class Killed(BaseException):
    """The process dies here: no handler of the code under test catches it."""


def message(text: str, message_id: str, key: str = KEY) -> Message:
    return Message(key.partition(":")[0], key, "customer-1", text, time.time(), message_id)


def restart(runtime: Runtime, desk: MemoryDesk) -> tuple[Router, MemoryCustomers]:
    """A new process's router on the same database (the desk's platform keeps its posts)."""
    router = Router(runtime.engine, handoff_channel=f"{desk.platform}:AGENTS")
    customers = MemoryCustomers("slack")
    router.add_customer_side(customers)
    router.set_desk(desk)
    return router, customers


def handoff_rows(store: SQLiteStore) -> list[tuple[int, str]]:
    rows = store._db.execute("SELECT id, conversation_key FROM handoffs ORDER BY id").fetchall()
    return [(int(r[0]), str(r[1])) for r in rows]


async def sql(store: SQLiteStore, statement: str, params: list[Any] | None = None) -> None:
    """Run and commit ``statement`` on the store's own connection."""

    def run() -> None:
        with store._db.conn:
            store._db.execute(statement, params or [])

    await store._run(run)


async def escalate(store: SQLiteStore, key: str, language: str = "en") -> int:
    await store.conversation(key, key.partition(":")[0])
    number = await store.escalate(
        key, reason="angry", summary="s", intent="refund", emotion="angry", language=language
    )
    assert number is not None
    return number


def expire_claims(monkeypatch: pytest.MonkeyPatch) -> None:
    """The lease of every claim is over (as it is a while after a restart)."""
    monkeypatch.setattr(bot.storage.sql.store, "CLAIM_LEASE_SECONDS", -1.0)


# --- the store and the router, with the memory desk ------------------------------------------


@pytest.mark.parametrize("language", ["ko", "en"])
async def test_a_retry_after_a_failed_notice_keeps_the_handoff_number(
    runtime: Runtime, language: str
) -> None:
    desk = MemoryDesk("slack")
    router, customers = restart(runtime, desk)
    store = runtime.store
    sender = customers.senders.setdefault(KEY, MemorySender(fail_next=1))
    with pytest.raises(ConnectionError):
        await router.customer_message(message(ASKS[language], "m1"))
    [(first, _)] = handoff_rows(store)
    put_off = await store.handoff_by_id(first)
    assert put_off is not None and put_off.notice_failed_at is not None
    assert await store.current_handoff(KEY) is None and desk.tickets == []
    assert await open_handoff_for(router, first) is None  # its buttons, if any, are refused
    assert (await store.conversation(KEY, "slack")).state == "bot"
    other = await escalate(store, OTHER)  # another conversation is handed over meanwhile

    assert await router.recover() == 1  # the retry: notice first, then the ticket
    assert NOTICES[language] in sender.sent[-1].text
    assert [t.id for t in desk.tickets] == [first]
    # Before: the row was deleted and the retry's handoff got a new number, after ``other``.
    assert handoff_rows(store) == [(first, KEY), (other, OTHER)]
    reopened = await store.current_handoff(KEY)
    assert reopened is not None and reopened.id == first and reopened.token == put_off.token
    assert desk.tickets[0].token == put_off.token  # the buttons carry the kept token


async def test_a_ticket_posted_while_a_notice_hung_is_not_posted_again(
    runtime: Runtime,
) -> None:
    desk = MemoryDesk("slack")
    router, _ = restart(runtime, desk)
    store = runtime.store

    class Hanging:
        """The notice takes longer than the ticket's lease: a sweep posts the ticket, then
        the notice fails."""

        def __init__(self) -> None:
            self.sent: list[Reply] = []

        async def send(self, reply: Reply) -> str | None:
            if self.sent:
                self.sent.append(reply)
                return "posted"
            self.sent.append(reply)
            handoff = await store.current_handoff(KEY)
            assert handoff is not None
            await sql(store, "UPDATE handoffs SET ticket_claimed_at = 0")  # its lease is over
            assert await router.open_ticket(ticket_of(handoff)) is not None
            raise ConnectionError("the notice timed out")

    sender = Hanging()
    with pytest.raises(ConnectionError):
        await router.customer_message(message(ASKS["en"], "m1"), sender)
    [ticket] = desk.tickets
    value = button_value(ticket.id, ticket.token)
    # Put off meanwhile: a click on its ticket is refused as closed, not acted on.
    assert await open_handoff_for(router, ticket.id) is None

    outcome = await router.customer_message(message(ASKS["en"], "m1"), sender)
    assert outcome.handoff is not None and outcome.handoff.id == ticket.id
    assert len(desk.tickets) == 1  # its ticket was posted already: not again
    current = await store.current_handoff(KEY)
    assert current is not None and handoff_value(current) == value
    assert current.thread_ref == f"slack:ticket-{ticket.id}"


@pytest.mark.parametrize("language", ["ko", "en"])
async def test_a_kill_between_the_notice_and_the_ticket_posts_the_ticket_once(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch, language: str
) -> None:
    desk = MemoryDesk("slack")
    customers = MemoryCustomers("slack")
    # The engine answered (the notice is posted) and the process died before the ticket.
    outcome = await runtime.engine.handle(message(ASKS[language], "m1"), customers.sender_for(KEY))
    assert outcome.handoff is not None
    assert NOTICES[language] in customers.senders[KEY].sent[0].text

    router, _ = restart(runtime, desk)
    await router.recover()
    assert desk.tickets == []  # the dead process's claim is still held
    expire_claims(monkeypatch)
    await router.recover()
    await router.recover()
    assert [t.id for t in desk.tickets] == [outcome.handoff.id]
    handoff = await runtime.store.current_handoff(KEY)
    assert handoff is not None and handoff.thread_ref == f"slack:ticket-{handoff.id}"


async def test_a_kill_between_the_ticket_post_and_its_record_adopts_the_ticket(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    desk = MemoryDesk("slack")
    router, _ = restart(runtime, desk)
    store = runtime.store
    record = store.update_handoff

    async def die_on_thread(handoff_id: int, **fields: str | float | None) -> None:
        if "thread_ref" in fields:
            raise Killed
        await record(handoff_id, **fields)

    monkeypatch.setattr(store, "update_handoff", die_on_thread)
    with pytest.raises(Killed):
        await router.customer_message(message(ASKS["ko"], "m1"))
    monkeypatch.setattr(store, "update_handoff", record)
    [posted] = desk.tickets

    router, _ = restart(runtime, desk)
    expire_claims(monkeypatch)
    await router.recover()
    assert desk.tickets == [posted] and desk.adopted == 1
    handoff = await store.current_handoff(KEY)
    assert handoff is not None and handoff.thread_ref == f"slack:ticket-{posted.id}"


async def test_a_kill_between_the_state_and_the_handoff_leaves_neither(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = runtime.store

    def die(*args: object) -> int:
        raise Killed

    monkeypatch.setattr(store, "_insert_handoff", die)
    sender = MemoryCustomers("slack").sender_for(KEY)
    with pytest.raises(Killed):
        await runtime.engine.handle(message(ASKS["en"], "m1"), sender)
    monkeypatch.undo()
    # Before, the conversation stayed waiting for a person with no handoff: the retry was
    # relayed to a ticket that never came, and the customer was never told.
    assert (await store.conversation(KEY, "slack")).state == "bot"
    assert handoff_rows(store) == []


async def test_buttons_are_bound_to_their_handoff(
    store: SQLiteStore, caplog: pytest.LogCaptureFixture
) -> None:
    mine, theirs = await escalate(store, KEY, "ko"), await escalate(store, OTHER)
    a, b = await store.handoff_by_id(mine), await store.handoff_by_id(theirs)
    assert a is not None and b is not None and a.token and b.token and a.token != b.token
    ok = await clicked_handoff(store, handoff_value(a), user="agent-1", what="take")
    assert ok is not None and ok.id == mine
    caplog.set_level("WARNING", logger="ondo.tickets")
    for forged in (
        str(mine),  # the plain number, as tickets carried before tokens
        button_value(mine, b.token),  # another handoff's token
        button_value(mine, "0" * 16),
        button_value(mine + 50, a.token),  # no such handoff
        KEY,  # the conversation key, as the oldest tickets carried
        f"{mine}.{a.token}.x",
        "",
        "١.abc",  # a non-ASCII digit
        "9" * 400,
    ):
        assert await clicked_handoff(store, forged, user="agent-1", what="take") is None, forged
    assert caplog.text.count("refused") == 9
    assert "stale or made-up" in caplog.text


async def test_numbers_are_never_reused_after_forget_or_purge(store: SQLiteStore) -> None:
    first = await store.record_inbound(message("hello", "m1", key="discord:dm:minji"))
    assert first.id
    numbers = [await escalate(store, key) for key in ("discord:dm:sam", "discord:dm:minji")]
    forgotten = await store.handoff_by_id(numbers[-1])
    assert forgotten is not None
    await store.retention.forget_user("customer-1")  # the newest handoff goes with its conversation
    assert await store.handoff_by_id(numbers[-1]) is None

    after = await escalate(store, "discord:dm:jun")
    assert after > max(numbers)  # a plain rowid would give the forgotten one's number again
    stale = handoff_value(forgotten)
    assert await clicked_handoff(store, stale, user="agent-1", what="take") is None

    await sql(store, "UPDATE conversations SET updated_at = 0")
    await store.retention.purge(older_than=3600)
    assert await store.open_handoffs() == []
    assert await escalate(store, "discord:dm:lee") > after


def test_the_handoff_ids_migration_keeps_numbers_and_old_buttons(tmp_path: Path) -> None:
    path = tmp_path / "v7.db"
    conn = sqlite3.connect(path)
    db = sqlite_utils.Database(conn)
    db.execute("CREATE TABLE _migrations (version INTEGER PRIMARY KEY, name TEXT, applied_at TEXT)")
    for version, step in enumerate(MIGRATIONS[: MIGRATIONS.index(_m10_handoff_ids)], start=1):
        step(db)
        db.execute("INSERT INTO _migrations VALUES (?, ?, '')", [version, step.__name__])
    db.execute(
        "INSERT INTO conversations (key, platform, created_at, updated_at) VALUES "
        "('discord:dm:1', 'discord', 0, 0)"
    )
    for number in (1, 2, 3):
        db.execute(
            "INSERT INTO handoffs (id, conversation_key, reason, summary, created_at, "
            "thread_ref, ticket_claimed_at) VALUES (?, 'discord:dm:1', 'angry', '요약', ?, ?, ?)",
            [number, float(number), f"discord:{number}", float(number)],
        )
    conn.commit()
    conn.close()

    store = SQLiteStore.open(path)
    try:
        rows = store._db.execute(
            "SELECT id, summary, thread_ref, button_token, ticket_attempts FROM handoffs"
        ).fetchall()
        assert rows == [(n, "요약", f"discord:{n}", None, 1) for n in (1, 2, 3)]
        schema = store._db.execute(
            "SELECT sql FROM sqlite_master WHERE name = 'handoffs'"
        ).fetchone()[0]
        assert "AUTOINCREMENT" in schema
        store._db.execute("DELETE FROM handoffs WHERE id = 3")
        cursor = store._db.execute(
            "INSERT INTO handoffs (conversation_key, reason, summary, created_at) "
            "VALUES ('discord:dm:1', 'angry', 's', 4)"
        )
        assert cursor.lastrowid == 4
    finally:
        store.close()


async def test_an_old_plain_number_button_still_works_for_its_old_handoff(
    store: SQLiteStore,
) -> None:
    await store.conversation(KEY, "slack")
    await sql(
        store,
        "INSERT INTO handoffs (conversation_key, reason, summary, created_at) "
        "VALUES (?, 'angry', 's', 1)",
        [KEY],
    )
    [old] = await store.open_handoffs()
    assert old.token is None
    found = await clicked_handoff(store, str(old.id), user="agent-1", what="take")
    assert found is not None and found.id == old.id
    assert await clicked_handoff(store, f"{old.id}.abc", user="agent-1", what="take") is None


# --- the real adapters against the fakes ---------------------------------------------------


@pytest_asyncio.fixture
async def slack_fake() -> AsyncIterator[FakeSlack]:
    async with fake_slack() as server:
        yield server


@pytest_asyncio.fixture
async def discord_fake() -> AsyncIterator[FakeDiscord]:
    async with fake_discord() as server:
        yield server


async def _handoff_without_desk(router: Router, deliver: Callable[[], Any], key_of: Any) -> Handoff:
    """Hand a conversation over while the desk is away (the ticket waits, claimed)."""
    desk, router.desk = router.desk, None
    try:
        await deliver()
    finally:
        router.desk = desk
    handoff = await router.engine.store.current_handoff(await key_of())
    assert handoff is not None and handoff.thread_ref is None
    return handoff


async def _post_and_die(router: Router, handoff: Handoff, monkeypatch: pytest.MonkeyPatch) -> None:
    """Post the ticket; the process dies right after the platform took it."""
    store = router.engine.store
    record = store.update_handoff

    async def die_on_thread(handoff_id: int, **fields: str | float | None) -> None:
        if "thread_ref" in fields:
            raise Killed
        await record(handoff_id, **fields)

    monkeypatch.setattr(store, "update_handoff", die_on_thread)
    with pytest.raises(Killed):
        await router.open_ticket(ticket_of(handoff), claimed=True)
    monkeypatch.setattr(store, "update_handoff", record)


@pytest.mark.parametrize("language", ["ko", "en"])
async def test_slack_ticket_that_reached_slack_before_a_kill_is_adopted(
    slack_fake: FakeSlack,
    sample_runtime_factory: Callable[..., Runtime],
    monkeypatch: pytest.MonkeyPatch,
    language: str,
) -> None:
    runtime = sample_runtime_factory(**slack_settings(slack_fake))
    async with running_slack(slack_fake, runtime) as slack:
        event = dm(slack_fake, ASKS[language])
        key = dm_conversation(slack_fake)

        async def deliver() -> None:
            await slack.deliver(event)
            await slack.adapter.wait_completed(1)

        async def key_of() -> str:
            return key

        handoff = await _handoff_without_desk(slack.router, deliver, key_of)
        await _post_and_die(slack.router, handoff, monkeypatch)
        [ticket] = slack.tickets()
        suggestions = [c for c in slack.posts(AGENTS) if c.params.get("thread_ts")]

    # The restart: a new app and router on the same database and the same Slack.
    async with running_slack(slack_fake, runtime) as slack:
        expire_claims(monkeypatch)
        await slack.router.recover()
        assert slack.tickets() == [ticket]  # adopted, not posted again
        assert slack_fake.calls_to("conversations.history")
        assert [c for c in slack.posts(AGENTS) if c.params.get("thread_ts")] == suggestions
        stored = await runtime.store.current_handoff(key)
        assert stored is not None and stored.thread_ref == f"slack:{AGENTS}:{ticket.response['ts']}"

        value = ticket.params["blocks"][-1]["elements"][0]["value"]
        assert value == handoff_value(stored)
        before = slack.adapter.completed
        assert await slack.click("ondo_take", value, AGENT, ticket.response["ts"]) == 200
        await slack.adapter.wait_completed(before + 1)
        assert await slack.state(key) == "human"


async def test_slack_stale_or_forged_buttons_are_refused_privately(
    slack_fake: FakeSlack, sample_runtime_factory: Callable[..., Runtime]
) -> None:
    runtime = sample_runtime_factory(**slack_settings(slack_fake))
    async with running_slack(slack_fake, runtime) as slack:
        await slack.deliver(dm(slack_fake, ASKS["ko"]))
        await slack.adapter.wait_completed(1)
        [ticket] = slack.tickets()
        ts = ticket.response["ts"]
        value = ticket.params["blocks"][-1]["elements"][0]["value"]
        key = await slack.conversation_of(value)
        number = value.partition(".")[0]
        for action, forged in (
            ("ondo_take", number),  # a stale button from before tokens, or a made-up one
            ("ondo_resolve", f"{number}.{'0' * 16}"),
            ("ondo_resolve", key),  # the conversation key the oldest tickets carried
            ("ondo_suggest_send", number),
        ):
            before = slack.adapter.completed
            assert await slack.click(action, forged, AGENT, ts) == 200
            await slack.adapter.wait_completed(before + 1)
            assert slack_fake.calls_to("chat.postEphemeral")[-1].params["text"] == STALE_BUTTON
            assert await slack.state(key) == "waiting_human"
        assert slack_fake.calls_to("chat.update") == []

        # Resolve with the real button: the ticket loses its buttons.
        before = slack.adapter.completed
        assert await slack.click("ondo_resolve", value, AGENT, ts) == 200
        await slack.adapter.wait_completed(before + 1)
        [resolved] = slack_fake.calls_to("chat.update")
        blocks = resolved.params["blocks"]
        blocks = json.loads(blocks) if isinstance(blocks, str) else blocks
        assert [b for b in blocks if b["type"] == "actions"] == []


@pytest.mark.parametrize(("language", "nonce_window"), [("ko", "passed"), ("en", "open")])
async def test_discord_ticket_that_reached_discord_before_a_kill_is_adopted(
    discord_fake: FakeDiscord,
    sample_runtime_factory: Callable[..., Runtime],
    monkeypatch: pytest.MonkeyPatch,
    language: str,
    nonce_window: str,
) -> None:
    fake = discord_fake
    runtime = sample_runtime_factory(**discord_settings(fake))

    def tickets() -> list[dict[str, Any]]:
        return [m for m in fake.messages.values() if m["channel_id"] == str(fake.staff_channel_id)]

    async with running_discord(fake, runtime) as discord:
        asked: dict[str, Any] = {}

        async def deliver() -> None:
            asked.update(await discord.say(ASKS[language]))

        async def key_of() -> str:
            return discord.key(asked)

        handoff = await _handoff_without_desk(discord.router, deliver, key_of)
        await _post_and_die(discord.router, handoff, monkeypatch)
        [ticket] = tickets()
        if nonce_window == "passed":  # Discord keeps a nonce for a few minutes only
            ticket.pop("nonce", None)
        thread_posts = len(discord.posts(int(ticket["id"])))

        # The restart (the adapter keeps no ticket state: its connection stays up here).
        expire_claims(monkeypatch)
        await discord.router.recover()
        assert tickets() == [ticket]  # adopted, not posted again
        assert len(discord.posts(int(ticket["id"]))) == thread_posts  # its thread is complete
        key = discord.key(asked)
        stored = await runtime.store.current_handoff(key)
        assert stored is not None and stored.thread_ref == f"discord:{ticket['id']}"
        await _click_take(discord, int(ticket["id"]), ticket)
        assert await discord.state(key) == "human"


async def _click_take(discord: Discord, message_id: int, ticket: dict[str, Any]) -> None:
    [take, _] = ticket["components"][0]["components"]
    assert take["custom_id"].startswith("ondo:take:")
    callback = await discord.click(message_id, take["custom_id"])
    assert callback.body["type"] == 6


async def test_discord_stale_or_forged_buttons_are_refused_privately(
    discord_fake: FakeDiscord, sample_runtime_factory: Callable[..., Runtime]
) -> None:
    fake = discord_fake
    runtime = sample_runtime_factory(**discord_settings(fake))
    async with running_discord(fake, runtime) as discord:
        asked = await discord.say(ASKS["en"])
        key = discord.key(asked)
        handoff = await runtime.store.current_handoff(key)
        assert handoff is not None and handoff.thread_ref is not None
        ticket = int(handoff.thread_ref.removeprefix("discord:"))
        for forged in (
            f"ondo:take:{handoff.id}",
            f"ondo:resolve:{handoff.id}.{'0' * 16}",
            f"ondo:suggest:{handoff.id}",
            f"ondo:edit:{handoff.id}.{'f' * 16}",
        ):
            callback = await discord.click(ticket, forged)
            assert callback.body["type"] == 4 and callback.body["data"]["flags"] == 64
            assert callback.body["data"]["content"] == STALE_BUTTON
            assert await discord.state(key) == "waiting_human"
        assert discord.edits(ticket) == []
