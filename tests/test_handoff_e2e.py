"""An agent acts on a handoff in one read and sends the suggested reply with one click: end to
end through the real slack-bolt / discord.py against the fake platforms, in Korean and English.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import pytest_asyncio

from bot.app import Runtime
from bot.conversation.drafting import DRAFT_TEXTS
from bot.conversation.ticket_buttons import handoff_value
from tests.discord_harness import Discord, discord_settings, fake_discord, running_discord
from tests.fakes.discord_gateway import FakeDiscord
from tests.fakes.slack_api import Call
from tests.slack_harness import (
    AGENT,
    AGENTS,
    DM,
    Slack,
    dm,
    dm_conversation,
    fake_slack,
    running_slack,
    slack_settings,
)

ORDER = "ORD-20261120-0042"
PHONE = "010-2345-6789"
CASES = [
    pytest.param(
        "ko",
        f"주문번호 {ORDER} 배송이 아직 안 왔어요. 연락처는 {PHONE}예요",
        "일주일째 안 오는데 진짜 화나네요. 당장 환불해 주세요!",
        ("감정 변화", "권장 처리 단계", "주문번호"),
        "고객님, 주문 확인했고 오늘 안에 다시 연락드리겠습니다.",
        id="ko",
    ),
    pytest.param(
        "en",
        f"My order {ORDER} hasn't arrived yet. Call me at {PHONE}",
        "This is ridiculous, a whole week and still nothing. I'm furious, refund me now!",
        ("Emotion over the conversation", "Suggested steps", "Order numbers"),
        "I've found your order and will get back to you today.",
        id="en",
    ),
]
PARAMS = ("language", "first", "angry", "labels", "edited")


def _checks_summary(text: str, labels: tuple[str, ...]) -> None:
    trend, steps, orders = labels
    assert f"{orders}: {ORDER}" in text  # shown as-is: the agent needs it
    assert PHONE not in text  # redacted
    assert trend in text and "→ angry" in text
    assert steps in text and "refund-not-received" in text


# --- Slack -------------------------------------------------------------------------------


@pytest_asyncio.fixture
async def slack(sample_runtime_factory: Callable[..., Runtime]) -> AsyncIterator[Slack]:
    async with fake_slack() as fake:
        runtime = sample_runtime_factory(**slack_settings(fake))
        async with running_slack(fake, runtime) as running:
            yield running


async def _slack_handoff(slack: Slack, first: str, angry: str) -> tuple[str, str, Call, Call, int]:
    """The customer asks, then gets angry: ``(key, customer ts, ticket, suggestion, id)``."""
    ask = dm(slack.fake, first)
    await slack.deliver(ask)
    await slack.adapter.wait_completed(1)
    await slack.deliver(dm(slack.fake, angry, thread_ts=ask["ts"]))
    await slack.adapter.wait_completed(2)
    key = dm_conversation(slack.fake)
    assert await slack.state(key) == "waiting_human"
    [ticket] = slack.tickets()
    [suggestion] = [
        c for c in slack.posts(AGENTS) if c.params.get("thread_ts") == ticket.response["ts"]
    ]
    handoff = await slack.runtime.store.current_handoff(key)
    assert handoff is not None
    return key, ask["ts"], ticket, suggestion, handoff.id


async def _value(slack: Slack, handoff_id: int) -> str:
    """What handoff ``handoff_id``'s buttons carry (its number and token)."""
    handoff = await slack.runtime.store.handoff_by_id(handoff_id)
    assert handoff is not None
    return handoff_value(handoff)


async def _click(slack: Slack, action: str, handoff_id: int, user: str, on: Call) -> None:
    before = slack.adapter.completed
    value = await _value(slack, handoff_id)
    assert await slack.click(action, value, user, on.response["ts"]) == 200
    await slack.adapter.wait_completed(before + 1)


def _customer_texts(slack: Slack) -> list[str]:
    return [str(c.params["text"]) for c in slack.posts("D0DM") if c.response.get("ok")]


