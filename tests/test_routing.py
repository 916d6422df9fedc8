"""The router across platforms, with the deterministic memory desk and customers."""

from __future__ import annotations

import asyncio
import time

import pytest

import bot.storage.sql.store
from bot.app import Runtime
from bot.conversation.engine import HandoffTicket
from bot.conversation.routing import (
    RECOVERY_MAX_ATTEMPTS,
    MemoryCustomers,
    MemoryDesk,
    MemorySender,
    Router,
)
from bot.types import Message, Reply

SLACK_KEY = "slack:T1:D1:1.000001"
DISCORD_KEY = "discord:100:555"


def message(key: str, text: str, message_id: str) -> Message:
    return Message(key.partition(":")[0], key, "customer-1", text, time.time(), message_id)


Sides = dict[str, MemoryCustomers]


def build(runtime: Runtime, desk_platform: str) -> tuple[Router, MemoryDesk, Sides]:
    router = Router(runtime.engine, handoff_channel=f"{desk_platform}:AGENTS")
    customers = {p: MemoryCustomers(p) for p in ("slack", "discord")}
    for side in customers.values():
        router.add_customer_side(side)
    desk = MemoryDesk(desk_platform)
    router.set_desk(desk)
    return router, desk, customers


def sent(customers: Sides, key: str) -> list[str]:
    sender = customers[key.partition(":")[0]].senders.get(key)
    return [r.text for r in sender.sent] if sender else []


@pytest.mark.parametrize(
    ("key", "desk_platform", "ask", "agent_text", "notice"),
    [
        (DISCORD_KEY, "slack", "상담원 연결해 주세요", "안녕하세요, 상담원입니다.", "상담원"),
        (SLACK_KEY, "discord", "I want to talk to a human agent", "Hi, Jordan here.", "agent"),
    ],
)
async def test_a_customer_on_one_platform_is_served_by_agents_on_the_other(
    runtime: Runtime, key: str, desk_platform: str, ask: str, agent_text: str, notice: str
) -> None:
    router, desk, customers = build(runtime, desk_platform)
    outcome = await router.customer_message(message(key, ask, "m1"))
    assert outcome.handoff is not None
    assert notice in sent(customers, key)[0]
    [ticket] = desk.tickets
    ref = f"{desk_platform}:ticket-{ticket.id}"
    assert (await runtime.store.current_handoff(key)).thread_ref == ref  # type: ignore[union-attr]

    result = await router.agent_message(
        platform=desk_platform, event_id="a1", thread_ref=ref, agent="agent-1", text=agent_text
    )
    assert result == "relayed" and sent(customers, key)[-1] == agent_text
    # A redelivered agent event is not relayed twice.
    again = await router.agent_message(
        platform=desk_platform, event_id="a1", thread_ref=ref, agent="agent-1", text=agent_text
    )
    assert again == "duplicate" and len(sent(customers, key)) == 2

    # The customer's next message goes to the agents, redacted, and the bot stays quiet.
    relayed = await router.customer_message(message(key, "제 번호 010-1234-5678", "m2"))
    assert relayed.action == "relayed" and len(sent(customers, key)) == 2
    assert desk.posts[-1][0] == ref and "010-1234-5678" not in desk.posts[-1][1]
    assert desk.posts[-1][1].startswith("Customer:")  # no cross-platform mention markup

    assert await router.resolve(key, "agent-1") is True
    assert len(sent(customers, key)) == 3  # told it is back with the bot
    assert await router.resolve(key, "agent-1") is False
    answer = await router.customer_message(message(key, "How do I request a refund?", "m3"))
    assert answer.action == "replied" and "refund" in sent(customers, key)[-1].lower()


