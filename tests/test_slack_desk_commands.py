"""The agents' desk commands on Slack (``/ondo hours | duty | assign | reply``), through the real
Bolt app and the fake Slack."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import pytest_asyncio

from bot.app import Runtime
from bot.storage.records import Handoff
from tests.fakes.slack_api import FakeSlack, signed_request_headers
from tests.slack_harness import (
    AGENT,
    AGENTS,
    DM,
    SECRET,
    Slack,
    dm,
    fake_slack,
    running_slack,
    slack_settings,
)

SEOUL = ZoneInfo("Asia/Seoul")
OTHER = "U0AGENT2"
CUSTOMER = "U0CUSTOMER"
TUESDAY_10 = datetime(2026, 12, 8, 10, 0, tzinfo=SEOUL).timestamp()
SATURDAY_10 = datetime(2026, 12, 12, 10, 0, tzinfo=SEOUL).timestamp()
ORDER = "ORD-20261201-1234"


@pytest_asyncio.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    async with fake_slack() as server:
        server.set_members(AGENTS, [AGENT, OTHER, server.bot_user_id])
        server.add_user(AGENT, name="Jordan", real_name="Jordan Lee")
        server.add_user(OTHER, name="Sam")
        yield server


@pytest_asyncio.fixture
async def slack(
    fake: FakeSlack, sample_runtime_factory: Callable[..., Runtime]
) -> AsyncIterator[Slack]:
    runtime = sample_runtime_factory(**slack_settings(fake))
    async with running_slack(fake, runtime) as running:
        running.adapter.desk_commands.clock = lambda: TUESDAY_10
        yield running


def told(slack: Slack) -> str:
    """The last ephemeral answer."""
    return str(slack.fake.calls_to("chat.postEphemeral")[-1].params["text"])


async def handoff(slack: Slack, *texts: str) -> Handoff:
    """The customer's DM says ``texts``; the last asks for a person: the open handoff."""
    for n, text in enumerate(texts, start=1):
        await slack.deliver(dm(slack.fake, text))
        await slack.adapter.wait_completed(n)
    [ticket] = await slack.runtime.store.open_handoffs()
    return ticket


def ticket_ts(ticket: Handoff) -> str:
    assert ticket.thread_ref is not None
    return ticket.thread_ref.rsplit(":", 1)[1]


async def test_hours_show_the_week_and_whether_the_desk_is_open(slack: Slack) -> None:
    await slack.command("hours")
    text = told(slack)
    assert "Opening hours (Asia/Seoul)" in text and "Mon 09:00-18:00" in text
    assert "Sat closed" in text and "Dec 31" in text  # the company's own day off
    assert text.endswith("The desk is open now.")
    slack.adapter.desk_commands.clock = lambda: SATURDAY_10
    await slack.command("hours")
    assert told(slack).endswith("The desk is closed now (open again on Mon, Dec 14 after 9 AM).")


async def test_hours_in_the_agents_language(
    fake: FakeSlack, sample_runtime_factory: Callable[..., Runtime]
) -> None:
    runtime = sample_runtime_factory(**slack_settings(fake), agent_language="ko")
    async with running_slack(fake, runtime) as slack:
        slack.adapter.desk_commands.clock = lambda: SATURDAY_10
        await slack.command("hours")
        text = told(slack)
        assert text.startswith("상담 시간 (Asia/Seoul)") and "토 휴무" in text
        assert "지금은 상담 시간이 아니에요" in text
        await slack.command("duty on")
        assert told(slack) == "이제 근무 중이에요."


async def test_duty_on_off_and_who_is_on_duty(slack: Slack) -> None:
    store = slack.runtime.store
    await slack.command("duty")
    assert told(slack) == "Nobody is on duty."
    await slack.command("duty on")
    assert told(slack) == "You are on duty now."
    await slack.command("duty ON")
    assert told(slack) == "You were already on duty."
    await slack.command("duty on", user=OTHER)
    assert [a.agent for a in await store.desk.on_duty("slack")] == [AGENT, OTHER]
    await slack.command("duty")
    assert told(slack) == f"On duty: <@{AGENT}>, <@{OTHER}>"
    await slack.command("duty off")
    assert told(slack) == "You are off duty now."
    assert [a.agent for a in await store.desk.on_duty("slack")] == [OTHER]
    for bad in ("duty maybe", "duty on off"):
        await slack.command(bad)
        assert told(slack).startswith("Usage: `/ondo duty on|off`")
    assert [a.agent for a in await store.desk.on_duty("slack")] == [OTHER]


async def test_strangers_cannot_use_the_desk_commands(slack: Slack) -> None:
    for text in ("hours", "duty on", "assign 1 <@U0AGENT>", "reply refund-started 1"):
        await slack.command(text, user="U0STRANGER", channel="C0RANDOM")
        assert "Only members" in told(slack)
    assert await slack.runtime.store.desk.on_duty("slack") == []


