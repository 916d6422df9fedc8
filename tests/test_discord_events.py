"""Conversation keys, thread references, button ids and settings of the Discord adapter."""

from __future__ import annotations

import pytest

from adapters.discord.config import DiscordConfig, DiscordConfigError
from adapters.discord.desk import context_line, custom_id, parse_custom_id, summary_parts
from adapters.discord.events import (
    Target,
    dm_key,
    guild_key,
    strip_mentions,
    target_of,
    thread_of,
    thread_ref,
)
from adapters.discord.sender import DiscordCustomers, DiscordSender
from adapters.discord.split import MESSAGE_LIMIT
from bot.settings import Settings

ME, ROLE = 1190000000000000001, 1190000000000000102


def test_keys_lead_back_to_where_the_conversation_lives() -> None:
    assert guild_key(10, 20, 30) == "discord:10:20:30"
    assert target_of(guild_key(10, 20, 30)) == Target(channel_id=30, guild_id=10, parent_id=20)
    assert dm_key(40) == "discord:dm:40"
    assert target_of(dm_key(40)) == Target(channel_id=40)


@pytest.mark.parametrize(
    "key",
    ["slack:T1:C1:1.0", "discord:10:20", "discord:dm:x", "discord:a:b:c", "discord:1:2:3:4", ""],
)
def test_keys_of_other_platforms_or_malformed_are_not_discords(key: str) -> None:
    assert target_of(key) is None
    assert DiscordCustomers(client=None).sender_for(key) is None  # type: ignore[arg-type]


def test_customer_side_gives_a_sender_for_each_discord_key() -> None:
    sender = DiscordCustomers(client=None).sender_for("discord:10:20:30")  # type: ignore[arg-type]
    assert isinstance(sender, DiscordSender) and sender.target.channel_id == 30


def test_thread_refs() -> None:
    assert thread_ref(55) == "discord:55"
    assert thread_of("discord:55") == 55
    assert thread_of("slack:C1:1.0") is None and thread_of("discord:dm:1") is None


def test_button_ids_carry_the_handoff() -> None:
    assert custom_id("take", 7, "9f0c1d2e3a4b5c6d") == "ondo:take:7.9f0c1d2e3a4b5c6d"
    assert custom_id("take", 7) == "ondo:take:7"  # a handoff from before tokens
    assert parse_custom_id("ondo:take:7.9f0c") == ("take", "7.9f0c")
    assert parse_custom_id("ondo:resolve:12") == ("resolve", "12")
    for other in (
        "ondo:close:7",
        "ondo:take:x",
        "somebot:take:7",
        "ondo:take",
        "ondo:take:7.",
        "ondo:take:7.a-b",
        "ondo:take:٣",
        "",
        None,
    ):
        assert parse_custom_id(other) is None


def test_mentions_of_ondo_are_removed_and_lines_kept() -> None:
    text = f"<@{ME}>  환불   되나요?\n<@!{ME}> 주문번호 123 <@&{ROLE}> <@42>"
    assert strip_mentions(text, ME, ROLE) == "환불 되나요?\n주문번호 123 <@42>"


def test_ticket_summary_head_leaves_room_for_context_and_status() -> None:
    context = context_line(3, "angry", "refund", "angry", "ko")
    assert context == "-# #3 · angry · refund · angry · ko"
    parts = summary_parts("요약입니다. " * 500, context)
    assert len(parts) > 1
    assert len(parts[0]) + len(context) + 120 < MESSAGE_LIMIT
    assert summary_parts("", context) == ["Handoff"]


def test_config_from_settings() -> None:
    settings = Settings(
        discord_token="t",
        discord_channels=(1, 2),
        discord_staff_role=9,
        handoff_channel="discord:5",
    )
    config = DiscordConfig.from_settings(settings)
    assert config.support_channels == frozenset({1, 2})
    assert (config.staff_channel, config.staff_role) == (5, 9)
    slack_desk = Settings(discord_token="t", handoff_channel="slack:C1")
    assert DiscordConfig.from_settings(slack_desk).staff_channel is None


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (Settings(), "DISCORD_TOKEN must be set"),
        (Settings(discord_token="t", handoff_channel="discord:#staff"), "numeric channel id"),
    ],
)
def test_config_errors_name_the_variable(settings: Settings, message: str) -> None:
    with pytest.raises(DiscordConfigError, match=message):
        DiscordConfig.from_settings(settings)