@pytest.mark.parametrize(PARAMS, CASES)
async def test_slack_ticket_reads_in_one_go_and_send_delivers_the_draft_once(
    slack: Slack, language: str, first: str, angry: str, labels: tuple[str, ...], edited: str
) -> None:
    fake, store = slack.fake, slack.runtime.store
    key, _, ticket, suggestion, handoff_id = await _slack_handoff(slack, first, angry)
    _checks_summary(json.dumps(ticket.params["blocks"], ensure_ascii=False), labels)
    assert [(b["action_id"], b["value"]) for b in ticket.params["blocks"][-1]["elements"]] == [
        ("ondo_take", await _value(slack, handoff_id)),
        ("ondo_resolve", await _value(slack, handoff_id)),
    ]
    draft = await store.suggestion_of(handoff_id)
    assert draft is not None and DRAFT_TEXTS["greeting"][language] in draft  # type: ignore[index]
    assert PHONE not in draft
    buttons = suggestion.params["blocks"][-1]["elements"]
    assert [(b["action_id"], b["value"]) for b in buttons] == [
        ("ondo_suggest_send", await _value(slack, handoff_id)),
        ("ondo_suggest_edit", await _value(slack, handoff_id)),
    ]
    told = len(_customer_texts(slack))

    # Somebody outside the agents' channel cannot send it.
    await _click(slack, "ondo_suggest_send", handoff_id, "U0STRANGER", suggestion)
    [refusal] = fake.calls_to("chat.postEphemeral")
    assert refusal.params["user"] == "U0STRANGER"
    assert len(_customer_texts(slack)) == told

    # The agent clicks Send twice: the customer gets the draft once, at the DM's top level
    # (a relay has only the conversation's key, and the DM is one conversation).
    await _click(slack, "ondo_suggest_send", handoff_id, AGENT, suggestion)
    await _click(slack, "ondo_suggest_send", handoff_id, AGENT, suggestion)
    sent = [c for c in slack.posts("D0DM") if c.params["text"] == draft]
    assert len(sent) == 1 and sent[0].params.get("thread_ts") is None
    assert len(_customer_texts(slack)) == told + 1
    assert await slack.state(key) == "human"  # sending took the conversation over
    assert "already sent" in fake.calls_to("chat.postEphemeral")[-1].params["text"]
    updates = {c.params["ts"]: json.dumps(c.params["blocks"]) for c in fake.calls_to("chat.update")}
    assert f"Sent to the customer by <@{AGENT}>" in updates[suggestion.response["ts"]]
    assert f"Taken by <@{AGENT}>" in updates[ticket.response["ts"]]


@pytest.mark.parametrize(PARAMS, CASES)
async def test_slack_edit_opens_the_draft_and_sends_the_edited_text(
    slack: Slack, language: str, first: str, angry: str, labels: tuple[str, ...], edited: str
) -> None:
    fake = slack.fake
    key, _, _, suggestion, handoff_id = await _slack_handoff(slack, first, angry)
    draft = await slack.runtime.store.suggestion_of(handoff_id)

    await _click(slack, "ondo_suggest_edit", handoff_id, AGENT, suggestion)
    [opened] = fake.calls_to("views.open")
    view: dict[str, Any] = opened.response["view"]
    assert view["blocks"][0]["element"]["initial_value"] == draft
    before = slack.adapter.completed
    assert await slack.submit_view(view, edited) == 200
    await slack.adapter.wait_completed(before + 1)
    assert [c.params.get("thread_ts") for c in slack.posts(DM) if c.params["text"] == edited] == [
        None
    ]
    assert draft not in _customer_texts(slack)
    assert await slack.state(key) == "human"

    # The suggestion of a handoff is sent once: a later Send is refused.
    await _click(slack, "ondo_suggest_send", handoff_id, AGENT, suggestion)
    assert draft not in _customer_texts(slack)


@pytest.mark.parametrize(PARAMS, CASES)
async def test_slack_clicks_on_a_resolved_handoff_are_refused(
    slack: Slack, language: str, first: str, angry: str, labels: tuple[str, ...], edited: str
) -> None:
    key, _, ticket, suggestion, handoff_id = await _slack_handoff(slack, first, angry)
    await _click(slack, "ondo_resolve", handoff_id, AGENT, ticket)
    assert await slack.state(key) == "bot"
    told = len(_customer_texts(slack))
    for action in ("ondo_suggest_send", "ondo_suggest_edit", "ondo_take", "ondo_resolve"):
        await _click(slack, action, handoff_id, AGENT, suggestion)
        assert "closed" in slack.fake.calls_to("chat.postEphemeral")[-1].params["text"]
    assert len(_customer_texts(slack)) == told
    assert slack.fake.calls_to("views.open") == []
    assert await slack.state(key) == "bot"


async def test_slack_english_agents_get_an_english_line_for_a_korean_customer(
    sample_runtime_factory: Callable[..., Runtime],
) -> None:
    first, angry = CASES[0].values[1], CASES[0].values[2]
    async with fake_slack() as fake:
        runtime = sample_runtime_factory(**slack_settings(fake), agent_language="en")
        async with running_slack(fake, runtime) as slack:
            _, _, ticket, _, handoff_id = await _slack_handoff(slack, str(first), str(angry))
    text = json.dumps(ticket.params["blocks"], ensure_ascii=False)
    assert "[EN] Reason: the customer is angry" in text
    assert f"Order numbers: {ORDER}" in text and "refund-not-received" in text
    stored = await runtime.store.handoff_by_id(handoff_id)
    assert stored is not None and "[EN] " in stored.summary


# --- Discord -----------------------------------------------------------------------------


@pytest_asyncio.fixture
async def fake_d() -> AsyncIterator[FakeDiscord]:
    async with fake_discord() as server:
        yield server


