"""The real Bolt app against the fake Slack, over loopback: signed events in, posts out."""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from types import SimpleNamespace

import pytest
import pytest_asyncio
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_sdk.http_retry import builtin_async_handlers

from bot.app import Runtime
from bot.storage.records import Inbound
from bot.types import Message
from tests.fakes.slack_api import (
    APP_TOKEN,
    Call,
    FakeSlack,
    interactive_body,
    signed_request_headers,
)
from tests.slack_harness import (
    AGENT,
    AGENTS,
    SECRET,
    Slack,
    dm,
    fake_slack,
    running_slack,
    slack_settings,
)


@pytest_asyncio.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    async with fake_slack() as server:
        yield server


@pytest_asyncio.fixture
async def slack(
    fake: FakeSlack, sample_runtime_factory: Callable[..., Runtime]
) -> AsyncIterator[Slack]:
    runtime = sample_runtime_factory(**slack_settings(fake))
    async with running_slack(fake, runtime) as running:
        yield running


async def test_healthz(slack: Slack) -> None:
    async with slack.session.get(f"{slack.url}/healthz") as resp:
        assert resp.status == 200 and (await resp.json())["ok"] is True


@pytest.mark.parametrize(
    ("text", "expect"),
    [("환불 요청하려면 어떻게 해야 하나요?", "환불"), ("How do I request a refund?", "refund")],
)
async def test_dm_is_answered_where_it_was_written(slack: Slack, text: str, expect: str) -> None:
    # A DM is one conversation: a message at its top level is answered at the top level,
    # one in a thread of the DM in that thread.
    event = dm(slack.fake, text)
    assert await slack.deliver(event) == 200
    reply = await slack.post_no(1)
    assert reply.params["channel"] == "D0DM"
    assert reply.params.get("thread_ts") is None
    assert expect in reply.params["text"].lower()
    threaded = dm(slack.fake, text, thread_ts=reply.response["ts"])
    assert await slack.deliver(threaded) == 200
    again = await slack.post_no(2)
    assert again.params["thread_ts"] == reply.response["ts"]
    assert await slack.runtime.store.has_conversation(f"slack:{slack.fake.team_id}:D0DM")


async def test_mention_answered_and_thread_follow_up_needs_no_mention(slack: Slack) -> None:
    mention = slack.fake.app_mention_event("Where can I track my order?")
    await slack.deliver(mention)
    first = await slack.post_no(1)
    assert first.params["thread_ts"] == mention["ts"] and "<@" not in first.params["text"]

    follow = slack.fake.message_event("배송 조회는 어디서 하나요?", thread_ts=mention["ts"])
    await slack.deliver(follow)
    second = await slack.post_no(2)
    assert second.params["thread_ts"] == mention["ts"]
    assert "배송" in second.params["text"]

    # A plain channel message in a thread Ondo never joined is not for the bot.
    stranger = slack.fake.message_event("환불 되나요?", thread_ts="1.000009")
    await slack.deliver(stranger)
    await slack.adapter.wait_completed(3)
    assert len(slack.posts()) == 2


async def test_retries_and_message_plus_mention_twins_yield_one_reply(slack: Slack) -> None:
    mention = slack.fake.app_mention_event("환불 요청하려면 어떻게 해야 하나요?")
    twin = slack.fake.message_event(mention["text"], ts=mention["ts"])
    assert await slack.deliver(mention, event_id="Ev1") == 200
    assert await slack.deliver(twin, event_id="Ev2") == 200
    await slack.post_no(1)
    assert await slack.deliver(mention, event_id="Ev1", retry=1) == 200
    assert await slack.deliver(twin, event_id="Ev2", retry=2) == 200
    await slack.adapter.wait_completed(4)
    assert len(slack.posts()) == 1


async def test_bad_signature_is_rejected_and_nothing_processed(slack: Slack) -> None:
    body = json.dumps(slack.fake.event_callback(dm(slack.fake, "hello"))).encode()
    async with slack.session.post(
        f"{slack.url}/slack/events", data=body, headers=signed_request_headers(body, "wrong")
    ) as resp:
        assert resp.status == 401
    assert slack.fake.calls == []
    assert slack.adapter.completed == 0