async def test_assign_reassigns_and_says_so_in_the_ticket_thread(slack: Slack) -> None:
    store = slack.runtime.store
    ticket = await handoff(slack, "상담원 바꿔주세요")
    n = ticket.id

    await slack.command(f"assign #{n} <@{OTHER}|sam>")
    assert told(slack) == f"#{n} assigned to <@{OTHER}>."
    line = slack.posts(AGENTS)[-1]
    assert line.params["thread_ts"] == ticket_ts(ticket)
    assert line.params["text"] == f"Assigned to <@{OTHER}> by <@{AGENT}>"
    assert await store.desk.open_load(OTHER) == 1

    posts = len(slack.posts())
    for text, expect in [
        (f"assign 999 <@{OTHER}>", "No handoff #999."),
        (f"assign {n} nobody", "Usage: `/ondo assign <#> @agent`"),
        (f"assign {n}", "Usage: `/ondo assign <#> @agent`"),
        (f"assign <@{OTHER}>", "Usage: `/ondo assign <#> @agent`"),
        (f"assign {n} <@U0STRANGER>", "<@U0STRANGER> is not one of the agents."),
    ]:
        await slack.command(text)
        assert told(slack).startswith(expect), text
    assert len(slack.posts()) == posts  # nothing posted for a refusal
    assert await store.desk.open_load(OTHER) == 1

    # Taking over makes the taker the assignee.
    await slack.command(f"take {n}")
    assert await store.desk.open_load(AGENT) == 1 and await store.desk.open_load(OTHER) == 0

    await slack.command(f"resolve {n}")
    await slack.command(f"assign {n} <@{OTHER}>")
    assert told(slack) == f"Handoff #{n} is resolved already."


REPLY_CASES = [
    pytest.param(
        f"{ORDER} 주문 배송이 언제 오나요?",
        "상담원 연결해 주세요",
        f"주문({ORDER})의 환불을 접수했어요",
        "온도마켓 Jordan 드림",
        id="ko",
    ),
    pytest.param(
        f"When will my order {ORDER} arrive?",
        "Get me a human agent please",
        f"we've started the refund for your order ({ORDER})",
        "— Jordan, Ondo Market",
        id="en",
    ),
]


@pytest.mark.parametrize(("first", "ask", "body", "signed"), REPLY_CASES)
async def test_reply_sends_the_saved_reply_in_the_customers_language(
    slack: Slack, first: str, ask: str, body: str, signed: str
) -> None:
    slack.fake.add_user(CUSTOMER, name="Minji <!here>")
    ticket = await handoff(slack, first, ask)
    n = ticket.id
    to_customer = len(slack.posts(DM))

    raw = slack.fake.slash_command_body("/ondo", f"reply refund-started #{n}", user=AGENT)
    headers = signed_request_headers(raw, SECRET)
    before = slack.adapter.completed
    assert await slack.post_signed(raw, headers) == 200
    await slack.adapter.wait_completed(before + 1)
    assert told(slack) == f"#{n}: sent `refund-started` to the customer."

    [sent] = slack.posts(DM)[to_customer:]
    text = sent.params["text"]
    assert body in text and signed in text
    # The customer's Slack name is theirs to choose: it is filled in as text, not markup.
    assert "Minji &lt;!here&gt;" in text and "<!here>" not in text
    # The agents see what was sent, in the ticket thread, inert.
    shown = slack.posts(AGENTS)[-1]
    assert shown.params["thread_ts"] == ticket_ts(ticket)
    assert shown.params["text"].startswith(f"<@{AGENT}> sent the saved reply `refund-started`:")
    assert "<!here>" not in shown.params["text"] and body in shown.params["text"]
    assert await slack.state(ticket.conversation_key) == "human"  # answering took it over
    [taken] = slack.fake.calls_to("chat.update")
    assert taken.params["ts"] == ticket_ts(ticket)
    assert taken.params["text"] == f"Taken by <@{AGENT}>"

    # The same command delivered again (a retry) is not sent twice.
    posts = len(slack.posts())
    before = slack.adapter.completed
    assert await slack.post_signed(raw, headers) == 200
    await slack.adapter.wait_completed(before + 1)
    assert len(slack.posts()) == posts
    assert told(slack) == f"#{n}: this command was handled already."


async def test_reply_lists_names_and_explains_bad_input(slack: Slack) -> None:
    ticket = await handoff(slack, "상담원 연결해 주세요")
    posts = len(slack.posts())
    await slack.command("reply")
    menu = told(slack)
    assert menu.startswith("Saved replies") and "• `refund-started` — 환불 접수 안내" in menu
    for text, expect in [
        (f"reply refnd-started {ticket.id}", "No saved reply `refnd-started`. Did you mean "),
        ("reply refund-started", "Use it in a ticket thread, or give the number"),
        ("reply refund-started 999", "No handoff #999."),
        (f"reply refund-started {ticket.id} extra", "Use it in a ticket thread"),
    ]:
        await slack.command(text)
        assert told(slack).startswith(expect), text
    assert "`refund-started`" in json.dumps(
        [c.params["text"] for c in slack.fake.calls_to("chat.postEphemeral")][-4]
    )
    assert len(slack.posts()) == posts  # nothing was sent anywhere


async def test_help_lists_the_desk_commands(slack: Slack) -> None:
    await slack.command("help")
    for verb in ("/ondo hours", "/ondo duty on|off", "/ondo assign <#> @agent", "/ondo reply"):
        assert verb in told(slack)


def test_escaped_command_text_reads_as_typed() -> None:
    from adapters.slack.inert import unescaped

    assert unescaped("<@U123|minji> <#C1|agents> <!here> <!subteam^S1|@desk>") == (
        "@minji #agents @here @desk"
    )
    assert unescaped("<https://x.example/a?b=1&amp;c=2|x.example> &lt;b&gt;") == ("x.example <b>")
    assert unescaped("<mailto:a@b.example|a@b.example> <https://plain.example>") == (
        "a@b.example https://plain.example"
    )
    assert unescaped("환불 &lt;3일&gt; 안내") == "환불 <3일> 안내"