@pytest_asyncio.fixture
async def discord(
    fake_d: FakeDiscord, sample_runtime_factory: Callable[..., Runtime]
) -> AsyncIterator[Discord]:
    runtime = sample_runtime_factory(**discord_settings(fake_d))
    async with running_discord(fake_d, runtime) as running:
        yield running


async def _discord_handoff(discord: Discord, first: str, angry: str) -> tuple[str, int, int, int]:
    """The customer asks, then gets angry: ``(key, customer thread, ticket thread,
    suggestion message id)``."""
    asked = await discord.say(first)
    thread, key = int(asked["id"]), discord.key(asked)
    await discord.say(angry, channel=thread)
    assert await discord.state(key) == "waiting_human"
    [ticket] = discord.threads_opened(discord.fake.staff_channel_id)
    handoff = await discord.runtime.store.current_handoff(key)
    assert handoff is not None
    [suggestion] = [
        int(m["id"])
        for m in discord.fake.messages.values()
        if m["channel_id"] == str(ticket)
        and f"ondo:suggest:{handoff_value(handoff)}" in json.dumps(m.get("components"))
    ]
    return key, thread, ticket, suggestion


@pytest.mark.parametrize(PARAMS, CASES)
async def test_discord_ticket_reads_in_one_go_and_send_delivers_the_draft_once(
    discord: Discord, language: str, first: str, angry: str, labels: tuple[str, ...], edited: str
) -> None:
    fake = discord.fake
    key, thread, ticket, suggestion = await _discord_handoff(discord, first, angry)
    handoff = await discord.runtime.store.current_handoff(key)
    assert handoff is not None
    _checks_summary(
        "\n".join([*discord.texts(fake.staff_channel_id), *discord.texts(ticket)]), labels
    )
    draft = await discord.runtime.store.suggestion_of(handoff.id)
    assert draft is not None and PHONE not in draft
    [row] = fake.messages[suggestion]["components"]
    assert [b["custom_id"] for b in row["components"]] == [
        f"ondo:suggest:{handoff_value(handoff)}",
        f"ondo:edit:{handoff_value(handoff)}",
    ]
    told = len(discord.posts(thread))

    # The customer cannot click it (no staff role): refused privately.
    refused = await discord.click(
        suggestion, f"ondo:suggest:{handoff_value(handoff)}", fake.customer_id
    )
    assert refused.body["type"] == 4 and refused.body["data"]["flags"] == 64
    assert len(discord.posts(thread)) == told

    # Staff click Send twice: the customer gets the draft once.
    first_click = await discord.click(suggestion, f"ondo:suggest:{handoff_value(handoff)}")
    assert first_click.body["type"] == 7  # the suggestion now shows what was sent, no buttons
    assert first_click.body["data"]["components"] == []
    assert f"Sent to the customer by <@{fake.staff_id}>" in first_click.body["data"]["content"]
    again = await discord.click(suggestion, f"ondo:suggest:{handoff_value(handoff)}")
    assert "already sent" in again.body["data"]["content"]
    assert discord.texts(thread).count(draft) == 1
    assert len(discord.posts(thread)) == told + 1
    assert await discord.state(key) == "human"
    assert f"Taken by <@{fake.staff_id}>" in discord.edits(ticket)[-1].body["content"]
    discord.assert_nobody_pinged()


@pytest.mark.parametrize(PARAMS, CASES)
async def test_discord_edit_opens_a_modal_and_its_submission_sends(
    discord: Discord, language: str, first: str, angry: str, labels: tuple[str, ...], edited: str
) -> None:
    key, thread, _, suggestion = await _discord_handoff(discord, first, angry)
    handoff = await discord.runtime.store.current_handoff(key)
    assert handoff is not None
    draft = await discord.runtime.store.suggestion_of(handoff.id)

    opened = await discord.click(suggestion, f"ondo:edit:{handoff_value(handoff)}")
    assert opened.body["type"] == 9
    modal = opened.body["data"]
    assert modal["custom_id"] == f"ondo:edited:{handoff_value(handoff)}"
    [text_input] = [c for row in modal["components"] for c in row["components"]]
    assert text_input["style"] == 2 and text_input["value"] == draft  # paragraph, prefilled

    submitted = await discord.submit_modal(
        suggestion, f"ondo:edited:{handoff_value(handoff)}", edited
    )
    assert submitted.body["type"] == 7
    assert discord.texts(thread)[-1] == edited
    assert draft not in discord.texts(thread)
    assert await discord.state(key) == "human"

    # A resolved handoff's suggestion cannot be sent any more.
    await discord.click(
        int(handoff.thread_ref.removeprefix("discord:")), f"ondo:resolve:{handoff_value(handoff)}"
    )  # type: ignore[union-attr]
    late = await discord.click(suggestion, f"ondo:suggest:{handoff_value(handoff)}")
    assert "closed" in late.body["data"]["content"]
    assert draft not in discord.texts(thread)
