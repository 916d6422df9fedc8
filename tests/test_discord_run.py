"""``run_discord``: settings checked, endpoints applied and restored, runs until stopped."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import discord
import discord.gateway
import discord.http
import pytest
import pytest_asyncio
import yarl

from adapters.discord import DiscordConfigError, DiscordEndpointsMoved, run_discord
from adapters.discord.endpoints import api_base_url, discord_endpoints
from bot.app import Runtime
from bot.conversation.routing import Router
from bot.settings import Settings
from tests.discord_harness import DM_CHANNEL, discord_settings, fake_discord
from tests.fakes.discord_gateway import (
    DIRECT_MESSAGES,
    GUILD_MESSAGES,
    GUILDS,
    MESSAGE_CONTENT,
    FakeDiscord,
)

TIMEOUT = 10.0


@pytest_asyncio.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with fake_discord() as server:
        yield server


def _endpoints() -> tuple[str, yarl.URL]:
    return discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY


async def test_runs_registers_answers_and_stops_cleanly(
    fake: FakeDiscord, sample_runtime_factory: Callable[..., Runtime]
) -> None:
    runtime = sample_runtime_factory(**discord_settings(fake))
    router = Router(runtime.engine, handoff_channel=runtime.settings.handoff_channel)
    before = _endpoints()
    stop, ready = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(run_discord(router, runtime.settings, stop, ready=ready))
    await asyncio.wait_for(ready.wait(), TIMEOUT)

    assert _endpoints()[0] == fake.api_base
    assert "discord" in router.customers and router.desk is not None
    identify = (await fake.wait_for_op(2))[0]["d"]
    assert identify["intents"] == GUILDS | GUILD_MESSAGES | DIRECT_MESSAGES | MESSAGE_CONTENT
    assert identify["shard"] == [0, 1]  # AutoShardedClient
    await fake.dispatch(
        "MESSAGE_CREATE", fake.message_create(DM_CHANNEL, "How do I request a refund?")
    )
    [answer] = await fake.wait_for("POST", f"/channels/{DM_CHANNEL}/messages")
    assert "refund" in answer.body["content"].lower()

    stop.set()
    assert await asyncio.wait_for(task, TIMEOUT) is None
    assert _endpoints() == before


async def test_a_token_discord_rejects_is_a_clear_error(
    fake: FakeDiscord, sample_runtime_factory: Callable[..., Runtime]
) -> None:
    settings = discord_settings(fake) | {"discord_token": "not-the-token"}
    runtime = sample_runtime_factory(**settings)
    router = Router(runtime.engine, handoff_channel=runtime.settings.handoff_channel)
    with pytest.raises(DiscordConfigError, match="DISCORD_TOKEN"):
        await asyncio.wait_for(run_discord(router, runtime.settings, asyncio.Event()), TIMEOUT)
    assert "discord" not in router.customers


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (Settings(), "DISCORD_TOKEN must be set"),
        (Settings(discord_token="t", handoff_channel="discord:staff"), "numeric channel id"),
    ],
)
async def test_settings_are_checked_before_connecting(settings: Settings, message: str) -> None:
    router = Router(None, handoff_channel=settings.handoff_channel)  # type: ignore[arg-type]
    with pytest.raises(DiscordConfigError, match=message):
        await run_discord(router, settings, asyncio.Event())


@pytest.mark.parametrize(
    ("owner", "attribute"),
    [(discord.http.Route, "BASE"), (discord.gateway.DiscordWebSocket, "DEFAULT_GATEWAY")],
)
async def test_fails_loudly_when_discord_py_moves_its_endpoints(
    monkeypatch: pytest.MonkeyPatch, owner: type, attribute: str
) -> None:
    monkeypatch.delattr(owner, attribute)
    settings = Settings(
        discord_token="t",
        discord_api_base="http://127.0.0.1:1",
        discord_gateway_url="ws://127.0.0.1:1/gateway",
    )
    router = Router(None)  # type: ignore[arg-type]
    with pytest.raises(DiscordEndpointsMoved, match=attribute) as raised:
        await run_discord(router, settings, asyncio.Event())
    assert "2.7.1" in str(raised.value)


def test_endpoints_are_applied_then_restored_and_left_alone_when_unset(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    before = _endpoints()
    with discord_endpoints("http://127.0.0.1:9/", "ws://127.0.0.1:9/gateway"):
        assert _endpoints() == ("http://127.0.0.1:9/api/v10", yarl.URL("ws://127.0.0.1:9/gateway"))
    assert _endpoints() == before

    monkeypatch.delattr(discord.http.Route, "BASE")
    with discord_endpoints(None, None):  # nothing to move: nothing checked
        pass


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080/api/v10"),
        ("https://discord.example/api/v10/", "https://discord.example/api/v10"),
        ("https://proxy.example/discord/api/v9", "https://proxy.example/discord/api/v9"),
    ],
)
def test_api_base_url(given: str, expected: str) -> None:
    assert api_base_url(given) == expected
