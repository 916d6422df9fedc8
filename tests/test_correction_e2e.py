"""The correction loop end to end through the fake platforms (real slack-bolt / discord.py):
an answer marked wrong -> review -> approval -> the customer asking again gets the right
answer, without a restart; a customer's 👎 -> the queue; the unauthorized are refused."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import pytest_asyncio

from adapters.discord.review import ADMINS_ONLY as DISCORD_ADMINS_ONLY
from adapters.discord.review import MARK_WRONG_COMMAND
from adapters.discord.review import NOT_YOURS as DISCORD_NOT_YOURS
from adapters.discord.review import RATING_THANKS as DISCORD_THANKS
from adapters.discord.review import STAFF_ONLY as DISCORD_STAFF_ONLY
from adapters.slack.review import (
    ADMINS_ONLY,
    AGENTS_ONLY,
    ANSWER_ACTION,
    APPROVE_NEW_ACTION,
    CORRECTION_VIEW,
    MARK_WRONG_SHORTCUT,
    REJECT_ACTION,
)
from bot.app import Runtime
from bot.corrections.loop import Corrections
from tests.discord_harness import Discord, discord_settings, fake_discord, running_discord
from tests.fakes.discord_gateway import RestCall
from tests.fakes.slack_api import Call, interactive_body, signed_request_headers
from tests.slack_harness import AGENT, AGENTS, SECRET, Slack, dm, fake_slack, running_slack
from tests.slack_harness import slack_settings as base_slack_settings
from tests.test_corrections import STALE_ANSWER, WRONG_MATCH

SLACK_ADMIN = "U0ADMIN"
STRANGER = "U0STRANGER"


# --- Slack -------------------------------------------------------------------------------------


@pytest_asyncio.fixture
async def slack(sample_runtime_factory: Callable[..., Runtime]) -> AsyncIterator[Slack]:
    async with fake_slack() as fake:
        settings = base_slack_settings(fake) | {"admins": frozenset({f"slack:{SLACK_ADMIN}"})}
        runtime = sample_runtime_factory(**settings)
        async with running_slack(fake, runtime) as running:
            yield running


async def interact(slack: Slack, payload: dict[str, Any]) -> None:
    """Deliver an interactivity payload and wait until Ondo has handled it."""
    before = slack.adapter.completed
    body = interactive_body(payload)
    assert await slack.post_signed(body, signed_request_headers(body, SECRET)) == 200
    await slack.adapter.wait_completed(before + 1)


async def customer_asks(slack: Slack, text: str) -> Call:
    """The customer DMs ``text``; returns Ondo's answer once the event is fully handled."""
    before, posts = slack.adapter.completed, len(slack.posts("D0DM"))
    await slack.deliver(dm(slack.fake, text))
    await slack.adapter.wait_completed(before + 1)
    return await slack.post_no(posts + 1, "D0DM")


def ephemerals(slack: Slack, user: str) -> list[str]:
    return [
        str(c.params["text"])
        for c in slack.fake.calls_to("chat.postEphemeral")
        if c.params["user"] == user
    ]


def buttons(call: Call) -> dict[str, str]:
    blocks = call.params.get("blocks") or []
    if isinstance(blocks, str):  # form-encoded calls carry blocks as JSON
        blocks = json.loads(blocks)
    return {
        e["action_id"]: e["value"] for b in blocks if b["type"] == "actions" for e in b["elements"]
    }


async def click(slack: Slack, card: Call, action_id: str, user: str) -> None:
    payload = slack.fake.block_actions_payload(
        action_id,
        buttons(card)[action_id],
        user=user,
        channel=str(card.params["channel"]),
        message_ts=str(card.response["ts"]),
    )
    await interact(slack, payload)


