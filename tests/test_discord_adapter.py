"""The real discord.py client running Ondo's adapter against the fake Discord, over loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest
import pytest_asyncio

from bot.app import Runtime
from bot.conversation.engine import HandoffTicket
from bot.conversation.ticket_buttons import handoff_value
from bot.types import Emotion
from tests.discord_harness import (
    DM_CHANNEL,
    Discord,
    discord_settings,
    fake_discord,
    fast_discord_retries,
    running_discord,
)
from tests.fakes.discord_gateway import MESSAGE_CONTENT, FakeDiscord


@pytest_asyncio.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with fake_discord() as server:
        yield server


@pytest_asyncio.fixture
async def discord(
    fake: FakeDiscord, sample_runtime_factory: Callable[..., Runtime]
) -> AsyncIterator[Discord]:
    runtime = sample_runtime_factory(**discord_settings(fake))
    async with running_discord(fake, runtime) as running:
        yield running


@pytest.mark.parametrize(
    ("text", "expect"),
    [("환불 요청하려면 어떻게 해야 하나요?", "환불"), ("How do I request a refund?", "refund")],
)
async def test_support_message_gets_a_thread_and_the_answer_in_it(
    discord: Discord, text: str, expect: str
) -> None:
    fake = discord.fake
    asked = await discord.say(text)
    thread = int(asked["id"])
    assert discord.threads_opened(fake.support_channel_id) == [thread]
    [answer] = discord.posts(thread)
    assert expect in answer.body["content"].lower()
    assert "message_reference" not in answer.body
    assert discord.posts(fake.support_channel_id) == []
    assert fake.channels[thread]["parent_id"] == str(fake.support_channel_id)
    discord.assert_nobody_pinged()


@pytest.mark.parametrize(
    ("text", "expect"),
    [("배송 조회는 어디서 하나요?", "배송"), ("Where can I track my order?", "track")],
)
async def test_dm_is_answered_in_the_dm(discord: Discord, text: str, expect: str) -> None:
    await discord.dm(text)
    [answer] = discord.posts(DM_CHANNEL)
    assert expect in answer.body["content"].lower()
    assert discord.threads_opened(DM_CHANNEL) == []


HANDOFF_CASES = [
    pytest.param(
        "사람 상담원 연결해 주세요",
        "상담원",
        "안녕하세요, 상담원 김입니다. 무엇을 도와드릴까요?",
        "제 번호는 010-1234-5678 이에요",
        "상담원 상담이 끝났어요",
        "환불 요청하려면 어떻게 해야 하나요?",
        "환불",
        id="ko",
    ),
    pytest.param(
        "I want to talk to a human",
        "person",
        "Hi, this is Sam from support. How can I help?",
        "My number is 010-1234-5678, call me",
        "ended",
        "How do I request a refund?",
        "refund",
        id="en",
    ),
]


@pytest.mark.parametrize(
    ("ask", "notice", "agent", "follow_up", "resolved", "question", "answer"), HANDOFF_CASES
)
async def test_handoff_round_trip_with_the_staff_channel(
    discord: Discord,
    ask: str,
    notice: str,
    agent: str,
    follow_up: str,
    resolved: str,
    question: str,
    answer: str,
) -> None:
    fake = discord.fake
    store = discord.runtime.store
    staff = fake.staff_channel_id

    # The customer asks for a person: told so in their thread; a ticket opens in #staff.
    asked = await discord.say(ask)
    thread, key = int(asked["id"]), discord.key(asked)
    [told] = discord.posts(thread)
    assert notice in told.body["content"]
    assert await discord.state(key) == "waiting_human"
    [ticket_post] = discord.posts(staff)
    [ticket] = discord.threads_opened(staff)
    handoff = await store.current_handoff(key)
    assert handoff is not None and handoff.thread_ref == f"discord:{ticket}"
    assert f"#{handoff.id} · asked_for_human · " in ticket_post.body["content"]
    [row] = ticket_post.body["components"]
    assert [(b["label"], b["custom_id"]) for b in row["components"]] == [
        ("Take over", f"ondo:take:{handoff_value(handoff)}"),
        ("Resolve", f"ondo:resolve:{handoff_value(handoff)}"),
    ]

    # The staff member takes it over: the click is acknowledged, the ticket shows it.
    callback = await discord.click(ticket, f"ondo:take:{handoff_value(handoff)}")
    assert callback.body["type"] == 6
    assert await discord.state(key) == "human"
    [taken] = discord.edits(ticket)
    assert f"Taken by <@{fake.staff_id}>" in taken.body["content"]
    assert [b["custom_id"] for b in taken.body["components"][0]["components"]] == [
        f"ondo:resolve:{handoff_value(handoff)}"
    ]
    assert "took this over" in discord.texts(ticket)[-1]

    # The staff member answers in the ticket thread: relayed to the customer, once.
    said = await discord.staff_says(agent, ticket)
    assert discord.texts(thread)[-1] == agent
    await discord.deliver(said)  # the same event again (a gateway replay)
    assert discord.texts(thread).count(agent) == 1

    # The customer answers in their thread: relayed (redacted) to the ticket; the bot is quiet.
    before = len(discord.posts(thread))
    await discord.say(follow_up, channel=thread)
    relayed = discord.texts(ticket)[-1]
    assert relayed.startswith(f"<@{fake.customer_id}>: ") and "010-1234-5678" not in relayed
    assert len(discord.posts(thread)) == before

    # Resolve: the customer is told, the ticket loses its buttons, the bot answers again.
    await discord.click(ticket, f"ondo:resolve:{handoff_value(handoff)}")
    assert resolved in discord.texts(thread)[-1]
    assert await discord.state(key) == "bot"
    resolved_edit = discord.edits(ticket)[-1]
    assert f"Resolved by <@{fake.staff_id}>" in resolved_edit.body["content"]
    assert resolved_edit.body["components"] == []
    await discord.say(question, channel=thread)
    assert answer in discord.texts(thread)[-1].lower()
    discord.assert_nobody_pinged()


async def _ticket_of(discord: Discord, key: str) -> tuple[str, int]:
    """``(handoff's button value, ticket message/thread id)`` of the open handoff of ``key``."""
    handoff = await discord.runtime.store.current_handoff(key)
    assert handoff is not None and handoff.thread_ref is not None
    return handoff_value(handoff), int(handoff.thread_ref.removeprefix("discord:"))


async def test_dm_handoff_taken_over_by_writing_in_the_ticket_thread(discord: Discord) -> None:
    fake = discord.fake
    await discord.dm("I want to talk to a human")
    key = f"discord:dm:{DM_CHANNEL}"
    button, ticket = await _ticket_of(discord, key)

    await discord.staff_says("Hi, Sam here. Let me look at your order.", ticket)
    assert discord.texts(DM_CHANNEL)[-1] == "Hi, Sam here. Let me look at your order."
    assert await discord.state(key) == "human"
    [taken] = discord.edits(ticket)  # answering took it over, as the button would have
    assert f"Taken by <@{fake.staff_id}>" in taken.body["content"]
    assert [b["custom_id"] for b in taken.body["components"][0]["components"]] == [
        f"ondo:resolve:{button}"
    ]

    await discord.dm("Thanks, I'll wait")
    assert discord.texts(ticket)[-1] == f"<@{fake.customer_id}>: Thanks, I'll wait"
    # Staff chatting in the channel itself, outside any ticket thread, is not for Ondo.
    await discord.staff_says("who's on lunch?", fake.staff_channel_id)
    assert len(discord.posts(fake.staff_channel_id)) == 1  # the ticket only


async def test_follow_up_in_ondos_thread_needs_no_mention_other_threads_do(
    discord: Discord,
) -> None:
    fake = discord.fake
    asked = await discord.say("How do I request a refund?")
    thread = int(asked["id"])
    await discord.say("배송 조회는 어디서 하나요?", channel=thread)
    assert "배송" in discord.texts(thread)[-1]

    other = int((await fake.user_thread(fake.support_channel_id, "my question"))["id"])
    await discord.say("환불 되나요?", channel=other)
    assert discord.posts(other) == []
    await discord.say(f"<@{fake.bot_id}> 환불 요청하려면 어떻게 해야 하나요?", channel=other)
    [answer] = discord.posts(other)
    assert "환불" in answer.body["content"]
    await discord.say("배송 조회는 어디서 하나요?", channel=other)  # now Ondo is part of it
    assert len(discord.posts(other)) == 2
    assert discord.threads_opened(fake.support_channel_id) == [thread]


async def test_mention_outside_the_support_channels(
    fake: FakeDiscord, sample_runtime_factory: Callable[..., Runtime]
) -> None:
    runtime = sample_runtime_factory(**discord_settings(fake, support=False))
    async with running_discord(fake, runtime) as discord:
        await discord.say("How do I request a refund?")
        assert discord.posts() == []

        asked = await discord.say(f"<@{fake.bot_id}> How do I request a refund?")
        [answer] = discord.posts(int(asked["id"]))
        assert "refund" in answer.body["content"].lower()
        # Some clients insert the bot's own role when people type @Ondo.
        by_role = await discord.say(f"<@&{fake.bot_role_id}> 배송 조회는 어디서 하나요?")
        [answer] = discord.posts(int(by_role["id"]))
        assert "배송" in answer.body["content"]
        await discord.say("Where can I track my order?", channel=int(asked["id"]))
        assert len(discord.posts(int(asked["id"]))) == 2
        await discord.say("@everyone How do I request a refund?")  # not a mention of Ondo
        assert len(discord.posts()) == 3


async def test_replayed_and_resumed_messages_get_exactly_one_reply(discord: Discord) -> None:
    fake = discord.fake
    asked = await discord.say("How do I request a refund?")
    await discord.deliver(asked)  # the same MESSAGE_CREATE once more
    session = next(iter(fake.sessions.values()))

    # op 7: the client reconnects and RESUMEs; what was sent meanwhile is replayed then.
    await fake.request_reconnect()
    missed = fake.message_create(fake.support_channel_id, "배송 조회는 어디서 하나요?")
    await discord.deliver(missed)
    assert session.resumes == 1
    assert [f["op"] for f in fake.frames].count(2) == 1  # resumed, never re-identified
    await discord.deliver(missed)
    await discord.deliver(asked)

    assert len(discord.posts(int(asked["id"]))) == 1
    assert len(discord.posts(int(missed["id"]))) == 1
    assert "배송" in discord.texts(int(missed["id"]))[0]
    assert discord.threads_opened(fake.support_channel_id) == [int(asked["id"]), int(missed["id"])]


async def test_bots_own_posts_webhooks_system_messages_and_edits_are_ignored(
    discord: Discord,
) -> None:
    fake = discord.fake
    other_bot = fake.customer | {"id": "1190000000000000299", "username": "mee6", "bot": True}
    question = "How do I request a refund?"
    await discord.say(question, author=other_bot)
    await discord.say(question, author=fake.bot_user, wait=False)
    await discord.say(question, webhook_id="1190000000000000298")
    await discord.say("", type=7)  # "minji joined the server"
    await discord.say(f"<@{fake.bot_id}>", type=6)  # a pin notice
    edited = fake.message_create(fake.support_channel_id, question)
    edited["edited_timestamp"] = edited["timestamp"]
    await fake.dispatch("MESSAGE_UPDATE", edited)
    assert discord.posts() == []

    asked = await discord.say(question)
    assert [c.path for c in discord.posts()] == [f"/channels/{asked['id']}/messages"]
    assert discord.threads_opened(fake.support_channel_id) == [int(asked["id"])]


async def test_without_the_message_content_intent(
    fake: FakeDiscord,
    sample_runtime_factory: Callable[..., Runtime],
    caplog: pytest.LogCaptureFixture,
) -> None:
    runtime = sample_runtime_factory(**discord_settings(fake))
    caplog.set_level("WARNING", logger="ondo.discord")
    async with running_discord(fake, runtime, message_content=False) as discord:
        assert not (await fake.wait_for_op(2))[0]["d"]["intents"] & MESSAGE_CONTENT
        await discord.say("How do I request a refund?")
        await discord.say("배송 조회는 어디서 하나요?")
        assert discord.posts() == []
        warnings = [r for r in caplog.records if "Message Content intent" in r.getMessage()]
        assert [r.levelname for r in warnings] == ["WARNING"]  # once, not per message

        # Discord still shows Ondo DMs and messages that mention it.
        asked = await discord.say(f"<@{fake.bot_id}> How do I request a refund?")
        assert "refund" in discord.texts(int(asked["id"]))[0].lower()
        await discord.dm("배송 조회는 어디서 하나요?")
        assert "배송" in discord.texts(DM_CHANNEL)[0]


async def test_message_with_only_an_attachment_gets_the_polite_empty_reply(
    discord: Discord,
) -> None:
    picture = {
        "id": "1190000000000000400",
        "filename": "receipt.png",
        "size": 48213,
        "url": "https://cdn.discordapp.com/attachments/1/2/receipt.png",
        "proxy_url": "https://media.discordapp.net/attachments/1/2/receipt.png",
        "content_type": "image/png",
    }
    asked = await discord.say("", attachments=[picture])
    [reply] = discord.texts(int(asked["id"]))
    assert "empty" in reply.lower()


async def test_long_relayed_message_is_split_on_sentences(discord: Discord) -> None:
    asked = await discord.say("I want to talk to a human")
    thread = int(asked["id"])
    _, ticket = await _ticket_of(discord, discord.key(asked))
    long = " ".join(
        f"Step {i}: open the order page, check the refund status and reply here." for i in range(70)
    )
    assert len(long) > 4000

    await discord.staff_says(long, ticket)
    parts = discord.texts(thread)[1:]
    assert len(parts) == 3
    assert all(len(p) <= 2000 and p.endswith("reply here.") for p in parts)
    assert " ".join(parts) == long


@pytest.mark.parametrize(
    ("staff_role", "who", "allowed"),
    [
        (None, "staff", True),  # no role set: Manage Threads / Manage Messages in #staff
        (None, "customer", False),
        ("staff", "staff", True),
        ("other", "staff", False),  # the role rule is strict, whatever the permissions
    ],
)
async def test_only_staff_may_click_the_ticket_buttons(
    fake: FakeDiscord,
    sample_runtime_factory: Callable[..., Runtime],
    caplog: pytest.LogCaptureFixture,
    staff_role: str | None,
    who: str,
    allowed: bool,
) -> None:
    role = {None: None, "staff": fake.staff_role_id, "other": fake.staff_role_id + 50}[staff_role]
    user = fake.staff_id if who == "staff" else fake.customer_id
    runtime = sample_runtime_factory(**discord_settings(fake, staff_role=role))
    caplog.set_level("WARNING", logger="ondo.discord")
    async with running_discord(fake, runtime) as discord:
        asked = await discord.say("상담원 연결해 주세요")
        key = discord.key(asked)
        button, ticket = await _ticket_of(discord, key)
        thread_posts = len(discord.posts(ticket))

        callback = await discord.click(ticket, f"ondo:resolve:{button}", user_id=user)
        if allowed:
            assert callback.body["type"] == 6
            assert await discord.state(key) == "bot"
            assert discord.edits(ticket)
            return
        assert callback.body["type"] == 4
        assert callback.body["data"]["flags"] == 64  # ephemeral: only the clicker sees it
        assert "staff" in callback.body["data"]["content"]
        assert await discord.state(key) == "waiting_human"
        assert discord.edits(ticket) == []
        assert len(discord.posts(ticket)) == thread_posts
        assert any(
            "refused" in r.getMessage() and str(user) in r.getMessage() for r in caplog.records
        )

        # Nor are their messages in the ticket thread relayed to the customer.
        await discord.say("I am not staff", channel=ticket, author=fake.users[user])
        assert "I am not staff" not in discord.texts(int(asked["id"]))
        assert any("not relayed" in r.getMessage() for r in caplog.records)


async def test_rate_limited_ticket_post_is_retried(discord: Discord) -> None:
    fake = discord.fake
    path = f"/channels/{fake.staff_channel_id}/messages"
    fake.rate_limit("POST", path, retry_after=0.01)
    asked = await discord.say("I want to talk to a human")

    assert len(discord.posts(fake.staff_channel_id)) == 1
    assert [c.status for c in fake.calls if c.method == "POST" and c.path == path] == [429, 200]
    _, thread = await _ticket_of(discord, discord.key(asked))
    assert discord.threads_opened(fake.staff_channel_id) == [thread]


async def test_ticket_that_failed_is_posted_by_recovery(
    discord: Discord, monkeypatch: pytest.MonkeyPatch
) -> None:
    fast_discord_retries(monkeypatch)
    fake = discord.fake
    fake.fail("POST", f"/channels/{fake.staff_channel_id}/messages", status=500, times=5)
    asked = await discord.say("I want to talk to a human")
    key = discord.key(asked)
    assert "person" in discord.texts(int(asked["id"]))[0]  # the customer was still told
    handoff = await discord.runtime.store.current_handoff(key)
    assert handoff is not None and handoff.thread_ref is None
    assert discord.posts(fake.staff_channel_id) == []

    await discord.router.recover()
    await discord.router.recover()
    [ticket] = discord.posts(fake.staff_channel_id)
    assert f"#{handoff.id} · " in ticket.body["content"]
    _, thread = await _ticket_of(discord, key)
    assert discord.threads_opened(fake.staff_channel_id) == [thread]


@pytest.mark.parametrize(
    ("what", "status", "times"),
    [("post", 403, 1), ("post", 500, 5), ("thread", 500, 5)],
)
async def test_unposted_answer_is_answered_once_by_recovery(
    discord: Discord, monkeypatch: pytest.MonkeyPatch, what: str, status: int, times: int
) -> None:
    fast_discord_retries(monkeypatch)
    fake = discord.fake
    asked = fake.message_create(fake.support_channel_id, "How do I request a refund?")
    thread = int(asked["id"])
    path = f"/channels/{thread}/messages"
    if what == "thread":
        path = f"/channels/{fake.support_channel_id}/messages/{thread}/threads"
    fake.fail("POST", path, status=status, times=times, code=50013 if status == 403 else 0)

    await discord.deliver(asked)
    assert discord.posts(thread) == []
    assert await discord.router.recover() == 1
    [answer] = discord.posts(thread)
    assert "refund" in answer.body["content"].lower()
    assert await discord.router.recover() == 0
    await discord.deliver(asked)  # a late duplicate of the event is not answered again
    assert len(discord.posts(thread)) == 1


async def test_long_ticket_summary_continues_in_the_ticket_thread(discord: Discord) -> None:
    fake = discord.fake
    asked = await discord.say("I want to talk to a human")
    handoff = await discord.runtime.store.current_handoff(discord.key(asked))
    assert handoff is not None and discord.router.desk is not None
    summary = "\n".join(f"- Recent message {i}: the parcel has not arrived yet." for i in range(90))
    # Another number than the handoff's own: that ticket is posted, and a post under its nonce
    # would be answered with it (see the tests of tickets after a crash).
    number = handoff.id + 1000
    ticket = HandoffTicket(
        number,
        handoff.conversation_key,
        "angry",
        summary,
        "en",
        "shipping",
        Emotion("angry", 1),
    )

    ref = await discord.router.desk.open_ticket(ticket)
    message_id = discord.threads_opened(fake.staff_channel_id)[-1]
    assert ref == f"discord:{message_id}"
    head = discord.texts(fake.staff_channel_id)[-1]
    assert head.endswith(f"\n-# #{number} · angry · shipping · angry · en")
    assert len(head) <= 2000 - 100  # room for the status line a click adds
    rest = discord.texts(message_id)
    assert rest and all(len(part) <= 2000 for part in rest)
    lines = [*head.splitlines()[:-1], *(line for part in rest for line in part.splitlines())]
    assert lines == summary.splitlines()


@pytest.mark.parametrize("trouble", ["rate_limited", "failing"])
async def test_staff_reply_the_customer_cannot_get_now(
    discord: Discord, monkeypatch: pytest.MonkeyPatch, trouble: str
) -> None:
    fast_discord_retries(monkeypatch)
    fake = discord.fake
    asked = await discord.say("사람 상담원 연결해 주세요")
    thread = int(asked["id"])
    _, ticket = await _ticket_of(discord, discord.key(asked))
    path = f"/channels/{thread}/messages"
    if trouble == "rate_limited":
        fake.rate_limit("POST", path, retry_after=0.01)
    else:
        fake.fail("POST", path, status=500, times=5)

    await discord.staff_says("주문 내역을 확인해 볼게요.", ticket)
    if trouble == "rate_limited":
        assert discord.texts(thread)[-1] == "주문 내역을 확인해 볼게요."
    else:
        assert "주문 내역을 확인해 볼게요." not in discord.texts(thread)
        assert "Could not deliver this to the customer" in discord.texts(ticket)[-1]


@pytest.mark.parametrize("text", ["배송 조회는 어디서 하나요?", "Where can I track my order?"])
async def test_answer_posted_just_before_a_crash_is_not_posted_twice(
    discord: Discord, monkeypatch: pytest.MonkeyPatch, text: str
) -> None:
    asked = await discord.dm(text)
    store = discord.runtime.store
    # The process died right after Discord took the answer, before Ondo noted it as posted.
    store._db.execute(
        "UPDATE messages SET platform_message_id = NULL WHERE direction = 'out' AND role = 'bot'"
    )
    store._db.execute(
        "UPDATE messages SET handled_at = NULL, claimed_at = 0 WHERE direction = 'in'"
    )
    store._db.conn.commit()
    assert await discord.router.recover() == 1  # posted again: with the same nonce
    bot_messages = [
        m
        for m in discord.fake.messages.values()
        if m["channel_id"] == str(DM_CHANNEL) and m["author"]["id"] == str(discord.fake.bot_id)
    ]
    assert len(bot_messages) == 1 and discord.fake.nonce_hits == 1
    assert await discord.router.recover() == 0
    await discord.deliver(asked)  # and a replay of the event is a duplicate
    assert len(discord.texts(DM_CHANNEL)) == 2  # the first post and the nonce-answered one


@pytest.mark.parametrize(
    ("dm_text", "support_text", "expect"),
    [
        ("배송 조회는 어디서 하나요?", "환불 요청하려면 어떻게 해야 하나요?", "환불"),
        ("Where can I track my order?", "How do I request a refund?", "refund"),
    ],
)
async def test_messages_missed_while_down_are_answered_after_a_restart_once(
    fake: FakeDiscord,
    sample_runtime_factory: Callable[..., Runtime],
    dm_text: str,
    support_text: str,
    expect: str,
) -> None:
    runtime = sample_runtime_factory(**discord_settings(fake))
    async with running_discord(fake, runtime) as first:
        await first.dm(dm_text)
        assert len(first.texts(DM_CHANNEL)) == 1
    # While no process listens, the customer writes again and someone asks in #support; the
    # gateway will not replay these to the next process's fresh session.
    missed_dm = fake.message_create(DM_CHANNEL, dm_text + " 2")
    missed_support = fake.message_create(fake.support_channel_id, support_text)
    async with running_discord(fake, runtime) as second:
        catching_up = second.adapter._catching_up
        assert catching_up is not None
        assert await asyncio.wait_for(catching_up, 10) >= 3  # the DM channel and #support
        assert len(second.texts(DM_CHANNEL)) == 2
        [answer] = second.texts(int(missed_support["id"]))  # in the thread opened on it
        assert expect in answer.lower()
        assert await second.adapter.catch_up() >= 3  # read again: nothing answered twice
        assert len(second.texts(DM_CHANNEL)) == 2
        assert len(second.texts(int(missed_support["id"]))) == 1
    recorded = runtime.store._db.execute(
        "SELECT COUNT(*) FROM messages WHERE direction = 'in' AND platform_message_id IN (?, ?)",
        [missed_dm["id"], missed_support["id"]],
    ).fetchone()
    assert recorded == (2,)
