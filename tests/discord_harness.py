"""The real Discord adapter (discord.py) connected to the fake Discord: reusable across tests.

``running_discord(fake, runtime, router)`` connects the adapter exactly as ``run_discord``
does (same client, endpoints taken from the settings) and yields a :class:`Discord` whose
helpers read like a chat: a customer says something, the staff clicks a button, a post
arrives. Pass your own ``router`` (and ``discord_settings(fake, desk=...)``) to combine it
with another platform.
"""

from __future__ import annotations

import asyncio
import contextlib
import types
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import discord.http
import pytest

from adapters.discord import (
    DiscordAdapter,
    DiscordConfig,
    build_client,
    discord_endpoints,
    guild_key,
)
from bot.app import Runtime
from bot.conversation.routing import Router
from tests.fakes.discord_gateway import FakeDiscord, RestCall

TIMEOUT = 10.0
DM_CHANNEL = 1_190_000_000_000_000_300
"""The DM channel between the fake's customer and Ondo."""


def discord_settings(
    fake: FakeDiscord,
    *,
    desk: str | None = "discord",
    support: bool = True,
    staff_role: int | None = None,
) -> dict[str, Any]:
    """Settings overrides for a runtime whose Discord is ``fake``.

    ``desk="discord"`` makes the fake's ``#staff`` the agents' desk; any other value is used
    as ``ONDO_HANDOFF_CHANNEL`` as it is (``None``: no desk, ``"slack:C0AGENTS"``...).
    ``support`` makes ``#support`` a support channel.
    """
    return {
        "handoff_channel": f"discord:{fake.staff_channel_id}" if desk == "discord" else desk,
        "discord_token": fake.token,
        "discord_api_base": fake.api_base,
        "discord_gateway_url": fake.gateway_url,
        "discord_channels": (fake.support_channel_id,) if support else (),
        "discord_staff_role": staff_role,
    }


@dataclass
class Discord:
    """The connected adapter, the fake platform and helpers that read like a chat."""

    fake: FakeDiscord
    runtime: Runtime
    router: Router
    adapter: DiscordAdapter

    # --- saying things -------------------------------------------------------------------

    async def say(
        self,
        text: str,
        *,
        channel: int | None = None,
        author: Mapping[str, Any] | None = None,
        wait: bool = True,
        **fields: Any,
    ) -> dict[str, Any]:
        """Dispatch a MESSAGE_CREATE by ``author`` (default the customer) in ``channel``
        (default ``#support``); ``fields`` override payload fields (``type``,
        ``attachments``...). With ``wait``, return once the adapter has handled it."""
        data = self.fake.message_create(
            channel or self.fake.support_channel_id, text, author=author
        )
        data.update(fields)
        await self.deliver(data, wait=wait)
        return data

    async def dm(self, text: str, **kwargs: Any) -> dict[str, Any]:
        """The customer DMs Ondo."""
        return await self.say(text, channel=DM_CHANNEL, **kwargs)

    async def staff_says(self, text: str, thread: int, **kwargs: Any) -> dict[str, Any]:
        """The staff member writes ``text`` in ticket thread ``thread``."""
        return await self.say(text, channel=thread, author=self.fake.staff, **kwargs)

    async def deliver(self, data: Mapping[str, Any], *, wait: bool = True) -> None:
        """Dispatch a (possibly repeated) MESSAGE_CREATE and wait until it is handled."""
        before = self.adapter.completed
        assert await self.fake.dispatch("MESSAGE_CREATE", data) == 1
        if wait:
            await self.adapter.wait_completed(before + 1, TIMEOUT)

    async def click(self, message_id: int, custom_id: str, user_id: int | None = None) -> RestCall:
        """``user_id`` (default the staff member) clicks the button ``custom_id`` on message
        ``message_id``; returns the interaction's callback once the click is handled."""
        data = self.fake.interaction_create(message_id, custom_id, user_id=user_id)
        before = self.adapter.completed
        assert await self.fake.dispatch("INTERACTION_CREATE", data) == 1
        await self.adapter.wait_completed(before + 1, TIMEOUT)
        [callback] = [
            c for c in self.fake.calls if c.path.startswith(f"/interactions/{data['id']}/")
        ]
        return callback

    async def submit_modal(
        self, message_id: int, custom_id: str, text: str, user_id: int | None = None
    ) -> RestCall:
        """``user_id`` (default the staff member) submits the modal ``custom_id`` opened from
        message ``message_id`` with ``text`` typed in; returns the interaction's callback."""
        data = self.fake.modal_submit_create(message_id, custom_id, {"text": text}, user_id=user_id)
        before = self.adapter.completed
        assert await self.fake.dispatch("INTERACTION_CREATE", data) == 1
        await self.adapter.wait_completed(before + 1, TIMEOUT)
        [callback] = [
            c for c in self.fake.calls if c.path.startswith(f"/interactions/{data['id']}/")
        ]
        return callback

    # --- what Ondo did -------------------------------------------------------------------

    def posts(self, channel: int | None = None) -> list[RestCall]:
        """Messages Ondo posted (answered 200), in ``channel`` if given."""
        return [
            c
            for c in self.fake.calls
            if c.method == "POST"
            and c.status == 200
            and c.path.endswith("/messages")
            and (channel is None or c.path == f"/channels/{channel}/messages")
        ]

    async def post_no(self, n: int, channel: int | None = None) -> RestCall:
        """Wait for the ``n``-th successful post (in ``channel``, if given) and return it."""
        while len(self.posts(channel)) < n:
            total = len([c for c in self.fake.calls if c.method == "POST"])
            await self.fake.wait_for("POST", "/", count=total + 1, timeout=TIMEOUT)
        return self.posts(channel)[n - 1]

    def texts(self, channel: int) -> list[str]:
        """The contents Ondo posted in ``channel``."""
        return [str(c.body["content"]) for c in self.posts(channel)]

    def edits(self, message_id: int) -> list[RestCall]:
        """Successful edits of message ``message_id`` (the ticket, after clicks)."""
        return [
            c
            for c in self.fake.calls
            if c.method == "PATCH" and c.status == 200 and c.path.endswith(f"/{message_id}")
        ]

    def threads_opened(self, channel: int) -> list[int]:
        """Ids of the threads Ondo started on messages of ``channel``."""
        prefix = f"/channels/{channel}/messages/"
        return [
            int(c.path.split("/")[4])
            for c in self.fake.calls
            if c.method == "POST"
            and c.status == 200
            and c.path.startswith(prefix)
            and c.path.endswith("/threads")
        ]

    def assert_nobody_pinged(self) -> None:
        """Every message Ondo posted or edited allowed no mentions at all."""
        for call in self.fake.calls:
            body = call.body if isinstance(call.body, dict) else {}
            if call.method in ("POST", "PATCH") and "/messages" in call.path and "content" in body:
                assert body["allowed_mentions"]["parse"] == [], call

    async def state(self, key: str) -> str:
        """The stored state of conversation ``key``."""
        return (await self.runtime.store.conversation(key, "discord")).state

    def key(self, message: Mapping[str, Any]) -> str:
        """The conversation key of a customer's message in a guild channel."""
        return guild_key(self.fake.guild_id, int(message["channel_id"]), int(message["id"]))


