"""The outbox on both backends: a queued post is taken by one replica, once; a failure is
retried after its pause and given up after the last attempt; a dead replica's claim is taken
over; only rows for the platforms asked for; the courier posts through the router's sender or
desk; forgetting a customer deletes what waits for them."""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace
from typing import cast

import pytest

from bot.conversation.courier import Courier
from bot.conversation.engine import Engine, storable
from bot.conversation.routing import MemoryCustomers, MemoryDesk, Router
from bot.storage.records import DEAD_AFTER_SECONDS, OUTBOX_MAX_ATTEMPTS, Post
from bot.storage.sql.store import SqlStore
from bot.types import Message
from tests.backends import Backend, raw

KEY = "discord:guild/channel/42"
THREAD = "slack:C0AGENTS:1700000000.000100"


@pytest.mark.parametrize("text", ["고객: 환불은 언제 되나요?", "Customer: where is my refund?"])
async def test_a_queued_post_is_taken_once(backend: Backend, text: str) -> None:
    one, two = backend.open(), backend.open()
    await one.replicas.join("one", platforms=("slack",))
    await two.replicas.join("two", platforms=("slack",))
    number = await one.outbox.put("slack", "relay", THREAD, text=text, author=None)
    taken = await asyncio.gather(
        one.outbox.take(["slack"], "one"), two.outbox.take(["slack"], "two")
    )
    [item] = [i for batch in taken for i in batch]
    assert (item.id, item.kind, item.target, item.text, item.attempts) == (
        number,
        "relay",
        THREAD,
        text,
        1,
    )
    await one.outbox.delivered(item.id)
    assert await two.outbox.take(["slack"], "two") == []
    assert await two.outbox.waiting() == 0


async def test_only_the_platforms_asked_for(any_store: SqlStore) -> None:
    await any_store.outbox.put("discord", "send", KEY, text="안녕하세요", ref="m1", language="ko")
    assert await any_store.outbox.take(["slack"], None) == []
    [item] = await any_store.outbox.take(["discord", "slack"], None)
    assert (item.ref, item.language) == ("m1", "ko")
    assert await any_store.outbox.waiting("discord") == 1
    assert await any_store.outbox.waiting("slack") == 0


async def test_a_failure_waits_its_pause_and_the_last_attempt_gives_up(
    any_store: SqlStore,
) -> None:
    outbox = any_store.outbox
    number = await outbox.put("slack", "note", THREAD, text="note")
    [item] = await outbox.take(["slack"], None)
    await outbox.failed(item.id, "ratelimited", retry_in=3600)
    assert await outbox.take(["slack"], None) == []  # not before its pause
    for attempt in range(2, OUTBOX_MAX_ATTEMPTS + 1):
        await outbox.failed(number, "ratelimited", retry_in=0)
        [again] = await outbox.take(["slack"], None)
        assert again.attempts == attempt
    await outbox.failed(number, "ratelimited", retry_in=0)
    assert await outbox.take(["slack"], None) == []  # given up, kept with its error
    [(error,)] = raw(any_store, "SELECT error FROM outbox WHERE id = ?", [number])
    assert error == "ratelimited"


async def test_a_dead_replicas_claim_on_a_post_is_taken_over(backend: Backend) -> None:
    one, two = backend.open(), backend.open()
    await one.replicas.join("one", platforms=("slack",))
    await two.replicas.join("two", platforms=("slack",))
    await one.outbox.put("slack", "note", THREAD, text="note")
    assert len(await one.outbox.take(["slack"], "one")) == 1
    assert await two.outbox.take(["slack"], "two") == []
    then = time.time() - DEAD_AFTER_SECONDS - 1
    raw(two, "UPDATE replicas SET heartbeat_at = ? WHERE id = 'one'", [then])
    [item] = await two.outbox.take(["slack"], "two")
    assert item.attempts == 2


async def test_forgetting_a_customer_deletes_what_waits_for_them(any_store: SqlStore) -> None:
    customer = Message("discord", KEY, "U7", "Where is my order?", time.time(), "m1")
    await any_store.record_inbound(customer)
    await any_store.outbox.put("discord", "send", KEY, text="Your order shipped.")
    await any_store.outbox.put("discord", "send", "discord:other", text="someone else's")
    await any_store.retention.forget_user("U7")
    [(left,)] = raw(any_store, "SELECT target FROM outbox")
    assert left == "discord:other"