_DEEP = b'{"type": "event_callback", "event": ' + b'{"a": ' * 5000 + b"1" + b"}" * 5001
_EVENT = b'{"type": "event_callback", "event": %s}'
MALFORMED = {
    "broken JSON": (b'{"type": "event_callback", "event": ', "application/json"),
    "null": (b"null", "application/json"),
    "a list": (b'[{"type": "event_callback"}]', "application/json"),
    "a string": (b'"event_callback"', "application/json"),
    "event a string": (_EVENT % b'"hello"', "application/json"),
    "type a number": (b'{"type": 5, "event": []}', "application/json"),
    "event fields of wrong types": (
        _EVENT % b'{"type": "message", "user": 5, "text": [1], "channel": {}}',
        "application/json",
    ),
    "deep nesting": (_DEEP, "application/json"),
    "deep but parseable": (
        _EVENT % (b'{"type": "message", "x": ' + b"[" * 100 + b"]" * 100 + b"}"),
        "application/json",
    ),
    "non-UTF-8 JSON": (_EVENT % b'{"type": "message", "text": "\xff\xfe"}', "application/json"),
    "non-UTF-8 bytes": (b"\xff\xfe\x00", "application/x-www-form-urlencoded"),
    "broken payload": (b"payload=%7Bbroken", "application/x-www-form-urlencoded"),
    "payload null": (b"payload=null", "application/x-www-form-urlencoded"),
    "payload a list": (b"payload=%5B1%5D", "application/x-www-form-urlencoded"),
    "actions a number": (
        b"payload=%7B%22type%22%3A%22block_actions%22%2C%22actions%22%3A5%7D",
        "application/x-www-form-urlencoded",
    ),
    "an action a string": (
        b"payload=%7B%22type%22%3A%22block_actions%22%2C%22actions%22%3A%5B%22x%22%5D%7D",
        "application/x-www-form-urlencoded",
    ),
    "form field not UTF-8": (b"command=%2Fondo&text=%ff", "application/x-www-form-urlencoded"),
}


@pytest.mark.parametrize("name", list(MALFORMED))
async def test_a_signed_malformed_body_is_400_and_one_log_line(
    slack: Slack, name: str, caplog: pytest.LogCaptureFixture
) -> None:
    body, content_type = MALFORMED[name]
    signed = signed_request_headers(body, SECRET) | {"Content-Type": content_type}
    caplog.set_level(logging.DEBUG)
    assert await slack.post_signed(body, signed) == 400
    problems = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(problems) == 1 and "malformed request body" in problems[0].getMessage()
    assert problems[0].exc_info is None and "\n" not in problems[0].getMessage()
    unsigned = signed_request_headers(body, "wrong") | {"Content-Type": content_type}
    assert await slack.post_signed(body, unsigned) == 401
    assert len([r for r in caplog.records if r.levelno >= logging.WARNING]) == 1
    assert slack.fake.calls == [] and slack.adapter.completed == 0
    # The app still answers a well-formed event afterwards.
    assert await slack.deliver(dm(slack.fake, "hello")) == 200
    await slack.adapter.wait_completed(1)


async def test_own_and_bot_messages_and_edits_are_ignored(slack: Slack) -> None:
    fake = slack.fake
    await slack.deliver(dm(fake, "my own post", user=fake.bot_user_id, bot_id=fake.bot_id))
    await slack.deliver(dm(fake, "other bot", bot_id="B0OTHER", subtype="bot_message"))
    await slack.deliver(dm(fake, "edited", subtype="message_changed"))
    await slack.deliver(dm(fake, "", subtype="channel_join"))
    await slack.deliver(dm(fake, "Hi, how do I request a refund?"))
    await slack.post_no(1)
    await slack.adapter.wait_completed(4)  # Bolt itself drops the bot's own message
    [reply] = slack.posts()
    assert "refund" in reply.params["text"].lower()


@pytest.mark.parametrize("text", ["", f"<@{'U0FAKEBOT'}>"])
async def test_empty_or_file_only_message_gets_a_polite_reply(slack: Slack, text: str) -> None:
    event = dm(slack.fake, text, subtype="file_share", files=[{"id": "F1", "name": "a.png"}])
    await slack.deliver(event)
    reply = await slack.post_no(1)
    assert "empty" in reply.params["text"].lower() or "비어" in reply.params["text"]


