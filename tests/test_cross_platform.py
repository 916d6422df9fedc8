"""One process, two platforms: customers on one are served by agents on the other.

The real slack-bolt app and the real discord.py client, each against its fake platform on
loopback, share one router and one database — as ``ondo serve all`` runs them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest
import pytest_asyncio

from bot.app import Runtime
from bot.conversation.routing import Router
from bot.conversation.ticket_buttons import handoff_value
from bot.texts import text as fixed_text
from tests.discord_harness import discord_settings, fake_discord, running_discord
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

CASES = [
    pytest.param(
        "상담원 연결해 주세요",
        "상담원",
        "안녕하세요, 상담원 김민수입니다. 주문번호 알려주시겠어요?",
        "제 번호는 010-1234-5678 이에요",
        "환불 요청하려면 어떻게 해야 하나요?",
        "환불",
        id="ko",
    ),
    pytest.param(
        "I want to talk to a human agent",
        "agent",
        "Hi, this is Jordan from support. Could you share your order number?",
        "Sure, call me at 010-1234-5678",
        "How do I request a refund?",
        "refund",
        id="en",
    ),
]


@pytest_asyncio.fixture
async def fakes() -> AsyncIterator[tuple[FakeSlack, FakeDiscord]]:
    async with fake_slack() as slack, fake_discord() as discord:
        yield slack, discord


@pytest.mark.parametrize(("ask", "notice", "agent", "follow_up", "question", "answer"), CASES)
async def test_discord_customer_served_by_agents_in_slack(
    fakes: tuple[FakeSlack, FakeDiscord],
    sample_runtime_factory: Callable[..., Runtime],
    ask: str,
    notice: str,
    agent: str,
    follow_up: str,
    question: str,
    answer: str,
) -> None:
    fake_s, fake_d = fakes
    runtime = sample_runtime_factory(
        **{**discord_settings(fake_d, desk=f"slack:{AGENTS}"), **slack_settings(fake_s)}
    )
    router = Router(runtime.engine, handoff_channel=f"slack:{AGENTS}")
    async with (
        running_slack(fake_s, runtime, router) as slack,
        running_discord(fake_d, runtime, router) as discord,
    ):
        asked = await discord.say(ask)
        thread, key = int(asked["id"]), discord.key(asked)
        assert notice in discord.texts(thread)[0]
        [ticket] = slack.tickets()
        ts = ticket.response["ts"]
        handoff = await runtime.store.current_handoff(key)
        assert handoff is not None
        number = handoff_value(handoff)  # the ticket's buttons carry the handoff
        assert {b["value"] for b in ticket.params["blocks"][-1]["elements"]} == {number}
        assert await discord.state(key) == "waiting_human"

        # A Slack agent takes it and answers in the ticket thread: it reaches Discord, once.
        await slack.click("ondo_take", number, AGENT, ts)
        await slack.adapter.wait_completed(1)
        assert await discord.state(key) == "human"
        said = fake_s.message_event(agent, user=AGENT, channel=AGENTS, thread_ts=ts)
        await slack.deliver(said)
        await slack.adapter.wait_completed(2)
        await slack.deliver(said, retry=1)
        await slack.adapter.wait_completed(3)
        assert discord.texts(thread).count(agent) == 1

        # The customer's reply on Discord reaches the Slack thread, redacted; the bot is quiet.
        before = len(discord.posts(thread))
        await discord.say(follow_up, channel=thread)
        relayed = slack.posts(AGENTS)[-1]
        assert relayed.params["thread_ts"] == ts
        assert relayed.params["text"].startswith("Customer:")
        assert "010-1234-5678" not in relayed.params["text"]
        assert len(discord.posts(thread)) == before

        # Resolve in Slack: the Discord customer is told, and the bot answers again.
        await slack.click("ondo_resolve", number, AGENT, ts)
        await slack.adapter.wait_completed(4)
        assert await discord.state(key) == "bot"
        assert len(discord.posts(thread)) == before + 1
        language = "ko" if notice == "상담원" else "en"
        assert discord.texts(thread)[-1] == fixed_text("resolved", language)
        await discord.say(question, channel=thread)
        assert answer in discord.texts(thread)[-1].lower()
        discord.assert_nobody_pinged()


@pytest.mark.parametrize(("ask", "notice", "agent", "follow_up", "question", "answer"), CASES)
async def test_slack_customer_served_by_staff_on_discord(
    fakes: tuple[FakeSlack, FakeDiscord],
    sample_runtime_factory: Callable[..., Runtime],
    ask: str,
    notice: str,
    agent: str,
    follow_up: str,
    question: str,
    answer: str,
) -> None:
    fake_s, fake_d = fakes
    desk = f"discord:{fake_d.staff_channel_id}"
    runtime = sample_runtime_factory(
        **{**slack_settings(fake_s, handoff_channel=desk), **discord_settings(fake_d)}
    )
    router = Router(runtime.engine, handoff_channel=desk)
    async with (
        running_slack(fake_s, runtime, router) as slack,
        running_discord(fake_d, runtime, router) as discord,
    ):
        event = dm(fake_s, ask)
        await slack.deliver(event)
        await slack.adapter.wait_completed(1)
        [told] = slack.posts("D0DM")
        assert notice in told.params["text"]
        assert slack.posts(AGENTS) == []  # no Slack desk: the ticket went to Discord
        [ticket] = discord.threads_opened(fake_d.staff_channel_id)
        handoff = await runtime.store.current_handoff(dm_conversation(fake_s))
        assert handoff is not None and handoff.thread_ref == f"discord:{ticket}"
        key = handoff.conversation_key

        await discord.click(ticket, f"ondo:take:{handoff_value(handoff)}")
        assert await slack.state(key) == "human"
        said = await discord.staff_says(agent, ticket)
        relayed = await slack.post_no(2, "D0DM")
        # A relay has only the key: it goes to the DM's top level.
        assert relayed.params["text"] == agent and relayed.params.get("thread_ts") is None
        await discord.deliver(said)  # a gateway replay is not relayed again
        assert len(slack.posts("D0DM")) == 2

        # Written in a thread of the DM: still the DM's conversation, so it reaches the staff.
        await slack.deliver(dm(fake_s, follow_up, thread_ts=event["ts"]))
        await slack.adapter.wait_completed(2)
        to_staff = discord.texts(ticket)[-1]
        assert to_staff.startswith("Customer:") and "010-1234-5678" not in to_staff
        assert len(slack.posts("D0DM")) == 2

        await discord.click(ticket, f"ondo:resolve:{handoff_value(handoff)}")
        assert await slack.state(key) == "bot"
        language = "ko" if notice == "상담원" else "en"
        assert slack.posts("D0DM")[-1].params["text"] == fixed_text("resolved", language)
        await slack.deliver(dm(fake_s, question, thread_ts=event["ts"]))
        await slack.adapter.wait_completed(3)
        [answered] = slack.posts("D0DM")[-1:]
        assert answer in answered.params["text"].lower()
        assert answered.params["thread_ts"] == event["ts"]  # a live answer: where they wrote
        discord.assert_nobody_pinged()