@pytest.mark.parametrize("language", ["ko", "en"])
async def test_slack_agent_marks_wrong_admin_approves_customer_gets_the_right_answer(
    slack: Slack, language: str, caplog: pytest.LogCaptureFixture
) -> None:
    question, _, right = WRONG_MATCH[language]
    answer = await customer_asks(slack, question)
    assert right not in answer.params["text"]
    message = slack.fake.messages[("D0DM", str(answer.response["ts"]))]

    # Somebody who is no agent cannot even open the modal.
    with caplog.at_level(logging.WARNING, "ondo.slack"):
        await interact(
            slack,
            slack.fake.message_action_payload(
                MARK_WRONG_SHORTCUT, message, channel="D0DM", user=STRANGER
            ),
        )
    assert ephemerals(slack, STRANGER) == [AGENTS_ONLY]
    assert "mark as wrong by U0STRANGER refused" in caplog.text
    assert slack.fake.calls_to("views.open") == []

    # The agent marks it wrong and writes the right answer in the modal.
    shortcut = slack.fake.message_action_payload(
        MARK_WRONG_SHORTCUT, message, channel="D0DM", user=AGENT
    )
    await interact(slack, shortcut)
    [opened] = slack.fake.calls_to("views.open")
    view = opened.response["view"]
    assert view["callback_id"] == CORRECTION_VIEW
    assert question in view["blocks"][0]["text"]["text"]
    await interact(slack, slack.fake.view_submission_payload(view, {"answer": {"answer": right}}))
    assert any("waits for an admin's review" in t for t in ephemerals(slack, AGENT))
    [card] = slack.posts(AGENTS)
    assert question in card.params["blocks"][0]["text"]["text"]
    assert set(buttons(card)) >= {APPROVE_NEW_ACTION, REJECT_ACTION}

    # /ondo review lists it for agents; an agent who is no admin cannot approve.
    await slack.command("review", user=AGENT)
    listed = slack.fake.calls_to("chat.postEphemeral")[-1]
    assert APPROVE_NEW_ACTION in buttons(listed)
    with caplog.at_level(logging.WARNING, "ondo.slack"):
        await click(slack, card, APPROVE_NEW_ACTION, AGENT)
    assert ephemerals(slack, AGENT)[-1] == ADMINS_ONLY
    assert "not an admin" in caplog.text
    assert len(await Corrections(slack.runtime.store).pending()) == 1

    # The admin approves on the card: the card says so, and the running bot answers anew.
    await click(slack, card, APPROVE_NEW_ACTION, SLACK_ADMIN)
    [update] = slack.fake.calls_to("chat.update")
    assert update.params["ts"] == card.response["ts"] and "approved by" in update.params["text"]
    again = await customer_asks(slack, question)
    assert right in again.params["text"]


@pytest.mark.parametrize("language", ["ko", "en"])
async def test_slack_customer_thumbs_down_queues_once_and_admin_approves_by_command(
    slack: Slack, language: str
) -> None:
    question, entry_id, right = STALE_ANSWER[language]
    answer = await customer_asks(slack, question)
    rate_down = slack.fake.block_actions_payload(
        "ondo_rate_down",
        buttons(answer)["ondo_rate_down"],
        user="U0CUSTOMER",
        channel="D0DM",
        message_ts=str(answer.response["ts"]),
    )
    await interact(slack, rate_down)
    await interact(slack, rate_down | {"trigger_id": "2.2.again"})  # clicked twice
    [card] = slack.posts(AGENTS)
    assert "customer 👎" in card.params["blocks"][0]["text"]["text"]
    assert set(buttons(card)) == {ANSWER_ACTION, REJECT_ACTION}  # no answer to approve yet
    [pending] = await Corrections(slack.runtime.store).pending()
    assert pending.entry_id == entry_id

    await slack.command(f"review approve {pending.id} --update", user=SLACK_ADMIN)
    assert "no proposed answer" in ephemerals(slack, SLACK_ADMIN)[-1]
    await slack.command(f"review approve {pending.id} --update {right}", user=SLACK_ADMIN)
    assert f"entry `{entry_id}` updated" in ephemerals(slack, SLACK_ADMIN)[-1]
    again = await customer_asks(slack, question)
    assert right in again.params["text"]