async def test_handoff_round_trip_in_korean(slack: Slack) -> None:
    fake = slack.fake
    ask = dm(fake, "상담원 바꿔주세요. 전화번호 010-9876-5432 로 연락 주세요")
    await slack.deliver(ask)
    await slack.adapter.wait_completed(1)
    customer_key = f"slack:{fake.team_id}:D0DM"
    [notice] = slack.posts("D0DM")
    assert "상담원" in notice.params["text"]
    [ticket] = slack.tickets()
    assert "010-9876-5432" not in json.dumps(ticket.params, ensure_ascii=False)
    blocks = ticket.params["blocks"]
    buttons = blocks[-1]["elements"]
    assert [b["action_id"] for b in buttons] == ["ondo_take", "ondo_resolve"]
    number = buttons[0]["value"]  # the handoff id
    assert {b["value"] for b in buttons} == {number}
    assert await slack.conversation_of(number) == customer_key
    assert await slack.state(customer_key) == "waiting_human"
    handoff_ts = ticket.response["ts"]

    # The agent answers in the handoff thread: relayed to the customer's DM (top level).
    answer = fake.message_event(
        "안녕하세요, 상담원 김입니다.", user=AGENT, channel=AGENTS, thread_ts=handoff_ts
    )
    await slack.deliver(answer)
    relayed = await slack.post_no(2, "D0DM")
    assert (relayed.params["channel"], relayed.params.get("thread_ts")) == ("D0DM", None)
    assert relayed.params["text"] == "안녕하세요, 상담원 김입니다."
    assert await slack.state(customer_key) == "human"
    await slack.deliver(answer, retry=1)  # a retried agent message is not relayed twice

    # The customer writes again: it goes to the agent thread, redacted; the bot stays silent.
    more = dm(fake, "제 번호는 010-1234-5678 이에요", thread_ts=ask["ts"])
    await slack.deliver(more)
    to_agents = await slack.post_no(3, AGENTS)  # after the ticket and the suggested reply
    assert (to_agents.params["channel"], to_agents.params["thread_ts"]) == (AGENTS, handoff_ts)
    assert "010-1234-5678" not in to_agents.params["text"]
    await slack.adapter.wait_completed(4)
    assert len(slack.posts("D0DM")) == 2

    # Resolve by a member: the customer is told, the bot answers again.
    assert await slack.click("ondo_resolve", number, AGENT, handoff_ts) == 200
    back = await slack.post_no(3, "D0DM")
    assert back.params["channel"] == "D0DM" and back.params.get("thread_ts") is None
    await slack.adapter.wait_completed(5)
    assert await slack.state(customer_key) == "bot"
    await slack.deliver(dm(fake, "환불 요청하려면 어떻게 해야 하나요?", thread_ts=ask["ts"]))
    await slack.adapter.wait_completed(6)
    assert "환불" in slack.posts("D0DM")[-1].params["text"]


async def test_handoff_in_english_and_non_member_cannot_resolve(slack: Slack) -> None:
    fake = slack.fake
    mention = fake.app_mention_event("I want to talk to a human agent right now")
    await slack.deliver(mention)
    await slack.adapter.wait_completed(1)
    [ticket] = slack.tickets()
    number = ticket.params["blocks"][-1]["elements"][1]["value"]
    key = await slack.conversation_of(number)

    assert await slack.click("ondo_resolve", number, "U0STRANGER", ticket.response["ts"]) == 200
    [refusal] = await fake.wait_for("chat.postEphemeral")
    assert refusal.params["user"] == "U0STRANGER" and refusal.params["channel"] == AGENTS
    await slack.adapter.wait_completed(2)
    assert await slack.state(key) == "waiting_human"

    # Take over, then a customer follow-up is relayed to the agent thread.
    await slack.click("ondo_take", number, AGENT, ticket.response["ts"])
    await slack.adapter.wait_completed(3)
    assert await slack.state(key) == "human"
    await slack.deliver(fake.message_event("Hello? Anyone there?", thread_ts=mention["ts"]))
    relay = await slack.post_no(4, AGENTS)  # ticket, suggested reply, "took over", relay
    assert relay.params["channel"] == AGENTS and "Anyone there" in relay.params["text"]


async def test_rate_limited_reply_is_retried(slack: Slack, monkeypatch: pytest.MonkeyPatch) -> None:
    real_sleep = asyncio.sleep

    async def no_wait(_seconds: float) -> None:
        await real_sleep(0)

    monkeypatch.setattr(builtin_async_handlers, "asyncio", SimpleNamespace(sleep=no_wait))
    slack.fake.fail_next("chat.postMessage", status=429, retry_after=1)
    await slack.deliver(dm(slack.fake, "How do I request a refund?"))
    reply = await slack.post_no(2)
    assert reply.status == 200 and "refund" in reply.params["text"].lower()