@contextlib.asynccontextmanager
async def running_discord(
    fake: FakeDiscord,
    runtime: Runtime,
    router: Router | None = None,
    *,
    message_content: bool = True,
) -> AsyncIterator[Discord]:
    """Connect the adapter for ``runtime`` to ``fake`` (registered with ``router``); fails the
    test if the adapter never became ready or an event handler raised."""
    settings = runtime.settings
    router = router or Router(runtime.engine, handoff_channel=settings.handoff_channel)
    config = DiscordConfig.from_settings(settings)
    client = build_client(message_content=message_content, guild_ready_timeout=0.05)
    adapter = DiscordAdapter(
        router,
        client,
        config,
        agent_language=settings.agent_language,
        admins=settings.admins,
        kb_paths=settings.kb_paths,
    )
    stop, ready = asyncio.Event(), asyncio.Event()
    with discord_endpoints(config.api_base, config.gateway_url):
        task = asyncio.create_task(adapter.run(stop, ready=ready))
        try:
            waiter = asyncio.create_task(ready.wait())
            await asyncio.wait({task, waiter}, timeout=TIMEOUT, return_when="FIRST_COMPLETED")
            if not ready.is_set():
                waiter.cancel()
                if task.done():
                    task.result()
                raise AssertionError("the Discord adapter never became ready")
            yield Discord(fake, runtime, router, adapter)
        finally:
            stop.set()
            await asyncio.wait_for(task, TIMEOUT)
    assert adapter.unhandled == 0, "an event handler raised; see the log"


@contextlib.asynccontextmanager
async def fake_discord() -> AsyncIterator[FakeDiscord]:
    """A started fake Discord (the adapter is pointed at it through the settings)."""
    server = FakeDiscord()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def fast_discord_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make discord.py's back-off between retries of a 5xx answer instant (it waits 1, 3, 5,
    7 s); everything else in ``discord.http`` keeps the real asyncio."""
    real_sleep = asyncio.sleep

    async def no_wait(_seconds: float, result: Any = None) -> Any:
        return await real_sleep(0, result)

    fast = types.SimpleNamespace(**{n: getattr(asyncio, n) for n in dir(asyncio) if n[0] != "_"})
    fast.sleep = no_wait
    monkeypatch.setattr(discord.http, "asyncio", fast)
