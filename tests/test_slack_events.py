"""Slack payload -> Message conversion, as a pure function over recorded-shape payloads."""

from __future__ import annotations

from typing import Any

import pytest

from adapters.slack.app import api_base_url, handoff_channel_id
from adapters.slack.events import (
    AgentMessage,
    CustomerMessage,
    parse_event,
    strip_mention,
    thread_of,
)
from tests.fakes.slack_api import FakeSlack

BOT = "U0FAKEBOT"
AGENTS = "C0AGENTS"


@pytest.fixture
def fake() -> FakeSlack:
    return FakeSlack()  # only its payload builders; never started


def parse(fake: FakeSlack, event: dict[str, Any]) -> Any:
    return parse_event(fake.event_callback(event), bot_user_id=BOT, handoff_channel=AGENTS)


def test_dm_is_an_addressed_customer_message(fake: FakeSlack) -> None:
    event = fake.message_event(
        "환불 어떻게 해요?", channel="D0DM", channel_type="im", ts="1.000001"
    )
    parsed = parse(fake, event)
    assert isinstance(parsed, CustomerMessage) and parsed.addressed
    # Every message of a DM is one conversation; a top-level one is answered at the top level.
    assert parsed.message.conversation_key == "slack:T0FAKETEAM:D0DM"
    assert parsed.message.message_id == "D0DM:1.000001"
    assert parsed.message.text == "환불 어떻게 해요?"
    assert (parsed.channel, parsed.thread_ts, parsed.thread_key) == ("D0DM", None, None)


@pytest.mark.parametrize("text", ["배송 언제 와요?", "When does it ship?"])
def test_a_dm_thread_message_is_the_dms_conversation_answered_in_its_thread(
    fake: FakeSlack, text: str
) -> None:
    event = fake.message_event(
        text, channel="D0DM", channel_type="im", ts="1.000009", thread_ts="1.000001"
    )
    parsed = parse(fake, event)
    assert isinstance(parsed, CustomerMessage) and parsed.addressed
    assert parsed.message.conversation_key == "slack:T0FAKETEAM:D0DM"
    assert (parsed.channel, parsed.thread_ts) == ("D0DM", "1.000001")
    # The key DM threads had before: the adapter keeps a conversation that exists under it.
    assert parsed.thread_key == "slack:T0FAKETEAM:D0DM:1.000001"


def test_an_event_without_a_channel_type_is_a_dm_by_its_channel_id(fake: FakeSlack) -> None:
    mention = parse(fake, fake.app_mention_event("환불이요", channel="C0SHOP", ts="4.000001"))
    assert mention.message.conversation_key == "slack:T0FAKETEAM:C0SHOP:4.000001"
    dm = parse(fake, fake.app_mention_event("refund?", channel="D0DM", ts="4.000002"))
    assert dm.message.conversation_key == "slack:T0FAKETEAM:D0DM" and dm.thread_ts is None


def test_mention_and_its_message_twin_share_the_message_id(fake: FakeSlack) -> None:
    mention = fake.app_mention_event("Where is my order?", ts="2.000001")
    twin = fake.message_event(mention["text"], ts="2.000001")
    a, b = parse(fake, mention), parse(fake, twin)
    assert isinstance(a, CustomerMessage) and isinstance(b, CustomerMessage)
    assert a.addressed and b.addressed
    assert a.message.message_id == b.message.message_id == "C0SUPPORT:2.000001"
    assert a.message.text == b.message.text == "Where is my order?"


def test_thread_follow_up_without_mention_is_not_addressed(fake: FakeSlack) -> None:
    event = fake.message_event("그럼 언제 와요?", ts="3.000002", thread_ts="3.000001")
    parsed = parse(fake, event)
    assert isinstance(parsed, CustomerMessage) and not parsed.addressed
    assert parsed.message.conversation_key.endswith(":C0SUPPORT:3.000001")
    assert parsed.thread_ts == "3.000001"


@pytest.mark.parametrize(
    "extra",
    [
        {"bot_id": "B0OTHER"},
        {"subtype": "bot_message"},
        {"subtype": "message_changed"},
        {"subtype": "message_deleted"},
        {"subtype": "channel_join"},
        {"subtype": "channel_leave"},
        {"user": BOT},
    ],
)
def test_bots_edits_deletions_and_joins_are_ignored(fake: FakeSlack, extra: dict[str, Any]) -> None:
    event = fake.message_event("hello", channel="D0DM", channel_type="im", **extra)
    assert parse(fake, event) is None


def test_file_only_message_becomes_empty_text(fake: FakeSlack) -> None:
    event = fake.message_event(
        "", channel="D0DM", channel_type="im", subtype="file_share", files=[{"id": "F1"}]
    )
    parsed = parse(fake, event)
    assert isinstance(parsed, CustomerMessage) and parsed.message.text == ""


def test_agents_channel_thread_is_an_agent_message(fake: FakeSlack) -> None:
    reply = fake.message_event("제가 확인할게요", channel=AGENTS, ts="5.2", thread_ts="5.1")
    parsed = parse(fake, reply)
    assert isinstance(parsed, AgentMessage)
    assert (parsed.thread_ts, parsed.message_id) == ("5.1", f"{AGENTS}:5.2")
    assert parse(fake, fake.message_event("chatter", channel=AGENTS)) is None
    assert parse(fake, fake.app_mention_event("hi", channel=AGENTS)) is None


def test_other_event_types_and_helpers() -> None:
    assert parse_event({"event": {"type": "reaction_added"}}, bot_user_id=BOT) is None
    assert parse_event({}, bot_user_id=BOT) is None
    assert strip_mention(f"<@{BOT}>  hi <@U2> <@{BOT}|ondo>", BOT) == "hi <@U2>"
    assert thread_of("slack:T1:C1:1.5") == ("C1", "1.5")
    assert thread_of("slack:T1:D1:1.5") == ("D1", "1.5")  # a DM keyed by thread, as before
    assert thread_of("slack:T1:D1") == ("D1", None)  # a DM: its top level
    assert thread_of("slack:T1:C1") is None  # only a DM is keyed by channel
    assert thread_of("slack:T1:") is None and thread_of("slack:T1:D1:2:3") is None
    assert thread_of("discord:1:2") is None
    assert api_base_url(None) == "https://slack.com/api/"
    assert api_base_url("http://127.0.0.1:9") == "http://127.0.0.1:9/api/"
    assert api_base_url("http://127.0.0.1:9/api") == "http://127.0.0.1:9/api/"
    assert handoff_channel_id("slack:C0AGENTS") == "C0AGENTS"
    assert handoff_channel_id("discord:123") is None


def test_serve_slack_without_tokens_is_a_one_line_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot import cli

    monkeypatch.chdir(tmp_path)  # no .env here
    for name in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    assert cli.main(["serve", "slack"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert "SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET must be set" in err


def test_manifest_subscribes_to_what_the_adapter_handles() -> None:
    from pathlib import Path

    import yaml

    manifest = yaml.safe_load(
        (Path(__file__).parent.parent / "adapters" / "slack_manifest.yaml").read_text("utf-8")
    )
    events = set(manifest["settings"]["event_subscriptions"]["bot_events"])
    assert {"app_mention", "message.im", "message.channels"} <= events
    assert manifest["settings"]["interactivity"]["is_enabled"] is True
    assert {"chat:write", "channels:read", "commands"} <= set(
        manifest["oauth_config"]["scopes"]["bot"]
    )
    from adapters.slack.app import COMMAND

    assert [c["command"] for c in manifest["features"]["slash_commands"]] == [COMMAND]