async def test_agents_are_told_when_a_reply_cannot_reach_the_customer(runtime: Runtime) -> None:
    router, desk, customers = build(runtime, "slack")
    await router.customer_message(message(DISCORD_KEY, "I want a human agent", "m1"))
    ref = f"slack:ticket-{desk.tickets[0].id}"
    sender = customers["discord"].senders[DISCORD_KEY]
    sender.fail_next = 1
    result = await router.agent_message(
        platform="slack", event_id="a1", thread_ref=ref, agent="agent-1", text="Hello"
    )
    assert result == "undelivered"
    assert desk.posts[-1] == (ref, desk.posts[-1][1]) and "Could not deliver" in desk.posts[-1][1]

    # Without the customer's platform in this process, the agent hears why.
    del router.customers["discord"]
    result = await router.agent_message(
        platform="slack", event_id="a2", thread_ref=ref, agent="agent-1", text="Hello?"
    )
    assert result == "undelivered" and "not running" in desk.posts[-1][1]


async def test_agent_messages_outside_tickets_or_after_resolve(runtime: Runtime) -> None:
    router, desk, _ = build(runtime, "slack")
    assert (
        await router.agent_message(
            platform="slack", event_id="x", thread_ref="slack:nowhere", agent="a", text="hi"
        )
        == "not_a_ticket"
    )
    await router.customer_message(message(SLACK_KEY, "상담원 바꿔주세요", "m1"))
    ref = f"slack:ticket-{desk.tickets[0].id}"
    await router.resolve(SLACK_KEY, "agent-1")
    result = await router.agent_message(
        platform="slack", event_id="late", thread_ref=ref, agent="agent-1", text="one more thing"
    )
    assert result == "refused" and "nothing was sent" in desk.posts[-1][1]


async def test_recovery_answers_a_failed_post_once(runtime: Runtime) -> None:
    router, _, customers = build(runtime, "slack")
    sender = MemorySender(fail_next=1)
    with pytest.raises(ConnectionError):
        await router.customer_message(message(SLACK_KEY, "환불은 어떻게 하나요?", "m1"), sender)
    assert await router.recover() == 1
    assert len(sent(customers, SLACK_KEY)) == 1 and "환불" in sent(customers, SLACK_KEY)[0]
    assert await router.recover() == 0
    assert (await router.customer_message(message(SLACK_KEY, "x", "m1"))).action == "duplicate"


