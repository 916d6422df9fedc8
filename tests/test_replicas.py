"""Replicas sharing one database, on both backends: a dead replica's claims are free at once,
a clean leave frees them too, a live one's are not; one conversation is handled by one task
(and one replica) at a time, in order."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from bot.storage.sql.replicas import DEAD_AFTER_SECONDS
from bot.storage.sql.store import SqlStore
from bot.types import Message
from knowledge.entries import Entry
from tests.backends import Backend, backend_for, pg_admin, raw

KEY = "slack:C1/1700000000.000100"


def msg(message_id: str, text: str) -> Message:
    return Message("slack", KEY, "U1", text, time.time(), message_id)


def silence(store: SqlStore, replica: str, seconds: float) -> None:
    """Make ``replica``'s last heartbeat ``seconds`` old (as if it stopped beating then)."""
    raw(
        store, "UPDATE replicas SET heartbeat_at = ? WHERE id = ?", [time.time() - seconds, replica]
    )


async def pending(store: SqlStore) -> list[int]:
    found = await store.unfinished_inbound(since=0, max_attempts=5, platforms=["slack"])
    return [p.id for p in found]


@pytest.mark.parametrize("text", ["환불은 언제 되나요?", "When will my refund arrive?"])
async def test_a_dead_replicas_claim_is_taken_over_at_once(backend: Backend, text: str) -> None:
    one, two = backend.open(), backend.open()
    await one.replicas.join("one", platforms=("slack",))
    await two.replicas.join("two", platforms=("slack",))
    first = await one.record_inbound(msg("m1", text))
    assert first.process
    # While "one" beats, its claim holds (the lease has two minutes to go).
    assert await pending(two) == []
    assert (await two.record_inbound(msg("m1", text))).process is False
    silence(two, "one", DEAD_AFTER_SECONDS + 1)
    assert await pending(two) == [first.id]
    again = await two.record_inbound(msg("m1", text))
    assert (again.id, again.duplicate, again.process) == (first.id, True, True)
    # Now "two" holds it: a third delivery is not processed.
    assert (await one.record_inbound(msg("m1", text))).process is False
    [(holder,)] = raw(two, "SELECT claimed_by FROM messages WHERE id = ?", [first.id])
    assert holder == "two"


async def test_a_clean_leave_frees_the_claims_and_the_row(backend: Backend) -> None:
    one, two = backend.open(), backend.open()
    await one.replicas.join("one", platforms=("slack", "discord"), shards="0/2")
    await two.replicas.join("two", platforms=("discord",))
    live = await two.replicas.live()
    assert [(r.id, r.platforms, r.shards) for r in live] == [
        ("one", ("slack", "discord"), "0/2"),
        ("two", ("discord",), ""),
    ]
    first = await one.record_inbound(msg("m1", "Where is my parcel?"))
    await one.replicas.leave()
    assert one.replicas.current is None
    assert [r.id for r in await two.replicas.live()] == ["two"]
    assert await pending(two) == [first.id]


async def test_a_heartbeat_keeps_a_replica_alive(backend: Backend) -> None:
    one, two = backend.open(), backend.open()
    await one.replicas.join("one", platforms=("slack",))
    await two.replicas.join("two", platforms=("slack",))
    await one.record_inbound(msg("m1", "배송은 얼마나 걸려요?"))
    silence(one, "one", DEAD_AFTER_SECONDS + 1)
    await one.replicas.heartbeat(shards="1/2")
    assert await pending(two) == []
    [(shards,)] = raw(two, "SELECT shards FROM replicas WHERE id = 'one'")
    assert shards == "1/2"


async def test_claims_of_a_process_that_never_joined_wait_for_the_lease(backend: Backend) -> None:
    """`ondo chat` and other commands are no replicas: their claims are freed by the lease only,
    so a serving replica never takes over a message they are answering."""
    cli, server = backend.open(), backend.open()
    await server.replicas.join("server", platforms=("slack",))
    await cli.record_inbound(msg("m1", "Can I change my address?"))
    assert await pending(server) == []


async def test_two_replicas_racing_for_a_dead_claim_take_it_once(backend: Backend) -> None:
    one, two, three = backend.open(), backend.open(), backend.open()
    for store, name in ((one, "one"), (two, "two"), (three, "three")):
        await store.replicas.join(name, platforms=("slack",))
    await one.record_inbound(msg("m1", "주문 취소해 주세요"))
    silence(two, "one", DEAD_AFTER_SECONDS + 1)
    results = await asyncio.gather(
        *(store.record_inbound(msg("m1", "주문 취소해 주세요")) for store in (two, three) * 3)
    )
    assert sum(r.process for r in results) == 1


