"""The agents' ``/ondo`` slash command on Discord (``hours | duty | assign | reply``), through
the real discord.py client and the fake Discord."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import pytest_asyncio

from adapters.discord.commands import COMMAND, command_words
from bot.app import Runtime
from bot.conversation.ticket_buttons import handoff_value
from bot.storage.records import Handoff
from tests.discord_harness import TIMEOUT, Discord, discord_settings, fake_discord, running_discord
from tests.fakes.discord_gateway import FakeDiscord, RestCall

SEOUL = ZoneInfo("Asia/Seoul")
TUESDAY_10 = datetime(2026, 12, 8, 10, 0, tzinfo=SEOUL).timestamp()
SATURDAY_10 = datetime(2026, 12, 12, 10, 0, tzinfo=SEOUL).timestamp()
ORDER = "ORD-20261201-1234"
OTHER_STAFF = 1_190_000_000_000_000_203


@pytest_asyncio.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with fake_discord() as server:
        server.add_member(OTHER_STAFF, "sam.support", roles=[server.staff_role_id])
        yield server


@pytest_asyncio.fixture
async def discord(
    fake: FakeDiscord, sample_runtime_factory: Callable[..., Runtime]
) -> AsyncIterator[Discord]:
    runtime = sample_runtime_factory(**discord_settings(fake))
    async with running_discord(fake, runtime) as running:
        running.adapter.desk_commands.clock = lambda: TUESDAY_10
        yield running


async def ondo(
    discord: Discord,
    sub: str,
    options: Mapping[str, str | int] | None = None,
    *,
    channel: int | None = None,
    user_id: int | None = None,
    interaction_id: int | None = None,
) -> tuple[str, dict[str, Any]]:
    """``/ondo <sub>`` used in ``channel`` (default ``#staff``); ``(answer, interaction)``
    once handled. Every answer must be ephemeral."""
    fake = discord.fake
    data = fake.slash_command_create(
        channel or fake.staff_channel_id,
        COMMAND,
        sub,
        options,
        user_id=user_id,
        interaction_id=interaction_id,
    )
    before = discord.adapter.completed
    assert await fake.dispatch("INTERACTION_CREATE", data) == 1
    await discord.adapter.wait_completed(before + 1, TIMEOUT)
    callback: RestCall = [
        c for c in fake.calls if c.path.startswith(f"/interactions/{data['id']}/")
    ][-1]
    assert callback.body["type"] == 4 and callback.body["data"]["flags"] & 64
    return str(callback.body["data"]["content"]), data


async def handoff(
    discord: Discord, *texts: str, author: Mapping[str, Any] | None = None
) -> Handoff:
    """The customer says ``texts`` in ``#support`` (the rest in their thread); the last asks
    for a person: the open handoff."""
    asked = await discord.say(texts[0], author=author)
    for text in texts[1:]:
        await discord.say(text, channel=int(asked["id"]), author=author)
    handoff = await discord.runtime.store.current_handoff(discord.key(asked))
    assert handoff is not None and handoff.thread_ref is not None
    return handoff


def thread_of(ticket: Handoff) -> int:
    assert ticket.thread_ref is not None
    return int(ticket.thread_ref.removeprefix("discord:"))


def test_command_words_read_the_options_in_order() -> None:
    data = {
        "name": "ondo",
        "type": 1,
        "options": [
            {
                "name": "assign",
                "type": 1,
                "options": [
                    {"name": "agent", "type": 3, "value": "<@!123456>"},
                    {"name": "ticket", "type": 4, "value": 3},
                ],
            }
        ],
    }
    assert command_words(data) == ["assign", "3", "<@!123456>"]
    assert command_words({"name": "Mark as wrong", "type": 3}) is None


async def test_the_command_is_registered(discord: Discord) -> None:
    command = discord.fake.commands[COMMAND]
    assert [o["name"] for o in command["options"]] == ["hours", "duty", "assign", "reply"]


async def test_hours_and_duty(discord: Discord) -> None:
    fake, store = discord.fake, discord.runtime.store
    text, _ = await ondo(discord, "hours")
    assert "Opening hours (Asia/Seoul)" in text and text.endswith("The desk is open now.")
    discord.adapter.desk_commands.clock = lambda: SATURDAY_10
    text, _ = await ondo(discord, "hours")
    assert text.endswith("(open again on Mon, Dec 14 after 9 AM).")

    assert (await ondo(discord, "duty"))[0] == "Nobody is on duty."
    assert (await ondo(discord, "duty", {"state": "on"}))[0] == "You are on duty now."
    await ondo(discord, "duty", {"state": "on"}, user_id=OTHER_STAFF)
    assert (await ondo(discord, "duty"))[0] == f"On duty: <@{fake.staff_id}>, <@{OTHER_STAFF}>"
    assert (await ondo(discord, "duty", {"state": "off"}))[0] == "You are off duty now."
    assert (await ondo(discord, "duty", {"state": "maybe"}))[0].startswith("Usage: `/ondo duty")
    assert [a.agent for a in await store.desk.on_duty("discord")] == [str(OTHER_STAFF)]
    discord.assert_nobody_pinged()


async def test_customers_cannot_use_the_command(discord: Discord) -> None:
    fake = discord.fake
    text, _ = await ondo(discord, "duty", {"state": "on"}, user_id=fake.customer_id)
    assert text == "Only Ondo's support staff can do this."
    text, _ = await ondo(discord, "hours", channel=fake.support_channel_id)  # staff, elsewhere
    assert text == "Only Ondo's support staff can do this."
    assert await discord.runtime.store.desk.on_duty("discord") == []


async def test_assign_and_take_over(discord: Discord) -> None:
    fake, store = discord.fake, discord.runtime.store
    ticket = await handoff(discord, "사람 상담원 연결해 주세요")
    n, thread = ticket.id, thread_of(ticket)

    text, _ = await ondo(discord, "assign", {"ticket": n, "agent": f"<@!{OTHER_STAFF}>"})
    assert text == f"#{n} assigned to <@{OTHER_STAFF}>."
    assert discord.texts(thread)[-1] == f"Assigned to <@{OTHER_STAFF}> by <@{fake.staff_id}>"
    assert await store.desk.open_load(str(OTHER_STAFF)) == 1

    posts = len(discord.posts())
    for options, expect in [
        ({"ticket": 999, "agent": f"<@{OTHER_STAFF}>"}, "No handoff #999."),
        ({"ticket": n, "agent": "nobody"}, "Usage: `/ondo assign <#> @agent`"),
        ({"ticket": n, "agent": "<@&1190000000000000101>"}, "Usage: `/ondo assign"),  # a role
    ]:
        assert (await ondo(discord, "assign", options))[0].startswith(expect), options
    assert len(discord.posts()) == posts

    # Taking over (the button) makes the taker the assignee.
    await discord.click(thread, f"ondo:take:{handoff_value(ticket)}")
    assert await store.desk.open_load(str(fake.staff_id)) == 1
    assert await store.desk.open_load(str(OTHER_STAFF)) == 0
    discord.assert_nobody_pinged()


REPLY_CASES = [
    pytest.param(
        None,
        f"{ORDER} 주문 배송이 언제 오나요?",
        "사람 상담원 연결해 주세요",
        f"김민지님, 주문({ORDER})의 환불을 접수했어요",
        "온도마켓 Jordan 드림",
        id="ko",
    ),
    pytest.param(
        "Sam @everyone [x](https://e.io)",
        f"When will my order {ORDER} arrive?",
        "Get me a human agent please",
        f"we've started the refund for your order ({ORDER})",
        "— Jordan, Ondo Market",
        id="en",
    ),
]


@pytest.mark.parametrize(("name", "first", "ask", "body", "signed"), REPLY_CASES)
async def test_reply_in_the_ticket_thread_reaches_the_customer_once(
    discord: Discord, name: str | None, first: str, ask: str, body: str, signed: str
) -> None:
    fake = discord.fake
    author = None
    if name is not None:
        author = fake.add_member(1_190_000_000_000_000_250, "sam.customer", global_name=name)
    ticket = await handoff(discord, first, ask, author=author)
    thread = thread_of(ticket)
    customer_thread = int(ticket.conversation_key.rsplit(":", 1)[1])
    before = len(discord.posts(customer_thread))

    text, data = await ondo(discord, "reply", {"name": "Refund-Started"}, channel=thread)
    assert text == f"#{ticket.id}: sent `refund-started` to the customer."
    [sent] = discord.posts(customer_thread)[before:]
    content = sent.body["content"]
    assert body in content and signed in content
    if name is not None:
        # The customer's own name, shown as typed: no mention, no masked link, anywhere.
        assert content.startswith("Hi Sam @\u200beveryone \\[x\\](https://e.io),")
    shown = discord.texts(thread)[-1]
    assert shown.startswith(f"<@{fake.staff_id}> sent the saved reply `refund-started`:")
    assert f"> {content}" in shown
    if name is not None:
        # In the agents' thread the customer's name is shown as typed, never as markup.
        assert "@everyone" not in shown and "[x](" not in shown
    assert await discord.state(ticket.conversation_key) == "human"
    [taken] = discord.edits(thread)  # the ticket shows who has it now
    assert f"Taken by <@{fake.staff_id}>" in taken.body["content"]

    # The same interaction again (a redelivery) is not sent twice.
    posts = len(discord.posts())
    again, _ = await ondo(
        discord, "reply", {"name": "refund-started"}, channel=thread, interaction_id=int(data["id"])
    )
    assert again == f"#{ticket.id}: this command was handled already."
    assert len(discord.posts()) == posts
    discord.assert_nobody_pinged()


async def test_reply_menu_and_bad_input(discord: Discord) -> None:
    ticket = await handoff(discord, "사람 상담원 연결해 주세요")
    thread = thread_of(ticket)
    posts = len(discord.posts())
    menu, _ = await ondo(discord, "reply", channel=thread)
    assert menu.startswith("Saved replies") and "`need-order-number`" in menu
    for options, channel, expect in [
        ({"name": "refnd-started"}, thread, "No saved reply `refnd-started`. Did you mean "),
        ({"name": "refund-started"}, None, "Use it in a ticket thread, or give the number"),
        ({"name": "refund-started", "ticket": 999}, None, "No handoff #999."),
    ]:
        text, _ = await ondo(discord, "reply", options, channel=channel)
        assert text.startswith(expect), options
    assert len(discord.posts()) == posts

    # Outside the thread, with the ticket's number.
    text, _ = await ondo(discord, "reply", {"name": "need-order-number", "ticket": ticket.id})
    assert text == f"#{ticket.id}: sent `need-order-number` to the customer."
    # Resolved: nothing more is sent.
    await discord.click(thread, f"ondo:resolve:{handoff_value(ticket)}")
    text, _ = await ondo(discord, "reply", {"name": "refund-started"}, channel=thread)
    assert text == f"Handoff #{ticket.id} is resolved already."
