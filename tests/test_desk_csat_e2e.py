"""The satisfaction buttons and the owner's notification end to end: the real slack-bolt and
discord.py against the fake Slack and the fake Discord, with the help desk's service
installed on the router (a fixed clock, a desk open around the clock), in Korean and English.

A ticket's owner gets a DM; the agent resolves the ticket; the customer gets the rating
question with five buttons; a forged or empty click and a bystander's click change nothing;
the customer's click stores the score, takes the buttons off and thanks them where the
question was; a second click changes nothing; a low score puts a note in the ticket thread.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from adapters.discord.desk import RESOLVE, custom_id
from adapters.slack.desk import RESOLVE_ACTION
from bot.app import Runtime
from bot.conversation.routing import Router
from bot.conversation.ticket_buttons import handoff_value
from bot.desk import csat
from bot.desk.config import load_desk_config
from bot.desk.service import DeskService
from bot.types import Language
from tests.discord_harness import Discord, discord_settings, fake_discord, running_discord
from tests.fakes.slack_api import Call, interactive_body, signed_request_headers
from tests.slack_harness import (
    AGENT,
    AGENTS,
    DM,
    SECRET,
    Slack,
    dm,
    dm_conversation,
    fake_slack,
    running_slack,
    slack_settings,
)

ALWAYS_OPEN = """
timezone: Asia/Seoul
holidays: none
hours: {mon: "00:00-24:00", tue: "00:00-24:00", wed: "00:00-24:00", thu: "00:00-24:00",
        fri: "00:00-24:00", sat: "00:00-24:00", sun: "00:00-24:00"}