async def test_socket_mode_round_trip_with_retry(slack: Slack) -> None:
    handler = AsyncSocketModeHandler(slack.app, app_token=APP_TOKEN)
    try:
        await handler.connect_async()
        payload = slack.fake.event_callback(dm(slack.fake, "배송 조회는 어디서 하나요?"))
        first = await slack.fake.send_envelope(payload)
        await slack.fake.wait_for_ack(first)
        reply = await slack.post_no(1)
        again = await slack.fake.send_envelope(payload, retry_attempt=1, retry_reason="timeout")
        await slack.fake.wait_for_ack(again)
        await slack.adapter.wait_completed(2)
    finally:
        await handler.close_async()
    assert reply.params["channel"] == "D0DM" and "배송" in reply.params["text"]
    assert len(slack.posts()) == 1


# --- 👍 / 👎 ratings and the ticket after Take over / Resolve -----------------------------------


async def rate(slack: Slack, action_id: str, reply: Call, user: str = "U0CUSTOMER") -> None:
    """Click 👍 / 👎 on a posted answer as ``user`` and wait until the click is handled."""
    value = reply.params["blocks"][-1]["elements"][0]["value"]
    await click_value(slack, action_id, value, user, reply.params["channel"], reply.response["ts"])


async def click_value(
    slack: Slack, action_id: str, value: str, user: str, channel: str, message_ts: str
) -> None:
    payload = slack.fake.block_actions_payload(
        action_id, value, user=user, channel=channel, message_ts=message_ts
    )
    before = slack.adapter.completed
    body = interactive_body(payload)
    assert await slack.post_signed(body, signed_request_headers(body, SECRET)) == 200
    await slack.adapter.wait_completed(before + 1)


def rating_buttons(call: Call) -> list[tuple[str, str]]:
    actions = [b for b in call.params.get("blocks") or [] if b["type"] == "actions"]
    return [(e["action_id"], e["value"]) for a in actions for e in a["elements"]]


@pytest.mark.parametrize(
    ("text", "expect", "thanks"),
    [
        ("환불 요청하려면 어떻게 해야 하나요?", "환불", "감사합니다"),
        ("How do I request a refund?", "refund", "Thanks"),
    ],
)
async def test_answer_is_rated_down_then_up_against_its_entry(
    slack: Slack, text: str, expect: str, thanks: str
) -> None:
    await slack.deliver(dm(slack.fake, text))
    reply = await slack.post_no(1)
    # The event counts as handled only after its post; wait, so the clicks below count alone.
    await slack.adapter.wait_completed(1)
    assert expect in reply.params["text"].lower()
    assert expect in reply.params["blocks"][0]["text"]["text"].lower()
    buttons = rating_buttons(reply)
    assert [b[0] for b in buttons] == ["ondo_rate_up", "ondo_rate_down"]
    reply_id = buttons[0][1]
    assert reply_id.isdigit() and buttons[1][1] == reply_id
    store = slack.runtime.store
    [(entry_id,)] = store._db.execute(
        "SELECT i.entry_id FROM messages r JOIN messages i ON i.id = r.in_reply_to WHERE r.id = ?",
        [int(reply_id)],
    ).fetchall()
    assert entry_id

    await rate(slack, "ondo_rate_down", reply)
    assert await store.ratings_for(entry_id) == (0, 1)
    [thank] = slack.fake.calls_to("chat.postEphemeral")
    assert thank.params["user"] == "U0CUSTOMER" and thank.params["channel"] == "D0DM"
    assert thanks in thank.params["text"]

    await rate(slack, "ondo_rate_up", reply)  # the same user changes their mind
    assert await store.ratings_for(entry_id) == (1, 0)
    assert store._db.execute("SELECT COUNT(*) FROM ratings").fetchone() == (1,)
    assert len(slack.fake.calls_to("chat.postEphemeral")) == 2