async def test_slack_typed_review_is_refused_to_non_admins(
    slack: Slack, caplog: pytest.LogCaptureFixture
) -> None:
    answer = await customer_asks(slack, WRONG_MATCH["en"][0])
    reply_id = int(buttons(answer)["ondo_rate_down"])
    correction = await Corrections(slack.runtime.store).mark_wrong(reply_id, "No.", "slack:x")
    with caplog.at_level(logging.WARNING, "ondo.slack"):
        await slack.command(f"review reject {correction.id}", user=AGENT)
        await slack.command("review", user=STRANGER, channel="C0SUPPORT")
    assert ephemerals(slack, AGENT)[-1] == ADMINS_ONLY
    assert ephemerals(slack, STRANGER)[-1] == AGENTS_ONLY
    assert "reject of correction #" in caplog.text and "/ondo review by U0STRANGER" in caplog.text
    await slack.command(f"review reject {correction.id}", user=SLACK_ADMIN)
    assert "rejected" in ephemerals(slack, SLACK_ADMIN)[-1]
    assert await Corrections(slack.runtime.store).pending() == []


# --- Discord -----------------------------------------------------------------------------------


@pytest_asyncio.fixture
async def discord(sample_runtime_factory: Callable[..., Runtime]) -> AsyncIterator[Discord]:
    async with fake_discord() as fake:
        admins = frozenset({f"discord:{fake.owner_id}"})
        runtime = sample_runtime_factory(**discord_settings(fake), admins=admins)
        async with running_discord(fake, runtime) as running:
            yield running


async def discord_interact(discord: Discord, data: dict[str, Any]) -> RestCall:
    """Dispatch an INTERACTION_CREATE, wait until Ondo has handled it; return its callback."""
    before = discord.adapter.completed
    assert await discord.fake.dispatch("INTERACTION_CREATE", data) == 1
    await discord.adapter.wait_completed(before + 1, 30)
    [callback] = [
        c for c in discord.fake.calls if c.path.startswith(f"/interactions/{data['id']}/")
    ]
    return callback


async def discord_asks(discord: Discord, text: str) -> dict[str, Any]:
    """The customer asks in #support; returns Ondo's answer as the fake stores it."""
    asked = await discord.say(text)
    thread = int(asked["id"])
    await discord.post_no(1, thread)
    [answer] = [
        m
        for m in discord.fake.messages.values()
        if m["channel_id"] == str(thread) and m["author"]["id"] == str(discord.fake.bot_id)
    ]
    return answer


def custom_ids(message: dict[str, Any]) -> list[str]:
    return [c["custom_id"] for row in message.get("components") or [] for c in row["components"]]


def staff_cards(discord: Discord) -> list[dict[str, Any]]:
    staff = str(discord.fake.staff_channel_id)
    return [m for m in discord.fake.messages.values() if m["channel_id"] == staff]


def private(callback: RestCall) -> str:
    assert callback.body["type"] == 4 and callback.body["data"]["flags"] == 64, callback.body
    return str(callback.body["data"]["content"])


@pytest.mark.parametrize("language", ["ko", "en"])
async def test_discord_staff_marks_wrong_admin_approves_customer_gets_the_right_answer(
    discord: Discord, language: str, caplog: pytest.LogCaptureFixture
) -> None:
    fake = discord.fake
    question, _, right = WRONG_MATCH[language]
    assert MARK_WRONG_COMMAND in fake.commands  # registered on connect (beside /ondo)
    answer = await discord_asks(discord, question)
    assert right not in answer["content"]
    answer_id = int(answer["id"])

    with caplog.at_level(logging.WARNING, "ondo.discord"):
        refused = await discord_interact(
            discord,
            fake.message_command_create(answer_id, MARK_WRONG_COMMAND, user_id=fake.customer_id),
        )
    assert private(refused) == DISCORD_STAFF_ONLY
    assert f"mark as wrong by {fake.customer_id} refused" in caplog.text

    opened = await discord_interact(
        discord, fake.message_command_create(answer_id, MARK_WRONG_COMMAND)
    )
    assert opened.body["type"] == 9
    modal_id = opened.body["data"]["custom_id"]
    assert modal_id.startswith("ondo:fix:")
    thanks = await discord_interact(
        discord, fake.modal_submit_create(answer_id, modal_id, {"answer": right})
    )
    assert "waits for an admin's review" in private(thanks)
    [card] = staff_cards(discord)
    assert question in card["content"]
    approve = next(c for c in custom_ids(card) if c.startswith("ondo:review:approve:"))

    with caplog.at_level(logging.WARNING, "ondo.discord"):
        denied = await discord_interact(discord, fake.interaction_create(int(card["id"]), approve))
    assert private(denied) == DISCORD_ADMINS_ONLY and "not an admin" in caplog.text

    done = await discord_interact(
        discord, fake.interaction_create(int(card["id"]), approve, user_id=fake.owner_id)
    )
    assert done.body["type"] == 7 and "approved" in done.body["data"]["content"]
    assert done.body["data"]["components"] == []
    again = await discord_asks(discord, question)
    assert right in again["content"]
    discord.assert_nobody_pinged()