async def test_recovery_gives_up_on_a_message_that_always_fails(
    runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    router, _, customers = build(runtime, "slack")
    with pytest.raises(ConnectionError):
        await router.customer_message(
            message(SLACK_KEY, "Where is my order?", "m1"), MemorySender(fail_next=1)
        )
    always_down = customers["slack"].senders.setdefault(SLACK_KEY, MemorySender())
    always_down.fail_next = 100
    with caplog.at_level("WARNING", logger="ondo.routing"):
        for _ in range(RECOVERY_MAX_ATTEMPTS + 2):
            assert await router.recover() == 0
    failures = [r for r in caplog.records if "retry" in r.getMessage()]
    assert len(failures) == RECOVERY_MAX_ATTEMPTS
    assert "giving up" in failures[-1].getMessage() and failures[-1].levelname == "ERROR"
    assert "Where is my order" not in caplog.text  # no customer text in logs


async def test_recovery_reposts_a_ticket_the_desk_refused_but_not_old_cli_handoffs(
    runtime: Runtime,
) -> None:
    router, desk, customers = build(runtime, "discord")
    # A handoff from `ondo ask` (no desk there) is not the desk's business later.
    await runtime.engine.handle(message("cli:local:1", "상담원 연결해 주세요", "c1"))
    desk.fail_next = 1
    await router.customer_message(message(SLACK_KEY, "I want a human agent", "m1"))
    assert desk.tickets == [] and len(sent(customers, SLACK_KEY)) == 1
    await router.recover()
    [ticket] = desk.tickets
    assert ticket.conversation_key == SLACK_KEY
    await router.recover()
    assert len(desk.tickets) == 1


async def test_no_desk_running_is_logged_not_fatal(
    runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    router = Router(runtime.engine, handoff_channel="discord:123")
    customers = MemoryCustomers("slack")
    router.add_customer_side(customers)
    with caplog.at_level("WARNING", logger="ondo.routing"):
        outcome = await router.customer_message(message(SLACK_KEY, "사람이랑 얘기할래요", "m1"))
    assert outcome.handoff is not None and len(customers.senders[SLACK_KEY].sent) == 1
    assert any("no agents' desk" in r.getMessage() for r in caplog.records)
    with pytest.raises(ValueError, match="discord"):
        router.set_desk(MemoryDesk("slack"))


class CrashingSender(MemorySender):
    """A sender whose post is cut off by the process dying (nothing caught, nothing undone)."""

    async def send(self, reply: Reply) -> str | None:
        raise asyncio.CancelledError


async def test_a_reply_recorded_but_never_posted_is_posted_after_a_restart_once(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    router, _, customers = build(runtime, "slack")
    with pytest.raises(asyncio.CancelledError):
        await router.customer_message(
            message(DISCORD_KEY, "배송 조회는 어디서 하나요?", "m1"), CrashingSender()
        )
    # Within the claim's lease the message is still someone's: nothing happens.
    assert await router.recover() == 0 and sent(customers, DISCORD_KEY) == []
    monkeypatch.setattr(bot.storage.sql.store, "CLAIM_LEASE_SECONDS", -1.0)
    assert await router.recover() == 1
    [text] = sent(customers, DISCORD_KEY)
    [stored] = [m for m in await runtime.store.history(DISCORD_KEY) if m.role == "bot"]
    assert text == stored.text and "배송" in text  # the recorded reply, not a second one
    assert await router.recover() == 0 and len(sent(customers, DISCORD_KEY)) == 1


class SlowDesk(MemoryDesk):
    """A desk whose ticket post waits until the test lets it through."""

    def __init__(self, platform: str) -> None:
        super().__init__(platform)
        self.posting = asyncio.Event()
        self.proceed = asyncio.Event()

    async def open_ticket(self, ticket: HandoffTicket) -> str | None:
        self.posting.set()
        await self.proceed.wait()
        return await super().open_ticket(ticket)


@pytest.mark.parametrize(
    ("ask", "follow_up"),
    [
        ("상담원 연결해 주세요", "주문번호는 A-20231105-0042 입니다"),
        ("I want to talk to a human agent", "My order number is A-20231105-0042"),
    ],
)
async def test_messages_sent_while_the_ticket_is_being_posted_reach_the_agents_once(
    runtime: Runtime, ask: str, follow_up: str
) -> None:
    router = Router(runtime.engine, handoff_channel="slack:AGENTS")
    customers = MemoryCustomers("discord")
    router.add_customer_side(customers)
    desk = SlowDesk("slack")
    router.set_desk(desk)
    handoff = asyncio.create_task(router.customer_message(message(DISCORD_KEY, ask, "m1")))
    await asyncio.wait_for(desk.posting.wait(), 10)
    relayed = await router.customer_message(message(DISCORD_KEY, follow_up, "m2"))
    assert relayed.action == "relayed" and desk.posts == []
    # A recovery sweep meanwhile neither posts the ticket again nor loses the message.
    await router.recover()
    desk.proceed.set()
    await asyncio.wait_for(handoff, 10)
    assert len(desk.tickets) == 1
    assert [text for _, text in desk.posts] == ["Customer: " + follow_up]
    await router.recover()
    assert len(desk.tickets) == 1 and len(desk.posts) == 1


async def test_a_relay_the_desk_refused_is_posted_by_the_next_sweep(runtime: Runtime) -> None:
    router, desk, _ = build(runtime, "slack")
    await router.customer_message(message(DISCORD_KEY, "사람이랑 얘기할래요", "m1"))
    assert len(desk.tickets) == 1

    async def refuse(thread_ref: str, text: str) -> None:
        raise ConnectionError("desk unavailable")

    post = desk.post_in_thread
    desk.post_in_thread = refuse  # type: ignore[method-assign]
    await router.customer_message(message(DISCORD_KEY, "아직 기다리고 있어요", "m2"))
    assert desk.posts == []
    desk.post_in_thread = post  # type: ignore[method-assign]
    await router.recover()
    assert [text for _, text in desk.posts] == ["Customer: 아직 기다리고 있어요"]
    await router.recover()
    assert len(desk.posts) == 1


async def test_a_message_overtaken_by_a_take_over_goes_to_the_agent(runtime: Runtime) -> None:
    router, desk, customers = build(runtime, "slack")
    await router.customer_message(message(DISCORD_KEY, "I want to talk to a person", "m1"))
    store = runtime.store
    original = store.annotate_inbound

    async def taken_over_meanwhile(inbound_id: int, **fields: object) -> None:
        # An agent takes the conversation while the bot is still working on the message.
        await store.set_state(DISCORD_KEY, "human")
        await original(inbound_id, **fields)  # type: ignore[arg-type]

    await store.set_state(DISCORD_KEY, "bot")  # as the bot saw it when the message came in
    store.annotate_inbound = taken_over_meanwhile  # type: ignore[method-assign]
    outcome = await router.customer_message(message(DISCORD_KEY, "Where is my parcel?", "m2"))
    store.annotate_inbound = original  # type: ignore[method-assign]
    assert outcome.action == "relayed"
    assert len(sent(customers, DISCORD_KEY)) == 1  # only the first handoff notice
    assert desk.posts[-1][1] == "Customer: Where is my parcel?"
    assert await store.unfinished_inbound(since=0, max_attempts=9, platforms=["discord"]) == []


class MeetingSender(MemorySender):
    """A sender whose post waits until ``barrier``'s every party is posting too: a sweep that
    handled conversations one after another would never get past the first."""

    def __init__(self, barrier: asyncio.Barrier) -> None:
        super().__init__()
        self.barrier = barrier

    async def send(self, reply: Reply) -> str | None:
        await self.barrier.wait()
        return await super().send(reply)


async def test_a_sweep_answers_conversations_side_by_side(runtime: Runtime) -> None:
    router, _, customers = build(runtime, "slack")
    keys = [f"slack:T1:D{i}:1.00000{i}" for i in range(3)]
    for i, key in enumerate(keys):
        with pytest.raises(ConnectionError):
            text = "환불은 어떻게 하나요?" if i % 2 else "How do I get a refund?"
            await router.customer_message(message(key, text, f"m{i}"), MemorySender(fail_next=1))
    barrier = asyncio.Barrier(len(keys))
    for key in keys:
        customers["slack"].senders[key] = MeetingSender(barrier)
    # The guard only turns a hang into a failure; side by side, the sweep never waits.
    assert await asyncio.wait_for(router.recover(), 60) == len(keys)
    assert all(len(sent(customers, key)) == 1 for key in keys)


async def test_a_sweep_skips_a_conversation_being_handled_and_answers_the_rest(
    runtime: Runtime,
) -> None:
    router, _, customers = build(runtime, "slack")
    busy, free = SLACK_KEY, "slack:T1:D9:9.000009"
    asks = ((busy, "배송 조회는 어디서 하나요?", "b1"), (free, "Where is my order?", "f1"))
    for key, text, mid in asks:
        with pytest.raises(ConnectionError):
            await router.customer_message(message(key, text, mid), MemorySender(fail_next=1))
    holding, release = asyncio.Event(), asyncio.Event()

    async def handler_elsewhere() -> None:
        async with runtime.store.conversation_lock(busy):
            holding.set()
            await release.wait()

    task = asyncio.create_task(handler_elsewhere())
    await holding.wait()
    # Not queued behind the busy conversation: the other customer is answered now.
    assert await asyncio.wait_for(router.recover(), 60) == 1
    assert sent(customers, busy) == [] and len(sent(customers, free)) == 1
    release.set()
    await task
    assert await router.recover() == 1  # the next sweep answers the one it skipped
    assert len(sent(customers, busy)) == 1 and "배송" in sent(customers, busy)[0]