assignment: round_robin
"""
ASK: dict[Language, str] = {"ko": "상담원 연결해 주세요", "en": "I want to talk to a human agent"}
NOTIFIED: dict[Language, str] = {
    "ko": "새 티켓 #{id}이 배정됐어요",
    "en": "New ticket #{id} is yours",
}
LOW_NOTE: dict[Language, str] = {"ko": "⚠️ 만족도 2점", "en": "⚠️ Satisfaction 2/5"}
LANGUAGES = [pytest.param("ko", id="ko"), pytest.param("en", id="en")]
CUSTOMER = "U0CUSTOMER"


@dataclass
class Clock:
    now: float

    def __call__(self) -> float:
        return self.now


def _ignored(caplog: pytest.LogCaptureFixture) -> int:
    """Warnings about clicks that were no score button (one line each)."""
    return sum("is not a score button" in r.getMessage() for r in caplog.records)


def desk_service(router: Router, tmp_path: Path) -> DeskService:
    path = tmp_path / "desk.yaml"
    path.write_text(ALWAYS_OPEN)
    service = DeskService(router, load_desk_config(path), clock=Clock(time.time()))
    service.install()
    return service


# --- Slack -------------------------------------------------------------------------------


@dataclass
class SlackCase:
    slack: Slack
    handoff_id: int
    ticket: Call
    question: Call


async def _customer_click(slack: Slack, value: str, on: Call, user: str = CUSTOMER) -> None:
    """``user`` clicks a score button on ``on``: the one ``value`` names, or a forged value
    on the fifth (Slack sends only action ids Ondo posted)."""
    score = value.rpartition(":")[2]
    action = f"ondo_csat_{score if score in ('1', '2', '3', '4', '5') else 5}"
    payload = slack.fake.block_actions_payload(
        action, value, user=user, channel=DM, message_ts=on.response["ts"], block_id="ondo_csat"
    )
    before = slack.adapter.completed
    body = interactive_body(payload)
    assert await slack.post_signed(body, signed_request_headers(body, SECRET)) == 200
    await slack.adapter.wait_completed(before + 1)


def _dm_posts(slack: Slack) -> list[Call]:
    return [c for c in slack.posts(DM) if c.response.get("ok")]


def _dm_updates(slack: Slack) -> list[Call]:
    return [c for c in slack.fake.calls_to("chat.update") if c.params["channel"] == DM]


@pytest.fixture
def slack_case(
    sample_runtime_factory: Callable[..., Runtime], tmp_path: Path
) -> Callable[[Language], Any]:
    @contextlib.asynccontextmanager
    async def build(language: Language) -> AsyncIterator[SlackCase]:
        async with fake_slack() as fake:
            fake.add_user(AGENT, name="agent")
            runtime = sample_runtime_factory(**slack_settings(fake), agent_language=language)
            router = Router(runtime.engine, handoff_channel=runtime.settings.handoff_channel)
            service = desk_service(router, tmp_path)
            await runtime.store.desk.set_duty("slack", AGENT, True, service.clock())
            async with running_slack(fake, runtime, router) as slack:
                await slack.deliver(dm(fake, ASK[language]))
                await slack.adapter.wait_completed(1)
                key = dm_conversation(fake)
                handoff = await runtime.store.current_handoff(key)
                assert handoff is not None
                [ticket] = slack.tickets()
                before = slack.adapter.completed
                status = await slack.click(
                    RESOLVE_ACTION, handoff_value(handoff), AGENT, ticket.response["ts"]
                )
                assert status == 200
                await slack.adapter.wait_completed(before + 1)
                questions = [
                    c
                    for c in _dm_posts(slack)
                    if "ondo_csat" in json.dumps(c.params.get("blocks") or [])
                ]
                assert len(questions) == 1, [c.params["text"] for c in _dm_posts(slack)]
                yield SlackCase(slack, handoff.id, ticket, questions[0])

    return build


@pytest.mark.parametrize("language", LANGUAGES)
async def test_slack_owner_is_notified_and_a_click_rates_the_handoff_once(
    slack_case: Callable[[Language], Any], language: Language, caplog: pytest.LogCaptureFixture
) -> None:
    async with slack_case(language) as case:
        slack, handoff_id, question = case.slack, case.handoff_id, case.question
        store, fake = slack.runtime.store, slack.fake
        # The owner got a DM (conversations.open with them, then the post there).
        [opened] = fake.calls_to("conversations.open")
        assert opened.params["users"] == AGENT
        dm_channel = opened.response["channel"]["id"]
        [note] = slack.posts(dm_channel)
        assert note.params["text"].startswith(NOTIFIED[language].format(id=handoff_id))

        # The question: its text for buttons, then the five buttons in the customer's language.
        assert question.params["text"] == csat.ask_text(language, "buttons")
        blocks = question.params["blocks"]
        [row] = [b for b in blocks if b.get("block_id") == "ondo_csat"]
        assert [(e["action_id"], e["text"]["text"], e["value"]) for e in row["elements"]] == [
            (f"ondo_csat_{s}", label, csat.button_value(handoff_id, s))
            for s, label in zip(csat.SCORES, csat.button_labels(language), strict=True)
        ]
        assert "👍" not in json.dumps(blocks, ensure_ascii=False)

        # Forged, empty and another handoff's values, and a bystander's click: nothing.
        told = len(_dm_posts(slack))
        for value in (f"csat:{handoff_id + 998}:5", f"csat:{handoff_id}:9", "", "csat:"):
            await _customer_click(slack, value, question)
        await _customer_click(slack, csat.button_value(handoff_id, 5), question, "U0STRANGER")
        pending = await store.desk.csat(handoff_id)
        assert pending is not None and pending.score is None
        assert len(_dm_posts(slack)) == told and not _dm_updates(slack)
        assert _ignored(caplog) == 3  # the unknown handoff is well formed: the desk drops it

        # The customer clicks 4: stored, the buttons come off, thanked in the DM.
        await _customer_click(slack, csat.button_value(handoff_id, 4), question)
        answered = await store.desk.csat(handoff_id)
        assert answered is not None and answered.score == 4 and answered.comment is None
        [thanks] = _dm_posts(slack)[told:]
        assert thanks.params["text"] == csat.thanks_text(4, language)
        assert thanks.params.get("thread_ts") is None  # where the question was: the DM's top
        [update] = _dm_updates(slack)
        assert update.params["ts"] == question.response["ts"]
        kept = update.params["blocks"]
        assert "ondo_csat" not in json.dumps(kept)
        assert f"✓ {csat.button_labels(language)[3]}" in json.dumps(kept, ensure_ascii=False)

        # A second click (an old copy of the buttons) changes nothing.
        await _customer_click(slack, csat.button_value(handoff_id, 1), question)
        again = await store.desk.csat(handoff_id)
        assert again is not None and again.score == 4
        assert len(_dm_posts(slack)) == told + 1
        assert not any("Satisfaction" in str(c.params["text"]) for c in slack.posts(AGENTS))


@pytest.mark.parametrize("language", LANGUAGES)
async def test_slack_a_low_click_leaves_a_follow_up_note_in_the_ticket_thread(
    slack_case: Callable[[Language], Any], language: Language
) -> None:
    async with slack_case(language) as case:
        slack = case.slack
        await _customer_click(slack, csat.button_value(case.handoff_id, 2), case.question)
        answered = await slack.runtime.store.desk.csat(case.handoff_id)
        assert answered is not None and answered.score == 2
        assert _dm_posts(slack)[-1].params["text"] == csat.thanks_text(2, language)
        thread = [
            str(c.params["text"])
            for c in slack.posts(AGENTS)
            if c.params.get("thread_ts") == case.ticket.response["ts"]
        ]
        assert any(t.startswith(LOW_NOTE[language]) for t in thread), thread


async def test_slack_notify_failure_is_one_line_and_the_ticket_stands(
    sample_runtime_factory: Callable[..., Runtime],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with fake_slack() as fake:
        fake.add_user(AGENT, name="agent")
        fake.refuse_dm(AGENT)
        runtime = sample_runtime_factory(**slack_settings(fake))
        router = Router(runtime.engine, handoff_channel=runtime.settings.handoff_channel)
        service = desk_service(router, tmp_path)
        await runtime.store.desk.set_duty("slack", AGENT, True, service.clock())
        async with running_slack(fake, runtime, router) as slack:
            await slack.deliver(dm(fake, ASK["en"]))
            await slack.adapter.wait_completed(1)
            [ticket] = slack.tickets()
            lines = [r.getMessage() for r in caplog.records if "notification" in r.getMessage()]
            assert lines == [f"notification to {AGENT} not sent: user_not_found"]
            thread = [
                str(c.params["text"])
                for c in slack.posts(AGENTS)
                if c.params.get("thread_ts") == ticket.response["ts"]
            ]
            assert any(f"Assigned to <@{AGENT}>" in t for t in thread)


# --- Discord -----------------------------------------------------------------------------


@dataclass
class DiscordCase:
    discord: Discord
    handoff_id: int
    ticket: int
    thread: int
    question: int


@pytest.fixture
def discord_case(
    sample_runtime_factory: Callable[..., Runtime], tmp_path: Path
) -> Callable[[Language], Any]:
    @contextlib.asynccontextmanager
    async def build(language: Language) -> AsyncIterator[DiscordCase]:
        async with fake_discord() as fake:
            runtime = sample_runtime_factory(**discord_settings(fake), agent_language=language)
            router = Router(runtime.engine, handoff_channel=runtime.settings.handoff_channel)
            service = desk_service(router, tmp_path)
            await runtime.store.desk.set_duty("discord", str(fake.staff_id), True, service.clock())
            async with running_discord(fake, runtime, router) as discord:
                asked = await discord.say(ASK[language])
                thread, key = int(asked["id"]), discord.key(asked)
                handoff = await runtime.store.current_handoff(key)
                assert handoff is not None
                [ticket] = discord.threads_opened(fake.staff_channel_id)
                resolved = await discord.click(
                    ticket, custom_id(RESOLVE, handoff.id, handoff.token)
                )
                assert resolved.status in (200, 204)
                questions = [
                    int(m["id"])
                    for m in fake.messages.values()
                    if m["channel_id"] == str(thread) and "csat:" in json.dumps(m.get("components"))
                ]
                assert len(questions) == 1, discord.texts(thread)
                yield DiscordCase(discord, handoff.id, ticket, thread, questions[0])

    return build


@pytest.mark.parametrize("language", LANGUAGES)
async def test_discord_owner_is_notified_and_a_click_rates_the_handoff_once(
    discord_case: Callable[[Language], Any], language: Language, caplog: pytest.LogCaptureFixture
) -> None:
    async with discord_case(language) as case:
        discord, handoff_id, thread = case.discord, case.handoff_id, case.thread
        fake, store = discord.fake, discord.runtime.store
        # The owner got a DM.
        [opened] = [c for c in fake.calls if c.path == "/users/@me/channels"]
        assert int(opened.body["recipient_id"]) == fake.staff_id
        [note] = [
            c for c in discord.posts() if fake.channels[int(c.path.split("/")[2])]["type"] == 1
        ]
        assert str(note.body["content"]).startswith(NOTIFIED[language].format(id=handoff_id))

        # The question and its five buttons, in the customer's language.
        message = fake.messages[case.question]
        assert message["content"] == csat.ask_text(language, "buttons")
        [row] = message["components"]
        assert [(b["custom_id"], b["label"]) for b in row["components"]] == [
            (csat.button_value(handoff_id, s), label)
            for s, label in zip(csat.SCORES, csat.button_labels(language), strict=True)
        ]

        # Forged or empty values and a bystander's click: acknowledged, nothing else.
        told = len(discord.posts(thread))
        for value in (f"csat:{handoff_id + 998}:5", f"csat:{handoff_id}:9", "csat:", "csat:x:1"):
            ignored = await discord.click(case.question, value, fake.customer_id)
            assert ignored.body["type"] == 6
        stranger = await discord.click(case.question, csat.button_value(handoff_id, 5))
        assert stranger.body["type"] == 6
        pending = await store.desk.csat(handoff_id)
        assert pending is not None and pending.score is None
        assert len(discord.posts(thread)) == told
        assert _ignored(caplog) == 3  # the unknown handoff is well formed: the desk drops it

        # The customer clicks 4: stored, the buttons come off, thanked in the thread.
        clicked = await discord.click(
            case.question, csat.button_value(handoff_id, 4), fake.customer_id
        )
        assert clicked.body["type"] == 7 and clicked.body["data"]["components"] == []
        assert clicked.body["data"]["content"].endswith(f"✓ {csat.button_labels(language)[3]}")
        answered = await store.desk.csat(handoff_id)
        assert answered is not None and answered.score == 4
        assert discord.texts(thread)[told:] == [csat.thanks_text(4, language)]

        # A second click changes nothing.
        again = await discord.click(
            case.question, csat.button_value(handoff_id, 1), fake.customer_id
        )
        assert again.body["type"] == 6
        still = await store.desk.csat(handoff_id)
        assert still is not None and still.score == 4
        assert len(discord.posts(thread)) == told + 1
        discord.assert_nobody_pinged()


@pytest.mark.parametrize("language", LANGUAGES)
async def test_discord_a_low_click_leaves_a_follow_up_note_in_the_ticket_thread(
    discord_case: Callable[[Language], Any], language: Language
) -> None:
    async with discord_case(language) as case:
        discord = case.discord
        await discord.click(
            case.question, csat.button_value(case.handoff_id, 2), discord.fake.customer_id
        )
        answered = await discord.runtime.store.desk.csat(case.handoff_id)
        assert answered is not None and answered.score == 2
        assert discord.texts(case.thread)[-1] == csat.thanks_text(2, language)
        notes = discord.texts(case.ticket)
        assert any(t.startswith(LOW_NOTE[language]) for t in notes), notes


async def test_discord_notify_failure_is_one_line_and_the_ticket_stands(
    sample_runtime_factory: Callable[..., Runtime],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with fake_discord() as fake:
        fake.refuse_dms(fake.staff_id)
        runtime = sample_runtime_factory(**discord_settings(fake))
        router = Router(runtime.engine, handoff_channel=runtime.settings.handoff_channel)
        service = desk_service(router, tmp_path)
        await runtime.store.desk.set_duty("discord", str(fake.staff_id), True, service.clock())
        async with running_discord(fake, runtime, router) as discord:
            await discord.say(ASK["ko"])
            [ticket] = discord.threads_opened(fake.staff_channel_id)
            lines = [
                r.getMessage()
                for r in caplog.records
                if r.getMessage().startswith("notification to")
            ]
            assert len(lines) == 1 and lines[0].startswith(
                f"notification to {fake.staff_id} not sent: HTTP 403"
            )
            assert any(f"Assigned to <@{fake.staff_id}>" in t for t in discord.texts(ticket))