async def test_the_courier_posts_through_the_router(any_store: SqlStore) -> None:
    """send -> the customer's sender, relay and note -> the desk; a failed post is retried."""
    engine = cast(Engine, SimpleNamespace(store=any_store))
    router = Router(engine, handoff_channel="slack:C0AGENTS")
    customers, desk = MemoryCustomers("discord"), MemoryDesk("slack")
    router.add_customer_side(customers)
    router.set_desk(desk)
    courier = Courier(router)
    assert courier.platforms == ["discord", "slack"]
    outbox = any_store.outbox
    await outbox.put("discord", "send", KEY, text="상담원 답변입니다", ref="m1", language="ko")
    await outbox.put("slack", "relay", THREAD, text="Customer: 언제 와요?", author="U7")
    await outbox.put("slack", "note", THREAD, text="Taken over.")
    customers.sender_for(KEY).fail_next = 1  # type: ignore[union-attr]
    assert await courier.deliver_due() == 2  # the send failed once
    assert (
        desk.posts == [(THREAD, "Customer: 언제 와요?"), (THREAD, "Taken over.")]
        or len(desk.posts) == 2
    )
    [(due,)] = raw(any_store, "SELECT due_at FROM outbox WHERE kind = 'send'")
    raw(any_store, "UPDATE outbox SET due_at = 0 WHERE kind = 'send'")
    assert due > time.time()
    assert await courier.deliver_due() == 1
    [reply] = customers.senders[KEY].sent
    assert (reply.text, reply.in_reply_to, reply.language) == ("상담원 답변입니다", "m1", "ko")
    assert await outbox.waiting() == 0


async def test_a_router_queues_what_another_replica_holds(backend: Backend) -> None:
    """A Slack replica's agent answer for a Discord customer goes to the outbox when a live
    Discord replica shares the database; with none, it is not queued (nobody would post it)."""
    slack_side, discord_side = backend.open(), backend.open()
    router = Router(cast(Engine, SimpleNamespace(store=slack_side)), handoff_channel=None)
    await slack_side.replicas.join("slack-web", platforms=("slack",))
    assert await router.held_elsewhere("discord") is False  # no Discord replica yet
    await discord_side.replicas.join("discord-gateway", platforms=("discord",))
    expected = backend.name == "postgresql"  # SQLite is one machine's: nothing to hand over
    assert await router.held_elsewhere("discord") is expected
    assert await router.held_elsewhere("slack") is False  # held here, not elsewhere


async def test_a_post_commits_with_its_state_change_or_not_at_all(
    any_store: SqlStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The relay a desk-less replica queues is written in the transaction that marks the
    customer's message handled: a failure after the row is written undoes both."""
    message = Message("discord", KEY, "customer-1", "환불은 언제 되나요?", time.time(), "m1")
    inbound = await any_store.record_inbound(storable(message), "customer")
    relay = Post("slack", "relay", THREAD, text="Customer: 환불은 언제 되나요?")
    write = any_store.outbox.write

    def crash_after_writing(post: Post) -> int:
        write(post)
        raise RuntimeError("the process dies mid-transaction")

    monkeypatch.setattr(any_store.outbox, "write", crash_after_writing)
    with pytest.raises(RuntimeError):
        await any_store.mark_handled(inbound.id, relay)
    assert raw(any_store, "SELECT COUNT(*) FROM outbox") == [(0,)]
    assert raw(any_store, "SELECT handled_at FROM messages WHERE id = ?", [inbound.id]) == [(None,)]
    monkeypatch.setattr(any_store.outbox, "write", write)
    await any_store.mark_handled(inbound.id, relay)
    [(handled,)] = raw(any_store, "SELECT handled_at FROM messages WHERE id = ?", [inbound.id])
    [item] = await any_store.outbox.take(["slack"], None)
    assert handled is not None and (item.kind, item.text) == ("relay", relay.text)


async def test_an_agent_reply_is_queued_with_its_record(any_store: SqlStore) -> None:
    """The queued send carries the recorded message's id as its reference, as a reply posted
    here would (``agent:<id>``)."""
    message = Message("discord", KEY, "customer-1", "상담원 연결해 주세요", time.time(), "m1")
    await any_store.record_inbound(storable(message), "customer")
    number = await any_store.record_outbound(
        KEY,
        "discord",
        "상담원 답변입니다",
        "agent",
        lambda mid: Post("discord", "send", KEY, text="상담원 답변입니다", ref=f"agent:{mid}"),
    )
    [item] = await any_store.outbox.take(["discord"], None)
    assert (item.kind, item.target, item.ref) == ("send", KEY, f"agent:{number}")