async def test_a_ticket_claim_of_a_dead_replica_is_free(backend: Backend) -> None:
    one, two = backend.open(), backend.open()
    await one.replicas.join("one", platforms=("slack",))
    await two.replicas.join("two", platforms=("slack",))
    await one.record_inbound(msg("m1", "I want to talk to a person"))
    handoff = await one.open_handoff(
        KEY, reason="asked", summary="s", intent="other", emotion="neutral", language="en"
    )
    assert await two.claim_ticket(handoff) is False
    silence(two, "one", DEAD_AFTER_SECONDS + 1)
    assert await two.claim_ticket(handoff) is True
    assert await one.claim_ticket(handoff) is False


async def test_one_conversation_is_handled_by_one_task_at_a_time_in_order(
    backend: Backend,
) -> None:
    one = backend.open()
    # Two replicas on PostgreSQL; SQLite holds a conversation within its one serving process.
    two = backend.open() if backend.name == "postgresql" else one
    order: list[str] = []
    inside = 0

    async def handle(store: SqlStore, name: str, started: asyncio.Event | None) -> None:
        nonlocal inside
        async with store.conversation_lock(KEY):
            if started is not None:
                started.set()
            inside += 1
            assert inside == 1
            order.append(f"{name} in")
            await asyncio.sleep(0)  # let the others try
            await asyncio.sleep(0)
            order.append(f"{name} out")
            inside -= 1

    started = asyncio.Event()
    first = asyncio.create_task(handle(one, "a", started))
    await started.wait()
    rest = [asyncio.create_task(handle(two if i % 2 else one, n, None)) for i, n in enumerate("bc")]
    await asyncio.gather(first, *rest)
    assert order[:2] == ["a in", "a out"]
    assert sorted(order) == sorted(f"{n} {w}" for n in "abc" for w in ("in", "out"))
    assert all(order[i].split()[0] == order[i + 1].split()[0] for i in range(0, 6, 2))


async def test_the_conversation_lock_re_enters_within_one_task(any_store: SqlStore) -> None:
    async with (
        any_store.conversation_lock(KEY),
        any_store.conversation_lock(KEY),  # the ticket's waiting messages, in the same task
        any_store.conversation_lock("discord:other"),
    ):
        pass
    # Released: another task takes it at once.
    await asyncio.wait_for(_take(any_store), 5)


async def _take(store: SqlStore) -> None:
    async with store.conversation_lock(KEY):
        pass


async def test_another_replica_waits_on_the_database_lock(tmp_path: Path) -> None:
    with backend_for("postgresql", tmp_path) as backend:
        await _second_replica_waits(backend.open(), backend.open())


async def test_a_task_started_while_holding_does_not_hold(any_store: SqlStore) -> None:
    entered = asyncio.Event()

    async def child() -> None:
        async with any_store.conversation_lock(KEY):
            entered.set()

    async with any_store.conversation_lock(KEY):
        task = asyncio.create_task(child())
        for _ in range(20):
            await asyncio.sleep(0)
        assert not entered.is_set()
    await asyncio.wait_for(task, 10)
    assert entered.is_set()


async def _second_replica_waits(one: SqlStore, two: SqlStore) -> None:
    entered = asyncio.Event()

    async def second() -> None:
        async with two.conversation_lock(KEY):
            entered.set()

    async with one.conversation_lock(KEY):
        waiter = asyncio.create_task(second())
        for _ in range(500):  # until PostgreSQL shows the second replica waiting for the lock
            waiting = raw(
                one, "SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
            )
            if waiting[0][0] >= 1:
                break
            await asyncio.sleep(0.01)
        else:
            pytest.fail("the second replica never waited for the lock")
        assert not entered.is_set()
    await asyncio.wait_for(waiter, 10)
    assert entered.is_set()


async def test_a_named_lock_has_one_holder_and_a_waiter_takes_over(backend: Backend) -> None:
    """What keeps a Discord shard from running twice: one holder; another asking without
    waiting is refused; a waiter gets it once the holder lets go (or dies with its session)."""
    one = backend.open()
    two = backend.open() if backend.name == "postgresql" else one
    held = await one.exclusive("discord-shard-0-of-2", wait=False)
    assert held is not None
    async with held:
        assert await two.exclusive("discord-shard-0-of-2", wait=False) is None
        other = await two.exclusive("discord-shard-1-of-2", wait=False)
        assert other is not None
        async with other:
            pass
        waiter = asyncio.create_task(two.exclusive("discord-shard-0-of-2", wait=True))
        for _ in range(20):
            await asyncio.sleep(0)
        assert not waiter.done()
    taken = await asyncio.wait_for(waiter, 10)
    assert taken is not None
    async with taken:
        assert await one.exclusive("discord-shard-0-of-2", wait=False) is None