@pytest.mark.parametrize(
    ("text", "not_yours"),
    [
        ("환불 요청하려면 어떻게 해야 하나요?", "질문하신 분만"),
        ("How do I request a refund?", "Only the person who asked"),
    ],
)
async def test_only_the_customer_who_asked_may_rate_an_answer_in_a_channel(
    slack: Slack, text: str, not_yours: str, caplog: pytest.LogCaptureFixture
) -> None:
    mention = f"<@{slack.fake.bot_user_id}> {text}"
    await slack.deliver(slack.fake.message_event(mention, channel="C0SUPPORT"))
    reply = await slack.post_no(1)
    await slack.adapter.wait_completed(1)
    assert rating_buttons(reply)
    store = slack.runtime.store
    await rate(slack, "ondo_rate_down", reply, user="U0BYSTANDER")
    assert store._db.execute("SELECT COUNT(*) FROM ratings").fetchone() == (0,)
    assert "not the asker" in caplog.text
    [refusal] = slack.fake.calls_to("chat.postEphemeral")
    assert refusal.params["user"] == "U0BYSTANDER" and not_yours in refusal.params["text"]
    await rate(slack, "ondo_rate_down", reply)  # the customer who asked
    assert store._db.execute("SELECT user, rating FROM ratings").fetchall() == [("U0CUSTOMER", -1)]


@pytest.mark.parametrize(
    "text",
    [
        "상담원 바꿔주세요",
        "I want to talk to a human agent right now",
        "화성 여행 패키지 있나요?",
        "Do you sell trips to Mars?",
    ],
)
async def test_handoff_notice_and_unsure_reply_carry_no_rating_buttons(
    slack: Slack, text: str
) -> None:
    await slack.deliver(dm(slack.fake, text))
    await slack.adapter.wait_completed(1)
    [reply] = slack.posts("D0DM")
    assert reply.params.get("blocks") is None and rating_buttons(reply) == []
    outcome_text = reply.params["text"]
    assert "상담원" in outcome_text or "person" in outcome_text or "agent" in outcome_text


