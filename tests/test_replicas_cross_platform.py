"""Two replicas on one PostgreSQL database: a Discord-only replica and a Slack-only replica
(holding the agents' desk) together serve a Discord customer with agents in Slack.

Each replica is a real runtime with its own store, router and adapter (the real discord.py
client and the real slack-bolt app against their fake platforms on loopback); what one cannot
post goes through the outbox to the other, whose courier posts it. Waits are on conditions.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path

import pytest_asyncio

from bot.app import Runtime, build_runtime
from bot.conversation.courier import Courier
from bot.conversation.routing import Router
from bot.conversation.ticket_buttons import handoff_value
from bot.settings import Settings
from bot.storage.interface import Outbox
from bot.texts import text as fixed_text
from knowledge.embedders import Embedder
from tests.backends import pg_schema, seed_embeddings
from tests.discord_harness import Discord, discord_settings, fake_discord, running_discord
from tests.fakes.discord_gateway import FakeDiscord
from tests.fakes.slack_api import FakeSlack
from tests.slack_harness import AGENT, AGENTS, Slack, fake_slack, running_slack, slack_settings

DESK = f"slack:{AGENTS}"


async def eventually(check: Callable[[], Awaitable[bool] | bool], what: str) -> None:
    """Wait (at most 30 s) until ``check`` holds; the outbox is delivered asynchronously."""
    for _ in range(600):
        result = check()
        if await result if isinstance(result, Awaitable) else result:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"never happened: {what}")


@pytest_asyncio.fixture
async def replicas(
    real_embedders: Sequence[Embedder], warm_db: Path
) -> AsyncIterator[tuple[Discord, Slack]]:
    async with fake_slack() as fake_s, fake_discord() as fake_d:
        with pg_schema() as url:
            seed_embeddings(url, warm_db)
            async with _replicas(url, fake_s, fake_d, real_embedders) as pair:
                yield pair


@contextlib.asynccontextmanager
async def _replicas(
    url: str, fake_s: FakeSlack, fake_d: FakeDiscord, embedders: Sequence[Embedder]
) -> AsyncIterator[tuple[Discord, Slack]]:
    discord_rt = build_runtime(
        Settings(db_path=url, **discord_settings(fake_d, desk=DESK)), embedders=embedders
    )
    slack_rt = build_runtime(
        Settings(db_path=url, **slack_settings(fake_s, handoff_channel=DESK)), embedders=embedders
    )
    runtimes: list[Runtime] = [discord_rt, slack_rt]
    stop = asyncio.Event()
    try:
        discord_router = Router(discord_rt.engine, handoff_channel=DESK)
        slack_router = Router(slack_rt.engine, handoff_channel=DESK)
        await discord_rt.store.replicas.join("discord-gateway", platforms=("discord",))
        await slack_rt.store.replicas.join("slack-web", platforms=("slack",))
        async with (
            running_discord(fake_d, discord_rt, discord_router) as discord,
            running_slack(fake_s, slack_rt, slack_router) as slack,
        ):
            couriers = [
                asyncio.create_task(Courier(router).run(stop, poll=0.5))
                for router in (discord_router, slack_router)
            ]
            try:
                assert slack_router.desk is not None and discord_router.desk is None
                yield discord, slack
            finally:
                stop.set()
                await asyncio.gather(*couriers)
    finally:
        for runtime in runtimes:
            with contextlib.suppress(Exception):
                runtime.close()


CASES = [
    (
        "상담원 연결해 주세요",
        "상담원",
        "안녕하세요, 상담원 김민수입니다.",
        "제 번호는 010-1234-5678 이에요",
    ),
    ("I want to talk to a human agent", "agent", "Hi, this is Jordan.", "Call me at 010-1234-5678"),
]


async def test_a_discord_customer_is_served_by_agents_in_slack_across_replicas(
    replicas: tuple[Discord, Slack],
) -> None:
    discord, slack = replicas
    for number, case in enumerate(CASES, start=1):
        await _serve_one(discord, slack, number, *case)
    # The courier marks a row delivered just after its post: wait for the last one's mark.
    outbox = discord.runtime.store.outbox
    await eventually(lambda: _none_waiting(outbox), "every outbox row marked delivered")
    discord.assert_nobody_pinged()


async def _none_waiting(outbox: Outbox) -> bool:
    return await outbox.waiting() == 0


async def _serve_one(
    discord: Discord, slack: Slack, number: int, ask: str, notice: str, agent: str, reply: str
) -> None:
    language = "ko" if notice == "상담원" else "en"
    asked = await discord.say(ask)
    thread, key = int(asked["id"]), discord.key(asked)
    # The Discord replica tells the customer; the Slack replica posts the ticket.
    assert notice in discord.texts(thread)[0]
    await eventually(lambda: len(slack.tickets()) == number, "the ticket reached Slack")
    ts = slack.tickets()[-1].response["ts"]
    handoff = await discord.runtime.store.current_handoff(key)
    assert handoff is not None
    await eventually(lambda: _threaded(slack, key), "the handoff records its Slack thread")
    value = handoff_value(handoff)

    # A Slack agent takes it and answers: the Discord replica posts it to the customer.
    clicks = slack.adapter.completed
    await slack.click("ondo_take", value, AGENT, ts)
    await slack.adapter.wait_completed(clicks + 1)
    assert await discord.state(key) == "human"
    said = slack.fake.message_event(agent, user=AGENT, channel=AGENTS, thread_ts=ts)
    await slack.deliver(said)
    await eventually(lambda: agent in discord.texts(thread), "the agent's words reached Discord")
    await slack.deliver(said, retry=1)  # Slack's retry is not relayed again

    # The customer's answer reaches the Slack thread, redacted, through the outbox.
    before = len(discord.posts(thread))
    await discord.say(reply, channel=thread)

    def relayed() -> list[str]:
        return [
            c.params["text"]
            for c in slack.posts(AGENTS)
            if c.params.get("thread_ts") == ts and c.params["text"].startswith("Customer:")
        ]

    await eventually(lambda: bool(relayed()), "the customer's words reached the ticket thread")
    assert "010-1234-5678" not in relayed()[-1]

    # Resolve in Slack: the Discord customer is told once, by the Discord replica.
    clicks = slack.adapter.completed
    await slack.click("ondo_resolve", value, AGENT, ts)
    await slack.adapter.wait_completed(clicks + 1)
    told = fixed_text("resolved", language)
    await eventually(lambda: told in discord.texts(thread), "the customer was told it is back")
    assert await discord.state(key) == "bot"
    assert discord.texts(thread).count(agent) == 1
    assert len(discord.posts(thread)) == before + 1


async def _threaded(slack: Slack, key: str) -> bool:
    handoff = await slack.runtime.store.current_handoff(key)
    return handoff is not None and handoff.thread_ref is not None