def test_discord_shards_setting() -> None:
    from bot.settings import Settings, SettingsError

    def shards(value: str) -> object:
        return Settings.from_env({"ONDO_DISCORD_SHARDS": value}, dotenv=None).discord_shards

    assert shards("0,1/4") == ((0, 1), 4)
    assert shards("/3") == ((0, 1, 2), 3)
    assert shards("") is None
    for bad in ("4/4", "1", "a/2", "0/0"):
        with pytest.raises(SettingsError, match="ONDO_DISCORD_SHARDS"):
            shards(bad)


async def test_a_knowledge_change_notifies_every_replica(tmp_path: Path) -> None:
    """An import (or an approval) in one replica wakes the others' knowledge watchers at once,
    through PostgreSQL's notifications; SQLite offers none (its watcher polls)."""
    with backend_for("sqlite", tmp_path) as local:
        assert local.open().knowledge_changes() is None
    with backend_for("postgresql", tmp_path) as backend:
        one, two = backend.open(), backend.open()
        changes = two.knowledge_changes()
        assert changes is not None
        heard = asyncio.create_task(anext(changes))
        for _ in range(200):  # until the listener's LISTEN is in place
            listening = raw(
                one,
                "SELECT COUNT(*) FROM pg_stat_activity WHERE application_name = 'ondo-listen'",
            )
            if listening[0][0]:
                break
            await asyncio.sleep(0.02)
        entry = Entry(
            id="gift-wrap",
            category="orders",
            questions={"ko": ("선물 포장 되나요?",), "en": ("Do you gift wrap?",)},
            answer={"ko": "네, 결제 단계에서 선택하세요.", "en": "Yes, choose it at checkout."},
        )
        assert await one.import_entries([entry], "faq.yaml") == (1, 0)
        assert await asyncio.wait_for(heard, 10) == "import"
        assert await two.writable() is True


async def test_without_waiting_the_lock_says_when_another_holds_it(backend: Backend) -> None:
    one = backend.open()
    two = backend.open() if backend.name == "postgresql" else one

    async def try_hold(store: SqlStore, key: str) -> bool:
        async with store.conversation_lock(key, wait=False) as held:
            return held

    async with one.conversation_lock(KEY) as held:
        assert held
        # Another task (of another replica, on PostgreSQL) is told at once, not queued.
        assert not await asyncio.create_task(try_hold(two, KEY))
        assert await asyncio.create_task(try_hold(two, "slack:T1:D2:2.0"))
    assert await asyncio.create_task(try_hold(two, KEY))


async def test_a_connection_the_server_dropped_is_replaced_not_failed(tmp_path: Path) -> None:
    """After a PostgreSQL restart or failover the pool's connections are dead; the next unit
    of work and the next conversation lock get fresh ones instead of an error."""
    with backend_for("postgresql", tmp_path) as backend:
        store = backend.open()
        async with store.conversation_lock(KEY):
            pass
        assert await store.conversation_owner(KEY) is None
        database: Any = store._database
        pools = [database.pool, await database._lock_pool()]
        # Every idle connection of both pools (the pools' own deque: no public view of it)
        # and the shared lock session's.
        pids = [conn.info.backend_pid for pool in pools for conn in pool._pool]
        pids += [s._conn.info.backend_pid for s in database._lock_sessions.values()]
        assert len(pids) >= 3
        with pg_admin() as admin:
            for pid in pids:
                admin.execute("SELECT pg_terminate_backend(%s)", [pid])
        assert await store.conversation_owner(KEY) is None
        async with store.conversation_lock(KEY) as held:
            assert held


async def test_many_conversations_held_at_once_cost_one_connection(tmp_path: Path) -> None:
    """A replica handling a hundred customers side by side must not take a hundred of the
    server's connections (PostgreSQL allows 100 by default, for every replica together)."""
    with backend_for("postgresql", tmp_path) as backend:
        store = backend.open()
        keys = [f"slack:T1:D{i}:1.0" for i in range(20)]
        entered = 0
        inside, release = asyncio.Event(), asyncio.Event()

        async def hold(key: str) -> None:
            nonlocal entered
            async with store.conversation_lock(key) as held:
                assert held
                entered += 1
                if entered == len(keys):
                    inside.set()
                await release.wait()

        tasks = [asyncio.create_task(hold(key)) for key in keys]
        await inside.wait()
        database: Any = store._database
        [session] = database._lock_sessions.values()
        pid = session._conn.info.backend_pid
        with pg_admin() as admin:
            row = admin.execute(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                "AND pid = %s",
                [pid],
            ).fetchone()
        assert row == (len(keys),)
        release.set()
        await asyncio.gather(*tasks)
        with pg_admin() as admin:
            row = admin.execute(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = %s", [pid]
            ).fetchone()
        assert row == (0,)
