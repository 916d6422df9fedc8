"""A bystander cannot take over someone else's conversation (real Bolt and discord.py vs the
fakes): in a customer's thread, other people are agents or third parties, never the customer.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import pytest_asyncio

from bot.app import Runtime
from bot.conversation.routing import Router
from bot.types import Message
from tests.discord_harness import (
    DM_CHANNEL,
    Discord,
    discord_settings,
    fake_discord,
    running_discord,
)
from tests.fakes.discord_gateway import FakeDiscord
from tests.slack_harness import AGENT, AGENTS, Slack, fake_slack, running_slack, slack_settings

BYSTANDER = "U0BYSTANDER"
ORDER = "ORD-2024-7788"

CASES = [
    (
        f"김민지입니다. 주문번호 {ORDER} 환불은 어떻게 신청하나요?",
        "김민지",
        "상담원 연결해 주세요",
        "저도 같은 문제가 있어요",
        "환불",
    ),
    (
        f"This is Sam Lee, order {ORDER}: how do I request a refund?",
        "Sam Lee",
        "I want to talk to a human",
        "Same problem here",
        "refund",
    ),
]
IDS = ["ko", "en"]


# --- Slack -------------------------------------------------------------------------------


@pytest_asyncio.fixture
async def slack(sample_runtime_factory: Callable[..., Runtime]) -> AsyncIterator[Slack]:
    async with fake_slack() as fake:
        fake.add_user(BYSTANDER)
        runtime = sample_runtime_factory(**slack_settings(fake))
        async with running_slack(fake, runtime) as running:
            yield running


async def say(slack: Slack, event: dict[str, Any]) -> None:
    before = slack.adapter.completed
    assert await slack.deliver(event) == 200
    await slack.adapter.wait_completed(before + 1)


@pytest.mark.parametrize(("ask", "name", "takeover", "aside", "answer"), CASES, ids=IDS)
async def test_slack_bystander_cannot_hand_over_nor_read_or_erase_the_customers_data(
    slack: Slack, ask: str, name: str, takeover: str, aside: str, answer: str
) -> None:
    fake, store = slack.fake, slack.runtime.store
    mention = fake.app_mention_event(ask)  # U0CUSTOMER, in the public #support
    await say(slack, mention)
    assert answer in (await slack.post_no(1)).params["text"].lower()
    key = f"slack:{fake.team_id}:C0SUPPORT:{mention['ts']}"

    # The bystander asks for a person in the customer's thread, with and without a mention.
    await say(slack, fake.message_event(takeover, user=BYSTANDER, thread_ts=mention["ts"]))
    await say(slack, fake.app_mention_event(takeover, user=BYSTANDER, thread_ts=mention["ts"]))
    assert len(slack.posts()) == 1  # not answered
    assert slack.tickets() == [] and await store.open_handoffs() == []
    assert await slack.state(key) == "bot"
    assert await store.conversation_owner(key) == "U0CUSTOMER"

    # privacy export --user <bystander>: only what they wrote.
    exported = await store.retention.export_user(BYSTANDER)
    dumped = json.dumps(exported, ensure_ascii=False)
    assert name not in dumped and ORDER not in dumped
    assert [m["text"] for m in exported["messages_elsewhere"]] == [takeover, takeover]
    assert {m["role"] for m in exported["messages_elsewhere"]} == {"third_party"}
    assert exported["conversations"] == []

    # privacy forget --user <bystander>: their messages go, the customer's stay.
    deleted = await store.retention.forget_user(BYSTANDER)
    assert deleted["messages"] == 2 and deleted["conversations"] == 0
    [conversation] = (await store.retention.export_user("U0CUSTOMER"))["conversations"]
    texts = [m["text"] for m in conversation["messages"]]
    assert texts[0] == ask and takeover not in texts

    # The customer is still the customer: a follow-up is answered.
    await say(slack, fake.message_event(ask, thread_ts=mention["ts"]))
    assert len(slack.posts()) == 2


@pytest.mark.parametrize(("ask", "name", "takeover", "aside", "answer"), CASES, ids=IDS)
async def test_slack_handoff_relays_a_third_party_as_such_and_an_agent_takes_over(
    slack: Slack, ask: str, name: str, takeover: str, aside: str, answer: str
) -> None:
    fake, store = slack.fake, slack.runtime.store
    mention = fake.app_mention_event(takeover)
    await say(slack, mention)
    [ticket] = slack.tickets()
    key = f"slack:{fake.team_id}:C0SUPPORT:{mention['ts']}"
    assert await slack.state(key) == "waiting_human"
    to_customer = len(slack.posts("C0SUPPORT"))

    await say(slack, fake.message_event(aside, user=BYSTANDER, thread_ts=mention["ts"]))
    relayed = slack.posts(AGENTS)[-1]
    assert relayed.params["thread_ts"] == ticket.response["ts"]
    assert relayed.params["text"] == f"Third party (not the customer) <@{BYSTANDER}>: {aside}"
    assert await slack.state(key) == "waiting_human"

    # A member of the agents' channel answers right in the customer's thread: an agent.
    await say(slack, fake.message_event(ask, user=AGENT, thread_ts=mention["ts"]))
    assert await slack.state(key) == "human"
    assert slack.posts(AGENTS)[-1].params["text"] == (
        f"<@{AGENT}> took this over in the customer's thread."
    )
    [taken] = [c for c in fake.calls_to("chat.update") if c.params["ts"] == ticket.response["ts"]]
    assert taken.params["text"] == f"Taken by <@{AGENT}>"
    assert len(slack.posts("C0SUPPORT")) == to_customer  # the bot said nothing to either
    rows = store._db.execute(
        "SELECT user, role FROM messages WHERE conversation_key = ? AND direction = 'in' "
        "ORDER BY id",
        [key],
    ).fetchall()
    assert [tuple(r) for r in rows] == [
        ("U0CUSTOMER", "customer"),
        (BYSTANDER, "third_party"),
        (AGENT, "agent"),
    ]


# --- Discord -----------------------------------------------------------------------------

BYSTANDER_ID = 1_190_000_000_000_000_250
HELPER_ID = 1_190_000_000_000_000_251  # has the staff role


@pytest_asyncio.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with fake_discord() as server:
        server.add_member(BYSTANDER_ID, "passer.by", global_name="지나가는 사람")
        server.add_member(HELPER_ID, "helper", roles=[server.staff_role_id])
        yield server


@pytest_asyncio.fixture
async def discord(
    fake: FakeDiscord, sample_runtime_factory: Callable[..., Runtime]
) -> AsyncIterator[Discord]:
    runtime = sample_runtime_factory(**discord_settings(fake, staff_role=fake.staff_role_id))
    async with running_discord(fake, runtime) as running:
        yield running


@pytest.mark.parametrize(("ask", "name", "takeover", "aside", "answer"), CASES, ids=IDS)
async def test_discord_bystander_and_staff_in_a_customers_thread(
    discord: Discord, ask: str, name: str, takeover: str, aside: str, answer: str
) -> None:
    fake, store = discord.fake, discord.runtime.store
    asked = await discord.say(ask)
    thread, key = int(asked["id"]), discord.key(asked)
    assert answer in discord.texts(thread)[-1].lower()
    bystander = fake.users[BYSTANDER_ID]

    await discord.say(takeover, channel=thread, author=bystander)
    assert len(discord.posts(thread)) == 1  # not answered
    assert await discord.state(key) == "bot" and await store.open_handoffs() == []

    # Staff writing in the customer's thread are agents: not answered, not the customer.
    await discord.say(takeover, channel=thread, author=fake.users[HELPER_ID])
    assert len(discord.posts(thread)) == 1 and await discord.state(key) == "bot"

    dumped = json.dumps(await store.retention.export_user(str(BYSTANDER_ID)), ensure_ascii=False)
    assert name not in dumped and ORDER not in dumped and takeover in dumped
    assert (await store.retention.forget_user(str(BYSTANDER_ID)))["messages"] == 1
    [conversation] = (await store.retention.export_user(str(fake.customer_id)))["conversations"]
    assert conversation["messages"][0]["text"] == ask
    roles = store._db.execute(
        "SELECT user, role FROM messages WHERE conversation_key = ? AND direction = 'in'", [key]
    ).fetchall()
    assert [tuple(r) for r in roles] == [
        (str(fake.customer_id), "customer"),
        (str(HELPER_ID), "agent"),
    ]

    # The customer asks for a person; the bystander's words reach the ticket as theirs.
    await discord.say(takeover, channel=thread)
    handoff = await store.current_handoff(key)
    assert handoff is not None and handoff.thread_ref is not None
    ticket = int(handoff.thread_ref.removeprefix("discord:"))
    await discord.say(aside, channel=thread, author=bystander)
    assert discord.texts(ticket)[-1] == f"Third party (not the customer) <@{BYSTANDER_ID}>: {aside}"
    assert await discord.state(key) == "waiting_human"
    # A staff member answering in the customer's thread takes it over.
    await discord.say(aside, channel=thread, author=fake.users[HELPER_ID])
    assert await discord.state(key) == "human"
    assert discord.texts(ticket)[-1] == f"<@{HELPER_ID}> took this over in the customer's thread."
    [taken] = discord.edits(ticket)
    assert f"Taken by <@{HELPER_ID}>" in taken.body["content"]
    discord.assert_nobody_pinged()


async def test_discord_roles_come_from_the_staff_role(
    discord: Discord, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[Message] = []
    original = Router.customer_message

    async def spy(self: Router, message: Message, *args: Any, **kwargs: Any) -> Any:
        seen.append(message)
        return await original(self, message, *args, **kwargs)

    monkeypatch.setattr(Router, "customer_message", spy)
    fake = discord.fake
    await discord.say("휴가 규정이 어떻게 되나요?", author=fake.users[HELPER_ID])  # role holder
    await discord.say("How do I request a refund?", author=fake.users[BYSTANDER_ID])  # no role
    await discord.dm("환불은 어떻게 하나요?")  # the customer's DM
    # A role holder writing by DM: Discord sends no member, so a customer's (fail closed).
    data = fake.message_create(DM_CHANNEL + 1, "How do I request a refund?", author=fake.staff)
    await discord.deliver(data)
    assert [(m.user, m.role) for m in seen] == [
        (str(HELPER_ID), "staff"),
        (str(BYSTANDER_ID), "customer"),
        (str(fake.customer_id), "customer"),
        (str(fake.staff_id), "customer"),
    ]


async def test_discord_without_the_staff_role_setting_the_desk_permissions_decide(
    fake: FakeDiscord, sample_runtime_factory: Callable[..., Runtime]
) -> None:
    runtime = sample_runtime_factory(**discord_settings(fake))
    async with running_discord(fake, runtime) as discord:
        asked = await discord.say("How do I request a refund?")
        thread = int(asked["id"])
        # The staff role grants Manage Messages / Threads in #staff: an agent.
        await discord.say("I can help", channel=thread, author=fake.users[HELPER_ID])
        await discord.say("me too", channel=thread, author=fake.users[BYSTANDER_ID])
        rows = runtime.store._db.execute(
            "SELECT user, role FROM messages WHERE direction = 'in' ORDER BY id"
        ).fetchall()
        assert [tuple(r)[1] for r in rows] == ["customer", "agent", "third_party"]
        assert len(discord.posts(thread)) == 1