@pytest.mark.parametrize("value", ["99999", "not-a-number"])
async def test_rating_an_unknown_reply_is_refused_gracefully(
    slack: Slack, value: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("WARNING", logger="ondo.slack"):
        await click_value(slack, "ondo_rate_down", value, "U0CUSTOMER", "D0DM", "1.000001")
    assert any("refused" in r.getMessage() and value in r.getMessage() for r in caplog.records)
    assert slack.runtime.store._db.execute("SELECT COUNT(*) FROM ratings").fetchone() == (0,)
    assert slack.fake.calls_to("chat.postEphemeral") == []
    # The app is still healthy afterwards.
    await slack.deliver(dm(slack.fake, "How do I request a refund?"))
    assert "refund" in (await slack.post_no(1)).params["text"].lower()


@pytest.mark.parametrize("text", ["상담원 바꿔주세요", "I want to talk to a human agent right now"])
async def test_take_over_and_resolve_update_the_ticket(slack: Slack, text: str) -> None:
    await slack.deliver(dm(slack.fake, text))
    await slack.adapter.wait_completed(1)
    [ticket] = slack.tickets()
    ts = ticket.response["ts"]
    number = ticket.params["blocks"][-1]["elements"][0]["value"]
    key = await slack.conversation_of(number)

    await slack.click("ondo_take", number, AGENT, ts)
    await slack.adapter.wait_completed(2)
    [taken] = slack.fake.calls_to("chat.update")
    assert (taken.params["channel"], taken.params["ts"]) == (AGENTS, ts)
    assert f"Taken by <@{AGENT}>" in json.dumps(taken.params["blocks"])
    assert rating_buttons(taken) == [("ondo_resolve", number)]
    assert taken.params["blocks"][0]["text"] == ticket.params["blocks"][0]["text"]  # summary

    await slack.click("ondo_resolve", number, AGENT, ts)
    await slack.adapter.wait_completed(3)
    [_, resolved] = slack.fake.calls_to("chat.update")
    assert f"Resolved by <@{AGENT}>" in json.dumps(resolved.params["blocks"])
    assert rating_buttons(resolved) == []
    assert slack.fake.messages[(AGENTS, ts)]["text"] == f"Resolved by <@{AGENT}>"
    assert await slack.state(key) == "bot"

    # A second Resolve finds nothing to resolve and leaves the ticket alone.
    await slack.click("ondo_resolve", number, AGENT, ts)
    await slack.adapter.wait_completed(4)
    assert len(slack.fake.calls_to("chat.update")) == 2


async def test_ticket_update_keeps_the_clicked_messages_blocks(slack: Slack) -> None:
    await slack.deliver(dm(slack.fake, "상담원 연결해 주세요"))
    await slack.adapter.wait_completed(1)
    [ticket] = slack.tickets()
    ts, number = ticket.response["ts"], ticket.params["blocks"][-1]["elements"][0]["value"]
    payload = slack.fake.block_actions_payload(
        "ondo_take", number, user=AGENT, channel=AGENTS, message_ts=ts
    )
    payload["message"]["blocks"] = ticket.params["blocks"]  # as real Slack sends it
    body = interactive_body(payload)
    assert await slack.post_signed(body, signed_request_headers(body, SECRET)) == 200
    await slack.adapter.wait_completed(2)
    [taken] = slack.fake.calls_to("chat.update")
    assert taken.params["blocks"][:2] == ticket.params["blocks"][:2]  # summary and context
    assert taken.params["blocks"][2]["elements"][0]["text"] == f"Taken by <@{AGENT}>"
    assert rating_buttons(taken) == [("ondo_resolve", number)]


# --- /ondo, agents' membership, and answers that could not be posted -----------------------


@pytest.mark.parametrize(
    ("text", "told"), [("상담원 바꿔주세요", "상담원"), ("Get me a human agent please", "agent")]
)
async def test_ondo_command_lists_takes_and_resolves_a_handoff(
    slack: Slack, text: str, told: str
) -> None:
    ask = dm(slack.fake, text)
    await slack.deliver(ask)
    await slack.adapter.wait_completed(1)
    [ticket] = slack.tickets()
    key = await slack.conversation_of(ticket.params["blocks"][-1]["elements"][0]["value"])
    number = next(iter(await slack.runtime.store.open_handoffs())).id

    assert await slack.command("list") == 200
    [listing] = slack.fake.calls_to("chat.postEphemeral")
    assert f"#{number}" in listing.params["text"] and "waiting" in listing.params["text"]
    assert listing.params["user"] == AGENT

    await slack.command(f"take #{number}")
    assert await slack.state(key) == "human"
    assert f"Taken by <@{AGENT}>" in json.dumps(slack.fake.calls_to("chat.update")[-1].params)
    await slack.command("list")
    assert f"taken by <@{AGENT}>" in slack.fake.calls_to("chat.postEphemeral")[-1].params["text"]

    await slack.command(f"resolve {number}")
    assert await slack.state(key) == "bot"
    back = slack.posts("D0DM")[-1]
    assert back.params.get("thread_ts") is None and told in back.params["text"]
    # The ticket's thread tells the other agents, and the ticket loses its buttons.
    assert slack.posts(AGENTS)[-1].params["thread_ts"] == ticket.response["ts"]
    assert rating_buttons(slack.fake.calls_to("chat.update")[-1]) == []
    await slack.command("list")
    assert slack.fake.calls_to("chat.postEphemeral")[-1].params["text"] == "No open handoffs."


async def test_ondo_command_refuses_strangers_and_explains_itself(
    slack: Slack, caplog: pytest.LogCaptureFixture
) -> None:
    await slack.deliver(dm(slack.fake, "I want to talk to a human agent right now"))
    await slack.adapter.wait_completed(1)
    [ticket] = await slack.runtime.store.open_handoffs()
    with caplog.at_level("WARNING", logger="ondo.slack"):
        await slack.command(f"resolve {ticket.id}", user="U0STRANGER", channel="C0RANDOM")
    [refusal] = slack.fake.calls_to("chat.postEphemeral")
    assert refusal.params["user"] == "U0STRANGER" and "Only members" in refusal.params["text"]
    assert any("U0STRANGER" in r.getMessage() for r in caplog.records)
    assert await slack.state(ticket.conversation_key) == "waiting_human"

    for text, expect in [("", "Usage"), ("dance", "Usage"), ("resolve 999", "No handoff #999")]:
        await slack.command(text)
        assert expect in slack.fake.calls_to("chat.postEphemeral")[-1].params["text"]
    assert await slack.state(ticket.conversation_key) == "waiting_human"


async def test_a_non_member_writing_in_a_ticket_thread_is_not_relayed(
    slack: Slack, caplog: pytest.LogCaptureFixture
) -> None:
    await slack.deliver(dm(slack.fake, "상담원 연결해 주세요"))
    await slack.adapter.wait_completed(1)
    [ticket] = slack.tickets()
    intruder = slack.fake.message_event(
        "I am not an agent", user="U0STRANGER", channel=AGENTS, thread_ts=ticket.response["ts"]
    )
    with caplog.at_level("WARNING", logger="ondo.slack"):
        await slack.deliver(intruder)
        await slack.adapter.wait_completed(2)
    assert len(slack.posts("D0DM")) == 1  # only the handoff notice
    assert any("not relayed" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    ("text", "expect"),
    [("환불 요청하려면 어떻게 해야 하나요?", "환불"), ("How do I request a refund?", "refund")],
)
async def test_an_answer_slack_refused_is_posted_by_recovery_once(
    slack: Slack, text: str, expect: str, caplog: pytest.LogCaptureFixture
) -> None:
    # Slack has the event acknowledged, then refuses the post even after the SDK's retries.
    slack.fake.fail_next("chat.postMessage", status=500, times=3)
    event = dm(slack.fake, text)
    with caplog.at_level("ERROR", logger="ondo.slack"):
        await slack.deliver(event)
        await slack.adapter.wait_completed(1)
    assert any("recovery will retry" in r.getMessage() for r in caplog.records)
    assert all(c.status == 500 for c in slack.posts())

    assert await slack.router.recover() == 1
    answered = [c for c in slack.posts() if c.status == 200]
    assert len(answered) == 1 and expect in answered[0].params["text"].lower()
    assert answered[0].params.get("thread_ts") is None  # the DM's top level, as live
    # Neither another sweep nor Slack's own retry of the event posts it again.
    assert await slack.router.recover() == 0
    await slack.deliver(event, retry=1)
    await slack.adapter.wait_completed(2)
    assert len([c for c in slack.posts() if c.status == 200]) == 1


async def test_recovery_after_a_restart_answers_what_the_dead_process_left(
    fake: FakeSlack, sample_runtime_factory: Callable[..., Runtime]
) -> None:
    runtime = sample_runtime_factory(**slack_settings(fake))
    async with running_slack(fake, runtime) as first:
        fake.fail_next("chat.postMessage", status=500, times=3)
        await first.deliver(dm(fake, "배송 조회는 어디서 하나요?"))
        await first.adapter.wait_completed(1)
    # A new process on the same database (its router starts with a sweep).
    async with running_slack(fake, runtime) as second:
        assert await second.router.recover() == 1
    [answer] = [c for c in fake.calls_to("chat.postMessage") if c.status == 200]
    assert "배송" in answer.params["text"]


async def test_a_ticket_slack_refused_is_posted_by_recovery(slack: Slack) -> None:
    slack.fake.fail_next("chat.postMessage", error="not_in_channel", channel=AGENTS)
    await slack.deliver(dm(slack.fake, "I want to talk to a human agent right now"))
    await slack.adapter.wait_completed(1)
    await slack.router.recover()
    tickets = [c for c in slack.tickets() if c.status == 200 and c.response.get("ok")]
    assert len(tickets) == 1
    [handoff] = await slack.runtime.store.open_handoffs()
    assert handoff.thread_ref == f"slack:{AGENTS}:{tickets[0].response['ts']}"
    await slack.router.recover()
    assert len([c for c in slack.tickets() if c.response.get("ok")]) == 1


@pytest.mark.parametrize(
    "text", ["상담원 연결해 주세요", "I want to talk to a human agent right now"]
)
async def test_a_handoff_notice_slack_refused_is_sent_by_recovery(slack: Slack, text: str) -> None:
    # The customer must always be told a person is coming: a failed notice undoes the handoff,
    # and recovery hands over again, with one notice and one ticket.
    slack.fake.fail_next("chat.postMessage", error="fatal_error", channel="D0DM")
    await slack.deliver(dm(slack.fake, text))
    await slack.adapter.wait_completed(1)
    assert [c for c in slack.posts() if c.response.get("ok")] == []
    assert await slack.runtime.store.open_handoffs() == []

    assert await slack.router.recover() == 1
    [notice] = [c for c in slack.posts("D0DM") if c.response.get("ok")]
    assert "상담원" in notice.params["text"] or "agent" in notice.params["text"]
    assert len([c for c in slack.tickets() if c.response.get("ok")]) == 1
    [handoff] = await slack.runtime.store.open_handoffs()
    assert await slack.state(handoff.conversation_key) == "waiting_human"


async def test_a_stale_signature_is_rejected(slack: Slack) -> None:
    body = json.dumps(slack.fake.event_callback(dm(slack.fake, "환불 되나요?"))).encode()
    stale = signed_request_headers(body, SECRET, timestamp=int(time.time()) - 60 * 10)
    assert await slack.post_signed(body, stale) == 401
    assert slack.fake.calls == [] and slack.adapter.completed == 0


@pytest.mark.parametrize("text", ["배송 조회는 어디서 하나요?", "Where can I track my order?"])
async def test_two_processes_sharing_the_database_answer_a_retry_once(
    fake: FakeSlack, sample_runtime_factory: Callable[..., Runtime], tmp_path: Path, text: str
) -> None:
    # Two app instances (each with its own connection to one SQLite file) behind a balancer:
    # Slack's retry lands on the other one.
    shared = tmp_path / "shared.db"
    first_runtime = sample_runtime_factory(db=shared, **slack_settings(fake))
    second_runtime = sample_runtime_factory(db=shared, **slack_settings(fake))
    event = dm(fake, text)
    async with (
        running_slack(fake, first_runtime) as first,
        running_slack(fake, second_runtime) as second,
    ):
        await asyncio.gather(first.deliver(event), second.deliver(event, retry=1))
        await first.adapter.wait_completed(1)
        await second.adapter.wait_completed(1)
        await second.deliver(event, retry=2)
        await second.adapter.wait_completed(2)
    assert len(fake.calls_to("chat.postMessage")) == 1


@pytest.mark.parametrize(
    ("text", "crash_after_post"),
    [
        ("배송 조회는 어디서 하나요?", True),
        ("Where can I track my order?", True),
        ("Where can I track my order?", False),
    ],
)
async def test_a_reply_cut_off_by_a_crash_is_posted_exactly_once(
    slack: Slack, text: str, crash_after_post: bool
) -> None:
    event = dm(slack.fake, text)
    await slack.deliver(event)
    await slack.adapter.wait_completed(1)
    [answer] = [c for c in slack.posts() if c.status == 200]
    metadata = answer.params["metadata"]
    assert metadata["event_type"] == "ondo_reply"
    store = slack.runtime.store
    # The process died after recording the reply: with Slack already holding the post, or
    # before posting it (then its message is gone from Slack's side).
    if not crash_after_post:
        del slack.fake.messages[(answer.params["channel"], answer.response["ts"])]
    store._db.execute(
        "UPDATE messages SET platform_message_id = NULL WHERE direction = 'out' AND role = 'bot'"
    )
    store._db.execute(
        "UPDATE messages SET handled_at = NULL, claimed_at = 0 WHERE direction = 'in'"
    )
    store._db.conn.commit()
    assert await slack.router.recover() == 1
    posts = [c for c in slack.posts() if c.status == 200]
    assert len(posts) == (1 if crash_after_post else 2)
    assert [c.params["metadata"] for c in posts] == [metadata] * len(posts)
    # Answered at the DM's top level: its newest messages are read, not a thread.
    reads = slack.fake.calls_to("conversations.history")
    assert len(reads) == 1 and reads[0].params["channel"] == event["channel"]
    assert await slack.router.recover() == 0


@pytest.mark.parametrize("text", ["환불은 어떻게 하나요?", "How do I get a refund?"])
async def test_a_message_is_recorded_before_slack_gets_its_ack(
    slack: Slack, monkeypatch: pytest.MonkeyPatch, text: str
) -> None:
    # Slack does not redeliver an acknowledged event: if the message cannot be recorded, the
    # ack must not go out, so that Slack retries it.
    store = slack.runtime.store
    record = store.record_inbound
    failures = [sqlite3.OperationalError("database is locked")]

    async def locked_once(message: Message, role: str = "customer") -> Inbound:
        if failures:
            raise failures.pop()
        return await record(message, role)

    monkeypatch.setattr(store, "record_inbound", locked_once)
    event = dm(slack.fake, text)
    assert await slack.deliver(event) != 200
    assert await store.unfinished_inbound(since=0, max_attempts=9, platforms=["slack"]) == []
    assert await slack.deliver(event, retry=1) == 200
    await slack.adapter.wait_completed(1)
    [answer] = [c for c in slack.posts() if c.status == 200]
    assert "환불" in answer.params["text"] or "refund" in answer.params["text"].lower()