@pytest.mark.parametrize("language", ["ko", "en"])
async def test_discord_customer_rates_own_answer_and_thumbs_down_leads_to_an_update(
    discord: Discord, language: str, caplog: pytest.LogCaptureFixture
) -> None:
    fake = discord.fake
    question, entry_id, right = STALE_ANSWER[language]
    answer = await discord_asks(discord, question)
    up, down = custom_ids(answer)
    assert up.startswith("ondo:rate:up:") and down.startswith("ondo:rate:down:")
    answer_id = int(answer["id"])

    with caplog.at_level(logging.WARNING, "ondo.discord"):
        not_yours = await discord_interact(discord, fake.interaction_create(answer_id, down))
    assert private(not_yours) == DISCORD_NOT_YOURS[language] and "not the asker" in caplog.text
    thanks = await discord_interact(
        discord, fake.interaction_create(answer_id, down, user_id=fake.customer_id)
    )
    assert private(thanks) == DISCORD_THANKS[language]
    await discord_interact(
        discord, fake.interaction_create(answer_id, down, user_id=fake.customer_id)
    )
    assert await discord.runtime.store.ratings_for(entry_id) == (0, 1)
    [card] = staff_cards(discord)  # one card however often it is clicked
    assert "customer 👎" in card["content"]
    [give, reject] = custom_ids(card)
    assert give.startswith("ondo:review:answer:") and reject.startswith("ondo:review:reject:")

    opened = await discord_interact(discord, fake.interaction_create(int(card["id"]), give))
    assert opened.body["type"] == 9
    await discord_interact(
        discord,
        fake.modal_submit_create(
            int(card["id"]), opened.body["data"]["custom_id"], {"answer": right}
        ),
    )
    card = staff_cards(discord)[-1]
    update = next(c for c in custom_ids(card) if c.startswith("ondo:review:update:"))
    done = await discord_interact(
        discord, fake.interaction_create(int(card["id"]), update, user_id=fake.owner_id)
    )
    assert f"entry `{entry_id}` updated" in done.body["data"]["content"]
    again = await discord_asks(discord, question)
    assert right in again["content"]


async def test_slack_escaped_command_text_is_stored_as_the_admin_typed_it(slack: Slack) -> None:
    """With "Escape channels, users and links" on (``/ondo assign`` needs it), Slack sends a
    link as ``<url|url>`` and ``<`` as ``&lt;``: the approved answer is the typed text."""
    question, entry_id, _right = STALE_ANSWER["en"]
    answer = await customer_asks(slack, question)
    reply_id = int(buttons(answer)["ondo_rate_down"])
    correction = await Corrections(slack.runtime.store).mark_wrong(reply_id, "No.", "slack:x")
    typed = (
        "Refunds take 3 &lt; 5 days &amp; more: see <https://shop.example/refund|"
        "https://shop.example/refund> or write <mailto:help@shop.example|help@shop.example>"
    )
    await slack.command(f"review approve {correction.id} --update {typed}", user=SLACK_ADMIN)
    assert f"entry `{entry_id}` updated" in ephemerals(slack, SLACK_ADMIN)[-1]
    again = await customer_asks(slack, question)
    text = again.params["text"]
    assert "https://shop.example/refund" in text and "|" not in text and "&amp;" not in text
